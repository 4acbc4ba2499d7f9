//! `checkouts/create` and `checkouts/update` payloads.

use super::{Address, Decimal, EmbeddedCustomer, LineItemPayload, country, email, line_items};
use crate::event::Checkout;
use jiff::Timestamp;

#[derive(serde::Deserialize)]
pub(super) struct Payload {
    token: String,
    email: Option<String>,
    pub(super) created_at: Option<Timestamp>,
    pub(super) updated_at: Option<Timestamp>,
    completed_at: Option<Timestamp>,
    currency: Option<String>,
    presentment_currency: Option<String>,
    total_price: Option<Decimal>,
    #[serde(default)]
    line_items: Vec<LineItemPayload>,
    abandoned_checkout_url: Option<String>,
    customer: Option<EmbeddedCustomer>,
    buyer_accepts_marketing: Option<bool>,
    shipping_address: Option<Address>,
    billing_address: Option<Address>,
    customer_locale: Option<String>,
    #[serde(default)]
    note_attributes: Vec<super::NoteAttribute>,
}

impl Payload {
    pub(super) fn into_checkout(self) -> Result<Checkout, String> {
        if self.token.trim().is_empty() {
            return Err("`token` is empty".into());
        }
        let currency = super::currency(self.presentment_currency, self.currency);
        let customer = self.customer;
        let email = email(
            self.email
                .or_else(|| customer.as_ref().and_then(|c| c.email.clone())),
            "email",
        )?;
        let total = super::total_price(self.total_price, &currency)?;
        Ok(Checkout {
            anonymous_id: super::anonymous_id(&self.note_attributes),
            token: self.token,
            customer_id: customer.as_ref().and_then(|c| c.id),
            email,
            first_name: customer.and_then(|c| c.first_name),
            line_items: line_items(self.line_items, &currency)?,
            total,
            recovery_url: self.abandoned_checkout_url,
            completed_at: self.completed_at,
            accepts_marketing: self.buyer_accepts_marketing,
            country: country([&self.shipping_address, &self.billing_address]),
            province: super::province([&self.shipping_address, &self.billing_address]),
            locale: self
                .customer_locale
                .filter(|l| !l.is_empty() && l.len() <= 20)
                .map(|l| l.to_ascii_lowercase()),
        })
    }
}
