//! Canonical events: what happened, to whom, at which logical instant,
//! independent of the platform that told us. Everything downstream of ingest
//! speaks only this language.

use crate::ids::{EmailAddress, ShopDomain};
use crate::money::Money;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

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
    /// A shipment was created or changed (`fulfillments/create|update`).
    ShipmentUpdated(Shipment),
    /// Money went back to the customer (`refunds/create`).
    OrderRefunded(Refund),
    /// The store deleted the customer (`customers/delete`): the contact goes.
    CustomerDeleted(PersonRef),
    /// A privacy request for a person's data (`customers/data_request`).
    DataRequested(PrivacyRequest),
    /// A privacy request to erase a person (`customers/redact`).
    CustomerRedacted(PrivacyRequest),
    /// Erase everything of a shop (`shop/redact`, 48 hours after uninstall).
    ShopRedacted,
    /// A campaign's email for this contact (recorded by the fan-out).
    CampaignSend(crate::campaign::Send),
    /// Something a visitor did on the storefront (`POST /track`).
    Site(SiteEvent),
    /// The sweep found the contact silent past the inactivity threshold.
    Lapsed(Lapse),
    /// A time-based re-evaluation of the contact's segments and stage.
    Reviewed,
    /// A subscription contract was created or changed status
    /// (`subscription_contracts/*`).
    SubscriptionChanged(Subscription),
    /// A subscription was billed for a cycle
    /// (`subscription_billing_attempts/success`).
    SubscriptionBilled(Billing),
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
            Self::ShipmentUpdated(_) => "shipment_updated",
            Self::OrderRefunded(_) => "order_refunded",
            Self::CustomerDeleted(_) => "customer_deleted",
            Self::DataRequested(_) => "data_requested",
            Self::CustomerRedacted(_) => "customer_redacted",
            Self::ShopRedacted => "shop_redacted",
            Self::CampaignSend(_) => "campaign_send",
            Self::Site(s) => s.action.name(),
            Self::Lapsed(_) => "contact_lapsed",
            Self::Reviewed => "reviewed",
            Self::SubscriptionChanged(_) => "subscription_changed",
            Self::SubscriptionBilled(_) => "subscription_billed",
        }
    }

    /// Whether the event is a privacy instruction rather than behaviour.
    pub fn is_privacy(&self) -> bool {
        matches!(
            self,
            Self::CustomerDeleted(_)
                | Self::DataRequested(_)
                | Self::CustomerRedacted(_)
                | Self::ShopRedacted
        )
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

    /// The order an event concerns: orders, shipments and refunds.
    pub fn order_id(&self) -> Option<u64> {
        match self {
            Self::ShipmentUpdated(s) => Some(s.order_id),
            Self::OrderRefunded(r) => Some(r.order_id),
            Self::SubscriptionBilled(b) => b.order_id,
            other => other.order().map(|o| o.order_id),
        }
    }

    /// Every kind name, for validating definition files.
    pub const NAMES: [&'static str; 24] = [
        "consent_changed",
        "email_opened",
        "email_clicked",
        "customer_upserted",
        "checkout_updated",
        "order_placed",
        "order_paid",
        "order_cancelled",
        "order_fulfilled",
        "shipment_updated",
        "order_refunded",
        "customer_deleted",
        "data_requested",
        "customer_redacted",
        "page_viewed",
        "product_viewed",
        "added_to_cart",
        "searched",
        "form_submitted",
        "identified",
        "custom_event",
        "contact_lapsed",
        "subscription_changed",
        "subscription_billed",
    ];

    /// The identities this event names, used to find (or create) its contact.
    pub fn identity(&self) -> Identity {
        match self {
            Self::CustomerUpserted(c) => Identity {
                customer_id: Some(c.customer_id),
                email: c.email.clone(),
                ..Identity::default()
            },
            Self::CheckoutUpdated(c) => Identity {
                customer_id: c.customer_id,
                email: c.email.clone(),
                order_id: None,
                anonymous_id: c.anonymous_id.clone(),
                contract_id: None,
            },
            Self::OrderPlaced(o)
            | Self::OrderPaid(o)
            | Self::OrderCancelled(o)
            | Self::OrderFulfilled(o) => Identity {
                customer_id: o.customer_id,
                email: o.email.clone(),
                order_id: Some(o.order_id),
                anonymous_id: o.anonymous_id.clone(),
                contract_id: None,
            },
            Self::ConsentChanged(c) => Identity {
                email: Some(c.email.clone()),
                ..Identity::default()
            },
            Self::EmailOpened(e) | Self::EmailClicked(e) => Identity {
                email: Some(e.email.clone()),
                ..Identity::default()
            },
            Self::ShipmentUpdated(s) => Identity {
                customer_id: None,
                email: s.email.clone(),
                order_id: Some(s.order_id),
                anonymous_id: None,
                contract_id: None,
            },
            Self::OrderRefunded(r) => Identity {
                order_id: Some(r.order_id),
                ..Identity::default()
            },
            Self::CustomerDeleted(p) => Identity {
                customer_id: p.customer_id,
                email: p.email.clone(),
                ..Identity::default()
            },
            Self::DataRequested(p) | Self::CustomerRedacted(p) => Identity {
                customer_id: p.customer_id,
                email: p.email.clone(),
                ..Identity::default()
            },
            // A browser's word is not proof: a storefront event never names
            // a customer id (anyone can send one), only the email typed in.
            Self::Site(s) => Identity {
                customer_id: None,
                email: s.email.clone(),
                order_id: None,
                anonymous_id: s.anonymous_id.clone(),
                contract_id: None,
            },
            Self::SubscriptionChanged(s) => Identity {
                customer_id: s.customer_id,
                contract_id: Some(s.contract_id),
                ..Identity::default()
            },
            // A billing attempt names only the contract and its order.
            Self::SubscriptionBilled(b) => Identity {
                contract_id: Some(b.contract_id),
                ..Identity::default()
            },
            Self::ShopRedacted | Self::Lapsed(_) | Self::Reviewed | Self::CampaignSend(_) => {
                Identity::default()
            }
        }
    }

    /// The line items the event carries (checkouts, orders, a cart add).
    pub fn line_items(&self) -> &[LineItem] {
        match self {
            Self::CheckoutUpdated(c) => &c.line_items,
            other => other.order().map_or(&[], |o| &o.line_items),
        }
    }
}

/// How an event names a person; at least one field is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Identity {
    pub customer_id: Option<u64>,
    pub email: Option<EmailAddress>,
    /// An order of the person's, for events that name only the order
    /// (fulfilments, refunds).
    #[serde(default)]
    pub order_id: Option<u64>,
    /// The storefront's anonymous visitor id (site tracking).
    #[serde(default)]
    pub anonymous_id: Option<String>,
    /// A subscription contract of the person's (billing attempts name only it).
    #[serde(default)]
    pub contract_id: Option<u64>,
}

impl Identity {
    pub fn is_empty(&self) -> bool {
        self.customer_id.is_none()
            && self.email.is_none()
            && self.order_id.is_none()
            && self.anonymous_id.is_none()
            && self.contract_id.is_none()
    }

    /// Whether it names the person (not just a browser or an order).
    pub fn is_known(&self) -> bool {
        self.customer_id.is_some() || self.email.is_some()
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
    /// Its state or province code (for countries with several zones).
    #[serde(default)]
    pub province: Option<String>,
    /// The customer's tags in the store (e.g. `ebook` from a signup form).
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// The customer opted out (`email_marketing_consent.state:
    /// unsubscribed`), as opposed to never having subscribed.
    #[serde(default)]
    pub opted_out: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engagement {
    pub email: EmailAddress,
    /// The outbox message id, when the mail was Waymark's.
    pub message: Option<String>,
    pub journey: Option<String>,
    /// The link clicked.
    pub link: Option<String>,
    /// A machine's open or click (a privacy proxy's fetch, a link
    /// scanner's visit: `analytics::machine_open`), not a person's: it
    /// earns no order and does not satisfy a journey's `clicked`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub machine: bool,
}

/// The consent source of a confirmed (double opt-in) subscription.
pub const DOUBLE_OPT_IN: &str = "double_opt_in";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentChange {
    pub email: EmailAddress,
    pub subscribed: bool,
    pub source: String,
    /// Only these email topics (none: all email marketing).
    #[serde(default)]
    pub topics: Vec<String>,
    /// The email whose link made the change (its journey and step), when
    /// one did: results count unsubscribes per email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<MessageRef>,
}

/// Which email: its journey (or campaign), version and step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub journey: String,
    pub version: u32,
    pub step: String,
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
    /// Its state or province code (for countries with several zones).
    #[serde(default)]
    pub province: Option<String>,
    /// The storefront language the customer used (`customer_locale`).
    #[serde(default)]
    pub locale: Option<String>,
    /// The snippet's visitor id, from the cart attribute `waymark_aid`.
    #[serde(default)]
    pub anonymous_id: Option<String>,
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
    /// Its state or province code (for countries with several zones).
    #[serde(default)]
    pub province: Option<String>,
    /// The snippet's visitor id, from the cart attribute `waymark_aid`.
    #[serde(default)]
    pub anonymous_id: Option<String>,
    /// Discount codes the customer used (a coupon a journey gave is then spent).
    #[serde(default)]
    pub discount_codes: Vec<String>,
    /// The platform's payment state (`paid`, `pending`, `voided`, …), as
    /// sent: a cancelled order that was never paid has no refund to follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub financial_status: Option<String>,
}

impl Order {
    /// Never paid (`pending`, or an authorisation `voided`): cancelling it
    /// brings no refund, so the cancellation itself takes its revenue back.
    pub fn unpaid(&self) -> bool {
        matches!(self.financial_status.as_deref(), Some("pending" | "voided"))
    }
}

/// A subscription contract as the store reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub contract_id: u64,
    pub customer_id: Option<u64>,
    /// `active`, `paused`, `cancelled`, `expired`, `failed`.
    pub status: String,
    /// How often it bills.
    pub interval: Option<Cadence>,
    pub origin_order_id: Option<u64>,
}

/// One billed cycle of a subscription, with the order it created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Billing {
    pub contract_id: u64,
    pub order_id: Option<u64>,
}

/// A billing cadence: every `count` days, weeks, months or years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cadence {
    pub unit: CadenceUnit,
    pub count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CadenceUnit {
    Day,
    Week,
    Month,
    Year,
}

impl Cadence {
    /// Shopify's `interval` (`day`/`DAY`, `week`, `month`, `year`) and count.
    pub fn parse(interval: &str, count: u32) -> Result<Self, String> {
        let unit = match interval.trim().to_ascii_lowercase().as_str() {
            "day" => CadenceUnit::Day,
            "week" => CadenceUnit::Week,
            "month" => CadenceUnit::Month,
            "year" => CadenceUnit::Year,
            other => return Err(format!("unknown interval `{other}`")),
        };
        if count == 0 || count > 366 {
            return Err(format!("interval_count {count} is out of range"));
        }
        Ok(Self { unit, count })
    }

    /// The next billing after `at`, in calendar terms in `zone` (a monthly
    /// subscription billed on 31 January next bills on 28 February).
    pub fn after(&self, at: Timestamp, zone: &jiff::tz::TimeZone) -> Option<Timestamp> {
        let n = i64::from(self.count);
        let span = match self.unit {
            CadenceUnit::Day => jiff::Span::new().days(n),
            CadenceUnit::Week => jiff::Span::new().weeks(n),
            CadenceUnit::Month => jiff::Span::new().months(n),
            CadenceUnit::Year => jiff::Span::new().years(n),
        };
        at.to_zoned(zone.clone())
            .checked_add(span)
            .ok()
            .map(|z| z.timestamp())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracking {
    pub company: Option<String>,
    pub number: Option<String>,
    pub url: Option<String>,
}

/// A stable id for a business fact: shop, kind, resource and version time.
pub fn fact_id(shop: &ShopDomain, kind: &str, resource: &str, at: Timestamp) -> String {
    crate::ids::hashed_id(&[
        shop.as_str(),
        kind,
        resource,
        &at.as_millisecond().to_string(),
    ])
}

/// A shipment of (part of) an order, with its tracking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub order_id: u64,
    pub fulfillment_id: u64,
    pub email: Option<EmailAddress>,
    /// `success`, `cancelled`, `error`, `failure`, `open`, `pending`.
    pub status: Option<String>,
    /// The carrier's latest word: `in_transit`, `out_for_delivery`,
    /// `delivered`, `failure`…
    pub shipment_status: Option<String>,
    pub tracking: Vec<Tracking>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    pub order_id: u64,
    pub refund_id: u64,
    /// What went back to the customer (successful refund transactions).
    pub amount: Option<Money>,
}

/// A person as a deletion names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRef {
    pub customer_id: Option<u64>,
    pub email: Option<EmailAddress>,
}

/// A privacy request (GDPR/CCPA) for one person's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyRequest {
    /// The platform's request id (`data_request.id`), when it gives one.
    pub request_id: Option<String>,
    pub customer_id: Option<u64>,
    pub email: Option<EmailAddress>,
    /// The orders the request concerns.
    pub orders: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lapse {
    /// The inactivity threshold crossed, in days.
    pub days: u32,
}

/// What a storefront visitor did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteAction {
    PageViewed,
    ProductViewed,
    AddedToCart,
    Searched,
    /// A signup (or other) form was submitted: carries an email.
    FormSubmitted,
    /// The visitor said who they are (login, email captured).
    Identified,
    /// A store-defined event; `name` says which.
    Custom,
}

impl SiteAction {
    pub fn name(self) -> &'static str {
        match self {
            Self::PageViewed => "page_viewed",
            Self::ProductViewed => "product_viewed",
            Self::AddedToCart => "added_to_cart",
            Self::Searched => "searched",
            Self::FormSubmitted => "form_submitted",
            Self::Identified => "identified",
            Self::Custom => "custom_event",
        }
    }
}

/// One storefront event, as the tracking endpoint accepted it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteEvent {
    pub action: SiteAction,
    pub anonymous_id: Option<String>,
    pub customer_id: Option<u64>,
    pub email: Option<EmailAddress>,
    pub url: Option<String>,
    /// What the page is (`pricing`, `onboarding`, `blog`…), as the snippet
    /// or the store labels it.
    pub page_type: Option<String>,
    pub product: Option<Product>,
    pub query: Option<String>,
    /// A topic of interest (signup forms).
    pub topic: Option<String>,
    /// The form's marketing checkbox, when it has one.
    pub accepts_marketing: Option<bool>,
    /// The form asks for double opt-in: consent only once the emailed
    /// confirmation link is used (the store's `double_opt_in` forces it).
    #[serde(default)]
    pub double_opt_in: bool,
    /// The custom event's name.
    pub name: Option<String>,
    pub first_name: Option<String>,
    /// The browser's IANA zone, e.g. `Europe/Paris`.
    pub time_zone: Option<String>,
    pub locale: Option<String>,
    pub properties: std::collections::BTreeMap<String, serde_json::Value>,
}

/// A product as a storefront event shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: Option<u64>,
    pub title: Option<String>,
    /// Product type or collection, used by category conditions.
    pub category: Option<String>,
    pub price: Option<Money>,
    pub url: Option<String>,
    pub image: Option<String>,
}
