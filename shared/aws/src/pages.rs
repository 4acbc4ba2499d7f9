//! The campaign page queue: the timer hands each page of a campaign's
//! audience to the workers (`fanout`) as one SQS message, a page's JSON.

use crate::store::sdk_error as sdk_err;
use waymark_app::ports::{CampaignPage, PageQueue, StoreError, StoreErrorKind};

pub struct SqsPages {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsPages {
    /// The queue at `url` (the template's `CampaignPages`).
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

impl PageQueue for SqsPages {
    async fn enqueue(&self, page: &CampaignPage) -> Result<(), StoreError> {
        let body = serde_json::to_string(page).map_err(|e| {
            StoreError::new(
                StoreErrorKind::Corrupt,
                "serialise campaign page",
                e.to_string(),
            )
        })?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| sdk_err("queue campaign page", e))?;
        Ok(())
    }
}

/// A message's page, or what is wrong with it.
pub fn read_page(body: &str) -> Result<CampaignPage, String> {
    serde_json::from_str(body).map_err(|e| format!("not a campaign page: {e}"))
}
