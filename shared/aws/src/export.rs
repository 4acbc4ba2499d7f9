//! The facts' way to S3 (issue 15's export, for Athena): rows built from
//! the table's stream records and put to Amazon Data Firehose, which
//! batches them into S3 objects by day. Two rows: a counter's totals each
//! time it changes (`counters`), and what happened, without who
//! (`events`: `waymark_core::analytics::export`).

use crate::keys;
use crate::store::sdk_error;
use crate::stream::StreamRecord;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use serde::Serialize;
use std::collections::BTreeMap;
use waymark_app::ports::{StoreError, StoreErrorKind};
use waymark_core::event::Event;

/// One row of the counters table: a counter's totals after a change. The
/// newest row of a (shop, day, shard, journey, version, step) holds its
/// totals (`seq` orders the rows of one counter).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CounterRow {
    pub shop: String,
    pub day: String,
    pub shard: u32,
    pub journey: String,
    pub version: u32,
    pub step: String,
    pub counts: BTreeMap<String, i64>,
    /// The change's stream sequence number, zero-padded to 40 digits, so
    /// that text order is number order.
    pub seq: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// A counter item's row; `None` for any other item.
pub fn counter_row(record: &StreamRecord) -> Option<CounterRow> {
    if record.string(keys::TYPE) != Some("counter") {
        return None;
    }
    let (shop, day, shard) = keys::parse_counter(record.string(keys::PK)?)?;
    let mut parts = record.string(keys::SK)?.splitn(3, '#');
    let journey = parts.next()?.to_string();
    let version = parts.next()?.parse().ok()?;
    let step = parts.next()?.to_string();
    let counts = record
        .dynamodb
        .new_image
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), keys::PK | keys::SK | keys::TYPE | keys::TTL))
        .filter(|(name, _)| !name.starts_with(crate::store::MARK_PREFIX))
        .filter_map(|(name, v)| Some((name.clone(), v.get("N")?.as_str()?.parse().ok()?)))
        .collect();
    let at = record
        .dynamodb
        .approximate_creation
        .and_then(|s| jiff::Timestamp::from_second(s as i64).ok())
        .map(|t| t.to_string());
    Some(CounterRow {
        shop: shop.to_string(),
        day: day.to_string(),
        shard,
        journey,
        version,
        step,
        counts,
        seq: format!("{:0>40}", record.dynamodb.sequence_number),
        at,
    })
}

/// An inserted event's row (`Ok(None)`: not an event insert, or nothing to
/// export); an error for a document this build cannot read.
pub fn event_row(
    record: &StreamRecord,
) -> Result<Option<waymark_core::analytics::export::EventRow>, String> {
    if record.event_name != "INSERT" || record.string(keys::TYPE) != Some("event") {
        return Ok(None);
    }
    let event: Event = record.doc()?;
    Ok(waymark_core::analytics::export::event_row(&event))
}

/// The two Firehose streams the rows go to.
pub struct Firehose {
    client: aws_sdk_firehose::Client,
    pub counters: String,
    pub events: String,
}

/// Firehose takes at most 500 records and 4 MiB a call.
const MAX_RECORDS: usize = 500;
const MAX_BYTES: usize = 4 * 1024 * 1024;

impl Firehose {
    pub fn new(
        client: aws_sdk_firehose::Client,
        counters: impl Into<String>,
        events: impl Into<String>,
    ) -> Self {
        Self {
            client,
            counters: counters.into(),
            events: events.into(),
        }
    }

    /// Puts `rows` (one JSON line each) to `stream`; the records Firehose
    /// refuses are put again (three tries, backing off), then it is an
    /// error: the whole batch comes again, so a row may land twice.
    pub async fn put<T: Serialize>(&self, stream: &str, rows: &[T]) -> Result<(), StoreError> {
        let mut lines = Vec::with_capacity(rows.len());
        for row in rows {
            let mut line = serde_json::to_vec(row).map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Corrupt,
                    "serialise export row",
                    e.to_string(),
                )
            })?;
            line.push(b'\n');
            lines.push(line);
        }
        let mut start = 0;
        while start < lines.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < lines.len()
                && end - start < MAX_RECORDS
                && bytes + lines[end].len() <= MAX_BYTES
            {
                bytes += lines[end].len();
                end += 1;
            }
            self.put_chunk(stream, &lines[start..end.max(start + 1)])
                .await?;
            start = end.max(start + 1);
        }
        Ok(())
    }

    async fn put_chunk(&self, stream: &str, lines: &[Vec<u8>]) -> Result<(), StoreError> {
        let mut pending: Vec<&Vec<u8>> = lines.iter().collect();
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
            }
            let records = pending
                .iter()
                .map(|l| Record::builder().data(Blob::new(l.as_slice())).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    StoreError::new(
                        StoreErrorKind::Rejected,
                        "build export record",
                        e.to_string(),
                    )
                })?;
            let out = self
                .client
                .put_record_batch()
                .delivery_stream_name(stream)
                .set_records(Some(records))
                .send()
                .await
                .map_err(|e| sdk_error("export to firehose", e))?;
            if out.failed_put_count() == 0 {
                return Ok(());
            }
            // The answers are in the records' order; keep the refused ones.
            pending = pending
                .into_iter()
                .zip(out.request_responses())
                .filter(|(_, r)| r.error_code().is_some())
                .map(|(l, _)| l)
                .collect();
        }
        Err(StoreError::new(
            StoreErrorKind::Throttled,
            "export to firehose",
            format!("{} record(s) refused three times", pending.len()),
        ))
    }
}
