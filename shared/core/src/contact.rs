//! The contact profile and how an event changes it. Updates are monotone in
//! logical time: an older event never overwrites what a newer one said.

use crate::event::{Event, EventKind};
use crate::ids::{ContactId, EmailAddress, ShopDomain};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

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
    /// Logical times of the newest marketing emails queued, for the cap.
    #[serde(default)]
    pub marketing_sent: Vec<Timestamp>,
    /// The storefront language, newest seen (`en-ie`, `fr`): picks template variants.
    #[serde(default)]
    pub locale: Option<String>,
    /// The segments the contact is in (kept current event by event).
    #[serde(default)]
    pub segments: std::collections::BTreeSet<String>,
}

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
            marketing_sent: Vec::new(),
            segments: Default::default(),
            locale: None,
        }
    }

    /// True when the newest consent fact is an opt-in.
    pub fn accepts_marketing(&self) -> bool {
        self.consent.as_ref().is_some_and(|c| c.subscribed)
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
        let identity = event.kind.identity();
        if self.customer_id.is_none() {
            self.customer_id = identity.customer_id;
        }
        let newer = self.profile_at.is_none_or(|p| event.at >= p);
        let first_seen = self.first_seen_at.min(event.at);
        self.first_seen_at = first_seen;
        if newer {
            if let Some(email) = identity.email {
                self.email = Some(email);
            }
            self.profile_at = Some(event.at);
        } else if self.email.is_none() {
            self.email = identity.email;
        }
        let country = match &event.kind {
            EventKind::CustomerUpserted(c) => c.country.as_ref(),
            EventKind::CheckoutUpdated(c) => c.country.as_ref(),
            other => other.order().and_then(|o| o.country.as_ref()),
        };
        if let Some(c) = country
            && (newer || self.country.is_none())
        {
            self.country = Some(c.clone());
        }
        match &event.kind {
            EventKind::CustomerUpserted(c) => {
                if newer || self.first_name.is_none() {
                    self.first_name = c.first_name.clone().or(self.first_name.take());
                    self.last_name = c.last_name.clone().or(self.last_name.take());
                }
                self.tags.extend(c.tags.iter().cloned());
                if let Some(subscribed) = c.accepts_marketing {
                    self.record_consent(subscribed, &event.source.topic, event.at);
                }
            }
            EventKind::CheckoutUpdated(c) => {
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
            EventKind::ConsentChanged(c) => {
                self.record_consent(c.subscribed, &c.source, event.at);
            }
            EventKind::EmailOpened(_) | EventKind::EmailClicked(_) => self.engaged(event.at),
            EventKind::OrderPlaced(o) => {
                if self.first_name.is_none() {
                    self.first_name = o.first_name.clone();
                }
                self.order_count += 1;
                self.engaged(event.at);
                self.last_order_at = Some(self.last_order_at.map_or(event.at, |t| t.max(event.at)));
                if let Some(token) = &o.checkout_token
                    && !self.ordered_checkouts.contains(token)
                {
                    self.ordered_checkouts.push(token.clone());
                    if self.ordered_checkouts.len() > ORDERED_CHECKOUTS_KEPT {
                        self.ordered_checkouts.remove(0);
                    }
                }
            }
            EventKind::OrderPaid(_)
            | EventKind::OrderCancelled(_)
            | EventKind::OrderFulfilled(_) => {}
        }
    }
}
