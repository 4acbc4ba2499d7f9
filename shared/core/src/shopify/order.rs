//! `orders/create`, `orders/paid` and `orders/cancelled` payloads.

use super::{Address, Decimal, EmbeddedCustomer, LineItemPayload, country, email, line_items};
use crate::event::{Order, Tracking};
use jiff::Timestamp;

#[derive(serde::Deserialize)]
pub(super) struct Payload {
    id: u64,
    email: Option<String>,
    contact_email: Option<String>,
    pub(super) created_at: Option<Timestamp>,
    pub(super) updated_at: Option<Timestamp>,
    pub(super) cancelled_at: Option<Timestamp>,
    checkout_token: Option<String>,
    currency: Option<String>,
    presentment_currency: Option<String>,
    total_price: Option<Decimal>,
    #[serde(default)]
    line_items: Vec<LineItemPayload>,
    customer: Option<EmbeddedCustomer>,
    #[serde(default)]
    fulfillments: Vec<Fulfillment>,
    shipping_address: Option<Address>,
    billing_address: Option<Address>,
    #[serde(default)]
    note_attributes: Vec<super::NoteAttribute>,
    #[serde(default)]
    discount_codes: Vec<DiscountCode>,
    financial_status: Option<String>,
}

#[derive(serde::Deserialize)]
struct DiscountCode {
    code: String,
}

#[derive(serde::Deserialize)]
struct Fulfillment {
    created_at: Option<Timestamp>,
    updated_at: Option<Timestamp>,
    tracking_company: Option<String>,
    tracking_number: Option<String>,
    tracking_url: Option<String>,
}

impl Payload {
    /// When the newest fulfilment happened, for `orders/fulfilled`.
    pub(super) fn fulfilled_at(&self) -> Option<Timestamp> {
        self.fulfillments
            .iter()
            .filter_map(|f| f.updated_at.or(f.created_at))
            .max()
    }

    pub(super) fn into_order(self) -> Result<Order, String> {
        let currency = super::currency(self.presentment_currency, self.currency);
        let customer = self.customer;
        let email = email(
            self.email
                .or(self.contact_email)
                .or_else(|| customer.as_ref().and_then(|c| c.email.clone())),
            "email",
        )?;
        let total = super::total_price(self.total_price, &currency)?;
        Ok(Order {
            anonymous_id: super::anonymous_id(&self.note_attributes),
            discount_codes: self
                .discount_codes
                .into_iter()
                .map(|d| d.code.trim().to_string())
                .filter(|c| !c.is_empty())
                .take(20)
                .collect(),
            order_id: self.id,
            financial_status: self
                .financial_status
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty() && s.len() <= 32),
            checkout_token: self.checkout_token.filter(|t| !t.is_empty()),
            customer_id: customer.as_ref().and_then(|c| c.id),
            email,
            first_name: customer.and_then(|c| c.first_name),
            line_items: line_items(self.line_items, &currency)?,
            total,
            country: country([&self.shipping_address, &self.billing_address]),
            province: super::province([&self.shipping_address, &self.billing_address]),
            tracking: self
                .fulfillments
                .into_iter()
                .filter(|f| f.tracking_number.is_some() || f.tracking_url.is_some())
                .map(|f| Tracking {
                    company: f.tracking_company,
                    number: f.tracking_number,
                    url: f.tracking_url,
                })
                .collect(),
        })
    }
}
