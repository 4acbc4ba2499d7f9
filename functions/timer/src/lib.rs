//! `timer` (EventBridge Scheduler, every minute, once per due shard): fires
//! what is due in its shard as of the schedule's own time, never the clock's.

use aws_config::SdkConfig;
use lambda_runtime::{Error, LambdaEvent};
use waymark_app::ports::DUE_SHARDS;
use waymark_app::process::Processor;
use waymark_app::timer::{CONTACTS_IN_FLIGHT, Scope, TickReport, tick};
use waymark_aws::pages::SqsPages;
use waymark_aws::store::DynamoStore;
use waymark_aws::stream::ScheduledEvent;

/// How long one tick may work (the function's timeout is 30 s).
const TICK_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

pub struct Service {
    processor: Processor<DynamoStore>,
    /// Where campaign pages go to the workers (`CAMPAIGN_PAGES_URL`).
    pages: SqsPages,
    /// Contacts one invocation works on at once (`WAYMARK_TIMER_IN_FLIGHT`).
    in_flight: usize,
}

/// Built once per cold start from the environment.
pub async fn init() -> Result<Service, Error> {
    let sdk = waymark_aws::config::sdk().await;
    let table = waymark_aws::config::required("TABLE_NAME")?;
    let coupons = waymark_aws::config::secret(&sdk, "COUPON_SECRET").await?;
    let pages = waymark_aws::config::required("CAMPAIGN_PAGES_URL")?;
    let in_flight = in_flight(std::env::var("WAYMARK_TIMER_IN_FLIGHT").ok().as_deref())?;
    build(&sdk, &table, &pages, coupons.as_deref(), in_flight)
}

/// `WAYMARK_TIMER_IN_FLIGHT`: 1 to 64 contacts at once, 16 when unset.
fn in_flight(raw: Option<&str>) -> Result<usize, String> {
    let Some(raw) = raw else {
        return Ok(CONTACTS_IN_FLIGHT);
    };
    raw.parse::<usize>()
        .ok()
        .filter(|n| (1..=64).contains(n))
        .ok_or_else(|| format!("WAYMARK_TIMER_IN_FLIGHT={raw}: a number from 1 to 64"))
}

/// `pages`: the campaign page queue's URL; `coupon_secret`: what coupon
/// codes are derived from (`COUPON_SECRET`); `in_flight`: contacts one
/// invocation works on at once.
pub fn build(
    sdk: &SdkConfig,
    table: &str,
    pages: &str,
    coupon_secret: Option<&str>,
    in_flight: usize,
) -> Result<Service, Error> {
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table);
    Ok(Service {
        processor: Processor::new(waymark_content::runtime_catalog(coupon_secret)?, store),
        pages: SqsPages::new(aws_sdk_sqs::Client::new(sdk), pages),
        in_flight,
    })
}

pub async fn handle(
    service: &Service,
    event: LambdaEvent<ScheduledEvent>,
) -> Result<TickReport, Error> {
    let shard = event.payload.shard;
    if let Some(shard) = shard.filter(|s| *s >= DUE_SHARDS) {
        return Err(format!("shard {shard} is not one of the {DUE_SHARDS} due shards").into());
    }
    let store = service.processor.store();
    // Leave room before the function's timeout (30 s): what is left is due
    // again at the next tick, a minute later.
    let started = std::time::Instant::now();
    let more_time = || started.elapsed() < TICK_BUDGET;
    let report = tick(
        &service.processor,
        store,
        store,
        &service.pages,
        event.payload.time,
        Scope {
            shard,
            in_flight: service.in_flight,
        },
        more_time,
    )
    .await?
    .report;
    let mut metrics = waymark_aws::metrics::Metrics::default();
    metrics.add("ContactsFired", report.contacts as f64);
    metrics.add("EmailsQueued", report.emails_queued as f64);
    metrics.add("MessagesRequeued", report.messages_requeued as f64);
    metrics.add("CampaignSends", report.campaign_sends as f64);
    metrics.add("TickFailures", report.failed as f64);
    metrics.add("TickDeferred", report.deferred as f64);
    metrics.emit("timer");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_is_1_to_64_and_16_when_unset() {
        assert_eq!(in_flight(None), Ok(CONTACTS_IN_FLIGHT));
        assert_eq!(in_flight(Some("1")), Ok(1));
        assert_eq!(in_flight(Some("64")), Ok(64));
        for bad in ["0", "65", "many", ""] {
            let e = in_flight(Some(bad)).unwrap_err();
            assert!(e.contains("from 1 to 64"), "{bad}: {e}");
        }
    }
}
