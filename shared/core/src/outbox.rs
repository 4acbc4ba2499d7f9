//! Outbox messages: an email a journey decided to send, written in the same
//! transaction as the run that decided it, and the delivery policy (retry
//! with backoff, then park) applied when sending fails. Never drops a message.

use crate::contact::Contact;
use crate::event::EventKind;
use crate::ids::{ContactId, EmailAddress, ShopDomain};
use crate::journey::Run;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Attempts before a message that keeps failing is parked.
pub const MAX_ATTEMPTS: u32 = 6;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// Stable per (shop, contact, journey run, step): the idempotency key.
    pub id: String,
    pub shop: ShopDomain,
    pub contact: ContactId,
    pub journey: String,
    pub version: u32,
    pub run_key: String,
    pub step: String,
    /// Logical time the step ran.
    pub queued_at: Timestamp,
    /// The data the template renders (or the event carries): `contact` and
    /// the trigger's data.
    pub params: serde_json::Value,
    /// The email topic of a marketing email (its journey's `topic:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Not to be sent before this (a campaign's local-time wave): the
    /// message waits in the outbox, due then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    /// Written over a message of the same id that was never sent (a
    /// cancelled campaign's, decided again by its next schedule); any other
    /// message is written only where none is. Never stored.
    #[serde(skip)]
    pub replaces_unsent: bool,
    #[serde(flatten)]
    pub channel: Channel,
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Channel {
    Email {
        to: EmailAddress,
        template: String,
        transactional: bool,
    },
    /// An event on the EventBridge bus, for SMS, ads audiences, a CRM or a
    /// sales hand-off to follow the same contact.
    Event { detail_type: String },
}

impl OutboxMessage {
    /// The email for `step` of `run`, or `None` when the contact has no address.
    /// `visit` counts earlier sends of this step in the run (loops).
    pub fn for_step(
        contact: &Contact,
        run: &Run,
        step: &str,
        visit: usize,
        template: &str,
        transactional: bool,
    ) -> Option<Self> {
        let to = contact.identity.email.clone()?;
        Some(Self::build(
            contact,
            run,
            step,
            visit,
            Channel::Email {
                to,
                template: template.to_string(),
                transactional,
            },
        ))
    }

    /// The event an `emit` step publishes.
    pub fn event(
        contact: &Contact,
        run: &Run,
        step: &str,
        visit: usize,
        detail_type: &str,
    ) -> Self {
        let channel = Channel::Event {
            detail_type: detail_type.to_string(),
        };
        Self::build(contact, run, step, visit, channel)
    }

    fn build(contact: &Contact, run: &Run, step: &str, visit: usize, channel: Channel) -> Self {
        let mut params = serde_json::json!({
            "contact": {
                "id": contact.id.as_str(),
                "first_name": contact.identity.first_name,
                "last_name": contact.identity.last_name,
                "email": contact.identity.email.as_ref().map(|e| e.as_str()),
                "locale": contact.identity.locale,
                "score": contact.audience.score,
                "stage": contact.audience.stage,
                "interests": contact.audience.interests,
                "viewed": contact.commerce.viewed.iter().rev().take(crate::contact::VIEWED_KEPT).collect::<Vec<_>>(),
                "bought": contact.commerce.bought.iter().rev().take(6).collect::<Vec<_>>(),
            },
        });
        let (name, data) = match &run.trigger {
            EventKind::CheckoutUpdated(c) => ("checkout", serde_json::to_value(c)),
            EventKind::CustomerUpserted(c) => ("customer", serde_json::to_value(c)),
            EventKind::Site(e) => ("site", serde_json::to_value(e)),
            other => ("order", serde_json::to_value(other.order())),
        };
        params[name] = data.unwrap_or_default();
        // Coupons the contact can still use, by name (the newest wins).
        let coupons: serde_json::Map<String, serde_json::Value> = contact
            .commerce
            .coupons
            .iter()
            .filter(|c| c.is_open(run.cursor))
            .map(|c| {
                let value = serde_json::json!({
                    "code": c.code,
                    "discount": c.discount,
                    "expires_at": c.expires_at,
                });
                (c.name.clone(), value)
            })
            .collect();
        params["coupons"] = coupons.into();
        // The subscription a subscription journey is about.
        if let Some((sub, billed)) = crate::journey::run_subscription(contact, Some(run)) {
            params["subscription"] = serde_json::json!({
                "contract_id": sub.contract_id,
                "status": sub.status,
                "cycle": sub.cycles,
                "billed_at": billed,
            });
        }
        if let Some(matched) = &run.matched {
            params["event"] = serde_json::to_value(matched)
                .ok()
                .and_then(|v| v.get("data").cloned())
                .unwrap_or_default();
        }
        Self {
            id: message_id(
                &contact.shop,
                &contact.id,
                &run.journey,
                &format!("{}#{}", run.key, run.entry),
                &format!("{step}#{visit}"),
            ),
            shop: contact.shop.clone(),
            contact: contact.id.clone(),
            journey: run.journey.clone(),
            version: run.version,
            run_key: run.key.clone(),
            step: step.to_string(),
            queued_at: run.cursor,
            params,
            topic: None,
            not_before: None,
            replaces_unsent: false,
            channel,
        }
    }

    /// Every message id `run` has queued (emails and bus events): its sent
    /// steps and emits, visit by visit. Used to erase a person's messages.
    pub fn ids_of_run(shop: &ShopDomain, contact: &ContactId, run: &Run) -> Vec<String> {
        Self::steps_of_run(shop, contact, run)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    /// Every message id `run` has queued, with the step that queued it.
    pub fn steps_of_run<'r>(
        shop: &ShopDomain,
        contact: &ContactId,
        run: &'r Run,
    ) -> Vec<(String, &'r str)> {
        let key = format!("{}#{}", run.key, run.entry);
        let emits = run.path.iter().filter_map(|p| p.strip_prefix("emit:"));
        let mut visits: std::collections::BTreeMap<&str, usize> = Default::default();
        run.sent
            .iter()
            .map(String::as_str)
            .chain(emits)
            .map(|step| {
                let visit = visits.entry(step).or_default();
                let id = message_id(
                    shop,
                    contact,
                    &run.journey,
                    &key,
                    &format!("{step}#{visit}"),
                );
                *visit += 1;
                (id, step)
            })
            .collect()
    }

    /// A person's data, answering a privacy request: published on the bus
    /// (`waymark.data_request`) for the store's support tooling.
    pub fn data_export(
        contact: &Contact,
        request: &str,
        at: Timestamp,
        data: serde_json::Value,
    ) -> Self {
        Self {
            id: message_id(
                &contact.shop,
                &contact.id,
                "privacy",
                request,
                "data_request",
            ),
            shop: contact.shop.clone(),
            contact: contact.id.clone(),
            journey: "privacy".into(),
            version: 1,
            run_key: request.to_string(),
            step: "data_request".into(),
            queued_at: at,
            params: data,
            topic: None,
            not_before: None,
            replaces_unsent: false,
            channel: Channel::Event {
                detail_type: "waymark.data_request".into(),
            },
        }
    }

    /// The recipient, for email.
    pub fn to(&self) -> Option<&EmailAddress> {
        match &self.channel {
            Channel::Email { to, .. } => Some(to),
            Channel::Event { .. } => None,
        }
    }
}

fn message_id(
    shop: &ShopDomain,
    contact: &ContactId,
    journey: &str,
    key: &str,
    step: &str,
) -> String {
    crate::ids::hashed_id(&[shop.as_str(), contact.as_str(), journey, key, step])
}

/// How a failed send is classified by the sender adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// Refused before anything was done (throttling, a paused account):
    /// worth trying again later.
    Transient(String),
    /// No answer worth trusting (a 5xx, a timeout, a lost connection): the
    /// provider may have done it. Tried again later like `Transient`, and
    /// that attempt may deliver it a second time (counted as such).
    Unknown(String),
    /// Rejected for good (bad address, unverified sender, rendering error).
    Permanent(String),
}

/// What to do with a message after a failed attempt number `attempt` (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(Timestamp),
    Park(String),
}

/// Exponential backoff from the failed attempt's time `from` (never from
/// when the message was queued: a message sent late, or held up by
/// throttling, still gets all its attempts): 1, 2, 4, 8, 16 minutes after
/// each failure, then park.
pub fn after_failure(from: Timestamp, attempt: u32, failure: &SendFailure) -> AfterFailure {
    match failure {
        SendFailure::Permanent(e) => AfterFailure::Park(e.clone()),
        SendFailure::Transient(e) | SendFailure::Unknown(e) if attempt >= MAX_ATTEMPTS => {
            AfterFailure::Park(format!("gave up after {attempt} attempts: {e}"))
        }
        SendFailure::Transient(_) | SendFailure::Unknown(_) => {
            let minutes: i64 = 1i64 << attempt.saturating_sub(1).min(10);
            AfterFailure::RetryAt(
                from.checked_add(SignedDuration::from_mins(minutes))
                    .unwrap_or(Timestamp::MAX),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_back_off_then_park() {
        let t: Timestamp = "2026-11-23T11:00:00Z".parse().unwrap();
        let f = SendFailure::Transient("Throttling".into());
        let slots: Vec<_> = (1..MAX_ATTEMPTS)
            .map(|a| match after_failure(t, a, &f) {
                AfterFailure::RetryAt(at) => t.duration_until(at).as_secs() / 60,
                AfterFailure::Park(e) => panic!("parked early: {e}"),
            })
            .collect();
        assert_eq!(slots, vec![1, 2, 4, 8, 16]);
        assert!(
            matches!(after_failure(t, MAX_ATTEMPTS, &f), AfterFailure::Park(e) if e.contains("Throttling"))
        );
    }

    #[test]
    fn permanent_failures_park_at_once() {
        let t: Timestamp = "2026-11-23T11:00:00Z".parse().unwrap();
        let f = SendFailure::Permanent("MessageRejected".into());
        assert_eq!(
            after_failure(t, 1, &f),
            AfterFailure::Park("MessageRejected".into())
        );
    }
}
