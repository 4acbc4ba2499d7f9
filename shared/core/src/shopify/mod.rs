//! Shopify webhooks → canonical events. Shapes follow the REST Admin webhook
//! payloads; only what Waymark uses is read, everything else is ignored, so
//! new fields never break ingestion. Must never be called before the HMAC
//! has been verified.

mod checkout;
mod customer;
mod order;
mod privacy;
mod subscription;

use crate::event::{Event, EventKind, Source, fact_id};
use crate::ids::ShopDomain;
use jiff::Timestamp;
use serde::de::DeserializeOwned;

/// The topics Waymark understands; anything else is acknowledged and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    CustomersCreate,
    CustomersUpdate,
    CheckoutsCreate,
    CheckoutsUpdate,
    OrdersCreate,
    OrdersPaid,
    OrdersCancelled,
    OrdersFulfilled,
    FulfillmentsCreate,
    FulfillmentsUpdate,
    RefundsCreate,
    CustomersDelete,
    CustomersDataRequest,
    CustomersRedact,
    ShopRedact,
    SubscriptionContractsCreate,
    SubscriptionContractsUpdate,
    SubscriptionContractsActivate,
    SubscriptionContractsPause,
    SubscriptionContractsCancel,
    SubscriptionContractsExpire,
    SubscriptionContractsFail,
    SubscriptionBillingAttemptsSuccess,
}

/// Each topic with its name on the wire, in one table so parsing and
/// printing cannot drift apart.
const NAMES: [(Topic, &str); 23] = [
    (Topic::CustomersCreate, "customers/create"),
    (Topic::CustomersUpdate, "customers/update"),
    (Topic::CheckoutsCreate, "checkouts/create"),
    (Topic::CheckoutsUpdate, "checkouts/update"),
    (Topic::OrdersCreate, "orders/create"),
    (Topic::OrdersPaid, "orders/paid"),
    (Topic::OrdersCancelled, "orders/cancelled"),
    (Topic::OrdersFulfilled, "orders/fulfilled"),
    (Topic::FulfillmentsCreate, "fulfillments/create"),
    (Topic::FulfillmentsUpdate, "fulfillments/update"),
    (Topic::RefundsCreate, "refunds/create"),
    (Topic::CustomersDelete, "customers/delete"),
    (Topic::CustomersDataRequest, "customers/data_request"),
    (Topic::CustomersRedact, "customers/redact"),
    (Topic::ShopRedact, "shop/redact"),
    (
        Topic::SubscriptionContractsCreate,
        "subscription_contracts/create",
    ),
    (
        Topic::SubscriptionContractsUpdate,
        "subscription_contracts/update",
    ),
    (
        Topic::SubscriptionContractsActivate,
        "subscription_contracts/activate",
    ),
    (
        Topic::SubscriptionContractsPause,
        "subscription_contracts/pause",
    ),
    (
        Topic::SubscriptionContractsCancel,
        "subscription_contracts/cancel",
    ),
    (
        Topic::SubscriptionContractsExpire,
        "subscription_contracts/expire",
    ),
    (
        Topic::SubscriptionContractsFail,
        "subscription_contracts/fail",
    ),
    (
        Topic::SubscriptionBillingAttemptsSuccess,
        "subscription_billing_attempts/success",
    ),
];

/// Every topic Waymark subscribes to, for docs and the local stack.
pub const TOPICS: [&str; 23] = {
    let mut names = [""; 23];
    let mut i = 0;
    while i < NAMES.len() {
        names[i] = NAMES[i].1;
        i += 1;
    }
    names
};

impl Topic {
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        NAMES
            .iter()
            .find(|(_, name)| *name == raw)
            .map(|(topic, _)| *topic)
    }

    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(topic, _)| *topic == self)
            .map_or("", |(_, name)| name)
    }
}

impl Topic {
    /// Topics that erase data: refused when their delivery is stale (see
    /// `MAX_DESTRUCTIVE_AGE`), since their headers are not signed.
    pub fn is_destructive(self) -> bool {
        matches!(
            self,
            Self::CustomersRedact | Self::CustomersDelete | Self::ShopRedact
        )
    }
}

/// How old (`X-Shopify-Triggered-At` against the request's receive time) a
/// delivery of a destructive topic may be. Shopify retries a failed delivery
/// 8 times over about 4 hours; 48 hours leaves room for an outage on our
/// side and refuses a replay of an old delivery.
pub const MAX_DESTRUCTIVE_AGE: jiff::SignedDuration = jiff::SignedDuration::from_hours(48);

/// One verified delivery as the ingest edge received it.
#[derive(Debug, Clone)]
pub struct Delivery<'a> {
    pub shop: &'a ShopDomain,
    pub topic: Topic,
    pub webhook_id: &'a str,
    /// `X-Shopify-Triggered-At`, the fallback when the payload has no time.
    pub triggered_at: Option<Timestamp>,
    pub body: &'a [u8],
}

/// Why a verified delivery could not become an event (answered with a 400).
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("body is not a `{topic}` payload: {detail}")]
    Shape { topic: &'static str, detail: String },
}

fn shape(topic: Topic, detail: impl Into<String>) -> PayloadError {
    PayloadError::Shape {
        topic: topic.as_str(),
        detail: detail.into(),
    }
}

fn decode<T: DeserializeOwned>(topic: Topic, body: &[u8]) -> Result<T, PayloadError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| PayloadError::Json(e.to_string()))?;
    if !value.is_object() {
        return Err(shape(topic, "expected a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| shape(topic, e.to_string()))
}

/// What a payload yields before it becomes an event: the kind, the id of the
/// resource it is about (for the fact id) and its own time, if it has one.
type Parsed = (EventKind, String, Option<Timestamp>);

/// Parses a verified delivery into its canonical event.
pub fn parse(delivery: &Delivery<'_>) -> Result<Event, PayloadError> {
    let topic = delivery.topic;
    let (kind, resource, at) = match topic {
        Topic::CustomersCreate | Topic::CustomersUpdate => customer_event(delivery)?,
        Topic::CheckoutsCreate | Topic::CheckoutsUpdate => checkout_event(delivery)?,
        Topic::OrdersCreate
        | Topic::OrdersPaid
        | Topic::OrdersCancelled
        | Topic::OrdersFulfilled => order_event(delivery)?,
        Topic::FulfillmentsCreate | Topic::FulfillmentsUpdate => shipment_event(delivery)?,
        Topic::RefundsCreate => refund_event(delivery)?,
        Topic::CustomersDelete => deletion_event(delivery)?,
        Topic::SubscriptionContractsCreate
        | Topic::SubscriptionContractsUpdate
        | Topic::SubscriptionContractsActivate
        | Topic::SubscriptionContractsPause
        | Topic::SubscriptionContractsCancel
        | Topic::SubscriptionContractsExpire
        | Topic::SubscriptionContractsFail => subscription_event(delivery)?,
        Topic::SubscriptionBillingAttemptsSuccess => billing_event(delivery)?,
        Topic::CustomersDataRequest | Topic::CustomersRedact | Topic::ShopRedact => {
            privacy_event(delivery)?
        }
    };
    let at = at.or(delivery.triggered_at).ok_or_else(|| {
        shape(
            topic,
            "no `updated_at`/`created_at` in the payload and no X-Shopify-Triggered-At header",
        )
    })?;
    if kind.identity().is_empty() && kind != EventKind::ShopRedacted {
        return Err(shape(topic, "names neither a customer id nor an email"));
    }
    Ok(Event {
        id: fact_id(delivery.shop, kind.name(), &resource, at),
        shop: delivery.shop.clone(),
        at,
        source: Source {
            platform: "shopify".into(),
            topic: topic.as_str().into(),
            delivery_id: delivery.webhook_id.into(),
        },
        kind,
    })
}

fn customer_event(delivery: &Delivery<'_>) -> Result<Parsed, PayloadError> {
    let topic = delivery.topic;
    let p: customer::Payload = decode(topic, delivery.body)?;
    let at = p.updated_at.or(p.created_at);
    let (c, id) = p.into_customer().map_err(|e| shape(topic, e))?;
    Ok((EventKind::CustomerUpserted(c), id, at))
}

fn checkout_event(delivery: &Delivery<'_>) -> Result<Parsed, PayloadError> {
    let topic = delivery.topic;
    let p: checkout::Payload = decode(topic, delivery.body)?;
    let at = p.updated_at.or(p.created_at);
    let c = p.into_checkout().map_err(|e| shape(topic, e))?;
    let resource = c.token.clone();
    Ok((EventKind::CheckoutUpdated(c), resource, at))
}

/// The four order topics share a payload; each takes its time from the field
/// that names its own moment.
fn order_event(delivery: &Delivery<'_>) -> Result<Parsed, PayloadError> {
    let topic = delivery.topic;
    let p: order::Payload = decode(topic, delivery.body)?;
    let at = match topic {
        Topic::OrdersCreate => p.created_at.or(p.updated_at),
        Topic::OrdersCancelled => p.cancelled_at.or(p.updated_at),
        Topic::OrdersFulfilled => p.fulfilled_at().or(p.updated_at),
        _ => p.updated_at.or(p.created_at),
    };
    let o = p.into_order().map_err(|e| shape(topic, e))?;
    let resource = o.order_id.to_string();
    let kind = match topic {
        Topic::OrdersCreate => EventKind::OrderPlaced(o),
        Topic::OrdersPaid => EventKind::OrderPaid(o),
        Topic::OrdersFulfilled => EventKind::OrderFulfilled(o),
        _ => EventKind::OrderCancelled(o),
    };
    Ok((kind, resource, at))
}

fn shipment_event(delivery: &Delivery<'_>) -> Result<Parsed, PayloadError> {
    let topic = delivery.topic;
    let p: privacy::FulfillmentPayload = decode(topic, delivery.body)?;
    let at = p.updated_at.or(p.created_at);
    let s = p.into_shipment().map_err(|e| shape(topic, e))?;
    let resource = s.fulfillment_id.to_string();
    Ok((EventKind::ShipmentUpdated(s), resource, at))
}

fn refund_event(delivery: &Delivery<'_>) -> Result<Parsed, PayloadError> {
    let topic = delivery.topic;
    let p: privacy::RefundPayload = decode(topic, delivery.body)?;
    let at = p.processed_at.or(p.created_at);
    let r = p.into_refund().map_err(|e| shape(topic, e))?;
    let resource = r.refund_id.to_string();
    Ok((EventKind::OrderRefunded(r), resource, at))
}

fn deletion_event(delivery: &Delivery<'_>) -> Result<Parsed, PayloadError> {
    let topic = delivery.topic;
    let p: privacy::DeletePayload = decode(topic, delivery.body)?;
    let resource = p.id.to_string();
    let person = p.into_person().map_err(|e| shape(topic, e))?;
    Ok((EventKind::CustomerDeleted(person), resource, None))
}

/// The contract topics share a payload; the topic says the status.
fn subscription_event(delivery: &Delivery<'_>) -> Result<Parsed, PayloadError> {
    let topic = delivery.topic;
    let p: subscription::ContractPayload = decode(topic, delivery.body)?;
    let resource = p.resource();
    let status = match topic {
        Topic::SubscriptionContractsPause => "paused",
        Topic::SubscriptionContractsCancel => "cancelled",
        Topic::SubscriptionContractsExpire => "expired",
        Topic::SubscriptionContractsFail => "failed",
        _ => "active",
    };
    let s = p.into_subscription(status).map_err(|e| shape(topic, e))?;
    Ok((EventKind::SubscriptionChanged(s), resource, None))
}

fn billing_event(delivery: &Delivery<'_>) -> Result<Parsed, PayloadError> {
    let p: subscription::BillingPayload = decode(delivery.topic, delivery.body)?;
    let resource = p.resource();
    Ok((
        EventKind::SubscriptionBilled(p.into_billing()),
        resource,
        None,
    ))
}

fn privacy_event(delivery: &Delivery<'_>) -> Result<Parsed, PayloadError> {
    let topic = delivery.topic;
    let p: privacy::PrivacyPayload = decode(topic, delivery.body)?;
    check_privacy_shop(delivery, &p)?;
    let kind = match topic {
        Topic::ShopRedact => EventKind::ShopRedacted,
        Topic::CustomersRedact => {
            EventKind::CustomerRedacted(p.into_request().map_err(|e| shape(topic, e))?)
        }
        _ => EventKind::DataRequested(p.into_request().map_err(|e| shape(topic, e))?),
    };
    let resource = match &kind {
        EventKind::DataRequested(r) | EventKind::CustomerRedacted(r) => format!(
            "{}:{}",
            r.request_id.as_deref().unwrap_or(""),
            r.customer_id.map(|c| c.to_string()).unwrap_or_default()
        ),
        _ => delivery.shop.to_string(),
    };
    Ok((kind, resource, None))
}

/// The topic and shop headers are not signed, the body is: a privacy topic's
/// body must itself name the shop (and carry its id), so another topic's
/// signed body replayed under a privacy topic, or one shop's request replayed
/// as another's, is refused.
fn check_privacy_shop(
    delivery: &Delivery<'_>,
    p: &privacy::PrivacyPayload,
) -> Result<(), PayloadError> {
    let topic = delivery.topic;
    let Some(d) = &p.shop_domain else {
        return Err(shape(topic, "missing field `shop_domain`"));
    };
    if ShopDomain::parse(d).ok().as_ref() != Some(delivery.shop) {
        return Err(shape(
            topic,
            format!(
                "`shop_domain` {d} is not the shop that sent it ({})",
                delivery.shop
            ),
        ));
    }
    if p.shop_id.is_none() {
        return Err(shape(topic, "missing field `shop_id`"));
    }
    Ok(())
}

/// Shopify sends prices as decimal strings, but some apps send numbers.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Decimal {
    Text(String),
    Number(serde_json::Number),
}

impl Decimal {
    fn as_string(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Number(n) => n.to_string(),
        }
    }
}

/// Shopify's `line_items[]` entry, shared by checkouts and orders.
#[derive(serde::Deserialize)]
struct LineItemPayload {
    title: Option<String>,
    name: Option<String>,
    variant_title: Option<String>,
    quantity: u32,
    price: Decimal,
    product_id: Option<u64>,
    variant_id: Option<u64>,
    sku: Option<String>,
}

fn line_items(
    items: Vec<LineItemPayload>,
    currency: &str,
) -> Result<Vec<crate::event::LineItem>, String> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, li)| {
            let price = crate::money::Money::parse(&li.price.as_string(), currency)
                .map_err(|e| format!("line_items[{i}].price: {e}"))?;
            let title = li
                .title
                .or(li.name)
                .ok_or_else(|| format!("line_items[{i}]: missing field `title`"))?;
            Ok(crate::event::LineItem {
                title,
                variant_title: li.variant_title.filter(|v| !v.is_empty()),
                quantity: li.quantity,
                price,
                product_id: li.product_id,
                variant_id: li.variant_id,
                sku: li.sku.filter(|s| !s.is_empty()),
            })
        })
        .collect()
}

/// The currency of a checkout's or order's amounts: the one the buyer saw,
/// else the shop's, else USD.
fn currency(presentment: Option<String>, shop: Option<String>) -> String {
    presentment.or(shop).unwrap_or_else(|| "USD".into())
}

/// `total_price`, when the payload has one, in `currency`.
fn total_price(
    total: Option<Decimal>,
    currency: &str,
) -> Result<Option<crate::money::Money>, String> {
    total
        .map(|t| crate::money::Money::parse(&t.as_string(), currency))
        .transpose()
        .map_err(|e| format!("total_price: {e}"))
}

fn email(raw: Option<String>, field: &str) -> Result<Option<crate::ids::EmailAddress>, String> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(e) => crate::ids::EmailAddress::parse(e)
            .map(Some)
            .map_err(|err| format!("{field}: {err}")),
    }
}

/// An address; only its country and province are read (for the contact's
/// time zone).
#[derive(serde::Deserialize)]
struct Address {
    country_code: Option<String>,
    province_code: Option<String>,
}

/// The province (state) code of the first address that names a country.
fn province(addresses: [&Option<Address>; 2]) -> Option<String> {
    addresses
        .into_iter()
        .flatten()
        .find(|a| a.country_code.is_some())
        .and_then(|a| a.province_code.clone())
        .map(|p| p.trim().to_ascii_uppercase())
        .filter(|p| {
            !p.is_empty()
                && p.len() <= 6
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn country(addresses: [&Option<Address>; 2]) -> Option<String> {
    addresses
        .into_iter()
        .flatten()
        .find_map(|a| a.country_code.clone())
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .map(|c| c.to_ascii_uppercase())
}

/// `note_attributes` (cart attributes) of checkouts and orders: the
/// storefront snippet puts its anonymous visitor id there as `waymark_aid`,
/// so a checkout or order ties the browsing history to the buyer.
#[derive(serde::Deserialize)]
struct NoteAttribute {
    name: Option<String>,
    value: Option<serde_json::Value>,
}

fn anonymous_id(attributes: &[NoteAttribute]) -> Option<String> {
    attributes
        .iter()
        .find(|a| a.name.as_deref() == Some("waymark_aid"))
        .and_then(|a| a.value.as_ref()?.as_str().map(str::to_string))
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The `customer` object embedded in checkouts and orders.
#[derive(serde::Deserialize)]
struct EmbeddedCustomer {
    id: Option<u64>,
    email: Option<String>,
    first_name: Option<String>,
}

#[cfg(test)]
mod tests;
