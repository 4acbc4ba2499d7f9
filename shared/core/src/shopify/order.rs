//! `orders/create`, `orders/paid` and `orders/cancelled` payloads.

use super::{Decimal, EmbeddedCustomer, LineItemPayload, email, line_items};
use crate::event::Order;
use crate::money::Money;
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
}

impl Payload {
    pub(super) fn into_order(self) -> Result<Order, String> {
        let currency = self
            .presentment_currency
            .or(self.currency)
            .unwrap_or_else(|| "USD".into());
        let customer = self.customer;
        let email = email(
            self.email
                .or(self.contact_email)
                .or_else(|| customer.as_ref().and_then(|c| c.email.clone())),
            "email",
        )?;
        let total = self
            .total_price
            .map(|t| Money::parse(&t.as_string(), &currency))
            .transpose()
            .map_err(|e| format!("total_price: {e}"))?;
        Ok(Order {
            order_id: self.id,
            checkout_token: self.checkout_token.filter(|t| !t.is_empty()),
            customer_id: customer.as_ref().and_then(|c| c.id),
            email,
            first_name: customer.and_then(|c| c.first_name),
            line_items: line_items(self.line_items, &currency)?,
            total,
        })
    }
}
