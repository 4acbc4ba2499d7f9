//! Folding one contact into another of the same person (an anonymous
//! visitor who identified, an email-only profile of a customer): what comes
//! along, and which side wins where both have a fact.

use super::Contact;
use super::products::{BOUGHT_KEPT, VIEWED_KEPT, remember};
use crate::ids::ContactId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One identity merge: which contact was folded in, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merge {
    pub contact: ContactId,
    pub at: Timestamp,
}

impl Contact {
    /// Folds another contact of the same person into this one: an
    /// anonymous visitor who has now identified, or an email-only profile
    /// (a signup, a guest checkout) of a customer who now has that address.
    /// Its history, views, interests, orders, codes, subscriptions and
    /// addresses come along; the newer consent fact wins; this contact's
    /// own facts win where both have one.
    pub fn absorb(&mut self, other: &Contact, at: Timestamp) {
        self.first_seen_at = self.first_seen_at.min(other.first_seen_at);
        self.history.absorb(&other.history);
        self.activity.merge(&other.activity);
        self.absorb_products_and_labels(other);
        self.absorb_identities(other);
        self.absorb_consent(other);
        self.absorb_details(other);
        self.absorb_orders(other);
        self.absorb_engagement(other);
        // Its own merges' leftovers are this person's too (erased with it).
        self.merged_from.extend(other.merged_from.iter().cloned());
        self.merged_from.push(Merge {
            contact: other.id.clone(),
            at,
        });
    }

    /// Viewed and bought products, interests, tags, topics opted out of,
    /// and the custom properties this contact does not have.
    fn absorb_products_and_labels(&mut self, other: &Contact) {
        for v in &other.viewed {
            remember(&mut self.viewed, v.clone(), VIEWED_KEPT);
        }
        self.viewed.sort_by_key(|v| v.at);
        for b in &other.bought {
            remember(&mut self.bought, b.clone(), BOUGHT_KEPT);
        }
        self.bought.sort_by_key(|b| b.at);
        self.interests.extend(other.interests.iter().cloned());
        self.tags.extend(other.tags.iter().cloned());
        self.topics_out.extend(other.topics_out.iter().cloned());
        for (k, v) in &other.properties {
            self.properties
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
    }

    /// Its browsers, and its addresses as past ones (their lookups must go
    /// too when the person is erased).
    fn absorb_identities(&mut self, other: &Contact) {
        for a in &other.anonymous_ids {
            self.add_anonymous(a);
        }
        for e in other.email.iter().chain(&other.past_emails) {
            let current = self
                .email
                .as_ref()
                .is_some_and(|m| m.lookup_key() == e.lookup_key());
            if !current
                && !self
                    .past_emails
                    .iter()
                    .any(|p| p.lookup_key() == e.lookup_key())
            {
                self.past_emails.push(e.clone());
            }
        }
    }

    /// The newer consent fact wins; a pending opt-in and an opt-out stay.
    fn absorb_consent(&mut self, other: &Contact) {
        if let Some(c) = &other.consent {
            self.record_consent(c.subscribed, &c.source, c.at);
        }
        self.opt_in_pending_at = self.opt_in_pending_at.or(other.opt_in_pending_at);
        self.opted_out_at = self.opted_out_at.max(other.opted_out_at);
    }

    /// Names, phone, place, zone and locale: this contact's own win.
    fn absorb_details(&mut self, other: &Contact) {
        self.first_name = self.first_name.take().or(other.first_name.clone());
        self.last_name = self.last_name.take().or(other.last_name.clone());
        self.phone = self.phone.take().or(other.phone.clone());
        self.country = self.country.take().or(other.country.clone());
        self.province = self.province.take().or(other.province.clone());
        self.time_zone = self.time_zone.take().or(other.time_zone.clone());
        self.locale = self.locale.take().or(other.locale.clone());
    }

    /// Orders, ordered checkouts, coupons and subscriptions.
    fn absorb_orders(&mut self, other: &Contact) {
        // Orders: counts add up; amounts too when in one currency.
        if other.order_count > 0 {
            self.order_count += other.order_count;
            self.total_spent = match (&self.total_spent, &other.total_spent) {
                (Some(a), Some(b)) => a.plus(b).or(Some(a.clone())),
                (a, b) => a.clone().or(b.clone()),
            };
            self.first_order_at = match (self.first_order_at, other.first_order_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.last_order_at = self.last_order_at.max(other.last_order_at);
        }
        for t in &other.ordered_checkouts {
            if !self.ordered_checkouts.contains(t) {
                self.ordered_checkouts.push(t.clone());
            }
        }
        for c in &other.coupons {
            self.give_coupon(c.clone());
        }
        for sub in &other.subscriptions {
            if !self
                .subscriptions
                .iter()
                .any(|x| x.contract_id == sub.contract_id)
            {
                self.subscriptions.push(sub.clone());
            }
        }
        self.past_contracts
            .extend(other.past_contracts.iter().copied());
    }

    /// Sends, exports, score, and the newest signs of life.
    fn absorb_engagement(&mut self, other: &Contact) {
        // Both profiles' sends count against the frequency cap.
        self.marketing_sent
            .extend(other.marketing_sent.iter().copied());
        self.marketing_sent.sort();
        self.exports.extend(other.exports.iter().cloned());
        self.score += other.score;
        for t in [other.last_engaged_at, other.last_visit_at]
            .into_iter()
            .flatten()
        {
            self.engaged(t);
        }
        self.last_visit_at = self.last_visit_at.max(other.last_visit_at);
    }
}
