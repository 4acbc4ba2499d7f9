//! Ingest: a Shopify webhook delivery in, a stored canonical event out, and
//! what came of it (a typed outcome; the function turns it into HTTP).
//! Verifies before it reads; stores before it acknowledges; a redelivery is
//! acknowledged with no second effect.

use crate::ports::{Inbox, Receipt, Recorded, Rejected};
use jiff::Timestamp;
use waymark_core::hmac;
use waymark_core::ids::ShopDomain;
use waymark_core::shopify::{self, Delivery, Topic};

/// The parts of a webhook request ingest reads (header names are Shopify's).
#[derive(Debug, Clone, Default)]
pub struct WebhookRequest<'a> {
    pub hmac: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub shop: Option<&'a str>,
    pub webhook_id: Option<&'a str>,
    pub event_id: Option<&'a str>,
    pub triggered_at: Option<&'a str>,
    /// When the platform received the request (its own clock, not the
    /// sender's): what a destructive topic's age is judged against.
    pub received_at: Timestamp,
    pub body: &'a [u8],
}

/// What came of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// HMAC missing or wrong: nothing read, nothing stored.
    Unauthorized,
    /// Verified but not acceptable (a header, the payload, a stale erasure):
    /// what is wrong; the delivery is kept for inspection.
    Invalid(String),
    /// A topic Waymark does not handle: acknowledged.
    Ignored { topic: String },
    /// Stored; its canonical event id.
    Accepted { event_id: String },
    /// Seen before (this delivery, or the same fact): no second effect.
    Duplicate { event_id: String },
    /// Storage failed: the platform should deliver it again.
    Unavailable,
}

/// Why a delivery of a destructive topic (an erasure) is refused for its
/// age: its topic and time headers are not signed, so an old signed body
/// replayed under such a topic must not erase anything. Shopify's own
/// retries fall well within `MAX_DESTRUCTIVE_AGE`.
fn stale(topic: Topic, triggered_at: Option<Timestamp>, received_at: Timestamp) -> Option<String> {
    if !topic.is_destructive() {
        return None;
    }
    let max = shopify::MAX_DESTRUCTIVE_AGE;
    match triggered_at {
        None => Some(format!(
            "X-Shopify-Triggered-At: needed for `{}` (a destructive topic)",
            topic.as_str()
        )),
        Some(t) if received_at.duration_since(t) > max => Some(format!(
            "X-Shopify-Triggered-At: `{}` is {} old; `{}` is refused after {} (a replay?)",
            t,
            waymark_core::time::format_duration(received_at.duration_since(t)),
            topic.as_str(),
            waymark_core::time::format_duration(max)
        )),
        Some(t) if t.duration_since(received_at) > max => Some(format!(
            "X-Shopify-Triggered-At: `{t}` is in the future; `{}` is refused",
            topic.as_str()
        )),
        Some(_) => None,
    }
}

/// Receives Shopify webhooks for the shops whose secret it holds.
pub struct ShopifyIngest<I> {
    secret: Vec<u8>,
    inbox: I,
}

impl<I: Inbox> ShopifyIngest<I> {
    pub fn new(secret: impl Into<Vec<u8>>, inbox: I) -> Self {
        Self {
            secret: secret.into(),
            inbox,
        }
    }

    pub async fn handle(&self, req: &WebhookRequest<'_>) -> WebhookOutcome {
        if !hmac::verify(&self.secret, req.body, req.hmac) {
            tracing::warn!(shop = ?req.shop, "webhook rejected: HMAC missing or wrong");
            return WebhookOutcome::Unauthorized;
        }
        let bad = WebhookOutcome::Invalid;
        let shop = match req.shop.map(ShopDomain::parse) {
            Some(Ok(shop)) => shop,
            Some(Err(e)) => return bad(format!("X-Shopify-Shop-Domain: {e}")),
            None => return bad("missing X-Shopify-Shop-Domain header".into()),
        };
        let Some(webhook_id) = req
            .webhook_id
            .map(str::trim)
            .filter(|w| !w.is_empty() && w.len() <= 200)
        else {
            return bad("missing X-Shopify-Webhook-Id header".into());
        };
        let Some(topic_name) = req.topic else {
            return bad("missing X-Shopify-Topic header".into());
        };
        let Some(topic) = Topic::parse(topic_name) else {
            tracing::info!(%shop, topic = topic_name, webhook_id, "topic not handled; acknowledged and ignored");
            return WebhookOutcome::Ignored {
                topic: topic_name.to_string(),
            };
        };
        let triggered_at = req.triggered_at.and_then(waymark_core::time::parse_instant);
        let delivery = Delivery {
            shop: &shop,
            topic,
            webhook_id,
            triggered_at,
            body: req.body,
        };
        let parsed = match stale(topic, triggered_at, req.received_at) {
            Some(problem) => Err(problem),
            None => shopify::parse(&delivery).map_err(|e| e.to_string()),
        };
        let receipt = |at: Option<Timestamp>| Receipt {
            shop: shop.clone(),
            delivery_id: webhook_id.to_string(),
            platform_event_id: req.event_id.map(|e| e.chars().take(200).collect()),
            topic: topic.as_str().to_string(),
            received_at: at.or(triggered_at),
        };
        let event = match parsed {
            Ok(event) => event,
            Err(e) => {
                let rejected = Rejected {
                    receipt: receipt(None),
                    error: e.clone(),
                    body: req.body.to_vec(),
                };
                if let Err(store) = self.inbox.reject(&rejected).await {
                    tracing::error!(%shop, webhook_id, error = %store, "could not keep rejected delivery");
                    return WebhookOutcome::Unavailable;
                }
                // The detail can quote the payload (an address): it is in
                // the answer and the kept delivery, not in the logs.
                tracing::warn!(%shop, webhook_id, topic = topic.as_str(), "webhook payload rejected");
                return bad(e);
            }
        };
        match self.inbox.record(&receipt(Some(event.at)), &event).await {
            Ok(Recorded::New) => {
                tracing::info!(%shop, webhook_id, event_id = %event.id, kind = event.kind.name(), "event stored");
                WebhookOutcome::Accepted { event_id: event.id }
            }
            Ok(Recorded::Duplicate) => {
                tracing::info!(%shop, webhook_id, event_id = %event.id, "duplicate delivery");
                WebhookOutcome::Duplicate { event_id: event.id }
            }
            // A 5xx makes Shopify redeliver: nothing is lost.
            Err(e) => {
                tracing::error!(%shop, webhook_id, error = %e, "could not store event");
                WebhookOutcome::Unavailable
            }
        }
    }
}
