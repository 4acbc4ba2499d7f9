//! `feedback` (EventBridge rule: `source: aws.ses`): bounces and complaints
//! suppress, opens and clicks become engagement events; all are counted
//! for the results.

use aws_config::SdkConfig;
use lambda_runtime::{Error, LambdaEvent};
use waymark_app::feedback::{FeedbackHandlingError, FeedbackService, Handled};
use waymark_aws::store::DynamoStore;

pub type Service = FeedbackService<DynamoStore>;

/// Built once per cold start from the environment.
pub async fn init() -> Result<Service, Error> {
    let sdk = waymark_aws::config::sdk().await;
    let table = waymark_aws::config::required("TABLE_NAME")?;
    Ok(build(&sdk, &table))
}

pub fn build(sdk: &SdkConfig, table: &str) -> Service {
    // The shop's zone, from the content compiled in (results count facts
    // on the shop's local day); UTC if the content does not parse, which
    // `make test` and every other function refuse anyway.
    let zone = waymark_content::checked_catalog()
        .map(|c| c.time_zone().clone())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    FeedbackService::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table))
        .with_zone(zone)
}

/// A malformed event is logged and dropped (a retry cannot fix it); a
/// storage failure fails the invocation so EventBridge retries it.
pub async fn handle(
    service: &Service,
    event: LambdaEvent<serde_json::Value>,
) -> Result<String, Error> {
    let result = service.handle(&event.payload).await;
    let mut metrics = waymark_aws::metrics::Metrics::default();
    match &result {
        Ok(Handled::Suppressed(n)) => metrics.add("AddressesSuppressed", *n as f64),
        Ok(Handled::Recorded(n)) => metrics.add("EngagementRecorded", *n as f64),
        Ok(_) => {}
        Err(_) => metrics.add("FeedbackErrors", 1.0),
    }
    metrics.emit("feedback");
    match result {
        Ok(Handled::Ignored) => Ok("ignored: not Waymark's mail".into()),
        Ok(h) => Ok(format!("{h:?}")),
        Err(e @ FeedbackHandlingError::Shape(_)) => {
            let error = waymark_core::redact::addresses(&e.to_string());
            tracing::error!(error, "dropped");
            Ok(e.to_string())
        }
        Err(e) => Err(e.into()),
    }
}
