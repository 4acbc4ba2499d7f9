//! Conditions: predicates over the event at hand, the contact and the run,
//! used by triggers, goals, exits, audiences and `if` steps. Written in the
//! definition files as a bare name (`has_email`) or a one-key map
//! (`total_at_least: "50.00"`), combined with `all_of`, `any_of` and `not`.

use crate::contact::Contact;
use crate::event::EventKind;
use crate::money::Money;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

/// A duration written as `90m`, `1h`, `2d`, checked when the file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Duration(pub SignedDuration);

impl TryFrom<String> for Duration {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        crate::time::parse_duration(&value).map(Duration)
    }
}

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
    // ---- the run ----
    /// The run already sent the email of this step.
    Received(String),
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
    Received(String),
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

/// What a condition is evaluated against.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub event: Option<&'a EventKind>,
    pub contact: &'a Contact,
    pub sent: &'a [String],
    pub now: Timestamp,
}

impl Condition {
    pub fn holds(&self, s: Scope<'_>) -> bool {
        let checkout = match s.event {
            Some(EventKind::CheckoutUpdated(c)) => Some(c),
            _ => None,
        };
        let items = s.event.map(|e| match e {
            EventKind::CheckoutUpdated(c) => c.line_items.as_slice(),
            other => other.order().map_or(&[][..], |o| o.line_items.as_slice()),
        });
        let total = s.event.and_then(|e| match e {
            EventKind::CheckoutUpdated(c) => c.total.as_ref(),
            other => other.order().and_then(|o| o.total.as_ref()),
        });
        match self {
            Self::HasEmail => s.event.is_some_and(|e| e.identity().email.is_some()),
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
            Self::EventAcceptsMarketing => s.event.is_some_and(|e| {
                matches!(
                    e, EventKind::CustomerUpserted(c) if c.accepts_marketing == Some(true))
            }),
            Self::ClickedLink(part) => s.event.is_some_and(|e| {
                matches!(e, EventKind::EmailClicked(c) if c.link.as_deref().is_some_and(|l| l.contains(part.as_str())))
            }),
            Self::AcceptsMarketing => s.contact.accepts_marketing(),
            Self::HasTag(t) => s.contact.tags.contains(t),
            Self::InSegment(seg) => s.contact.segments.contains(seg),
            Self::InStage(st) => s.contact.stage.as_deref() == Some(st.as_str()),
            Self::OrdersAtLeast(n) => s.contact.order_count >= *n,
            Self::FirstOrder => s.contact.order_count == 1,
            Self::OrderedWithin(Duration(d)) => s
                .contact
                .last_order_at
                .is_some_and(|o| o <= s.now && s.now.duration_since(o) <= *d),
            Self::Property { key, equals } => s.contact.properties.get(key) == Some(equals),
            Self::Received(step) => s.sent.iter().any(|x| x == step),
            Self::Not(c) => !c.holds(s),
            Self::AnyOf(cs) => cs.iter().any(|c| c.holds(s)),
            Self::AllOf(cs) => cs.iter().all(|c| c.holds(s)),
        }
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
            | Self::ClickedLink(_) => true,
            Self::Not(c) => c.reads_event(),
            Self::AnyOf(cs) | Self::AllOf(cs) => cs.iter().any(|c| c.reads_event()),
            _ => false,
        }
    }

    /// Step ids this condition refers to, for validation.
    pub fn steps_named(&self) -> Vec<&str> {
        match self {
            Self::Received(s) => vec![s.as_str()],
            Self::Not(c) => c.steps_named(),
            Self::AnyOf(cs) | Self::AllOf(cs) => cs.iter().flat_map(|c| c.steps_named()).collect(),
            _ => vec![],
        }
    }
}

/// True when every condition holds (an empty list holds).
pub fn all(conditions: &[Condition], s: Scope<'_>) -> bool {
    conditions.iter().all(|c| c.holds(s))
}
