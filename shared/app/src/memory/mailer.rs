//! A mailer twin that keeps what it was given, and can be told to fail.

use crate::ports::Mailer;
use std::sync::{Arc, Mutex};
use waymark_core::outbox::SendFailure;

/// One message a `MemoryMailer` accepted.
#[derive(Debug, Clone)]
pub struct SentMail {
    pub from: String,
    pub to: String,
    pub raw: Vec<u8>,
}

/// A mailer that keeps what it was given; it can be told to fail.
#[derive(Clone, Default)]
pub struct MemoryMailer {
    sent: Arc<Mutex<Vec<SentMail>>>,
    failures: Arc<Mutex<Vec<SendFailure>>>,
}

impl MemoryMailer {
    /// The next sends fail with these, in order.
    pub fn fail_next(&self, failures: impl IntoIterator<Item = SendFailure>) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(failures);
    }

    /// Every accepted message, in order.
    pub fn sent(&self) -> Vec<SentMail> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Mailer for MemoryMailer {
    async fn send(
        &self,
        from: &str,
        to: &str,
        raw: Vec<u8>,
        _tags: &[(&str, String)],
    ) -> Result<String, SendFailure> {
        {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            if !failures.is_empty() {
                return Err(failures.remove(0));
            }
        }
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        sent.push(SentMail {
            from: from.to_string(),
            to: to.to_string(),
            raw,
        });
        Ok(format!("memory-{}", sent.len()))
    }
}
