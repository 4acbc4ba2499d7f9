//! Folding one contact into another of the same person (an anonymous
//! visitor who identified, an email-only profile of a customer): what comes
//! along, and which side wins where both have a fact.

use super::Contact;
use super::products::{BOUGHT_KEPT, VIEWED_KEPT, merged};
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
        self.audience.activity.merge(&other.audience.activity);
        self.absorb_products_and_labels(other);
        self.absorb_identities(other);
        self.absorb_consent(other);
        self.absorb_details(other);
        self.absorb_orders(other);
        self.absorb_engagement(other);
        // Its own merges' leftovers are this person's too (erased with it).
        self.identity
            .merged_from
            .extend(other.identity.merged_from.iter().cloned());
        self.identity.merged_from.push(Merge {
            contact: other.id.clone(),
            at,
        });
    }

    /// Viewed and bought products, interests, tags, topics opted out of,
    /// and the custom properties this contact does not have.
    fn absorb_products_and_labels(&mut self, other: &Contact) {
        self.commerce.viewed = merged(&self.commerce.viewed, &other.commerce.viewed, VIEWED_KEPT);
        self.commerce.bought = merged(&self.commerce.bought, &other.commerce.bought, BOUGHT_KEPT);
        self.audience
            .interests
            .extend(other.audience.interests.iter().cloned());
        self.audience
            .tags
            .extend(other.audience.tags.iter().cloned());
        self.marketing
            .topics_out
            .extend(other.marketing.topics_out.iter().cloned());
        for (k, v) in &other.audience.properties {
            self.audience
                .properties
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
    }

    /// Its browsers, and its addresses as past ones (their lookups must go
    /// too when the person is erased).
    fn absorb_identities(&mut self, other: &Contact) {
        for a in &other.identity.anonymous_ids {
            self.add_anonymous(a);
        }
        for e in other
            .identity
            .email
            .iter()
            .chain(&other.identity.past_emails)
        {
            let current = self
                .identity
                .email
                .as_ref()
                .is_some_and(|m| m.lookup_key() == e.lookup_key());
            if !current
                && !self
                    .identity
                    .past_emails
                    .iter()
                    .any(|p| p.lookup_key() == e.lookup_key())
            {
                self.identity.past_emails.push(e.clone());
            }
        }
    }

    /// The newer consent fact wins; a pending opt-in and an opt-out stay.
    fn absorb_consent(&mut self, other: &Contact) {
        if let Some(c) = &other.marketing.consent {
            self.record_consent(c.subscribed, c.source.as_str(), c.at);
        }
        self.marketing.opt_in_pending_at = self
            .marketing
            .opt_in_pending_at
            .or(other.marketing.opt_in_pending_at);
        self.marketing.opted_out_at = self
            .marketing
            .opted_out_at
            .max(other.marketing.opted_out_at);
    }

    /// Names, phone, place, zone and locale: this contact's own win.
    fn absorb_details(&mut self, other: &Contact) {
        self.identity.first_name = self
            .identity
            .first_name
            .take()
            .or(other.identity.first_name.clone());
        self.identity.last_name = self
            .identity
            .last_name
            .take()
            .or(other.identity.last_name.clone());
        self.identity.phone = self.identity.phone.take().or(other.identity.phone.clone());
        self.identity.country = self
            .identity
            .country
            .take()
            .or(other.identity.country.clone());
        self.identity.province = self
            .identity
            .province
            .take()
            .or(other.identity.province.clone());
        self.identity.time_zone = self
            .identity
            .time_zone
            .take()
            .or(other.identity.time_zone.clone());
        self.identity.locale = self
            .identity
            .locale
            .take()
            .or(other.identity.locale.clone());
    }

    /// Orders, ordered checkouts, coupons and subscriptions.
    fn absorb_orders(&mut self, other: &Contact) {
        // Orders: counts add up; amounts too when in one currency.
        if other.commerce.order_count > 0 {
            self.commerce.order_count += other.commerce.order_count;
            self.commerce.total_spent =
                match (&self.commerce.total_spent, &other.commerce.total_spent) {
                    (Some(a), Some(b)) => a.plus(b).or(Some(a.clone())),
                    (a, b) => a.clone().or(b.clone()),
                };
            self.commerce.first_order_at =
                match (self.commerce.first_order_at, other.commerce.first_order_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            self.commerce.last_order_at = self
                .commerce
                .last_order_at
                .max(other.commerce.last_order_at);
        }
        for t in &other.commerce.ordered_checkouts {
            if !self.commerce.ordered_checkouts.contains(t) {
                self.commerce.ordered_checkouts.push(t.clone());
            }
        }
        for c in &other.commerce.coupons {
            self.give_coupon(c.clone());
        }
        for sub in &other.commerce.subscriptions {
            if !self
                .commerce
                .subscriptions
                .iter()
                .any(|x| x.contract_id == sub.contract_id)
            {
                self.commerce.subscriptions.push(sub.clone());
            }
        }
        self.commerce
            .past_contracts
            .extend(other.commerce.past_contracts.iter().copied());
    }

    /// Sends, exports, score, and the newest signs of life.
    fn absorb_engagement(&mut self, other: &Contact) {
        // Both profiles' sends count against the frequency cap.
        self.marketing
            .marketing_sent
            .extend(other.marketing.marketing_sent.iter().copied());
        self.marketing.marketing_sent.sort();
        self.exports.extend(other.exports.iter().cloned());
        self.audience.score += other.audience.score;
        for t in [other.audience.last_engaged_at, other.audience.last_visit_at]
            .into_iter()
            .flatten()
        {
            self.engaged(t);
        }
        self.audience.last_visit_at = self
            .audience
            .last_visit_at
            .max(other.audience.last_visit_at);
    }
}
