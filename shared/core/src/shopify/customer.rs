//! `customers/create` and `customers/update` payloads, including both the
//! current `email_marketing_consent` object and the legacy `accepts_marketing`.

use super::email;
use crate::event::Customer;
use jiff::Timestamp;

#[derive(serde::Deserialize)]
pub(super) struct Payload {
    id: u64,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    pub(super) created_at: Option<Timestamp>,
    pub(super) updated_at: Option<Timestamp>,
    accepts_marketing: Option<bool>,
    email_marketing_consent: Option<Consent>,
    default_address: Option<super::Address>,
    #[serde(default)]
    tags: String,
    phone: Option<String>,
}

#[derive(serde::Deserialize)]
struct Consent {
    state: Option<String>,
}

impl Payload {
    pub(super) fn into_customer(self) -> Result<(Customer, String), String> {
        let state = self.email_marketing_consent.and_then(|c| c.state);
        let opted_out = state.as_deref() == Some("unsubscribed");
        let consent = state.map(|s| s == "subscribed").or(self.accepts_marketing);
        let id = self.id;
        Ok((
            Customer {
                customer_id: id,
                email: email(self.email, "email")?,
                first_name: self.first_name.filter(|s| !s.is_empty()),
                last_name: self.last_name.filter(|s| !s.is_empty()),
                accepts_marketing: consent,
                opted_out,
                country: super::country([&self.default_address, &None]),
                province: super::province([&self.default_address, &None]),
                tags: self
                    .tags
                    .split(',')
                    .map(|t| t.trim().to_lowercase())
                    .filter(|t| !t.is_empty())
                    .collect(),
                phone: self
                    .phone
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty()),
            },
            id.to_string(),
        ))
    }
}
