//! Canonical events: what happened, to whom, at which logical instant,
//! independent of the platform that told us. Everything downstream of ingest
//! speaks only this language.

use crate::ids::{EmailAddress, ShopDomain};
use crate::money::Money;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// One canonical event. Its `id` is derived from the business fact (resource
/// id and version time), so two deliveries of the same fact share it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub shop: ShopDomain,
    /// Logical time of the fact (the payload's own timestamp).
    pub at: Timestamp,
    pub source: Source,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Where an event came from, kept for audit and debugging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub platform: String,
    pub topic: String,
    pub delivery_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum EventKind {
    CustomerUpserted(Customer),
    CheckoutUpdated(Checkout),
    OrderPlaced(Order),
    OrderPaid(Order),
    OrderCancelled(Order),
    /// The order (or part of it) was fulfilled; carries tracking.
    OrderFulfilled(Order),
    /// An opt-in or opt-out from outside the store platform: the preference
    /// page, a one-click unsubscribe, a complaint.
    ConsentChanged(ConsentChange),
    /// The contact opened a Waymark email (as SES reports it).
    EmailOpened(Engagement),
    /// The contact clicked a link in a Waymark email.
    EmailClicked(Engagement),
}

impl EventKind {
    /// The name journeys use to refer to this kind of event.
    pub fn name(&self) -> &'static str {
        match self {
            Self::CustomerUpserted(_) => "customer_upserted",
            Self::CheckoutUpdated(_) => "checkout_updated",
            Self::OrderPlaced(_) => "order_placed",
            Self::OrderPaid(_) => "order_paid",
            Self::OrderCancelled(_) => "order_cancelled",
            Self::OrderFulfilled(_) => "order_fulfilled",
            Self::ConsentChanged(_) => "consent_changed",
            Self::EmailOpened(_) => "email_opened",
            Self::EmailClicked(_) => "email_clicked",
        }
    }

    /// The order, for order events.
    pub fn order(&self) -> Option<&Order> {
        match self {
            Self::OrderPlaced(o)
            | Self::OrderPaid(o)
            | Self::OrderCancelled(o)
            | Self::OrderFulfilled(o) => Some(o),
            _ => None,
        }
    }

    /// Every kind name, for validating definition files.
    pub const NAMES: [&'static str; 9] = [
        "consent_changed",
        "email_opened",
        "email_clicked",
        "customer_upserted",
        "checkout_updated",
        "order_placed",
        "order_paid",
        "order_cancelled",
        "order_fulfilled",
    ];

    /// The identities this event names, used to find (or create) its contact.
    pub fn identity(&self) -> Identity {
        match self {
            Self::CustomerUpserted(c) => Identity {
                customer_id: Some(c.customer_id),
                email: c.email.clone(),
            },
            Self::CheckoutUpdated(c) => Identity {
                customer_id: c.customer_id,
                email: c.email.clone(),
            },
            Self::OrderPlaced(o)
            | Self::OrderPaid(o)
            | Self::OrderCancelled(o)
            | Self::OrderFulfilled(o) => Identity {
                customer_id: o.customer_id,
                email: o.email.clone(),
            },
            Self::ConsentChanged(c) => Identity {
                customer_id: None,
                email: Some(c.email.clone()),
            },
            Self::EmailOpened(e) | Self::EmailClicked(e) => Identity {
                customer_id: None,
                email: Some(e.email.clone()),
            },
        }
    }
}

/// How an event names a person; at least one field is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Identity {
    pub customer_id: Option<u64>,
    pub email: Option<EmailAddress>,
}

impl Identity {
    pub fn is_empty(&self) -> bool {
        self.customer_id.is_none() && self.email.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub customer_id: u64,
    pub email: Option<EmailAddress>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Email marketing consent as the platform reported it, if it did.
    pub accepts_marketing: Option<bool>,
    /// ISO country code of the default address, for the contact's time zone.
    #[serde(default)]
    pub country: Option<String>,
    /// The customer's tags in the store (e.g. `ebook` from a signup form).
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engagement {
    pub email: EmailAddress,
    /// The outbox message id, when the mail was Waymark's.
    pub message: Option<String>,
    pub journey: Option<String>,
    /// The link clicked.
    pub link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentChange {
    pub email: EmailAddress,
    pub subscribed: bool,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineItem {
    pub title: String,
    pub variant_title: Option<String>,
    pub quantity: u32,
    pub price: Money,
    pub product_id: Option<u64>,
    pub variant_id: Option<u64>,
    pub sku: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkout {
    pub token: String,
    pub customer_id: Option<u64>,
    pub email: Option<EmailAddress>,
    pub first_name: Option<String>,
    pub line_items: Vec<LineItem>,
    pub total: Option<Money>,
    pub recovery_url: Option<String>,
    pub completed_at: Option<Timestamp>,
    /// `buyer_accepts_marketing`: the box ticked at checkout.
    #[serde(default)]
    pub accepts_marketing: Option<bool>,
    /// ISO country code of the shipping (else billing) address.
    #[serde(default)]
    pub country: Option<String>,
    /// The storefront language the customer used (`customer_locale`).
    #[serde(default)]
    pub locale: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: u64,
    pub checkout_token: Option<String>,
    pub customer_id: Option<u64>,
    pub email: Option<EmailAddress>,
    pub first_name: Option<String>,
    pub line_items: Vec<LineItem>,
    pub total: Option<Money>,
    /// Shipments with tracking, as fulfilment events report them.
    #[serde(default)]
    pub tracking: Vec<Tracking>,
    /// ISO country code of the shipping (else billing) address.
    #[serde(default)]
    pub country: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracking {
    pub company: Option<String>,
    pub number: Option<String>,
    pub url: Option<String>,
}

/// A stable id for a business fact: shop, kind, resource and version time.
pub fn fact_id(shop: &ShopDomain, kind: &str, resource: &str, at: Timestamp) -> String {
    let mut h = sha2::Sha256::new();
    for part in [
        shop.as_str(),
        kind,
        resource,
        &at.as_millisecond().to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
