//! The webhook load test, on the local stack (`make load` starts one on its
//! own ports and runs this): 1,000 signed Shopify deliveries from 16
//! concurrent senders over HTTP to `ingest` under `cargo lambda watch`, a
//! share of them redeliveries of a webhook already sent (same webhook id) or
//! the same fact under a new webhook id, as Shopify does. Then the runner
//! ticks past the abandoned-checkout hour and everything settles.
//!
//! Checked, and printed: every delivery answered 200 within Shopify's 5 s;
//! every fact stored once; every checkout's reminder sent once. A bench, not
//! a timed test: the figures are this machine's.
//!
//! Usage: `load-test [--url URL] [--control HOST:PORT] [--moto URL]
//! [--deliveries N] [--senders N] [--no-settle]`; loopback addresses only.
//! `--no-settle` stops after the answers and the stored facts: settling
//! on moto takes time that grows with the square of the load (it copies
//! the whole table for every item of every transaction).

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

const SHOP: &str = "demo.myshopify.com";
const CHECKOUT: &str = include_str!("../../../../events/shopify/checkouts_create.json");
const BUDGET: Duration = Duration::from_secs(5);

struct Args {
    url: String,
    control: String,
    moto: String,
    table: String,
    secret: String,
    sender: String,
    deliveries: usize,
    senders: usize,
    /// Also run the schedule until everything settled and check the
    /// reminders (slow on moto, which copies the whole table for every item
    /// of every transaction: the time grows with the square of the load).
    settle: bool,
}

fn args() -> Result<Args> {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let functions = env("FUNCTIONS_PORT", "9000");
    let mut a = Args {
        url: format!("http://127.0.0.1:{functions}/lambda-url/ingest/shopify"),
        control: env("WAYMARK_CONTROL", "127.0.0.1:9001"),
        moto: env("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        table: env("TABLE_NAME", "waymark"),
        secret: env("SHOPIFY_WEBHOOK_SECRET", "waymark-local-secret"),
        sender: env("SENDER_EMAIL", "store@example.com"),
        deliveries: 1000,
        senders: 16,
        settle: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = value()?,
            "--control" => a.control = value()?,
            "--moto" => a.moto = value()?,
            "--deliveries" => a.deliveries = value()?.parse()?,
            "--senders" => a.senders = value()?.parse()?,
            "--no-settle" => a.settle = false,
            other => bail!("unknown argument {other}"),
        }
    }
    for target in [&a.url, &a.moto, &format!("http://{}", a.control)] {
        let host = reqwest::Url::parse(target)?
            .host_str()
            .unwrap_or_default()
            .to_string();
        let loopback = host == "localhost"
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            bail!("{target}: the load test targets loopback addresses only");
        }
    }
    Ok(a)
}

/// One delivery: its webhook id, topic and body; `fact` names the checkout.
#[derive(Clone)]
struct Delivery {
    webhook_id: String,
    fact: usize,
    body: String,
}

/// Checkout `i`: its own buyer (customer id, address), token and id.
fn checkout(template: &Value, i: usize) -> String {
    let mut c = template.clone();
    let email = format!("buyer{i}@example.com");
    c["id"] = Value::from(40_000_000_000_000u64 + i as u64);
    c["token"] = Value::from(format!("load{i:028}"));
    c["cart_token"] = Value::from(format!("cart{i:028}"));
    c["email"] = Value::from(email.clone());
    c["customer"]["id"] = Value::from(80_000_000_000_000u64 + i as u64);
    c["customer"]["email"] = Value::from(email);
    c.to_string()
}

/// The deliveries: mostly new checkouts; every seventh a redelivery of an
/// earlier webhook (same id), every eleventh the same checkout again under a
/// new webhook id. Deterministic, so every run sends the same.
fn plan(n: usize) -> Vec<Delivery> {
    let template: Value = serde_json::from_str(CHECKOUT).expect("the checkout sample");
    let mut out: Vec<Delivery> = Vec::with_capacity(n);
    let mut facts = 0;
    for i in 0..n {
        if i > 0 && i % 7 == 0 {
            let earlier = out[(i * 31) % out.len()].clone();
            out.push(earlier);
        } else if i > 0 && i % 11 == 0 {
            let earlier = out[(i * 17) % out.len()].clone();
            out.push(Delivery {
                webhook_id: format!("load-{i}"),
                ..earlier
            });
        } else {
            out.push(Delivery {
                webhook_id: format!("load-{i}"),
                fact: facts,
                body: checkout(&template, facts),
            });
            facts += 1;
        }
    }
    out
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = args()?;
    let deliveries = plan(a.deliveries);
    let facts: HashSet<usize> = deliveries.iter().map(|d| d.fact).collect();
    let queue = Arc::new(Mutex::new(deliveries.clone().into_iter()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let started = Instant::now();
    let senders = (0..a.senders).map(|_| {
        let (queue, client, url, secret) = (
            queue.clone(),
            client.clone(),
            a.url.clone(),
            a.secret.clone(),
        );
        tokio::spawn(async move {
            let mut answers = Vec::new();
            loop {
                let Some(d) = queue.lock().await.next() else {
                    return answers;
                };
                let sig = waymark_core::hmac::sign(secret.as_bytes(), d.body.as_bytes());
                let t = Instant::now();
                let status = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-shopify-topic", "checkouts/create")
                    .header("x-shopify-shop-domain", SHOP)
                    .header("x-shopify-webhook-id", &d.webhook_id)
                    .header("x-shopify-hmac-sha256", sig)
                    .header("x-shopify-triggered-at", "2026-11-23T10:00:00Z")
                    .body(d.body.clone())
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                answers.push((status, t.elapsed()));
            }
        })
    });
    let mut answers = Vec::new();
    for s in senders {
        answers.extend(s.await?);
    }
    let wall = started.elapsed();
    let mut latencies: Vec<Duration> = answers.iter().map(|(_, d)| *d).collect();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for (s, _) in &answers {
        *statuses.entry(*s).or_default() += 1;
    }
    println!(
        "load-test: {} deliveries ({} checkouts, the rest redelivered) from {} senders in {:.1} s ({:.0}/s)",
        answers.len(),
        facts.len(),
        a.senders,
        wall.as_secs_f64(),
        answers.len() as f64 / wall.as_secs_f64()
    );
    println!(
        "  answers {statuses:?}; latency p50 {:?}, p95 {:?}, p99 {:?}, max {:?} (Shopify's budget: 5 s)",
        pct(0.50),
        pct(0.95),
        pct(0.99),
        latencies.last().copied().unwrap_or_default()
    );

    // Every fact is stored once, whatever the redeliveries: ingest's own
    // work, checked as soon as the last answer came.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&a.moto)
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    let events = count_events(&aws_sdk_dynamodb::Client::new(&sdk), &a.table).await?;
    println!(
        "  facts stored: {events} (expected {}, one per checkout)",
        facts.len()
    );
    let mut wrong = Vec::new();
    if a.settle {
        let per_buyer = settle(&a, &client).await?;
        let twice = per_buyer.values().filter(|n| **n > 1).count();
        println!(
            "  reminders: {} buyers mailed, {twice} of them more than once (expected {} once each)",
            per_buyer.len(),
            facts.len()
        );
        if per_buyer.len() != facts.len() || twice > 0 {
            wrong.push("not every checkout's reminder sent exactly once".to_string());
        }
    }
    if statuses.keys().any(|s| *s != 200) {
        wrong.push(format!("answers other than 200: {statuses:?}"));
    }
    if latencies.last().is_some_and(|d| *d > BUDGET) {
        wrong.push("an answer took longer than 5 s".to_string());
    }
    if events != facts.len() {
        wrong.push(format!(
            "{events} facts stored for {} checkouts",
            facts.len()
        ));
    }
    if !wrong.is_empty() {
        bail!("load-test failed: {}", wrong.join("; "));
    }
    println!("  ok");
    Ok(())
}

/// Everything the deliveries caused, then the schedule minute by minute
/// from the reminders' hour until a tick leaves nothing behind (a tick works
/// for 20 s; what it could not reach, or what failed, is the next minute's,
/// as in AWS). Returns the reminders each buyer got.
async fn settle(a: &Args, client: &reqwest::Client) -> Result<BTreeMap<String, usize>> {
    let settle = Instant::now();
    let mut minute = 0;
    loop {
        let now = "2026-11-23T11:01:00Z".parse::<jiff::Timestamp>()?
            + jiff::SignedDuration::from_mins(minute);
        let tick = client
            .post(format!("http://{}/tick?now={now}", a.control))
            .timeout(Duration::from_secs(4 * 3600))
            .send()
            .await
            .context("the runner's control endpoint")?;
        if !tick.status().is_success() {
            bail!("tick: {}", tick.text().await?);
        }
        let summary: Value = tick.json().await?;
        let reports = || summary["timer"].as_array().into_iter().flatten();
        let count = |f: &str| reports().map(|r| r[f].as_u64().unwrap_or(0)).sum::<u64>();
        let left = count("deferred") + count("failed");
        println!(
            "  tick at {now}: {} contacts fired, {left} left for the next minute ({:.0} s after the last answer)",
            count("contacts"),
            settle.elapsed().as_secs_f64()
        );
        minute += 1;
        if left == 0 {
            break;
        }
        if minute >= 120 {
            bail!("still work left after 120 ticks");
        }
    }
    println!(
        "  all settled {:.0} s after the last answer ({minute} ticks)",
        settle.elapsed().as_secs_f64()
    );
    let sent = waymark_local::mailbox::sent(&a.moto).await?;
    let mut per_buyer: BTreeMap<String, usize> = BTreeMap::new();
    for m in sent.iter().filter(|m| m.from.contains(&a.sender)) {
        for to in &m.to {
            if to.starts_with("buyer") {
                *per_buyer.entry(to.clone()).or_default() += 1;
            }
        }
    }
    Ok(per_buyer)
}

/// Stored checkout facts (event items; the test's own shop and topic).
async fn count_events(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<usize> {
    let mut n = 0;
    let mut start = None;
    loop {
        let out = ddb
            .scan()
            .table_name(table)
            .filter_expression("t = :t AND kind = :k")
            .expression_attribute_values(
                ":t",
                aws_sdk_dynamodb::types::AttributeValue::S("event".into()),
            )
            .expression_attribute_values(
                ":k",
                aws_sdk_dynamodb::types::AttributeValue::S("checkout_updated".into()),
            )
            .set_exclusive_start_key(start)
            .send()
            .await?;
        n += out.items.map_or(0, |i| i.len());
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(n);
        }
    }
}
