//! A whole Waymark stack for one test: a private moto, the template's
//! resources with unique names, the functions' own handlers invoked in
//! process, and the local runner playing the stream and the schedule.

use anyhow::Result;
use lambda_http::Body;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use waymark_core::email::Sender;
use waymark_core::ids::EmailAddress;
use waymark_local::mailbox::{self, SentEmail};
use waymark_local::moto::Moto;
use waymark_local::resources::{self, Names};
use waymark_local::runner::{Invoker, Runner};
use waymark_local::template::Template;

pub mod proxy;
pub mod window;

/// The SDK settings one function gets: the stack's, with the function's
/// name as the SDK app name (its requests say `app/<name>` in their user
/// agent, which is how the IAM test tells the functions apart).
fn as_function(sdk: &aws_config::SdkConfig, name: &str) -> aws_config::SdkConfig {
    sdk.to_builder()
        .app_name(aws_config::AppName::new(name.to_string()).expect("a valid app name"))
        .build()
}

pub const SECRET: &str = "scenario-webhook-secret";
pub const UNSUBSCRIBE_SECRET: &str = "scenario-unsubscribe-secret";
/// What the scenario stack derives coupon codes from.
pub const COUPON_SECRET: &str = "scenario-coupon-secret";
pub const PREFERENCES_URL: &str = "http://127.0.0.1:9000/lambda-url/preferences";

/// The link-token keys every test stack seals and opens links with.
pub fn token_keys() -> waymark_core::unsubscribe::TokenKeys {
    waymark_core::unsubscribe::TokenKeys::new(UNSUBSCRIBE_SECRET.as_bytes(), None)
}

/// The unsubscribe settings every test stack's dispatch uses.
pub fn unsubscribe() -> waymark_app::dispatch::Unsubscribe {
    waymark_app::dispatch::Unsubscribe {
        keys: token_keys(),
        url: format!("{PREFERENCES_URL}/unsubscribe"),
        mailto: None,
    }
}
pub const SHOP: &str = "demo.myshopify.com";
/// The storefront write key every test stack accepts, and its origin.
pub const TRACK_KEY: &str = "wk_scenario_demo";
pub const TRACK_ORIGIN: &str = "https://demo-store.example";
const TRACK_KEYS: &str = "wk_scenario_demo:demo.myshopify.com:https://demo-store.example";
pub const CHECKOUT: &str = include_str!("../../../events/shopify/checkouts_create.json");
pub const ORDER: &str = include_str!("../../../events/shopify/orders_create.json");
pub const CUSTOMER: &str = include_str!("../../../events/shopify/customers_create.json");

/// The stream- and schedule-driven functions, called as Lambda would.
pub struct InProcess {
    pub process: process_fn::Service,
    pub timer: timer_fn::Service,
    pub fanout: fanout_fn::Service,
    pub export: export_fn::Service,
    pub dispatch: dispatch_fn::Service,
    pub sweep: sweep_fn::Service,
    /// The scenario's logical time (ms), shared with the stack: every
    /// invocation's deadline is a minute after it, as the platform's is a
    /// function timeout after the real start.
    pub clock: Arc<AtomicI64>,
}

impl InProcess {
    fn event<T: serde::de::DeserializeOwned>(&self, payload: Value) -> Result<LambdaEvent<T>> {
        let mut context = Context::default();
        context.deadline = u64::try_from(self.clock.load(Ordering::Relaxed) + 60_000)?;
        Ok(LambdaEvent::new(serde_json::from_value(payload)?, context))
    }
}

impl Invoker for InProcess {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        payload: Value,
    ) -> Pin<Box<dyn Future<Output = Result<Value>> + Send + 'a>> {
        Box::pin(async move {
            let out = match function {
                "process" => serde_json::to_value(
                    process_fn::handle(&self.process, self.event(payload)?)
                        .await
                        .map_err(anyhow::Error::from_boxed)?,
                )?,
                "timer" => serde_json::to_value(
                    timer_fn::handle(&self.timer, self.event(payload)?)
                        .await
                        .map_err(anyhow::Error::from_boxed)?,
                )?,
                "fanout" => serde_json::to_value(
                    fanout_fn::handle(&self.fanout, self.event(payload)?)
                        .await
                        .map_err(anyhow::Error::from_boxed)?,
                )?,
                "export" => serde_json::to_value(
                    export_fn::handle(&self.export, self.event(payload)?)
                        .await
                        .map_err(anyhow::Error::from_boxed)?,
                )?,
                "sweep" => serde_json::to_value(
                    sweep_fn::handle(&self.sweep, self.event(payload)?)
                        .await
                        .map_err(anyhow::Error::from_boxed)?,
                )?,
                "dispatch" => serde_json::to_value(
                    dispatch_fn::handle(&self.dispatch, self.event(payload)?)
                        .await
                        .map_err(anyhow::Error::from_boxed)?,
                )?,
                other => anyhow::bail!("no function {other}"),
            };
            Ok(out)
        })
    }
}

pub struct Stack {
    pub preferences: preferences_fn::Service,
    pub feedback: feedback_fn::Service,
    /// The emulator (shared when several stacks run on one).
    pub moto: Arc<Moto>,
    pub sdk: aws_config::SdkConfig,
    pub table: String,
    /// The names of the template's resources on this stack.
    pub names: Names,
    pub sender: String,
    pub ingest: ingest_fn::Service,
    pub runner: Runner<InProcess>,
    /// The scenario's logical time: the latest tick, webhook or storefront
    /// event so far. HTTP requests to `ingest` and `preferences` carry it as
    /// the platform's receive time (`timeEpoch`), so nothing a test checks
    /// depends on the day it runs.
    clock: jiff::Timestamp,
    /// The same clock, as the in-process functions read it.
    shared_clock: Arc<AtomicI64>,
}

/// Where every scenario's clock starts: the fixtures' morning.
const START: &str = "2026-11-23T10:00:00Z";

/// Options for building a stack.
#[derive(Debug, Clone)]
pub struct Options {
    /// Create the sender's SES identity (without it, SES rejects every send).
    pub verify_sender: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            verify_sender: true,
        }
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl Stack {
    pub async fn start() -> Result<Self> {
        Self::with(Options::default()).await
    }

    pub async fn with(options: Options) -> Result<Self> {
        let moto = Arc::new(Moto::start()?);
        let sdk = moto.sdk().await;
        Self::assemble(moto, sdk, options).await
    }

    /// A stack whose functions reach the emulator through the endpoint
    /// `via` returns for the emulator's own (e.g. a recording proxy).
    pub async fn start_via(via: impl FnOnce(&str) -> String) -> Result<Self> {
        Self::start_on(Arc::new(Moto::start()?), via).await
    }

    /// A stack of its own (its own table, queues and sender) on an emulator
    /// already running, reached as `start_via` does: many short stacks
    /// without starting an emulator for each.
    pub async fn start_on(moto: Arc<Moto>, via: impl FnOnce(&str) -> String) -> Result<Self> {
        let endpoint = via(&moto.endpoint);
        let sdk = moto.sdk_via(&endpoint).await;
        Self::assemble(moto, sdk, Options::default()).await
    }

    async fn assemble(
        moto: Arc<Moto>,
        sdk: aws_config::SdkConfig,
        options: Options,
    ) -> Result<Self> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let unique = format!("{}-{n}", std::process::id());
        let table = format!("waymark-{unique}");
        let sender = format!("shop-{unique}@example.com");
        let template = Template::load(&Template::default_path())?;
        let mut names = Names::default();
        names.tables.insert("Table".into(), table.clone());
        for (id, _) in template.of_type("AWS::SQS::Queue") {
            names.physical.insert(id.clone(), format!("{id}-{unique}"));
        }
        // The export's streams and bucket are shared by the stacks of one
        // process on one emulator (moto allows an account 50 streams; the
        // fault harness runs a hundred stacks on one): no scenario reads
        // another's rows.
        for ty in ["AWS::KinesisFirehose::DeliveryStream", "AWS::S3::Bucket"] {
            for (id, _) in template.of_type(ty) {
                let name = format!("{id}-{}", std::process::id()).to_lowercase();
                names.physical.insert(id.clone(), name);
            }
        }
        names
            .parameters
            .insert("SenderEmail".into(), sender.clone());
        if options.verify_sender {
            resources::create(&sdk, &template, &names).await?;
        } else {
            let mut t = template.clone();
            t.root["Resources"]
                .as_object_mut()
                .expect("template has resources")
                .retain(|_, r| r["Type"] != "AWS::SES::EmailIdentity");
            resources::create(&sdk, &t, &names).await?;
        }
        let sender_cfg = Sender {
            name: "Demo Store".into(),
            address: EmailAddress::parse(&sender)?,
        };
        let start: jiff::Timestamp = START.parse()?;
        let clock = Arc::new(AtomicI64::new(start.as_millisecond()));
        let pages = aws_sdk_sqs::Client::new(&sdk)
            .get_queue_url()
            .queue_name(names.of("CampaignPages"))
            .send()
            .await?
            .queue_url
            .ok_or_else(|| anyhow::anyhow!("no CampaignPages queue"))?;
        let functions = InProcess {
            clock: clock.clone(),
            process: process_fn::build(&as_function(&sdk, "process"), &table, Some(COUPON_SECRET))
                .map_err(anyhow::Error::from_boxed)?,
            // One contact at a time: moto applies concurrent transactions
            // unsafely (it answers 500 when two interleave).
            timer: timer_fn::build(
                &as_function(&sdk, "timer"),
                &table,
                &pages,
                Some(COUPON_SECRET),
                1,
            )
            .map_err(anyhow::Error::from_boxed)?,
            // Sends from its pages with process's rules and dispatch's
            // sender, under its own name (the IAM test checks its calls).
            fanout: fanout_fn::build(
                &as_function(&sdk, "fanout"),
                &table,
                waymark_app::page_send::Direct::new(
                    process_fn::build(&as_function(&sdk, "fanout"), &table, Some(COUPON_SECRET))
                        .map_err(anyhow::Error::from_boxed)?,
                    dispatch_fn::build(
                        &as_function(&sdk, "fanout"),
                        &table,
                        sender_cfg.clone(),
                        None,
                        unsubscribe(),
                    )
                    .map_err(anyhow::Error::from_boxed)?,
                ),
                None,
            ),
            export: export_fn::build(
                &as_function(&sdk, "export"),
                &names.of("CounterFacts"),
                &names.of("EventFacts"),
            ),
            sweep: sweep_fn::build(&as_function(&sdk, "sweep"), &table, Some(COUPON_SECRET))
                .map_err(anyhow::Error::from_boxed)?,
            dispatch: dispatch_fn::build(
                &as_function(&sdk, "dispatch"),
                &table,
                sender_cfg,
                None,
                unsubscribe(),
            )
            .map_err(anyhow::Error::from_boxed)?,
        };
        let stream = resources::stream_arn(&sdk, &table).await?;
        let mut runner = Runner::new(&sdk, &template, stream, functions)?;
        runner.name_queues(&names.physical);
        Ok(Self {
            ingest: ingest_fn::build(
                &as_function(&sdk, "ingest"),
                &table,
                SECRET,
                ingest_fn::track_config(Some(TRACK_KEYS), None, Some("off"))
                    .map_err(anyhow::Error::from_boxed)?,
            ),
            preferences: preferences_fn::build(
                &as_function(&sdk, "preferences"),
                &table,
                token_keys(),
            )
            .map_err(anyhow::Error::from_boxed)?,
            feedback: feedback_fn::build(&as_function(&sdk, "feedback"), &table),
            moto,
            sdk,
            table,
            names: names.clone(),
            sender,
            runner,
            clock: start,
            shared_clock: clock,
        })
    }

    /// The scenario's logical time (see [`Stack::advance_to`]).
    pub fn clock(&self) -> jiff::Timestamp {
        self.clock
    }

    /// Moves the scenario's clock forward to `at` (never back): what a
    /// request sent now is stamped with.
    pub fn advance_to(&mut self, at: jiff::Timestamp) {
        self.clock = self.clock.max(at);
        self.shared_clock
            .store(self.clock.as_millisecond(), Ordering::Relaxed);
    }

    /// Posts a webhook to ingest exactly as Shopify would (signed with
    /// `secret`), then lets the stream settle. Returns status and JSON body.
    pub async fn post(
        &mut self,
        topic: &str,
        webhook_id: &str,
        body: &str,
        hmac: Option<String>,
    ) -> Result<(u16, Value)> {
        let now = self.clock.to_string();
        self.post_at(topic, webhook_id, body, hmac, &now).await
    }

    /// A signed webhook that Shopify triggered at `triggered_at` (the time
    /// of payloads that carry none, such as subscription billing attempts).
    pub async fn webhook_at(
        &mut self,
        topic: &str,
        webhook_id: &str,
        body: &str,
        triggered_at: &str,
    ) -> Result<(u16, Value)> {
        let sig = waymark_core::hmac::sign(SECRET.as_bytes(), body.as_bytes());
        self.post_at(topic, webhook_id, body, Some(sig), triggered_at)
            .await
    }

    async fn post_at(
        &mut self,
        topic: &str,
        webhook_id: &str,
        body: &str,
        hmac: Option<String>,
        triggered_at: &str,
    ) -> Result<(u16, Value)> {
        let mut req = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/shopify")
            .header("content-type", "application/json")
            .header("x-shopify-topic", topic)
            .header("x-shopify-shop-domain", SHOP)
            .header("x-shopify-webhook-id", webhook_id)
            .header("x-shopify-event-id", format!("evt-{webhook_id}"))
            .header("x-shopify-triggered-at", triggered_at)
            .header("x-shopify-api-version", "2026-10");
        if let Some(h) = hmac {
            req = req.header("x-shopify-hmac-sha256", h);
        }
        self.advance_to(triggered_at.parse()?);
        let req = waymark_http::received_at(req.body(Body::from(body.to_string()))?, self.clock);
        let resp = ingest_fn::handle(&self.ingest, req)
            .await
            .map_err(anyhow::Error::from_boxed)?;
        let status = resp.status().as_u16();
        let json = match resp.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        self.runner.drain().await?;
        Ok((status, json))
    }

    /// Storefront events as the snippet posts them to `/track` (from the
    /// allowed origin, with the stack's write key), then the stream settles.
    pub async fn track(&mut self, events: Value) -> Result<(u16, Value)> {
        let latest = events
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["at"].as_str()?.parse::<jiff::Timestamp>().ok())
            .max();
        if let Some(at) = latest {
            self.advance_to(at);
        }
        let body = serde_json::json!({"key": TRACK_KEY, "batch": events});
        let req = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/track")
            .header("content-type", "text/plain")
            .header("origin", TRACK_ORIGIN)
            .body(Body::from(body.to_string()))?;
        let req = waymark_http::received_at(req, self.clock);
        let resp = ingest_fn::handle(&self.ingest, req)
            .await
            .map_err(anyhow::Error::from_boxed)?;
        let status = resp.status().as_u16();
        let json = match resp.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        self.runner.drain().await?;
        Ok((status, json))
    }

    /// An HTTP request to the preferences function (e.g. the one-click POST
    /// to a List-Unsubscribe URL), then the stream settles.
    pub async fn preferences(&mut self, method: &str, url: &str) -> Result<(u16, String)> {
        self.preferences_with(method, url, "List-Unsubscribe=One-Click")
            .await
    }

    /// The same with a form body of one's own (`topic=news`, or empty).
    pub async fn preferences_with(
        &mut self,
        method: &str,
        url: &str,
        form: &str,
    ) -> Result<(u16, String)> {
        let path = url.strip_prefix(PREFERENCES_URL).unwrap_or(url);
        let req = lambda_http::http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form.to_string()))?;
        let query: std::collections::HashMap<String, String> = path
            .split_once('?')
            .map(|(_, q)| {
                q.split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        use lambda_http::RequestExt;
        let req = waymark_http::received_at(req.with_query_string_parameters(query), self.clock);
        let resp = preferences_fn::handle(&self.preferences, req)
            .await
            .map_err(anyhow::Error::from_boxed)?;
        let status = resp.status().as_u16();
        let body = match resp.body() {
            Body::Text(t) => t.clone(),
            _ => String::new(),
        };
        self.runner.drain().await?;
        Ok((status, body))
    }

    /// An SES event as EventBridge delivers it to `feedback` (the rule in
    /// the template), then the stream settles.
    pub async fn ses_event(&mut self, event: Value) -> Result<String> {
        let out = feedback_fn::handle(&self.feedback, LambdaEvent::new(event, Context::default()))
            .await
            .map_err(anyhow::Error::from_boxed)?;
        self.runner.drain().await?;
        Ok(out)
    }

    /// A correctly signed webhook.
    pub async fn webhook(
        &mut self,
        topic: &str,
        webhook_id: &str,
        body: &str,
    ) -> Result<(u16, Value)> {
        let sig = waymark_core::hmac::sign(SECRET.as_bytes(), body.as_bytes());
        self.post(topic, webhook_id, body, Some(sig)).await
    }

    /// `make tick NOW=…`: the schedule at `now`, and everything it causes.
    pub async fn tick(&mut self, now: &str) -> Result<()> {
        let now: jiff::Timestamp = now.parse()?;
        self.advance_to(now);
        self.runner.tick(now).await?;
        Ok(())
    }

    /// A dispatch function whose SES endpoint is `ses_endpoint` (e.g. a
    /// closed port, to make every send fail as a network error would).
    pub async fn dispatch_via(&self, ses_endpoint: &str) -> Result<dispatch_fn::Service> {
        let sesv2 = aws_sdk_sesv2::config::Builder::from(&self.sdk)
            .endpoint_url(ses_endpoint)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let sender = Sender {
            name: "Demo Store".into(),
            address: EmailAddress::parse(&self.sender)?,
        };
        dispatch_fn::build_with(
            &self.sdk,
            &self.table,
            sender,
            None,
            unsubscribe(),
            aws_sdk_sesv2::Client::from_conf(sesv2),
        )
        .map_err(anyhow::Error::from_boxed)
    }

    /// Emails the emulator's SES accepted from this stack's sender.
    pub async fn sent(&self) -> Result<Vec<SentEmail>> {
        Ok(mailbox::sent(&self.moto.endpoint)
            .await?
            .into_iter()
            .filter(|m| m.from.contains(&self.sender))
            .collect())
    }

    /// Emails one journey sent (read from the `X-Waymark-Message` header).
    pub async fn sent_by(&self, journey: &str) -> Result<Vec<SentEmail>> {
        let tag = format!("journey={journey};");
        Ok(self
            .sent()
            .await?
            .into_iter()
            .filter(|m| {
                m.header("X-Waymark-Message")
                    .is_some_and(|h| h.contains(&tag))
            })
            .collect())
    }

    /// Bus events sent through the outbox: (journey, detail type), in
    /// message order.
    pub async fn published(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .published_with_data()
            .await?
            .into_iter()
            .map(|(journey, detail_type, _)| (journey, detail_type))
            .collect())
    }

    /// The stack's table through the real adapter, for reads a test checks.
    pub fn store(&self) -> waymark_aws::store::DynamoStore {
        waymark_aws::store::DynamoStore::new(aws_sdk_dynamodb::Client::new(&self.sdk), &self.table)
    }

    /// Bus events sent through the outbox, with the data they carried.
    pub async fn published_with_data(&self) -> Result<Vec<(String, String, serde_json::Value)>> {
        let store = self.store();
        Ok(waymark_aws::store::outbox_by_status(&store, "sent")
            .await?
            .into_iter()
            .filter_map(|(m, _)| match m.channel {
                waymark_core::outbox::Channel::Event { detail_type } => {
                    Some((m.journey, detail_type, m.params))
                }
                _ => None,
            })
            .collect())
    }

    /// Every item of this stack's table, for "nothing was stored" checks.
    /// Read from the emulator itself, past any proxy the functions' calls
    /// go through: the test's own reads are neither recorded nor faulted.
    pub async fn items(
        &self,
    ) -> Result<Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>>
    {
        use aws_sdk_dynamodb::types::AttributeValue;
        let ddb = aws_sdk_dynamodb::Client::new(&self.moto.sdk().await);
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = ddb
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start)
                .send()
                .await?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        // Documents as the JSON they hold (deflated ones too), so what a
        // test looks for in the table (personal data after an erasure) is
        // found wherever it is stored.
        for item in &mut items {
            if let Some(doc @ AttributeValue::B(_)) = item.get_mut(waymark_aws::keys::DOC) {
                let json: serde_json::Value = waymark_aws::doc::decode(doc)?;
                *doc = AttributeValue::S(json.to_string());
            }
        }
        Ok(items)
    }

    /// Items of one type (`t` attribute).
    /// The URL of a template queue (by logical id) on this stack.
    pub async fn queue_url(&self, id: &str) -> Result<String> {
        let name = self.names.of(id);
        aws_sdk_sqs::Client::new(&self.sdk)
            .get_queue_url()
            .queue_name(&name)
            .send()
            .await?
            .queue_url
            .ok_or_else(|| anyhow::anyhow!("no queue {name}"))
    }

    pub async fn items_of(&self, t: &str) -> Result<usize> {
        Ok(self
            .items()
            .await?
            .iter()
            .filter(|i| i.get("t").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(t))
            .count())
    }
}

/// The checkout fixture with its `updated_at` replaced.
pub fn checkout_at(updated_at: &str) -> String {
    CHECKOUT.replace("2026-11-23T05:00:00-05:00", updated_at)
}
