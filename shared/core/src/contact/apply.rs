//! How one event changes the profile: who it says the contact is, where
//! they live, and what the event itself tells (orders, visits, consent…).

use super::products::{BOUGHT_KEPT, Seen, VIEWED_KEPT, remember};
use super::{Contact, INTERESTS_KEPT, ORDERED_CHECKOUTS_KEPT};
use crate::activity;
use crate::event::{Event, EventKind, SiteAction};
use crate::ids::EmailAddress;
use crate::money::Money;
use jiff::Timestamp;
use std::sync::Arc;

impl Contact {
    /// Folds one event into the profile.
    pub fn apply(&mut self, event: &Event) {
        let newer = self.profile_at.is_none_or(|p| event.at >= p);
        self.apply_identity(event, newer);
        self.apply_place(event, newer);
        match &event.kind {
            EventKind::CustomerUpserted(c) => self.apply_customer(c, event, newer),
            EventKind::CheckoutUpdated(c) => self.apply_checkout(c, event, newer),
            EventKind::ConsentChanged(c) => self.apply_consent(c, event.at),
            EventKind::EmailOpened(_) | EventKind::EmailClicked(_) => self.engaged(event.at),
            EventKind::OrderPlaced(o) => self.apply_order(o, event.at),
            EventKind::OrderPaid(_)
            | EventKind::OrderCancelled(_)
            | EventKind::OrderFulfilled(_)
            | EventKind::ShipmentUpdated(_)
            | EventKind::DataRequested(_)
            | EventKind::CustomerDeleted(_)
            | EventKind::CustomerRedacted(_)
            | EventKind::ShopRedacted
            | EventKind::Reviewed
            | EventKind::CampaignSend(_) => {}
            EventKind::SubscriptionChanged(s) => self.apply_subscription_change(s, event),
            EventKind::SubscriptionBilled(b) => self.apply_billing(b, event.at),
            EventKind::OrderRefunded(r) => self.apply_refund(r),
            EventKind::Lapsed(_) => self.audience.lapsed_at = Some(event.at),
            EventKind::Site(site) => self.apply_site(site, event.at, newer),
        }
        self.count(event);
    }

    /// Who the event says the contact is: customer id, address, browser.
    fn apply_identity(&mut self, event: &Event, newer: bool) {
        let identity = event.kind.identity();
        if self.identity.customer_id.is_none() {
            self.identity.customer_id = identity.customer_id;
        }
        self.first_seen_at = self.first_seen_at.min(event.at);
        // A storefront event (unauthenticated) may give an email to a
        // contact that has none, never replace one.
        let trusted = !matches!(event.kind, EventKind::Site(_));
        if newer {
            if let Some(email) = identity.email.clone()
                && (trusted || self.identity.email.is_none())
            {
                self.remember_email(email);
            }
            self.profile_at = Some(event.at);
        } else if self.identity.email.is_none()
            && let Some(email) = identity.email.clone()
        {
            self.remember_email(email);
        }
        if let Some(a) = &identity.anonymous_id {
            self.add_anonymous(a);
        }
    }

    /// Sets the current email, remembering earlier ones (their lookups
    /// must go too when the person is erased).
    pub(super) fn remember_email(&mut self, email: EmailAddress) {
        if self.identity.email.as_ref() == Some(&email) {
            return;
        }
        self.identity
            .past_emails
            .retain(|p| p.lookup_key() != email.lookup_key());
        if let Some(old) = self.identity.email.take()
            && old.lookup_key() != email.lookup_key()
            && !self
                .identity
                .past_emails
                .iter()
                .any(|e| e.lookup_key() == old.lookup_key())
        {
            self.identity.past_emails.push(old);
        }
        self.identity.email = Some(email);
    }

    /// The newest country (and province) an address gave.
    fn apply_place(&mut self, event: &Event, newer: bool) {
        let place = match &event.kind {
            EventKind::CustomerUpserted(c) => c.country.as_ref().map(|k| (k, &c.province)),
            EventKind::CheckoutUpdated(c) => c.country.as_ref().map(|k| (k, &c.province)),
            other => other
                .order()
                .and_then(|o| o.country.as_ref().map(|k| (k, &o.province))),
        };
        if let Some((c, p)) = place
            && (newer || self.identity.country.is_none())
        {
            self.identity.country = Some(c.clone());
            self.identity.province = p.clone();
        }
    }

    fn apply_customer(&mut self, c: &crate::event::Customer, event: &Event, newer: bool) {
        if newer || self.identity.first_name.is_none() {
            self.identity.first_name = c.first_name.clone().or(self.identity.first_name.take());
            self.identity.last_name = c.last_name.clone().or(self.identity.last_name.take());
        }
        if newer {
            let now: std::collections::BTreeSet<String> = c.tags.iter().cloned().collect();
            for gone in self.audience.store_tags.difference(&now) {
                self.audience.tags.remove(gone);
            }
            self.audience.tags.extend(now.iter().cloned());
            self.audience.store_tags = now;
        }
        if let Some(p) = &c.phone
            && (newer || self.identity.phone.is_none())
        {
            self.identity.phone = Some(p.clone());
        }
        if let Some(subscribed) = c.accepts_marketing {
            self.record_consent(subscribed, &event.source.topic, event.at);
        }
        if c.opted_out {
            self.marketing.opted_out_at = self.marketing.opted_out_at.max(Some(event.at));
        }
    }

    fn apply_checkout(&mut self, c: &crate::event::Checkout, event: &Event, newer: bool) {
        if self.identity.first_name.is_none() {
            self.identity.first_name = c.first_name.clone();
        }
        if let Some(l) = &c.locale
            && (newer || self.identity.locale.is_none())
        {
            self.identity.locale = Some(l.clone());
        }
        // Ticking the box at checkout is an opt-in; leaving it
        // unticked revokes nothing.
        if c.accepts_marketing == Some(true) {
            self.record_consent(true, &event.source.topic, event.at);
        }
    }

    fn apply_order(&mut self, o: &crate::event::Order, at: Timestamp) {
        if self.identity.first_name.is_none() {
            self.identity.first_name = o.first_name.clone();
        }
        self.commerce.order_count += 1;
        self.engaged(at);
        for code in &o.discount_codes {
            if let Some(c) = self
                .commerce
                .coupons
                .iter_mut()
                .find(|c| c.used_at.is_none() && c.code.eq_ignore_ascii_case(code))
            {
                c.used_at = Some(at);
            }
        }
        self.commerce.first_order_at = Some(self.commerce.first_order_at.map_or(at, |t| t.min(at)));
        if let Some(total) = &o.total {
            self.commerce.total_spent = match &self.commerce.total_spent {
                None => Some(total.clone()),
                Some(s) => Some(s.plus(total).unwrap_or_else(|| s.clone())),
            };
        }
        for li in &o.line_items {
            let seen = Seen {
                product_id: li.product_id,
                title: Some(Arc::from(li.title.as_str())),
                category: None,
                price: Some(li.price.clone()),
                url: None,
                image: None,
                at,
            };
            remember(&mut self.commerce.bought, seen, BOUGHT_KEPT);
        }
        self.commerce.last_order_at = Some(self.commerce.last_order_at.map_or(at, |t| t.max(at)));
        if let Some(token) = &o.checkout_token
            && !self.commerce.ordered_checkouts.contains(token)
        {
            self.commerce.ordered_checkouts.push(token.clone());
            if self.commerce.ordered_checkouts.len() > ORDERED_CHECKOUTS_KEPT {
                self.commerce.ordered_checkouts.remove(0);
            }
        }
    }

    /// A refund takes its amount off the lifetime spend (same currency only).
    fn apply_refund(&mut self, r: &crate::event::Refund) {
        if let (Some(spent), Some(amount)) = (&self.commerce.total_spent, &r.amount)
            && let Some(less) = spent.plus(&Money {
                amount_minor: -amount.amount_minor,
                currency: amount.currency,
            })
        {
            self.commerce.total_spent = Some(less);
        }
    }

    fn apply_site(&mut self, site: &crate::event::SiteEvent, at: Timestamp, newer: bool) {
        self.audience.last_visit_at = self.audience.last_visit_at.max(Some(at));
        self.engaged(at);
        if let Some(a) = &site.anonymous_id {
            self.add_anonymous(a);
        }
        // Storefront input is unauthenticated: it may name a visitor
        // or a signup nobody has named yet, never rename a customer
        // or replace a name already known.
        if self.identity.first_name.is_none() && self.identity.customer_id.is_none() {
            self.identity.first_name = site.first_name.clone();
        }
        if let Some(z) = &site.time_zone
            && (newer || self.identity.time_zone.is_none())
        {
            self.identity.time_zone = Some(z.clone());
        }
        if let Some(l) = &site.locale
            && (newer || self.identity.locale.is_none())
        {
            self.identity.locale = Some(l.clone());
        }
        if let Some(topic) = &site.topic
            && self.audience.interests.len() < INTERESTS_KEPT
        {
            self.audience.interests.insert(topic.trim().to_lowercase());
        }
        // A form can subscribe (an address someone typed in), never
        // unsubscribe: that takes a signed link. With double opt-in
        // it only asks: consent comes with the confirmation link.
        if site.action == SiteAction::FormSubmitted && site.accepts_marketing == Some(true) {
            if site.double_opt_in {
                if !self.accepts_marketing() {
                    self.marketing.opt_in_pending_at = Some(at);
                }
            } else {
                self.record_consent(true, "signup_form", at);
            }
        }
        if let Some(p) = &site.product
            && matches!(
                site.action,
                SiteAction::ProductViewed | SiteAction::AddedToCart
            )
        {
            let seen = Seen {
                product_id: p.id,
                title: p.title.as_deref().map(Arc::from),
                category: p.category.as_deref().map(Arc::from),
                price: p.price.clone(),
                url: p.url.as_deref().map(Arc::from),
                image: p.image.as_deref().map(Arc::from),
                at,
            };
            remember(&mut self.commerce.viewed, seen, VIEWED_KEPT);
        }
    }

    /// Counts the event in the per-day activity (with its detail counters).
    fn count(&mut self, event: &Event) {
        let name = event.kind.name();
        if matches!(event.kind, EventKind::Reviewed) || event.kind.is_privacy() {
            return;
        }
        let sum = match &event.kind {
            EventKind::OrderPlaced(o) => o.total.as_ref().map_or(0, |t| t.amount_minor),
            EventKind::OrderRefunded(r) => r.amount.as_ref().map_or(0, |a| a.amount_minor),
            _ => 0,
        };
        self.audience.activity.add(name, event.at, sum);
        if let EventKind::Site(site) = &event.kind {
            let detail = match site.action {
                SiteAction::ProductViewed | SiteAction::AddedToCart => {
                    site.product.as_ref().and_then(|p| p.category.as_deref())
                }
                SiteAction::PageViewed => site.page_type.as_deref(),
                SiteAction::Custom => site.name.as_deref(),
                SiteAction::FormSubmitted => site.topic.as_deref(),
                _ => None,
            };
            if let Some(d) = detail {
                self.audience
                    .activity
                    .add(&activity::key(name, Some(d)), event.at, 0);
            }
        }
    }
}
