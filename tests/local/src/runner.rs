//! Plays the template's event sources locally: reads the table's stream and
//! hands each function the records its filter selects, in order, in Lambda's
//! event shape; invokes scheduled functions on `tick`. What serves the
//! functions is behind `Invoker`: `cargo lambda watch` over HTTP for the dev
//! stack, or the function crates in-process for tests.

use crate::filter;
use crate::template::{Function, Source, Template};
use anyhow::{Result, anyhow};
use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

/// Invokes a function by its binary name with a JSON payload.
pub trait Invoker: Send + Sync {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        payload: Value,
    ) -> Pin<Box<dyn Future<Output = Result<Value>> + Send + 'a>>;
}

/// `cargo lambda watch`'s Lambda Invoke API.
pub struct HttpInvoker {
    pub base: String,
    pub client: reqwest::Client,
}

impl Invoker for HttpInvoker {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        payload: Value,
    ) -> Pin<Box<dyn Future<Output = Result<Value>> + Send + 'a>> {
        Box::pin(async move {
            let url = format!("{}/2015-03-31/functions/{function}/invocations", self.base);
            let resp = self.client.post(&url).json(&payload).send().await?;
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if !status.is_success() || body.get("errorType").is_some() {
                return Err(anyhow!("{function} failed ({status}): {body}"));
            }
            Ok(body)
        })
    }
}

struct Subscription {
    function: String,
    patterns: Vec<Value>,
    batch_size: usize,
}

pub struct Runner<I> {
    streams: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// Shard id → sequence number of the last record delivered. A fresh
    /// iterator is taken after it on every poll: moto replaces a table's
    /// stream objects when it rolls back a cancelled transaction, which
    /// strands long-lived iterators.
    positions: BTreeMap<String, Option<String>>,
    subscriptions: Vec<Subscription>,
    /// Scheduled functions: binary, period, and the logical time of the
    /// last invocation.
    scheduled: Vec<(String, jiff::SignedDuration, Option<jiff::Timestamp>)>,
    invoker: I,
}

/// The period of a schedule expression: `rate(N unit)`; a `cron(...)`
/// expression is played once a day.
pub fn period(expression: &str) -> jiff::SignedDuration {
    let minute = jiff::SignedDuration::from_mins(1);
    let Some(inner) = expression
        .trim()
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(')'))
    else {
        return jiff::SignedDuration::from_hours(24);
    };
    let mut parts = inner.split_whitespace();
    let n: i64 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let unit = match parts.next().unwrap_or("minute").trim_end_matches('s') {
        "hour" => jiff::SignedDuration::from_hours(1),
        "day" => jiff::SignedDuration::from_hours(24),
        _ => minute,
    };
    unit * n as i32
}

/// What a tick did, as the runner saw it.
#[derive(Debug, Default, serde::Serialize)]
pub struct TickSummary {
    pub now: String,
    pub timer: Vec<Value>,
    pub records_delivered: usize,
}

impl<I: Invoker> Runner<I> {
    /// Wires the template's stream and schedule sources for the table whose
    /// stream is `stream_arn`.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        template: &Template,
        stream_arn: String,
        invoker: I,
    ) -> Result<Self> {
        let functions: Vec<Function> = template.functions()?;
        let mut subscriptions = Vec::new();
        let mut scheduled = Vec::new();
        for f in functions {
            for s in f.sources {
                match s {
                    Source::Stream {
                        patterns,
                        batch_size,
                        ..
                    } => subscriptions.push(Subscription {
                        function: f.binary.clone(),
                        patterns,
                        batch_size,
                    }),
                    Source::Schedule { expression } => {
                        scheduled.push((f.binary.clone(), period(&expression), None))
                    }
                }
            }
        }
        Ok(Self {
            streams: aws_sdk_dynamodbstreams::Client::new(sdk),
            stream_arn,
            positions: BTreeMap::new(),
            subscriptions,
            scheduled,
            invoker,
        })
    }

    /// What serves the functions (tests swap functions in and out).
    pub fn invoker_mut(&mut self) -> &mut I {
        &mut self.invoker
    }

    /// Reads what the stream holds now (every shard, in order).
    async fn poll(&mut self) -> Result<Vec<Value>> {
        let desc = self
            .streams
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await?;
        let mut records = Vec::new();
        for shard in desc
            .stream_description
            .and_then(|d| d.shards)
            .unwrap_or_default()
        {
            let Some(id) = shard.shard_id else { continue };
            let position = self.positions.entry(id.clone()).or_default();
            let request = self
                .streams
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(&id);
            let request = match position.as_deref() {
                Some(seq) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(seq),
                None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let Some(iterator) = request.send().await?.shard_iterator else {
                continue;
            };
            let out = self
                .streams
                .get_records()
                .shard_iterator(iterator)
                .send()
                .await?;
            for r in out.records.unwrap_or_default() {
                if let Some(seq) = r.dynamodb.as_ref().and_then(|d| d.sequence_number.clone()) {
                    *position = Some(seq);
                }
                records.push(lambda_record(&r, &self.stream_arn));
            }
        }
        Ok(records)
    }

    /// Delivers stream records until the stream is quiet: every effect of
    /// what happened so far (processing, dispatch, their writes) has run.
    pub async fn drain(&mut self) -> Result<usize> {
        let mut delivered = 0;
        loop {
            let records = self.poll().await?;
            if records.is_empty() {
                return Ok(delivered);
            }
            delivered += records.len();
            for sub in &self.subscriptions {
                let selected: Vec<&Value> = records
                    .iter()
                    .filter(|r| {
                        sub.patterns.is_empty()
                            || sub.patterns.iter().any(|p| filter::matches(p, r))
                    })
                    .collect();
                for chunk in selected.chunks(sub.batch_size.max(1)) {
                    deliver(&self.invoker, &sub.function, chunk).await?;
                }
            }
        }
    }

    /// Does what the schedules do at `now` (each scheduled function whose
    /// period has passed since its last invocation, in logical time), then
    /// waits for everything it caused.
    pub async fn tick(&mut self, now: jiff::Timestamp) -> Result<TickSummary> {
        let mut summary = TickSummary {
            now: now.to_string(),
            ..Default::default()
        };
        summary.records_delivered += self.drain().await?;
        let mut due = Vec::new();
        for (f, every, last) in &mut self.scheduled {
            // A tick is the every-minute schedule firing: those always run.
            let minutely = *every <= jiff::SignedDuration::from_mins(1);
            if minutely || last.is_none_or(|l| now.duration_since(l) >= *every) {
                *last = Some(now);
                due.push(f.clone());
            }
        }
        for f in due {
            let payload = json!({
                "version": "0",
                "id": format!("local-tick-{}", now.as_millisecond()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "000000000000",
                "time": now.to_string(),
                "region": "us-east-1",
                "resources": [],
                "detail": {}
            });
            summary.timer.push(self.invoker.invoke(&f, payload).await?);
        }
        summary.records_delivered += self.drain().await?;
        Ok(summary)
    }
}

/// Invokes `function` with `records`, retrying from the first reported
/// failure as Lambda does; gives up loudly after a few attempts.
async fn deliver<I: Invoker>(invoker: &I, function: &str, records: &[&Value]) -> Result<()> {
    let mut pending: Vec<&Value> = records.to_vec();
    for _attempt in 0..3 {
        let response = invoker
            .invoke(function, json!({ "Records": pending }))
            .await?;
        let failed: Vec<&str> = response["batchItemFailures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["itemIdentifier"].as_str())
            .collect();
        let Some(first) = failed.iter().min() else {
            return Ok(());
        };
        let from = pending
            .iter()
            .position(|r| r["dynamodb"]["SequenceNumber"].as_str() == Some(first))
            .unwrap_or(0);
        pending = pending.split_off(from);
    }
    Err(anyhow!(
        "{function} kept failing on {} record(s); see its log",
        pending.len()
    ))
}

/// A stream record in the shape Lambda delivers it.
fn lambda_record(r: &aws_sdk_dynamodbstreams::types::Record, arn: &str) -> Value {
    let change = r.dynamodb.as_ref();
    let image = |m: Option<&std::collections::HashMap<String, AttributeValue>>| -> Value {
        m.map(|m| Value::Object(m.iter().map(|(k, v)| (k.clone(), attribute(v))).collect()))
            .unwrap_or(Value::Null)
    };
    let mut dynamodb = Map::new();
    dynamodb.insert("Keys".into(), image(change.and_then(|c| c.keys.as_ref())));
    if let Some(img) = change.and_then(|c| c.new_image.as_ref()) {
        dynamodb.insert("NewImage".into(), image(Some(img)));
    }
    dynamodb.insert(
        "SequenceNumber".into(),
        json!(change.and_then(|c| c.sequence_number.clone())),
    );
    dynamodb.insert("StreamViewType".into(), json!("NEW_IMAGE"));
    json!({
        "eventID": r.event_id,
        "eventName": r.event_name.as_ref().map(|e| e.as_str().to_string()),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": r.aws_region,
        "eventSourceARN": arn,
        "dynamodb": Value::Object(dynamodb),
    })
}

/// DynamoDB JSON for one attribute value.
fn attribute(v: &AttributeValue) -> Value {
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| {
        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
    };
    match v {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::B(b) => json!({"B": b64(b)}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(_) => json!({"NULL": true}),
        AttributeValue::Ss(v) => json!({"SS": v}),
        AttributeValue::Ns(v) => json!({"NS": v}),
        AttributeValue::Bs(v) => json!({"BS": v.iter().map(b64).collect::<Vec<_>>()}),
        AttributeValue::L(l) => json!({"L": l.iter().map(attribute).collect::<Vec<_>>()}),
        AttributeValue::M(m) => {
            json!({"M": m.iter().map(|(k, v)| (k.clone(), attribute(v))).collect::<Map<_, _>>()})
        }
        _ => Value::Null,
    }
}
