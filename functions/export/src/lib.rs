//! `export` (DynamoDB stream: counter changes and new events): puts the
//! facts to S3 through Amazon Data Firehose, for Athena (issue 15). A
//! counter's row carries its totals after each change; an event's row what
//! happened without who. A batch Firehose refuses fails whole and comes
//! again (a row may then land twice: the queries in the README take the
//! newest counter row, and events by their id).

use aws_config::SdkConfig;
use lambda_runtime::{Error, LambdaEvent};
use waymark_aws::export::{CounterRow, Firehose, counter_row, event_row};
use waymark_aws::stream::{BatchResponse, StreamBatch};
use waymark_core::analytics::export::EventRow;

pub struct Service {
    firehose: Firehose,
}

/// Built once per cold start from the environment: the delivery streams
/// `FACTS_COUNTERS_STREAM` and `FACTS_EVENTS_STREAM`.
pub async fn init() -> Result<Service, Error> {
    let sdk = waymark_aws::config::sdk().await;
    let counters = waymark_aws::config::required("FACTS_COUNTERS_STREAM")?;
    let events = waymark_aws::config::required("FACTS_EVENTS_STREAM")?;
    Ok(build(&sdk, &counters, &events))
}

pub fn build(sdk: &SdkConfig, counters: &str, events: &str) -> Service {
    Service {
        firehose: Firehose::new(aws_sdk_firehose::Client::new(sdk), counters, events),
    }
}

pub async fn handle(
    service: &Service,
    batch: LambdaEvent<StreamBatch>,
) -> Result<BatchResponse, Error> {
    let mut counters: Vec<CounterRow> = Vec::new();
    let mut events: Vec<EventRow> = Vec::new();
    for record in &batch.payload.records {
        if let Some(row) = counter_row(record) {
            counters.push(row);
            continue;
        }
        match event_row(record) {
            Ok(Some(row)) => events.push(row),
            Ok(None) => {}
            // A document this build cannot read: the batch comes again
            // (and, past its retries, goes to StreamFailures) rather than
            // a fact silently missing from the export.
            Err(e) => {
                let error = waymark_core::redact::addresses(&e);
                tracing::error!(error, "unreadable event for the export");
                return Err(error.into());
            }
        }
    }
    let f = &service.firehose;
    f.put(&f.counters, &counters).await?;
    f.put(&f.events, &events).await?;
    tracing::info!(
        counters = counters.len(),
        events = events.len(),
        "facts exported"
    );
    Ok(BatchResponse::default())
}
