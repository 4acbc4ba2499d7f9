//! The Lambda event shapes Waymark's functions receive, read directly with
//! serde: a DynamoDB stream batch (items carry their document as JSON in
//! `doc`), the partial-batch response, and an EventBridge scheduled event.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A DynamoDB stream batch as Lambda delivers it.
#[derive(Debug, Deserialize)]
pub struct StreamBatch {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
    /// The shard the records come from, named only when the mapping has a
    /// tumbling window (`process`'s has one for this: it counts).
    #[serde(rename = "shardId", default)]
    pub shard_id: Option<String>,
    /// What the previous batch of this window answered as its `state`
    /// (a tumbling window's mapping carries it to the next batch).
    #[serde(default)]
    pub state: Option<HashMap<String, String>>,
    /// The window closes with this invocation (which may hold no records):
    /// what its state carries must be settled now.
    #[serde(rename = "isFinalInvokeForWindow", default)]
    pub final_for_window: bool,
}

#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    pub dynamodb: Change,
}

#[derive(Debug, Deserialize)]
pub struct Change {
    #[serde(rename = "SequenceNumber", default)]
    pub sequence_number: String,
    /// When the change was made (epoch seconds).
    #[serde(rename = "ApproximateCreationDateTime", default)]
    pub approximate_creation: Option<f64>,
    #[serde(rename = "NewImage", default)]
    pub new_image: HashMap<String, serde_json::Value>,
}

impl StreamRecord {
    /// A string attribute of the new image (`{"S": "..."}`).
    pub fn string(&self, name: &str) -> Option<&str> {
        self.dynamodb.new_image.get(name)?.get("S")?.as_str()
    }

    /// The item's document, decoded.
    pub fn doc<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        let raw = self
            .dynamodb
            .new_image
            .get(crate::keys::DOC)
            .ok_or_else(|| format!("record {} has no doc", self.dynamodb.sequence_number))?;
        image_doc(raw).map_err(|e| format!("record {}: {e}", self.dynamodb.sequence_number))
    }
}

/// A document as a stream image carries it: `{"S": json}`, or `{"B":
/// base64}` when it was deflated (see [`crate::doc`]).
pub fn image_doc<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<T, String> {
    use base64::Engine;
    if let Some(text) = value.get("S").and_then(|v| v.as_str()) {
        return serde_json::from_str(text).map_err(|e| e.to_string());
    }
    let encoded = value
        .get("B")
        .and_then(|v| v.as_str())
        .ok_or("the doc is neither a string nor binary")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| format!("the doc is not base64: {e}"))?;
    crate::doc::decode_binary(&bytes).map_err(|e| e.to_string())
}

/// Lambda's partial batch response: the failed records are retried, the
/// others are not (needs `FunctionResponseTypes: [ReportBatchItemFailures]`).
#[derive(Debug, Default, Serialize)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
    /// A mapping with a tumbling window takes an answer without `state`
    /// for a failure; what it holds goes to the window's next batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<HashMap<String, String>>,
}

#[derive(Debug, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

impl BatchResponse {
    /// The answer of a mapping with a tumbling window.
    pub fn windowed() -> Self {
        Self {
            state: Some(HashMap::new()),
            ..Self::default()
        }
    }

    pub fn fail(&mut self, record: &StreamRecord) {
        self.batch_item_failures.push(ItemFailure {
            item_identifier: record.dynamodb.sequence_number.clone(),
        });
    }
}

/// A batch of SQS messages, as Lambda delivers it.
#[derive(Debug, Deserialize)]
pub struct QueueBatch {
    #[serde(rename = "Records", default)]
    pub records: Vec<QueueMessage>,
}

#[derive(Debug, Deserialize)]
pub struct QueueMessage {
    #[serde(rename = "messageId")]
    pub message_id: String,
    #[serde(default)]
    pub body: String,
}

impl BatchResponse {
    /// Delivers the message again later (SQS, after its visibility timeout).
    pub fn fail_message(&mut self, message: &QueueMessage) {
        self.batch_item_failures.push(ItemFailure {
            item_identifier: message.message_id.clone(),
        });
    }
}

/// A scheduled invocation: an EventBridge rule's event, or an EventBridge
/// Scheduler input of the same shape; `time` is the schedule's instant.
#[derive(Debug, Deserialize)]
pub struct ScheduledEvent {
    pub time: Timestamp,
    /// The part of the work this invocation takes (the timer's due shard);
    /// none: all of it.
    #[serde(default)]
    pub shard: Option<u32>,
}
