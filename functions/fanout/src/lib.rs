//! `fanout` (SQS `CampaignPages`): works the campaign pages the timer hands
//! over, many invocations side by side. Each recipient whose email can go
//! now is decided (`process`'s rules) and sent (`dispatch`'s) straight from
//! the page, while the invocation has time; every other one is recorded as
//! an event for `process` (`waymark_app::page_send`). A page that fails is
//! reported alone and delivered again; after five deliveries SQS parks it
//! in `CampaignPageFailures` (alarmed; `waymark dlq redrive --only pages`
//! moves it back).

use aws_config::SdkConfig;
use lambda_runtime::{Error, LambdaEvent};
use waymark_app::campaigns::work_page_with;
use waymark_app::page_send::Direct;
use waymark_aws::events::EventBridgePublisher;
use waymark_aws::pages::read_page;
use waymark_aws::ses::SesMailer;
use waymark_aws::store::DynamoStore;
use waymark_aws::stream::{BatchResponse, QueueBatch};

/// What sends straight from the page.
pub type Sender = Direct<DynamoStore, SesMailer, EventBridgePublisher>;

pub struct Service {
    store: DynamoStore,
    sender: Sender,
    /// Emails an invocation sends from its pages at most (its share of the
    /// SES rate for `SENDING`); `None`: no bound (tests, unpaced).
    budget: Option<u64>,
}

/// Workers side by side at most (the template's `MaximumConcurrency`):
/// each sends at this share of the account's SES rate.
const WORKERS: f64 = 10.0;

/// Built once per cold start from the environment (`process`'s and
/// `dispatch`'s: the coupon secret, the sender, the unsubscribe keys).
pub async fn init() -> Result<Service, Error> {
    let sdk = waymark_aws::config::sdk().await;
    let table = waymark_aws::config::required("TABLE_NAME")?;
    let coupons = waymark_aws::config::secret(&sdk, "COUPON_SECRET").await?;
    let processor = process_fn::build(&sdk, &table, coupons.as_deref())?;
    let (dispatcher, rate) = dispatch_fn::init_sharing(1.0 / WORKERS).await?;
    // As many as its rate sends in the time it sends: the pacing never
    // holds an email past that time, whatever is in flight.
    let budget = (rate * SENDING.as_secs_f64()).floor() as u64;
    Ok(build(
        &sdk,
        &table,
        Direct::new(processor, dispatcher),
        Some(budget),
    ))
}

/// `budget`: emails an invocation sends from its pages at most (`None`:
/// no bound).
pub fn build(sdk: &SdkConfig, table: &str, sender: Sender, budget: Option<u64>) -> Service {
    Service {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table),
        sender,
        budget,
    }
}

/// The function's timeout (the template's `Timeout`): its invocation
/// started this long before its deadline.
const TIMEOUT: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

pub async fn handle(
    service: &Service,
    event: LambdaEvent<QueueBatch>,
) -> Result<BatchResponse, Error> {
    let deadline = waymark_aws::config::deadline(&event.context);
    let now = deadline - TIMEOUT;
    // Sends from its pages for SENDING at most, and no more than its share
    // of the SES rate sends in that time (the pacing never holds an email
    // past it); what is left then is recorded for `process`, at once.
    let started = std::time::Instant::now();
    let left = std::sync::atomic::AtomicI64::new(
        service
            .budget
            .map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX)),
    );
    let more_time = || {
        started.elapsed() < SENDING && left.fetch_sub(1, std::sync::atomic::Ordering::Relaxed) > 0
    };
    // One page after another: each takes 32 recipients at once, and Lambda
    // runs invocations side by side.
    let mut response = BatchResponse::default();
    for message in &event.payload.records {
        if !work(service, message, now, deadline, &more_time).await {
            response.fail_message(message);
        }
    }
    Ok(response)
}

/// How long an invocation sends from its pages (of its 60 s).
const SENDING: std::time::Duration = std::time::Duration::from_secs(30);

/// Works one message's page; `false`: deliver it again.
async fn work(
    service: &Service,
    message: &waymark_aws::stream::QueueMessage,
    now: jiff::Timestamp,
    deadline: jiff::Timestamp,
    more_time: &(impl Fn() -> bool + Sync),
) -> bool {
    let (body, message_id) = (&message.body, &message.message_id);
    let page = match read_page(body) {
        Ok(page) => page,
        Err(error) => {
            // Never right on a later delivery either: parked after the
            // queue's last attempt, in CampaignPageFailures.
            tracing::error!(%message_id, %error, "unreadable campaign page");
            return false;
        }
    };
    match work_page_with(
        &service.store,
        &service.sender,
        &page,
        now,
        deadline,
        more_time,
    )
    .await
    {
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
