//! `process` (DynamoDB stream, new events and counted writes): each
//! canonical event updates its contact and runs the journeys. Records of
//! one shard arrive in order; the first failure stops the batch so nothing
//! is applied out of order. The counts the batch's writes carry (a commit's
//! contact item, an email's sent mark, a fact's receipt) are gathered over
//! the mapping's tumbling window (carried in its state) and added to the
//! results counters when it closes, one write per counter item, each record
//! once (`waymark_aws::store::tally`: the window names the shard).

use aws_config::SdkConfig;
use lambda_runtime::{Error, LambdaEvent};
use waymark_app::ports::StoreError;
use waymark_app::process::{ProcessError, Processor};
use waymark_aws::store::{DynamoStore, PendingCounts, StreamCounts, stream_counts};
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
    let batch = batch.payload;
    let records = &batch.records;
    // What the window took in before this batch; handed back unchanged
    // when adding fails, so the batch comes again with it.
    let carried = match PendingCounts::from_state(batch.state.as_ref()) {
        Ok(p) => p,
        Err(e) => {
            metrics.add("CountsUnreadable", 1.0);
            tracing::error!(error = %e, "a window state this build cannot read; its counts are missing");
            PendingCounts::default()
        }
    };
    let mut pending = carried.clone();
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
    pending.take_in(batch_counts);
    // Serialised once: its size decides, and it is the answer's state
    // unless the counts are added (then nothing is carried).
    let state = pending.to_state();
    let shard = batch.shard_id.as_deref();
    // The window's counts are added when it closes, or before its state
    // grows too big: one write per counter item for the whole window. A
    // batch that names no shard comes from a mapping without a window,
    // which carries nothing: its counts cannot be added (logged at once).
    if (batch.final_for_window
        || shard.is_none()
        || PendingCounts::size(&state) > PendingCounts::FULL)
        && let Err(e) = add(
            service,
            shard,
            &mut pending,
            &mut metrics,
            batch.final_for_window,
        )
        .await
    {
        return again(records, carried, batch.final_for_window, e, metrics);
    }
    let mut failed = false;
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
                failed = true;
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
                failed = true;
                break;
            }
        }
    }
    // A batch that fails is counted before it answers: whatever Lambda
    // then carries (this answer's state or the one before), the records
    // before the failure, which do not come again, have been added, and a
    // batch that ends in StreamFailures has been counted (when adding
    // passed; if not, the whole batch comes again, below).
    if failed
        && !pending.is_empty()
        && let Err(e) = add(service, shard, &mut pending, &mut metrics, false).await
    {
        return again(records, carried, batch.final_for_window, e, metrics);
    }
    response.state = Some(if pending.is_empty() {
        Default::default()
    } else {
        state
    });
    metrics.emit("process");
    Ok(response)
}

/// Pauses before the window's last invocation tries again in place: what
/// it holds is the whole window's counts, and Lambda repeats a failed last
/// invocation only up to the mapping's retries (about 8 s of the 30 s).
const LAST_TRIES: [u64; 4] = [500, 1_000, 2_000, 4_000];

/// Adds what the window holds to the counters, and empties it. A failure
/// that cannot pass (access, validation) would fail every time: logged,
/// its counts missing, never a reason to hold the journeys up. The
/// window's last invocation (`last`) tries a passing failure again in
/// place a few times before it fails.
async fn add(
    service: &Service,
    shard: Option<&str>,
    pending: &mut PendingCounts,
    metrics: &mut waymark_aws::metrics::Metrics,
    last: bool,
) -> Result<(), StoreError> {
    if pending.is_empty() {
        return Ok(());
    }
    let Some(shard) = shard else {
        metrics.add("CountErrors", 1.0);
        tracing::error!(
            "counted writes came without their stream shard (the mapping needs its tumbling window); these counts are missing"
        );
        pending.clear();
        return Ok(());
    };
    let pauses = if last { &LAST_TRIES[..] } else { &[] };
    let mut added = service
        .store()
        .add_stream_counts(shard, pending.records())
        .await;
    for pause in pauses {
        match &added {
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, "counting failed; the window's last invocation tries again");
                tokio::time::sleep(std::time::Duration::from_millis(*pause)).await;
                added = service
                    .store()
                    .add_stream_counts(shard, pending.records())
                    .await;
            }
            _ => break,
        }
    }
    match added {
        Ok(added) => {
            metrics.add("FactsCounted", pending.facts() as f64);
            metrics.add("CounterWrites", added.items as f64);
            if added.repeated > 0 {
                tracing::info!(
                    repeated = added.repeated,
                    "records counted before; not again"
                );
            }
        }
        Err(e) if e.is_retryable() => {
            metrics.add("CountErrors", 1.0);
            return Err(e);
        }
        Err(e) => {
            metrics.add("CountErrors", 1.0);
            tracing::error!(error = %e, "counting failed for good; these counts are missing");
        }
    }
    pending.clear();
    Ok(())
}

/// The answer when adding the counts failed in passing: the whole batch
/// comes again with the state it came with (its events already applied
/// are recognised by their ids and skip). The window's last invocation
/// fails instead, which Lambda repeats up to the mapping's retries.
fn again(
    records: &[waymark_aws::stream::StreamRecord],
    carried: PendingCounts,
    last: bool,
    e: StoreError,
    metrics: waymark_aws::metrics::Metrics,
) -> Result<BatchResponse, Error> {
    metrics.emit("process");
    tracing::error!(error = %e, "counting failed; the batch comes again");
    let Some(first) = records.first().filter(|_| !last) else {
        return Err(Box::new(e));
    };
    let mut response = BatchResponse::windowed();
    response.fail(first);
    response.state = Some(carried.to_state());
    Ok(response)
}
