//! `fulfillments/*`, `refunds/create`, `customers/delete` and the mandatory
//! privacy topics (`customers/data_request`, `customers/redact`, `shop/redact`).

use super::{Decimal, email};
use crate::event::{PersonRef, PrivacyRequest, Refund, Shipment, Tracking};
use crate::money::Money;
use jiff::Timestamp;

#[derive(serde::Deserialize)]
pub(super) struct FulfillmentPayload {
    id: u64,
    order_id: u64,
    pub(super) created_at: Option<Timestamp>,
    pub(super) updated_at: Option<Timestamp>,
    status: Option<String>,
    shipment_status: Option<String>,
    email: Option<String>,
    tracking_company: Option<String>,
    tracking_number: Option<String>,
    #[serde(default)]
    tracking_numbers: Vec<String>,
    tracking_url: Option<String>,
    #[serde(default)]
    tracking_urls: Vec<String>,
}

impl FulfillmentPayload {
    pub(super) fn into_shipment(self) -> Result<Shipment, String> {
        let mut numbers = self.tracking_numbers;
        let mut urls = self.tracking_urls;
        if numbers.is_empty() {
            numbers.extend(self.tracking_number);
        }
        if urls.is_empty() {
            urls.extend(self.tracking_url);
        }
        let shipments = numbers.len().max(urls.len());
        let tracking = (0..shipments)
            .map(|i| Tracking {
                company: self.tracking_company.clone(),
                number: numbers.get(i).cloned(),
                url: urls.get(i).cloned(),
            })
            .collect();
        Ok(Shipment {
            order_id: self.order_id,
            fulfillment_id: self.id,
            email: email(self.email, "email")?,
            status: self.status,
            shipment_status: self.shipment_status,
            tracking,
        })
    }
}

#[derive(serde::Deserialize)]
pub(super) struct RefundPayload {
    id: u64,
    order_id: u64,
    pub(super) created_at: Option<Timestamp>,
    pub(super) processed_at: Option<Timestamp>,
    #[serde(default)]
    transactions: Vec<Transaction>,
}

#[derive(serde::Deserialize)]
struct Transaction {
    amount: Decimal,
    currency: Option<String>,
    kind: Option<String>,
    status: Option<String>,
}

impl RefundPayload {
    pub(super) fn into_refund(self) -> Result<Refund, String> {
        let mut amount: Option<Money> = None;
        for (i, t) in self.transactions.iter().enumerate() {
            let refunded = t.kind.as_deref().is_none_or(|k| k == "refund")
                && t.status.as_deref().is_none_or(|s| s == "success");
            if !refunded {
                continue;
            }
            let currency = t.currency.as_deref().unwrap_or("USD");
            let m = Money::parse(&t.amount.as_string(), currency)
                .map_err(|e| format!("transactions[{i}].amount: {e}"))?;
            amount = Some(match amount {
                None => m,
                Some(sum) => sum
                    .plus(&m)
                    .ok_or_else(|| format!("transactions[{i}]: mixed currencies"))?,
            });
        }
        Ok(Refund {
            order_id: self.order_id,
            refund_id: self.id,
            amount,
        })
    }
}

#[derive(serde::Deserialize)]
pub(super) struct DeletePayload {
    pub(super) id: u64,
    email: Option<String>,
    /// A deletion carries no timestamps; a customer record (create or
    /// update) does. The topic header is not signed, so a signed customer
    /// record replayed under `customers/delete` must not erase anyone.
    created_at: Option<serde_json::Value>,
    updated_at: Option<serde_json::Value>,
}

impl DeletePayload {
    pub(super) fn into_person(self) -> Result<PersonRef, String> {
        if self.created_at.is_some() || self.updated_at.is_some() {
            return Err(
                "carries `created_at`/`updated_at`: a customer record, not a deletion".into(),
            );
        }
        Ok(PersonRef {
            customer_id: Some(self.id),
            email: email(self.email, "email")?,
        })
    }
}

#[derive(serde::Deserialize)]
pub(super) struct PrivacyPayload {
    /// Required: the signed body must name the shop the (unsigned) headers
    /// name.
    pub(super) shop_domain: Option<String>,
    /// Shopify's id of the shop; every privacy payload carries it (another
    /// topic's body does not).
    pub(super) shop_id: Option<u64>,
    customer: Option<PrivacyCustomer>,
    #[serde(default)]
    orders_requested: Vec<u64>,
    #[serde(default)]
    orders_to_redact: Vec<u64>,
    data_request: Option<DataRequest>,
}

#[derive(serde::Deserialize)]
struct PrivacyCustomer {
    id: Option<u64>,
    email: Option<String>,
}

#[derive(serde::Deserialize)]
struct DataRequest {
    id: serde_json::Value,
}

impl PrivacyPayload {
    pub(super) fn into_request(self) -> Result<PrivacyRequest, String> {
        let customer = self
            .customer
            .ok_or("missing field `customer` (the person the request is about)")?;
        let mut orders = self.orders_requested;
        orders.extend(self.orders_to_redact);
        Ok(PrivacyRequest {
            request_id: self.data_request.map(|d| match d.id {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
            customer_id: customer.id,
            email: email(customer.email, "customer.email")?,
            orders,
        })
    }
}
