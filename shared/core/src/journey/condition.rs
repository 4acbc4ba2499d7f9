//! Conditions: predicates over the event at hand, the contact and the run,
//! used by triggers, goals, exits, audiences and `if` steps. Written in the
//! definition files as a bare name (`has_email`) or a one-key map
//! (`total_at_least: "50.00"`), combined with `all_of`, `any_of` and `not`.

use crate::contact::Contact;
use crate::event::EventKind;
use crate::money::Money;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

pub use crate::time::Duration;

/// A decimal amount such as `"50.00"`, compared in the event's currency.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Amount(String);

impl TryFrom<String> for Amount {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Money::parse(&value, "XXX")
            .map(|_| Amount(value.clone()))
            .map_err(|e| format!("amount: {e}"))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    // ---- the event at hand ----
    /// The event names an email address.
    HasEmail,
    /// A checkout with at least one line item.
    HasLineItems,
    /// A checkout with no line items (emptied).
    NoLineItems,
    /// A checkout that was completed.
    Completed,
    /// A checkout not completed.
    NotCompleted,
    /// At least this many units across line items.
    ItemsAtLeast(u32),
    /// The checkout's or order's total is at least this amount.
    TotalAtLeast(Amount),
    /// One of the line items is this product id.
    HasProduct(u64),
    /// The customer said yes to email marketing (as the event reports it).
    EventAcceptsMarketing,
    /// A click on a link containing this text (`email_clicked` events).
    ClickedLink(String),
    /// A page view of this page type (`pricing`, `onboarding`…).
    PageType(String),
    /// A product event (view, cart add) for a product in this category.
    Category(String),
    /// A custom site event with this name.
    CustomName(String),
    /// A shipment event with this carrier status (`delivered`…).
    ShipmentStatus(String),
    /// A form submitted with this topic of interest.
    Topic(String),
    /// A signup form's opt-in that waits for its confirmation (double opt-in).
    AsksConfirmation,
    /// A site event that names a topic of interest (any).
    HasTopic,
    // ---- the contact ----
    /// The contact accepts email marketing.
    AcceptsMarketing,
    HasTag(String),
    /// The contact is in this segment (`segments/<id>.yaml`).
    InSegment(String),
    InStage(String),
    OrdersAtLeast(u32),
    /// The contact has exactly one order (the event at hand was the first).
    FirstOrder,
    /// The contact ordered within this long before now.
    OrderedWithin(Duration),
    /// A custom property equals a value.
    Property {
        key: String,
        equals: serde_json::Value,
    },
    /// How often the contact did something (and how much it summed to),
    /// over a window or all the history kept.
    Count(CountRule),
    /// Lifetime spend (orders less refunds) at least this amount.
    SpentAtLeast(Amount),
    /// An open, click, visit or order within this long before now.
    EngagedWithin(Duration),
    /// The contact's RFM cell (`champions`, `at_risk`…).
    Rfm(String),
    /// RFM scores at least these (each 1–5; unset parts are not checked).
    RfmAtLeast(RfmFloor),
    /// The (decayed) score is at least this.
    ScoreAtLeast(i64),
    /// The contact said it is interested in this topic.
    HasInterest(String),
    /// The contact holds a coupon of this name, neither used nor expired.
    CouponUnused(String),
    /// The contact has an active subscription.
    SubscriptionActive,
    // ---- the run ----
    /// The run already sent the email of this step.
    Received(String),
    /// The contact clicked a link (containing `link`, any when unset) in
    /// the email this run's step `step` sent.
    Clicked(ClickRule),
    /// The contact opened the email this run's step sent.
    Opened(String),
    // ---- combinators ----
    Not(Box<Condition>),
    AnyOf(Vec<Condition>),
    AllOf(Vec<Condition>),
}

/// The file form: a bare name or a one-key map. YAML libraries read
/// externally tagged enums from YAML tags, not maps, so a condition goes
/// through a JSON value, where the map form is serde's own.
#[derive(Deserialize)]
#[serde(remote = "Condition", rename_all = "snake_case", deny_unknown_fields)]
enum Repr {
    HasEmail,
    HasLineItems,
    NoLineItems,
    Completed,
    NotCompleted,
    ItemsAtLeast(u32),
    TotalAtLeast(Amount),
    HasProduct(u64),
    EventAcceptsMarketing,
    ClickedLink(String),
    PageType(String),
    Category(String),
    CustomName(String),
    ShipmentStatus(String),
    Topic(String),
    AsksConfirmation,
    HasTopic,
    AcceptsMarketing,
    HasTag(String),
    InSegment(String),
    InStage(String),
    OrdersAtLeast(u32),
    FirstOrder,
    OrderedWithin(Duration),
    Property {
        key: String,
        equals: serde_json::Value,
    },
    Count(CountRule),
    SpentAtLeast(Amount),
    EngagedWithin(Duration),
    Rfm(String),
    RfmAtLeast(RfmFloor),
    ScoreAtLeast(i64),
    HasInterest(String),
    CouponUnused(String),
    SubscriptionActive,
    Received(String),
    Clicked(ClickRule),
    Opened(String),
    Not(Box<Condition>),
    AnyOf(Vec<Condition>),
    AllOf(Vec<Condition>),
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Repr::deserialize(value).map_err(serde::de::Error::custom)
    }
}

/// `count: {event, detail?, within?, at_least?, at_most?, sum_at_least?}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "CountFile")]
pub struct CountRule {
    /// An event name (`order_placed`, `product_viewed`…).
    pub event: String,
    /// The category, page type, custom event name or topic counted.
    pub detail: Option<String>,
    pub within: Option<Duration>,
    pub at_least: Option<u32>,
    pub at_most: Option<u32>,
    /// The summed amount (order totals) at least this.
    pub sum_at_least: Option<Amount>,
    /// The activity counter read (`event` or `event:detail`), built once.
    pub key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountFile {
    event: String,
    detail: Option<String>,
    within: Option<Duration>,
    at_least: Option<u32>,
    at_most: Option<u32>,
    sum_at_least: Option<Amount>,
}

impl From<CountFile> for CountRule {
    fn from(f: CountFile) -> Self {
        Self {
            key: crate::activity::key(&f.event, f.detail.as_deref()),
            event: f.event,
            detail: f.detail,
            within: f.within,
            at_least: f.at_least,
            at_most: f.at_most,
            sum_at_least: f.sum_at_least,
        }
    }
}

impl CountRule {
    /// When time alone can next change whether the rule holds: as days
    /// leave the window, the count only falls, so `at_least` can stop
    /// holding only when enough days have left to bring it under, `at_most`
    /// start holding only when they bring it down to it, and neither ever
    /// by time when it cannot. (An amount rule, or a counter with days
    /// ahead of `now`, takes the next day to leave.)
    fn changes_after(&self, contact: &Contact, now: Timestamp) -> Option<Timestamp> {
        let Duration(within) = self.within?;
        let activity = &contact.audience.activity;
        let next_day_out = || activity.next_expiry(&self.key, within, now);
        if self.sum_at_least.is_some() {
            return next_day_out();
        }
        let Some(days) = activity.expiring(&self.key, within, now) else {
            return next_day_out();
        };
        let holds = |n: u32| {
            self.at_least.is_none_or(|min| n >= min) && self.at_most.is_none_or(|max| n <= max)
        };
        let mut n = activity.total(&self.key, Some(within), now).0;
        let now_holds = holds(n);
        for (leaves, day) in days {
            n = n.saturating_sub(day.n);
            if holds(n) != now_holds {
                return Some(leaves);
            }
        }
        None
    }

    fn holds(&self, contact: &Contact, now: Timestamp) -> bool {
        let (n, sum) = contact
            .audience
            .activity
            .total(&self.key, self.within.map(|d| d.0), now);
        let currency = contact
            .commerce
            .total_spent
            .as_ref()
            .map_or("USD", |m| m.currency.as_str());
        self.at_least.is_none_or(|min| n >= min)
            && self.at_most.is_none_or(|max| n <= max)
            && self.sum_at_least.as_ref().is_none_or(|Amount(a)| {
                Money::parse(a, currency).is_ok_and(|min| sum >= min.amount_minor)
            })
    }
}

/// `clicked: {step, link?}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickRule {
    pub step: String,
    pub link: Option<String>,
}

/// `rfm_at_least: {r, f, m}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RfmFloor {
    pub r: Option<u8>,
    pub f: Option<u8>,
    pub m: Option<u8>,
}

/// What a condition is evaluated against.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub event: Option<&'a EventKind>,
    pub contact: &'a Contact,
    /// The run, for conditions about what it sent and what was clicked.
    pub run: Option<&'a crate::journey::Run>,
    pub now: Timestamp,
}

impl Condition {
    pub fn holds(&self, s: Scope<'_>) -> bool {
        match self {
            Self::Not(c) => !c.holds(s),
            Self::AnyOf(cs) => cs.iter().any(|c| c.holds(s)),
            Self::AllOf(cs) => cs.iter().all(|c| c.holds(s)),
            // Each helper answers for its own part of the list, `None` for
            // the rest; together they cover every condition.
            _ => self
                .holds_for_event(s.event)
                .or_else(|| self.holds_for_site_event(site(s.event)))
                .or_else(|| self.holds_for_contact(s.contact, s.now))
                .or_else(|| self.holds_for_run(s))
                .unwrap_or(false),
        }
    }

    /// The conditions on a store event at hand (checkout, order, email, shipment).
    fn holds_for_event(&self, event: Option<&EventKind>) -> Option<bool> {
        let checkout = match event {
            Some(EventKind::CheckoutUpdated(c)) => Some(c),
            _ => None,
        };
        let items = event.map(EventKind::line_items);
        let total = event.and_then(|e| match e {
            EventKind::CheckoutUpdated(c) => c.total.as_ref(),
            other => other.order().and_then(|o| o.total.as_ref()),
        });
        Some(match self {
            Self::HasEmail => event.is_some_and(|e| e.identity().email.is_some()),
            Self::HasLineItems => checkout.is_some_and(|c| !c.line_items.is_empty()),
            Self::NoLineItems => checkout.is_some_and(|c| c.line_items.is_empty()),
            Self::Completed => checkout.is_some_and(|c| c.completed_at.is_some()),
            Self::NotCompleted => checkout.is_some_and(|c| c.completed_at.is_none()),
            Self::ItemsAtLeast(n) => {
                items.is_some_and(|i| i.iter().map(|l| l.quantity).sum::<u32>() >= *n)
            }
            Self::TotalAtLeast(Amount(a)) => total.is_some_and(|t| {
                Money::parse(a, &t.currency).is_ok_and(|min| t.amount_minor >= min.amount_minor)
            }),
            Self::HasProduct(id) => {
                items.is_some_and(|i| i.iter().any(|l| l.product_id == Some(*id)))
            }
            Self::EventAcceptsMarketing => event.is_some_and(|e| {
                matches!(
                    e, EventKind::CustomerUpserted(c) if c.accepts_marketing == Some(true))
            }),
            Self::ClickedLink(part) => event.is_some_and(|e| {
                matches!(e, EventKind::EmailClicked(c) if c.link.as_deref().is_some_and(|l| l.contains(part.as_str())))
            }),
            Self::ShipmentStatus(st) => event.is_some_and(|e| {
                matches!(e, EventKind::ShipmentUpdated(x) if x.shipment_status.as_deref() == Some(st))
            }),
            _ => return None,
        })
    }

    /// The conditions on a site event at hand (page, product, form, custom).
    fn holds_for_site_event(&self, event: Option<&crate::event::SiteEvent>) -> Option<bool> {
        Some(match self {
            Self::AsksConfirmation => event.is_some_and(|e| {
                e.action == crate::event::SiteAction::FormSubmitted
                    && e.accepts_marketing == Some(true)
                    && e.double_opt_in
            }),
            Self::PageType(t) => event.is_some_and(|e| {
                e.page_type
                    .as_deref()
                    .is_some_and(|p| p.eq_ignore_ascii_case(t))
            }),
            Self::Category(c) => event.is_some_and(|e| {
                e.product
                    .as_ref()
                    .and_then(|p| p.category.as_deref())
                    .is_some_and(|x| x.eq_ignore_ascii_case(c))
            }),
            Self::CustomName(n) => event.is_some_and(|e| e.name.as_deref() == Some(n)),
            Self::Topic(t) => event.is_some_and(|e| {
                e.topic
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(t))
            }),
            Self::HasTopic => event.is_some_and(|e| e.topic.is_some()),
            _ => return None,
        })
    }

    /// The conditions on the contact's profile and history.
    fn holds_for_contact(&self, contact: &Contact, now: Timestamp) -> Option<bool> {
        Some(match self {
            Self::Count(rule) => rule.holds(contact, now),
            Self::SpentAtLeast(Amount(a)) => {
                contact.commerce.total_spent.as_ref().is_some_and(|t| {
                    Money::parse(a, &t.currency).is_ok_and(|min| t.amount_minor >= min.amount_minor)
                })
            }
            Self::EngagedWithin(Duration(d)) => {
                let last = contact.last_active_at();
                last <= now && now.duration_since(last) <= *d
            }
            Self::Rfm(cell) => contact.audience.rfm.is_some_and(|r| r.cell() == cell),
            Self::RfmAtLeast(floor) => contact.audience.rfm.is_some_and(|r| {
                floor.r.is_none_or(|x| r.r >= x)
                    && floor.f.is_none_or(|x| r.f >= x)
                    && floor.m.is_none_or(|x| r.m >= x)
            }),
            Self::ScoreAtLeast(n) => contact.audience.score >= *n,
            Self::HasInterest(t) => contact.audience.interests.contains(&t.to_lowercase()),
            Self::AcceptsMarketing => contact.accepts_marketing(),
            Self::HasTag(t) => contact.audience.tags.contains(t),
            Self::InSegment(seg) => contact.audience.segments.contains(seg),
            Self::InStage(st) => contact.audience.stage.as_deref() == Some(st.as_str()),
            Self::OrdersAtLeast(n) => contact.commerce.order_count >= *n,
            Self::FirstOrder => contact.commerce.order_count == 1,
            Self::OrderedWithin(Duration(d)) => contact
                .commerce
                .last_order_at
                .is_some_and(|o| o <= now && now.duration_since(o) <= *d),
            Self::Property { key, equals } => contact.audience.properties.get(key) == Some(equals),
            Self::CouponUnused(name) => contact.open_coupon(name, now).is_some(),
            _ => return None,
        })
    }

    /// The conditions on the run: what it sent and what of that was opened
    /// or clicked.
    fn holds_for_run(&self, s: Scope<'_>) -> Option<bool> {
        Some(match self {
            // A run about one subscription reads that one; otherwise any.
            Self::SubscriptionActive => match s.run.map(|r| &r.trigger) {
                Some(EventKind::SubscriptionBilled(b)) => s
                    .contact
                    .commerce
                    .subscriptions
                    .iter()
                    .any(|x| x.contract_id == b.contract_id && x.is_active()),
                _ => s.contact.subscribed_to_something(),
            },
            Self::Received(step) => s.run.is_some_and(|r| r.sent.iter().any(|x| x == step)),
            Self::Clicked(rule) => s.run.is_some_and(|r| {
                r.clicks.iter().any(|c| {
                    !c.open
                        && !c.machine
                        && c.step == rule.step
                        && rule
                            .link
                            .as_deref()
                            .is_none_or(|part| c.link.as_deref().is_some_and(|l| l.contains(part)))
                })
            }),
            Self::Opened(step) => s
                .run
                .is_some_and(|r| r.clicks.iter().any(|c| c.open && &c.step == step)),
            _ => return None,
        })
    }

    /// Segment ids this condition refers to, for validation.
    pub fn segments_named(&self) -> Vec<&str> {
        match self {
            Self::InSegment(s) => vec![s.as_str()],
            Self::Not(c) => c.segments_named(),
            Self::AnyOf(cs) | Self::AllOf(cs) => {
                cs.iter().flat_map(|c| c.segments_named()).collect()
            }
            _ => vec![],
        }
    }

    /// Whether the condition reads the event at hand (segments may not).
    pub fn reads_event(&self) -> bool {
        match self {
            Self::HasEmail
            | Self::HasLineItems
            | Self::NoLineItems
            | Self::Completed
            | Self::NotCompleted
            | Self::ItemsAtLeast(_)
            | Self::TotalAtLeast(_)
            | Self::HasProduct(_)
            | Self::EventAcceptsMarketing
            | Self::ClickedLink(_)
            | Self::PageType(_)
            | Self::Category(_)
            | Self::CustomName(_)
            | Self::ShipmentStatus(_)
            | Self::Topic(_)
            | Self::AsksConfirmation
            | Self::HasTopic => true,
            Self::Not(c) => c.reads_event(),
            Self::AnyOf(cs) | Self::AllOf(cs) => cs.iter().any(|c| c.reads_event()),
            _ => false,
        }
    }

    /// Step ids this condition refers to, for validation.
    pub fn steps_named(&self) -> Vec<&str> {
        match self {
            Self::Received(s) => vec![s.as_str()],
            Self::Clicked(rule) => vec![rule.step.as_str()],
            Self::Opened(step) => vec![step.as_str()],
            Self::Not(c) => c.steps_named(),
            Self::AnyOf(cs) | Self::AllOf(cs) => cs.iter().flat_map(|c| c.steps_named()).collect(),
            _ => vec![],
        }
    }
}

impl Condition {
    /// The first instant after `now` at which this condition's truth can
    /// change with time alone (no new event): when a window drops a day,
    /// an "ordered within" lapses, a recency score falls. `None` when it
    /// cannot change by itself.
    pub fn changes_after(&self, contact: &Contact, now: Timestamp) -> Option<Timestamp> {
        let after = |t: Option<Timestamp>| t.filter(|t| *t > now);
        // "Within d" still holds at exactly last + d: it changes just after.
        let past = |t: Timestamp, d: SignedDuration| {
            t.checked_add(d)
                .and_then(|b| b.checked_add(SignedDuration::from_millis(1)))
                .ok()
        };
        match self {
            Self::OrderedWithin(Duration(d)) => {
                after(contact.commerce.last_order_at.and_then(|o| past(o, *d)))
            }
            Self::EngagedWithin(Duration(d)) => after(past(contact.last_active_at(), *d)),
            Self::Count(rule) => after(rule.changes_after(contact, now)),
            Self::Rfm(_) | Self::RfmAtLeast(_) => after(contact.audience.rfm_changes_at),
            Self::CouponUnused(name) => after(contact.open_coupon(name, now).map(|c| c.expires_at)),
            Self::Not(c) => c.changes_after(contact, now),
            Self::AnyOf(cs) | Self::AllOf(cs) => cs
                .iter()
                .filter_map(|c| c.changes_after(contact, now))
                .min(),
            _ => None,
        }
    }
}

fn site(event: Option<&EventKind>) -> Option<&crate::event::SiteEvent> {
    match event {
        Some(EventKind::Site(e)) => Some(e),
        _ => None,
    }
}

/// True when every condition holds (an empty list holds).
pub fn all(conditions: &[Condition], s: Scope<'_>) -> bool {
    conditions.iter().all(|c| c.holds(s))
}
