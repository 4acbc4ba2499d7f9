//! `waymark dlq list|redrive`: what failed for good, and sending it through
//! again once the cause is fixed. Three places hold it:
//! - parked outbox messages (their retries spent, or refused): in the table;
//! - `StreamFailures` (SQS): where `process` and `dispatch` put the place of
//!   a stream batch they kept failing on (Lambda's on-failure record: shard
//!   and sequence numbers; the records themselves stay in the stream for 24
//!   hours, their events in the table for 7 days);
//! - `FeedbackFailures` (SQS): SES events `feedback` kept failing on (the
//!   event itself);
//! - `CampaignPageFailures` (SQS): campaign pages `fanout` kept failing on
//!   (the page itself), moved back to `CampaignPages` by a redrive.
//!
//! Redriving is safe to repeat: events are applied once per contact, a
//! queued message is sent once per claim, feedback is idempotent.

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use waymark_aws::store::DynamoStore;

#[derive(Subcommand)]
pub enum Dlq {
    /// One JSON line per failed item: parked messages, stream batches and
    /// SES events the functions gave up on (nothing is consumed).
    List {
        #[command(flatten)]
        at: Where,
    },
    /// Sends them through again: parked messages back to the queue, failed
    /// stream batches through `process` (events) and `dispatch` (queued
    /// messages), failed SES events through `feedback`, failed campaign
    /// pages back to the workers' queue. What goes through is removed from
    /// its queue; what fails again stays.
    Redrive {
        #[command(flatten)]
        at: Where,
        /// Only this kind.
        #[arg(long, value_enum)]
        only: Option<Kind>,
        /// The repository root: the journeys `process` applies events with
        /// (deploy the same content you redrive with).
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

#[derive(Args)]
pub struct Where {
    #[arg(long, env = "TABLE_NAME", default_value = "waymark")]
    table: String,
    /// The `StreamFailures` queue URL (the stack's output); found by the
    /// queue's name when left out (the local stack).
    #[arg(long, env = "STREAM_FAILURES_URL")]
    stream_queue: Option<String>,
    /// The `FeedbackFailures` queue URL (the stack's output); found by name
    /// when left out.
    #[arg(long, env = "FEEDBACK_FAILURES_URL")]
    feedback_queue: Option<String>,
    /// The `CampaignPageFailures` queue URL (the stack's output); found by
    /// name when left out.
    #[arg(long, env = "CAMPAIGN_PAGE_FAILURES_URL")]
    pages_queue: Option<String>,
    /// The `CampaignPages` queue URL, where a redriven page goes; found by
    /// name when left out.
    #[arg(long, env = "CAMPAIGN_PAGES_URL")]
    pages_target: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Parked,
    Stream,
    Feedback,
    Pages,
}

struct Ctx {
    sdk: aws_config::SdkConfig,
    store: DynamoStore,
    sqs: aws_sdk_sqs::Client,
    stream_queue: Option<String>,
    feedback_queue: Option<String>,
    pages_queue: Option<String>,
    pages_target: Option<String>,
}

async fn queue(sqs: &aws_sdk_sqs::Client, given: Option<String>, name: &str) -> Option<String> {
    if given.is_some() {
        return given;
    }
    sqs.get_queue_url()
        .queue_name(name)
        .send()
        .await
        .ok()
        .and_then(|o| o.queue_url)
}

async fn ctx(at: Where) -> Ctx {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let stream_queue = queue(&sqs, at.stream_queue, "StreamFailures").await;
    let feedback_queue = queue(&sqs, at.feedback_queue, "FeedbackFailures").await;
    let pages_queue = queue(&sqs, at.pages_queue, "CampaignPageFailures").await;
    let pages_target = queue(&sqs, at.pages_target, "CampaignPages").await;
    Ctx {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &at.table),
        sdk,
        sqs,
        stream_queue,
        feedback_queue,
        pages_queue,
        pages_target,
    }
}

/// Every message in a queue without consuming any (visibility 0).
async fn peek(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<Vec<(String, Value)>> {
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..50 {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .with_context(|| format!("reading {url}"))?;
        let mut new = 0;
        for m in out.messages.unwrap_or_default() {
            let id = m.message_id.unwrap_or_default();
            if let std::collections::btree_map::Entry::Vacant(slot) = seen.entry(id) {
                new += 1;
                let body = serde_json::from_str(m.body.as_deref().unwrap_or("null"))
                    .unwrap_or(Value::Null);
                slot.insert(body);
            }
        }
        if new == 0 {
            break;
        }
    }
    Ok(seen.into_iter().collect())
}

/// Messages taken for redriving (hidden from others for five minutes).
async fn take(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<Vec<(String, Value)>> {
    let mut taken = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .send()
            .await
            .with_context(|| format!("reading {url}"))?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(taken);
        }
        for m in messages {
            let body =
                serde_json::from_str(m.body.as_deref().unwrap_or("null")).unwrap_or(Value::Null);
            taken.push((m.receipt_handle.unwrap_or_default(), body));
        }
    }
}

/// Removes a message `take` took, once it went through again.
async fn remove(sqs: &aws_sdk_sqs::Client, url: &str, receipt: String) -> Result<()> {
    sqs.delete_message()
        .queue_url(url)
        .receipt_handle(receipt)
        .send()
        .await?;
    Ok(())
}

fn stream_line(body: &Value) -> Value {
    let b = &body["DDBStreamBatchInfo"];
    json!({
        "kind": "stream",
        "function": body["requestContext"]["functionArn"].as_str().and_then(|a| a.rsplit(':').next()),
        "condition": body["requestContext"]["condition"],
        "shard": b["shardId"],
        "from": b["startSequenceNumber"],
        "to": b["endSequenceNumber"],
        "records": b["batchSize"],
        "first_arrival": b["approximateArrivalOfFirstRecord"],
    })
}

fn page_line(body: &Value) -> Value {
    json!({
        "kind": "campaign_page",
        "shop": body["shop"],
        "campaign": body["campaign"],
        "wave": body["wave"],
        "page": body["number"],
        "members": body["sends"].as_array().map(Vec::len),
    })
}

fn feedback_line(body: &Value) -> Value {
    json!({
        "kind": "feedback",
        "event": body["detail-type"],
        "ses_message_id": body["detail"]["mail"]["messageId"],
        "shop": body["detail"]["mail"]["tags"]["waymark_shop"][0],
        "time": body["time"],
    })
}

pub async fn dlq(cmd: Dlq) -> Result<ExitCode> {
    match cmd {
        Dlq::List { at } => {
            let c = ctx(at).await;
            for (m, error) in waymark_aws::store::outbox_by_status(&c.store, "parked").await? {
                println!(
                    "{}",
                    json!({"kind": "parked", "message": m.id, "shop": m.shop.as_str(),
                           "journey": m.journey, "step": m.step, "queued_at": m.queued_at,
                           "error": error.map(|e| waymark_core::redact::addresses(&e))})
                );
            }
            if let Some(url) = &c.stream_queue {
                for (_, body) in peek(&c.sqs, url).await? {
                    println!("{}", stream_line(&body));
                }
            }
            if let Some(url) = &c.feedback_queue {
                for (_, body) in peek(&c.sqs, url).await? {
                    println!("{}", feedback_line(&body));
                }
            }
            if let Some(url) = &c.pages_queue {
                for (_, body) in peek(&c.sqs, url).await? {
                    println!("{}", page_line(&body));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Dlq::Redrive { at, only, root } => {
            let c = ctx(at).await;
            let wants = |k: Kind| only.is_none_or(|o| o == k);
            let mut failed = 0usize;
            if wants(Kind::Parked) {
                let mut n = 0;
                let now = jiff::Timestamp::now();
                for (m, _) in waymark_aws::store::outbox_by_status(&c.store, "parked").await? {
                    let key = waymark_aws::keys::outbox(&m.shop, &m.id);
                    if c.store.redrive_parked(&key, now).await? {
                        n += 1;
                    }
                }
                println!("{}", json!({"kind": "parked", "redriven": n}));
            }
            if wants(Kind::Feedback)
                && let Some(url) = &c.feedback_queue
            {
                let (n, f) = redrive_feedback(&c, url, &root).await?;
                failed += f;
                println!(
                    "{}",
                    json!({"kind": "feedback", "redriven": n, "failed": f})
                );
            }
            if wants(Kind::Stream)
                && let Some(url) = &c.stream_queue
            {
                let (n, f) = redrive_stream(&c, url, &root).await?;
                failed += f;
                println!("{}", json!({"kind": "stream", "redriven": n, "failed": f}));
            }
            if wants(Kind::Pages)
                && let (Some(url), Some(target)) = (&c.pages_queue, &c.pages_target)
            {
                let (n, f) = redrive_pages(&c, url, target).await?;
                failed += f;
                println!(
                    "{}",
                    json!({"kind": "campaign_page", "redriven": n, "failed": f})
                );
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Campaign pages back to the workers' queue (a page is worked once however
/// often it comes: its sends and its mark are idempotent). A message that
/// is not a page stays.
async fn redrive_pages(c: &Ctx, url: &str, target: &str) -> Result<(usize, usize)> {
    let (mut done, mut failed) = (0, 0);
    for (receipt, body) in take(&c.sqs, url).await? {
        if waymark_aws::pages::read_page(&body.to_string()).is_err() {
            eprintln!("not a campaign page, left in the queue: {body}");
            failed += 1;
            continue;
        }
        c.sqs
            .send_message()
            .queue_url(target)
            .message_body(body.to_string())
            .send()
            .await
            .with_context(|| format!("sending to {target}"))?;
        remove(&c.sqs, url, receipt).await?;
        done += 1;
    }
    Ok((done, failed))
}

async fn redrive_feedback(c: &Ctx, url: &str, root: &std::path::Path) -> Result<(usize, usize)> {
    let zone = crate::content::load_or_report(root)?
        .map(|cat| cat.time_zone().clone())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let service = waymark_app::feedback::FeedbackService::new(c.store.clone()).with_zone(zone);
    let (mut done, mut failed) = (0, 0);
    for (receipt, body) in take(&c.sqs, url).await? {
        match service.handle(&body).await {
            Ok(_) | Err(waymark_app::feedback::FeedbackHandlingError::Shape(_)) => {
                remove(&c.sqs, url, receipt).await?;
                done += 1;
            }
            Err(e) => {
                eprintln!(
                    "feedback event failed again: {}",
                    waymark_core::redact::addresses(&e.to_string())
                );
                failed += 1;
            }
        }
    }
    Ok((done, failed))
}

fn seq_number(v: &Value) -> Option<u128> {
    v.as_str()?.parse().ok()
}

async fn redrive_stream(c: &Ctx, url: &str, root: &std::path::Path) -> Result<(usize, usize)> {
    let Some(catalog) = crate::content::load_or_report(root)? else {
        return Err(anyhow!(
            "the content under {} does not load",
            root.display()
        ));
    };
    let catalog = match waymark_aws::config::secret(&c.sdk, "COUPON_SECRET").await? {
        Some(secret) => catalog.with_coupon_secret(secret.as_bytes()),
        None => catalog,
    };
    let processor = waymark_app::process::Processor::new(catalog, c.store.clone());
    let streams = aws_sdk_dynamodbstreams::Client::new(&c.sdk);
    let (mut done, mut failed) = (0, 0);
    for (receipt, body) in take(&c.sqs, url).await? {
        // The export's batches: their facts are in the table and its
        // counters; replaying them here would not put them to S3.
        let function = body["requestContext"]["functionArn"]
            .as_str()
            .and_then(|a| a.rsplit(':').next())
            .unwrap_or_default();
        // `export` locally; `<stack>-ExportFunction-<suffix>` on AWS.
        if function == "export" || function.contains("-ExportFunction-") {
            eprintln!(
                "an export batch ({function}): left in the queue; those facts are missing from S3 but not from the table or the report"
            );
            failed += 1;
            continue;
        }
        let b = &body["DDBStreamBatchInfo"];
        let (Some(arn), Some(shard), Some(from), Some(to)) = (
            b["streamArn"].as_str(),
            b["shardId"].as_str(),
            seq_number(&b["startSequenceNumber"]),
            seq_number(&b["endSequenceNumber"]),
        ) else {
            eprintln!("not a stream failure record: {body}");
            failed += 1;
            continue;
        };
        match replay(c, &processor, &streams, arn, shard, from, to).await {
            Ok(records) => {
                remove(&c.sqs, url, receipt).await?;
                done += 1;
                eprintln!("stream batch {shard} {from}…{to}: {records} record(s) through again");
            }
            Err(e) => {
                eprintln!(
                    "stream batch {shard} {from}…{to} failed again (the stream keeps records 24 hours): {e:#}"
                );
                failed += 1;
            }
        }
    }
    Ok((done, failed))
}

/// Reads the records `from..=to` of `shard` and sends each through what
/// its function would have done.
async fn replay(
    c: &Ctx,
    processor: &waymark_app::process::Processor<DynamoStore>,
    streams: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
    shard: &str,
    from: u128,
    to: u128,
) -> Result<usize> {
    let mut iterator = streams
        .get_shard_iterator()
        .stream_arn(arn)
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::AtSequenceNumber)
        .sequence_number(from.to_string())
        .send()
        .await?
        .shard_iterator;
    let mut replayed = 0;
    let now = jiff::Timestamp::now();
    for _ in 0..100 {
        let Some(it) = iterator.take() else { break };
        let out = streams.get_records().shard_iterator(it).send().await?;
        let records = out.records.unwrap_or_default();
        if records.is_empty() {
            break;
        }
        for r in &records {
            let record = waymark_local::runner::lambda_record(r, arn);
            let Some(seq) = seq_number(&record["dynamodb"]["SequenceNumber"]) else {
                continue;
            };
            if seq > to {
                return Ok(replayed);
            }
            let image = &record["dynamodb"]["NewImage"];
            let text = |k: &str| image[k]["S"].as_str();
            match (record["eventName"].as_str(), text("t"), text("st")) {
                (Some("INSERT"), Some("event"), _) => {
                    let event: waymark_core::event::Event =
                        waymark_aws::stream::image_doc(&image["doc"])
                            .map_err(|e| anyhow!("an event item's doc: {e}"))?;
                    processor
                        .handle_event(&event)
                        .await
                        .map_err(|e| anyhow!("event {}: {e}", event.id))?;
                    replayed += 1;
                }
                (_, Some("outbox"), Some("queued")) => {
                    if let Some(pk) = text("PK") {
                        c.store.touch_queued(pk, now).await?;
                        replayed += 1;
                    }
                }
                _ => {}
            }
        }
        iterator = out.next_shard_iterator;
    }
    Ok(replayed)
}
