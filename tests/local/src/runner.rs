//! Plays the template's event sources locally: reads the table's stream and
//! hands each function the records its filter selects, in order, in Lambda's
//! event shape; hands each SQS-fed function its queue's messages; invokes
//! scheduled functions on `tick`. What serves the
//! functions is behind `Invoker`: `cargo lambda watch` over HTTP for the dev
//! stack, or the function crates in-process for tests.

use crate::filter;
use crate::template::{Function, Source, Template};
use anyhow::{Context, Result, anyhow};
use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
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
    /// Batches name their shard and carry window fields (a tumbling
    /// window); each holds one shard's records.
    windowed: bool,
}

/// A function an SQS queue feeds.
struct QueueSubscription {
    function: String,
    /// The queue's logical id, and its URL once found.
    queue: String,
    url: Option<String>,
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
    /// Sequence number → shard, for the records a windowed batch or a
    /// failure names.
    shards: HashMap<String, String>,
    /// The open tumbling windows: (function, shard) → the state its last
    /// batch answered. A window closes when the stream is quiet.
    windows: BTreeMap<(String, Option<String>), Value>,
    /// Windows stay open when the stream is quiet, until
    /// [`Runner::close_windows`] (a bench's longer window).
    hold_windows: bool,
    /// Where records a function keeps failing on go (the template's
    /// `StreamFailures`), when the local stack plays it.
    on_failure: Option<(aws_sdk_sqs::Client, String)>,
    subscriptions: Vec<Subscription>,
    queues: Vec<QueueSubscription>,
    /// Queue logical id → local name (the id when absent).
    queue_names: HashMap<String, String>,
    sqs: aws_sdk_sqs::Client,
    scheduled: Vec<Scheduled>,
    invoker: I,
}

/// A scheduled invocation of a function, as the template sets it.
struct Scheduled {
    function: String,
    schedule: Schedule,
    /// EventBridge Scheduler's input; none: a rule's Scheduled Event.
    input: Option<String>,
    /// The logical time of the last invocation.
    last: Option<jiff::Timestamp>,
}

impl Scheduled {
    /// What the function receives at `now`, as the platform sends it.
    fn payload(&self, now: jiff::Timestamp) -> Result<Value> {
        let Some(input) = &self.input else {
            return Ok(json!({
                "version": "0",
                "id": format!("local-tick-{}", now.as_millisecond()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "000000000000",
                "time": now.to_string(),
                "region": "us-east-1",
                "resources": [],
                "detail": {}
            }));
        };
        let input = input.replace("<aws.scheduler.scheduled-time>", &now.to_string());
        serde_json::from_str(&input)
            .with_context(|| format!("{}: schedule input is not JSON: {input}", self.function))
    }
}

/// A schedule expression as the runner plays it in logical time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// `rate(N unit)`: due when the period has passed since the last run
    /// (every tick for a minute or less: a tick is the minute schedule).
    Every(jiff::SignedDuration),
    /// `cron(M H * * ? *)`: daily at H:M UTC; due when a tick passes it.
    DailyAt(jiff::civil::Time),
}

impl Schedule {
    pub fn parse(expression: &str) -> Self {
        let e = expression.trim();
        if let Some(inner) = e.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
            let mut parts = inner.split_whitespace();
            let minute: i8 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
            let hour: i8 = parts.next().and_then(|h| h.parse().ok()).unwrap_or(0);
            return Self::DailyAt(jiff::civil::Time::constant(
                hour.clamp(0, 23),
                minute.clamp(0, 59),
                0,
                0,
            ));
        }
        let inner = e
            .strip_prefix("rate(")
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or("1 minute");
        let mut parts = inner.split_whitespace();
        let n: i32 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1);
        let unit = match parts.next().unwrap_or("minute").trim_end_matches('s') {
            "hour" => jiff::SignedDuration::from_hours(1),
            "day" => jiff::SignedDuration::from_hours(24),
            _ => jiff::SignedDuration::from_mins(1),
        };
        Self::Every(unit * n)
    }

    /// Whether a tick at `now` fires it, given its last run.
    pub fn due(self, last: Option<jiff::Timestamp>, now: jiff::Timestamp) -> bool {
        let Some(last) = last else {
            return true;
        };
        match self {
            Self::Every(every) => {
                every <= jiff::SignedDuration::from_mins(1) || now.duration_since(last) >= every
            }
            Self::DailyAt(time) => {
                // The first H:M after the last run; due once the tick reaches it.
                let utc = jiff::tz::TimeZone::UTC;
                let day = last.to_zoned(utc.clone()).date();
                let today = day
                    .to_datetime(time)
                    .to_zoned(utc.clone())
                    .map(|z| z.timestamp());
                let next = match today {
                    Ok(t) if t > last => Some(t),
                    _ => day
                        .tomorrow()
                        .ok()
                        .and_then(|d| d.to_datetime(time).to_zoned(utc).ok())
                        .map(|z| z.timestamp()),
                };
                next.is_some_and(|t| now >= t)
            }
        }
    }
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
        let mut queues = Vec::new();
        let mut scheduled = Vec::new();
        for f in functions {
            for s in f.sources {
                match s {
                    Source::Stream {
                        patterns,
                        batch_size,
                        windowed,
                        ..
                    } => subscriptions.push(Subscription {
                        function: f.binary.clone(),
                        patterns,
                        batch_size,
                        windowed,
                    }),
                    Source::Queue { queue, batch_size } => queues.push(QueueSubscription {
                        function: f.binary.clone(),
                        queue,
                        url: None,
                        batch_size,
                    }),
                    Source::Schedule { expression, input } => scheduled.push(Scheduled {
                        function: f.binary.clone(),
                        schedule: Schedule::parse(&expression),
                        input,
                        last: None,
                    }),
                }
            }
        }
        Ok(Self {
            streams: aws_sdk_dynamodbstreams::Client::new(sdk),
            stream_arn,
            shards: HashMap::new(),
            windows: BTreeMap::new(),
            hold_windows: false,
            on_failure: None,
            positions: BTreeMap::new(),
            subscriptions,
            queues,
            queue_names: HashMap::new(),
            sqs: aws_sdk_sqs::Client::new(sdk),
            scheduled,
            invoker,
        })
    }

    /// The local names of the template's queues (`resources::Names`).
    pub fn name_queues(&mut self, names: &HashMap<String, String>) {
        self.queue_names = names.clone();
        for q in &mut self.queues {
            q.url = None;
        }
    }

    /// What serves the functions (tests swap functions in and out).
    pub fn invoker_mut(&mut self) -> &mut I {
        &mut self.invoker
    }

    /// Sends what a function keeps failing on to `queue_url` (the template's
    /// on-failure destination, `StreamFailures`) and goes on, as Lambda
    /// does; without one, a failure stops the runner loudly (tests).
    pub fn send_failures_to(&mut self, sqs: aws_sdk_sqs::Client, queue_url: String) {
        self.on_failure = Some((sqs, queue_url));
    }

    /// Reads what the stream holds now (every shard, in order).
    async fn poll(&mut self) -> Result<Vec<Value>> {
        // Bounded, between polls only: a record's shard is needed while it
        // is delivered (a windowed batch names it) and when it fails.
        if self.shards.len() > 100_000 {
            self.shards.clear();
        }
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
                    *position = Some(seq.clone());
                    self.shards.insert(seq, id.clone());
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
            if records.is_empty() && !self.windows.is_empty() && !self.hold_windows {
                // Quiet: the open windows close (their last invocation
                // settles what they carried), and what that wrote is read.
                self.close_windows().await?;
                continue;
            }
            if records.is_empty() {
                // The queues' work writes to the table: back to the stream
                // after it, until both are quiet.
                let messages = self.drain_queues().await?;
                if messages == 0 {
                    return Ok(delivered);
                }
                delivered += messages;
                continue;
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
                // A windowed mapping's batches hold one shard's records and
                // name it, as Lambda's do.
                let mut by_shard: Vec<(Option<String>, Vec<&Value>)> = Vec::new();
                for r in selected {
                    let shard = sub
                        .windowed
                        .then(|| {
                            r["dynamodb"]["SequenceNumber"]
                                .as_str()
                                .and_then(|seq| self.shards.get(seq).cloned())
                        })
                        .flatten();
                    match by_shard.last_mut() {
                        Some((s, records)) if *s == shard => records.push(r),
                        _ => by_shard.push((shard, vec![r])),
                    }
                }
                for (shard, records) in by_shard {
                    let key = (sub.function.clone(), shard.clone());
                    for chunk in records.chunks(sub.batch_size.max(1)) {
                        let window = sub.windowed.then(|| {
                            let state = self.windows.get(&key).cloned().unwrap_or(json!({}));
                            window_fields(shard.as_deref(), state, false)
                        });
                        let (state, outcome) =
                            deliver(&self.invoker, &sub.function, chunk, window.as_ref()).await?;
                        if let Some(state) = state {
                            self.windows.insert(key.clone(), state);
                        }
                        if let Err(failed) = outcome {
                            self.failed(&sub.function, &failed).await?;
                        }
                    }
                }
            }
        }
    }

    /// Keeps tumbling windows open across quiet spells (`true`) until
    /// [`Runner::close_windows`], as a window of minutes does in a store
    /// whose events come seconds apart; by default they close whenever the
    /// stream is quiet.
    pub fn hold_windows(&mut self, hold: bool) {
        self.hold_windows = hold;
    }

    /// Closes every open window: its last invocation (no records, the
    /// state carried), repeated while it fails, as Lambda does; a few
    /// failures in a row stop the runner loudly. What that writes is read
    /// at the next drain.
    pub async fn close_windows(&mut self) -> Result<()> {
        for ((function, shard), state) in std::mem::take(&mut self.windows) {
            let window = window_fields(shard.as_deref(), state, true);
            let (_, outcome) = deliver(&self.invoker, &function, &[], Some(&window)).await?;
            if outcome.is_err() {
                return Err(anyhow!(
                    "{function} kept failing on the last invocation of a window; see its log"
                ));
            }
        }
        Ok(())
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
        for s in &mut self.scheduled {
            if s.schedule.due(s.last, now) {
                s.last = Some(now);
                due.push((s.function.clone(), s.payload(now)?));
            }
        }
        for (f, payload) in due {
            summary.timer.push(self.invoker.invoke(&f, payload).await?);
        }
        summary.records_delivered += self.drain().await?;
        Ok(summary)
    }
}

impl<I: Invoker> Runner<I> {
    /// Hands each queue's visible messages to its function, `batch_size` at
    /// a time, as Lambda's SQS source does: what the function reports
    /// failed (or all, if it fails) is made visible again at once, and the
    /// queue's redrive policy parks it after its last receive. Returns the
    /// messages delivered.
    async fn drain_queues(&mut self) -> Result<usize> {
        let mut delivered = 0;
        for i in 0..self.queues.len() {
            let url = match &self.queues[i].url {
                Some(url) => url.clone(),
                None => {
                    let id = &self.queues[i].queue;
                    let name = self.queue_names.get(id).unwrap_or(id);
                    let url = self
                        .sqs
                        .get_queue_url()
                        .queue_name(name)
                        .send()
                        .await
                        .with_context(|| format!("queue {name}"))?
                        .queue_url
                        .ok_or_else(|| anyhow!("queue {name} has no URL"))?;
                    self.queues[i].url = Some(url.clone());
                    url
                }
            };
            let q = &self.queues[i];
            loop {
                let out = self
                    .sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(i32::try_from(q.batch_size.clamp(1, 10))?)
                    .wait_time_seconds(0)
                    .send()
                    .await?;
                let messages = out.messages.unwrap_or_default();
                if messages.is_empty() {
                    break;
                }
                delivered += messages.len();
                let records: Vec<Value> = messages
                    .iter()
                    .map(|m| {
                        json!({
                            "messageId": m.message_id,
                            "receiptHandle": m.receipt_handle,
                            "body": m.body,
                            "attributes": {},
                            "messageAttributes": {},
                            "eventSource": "aws:sqs",
                            "eventSourceARN": format!("arn:aws:sqs:us-east-1:000000000000:{}", q.queue),
                            "awsRegion": "us-east-1",
                        })
                    })
                    .collect();
                let failed: Vec<String> = match self
                    .invoker
                    .invoke(&q.function, json!({ "Records": records }))
                    .await
                {
                    Ok(response) => response["batchItemFailures"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_string))
                        .collect(),
                    Err(e) => {
                        tracing::warn!(function = %q.function, error = %format!("{e:#}"), "invocation failed; the messages are delivered again");
                        messages
                            .iter()
                            .filter_map(|m| m.message_id.clone())
                            .collect()
                    }
                };
                for m in &messages {
                    let Some(handle) = &m.receipt_handle else {
                        continue;
                    };
                    if m.message_id.as_ref().is_some_and(|id| failed.contains(id)) {
                        self.sqs
                            .change_message_visibility()
                            .queue_url(&url)
                            .receipt_handle(handle)
                            .visibility_timeout(0)
                            .send()
                            .await?;
                    } else {
                        self.sqs
                            .delete_message()
                            .queue_url(&url)
                            .receipt_handle(handle)
                            .send()
                            .await?;
                    }
                }
            }
        }
        Ok(delivered)
    }

    /// Records a function kept failing on: to the on-failure queue in the
    /// shape Lambda sends for a DynamoDB stream (`DDBStreamBatchInfo`), or,
    /// without one, as an error.
    async fn failed(&self, function: &str, records: &[Value]) -> Result<()> {
        let Some((sqs, url)) = &self.on_failure else {
            return Err(anyhow!(
                "{function} kept failing on {} record(s); see its log",
                records.len()
            ));
        };
        let seq = |r: &Value| {
            r["dynamodb"]["SequenceNumber"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        let (first, last) = (
            records.first().map(seq).unwrap_or_default(),
            records.last().map(seq).unwrap_or_default(),
        );
        let body = json!({
            "requestContext": {
                "functionArn": format!("arn:aws:lambda:us-east-1:000000000000:function:{function}"),
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": 3
            },
            "version": "1.0",
            "timestamp": jiff::Timestamp::now().to_string(),
            "DDBStreamBatchInfo": {
                "shardId": self.shards.get(&first).cloned().unwrap_or_default(),
                "startSequenceNumber": first,
                "endSequenceNumber": last,
                "batchSize": records.len(),
                "streamArn": self.stream_arn,
            }
        });
        sqs.send_message()
            .queue_url(url)
            .message_body(body.to_string())
            .send()
            .await?;
        tracing::error!(
            function,
            records = records.len(),
            "records sent to the failure queue"
        );
        Ok(())
    }
}

/// Invokes `function` with `records`, retrying from the first reported
/// failure (or the whole batch, when the invocation fails) as Lambda does;
/// after a few attempts, the records it still fails on (`Err` inside: the
/// caller decides where they go). With a window, also the state the last
/// answer carried (a retry from a failure carries it too).
async fn deliver<I: Invoker>(
    invoker: &I,
    function: &str,
    records: &[&Value],
    window: Option<&Map<String, Value>>,
) -> Result<(Option<Value>, std::result::Result<(), Vec<Value>>)> {
    let mut pending: Vec<&Value> = records.to_vec();
    let mut window = window.cloned();
    let mut answered = None;
    for _attempt in 0..3 {
        let mut payload = json!({ "Records": pending });
        if let (Some(w), Some(p)) = (&window, payload.as_object_mut()) {
            p.extend(w.clone());
        }
        // A function that fails (an error, a crash) fails its whole batch,
        // which Lambda delivers again.
        let response = match invoker.invoke(function, payload).await {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!(function, error = %format!("{e:#}"), "invocation failed; the batch is delivered again");
                continue;
            }
        };
        // With a tumbling window, an answer without `state` is a failure.
        if let Some(w) = &mut window {
            let Some(state) = response.get("state") else {
                tracing::warn!(
                    function,
                    "answer without state; the batch is delivered again"
                );
                continue;
            };
            w.insert("state".into(), state.clone());
            answered = Some(state.clone());
        }
        let failed: Vec<&str> = response["batchItemFailures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["itemIdentifier"].as_str())
            .collect();
        let Some(first) = failed.iter().min() else {
            return Ok((answered, Ok(())));
        };
        let from = pending
            .iter()
            .position(|r| r["dynamodb"]["SequenceNumber"].as_str() == Some(first))
            .unwrap_or(0);
        pending = pending.split_off(from);
    }
    Ok((answered, Err(pending.into_iter().cloned().collect())))
}

/// The fields a tumbling window adds to a batch: its shard, the window,
/// the state the window's previous batch answered, and whether this
/// invocation closes it.
fn window_fields(shard: Option<&str>, state: Value, last: bool) -> Map<String, Value> {
    // The window's times are not read (it closes when the stream is quiet).
    let now = "1970-01-01T00:00:00Z";
    let mut m = Map::new();
    m.insert("shardId".into(), json!(shard));
    m.insert("window".into(), json!({"start": now, "end": now}));
    m.insert("state".into(), state);
    m.insert("isFinalInvokeForWindow".into(), json!(last));
    m.insert("isWindowTerminatedEarly".into(), json!(false));
    m
}

/// A stream record in the shape Lambda delivers it.
pub fn lambda_record(r: &aws_sdk_dynamodbstreams::types::Record, arn: &str) -> Value {
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
    if let Some(at) = change.and_then(|c| c.approximate_creation_date_time) {
        dynamodb.insert("ApproximateCreationDateTime".into(), json!(at.secs()));
    }
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

#[cfg(test)]
mod schedule_tests {
    use super::Schedule;

    fn t(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_scheduler_input_carries_the_logical_instant() {
        let s = super::Scheduled {
            function: "timer".into(),
            schedule: Schedule::parse("rate(1 minute)"),
            input: Some(r#"{"time": "<aws.scheduler.scheduled-time>", "shard": 3}"#.into()),
            last: None,
        };
        assert_eq!(
            s.payload(t("2026-11-23T11:01:00Z")).unwrap(),
            serde_json::json!({"time": "2026-11-23T11:01:00Z", "shard": 3})
        );
        let rule = super::Scheduled { input: None, ..s };
        let event = rule.payload(t("2026-11-23T11:01:00Z")).unwrap();
        assert_eq!(event["detail-type"], "Scheduled Event");
        assert_eq!(event["time"], "2026-11-23T11:01:00Z");
    }

    #[test]
    fn schedules_play_in_logical_time() {
        let minute = Schedule::parse("rate(1 minute)");
        assert!(minute.due(Some(t("2026-01-01T00:00:00Z")), t("2026-01-01T00:00:10Z")));
        let daily = Schedule::parse("cron(0 3 * * ? *)");
        assert!(
            daily.due(None, t("2026-01-01T00:00:00Z")),
            "the first tick runs it"
        );
        let last = Some(t("2026-01-01T12:00:00Z"));
        assert!(!daily.due(last, t("2026-01-02T02:59:00Z")));
        assert!(daily.due(last, t("2026-01-02T03:00:00Z")));
        let early = Some(t("2026-01-01T01:00:00Z"));
        assert!(
            daily.due(early, t("2026-01-01T03:00:00Z")),
            "later the same day"
        );
        let rate = Schedule::parse("rate(2 hours)");
        assert!(!rate.due(last, t("2026-01-01T13:59:00Z")));
        assert!(rate.due(last, t("2026-01-01T14:00:00Z")));
    }
}
