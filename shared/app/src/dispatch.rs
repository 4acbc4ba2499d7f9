//! Dispatch: sends one outbox message at most once per claim. Render, build
//! MIME, send; on failure retry with backoff or park with the error. A
//! message is never dropped: it ends sent or parked.

use crate::ports::{Mailer, Outbox, StoreError};
use waymark_core::email::{Renderer, Sender, mime};
use waymark_core::outbox::{AfterFailure, SendFailure, after_failure};

/// How one message ended this attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent(String),
    /// Not queued any more (already sent, parked, or claimed elsewhere).
    NotClaimed,
    Retry(jiff::Timestamp),
    Parked(String),
}

pub struct Dispatcher<O, M> {
    outbox: O,
    mailer: M,
    renderer: Renderer,
    sender: Sender,
}

impl<O: Outbox, M: Mailer> Dispatcher<O, M> {
    pub fn new(outbox: O, mailer: M, renderer: Renderer, sender: Sender) -> Self {
        Self {
            outbox,
            mailer,
            renderer,
            sender,
        }
    }

    pub async fn dispatch(&self, id: &str) -> Result<Outcome, StoreError> {
        let Some(claimed) = self.outbox.claim(id).await? else {
            return Ok(Outcome::NotClaimed);
        };
        let m = &claimed.message;
        let result = match self.renderer.render(&m.template, &m.params) {
            Ok(rendered) => {
                let raw = mime(&self.sender, m, &rendered);
                self.mailer
                    .send(self.sender.address.as_str(), m.to.as_str(), raw)
                    .await
            }
            Err(e) => Err(SendFailure::Permanent(e.to_string())),
        };
        match result {
            Ok(provider_id) => {
                self.outbox.mark_sent(id, &provider_id).await?;
                tracing::info!(outbox_id = id, provider_id, journey = %m.journey, step = %m.step, "sent");
                Ok(Outcome::Sent(provider_id))
            }
            Err(failure) => {
                let error = match &failure {
                    SendFailure::Transient(e) | SendFailure::Permanent(e) => e.clone(),
                };
                match after_failure(m.queued_at, claimed.attempt, &failure) {
                    AfterFailure::RetryAt(at) => {
                        self.outbox.retry_at(&claimed, at, &error).await?;
                        tracing::warn!(outbox_id = id, attempt = claimed.attempt, %at, error, "send failed; will retry");
                        Ok(Outcome::Retry(at))
                    }
                    AfterFailure::Park(reason) => {
                        self.outbox.park(&claimed, &reason).await?;
                        tracing::error!(
                            outbox_id = id,
                            attempt = claimed.attempt,
                            reason,
                            "message parked"
                        );
                        Ok(Outcome::Parked(reason))
                    }
                }
            }
        }
    }
}
