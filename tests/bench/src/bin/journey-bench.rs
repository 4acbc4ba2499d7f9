//! `make bench` (part 2): the journey engine's speed on one core.
//! 1. The pure step function: contacts entering a journey and running through
//!    its steps (waits, conditions, splits, updates, emails), in steps/second.
//! 2. The process service's per-event work over the in-memory adapters
//!    (identity lookup, load, engine, commit), in events/second.
//!
//! Figures only; nothing here asserts a time (timed tests flake).

use jiff::{SignedDuration, Timestamp};
use std::time::Instant;
use waymark_app::memory::MemoryStore;
use waymark_app::process::Processor;
use waymark_bench::{catalog_with, signup};
use waymark_core::contact::Contact;
use waymark_core::event::Event;
use waymark_core::ids::{ContactId, ShopDomain};
use waymark_core::journey::{handle_event, handle_tick};

const MIXED: &str = "id: bench_mixed
version: 1
name: Mixed
trigger:
  event: customer_upserted
steps:
  - id: w1
    wait: 1h
  - id: c1
    if: [accepts_marketing]
    then: u1
    else: end
  - id: u1
    update: { score: 1 }
  - id: s1
    split:
      - { name: a, weight: 1, then: w2 }
      - { name: b, weight: 1, then: w2 }
  - id: w2
    wait: 1d
  - id: e1
    email: abandoned_checkout_1
  - id: w3
    wait: 1d
  - id: c2
    if: [{ orders_at_least: 1 }]
    then: end
    else: e2
  - id: e2
    email: abandoned_checkout_1
";
const MIXED_STEPS: u64 = 9;

const CONTROL: &str = "id: bench_control
version: 1
name: Control flow
trigger:
  event: customer_upserted
steps:
  - id: w1
    wait: 1h
  - id: c1
    if: [accepts_marketing]
    then: u1
    else: end
  - id: u1
    update: { score: 1 }
  - id: s1
    split:
      - { name: a, weight: 1, then: w2 }
      - { name: b, weight: 1, then: w2 }
  - id: w2
    wait: 1d
  - id: c2
    if: [{ orders_at_least: 1 }]
    then: end
    else: w3
  - id: w3
    wait: 1d
";
const CONTROL_STEPS: u64 = 7;

fn step_function(name: &str, journey: &str, steps_per_run: u64, contacts: u64) {
    let catalog = catalog_with(journey);
    let shop = ShopDomain::parse("bench.myshopify.com").unwrap();
    let t0: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
    let later = t0.checked_add(SignedDuration::from_hours(24 * 7)).unwrap();
    let events: Vec<Event> = (0..contacts).map(|i| signup(&shop, i, t0)).collect();
    let mut people: Vec<Contact> = (0..contacts)
        .map(|i| Contact::new(ContactId::for_customer(i), shop.clone(), t0))
        .collect();
    let mut emails = 0usize;
    let start = Instant::now();
    for (contact, e) in people.iter_mut().zip(&events) {
        let mut runs = Vec::with_capacity(1);
        let fx = handle_event(&catalog, contact, &mut runs, e);
        let fx2 = handle_tick(&catalog, contact, &mut runs, later);
        emails += fx.len() + fx2.len();
    }
    let secs = start.elapsed().as_secs_f64();
    let steps = (contacts * steps_per_run) as f64;
    println!(
        "step function, {name:<13} {contacts:>8} runs × {steps_per_run} steps: {:>6.2} M steps/s ({:.0} ns/step; {} effects)",
        steps / secs / 1e6,
        secs * 1e9 / steps,
        emails
    );
}

fn process_service(contacts: u64) {
    let catalog = waymark_content::catalog().expect("bundled content");
    let store = MemoryStore::default();
    let processor = Processor::new(catalog, store);
    let shop = ShopDomain::parse("bench.myshopify.com").unwrap();
    let t0: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
    let events: Vec<Event> = (0..contacts).map(|i| signup(&shop, i, t0)).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let start = Instant::now();
    rt.block_on(async {
        for e in &events {
            processor
                .handle_event(e)
                .await
                .expect("in-memory processing");
        }
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "process service (in-memory adapters): {contacts} events: {:.0} events/s ({:.2} µs/event)",
        contacts as f64 / secs,
        secs * 1e6 / contacts as f64
    );
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    // Warm up allocator and caches once.
    step_function("(warm-up)", CONTROL, CONTROL_STEPS, n / 10);
    step_function("control flow", CONTROL, CONTROL_STEPS, n);
    step_function("with emails", MIXED, MIXED_STEPS, n);
    process_service(n);
}
