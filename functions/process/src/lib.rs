//! `process` (DynamoDB stream, new events and counted writes): each
//! canonical event updates its contact and runs the journeys. Records of
//! one shard arrive in order; the first failure stops the batch so nothing
//! is applied out of order. The counts the batch's writes carry (a commit's
//! contact item, an email's sent mark, a fact's receipt) are added to the
//! results counters, each record once (`waymark_aws::store::tally`: the
//! mapping's tumbling window names the shard).

use aws_config::SdkConfig;
use lambda_runtime::{Error, LambdaEvent};
use waymark_app::process::{ProcessError, Processor};
use waymark_aws::store::{DynamoStore, StreamCounts, stream_counts};
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
    let mut response = BatchResponse::windowed();
    let mut metrics = waymark_aws::metrics::Metrics::default();
    let records = &batch.payload.records;
    // The counts the batch's writes carry.
    let mut batch_counts: Vec<StreamCounts> = Vec::new();
    for record in records {
        match stream_counts(record) {
            Ok(Some(c)) => batch_counts.push(c),
            Ok(None) => {}
            // Encoded by another build: logged and left out, never a shard
            // stalled on it.
            Err(e) => {
                metrics.add("CountsUnreadable", 1.0);
                tracing::error!(error = %e, "counts this build cannot read; not counted");
            }
        }
    }
    // Counted first, and the whole batch: counting needs nothing from the
    // events, so a batch that fails later (an event, a timeout, a crash)
    // has been counted, and what comes again adds nothing twice.
    if !batch_counts.is_empty() {
        let added = match batch.payload.shard_id.as_deref() {
            Some(shard) => {
                service
                    .store()
                    .add_stream_counts(shard, &batch_counts)
                    .await
            }
            None => Err(waymark_app::ports::StoreError::new(
                waymark_app::ports::StoreErrorKind::Rejected,
                "add counts",
                "counted writes came without their stream shard: the mapping needs its tumbling window",
            )),
        };
        match added {
            Ok(added) => {
                metrics.add(
                    "FactsCounted",
                    batch_counts.iter().map(StreamCounts::facts).sum::<i64>() as f64,
                );
                metrics.add("CounterWrites", added.items as f64);
                if added.repeated > 0 {
                    tracing::info!(
                        repeated = added.repeated,
                        "records counted before; not again"
                    );
                }
            }
            // A passing failure: the whole batch comes again (its events
            // are not applied twice). Anything else would fail every time:
            // logged and left, never a reason to hold the journeys up.
            Err(e) if e.is_retryable() => {
                metrics.add("CountErrors", 1.0);
                metrics.emit("process");
                tracing::error!(error = %e, "counting failed; the batch comes again");
                if let Some(first) = records.first() {
                    response.fail(first);
                }
                return Ok(response);
            }
            Err(e) => {
                metrics.add("CountErrors", 1.0);
                tracing::error!(error = %e, "counting failed for good; this batch's counts are missing");
            }
        }
    }
    for record in records {
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
