//! `process` (DynamoDB stream, new events): each canonical event updates its
//! contact and runs the journeys. Records of one shard arrive in order; the
//! first failure stops the batch so nothing is applied out of order.

use aws_config::SdkConfig;
use lambda_runtime::{Error, LambdaEvent};
use waymark_app::process::{ProcessError, Processor};
use waymark_aws::store::DynamoStore;
use waymark_aws::stream::{BatchResponse, StreamBatch};
use waymark_core::event::Event;

pub type Service = Processor<DynamoStore>;

/// Built once per cold start from the environment.
pub async fn init() -> Result<Service, Error> {
    let sdk = waymark_aws::config::sdk().await;
    let table = waymark_aws::config::required("TABLE_NAME")?;
    let coupons = waymark_aws::config::secret(&sdk, "COUPON_SECRET").await?;
    build(&sdk, &table, coupons.as_deref())
}

/// `coupon_secret`: what coupon codes are derived from (`COUPON_SECRET`).
pub fn build(sdk: &SdkConfig, table: &str, coupon_secret: Option<&str>) -> Result<Service, Error> {
    Ok(Processor::new(
        waymark_content::runtime_catalog(coupon_secret)?,
        DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table),
    ))
}

pub async fn handle(
    service: &Service,
    batch: LambdaEvent<StreamBatch>,
) -> Result<BatchResponse, Error> {
    let mut response = BatchResponse::default();
    let mut metrics = waymark_aws::metrics::Metrics::default();
    for record in &batch.payload.records {
        if record.event_name != "INSERT" || record.string("t") != Some("event") {
            continue;
        }
        let event: Event = match record.doc() {
            Ok(e) => e,
            Err(e) => {
                // A document this build cannot read is a deploy mismatch: retry
                // (and alarm) rather than skip it.
                let error = waymark_core::redact::addresses(&e.to_string());
                tracing::error!(error, "unreadable event");
                response.fail(record);
                break;
            }
        };
        match service.handle_event(&event).await {
            Ok(report) => {
                metrics.add("EventsProcessed", 1.0);
                let queued = report
                    .effects
                    .iter()
                    .filter(|e| matches!(e, waymark_core::journey::Effect::Email(_)))
                    .count();
                metrics.add("EmailsQueued", queued as f64);
            }
            // Retrying cannot help an event that names nobody: log and move on.
            Err(e @ ProcessError::Unattributable(_)) => {
                tracing::error!(event = %event.id, error = %e, "event skipped")
            }
            Err(e) => {
                metrics.add("ProcessErrors", 1.0);
                tracing::error!(event = %event.id, error = %e, "processing failed; batch will be retried from here");
                response.fail(record);
                break;
            }
        }
    }
    metrics.emit("process");
    Ok(response)
}
