//! The contact profile and how an event changes it. Updates are monotone in
//! logical time: an older event never overwrites what a newer one said.

use crate::activity::{self, Activity};
use crate::event::{Event, EventKind, SiteAction};
use crate::ids::{ContactId, EmailAddress, ShopDomain};
use crate::money::Money;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How many recent ordered checkout tokens a contact remembers, so a late
/// checkout webhook for an already-ordered cart never starts a reminder.
const ORDERED_CHECKOUTS_KEPT: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub id: ContactId,
    pub shop: ShopDomain,
    pub customer_id: Option<u64>,
    pub email: Option<EmailAddress>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Email marketing consent: the newest fact, with its source and time.
    #[serde(default)]
    pub consent: Option<Consent>,
    /// Logical time of the newest profile fact applied.
    pub profile_at: Option<Timestamp>,
    pub first_seen_at: Timestamp,
    pub last_order_at: Option<Timestamp>,
    pub order_count: u32,
    #[serde(default)]
    pub ordered_checkouts: Vec<String>,
    /// Tags set by journeys (and later by segments and imports).
    #[serde(default)]
    pub tags: std::collections::BTreeSet<String>,
    /// Custom properties set by journeys.
    #[serde(default)]
    pub properties: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub score: i64,
    /// Lifecycle stage, as journeys set it.
    #[serde(default)]
    pub stage: Option<String>,
    /// Newest open, click or order.
    #[serde(default)]
    pub last_engaged_at: Option<Timestamp>,
    /// ISO country of the newest address seen.
    #[serde(default)]
    pub country: Option<String>,
    /// Its state or province code, for countries with several zones.
    #[serde(default)]
    pub province: Option<String>,
    /// Logical times of the newest marketing emails queued, for the cap.
    #[serde(default)]
    pub marketing_sent: Vec<Timestamp>,
    /// The storefront language, newest seen (`en-ie`, `fr`): picks template variants.
    #[serde(default)]
    pub locale: Option<String>,
    /// The segments the contact is in (kept current event by event).
    #[serde(default)]
    pub segments: std::collections::BTreeSet<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// Order totals less refunds, in the currency of the first order.
    #[serde(default)]
    pub total_spent: Option<Money>,
    #[serde(default)]
    pub first_order_at: Option<Timestamp>,
    /// Newest storefront visit (any site event).
    #[serde(default)]
    pub last_visit_at: Option<Timestamp>,
    /// The browser's IANA zone, newest seen.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Anonymous visitor ids merged into (or first seen on) this contact.
    #[serde(default)]
    pub anonymous_ids: Vec<String>,
    /// Addresses the contact had before its current one.
    #[serde(default)]
    pub past_emails: Vec<EmailAddress>,
    /// Ids of outbox messages its runs do not name: privacy exports, and
    /// what merged contacts were sent (erased with it).
    #[serde(default)]
    pub exports: Vec<String>,
    /// Contacts merged into this one, with when.
    #[serde(default)]
    pub merged_from: Vec<Merge>,
    /// Products viewed, newest last (bounded).
    #[serde(default)]
    pub viewed: Vec<Seen>,
    /// Products bought, newest last (bounded).
    #[serde(default)]
    pub bought: Vec<Seen>,
    /// Topics of interest (signup forms, content pages).
    #[serde(default)]
    pub interests: std::collections::BTreeSet<String>,
    /// Per-day counts of what the contact did, for windowed conditions.
    #[serde(default)]
    pub activity: Activity,
    /// The newest orders attributed to an email (bounded), so a refund or
    /// cancellation comes off the journey that earned it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributed: Vec<crate::analytics::Attributed>,
    /// When `score` was last computed (it decays from there).
    #[serde(default)]
    pub score_at: Option<Timestamp>,
    /// When the lifecycle stage last changed.
    #[serde(default)]
    pub stage_at: Option<Timestamp>,
    /// When the sweep last found the contact silent past the threshold.
    #[serde(default)]
    pub lapsed_at: Option<Timestamp>,
    /// The next instant a time-based segment or stage rule can change: the
    /// contact is due for a review then (the timer's index holds it).
    #[serde(default)]
    pub review_at: Option<Timestamp>,
    /// When the contact crosses the inactivity threshold if nothing happens
    /// (last sign of life + the threshold): its bucket in the sweep's index.
    /// `None` once lapsed, until it shows a sign of life again.
    #[serde(default)]
    pub idle_at: Option<Timestamp>,
    /// Coupon codes journeys gave the contact, newest last (bounded).
    #[serde(default)]
    pub coupons: Vec<crate::coupon::Coupon>,
    /// The contact's subscriptions (contracts), newest last (bounded).
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionState>,
    /// Contracts no longer kept in `subscriptions` (their lookups must go
    /// too when the person is erased).
    #[serde(default)]
    pub past_contracts: Vec<u64>,
    /// Email topics the contact opted out of (the preference page).
    #[serde(default)]
    pub topics_out: std::collections::BTreeSet<String>,
    /// A signup form's opt-in waiting for its confirmation link (double
    /// opt-in): when it was asked for.
    #[serde(default)]
    pub opt_in_pending_at: Option<Timestamp>,
    /// When the person last opted out themselves (a link, a complaint,
    /// Shopify's `unsubscribed`, a sunset): from then on only a confirmed
    /// double opt-in subscribes them again.
    #[serde(default)]
    pub opted_out_at: Option<Timestamp>,
    /// The tags the shop's own customer record gave (the record is the
    /// whole set: a tag it no longer lists leaves the profile; tags journeys
    /// set are not among these and stay).
    #[serde(default)]
    pub store_tags: std::collections::BTreeSet<String>,
    /// RFM scores under the store's thresholds, as of the newest event or
    /// review (the engine keeps them), and when recency next drops.
    #[serde(default)]
    pub rfm: Option<crate::rfm::score::Rfm>,
    #[serde(default)]
    pub rfm_changes_at: Option<Timestamp>,
    /// Set on what is left of a contact merged into another: lookups that
    /// still name it (an old order, a past address) lead there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<ContactId>,
    /// The journey that set the current stage (`update: {stage}`), if one
    /// did: the lifecycle rules then only move the contact further along.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_by: Option<String>,
    /// The newest entry of each journey and run key: what re-entry and
    /// cooldowns read once ended runs have expired.
    #[serde(default, skip_serializing_if = "crate::history::History::is_empty")]
    pub history: crate::history::History,
}

/// A subscription as the profile keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionState {
    pub contract_id: u64,
    pub status: String,
    pub interval: Option<crate::event::Cadence>,
    /// When its newest cycle was billed.
    pub billed_at: Option<Timestamp>,
    /// Cycles billed so far (as Waymark saw them).
    pub cycles: u32,
    /// Logical time of the newest contract fact applied.
    pub changed_at: Option<Timestamp>,
}

impl SubscriptionState {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// Subscriptions a contact remembers.
const SUBSCRIPTIONS_KEPT: usize = 10;

/// A product as the profile remembers it. Its texts are shared, so copying
/// a profile (every event loads one) does not copy them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    pub product_id: Option<u64>,
    pub title: Option<Arc<str>>,
    #[serde(default)]
    pub category: Option<Arc<str>>,
    #[serde(default)]
    pub price: Option<Money>,
    #[serde(default)]
    pub url: Option<Arc<str>>,
    #[serde(default)]
    pub image: Option<Arc<str>>,
    pub at: Timestamp,
}

/// One identity merge: which contact was folded in, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merge {
    pub contact: ContactId,
    pub at: Timestamp,
}

/// Products remembered as viewed, and as bought.
const VIEWED_KEPT: usize = 20;
const BOUGHT_KEPT: usize = 50;
const INTERESTS_KEPT: usize = 20;
const ANONYMOUS_KEPT: usize = 50;

/// One consent fact: opted in or out, where, and when (logical time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub subscribed: bool,
    /// e.g. `customers/create`, `checkouts/update`, `unsubscribe`, `complaint`.
    pub source: String,
    pub at: Timestamp,
}

impl Contact {
    pub fn new(id: ContactId, shop: ShopDomain, first_seen_at: Timestamp) -> Self {
        Self {
            id,
            shop,
            customer_id: None,
            email: None,
            first_name: None,
            last_name: None,
            consent: None,
            profile_at: None,
            first_seen_at,
            last_order_at: None,
            order_count: 0,
            ordered_checkouts: Vec::new(),
            tags: Default::default(),
            properties: Default::default(),
            score: 0,
            stage: None,
            last_engaged_at: None,
            country: None,
            province: None,
            marketing_sent: Vec::new(),
            segments: Default::default(),
            locale: None,
            phone: None,
            total_spent: None,
            first_order_at: None,
            last_visit_at: None,
            time_zone: None,
            anonymous_ids: Vec::new(),
            past_emails: Vec::new(),
            exports: Vec::new(),
            merged_from: Vec::new(),
            viewed: Vec::new(),
            bought: Vec::new(),
            interests: Default::default(),
            activity: Activity::default(),
            attributed: Vec::new(),
            score_at: None,
            stage_at: None,
            lapsed_at: None,
            review_at: None,
            idle_at: None,
            coupons: Vec::new(),
            subscriptions: Vec::new(),
            past_contracts: Vec::new(),
            topics_out: Default::default(),
            opt_in_pending_at: None,
            opted_out_at: None,
            store_tags: Default::default(),
            rfm: None,
            rfm_changes_at: None,
            merged_into: None,
            stage_by: None,
            history: Default::default(),
        }
    }

    /// Whether nothing identifies the contact but a browser.
    pub fn is_anonymous(&self) -> bool {
        self.email.is_none() && self.customer_id.is_none()
    }

    /// What is kept of this contact once merged into `into`: its id and a
    /// pointer, nothing personal.
    pub fn tombstone(&self, into: &ContactId) -> Contact {
        let mut t = Contact::new(self.id.clone(), self.shop.clone(), self.first_seen_at);
        t.merged_into = Some(into.clone());
        t
    }

    /// Average order value, when the contact has ordered.
    pub fn average_order(&self) -> Option<Money> {
        let spent = self.total_spent.as_ref()?;
        (self.order_count > 0).then(|| Money {
            amount_minor: spent.amount_minor / i64::from(self.order_count),
            currency: spent.currency,
        })
    }

    /// When the contact last showed a sign of life: engagement, else first seen.
    pub fn last_active_at(&self) -> Timestamp {
        self.last_engaged_at.unwrap_or(self.first_seen_at)
    }

    /// Where the inactivity threshold counts from: the last sign of life;
    /// for an anonymous visitor, who can only visit, its newest visit too
    /// (a visitor silent that long is forgotten, one who keeps coming is
    /// kept).
    pub fn idle_since(&self) -> Timestamp {
        let active = self.last_active_at();
        match self.last_visit_at {
            Some(visit) if self.is_anonymous() => active.max(visit),
            _ => active,
        }
    }

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
        if let Some(c) = &other.consent {
            self.record_consent(c.subscribed, &c.source, c.at);
        }
        self.opt_in_pending_at = self.opt_in_pending_at.or(other.opt_in_pending_at);
        self.opted_out_at = self.opted_out_at.max(other.opted_out_at);
        self.first_name = self.first_name.take().or(other.first_name.clone());
        self.last_name = self.last_name.take().or(other.last_name.clone());
        self.phone = self.phone.take().or(other.phone.clone());
        self.country = self.country.take().or(other.country.clone());
        self.province = self.province.take().or(other.province.clone());
        self.time_zone = self.time_zone.take().or(other.time_zone.clone());
        self.locale = self.locale.take().or(other.locale.clone());
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
        // Its own merges' leftovers are this person's too (erased with it).
        self.merged_from.extend(other.merged_from.iter().cloned());
        self.merged_from.push(Merge {
            contact: other.id.clone(),
            at,
        });
    }

    /// Sets the current email, remembering earlier ones (their lookups
    /// must go too when the person is erased).
    fn remember_email(&mut self, email: EmailAddress) {
        if self.email.as_ref() == Some(&email) {
            return;
        }
        self.past_emails
            .retain(|p| p.lookup_key() != email.lookup_key());
        if let Some(old) = self.email.take()
            && old.lookup_key() != email.lookup_key()
            && !self
                .past_emails
                .iter()
                .any(|e| e.lookup_key() == old.lookup_key())
        {
            self.past_emails.push(old);
        }
        self.email = Some(email);
    }

    fn add_anonymous(&mut self, id: &str) {
        if !self.anonymous_ids.iter().any(|a| a == id) {
            self.anonymous_ids.push(id.to_string());
            if self.anonymous_ids.len() > ANONYMOUS_KEPT {
                self.anonymous_ids.remove(0);
            }
        }
    }

    /// True when the newest consent fact is an opt-in.
    pub fn accepts_marketing(&self) -> bool {
        self.consent.as_ref().is_some_and(|c| c.subscribed)
    }

    /// Not subscribed now, and the person opted out at some point (any
    /// source): an unconfirmed form must not subscribe them again.
    pub fn opted_out(&self) -> bool {
        let by_source = self.consent.as_ref().is_some_and(|c| {
            !c.subscribed && matches!(c.source.as_str(), "unsubscribe" | "complaint")
        });
        !self.accepts_marketing() && (self.opted_out_at.is_some() || by_source)
    }

    /// Keeps the newer of the recorded and the given consent facts.
    fn record_consent(&mut self, subscribed: bool, source: &str, at: Timestamp) {
        if self.consent.as_ref().is_none_or(|c| at >= c.at) {
            self.consent = Some(Consent {
                subscribed,
                source: source.to_string(),
                at,
            });
        }
    }

    /// Withdraws marketing consent (a journey's sunset), unless a newer
    /// fact says otherwise.
    pub fn withdraw_consent(&mut self, source: &str, at: Timestamp) {
        self.record_consent(false, source, at);
        self.opted_out_at = self.opted_out_at.max(Some(at));
    }

    /// Remembers a coupon given by a journey (the same code again is a
    /// redelivery and changes nothing).
    pub fn give_coupon(&mut self, coupon: crate::coupon::Coupon) {
        if self.coupons.iter().any(|c| c.code == coupon.code) {
            return;
        }
        self.coupons.push(coupon);
        let excess = self.coupons.len().saturating_sub(crate::coupon::KEPT);
        self.coupons.drain(..excess);
    }

    /// The newest coupon of this name that is neither used nor expired.
    pub fn open_coupon(&self, name: &str, now: Timestamp) -> Option<&crate::coupon::Coupon> {
        self.coupons
            .iter()
            .rev()
            .find(|c| c.name == name && c.is_open(now))
    }

    /// The subscription of this contract, created if new.
    fn subscription(&mut self, contract_id: u64) -> &mut SubscriptionState {
        let i = match self
            .subscriptions
            .iter()
            .position(|s| s.contract_id == contract_id)
        {
            Some(i) => i,
            None => {
                self.subscriptions.push(SubscriptionState {
                    contract_id,
                    status: "active".into(),
                    interval: None,
                    billed_at: None,
                    cycles: 0,
                    changed_at: None,
                });
                if self.subscriptions.len() > SUBSCRIPTIONS_KEPT {
                    // The oldest ended one goes first, else the oldest.
                    let drop = self
                        .subscriptions
                        .iter()
                        .position(|s| !s.is_active())
                        .unwrap_or(0);
                    let gone = self.subscriptions.remove(drop);
                    if !self.past_contracts.contains(&gone.contract_id) {
                        self.past_contracts.push(gone.contract_id);
                    }
                }
                self.subscriptions.len() - 1
            }
        };
        &mut self.subscriptions[i]
    }

    /// Whether any of the contact's subscriptions is active.
    pub fn subscribed_to_something(&self) -> bool {
        self.subscriptions.iter().any(SubscriptionState::is_active)
    }

    /// Notes a marketing email queued at `at` (for the frequency cap).
    pub fn marketing_queued(&mut self, at: Timestamp) {
        self.marketing_sent.push(at);
        self.marketing_sent.sort();
        let excess = self
            .marketing_sent
            .len()
            .saturating_sub(crate::sending::REMEMBERED);
        self.marketing_sent.drain(..excess);
    }

    /// The IANA zone local-time rules use: an explicit `time_zone` property
    /// (set by an `update` step or an import), else the country's zone.
    pub fn zone_name(&self) -> Option<&str> {
        self.properties
            .get("time_zone")
            .and_then(|v| v.as_str())
            .or(self.time_zone.as_deref())
            .or_else(|| {
                let (c, p) = (self.country.as_deref()?, self.province.as_deref()?);
                crate::sending::region_zone(c, p)
            })
            .or_else(|| {
                self.country
                    .as_deref()
                    .and_then(crate::sending::country_zone)
            })
    }

    fn engaged(&mut self, at: Timestamp) {
        self.last_engaged_at = Some(self.last_engaged_at.map_or(at, |t| t.max(at)));
    }

    /// True if the contact placed an order at or after `t`.
    pub fn ordered_since(&self, t: Timestamp) -> bool {
        self.last_order_at.is_some_and(|o| o >= t)
    }

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
            EventKind::SubscriptionChanged(s) => {
                let sub = self.subscription(s.contract_id);
                if sub.changed_at.is_none_or(|t| event.at >= t) {
                    sub.status = s.status.clone();
                    sub.interval = s.interval.or(sub.interval);
                    sub.changed_at = Some(event.at);
                }
            }
            EventKind::SubscriptionBilled(b) => {
                let sub = self.subscription(b.contract_id);
                sub.cycles += 1;
                sub.billed_at = Some(sub.billed_at.map_or(event.at, |t| t.max(event.at)));
            }
            EventKind::OrderRefunded(r) => {
                if let (Some(spent), Some(amount)) = (&self.total_spent, &r.amount)
                    && let Some(less) = spent.plus(&Money {
                        amount_minor: -amount.amount_minor,
                        currency: amount.currency,
                    })
                {
                    self.total_spent = Some(less);
                }
            }
            EventKind::Lapsed(_) => self.lapsed_at = Some(event.at),
            EventKind::Site(site) => self.apply_site(site, event.at, newer),
        }
        self.count(event);
    }

    /// Who the event says the contact is: customer id, address, browser.
    fn apply_identity(&mut self, event: &Event, newer: bool) {
        let identity = event.kind.identity();
        if self.customer_id.is_none() {
            self.customer_id = identity.customer_id;
        }
        self.first_seen_at = self.first_seen_at.min(event.at);
        // A storefront event (unauthenticated) may give an email to a
        // contact that has none, never replace one.
        let trusted = !matches!(event.kind, EventKind::Site(_));
        if newer {
            if let Some(email) = identity.email.clone()
                && (trusted || self.email.is_none())
            {
                self.remember_email(email);
            }
            self.profile_at = Some(event.at);
        } else if self.email.is_none()
            && let Some(email) = identity.email.clone()
        {
            self.remember_email(email);
        }
        if let Some(a) = &identity.anonymous_id {
            self.add_anonymous(a);
        }
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
            && (newer || self.country.is_none())
        {
            self.country = Some(c.clone());
            self.province = p.clone();
        }
    }

    fn apply_customer(&mut self, c: &crate::event::Customer, event: &Event, newer: bool) {
        if newer || self.first_name.is_none() {
            self.first_name = c.first_name.clone().or(self.first_name.take());
            self.last_name = c.last_name.clone().or(self.last_name.take());
        }
        if newer {
            let now: std::collections::BTreeSet<String> = c.tags.iter().cloned().collect();
            for gone in self.store_tags.difference(&now) {
                self.tags.remove(gone);
            }
            self.tags.extend(now.iter().cloned());
            self.store_tags = now;
        }
        if let Some(p) = &c.phone
            && (newer || self.phone.is_none())
        {
            self.phone = Some(p.clone());
        }
        if let Some(subscribed) = c.accepts_marketing {
            self.record_consent(subscribed, &event.source.topic, event.at);
        }
        if c.opted_out {
            self.opted_out_at = self.opted_out_at.max(Some(event.at));
        }
    }

    fn apply_checkout(&mut self, c: &crate::event::Checkout, event: &Event, newer: bool) {
        if self.first_name.is_none() {
            self.first_name = c.first_name.clone();
        }
        if let Some(l) = &c.locale
            && (newer || self.locale.is_none())
        {
            self.locale = Some(l.clone());
        }
        // Ticking the box at checkout is an opt-in; leaving it
        // unticked revokes nothing.
        if c.accepts_marketing == Some(true) {
            self.record_consent(true, &event.source.topic, event.at);
        }
    }

    fn apply_consent(&mut self, c: &crate::event::ConsentChange, at: Timestamp) {
        if !c.topics.is_empty() {
            // A topic-level choice leaves the overall consent alone.
            for t in &c.topics {
                if c.subscribed {
                    self.topics_out.remove(t);
                } else {
                    self.topics_out.insert(t.clone());
                }
            }
            return;
        }
        self.record_consent(c.subscribed, &c.source, at);
        if !c.subscribed {
            self.opted_out_at = self.opted_out_at.max(Some(at));
        }
        if c.subscribed && self.accepts_marketing() {
            // A confirmed opt-in is to everything.
            self.opt_in_pending_at = None;
            if c.source == crate::event::DOUBLE_OPT_IN {
                self.topics_out.clear();
            }
        }
    }

    fn apply_order(&mut self, o: &crate::event::Order, at: Timestamp) {
        if self.first_name.is_none() {
            self.first_name = o.first_name.clone();
        }
        self.order_count += 1;
        self.engaged(at);
        for code in &o.discount_codes {
            if let Some(c) = self
                .coupons
                .iter_mut()
                .find(|c| c.used_at.is_none() && c.code.eq_ignore_ascii_case(code))
            {
                c.used_at = Some(at);
            }
        }
        self.first_order_at = Some(self.first_order_at.map_or(at, |t| t.min(at)));
        if let Some(total) = &o.total {
            self.total_spent = match &self.total_spent {
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
            remember(&mut self.bought, seen, BOUGHT_KEPT);
        }
        self.last_order_at = Some(self.last_order_at.map_or(at, |t| t.max(at)));
        if let Some(token) = &o.checkout_token
            && !self.ordered_checkouts.contains(token)
        {
            self.ordered_checkouts.push(token.clone());
            if self.ordered_checkouts.len() > ORDERED_CHECKOUTS_KEPT {
                self.ordered_checkouts.remove(0);
            }
        }
    }

    fn apply_site(&mut self, site: &crate::event::SiteEvent, at: Timestamp, newer: bool) {
        self.last_visit_at = self.last_visit_at.max(Some(at));
        self.engaged(at);
        if let Some(a) = &site.anonymous_id {
            self.add_anonymous(a);
        }
        // Storefront input is unauthenticated: it may name a visitor
        // or a signup nobody has named yet, never rename a customer
        // or replace a name already known.
        if self.first_name.is_none() && self.customer_id.is_none() {
            self.first_name = site.first_name.clone();
        }
        if let Some(z) = &site.time_zone
            && (newer || self.time_zone.is_none())
        {
            self.time_zone = Some(z.clone());
        }
        if let Some(l) = &site.locale
            && (newer || self.locale.is_none())
        {
            self.locale = Some(l.clone());
        }
        if let Some(topic) = &site.topic
            && self.interests.len() < INTERESTS_KEPT
        {
            self.interests.insert(topic.trim().to_lowercase());
        }
        // A form can subscribe (an address someone typed in), never
        // unsubscribe: that takes a signed link. With double opt-in
        // it only asks: consent comes with the confirmation link.
        if site.action == SiteAction::FormSubmitted && site.accepts_marketing == Some(true) {
            if site.double_opt_in {
                if !self.accepts_marketing() {
                    self.opt_in_pending_at = Some(at);
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
            remember(&mut self.viewed, seen, VIEWED_KEPT);
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
        self.activity.add(name, event.at, sum);
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
                self.activity
                    .add(&activity::key(name, Some(d)), event.at, 0);
            }
        }
    }
}

/// Adds a product to a bounded, newest-last list (a product seen again moves
/// to the end).
fn remember(list: &mut Vec<Seen>, seen: Seen, kept: usize) {
    if let Some(i) = list.iter().position(|x| {
        (x.product_id.is_some() && x.product_id == seen.product_id)
            || (x.product_id.is_none() && x.title == seen.title)
    }) {
        list.remove(i);
    }
    list.push(seen);
    if list.len() > kept {
        list.remove(0);
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;
    use crate::money::Money;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn shop() -> ShopDomain {
        ShopDomain::parse("demo.myshopify.com").unwrap()
    }

    #[test]
    fn an_email_only_profile_brings_its_orders_consent_and_address() {
        let mut customer = Contact::new(
            ContactId::for_customer(7),
            shop(),
            t("2026-01-01T00:00:00Z"),
        );
        customer.customer_id = Some(7);
        customer.email = Some(EmailAddress::parse("ana.work@example.com").unwrap());
        customer.order_count = 1;
        customer.total_spent = Some(Money::parse("20.00", "EUR").unwrap());
        customer.first_order_at = Some(t("2026-03-01T00:00:00Z"));
        customer.last_order_at = customer.first_order_at;
        customer.record_consent(false, "customers/create", t("2026-01-01T00:00:00Z"));

        let address = EmailAddress::parse("ana@example.com").unwrap();
        let mut lead = Contact::new(
            ContactId::for_email(&address),
            shop(),
            t("2025-12-01T00:00:00Z"),
        );
        lead.email = Some(address.clone());
        lead.order_count = 2;
        lead.total_spent = Some(Money::parse("15.50", "EUR").unwrap());
        lead.first_order_at = Some(t("2026-02-01T00:00:00Z"));
        lead.last_order_at = Some(t("2026-02-10T00:00:00Z"));
        lead.record_consent(true, "signup_form", t("2026-04-01T00:00:00Z"));
        lead.first_name = Some("Ana".into());
        lead.merged_from.push(Merge {
            contact: ContactId::for_anonymous("anon-1"),
            at: t("2025-12-01T00:00:00Z"),
        });

        customer.absorb(&lead, t("2026-05-01T00:00:00Z"));
        assert_eq!(customer.order_count, 3);
        assert_eq!(
            customer.total_spent,
            Some(Money::parse("35.50", "EUR").unwrap())
        );
        assert_eq!(customer.first_order_at, Some(t("2026-02-01T00:00:00Z")));
        assert_eq!(customer.last_order_at, Some(t("2026-03-01T00:00:00Z")));
        assert_eq!(customer.first_seen_at, t("2025-12-01T00:00:00Z"));
        // The newer consent fact wins, whichever profile held it.
        assert!(customer.accepts_marketing());
        assert_eq!(customer.first_name.as_deref(), Some("Ana"));
        assert_eq!(customer.past_emails, vec![address.clone()]);
        // Both merges are remembered (their leftovers go with an erasure).
        let merged: Vec<_> = customer
            .merged_from
            .iter()
            .map(|m| m.contact.clone())
            .collect();
        assert_eq!(
            merged,
            vec![ContactId::for_anonymous("anon-1"), lead.id.clone()]
        );
        // Taking the address as the current one leaves no duplicate behind.
        customer.remember_email(address.clone());
        assert_eq!(customer.email, Some(address));
        assert_eq!(
            customer.past_emails,
            vec![EmailAddress::parse("ana.work@example.com").unwrap()]
        );
        // What is left of the lead names no one.
        let t = lead.tombstone(&customer.id);
        assert_eq!(t.merged_into, Some(customer.id.clone()));
        assert!(t.is_anonymous() && t.first_name.is_none() && t.activity.keys() == 0);
    }
}
