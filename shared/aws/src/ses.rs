//! The SES v2 mailer: sends a raw MIME message (so our own headers survive)
//! and sorts failures into transient (retry later) and permanent (park).

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
use waymark_app::ports::Mailer;
use waymark_core::outbox::SendFailure;

pub struct SesMailer {
    client: Client,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: Client, configuration_set: Option<String>) -> Self {
        Self {
            client,
            configuration_set,
        }
    }
}

/// Error codes worth another attempt later.
const TRANSIENT: &[&str] = &[
    "TooManyRequestsException",
    "ThrottlingException",
    "LimitExceededException",
    "SendingPausedException",
    "InternalFailure",
    "ServiceUnavailable",
];

fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> SendFailure {
    match e.as_service_error() {
        Some(se) => {
            let code = se.code().unwrap_or("Unknown").to_string();
            let text = format!("{code}: {}", se.message().unwrap_or(""));
            if TRANSIENT.contains(&code.as_str()) {
                SendFailure::Transient(text)
            } else {
                SendFailure::Permanent(text)
            }
        }
        // Timeouts, connection and dispatch failures: try again.
        None => SendFailure::Transient(format!("{e:?}")),
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
