//! The SES v2 mailer: sends a raw MIME message (so our own headers survive)
//! and sorts failures into transient (retry later) and permanent (park).
//! Sends are paced to the account's maximum send rate (a token bucket per
//! function instance); a throttling answer anyway is a transient failure,
//! retried with backoff through the outbox, never a dropped message.

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
use waymark_app::ports::Mailer;
use waymark_core::outbox::SendFailure;

pub struct SesMailer {
    client: Client,
    configuration_set: Option<String>,
    pace: Option<std::sync::Mutex<waymark_core::ratelimit::TokenBucket>>,
}

/// The rate used when neither `SES_MAX_SEND_RATE` nor the account says.
pub const DEFAULT_SEND_RATE: f64 = 14.0;

impl SesMailer {
    pub fn new(client: Client, configuration_set: Option<String>) -> Self {
        Self {
            client,
            configuration_set,
            pace: None,
        }
    }

    /// Paces sends to `per_second` (bursts of one second's worth).
    pub fn with_rate(mut self, per_second: f64) -> Self {
        let bucket = waymark_core::ratelimit::TokenBucket::new(per_second, per_second.max(1.0));
        self.pace = Some(std::sync::Mutex::new(bucket));
        self
    }

    /// The account's maximum send rate (SES `GetAccount`), if SES says.
    pub async fn account_rate(client: &Client) -> Option<f64> {
        match client.get_account().send().await {
            Ok(out) => out.send_quota.map(|q| q.max_send_rate).filter(|r| *r > 0.0),
            Err(e) => {
                tracing::warn!(error = ?e, "could not read the SES send quota; using the default rate");
                None
            }
        }
    }

    /// Waits for this send's turn under the rate.
    async fn turn(&self) {
        let Some(pace) = &self.pace else {
            return;
        };
        loop {
            let wait = {
                let mut bucket = pace.lock().unwrap_or_else(|p| p.into_inner());
                match bucket.take(1.0, jiff::Timestamp::now()) {
                    Ok(()) => return,
                    Err(wait) => wait,
                }
            };
            tokio::time::sleep(wait.unsigned_abs()).await;
        }
    }
}

/// Error codes worth another attempt later.
const TRANSIENT: &[&str] = &[
    "TooManyRequestsException",
    "ThrottlingException",
    "LimitExceededException",
    "SendingPausedException",
];

/// Server errors: SES may have accepted the message before failing.
const UNKNOWN: &[&str] = &["InternalFailure", "ServiceUnavailable"];

fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> SendFailure {
    match e.as_service_error() {
        Some(se) => {
            let code = se.code().unwrap_or("Unknown").to_string();
            let text = format!("{code}: {}", se.message().unwrap_or(""));
            if TRANSIENT.contains(&code.as_str()) {
                SendFailure::Transient(text)
            } else if UNKNOWN.contains(&code.as_str()) {
                SendFailure::Unknown(text)
            } else {
                SendFailure::Permanent(text)
            }
        }
        // A timeout, a connection lost mid-request, an answer that did not
        // parse: the request may have been carried out. Tried again.
        None => SendFailure::Unknown(format!("{e:?}")),
    }
}

impl Mailer for SesMailer {
    async fn send(
        &self,
        from: &str,
        to: &str,
        raw: Vec<u8>,
        tags: &[(&str, String)],
    ) -> Result<String, SendFailure> {
        self.turn().await;
        let tags = tags
            .iter()
            .map(|(name, value)| MessageTag::builder().name(*name).value(value).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SendFailure::Permanent(e.to_string()))?;
        let content = EmailContent::builder()
            .raw(
                RawMessage::builder()
                    .data(Blob::new(raw))
                    .build()
                    .map_err(|e| SendFailure::Permanent(e.to_string()))?,
            )
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(from)
            .destination(Destination::builder().to_addresses(to).build())
            .content(content)
            .set_configuration_set_name(self.configuration_set.clone())
            .set_email_tags(Some(tags))
            .send()
            .await
            .map_err(classify)?;
        Ok(out.message_id.unwrap_or_default())
    }
}
