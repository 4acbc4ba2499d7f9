//! The contact profile and how an event changes it. Updates are monotone in
//! logical time: an older event never overwrites what a newer one said.
//! `apply` folds in an event, `merge` folds in another profile of the same
//! person; consent, subscriptions and remembered products have their own
//! modules. Its facts are grouped by concern (`identity`, `marketing`,
//! `commerce`, `audience`, `schedule`); `stored` keeps the flat JSON object
//! it is stored as, which must never change shape.

mod apply;
mod consent;
mod merge;
mod products;
mod stored;
mod subscriptions;

pub use consent::{Consent, ConsentSource};
pub use merge::Merge;
pub use products::{Seen, VIEWED_KEPT};
pub use subscriptions::{SubscriptionState, SubscriptionStatus};

use crate::activity::Activity;
use crate::ids::{ContactId, EmailAddress, ShopDomain};
use crate::money::Money;
use jiff::Timestamp;

/// How many recent ordered checkout tokens a contact remembers, so a late
/// checkout webhook for an already-ordered cart never starts a reminder.
const ORDERED_CHECKOUTS_KEPT: usize = 20;
const INTERESTS_KEPT: usize = 20;
const ANONYMOUS_KEPT: usize = 50;

/// A contact's profile, its facts grouped by concern. It is stored as one
/// flat JSON object (`stored.rs`), the same as before the groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: ContactId,
    pub shop: ShopDomain,
    pub first_seen_at: Timestamp,
    /// Logical time of the newest profile fact applied.
    pub profile_at: Option<Timestamp>,
    pub identity: Identity,
    pub marketing: Marketing,
    pub commerce: Commerce,
    pub audience: Audience,
    pub schedule: Schedule,
    /// Ids of outbox messages its runs do not name: privacy exports, and
    /// what merged contacts were sent (erased with it).
    pub exports: Vec<String>,
    /// The newest entry of each journey and run key: what re-entry and
    /// cooldowns read once ended runs have expired.
    pub history: crate::history::History,
}

/// Who the contact is: ids, names, addresses and where they live.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Identity {
    pub customer_id: Option<u64>,
    pub email: Option<EmailAddress>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    /// Anonymous visitor ids merged into (or first seen on) this contact.
    pub anonymous_ids: Vec<String>,
    /// Addresses the contact had before its current one.
    pub past_emails: Vec<EmailAddress>,
    /// Contacts merged into this one, with when.
    pub merged_from: Vec<Merge>,
    /// Set on what is left of a contact merged into another: lookups that
    /// still name it (an old order, a past address) lead there.
    pub merged_into: Option<ContactId>,
    /// ISO country of the newest address seen.
    pub country: Option<String>,
    /// Its state or province code, for countries with several zones.
    pub province: Option<String>,
    /// The storefront language, newest seen (`en-ie`, `fr`): picks template variants.
    pub locale: Option<String>,
    /// The browser's IANA zone, newest seen.
    pub time_zone: Option<String>,
    /// Lookups an event found leading to this contact itself.
    pub held: Held,
}

/// An address and a customer id whose lookups an event found leading to
/// the contact itself (not through a merged contact). An address's or a
/// customer id's lookup leaves a contact only when the contact is merged
/// away or erased, and either changes the contact's version (a browser's
/// may move on: it is only ever the lookup read first): while it stands, an event that names
/// only these and a browser or customer id leading here need not read
/// them again.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Held {
    /// The address's lookup key (`EmailAddress::lookup_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<u64>,
}

impl Held {
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.customer_id.is_none()
    }
}

/// Email marketing: consent, topic choices and the sends the cap counts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Marketing {
    /// Email marketing consent: the newest fact, with its source and time.
    pub consent: Option<Consent>,
    /// Email topics the contact opted out of (the preference page).
    pub topics_out: std::collections::BTreeSet<String>,
    /// A signup form's opt-in waiting for its confirmation link (double
    /// opt-in): when it was asked for.
    pub opt_in_pending_at: Option<Timestamp>,
    /// When the person last opted out themselves (a link, a complaint,
    /// Shopify's `unsubscribed`, a sunset): from then on only a confirmed
    /// double opt-in subscribes them again.
    pub opted_out_at: Option<Timestamp>,
    /// Logical times of the newest marketing emails queued, for the cap.
    pub marketing_sent: Vec<Timestamp>,
}

/// What the contact bought and holds: orders, products, coupons, subscriptions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Commerce {
    pub order_count: u32,
    pub first_order_at: Option<Timestamp>,
    pub last_order_at: Option<Timestamp>,
    /// Order totals less refunds, in the currency of the first order.
    pub total_spent: Option<Money>,
    pub ordered_checkouts: Vec<String>,
    /// Products viewed, newest last (bounded).
    pub viewed: Vec<Seen>,
    /// Products bought, newest last (bounded).
    pub bought: Vec<Seen>,
    /// Coupon codes journeys gave the contact, newest last (bounded).
    pub coupons: Vec<crate::coupon::Coupon>,
    /// The contact's subscriptions (contracts), newest last (bounded).
    pub subscriptions: Vec<SubscriptionState>,
    /// Contracts no longer kept in `subscriptions` (their lookups must go
    /// too when the person is erased).
    pub past_contracts: Vec<u64>,
    /// The newest orders attributed to an email (bounded), so a refund or
    /// cancellation comes off the journey that earned it.
    pub attributed: Vec<crate::analytics::Attributed>,
}

/// How the shop sees the contact: tags, properties, score, stage, segments, RFM and activity.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Audience {
    /// Tags set by journeys (and later by segments and imports).
    pub tags: std::collections::BTreeSet<String>,
    /// The tags the shop's own customer record gave (the record is the
    /// whole set: a tag it no longer lists leaves the profile; tags journeys
    /// set are not among these and stay).
    pub store_tags: std::collections::BTreeSet<String>,
    /// Custom properties set by journeys.
    pub properties: std::collections::BTreeMap<String, serde_json::Value>,
    pub score: i64,
    /// When `score` was last computed (it decays from there).
    pub score_at: Option<Timestamp>,
    /// Lifecycle stage, as journeys set it.
    pub stage: Option<String>,
    /// When the lifecycle stage last changed.
    pub stage_at: Option<Timestamp>,
    /// The journey that set the current stage (`update: {stage}`), if one
    /// did: the lifecycle rules then only move the contact further along.
    pub stage_by: Option<String>,
    /// The segments the contact is in (kept current event by event).
    pub segments: std::collections::BTreeSet<String>,
    /// Topics of interest (signup forms, content pages).
    pub interests: std::collections::BTreeSet<String>,
    /// RFM scores under the store's thresholds, as of the newest event or
    /// review (the engine keeps them), and when recency next drops.
    pub rfm: Option<crate::rfm::score::Rfm>,
    pub rfm_changes_at: Option<Timestamp>,
    /// Per-day counts of what the contact did, for windowed conditions.
    pub activity: Activity,
    /// Newest open, click or order.
    pub last_engaged_at: Option<Timestamp>,
    /// Newest storefront visit (any site event).
    pub last_visit_at: Option<Timestamp>,
    /// When the sweep last found the contact silent past the threshold.
    pub lapsed_at: Option<Timestamp>,
}

/// When the contact is next due: a review, or the sweep's inactivity threshold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Schedule {
    /// The next instant a time-based segment or stage rule can change: the
    /// contact is due for a review then (the timer's index holds it).
    pub review_at: Option<Timestamp>,
    /// When the contact crosses the inactivity threshold if nothing happens
    /// (last sign of life + the threshold): its bucket in the sweep's index.
    /// `None` once lapsed, until it shows a sign of life again.
    pub idle_at: Option<Timestamp>,
}

impl Schedule {
    /// Where the contact sits in the due and idle indexes moves only
    /// earlier. Both are KEYS_ONLY indexes, where a key that moves is a
    /// delete and a put (2 WCU), and nearly every event would move them (a
    /// score's decay, a window's next day, a new sign of life). A time still
    /// ahead is kept when the contact is next due later: the early visit
    /// it leads to (a review, a sweep) finds nothing changed and sets the
    /// time then needed, once a period instead of once an event. Kept times
    /// are never later than needed, so nothing is ever missed.
    pub fn settle(&mut self, review: Option<Timestamp>, idle: Option<Timestamp>, now: Timestamp) {
        self.review_at = earlier_kept(self.review_at, review, now);
        self.idle_at = earlier_kept(self.idle_at, idle, now);
    }
}

/// The stored time if it is still ahead and earlier than the one needed;
/// otherwise the one needed (`None` when none is).
fn earlier_kept(
    stored: Option<Timestamp>,
    needed: Option<Timestamp>,
    now: Timestamp,
) -> Option<Timestamp> {
    match (stored, needed) {
        (Some(s), Some(n)) if s > now && s < n => Some(s),
        _ => needed,
    }
}

impl Contact {
    pub fn new(id: ContactId, shop: ShopDomain, first_seen_at: Timestamp) -> Self {
        Self {
            id,
            shop,
            first_seen_at,
            profile_at: None,
            identity: Identity::default(),
            marketing: Marketing::default(),
            commerce: Commerce::default(),
            audience: Audience::default(),
            schedule: Schedule::default(),
            exports: Vec::new(),
            history: Default::default(),
        }
    }

    /// Whether nothing identifies the contact but a browser.
    pub fn is_anonymous(&self) -> bool {
        self.identity.email.is_none() && self.identity.customer_id.is_none()
    }

    /// What is kept of this contact once merged into `into`: its id and a
    /// pointer, nothing personal.
    pub fn tombstone(&self, into: &ContactId) -> Contact {
        let mut t = Contact::new(self.id.clone(), self.shop.clone(), self.first_seen_at);
        t.identity.merged_into = Some(into.clone());
        t
    }

    /// Average order value, when the contact has ordered.
    pub fn average_order(&self) -> Option<Money> {
        let spent = self.commerce.total_spent.as_ref()?;
        (self.commerce.order_count > 0).then(|| Money {
            amount_minor: spent.amount_minor / i64::from(self.commerce.order_count),
            currency: spent.currency,
        })
    }

    /// When the contact last showed a sign of life: engagement, else first seen.
    pub fn last_active_at(&self) -> Timestamp {
        self.audience.last_engaged_at.unwrap_or(self.first_seen_at)
    }

    /// Where the inactivity threshold counts from: the last sign of life;
    /// for an anonymous visitor, who can only visit, its newest visit too
    /// (a visitor silent that long is forgotten, one who keeps coming is
    /// kept).
    pub fn idle_since(&self) -> Timestamp {
        let active = self.last_active_at();
        match self.audience.last_visit_at {
            Some(visit) if self.is_anonymous() => active.max(visit),
            _ => active,
        }
    }

    /// When the contact crosses the inactivity threshold (`after` silent)
    /// if nothing happens: `None` once lapsed, until a sign of life.
    pub fn idle_threshold(&self, after: jiff::SignedDuration) -> Option<Timestamp> {
        let since = self.idle_since();
        let lapsed = self.audience.lapsed_at.is_some_and(|l| l >= since);
        (!lapsed).then(|| since.checked_add(after).ok()).flatten()
    }

    pub(super) fn add_anonymous(&mut self, id: &str) {
        if !self.identity.anonymous_ids.iter().any(|a| a == id) {
            self.identity.anonymous_ids.push(id.to_string());
            if self.identity.anonymous_ids.len() > ANONYMOUS_KEPT {
                self.identity.anonymous_ids.remove(0);
            }
        }
    }

    /// Remembers a coupon given by a journey (the same code again is a
    /// redelivery and changes nothing).
    pub fn give_coupon(&mut self, coupon: crate::coupon::Coupon) {
        if self.commerce.coupons.iter().any(|c| c.code == coupon.code) {
            return;
        }
        self.commerce.coupons.push(coupon);
        let excess = self
            .commerce
            .coupons
            .len()
            .saturating_sub(crate::coupon::KEPT);
        self.commerce.coupons.drain(..excess);
    }

    /// The newest coupon of this name that is neither used nor expired.
    pub fn open_coupon(&self, name: &str, now: Timestamp) -> Option<&crate::coupon::Coupon> {
        self.commerce
            .coupons
            .iter()
            .rev()
            .find(|c| c.name == name && c.is_open(now))
    }

    /// Notes a marketing email queued at `at` (for the frequency cap); sends
    /// no cap can count any more (`sending::REMEMBERED_FOR`) are forgotten.
    pub fn marketing_queued(&mut self, at: Timestamp) {
        let sent = &mut self.marketing.marketing_sent;
        sent.push(at);
        sent.sort();
        if let Ok(horizon) = at.checked_sub(crate::sending::REMEMBERED_FOR) {
            sent.retain(|t| *t > horizon);
        }
        let excess = sent.len().saturating_sub(crate::sending::REMEMBERED);
        sent.drain(..excess);
    }

    /// Forgets one marketing email noted at `at` that was never sent (its
    /// campaign was cancelled).
    pub fn marketing_unqueued(&mut self, at: Timestamp) {
        let sent = &mut self.marketing.marketing_sent;
        if let Some(i) = sent.iter().position(|t| *t == at) {
            sent.remove(i);
        }
    }

    /// The IANA zone local-time rules use: an explicit `time_zone` property
    /// (set by an `update` step or an import), else the country's zone.
    pub fn zone_name(&self) -> Option<&str> {
        self.audience
            .properties
            .get("time_zone")
            .and_then(|v| v.as_str())
            .or(self.identity.time_zone.as_deref())
            .or_else(|| {
                let (c, p) = (
                    self.identity.country.as_deref()?,
                    self.identity.province.as_deref()?,
                );
                crate::sending::region_zone(c, p)
            })
            .or_else(|| {
                self.identity
                    .country
                    .as_deref()
                    .and_then(crate::sending::country_zone)
            })
    }

    pub(super) fn engaged(&mut self, at: Timestamp) {
        self.audience.last_engaged_at =
            Some(self.audience.last_engaged_at.map_or(at, |t| t.max(at)));
    }

    /// True if the contact placed an order at or after `t`.
    pub fn ordered_since(&self, t: Timestamp) -> bool {
        self.commerce.last_order_at.is_some_and(|o| o >= t)
    }
}

#[cfg(test)]
mod sends_tests {
    use super::*;

    #[test]
    fn a_contact_remembers_the_sends_a_cap_can_count_and_no_more() {
        let day0: Timestamp = "2026-01-01T18:00:00Z".parse().unwrap();
        let day = |d: i64| day0 + jiff::SignedDuration::from_hours(24 * d);
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let mut c = Contact::new(ContactId::for_customer(7), shop, day0);
        // A weekly newsletter for a year.
        for week in 0..52 {
            c.marketing_queued(day(7 * week));
        }
        let sent = &c.marketing.marketing_sent;
        assert_eq!(sent.len(), 5, "{sent:?}");
        assert!(
            sent.iter()
                .all(|t| day(357).duration_since(*t) < crate::sending::REMEMBERED_FOR)
        );
        // A burst keeps the newest 32.
        for i in 0..100 {
            c.marketing_queued(day(400) + jiff::SignedDuration::from_mins(i));
        }
        assert_eq!(c.marketing.marketing_sent.len(), crate::sending::REMEMBERED);
        assert_eq!(
            c.marketing.marketing_sent.last(),
            Some(&(day(400) + jiff::SignedDuration::from_mins(99)))
        );
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
        customer.identity.customer_id = Some(7);
        customer.identity.email = Some(EmailAddress::parse("ana.work@example.com").unwrap());
        customer.commerce.order_count = 1;
        customer.commerce.total_spent = Some(Money::parse("20.00", "EUR").unwrap());
        customer.commerce.first_order_at = Some(t("2026-03-01T00:00:00Z"));
        customer.commerce.last_order_at = customer.commerce.first_order_at;
        customer.record_consent(false, "customers/create", t("2026-01-01T00:00:00Z"));

        let address = EmailAddress::parse("ana@example.com").unwrap();
        let mut lead = Contact::new(
            ContactId::for_email(&address),
            shop(),
            t("2025-12-01T00:00:00Z"),
        );
        lead.identity.email = Some(address.clone());
        lead.commerce.order_count = 2;
        lead.commerce.total_spent = Some(Money::parse("15.50", "EUR").unwrap());
        lead.commerce.first_order_at = Some(t("2026-02-01T00:00:00Z"));
        lead.commerce.last_order_at = Some(t("2026-02-10T00:00:00Z"));
        lead.record_consent(true, "signup_form", t("2026-04-01T00:00:00Z"));
        lead.identity.first_name = Some("Ana".into());
        lead.identity.merged_from.push(Merge {
            contact: ContactId::for_anonymous("anon-1"),
            at: t("2025-12-01T00:00:00Z"),
        });

        customer.absorb(&lead, t("2026-05-01T00:00:00Z"));
        assert_eq!(customer.commerce.order_count, 3);
        assert_eq!(
            customer.commerce.total_spent,
            Some(Money::parse("35.50", "EUR").unwrap())
        );
        assert_eq!(
            customer.commerce.first_order_at,
            Some(t("2026-02-01T00:00:00Z"))
        );
        assert_eq!(
            customer.commerce.last_order_at,
            Some(t("2026-03-01T00:00:00Z"))
        );
        assert_eq!(customer.first_seen_at, t("2025-12-01T00:00:00Z"));
        // The newer consent fact wins, whichever profile held it.
        assert!(customer.accepts_marketing());
        assert_eq!(customer.identity.first_name.as_deref(), Some("Ana"));
        assert_eq!(customer.identity.past_emails, vec![address.clone()]);
        // Both merges are remembered (their leftovers go with an erasure).
        let merged: Vec<_> = customer
            .identity
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
        assert_eq!(customer.identity.email, Some(address));
        assert_eq!(
            customer.identity.past_emails,
            vec![EmailAddress::parse("ana.work@example.com").unwrap()]
        );
        // What is left of the lead names no one.
        let t = lead.tombstone(&customer.id);
        assert_eq!(t.identity.merged_into, Some(customer.id.clone()));
        assert!(
            t.is_anonymous() && t.identity.first_name.is_none() && t.audience.activity.keys() == 0
        );
    }
}
