//! `fanout` (SQS `CampaignPages`): records the sends of the campaign pages
//! the timer hands over, many invocations side by side. A page that fails
//! is reported alone and delivered again; after five deliveries SQS parks
//! it in `CampaignPageFailures` (alarmed; `waymark dlq redrive --only pages`
//! moves it back).

use aws_config::SdkConfig;
use lambda_runtime::{Error, LambdaEvent};
use waymark_app::campaigns::work_page;
use waymark_aws::pages::read_page;
use waymark_aws::store::DynamoStore;
use waymark_aws::stream::{BatchResponse, QueueBatch};

pub struct Service {
    store: DynamoStore,
}

/// Built once per cold start from the environment.
pub async fn init() -> Result<Service, Error> {
    let sdk = waymark_aws::config::sdk().await;
    let table = waymark_aws::config::required("TABLE_NAME")?;
    Ok(build(&sdk, &table))
}

pub fn build(sdk: &SdkConfig, table: &str) -> Service {
    Service {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table),
    }
}

/// The function's timeout (the template's `Timeout`): its invocation
/// started this long before its deadline.
const TIMEOUT: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

pub async fn handle(
    service: &Service,
    event: LambdaEvent<QueueBatch>,
) -> Result<BatchResponse, Error> {
    let now = waymark_aws::config::deadline(&event.context) - TIMEOUT;
    // One page after another: each records 32 sends at once, and Lambda
    // runs invocations side by side.
    let mut response = BatchResponse::default();
    for message in &event.payload.records {
        if !work(&service.store, &message.body, &message.message_id, now).await {
            response.fail_message(message);
        }
    }
    Ok(response)
}

/// Works one message's page; `false`: deliver it again.
async fn work(store: &DynamoStore, body: &str, message_id: &str, now: jiff::Timestamp) -> bool {
    let page = match read_page(body) {
        Ok(page) => page,
        Err(error) => {
            // Never right on a later delivery either: parked after the
            // queue's last attempt, in CampaignPageFailures.
            tracing::error!(%message_id, %error, "unreadable campaign page");
            return false;
        }
    };
    match work_page(store, &page, now).await {
        Ok(report) => {
            tracing::info!(
                shop = %page.shop,
                campaign = %page.campaign,
                page = page.number,
                recorded = report.recorded,
                overlaps = report.overlaps,
                counted = report.counted,
                dropped = report.dropped,
                "campaign page worked"
            );
            true
        }
        Err(error) => {
            tracing::warn!(
                shop = %page.shop,
                campaign = %page.campaign,
                page = page.number,
                %error,
                "campaign page failed; delivered again"
            );
            false
        }
    }
}
