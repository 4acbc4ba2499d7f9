//! `make bench` (campaigns): how fast a campaign goes from its audience to
//! queued emails, on one core, over the in-memory adapters:
//! 1. the fan-out: members read page by page, each page handed to a worker
//!    and each send recorded (the twin's queue works a page at once, so
//!    this is one core doing both the timer's and the workers' part:
//!    recipients recorded per second);
//! 2. each recipient decided by the process service with its contact
//!    loaded (consent, topic, smart sending, local time) and its email
//!    queued (recipients planned per second).
//!
//! Figures only; nothing here asserts a time (timed tests flake). The
//! DynamoDB units per recipient are measured on moto by `ddb-cost`.

use jiff::Timestamp;
use std::time::Instant;
use waymark_app::memory::MemoryStore;
use waymark_app::ports::{CampaignStore, Commit, ContactStore};
use waymark_app::process::Processor;
use waymark_core::campaign::{Campaign, SendAt};
use waymark_core::contact::{Consent, Contact};
use waymark_core::ids::{ContactId, EmailAddress, ShopDomain};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let shop = ShopDomain::parse("bench.myshopify.com").unwrap();
    let t0: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
    let send: Timestamp = "2026-12-04T10:00:00Z".parse().unwrap();
    let store = MemoryStore::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        for i in 0..n {
            let mut c = Contact::new(ContactId::for_customer(i + 1), shop.clone(), t0);
            c.identity.email = Some(EmailAddress::parse(&format!("r{i}@example.com")).unwrap());
            c.marketing.consent = Some(Consent {
                subscribed: i % 10 != 0,
                source: "customers/create".into(),
                at: t0,
            });
            store
                .commit(Commit {
                    contact: c,
                    expected_version: 0,
                    recent_events: Default::default(),
                    runs: vec![],
                    outbox: vec![],
                    identities: Default::default(),
                    segments_entered: vec!["subscribers".into()],
                    segments_exited: vec![],
                    absorbed: None,
                    counts: Default::default(),
                    expired: Vec::new(),
                })
                .await
                .unwrap();
        }
        let campaign = Campaign {
            id: "bench".into(),
            name: "Bench".into(),
            segments: vec!["subscribers".into()],
            exclude: vec![],
            when: Default::default(),
            template: "nurture_bestsellers".into(),
            subject: Some("Bench".into()),
            preheader: None,
            topic: None,
            send_at: SendAt::Local("2026-12-04T10:00".parse().unwrap()),
            smart_sending: None,
            utm: Default::default(),
            ab_test: None,
        };
        store.schedule(&shop, &campaign, t0).await.unwrap();
        let start = Instant::now();
        let progress =
            waymark_app::campaigns::advance(&store, &store, &shop, "bench", send, &|| true)
                .await
                .unwrap();
        let fan_out = start.elapsed().as_secs_f64();
        let events = store.take_new_events();
        let catalog = waymark_content::catalog().expect("bundled content");
        let processor = Processor::new(catalog, store.clone());
        let start = Instant::now();
        let mut queued = 0usize;
        for e in &events {
            let r = processor.handle_event(e).await.expect("in-memory processing");
            queued += r
                .effects
                .iter()
                .filter(|f| matches!(f, waymark_core::journey::Effect::Email(_)))
                .count();
        }
        let planned = start.elapsed().as_secs_f64();
        println!(
            "campaign fan-out (in-memory): {} recipients recorded in {} pages: {:.0} recipients/s",
            progress.queued,
            progress.pages,
            progress.queued as f64 / fan_out
        );
        println!(
            "campaign planning (process service, in-memory): {} recipients, {queued} emails queued (the rest without consent): {:.0} recipients/s ({:.2} µs/recipient)",
            events.len(),
            events.len() as f64 / planned,
            planned * 1e6 / events.len().max(1) as f64
        );
    });
}
