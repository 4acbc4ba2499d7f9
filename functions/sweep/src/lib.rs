//! `sweep` (EventBridge schedule, daily): lapses the contacts whose
//! inactivity threshold fell on the days since the last sweep (read from the
//! time-bucketed idle index), which enters them into the win-back journey,
//! and forgets the anonymous visitors that silent. Uses the schedule's own
//! time, never the clock's.

use aws_config::SdkConfig;
use lambda_runtime::{Error, LambdaEvent};
use waymark_app::process::Processor;
use waymark_app::sweep::{SweepReport, sweep};
use waymark_aws::store::DynamoStore;
use waymark_aws::stream::ScheduledEvent;

pub struct Service {
    processor: Processor<DynamoStore>,
}

/// Built once per cold start from the environment.
pub async fn init() -> Result<Service, Error> {
    let sdk = waymark_aws::config::sdk().await;
    let table = waymark_aws::config::required("TABLE_NAME")?;
    let coupons = waymark_aws::config::secret(&sdk, "COUPON_SECRET").await?;
    build(&sdk, &table, coupons.as_deref())
}

/// `coupon_secret`: what coupon codes are derived from (`COUPON_SECRET`).
pub fn build(sdk: &SdkConfig, table: &str, coupon_secret: Option<&str>) -> Result<Service, Error> {
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table);
    Ok(Service {
        processor: Processor::new(waymark_content::runtime_catalog(coupon_secret)?, store),
    })
}

pub async fn handle(
    service: &Service,
    event: LambdaEvent<ScheduledEvent>,
) -> Result<SweepReport, Error> {
    let store = service.processor.store();
    Ok(sweep(&service.processor, store, event.payload.time).await?)
}
