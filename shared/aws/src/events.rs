//! The EventBridge publisher: journeys' `emit` steps reach the bus through
//! the outbox (so an emit is as effectively-once as an email), with
//! `source: waymark` and the step's detail type.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use waymark_app::ports::Publisher;
use waymark_core::outbox::SendFailure;

/// The `source` of every event Waymark publishes.
pub const SOURCE: &str = "waymark";

pub struct EventBridgePublisher {
    client: Client,
    bus: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }
}

fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> SendFailure {
    match e.as_service_error() {
        Some(se) => {
            let code = se.code().unwrap_or("Unknown");
            let text = format!("{code}: {}", se.message().unwrap_or(""));
            match code {
                "ThrottlingException" => SendFailure::Transient(text),
                // The bus may have taken the event before failing.
                "InternalException" | "InternalFailure" => SendFailure::Unknown(text),
                _ => SendFailure::Permanent(text),
            }
        }
        None => SendFailure::Unknown(format!("{e:?}")),
    }
}

impl Publisher for EventBridgePublisher {
    async fn publish(
        &self,
        detail_type: &str,
        detail: &serde_json::Value,
    ) -> Result<String, SendFailure> {
        let entry = PutEventsRequestEntry::builder()
            .source(SOURCE)
            .detail_type(detail_type)
            .detail(detail.to_string())
            .event_bus_name(&self.bus)
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(classify)?;
        // PutEvents reports per-entry failures in a 200 answer.
        match out.entries.unwrap_or_default().into_iter().next() {
            Some(e) if e.error_code.is_some() => Err(SendFailure::Transient(format!(
                "{}: {}",
                e.error_code.unwrap_or_default(),
                e.error_message.unwrap_or_default()
            ))),
            Some(e) => Ok(e.event_id.unwrap_or_default()),
            None => Err(SendFailure::Transient("PutEvents returned no entry".into())),
        }
    }
}
