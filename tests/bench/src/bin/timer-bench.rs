//! `make bench` (timer): a herd of work falling due in one minute — 50,000
//! by default, half journey waits and half contact reviews — fired by the
//! real timer service over the in-memory adapters, one tick per due shard
//! as the eight schedules invoke it. Prints how the shards divide the work
//! and what one item costs, and the wall time that implies on AWS.
//!
//! Figures only; nothing here asserts a time (timed tests flake).

use jiff::{SignedDuration, Timestamp};
use std::time::Instant;
use waymark_app::memory::MemoryStore;
use waymark_app::ports::{Commit, ContactStore, DUE_SHARDS, DueIndex};
use waymark_app::process::Processor;
use waymark_app::timer::{CONTACTS_IN_FLIGHT, Scope, tick};
use waymark_bench::{catalog_with, signup};
use waymark_core::contact::Contact;
use waymark_core::ids::{ContactId, ShopDomain};

/// A journey whose first step waits an hour, then mails.
const WAIT_THEN_MAIL: &str = "id: bench_wait
version: 1
name: Wait, then mail
trigger:
  event: customer_upserted
steps:
  - id: w1
    wait: 1h
  - id: e1
    email: abandoned_checkout_1
";

/// DynamoDB round trips per contact a tick fires: the Query of its
/// partition and one write (a put, or a transaction with its runs and
/// outbox items). Read from `Processor::handle_tick`, not measured here.
const ROUND_TRIPS_PER_CONTACT: f64 = 2.0;

/// Write units a fired tick costs, as `ddb-cost` measured them on contacts
/// aged 150 and 365 days (a wait that fires, a review).
const TICK_WCU: [f64; 2] = [7.0, 18.0];

/// A contact whose review falls due at `at`.
fn review(shop: &ShopDomain, i: u64, at: Timestamp) -> Commit {
    let mut contact = Contact::new(ContactId::for_customer(i), shop.clone(), at);
    contact.schedule.review_at = Some(at);
    Commit {
        contact,
        expected_version: 0,
        recent_events: Default::default(),
        runs: vec![],
        outbox: vec![],
        identities: Default::default(),
        segments_entered: vec![],
        segments_exited: vec![],
        absorbed: None,
        counts: Default::default(),
        expired: Vec::new(),
    }
}

fn main() {
    let items: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(herd(items));
}

async fn herd(items: u64) {
    let shop = ShopDomain::parse("bench.myshopify.com").unwrap();
    let store = MemoryStore::default();
    let processor = Processor::new(catalog_with(WAIT_THEN_MAIL), store.clone());
    // The waits: signups spread over one minute, each waiting an hour.
    let t0: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
    let waits = items / 2;
    for i in 0..waits {
        let at = t0 + SignedDuration::from_millis((i * 60_000 / waits.max(1)) as i64);
        processor
            .handle_event(&signup(&shop, i, at))
            .await
            .expect("in-memory processing");
    }
    // The reviews: contacts whose time-based rules change in that minute.
    let review_at = t0 + SignedDuration::from_hours(1);
    for i in waits..items {
        store
            .commit(review(&shop, i, review_at))
            .await
            .expect("in-memory commit");
    }
    let now = t0 + SignedDuration::from_mins(61);
    let due = store.due(now).await.unwrap().len();
    println!(
        "timer fan-out: {due} items due in one minute ({waits} waits, {} reviews), {DUE_SHARDS} shards, {CONTACTS_IN_FLIGHT} contacts in flight per invocation",
        items - waits
    );

    let mut per_shard = Vec::new();
    let mut emails = 0;
    let mut busiest = 0.0f64;
    let start = Instant::now();
    for shard in 0..DUE_SHARDS {
        let began = Instant::now();
        let scope = Scope {
            shard: Some(shard),
            in_flight: CONTACTS_IN_FLIGHT,
        };
        let outcome = tick(&processor, &store, &store, &store, now, scope, || true)
            .await
            .expect("tick");
        let secs = began.elapsed().as_secs_f64();
        busiest = busiest.max(secs);
        let r = outcome.report;
        assert_eq!(r.failed + r.deferred, 0, "shard {shard}: {r:?}");
        emails += r.emails_queued;
        println!(
            "  shard {shard}: {:>6} contacts fired, {:>6} emails queued, {:>7.1} ms on one core",
            r.contacts,
            r.emails_queued,
            secs * 1e3
        );
        per_shard.push(r.contacts);
    }
    let secs = start.elapsed().as_secs_f64();
    let fired: usize = per_shard.iter().sum();
    let left = store.due(now).await.unwrap().len();
    let most = *per_shard.iter().max().unwrap_or(&0);
    let mean = fired as f64 / f64::from(DUE_SHARDS);
    println!(
        "  fired {fired} of {due} ({left} left due), {emails} emails queued; the busiest shard has {most} ({:.2}× the mean)",
        most as f64 / mean.max(1.0)
    );
    let per_item_us = secs * 1e6 / fired.max(1) as f64;
    println!(
        "  work per item (engine + in-memory adapters): {per_item_us:.1} µs on one core, {:.0} items/s/core",
        fired as f64 / secs
    );
    // On AWS each item also waits for its DynamoDB round trips; an
    // invocation keeps CONTACTS_IN_FLIGHT of them going at once.
    for latency_ms in [5.0, 10.0] {
        let per_item_ms =
            ROUND_TRIPS_PER_CONTACT * latency_ms / CONTACTS_IN_FLIGHT as f64 + per_item_us / 1e3;
        println!(
            "  on paper, at {latency_ms} ms per DynamoDB call: the busiest shard's invocation takes {:.1} s ({most} items × {per_item_ms:.2} ms)",
            most as f64 * per_item_ms / 1e3
        );
    }
    // And the table must take the minute's writes: a new on-demand table
    // serves 4,000 write units a second at once, and scales past what it
    // has seen before only over minutes (or pre-warmed).
    for wcu in TICK_WCU {
        println!(
            "  on paper, at {wcu} WCU per fired item: {:.0} WCU in all, {:.0} s at a new on-demand table's 4,000 WCU/s",
            fired as f64 * wcu,
            fired as f64 * wcu / 4_000.0
        );
    }
    println!(
        "  (the eight ticks ran one after another here: {:.0} ms in all, the busiest {:.0} ms)",
        secs * 1e3,
        busiest * 1e3
    );
}
