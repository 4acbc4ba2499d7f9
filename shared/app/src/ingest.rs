//! Ingest: a Shopify webhook delivery in, a stored canonical event out, and
//! what came of it (a typed outcome; the function turns it into HTTP).
//! Verifies before it reads; stores before it acknowledges; a redelivery is
//! acknowledged with no second effect.

use crate::ports::{Inbox, Receipt, Recorded, Rejected};
use jiff::Timestamp;
use waymark_core::event::Event;
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
        let (shop, webhook_id, topic) = match headers(req) {
            Ok(h) => h,
            Err(outcome) => return outcome,
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
        match parsed {
            Ok(event) => self.store(&receipt(Some(event.at)), event).await,
            Err(e) => self.reject(receipt(None), e, req.body).await,
        }
    }

    /// Keeps a delivery whose payload was refused (for `waymark dlq`), and
    /// answers with the problem.
    async fn reject(&self, receipt: Receipt, error: String, body: &[u8]) -> WebhookOutcome {
        let (shop, webhook_id) = (receipt.shop.clone(), receipt.delivery_id.clone());
        let topic = receipt.topic.clone();
        let rejected = Rejected {
            receipt,
            error: error.clone(),
            body: body.to_vec(),
        };
        if let Err(store) = self.inbox.reject(&rejected).await {
            tracing::error!(%shop, webhook_id = webhook_id.as_str(), error = %store, "could not keep rejected delivery");
            return WebhookOutcome::Unavailable;
        }
        // The detail can quote the payload (an address): it is in
        // the answer and the kept delivery, not in the logs.
        tracing::warn!(%shop, webhook_id = webhook_id.as_str(), topic = topic.as_str(), "webhook payload rejected");
        WebhookOutcome::Invalid(error)
    }

    /// Records the event; a redelivery is a duplicate.
    async fn store(&self, receipt: &Receipt, event: Event) -> WebhookOutcome {
        let (shop, webhook_id) = (&receipt.shop, receipt.delivery_id.as_str());
        match self.inbox.record(receipt, &event).await {
            Ok(Recorded::New) => {
                tracing::info!(%shop, webhook_id, event_id = %event.id, kind = event.kind.name(), "event stored");
                WebhookOutcome::Accepted { event_id: event.id }
            }
            Ok(Recorded::Duplicate | Recorded::Again) => {
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

/// The delivery's shop, id and topic headers: refused when one is missing
/// or malformed, acknowledged and ignored when the topic is not one Waymark
/// handles.
fn headers<'r>(req: &WebhookRequest<'r>) -> Result<(ShopDomain, &'r str, Topic), WebhookOutcome> {
    let bad = WebhookOutcome::Invalid;
    let shop = match req.shop.map(ShopDomain::parse) {
        Some(Ok(shop)) => shop,
        Some(Err(e)) => return Err(bad(format!("X-Shopify-Shop-Domain: {e}"))),
        None => return Err(bad("missing X-Shopify-Shop-Domain header".into())),
    };
    let Some(webhook_id) = req
        .webhook_id
        .map(str::trim)
        .filter(|w| !w.is_empty() && w.len() <= 200)
    else {
        return Err(bad("missing X-Shopify-Webhook-Id header".into()));
    };
    let Some(topic_name) = req.topic else {
        return Err(bad("missing X-Shopify-Topic header".into()));
    };
    let Some(topic) = Topic::parse(topic_name) else {
        tracing::info!(%shop, topic = topic_name, webhook_id, "topic not handled; acknowledged and ignored");
        return Err(WebhookOutcome::Ignored {
            topic: topic_name.to_string(),
        });
    };
    Ok((shop, webhook_id, topic))
}
