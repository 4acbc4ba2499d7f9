//! `subscription_contracts/*` and `subscription_billing_attempts/success`:
//! a customer's subscription (its status and billing cadence) and each
//! cycle it is billed for.

use crate::event::{Billing, Cadence, Subscription};

#[derive(serde::Deserialize)]
pub(super) struct ContractPayload {
    id: u64,
    customer_id: Option<u64>,
    status: Option<String>,
    billing_policy: Option<Policy>,
    origin_order_id: Option<u64>,
    revision_id: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct Policy {
    interval: String,
    interval_count: u32,
}

impl ContractPayload {
    /// The fact's resource: a contract revision (each update is a new one).
    pub(super) fn resource(&self) -> String {
        let revision = match &self.revision_id {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        format!("{}:{revision}", self.id)
    }

    /// `status` is the topic's word when the payload has none
    /// (`subscription_contracts/pause` → `paused`).
    pub(super) fn into_subscription(self, topic_status: &str) -> Result<Subscription, String> {
        let interval = self
            .billing_policy
            .map(|p| {
                Cadence::parse(&p.interval, p.interval_count)
                    .map_err(|e| format!("billing_policy: {e}"))
            })
            .transpose()?;
        let status = self
            .status
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| topic_status.to_string());
        Ok(Subscription {
            contract_id: self.id,
            customer_id: self.customer_id,
            status,
            interval,
            origin_order_id: self.origin_order_id,
        })
    }
}

#[derive(serde::Deserialize)]
pub(super) struct BillingPayload {
    id: u64,
    subscription_contract_id: u64,
    order_id: Option<u64>,
}

impl BillingPayload {
    pub(super) fn resource(&self) -> String {
        self.id.to_string()
    }

    pub(super) fn into_billing(self) -> Billing {
        Billing {
            contract_id: self.subscription_contract_id,
            order_id: self.order_id,
        }
    }
}
