//! An event bus twin that keeps what was published.

use std::sync::{Arc, Mutex};
use waymark_core::outbox::SendFailure;

/// An event bus that keeps what was published.
#[derive(Clone, Default)]
pub struct MemoryPublisher {
    published: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

impl MemoryPublisher {
    /// (detail type, detail) of every published event, in order.
    pub fn published(&self) -> Vec<(String, serde_json::Value)> {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl crate::ports::Publisher for MemoryPublisher {
    async fn publish(
        &self,
        detail_type: &str,
        detail: &serde_json::Value,
    ) -> Result<String, SendFailure> {
        let mut p = self.published.lock().unwrap_or_else(|p| p.into_inner());
        p.push((detail_type.to_string(), detail.clone()));
        Ok(format!("memory-event-{}", p.len()))
    }
}
