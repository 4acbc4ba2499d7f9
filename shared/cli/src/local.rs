//! `waymark local …`: the local stack's moving parts. Everything reaches AWS
//! APIs through the SDK's standard configuration (`AWS_ENDPOINT_URL`), so the
//! same commands would work against any endpoint.

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use waymark_local::resources::{self, Names};
use waymark_local::runner::{HttpInvoker, Runner};
use waymark_local::template::Template;

#[derive(Subcommand)]
pub enum Local {
    /// Creates the template's tables and email identities (idempotent).
    Up {
        #[arg(long, default_value = "infra/template.yaml")]
        template: PathBuf,
        #[arg(long, env = "TABLE_NAME", default_value = "waymark")]
        table: String,
        #[arg(long, env = "SENDER_EMAIL", default_value = "store@example.com")]
        sender_email: String,
    },
    /// Plays the template's event sources against `cargo lambda watch`, and
    /// serves the control endpoint that `tick` talks to.
    Run {
        #[arg(long, default_value = "infra/template.yaml")]
        template: PathBuf,
        #[arg(long, env = "TABLE_NAME", default_value = "waymark")]
        table: String,
        /// Where `cargo lambda watch` serves the functions.
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        functions: String,
        #[arg(long, env = "WAYMARK_CONTROL", default_value = "127.0.0.1:9001")]
        control: String,
        /// Also tick every wall-clock minute (time otherwise moves only on `tick`).
        #[arg(long)]
        realtime: bool,
    },
    /// Does what the every-minute schedule does at NOW, and returns when all
    /// the work it caused has finished.
    Tick {
        /// An RFC 3339 instant, e.g. 2026-11-23T11:01:00Z.
        #[arg(long)]
        now: String,
        #[arg(long, env = "WAYMARK_CONTROL", default_value = "127.0.0.1:9001")]
        control: String,
    },
    /// Prints the emails the local SES has accepted.
    Outbox {
        #[arg(
            long,
            env = "AWS_ENDPOINT_URL",
            default_value = "http://127.0.0.1:4566"
        )]
        endpoint: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Signs a payload file as Shopify would and posts it to ingest.
    Webhook {
        /// The topic, e.g. checkouts/create.
        topic: String,
        /// The JSON payload file.
        file: PathBuf,
        #[arg(
            long,
            default_value = "http://127.0.0.1:9000/lambda-url/ingest/shopify"
        )]
        url: String,
        #[arg(long, env = "SHOPIFY_WEBHOOK_SECRET")]
        secret: String,
        #[arg(long, default_value = "demo.myshopify.com")]
        shop: String,
        /// The delivery id (X-Shopify-Webhook-Id); defaults to one derived from the body.
        #[arg(long)]
        webhook_id: Option<String>,
        /// When Shopify triggered it (X-Shopify-Triggered-At, RFC 3339): the
        /// time of payloads that carry none, such as subscription billing
        /// attempts. Defaults to now.
        #[arg(long)]
        at: Option<jiff::Timestamp>,
    },
}

/// `cargo lambda invoke` sends to `[::1]:<port>` unless told otherwise;
/// `cargo lambda watch` serves IPv4 loopback. Forward one to the other, so
/// `cargo lambda invoke feedback --data-file …` reaches the stack as written.
async fn forward_ipv6_loopback(functions: &str) {
    let Some(port) = reqwest::Url::parse(functions)
        .ok()
        .filter(|u| u.host_str() == Some("127.0.0.1"))
        .and_then(|u| u.port_or_known_default())
    else {
        return;
    };
    let from = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    let to = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port));
    match waymark_local::forward::forward(from, to).await {
        Ok(()) => eprintln!("runner: forwarding {from} to {to} (cargo lambda invoke's default)"),
        Err(e) => eprintln!(
            "runner: not forwarding {from}: {e:#}; use `cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port {port} …`"
        ),
    }
}

pub async fn run(cmd: Local) -> Result<ExitCode> {
    match cmd {
        Local::Up {
            template,
            table,
            sender_email,
        } => up(&template, &table, &sender_email).await,
        Local::Run {
            template,
            table,
            functions,
            control,
            realtime,
        } => run_stack(&template, &table, &functions, &control, realtime).await,
        Local::Tick { now, control } => tick(&now, &control).await,
        Local::Outbox { endpoint, json } => outbox(&endpoint, json).await,
        Local::Webhook {
            topic,
            file,
            url,
            secret,
            shop,
            webhook_id,
            at,
        } => {
            let headers = WebhookHeaders {
                topic,
                shop,
                webhook_id,
                at,
            };
            webhook(&file, &url, &secret, headers).await
        }
    }
}

/// `up`: creates the tables and the sender's identity.
async fn up(template: &Path, table: &str, sender_email: &str) -> Result<ExitCode> {
    let t = Template::load(template)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let mut names = Names::default();
    names.tables.insert("Table".into(), table.to_string());
    names
        .parameters
        .insert("SenderEmail".into(), sender_email.to_string());
    resources::create(&sdk, &t, &names).await?;
    println!("resources ready: table {table}, sender identity {sender_email}");
    Ok(ExitCode::SUCCESS)
}

/// `run`: plays the event sources against the functions and serves the
/// control endpoint.
async fn run_stack(
    template: &Path,
    table: &str,
    functions: &str,
    control: &str,
    realtime: bool,
) -> Result<ExitCode> {
    let t = Template::load(template)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let stream = resources::stream_arn(&sdk, table).await?;
    let invoker = HttpInvoker {
        base: functions.trim_end_matches('/').to_string(),
        client: reqwest::Client::new(),
    };
    let mut runner = Runner::new(&sdk, &t, stream, invoker)?;
    // What a function keeps failing on goes to the failure queue,
    // as on AWS (`waymark dlq list|redrive`).
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    if let Ok(out) = sqs
        .get_queue_url()
        .queue_name("StreamFailures")
        .send()
        .await
        && let Some(url) = out.queue_url
    {
        runner.send_failures_to(sqs, url);
    }
    forward_ipv6_loopback(functions).await;
    eprintln!("runner: control on http://{control} (POST /tick?now=…), realtime={realtime}");
    waymark_local::control::serve(control, runner, realtime).await?;
    Ok(ExitCode::SUCCESS)
}

/// `tick`: asks the runner to do the schedule's work at `now`.
async fn tick(now: &str, control: &str) -> Result<ExitCode> {
    let parsed: jiff::Timestamp = now.parse().map_err(|e| {
        anyhow!("NOW `{now}` is not an RFC 3339 instant (e.g. 2026-11-23T11:01:00Z): {e}")
    })?;
    let resp = reqwest::Client::new()
        .post(format!("http://{control}/tick?now={parsed}"))
        .send()
        .await
        .with_context(|| format!("no local runner at {control}: is `make dev` running?"))?;
    let ok = resp.status().is_success();
    let body = resp.text().await?;
    println!("{body}");
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `outbox`: prints the emails the local SES accepted.
async fn outbox(endpoint: &str, json: bool) -> Result<ExitCode> {
    let sent = waymark_local::mailbox::sent(endpoint).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&sent)?);
    } else if sent.is_empty() {
        println!("(no emails accepted yet)");
    } else {
        for (i, m) in sent.iter().enumerate() {
            println!("── email {} ──────────────────────────────", i + 1);
            println!("From:    {}", m.header("From").unwrap_or(&m.from));
            println!("To:      {}", m.to.join(", "));
            println!("Subject: {}", m.subject);
            println!();
            println!("{}", m.text.trim_end());
            println!();
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a webhook delivery says besides its body and signature.
struct WebhookHeaders {
    topic: String,
    shop: String,
    webhook_id: Option<String>,
    at: Option<jiff::Timestamp>,
}

/// `webhook`: signs the payload file as Shopify would and posts it.
async fn webhook(file: &Path, url: &str, secret: &str, h: WebhookHeaders) -> Result<ExitCode> {
    let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let signature = waymark_core::hmac::sign(secret.as_bytes(), &body);
    let id = h.webhook_id.unwrap_or_else(|| {
        let sig = signature.replace(['+', '/', '='], "");
        format!("local-{}", &sig[..16.min(sig.len())])
    });
    let topic = h.topic;
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-shopify-topic", &topic)
        .header("x-shopify-shop-domain", &h.shop)
        .header("x-shopify-webhook-id", &id)
        .header("x-shopify-hmac-sha256", signature)
        .header(
            "x-shopify-triggered-at",
            h.at.unwrap_or_else(jiff::Timestamp::now).to_string(),
        )
        .body(body)
        .send()
        .await
        .with_context(|| format!("posting to {url}"))?;
    let status = resp.status();
    println!("{topic} ({id}) → {status} {}", resp.text().await?);
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
