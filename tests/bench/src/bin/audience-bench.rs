//! `make bench` (part 3): the audience's cost.
//! 1. The per-event profile + segment update (identity, profile fold, score,
//!    every segment and lifecycle rule, commit) over the in-memory adapters,
//!    with the shipped segments and `_audience.yaml` and no journeys, in
//!    events/second on one core.
//! 2. The sweep over a large in-memory table (1,000,000 contacts by default):
//!    index items read and contacts lapsed for one day's sweep, against the
//!    table's size.
//!
//! 3. Both again on aged contacts: each has a year behind it (three
//!    storefront views a day over a dozen counters, an order every six
//!    weeks, a weekly open, viewed and bought products, a journey history),
//!    so the cost of a contact after a year is measured, not only a new one's.
//!
//! Figures only; nothing here asserts a time (timed tests flake).

use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::time::Instant;
use waymark_app::memory::MemoryStore;
use waymark_app::ports::{ContactState, IdleIndex};
use waymark_app::process::Processor;
use waymark_app::sweep::sweep;
use waymark_core::contact::Contact;
use waymark_core::event::{
    Event, EventKind, LineItem, Order, Product, SiteAction, SiteEvent, Source,
};
use waymark_core::ids::{ContactId, EmailAddress, ShopDomain};
use waymark_core::journey::{Catalog, ContentFile};
use waymark_core::money::Money;

fn audience_only() -> Catalog {
    let files: Vec<ContentFile> = waymark_content::files()
        .into_iter()
        .filter(|f| f.path.starts_with("segments/"))
        .collect();
    Catalog::from_files(&files).expect("bundled segments are valid")
}

fn site(action: SiteAction, i: u64, category: &str) -> EventKind {
    EventKind::Site(SiteEvent {
        action,
        anonymous_id: None,
        customer_id: None,
        email: Some(EmailAddress::parse(&format!("c{i}@example.com")).unwrap()),
        url: Some(format!("https://shop.example/p/{}", i % 97)),
        page_type: (action == SiteAction::PageViewed).then(|| "pricing".to_string()),
        product: (action != SiteAction::PageViewed).then(|| Product {
            id: Some(i % 97),
            title: Some(format!("Product {}", i % 97)),
            category: Some(category.into()),
            price: Some(Money::parse("39.90", "EUR").unwrap()),
            url: None,
            image: None,
        }),
        query: None,
        topic: None,
        accepts_marketing: None,
        double_opt_in: false,
        name: None,
        first_name: None,
        time_zone: None,
        locale: None,
        properties: BTreeMap::new(),
    })
}

fn order(i: u64, n: u64) -> EventKind {
    EventKind::OrderPlaced(Order {
        anonymous_id: None,
        order_id: n,
        checkout_token: None,
        customer_id: Some(i),
        email: Some(EmailAddress::parse(&format!("c{i}@example.com")).unwrap()),
        first_name: Some("Ana".into()),
        line_items: vec![LineItem {
            title: "Merino Beanie".into(),
            variant_title: None,
            quantity: 1,
            price: Money::parse("28.00", "EUR").unwrap(),
            product_id: Some(8_123_456_789_012),
            variant_id: None,
            sku: None,
        }],
        total: Some(Money::parse("66.00", "EUR").unwrap()),
        tracking: vec![],
        country: Some("IE".into()),
        province: None,
        discount_codes: vec![],
        financial_status: None,
    })
}

/// A realistic mix over `contacts` people: views, carts, page views, and an
/// order every 20th event, a minute apart.
fn events(shop: &ShopDomain, n: u64, contacts: u64) -> Vec<Event> {
    let t0: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
    (0..n)
        .map(|k| {
            let i = k % contacts;
            let kind = match k % 20 {
                0 => order(i, k),
                1..=3 => site(SiteAction::AddedToCart, i, "scarves"),
                4..=6 => site(SiteAction::PageViewed, i, ""),
                _ => site(
                    SiteAction::ProductViewed,
                    i,
                    ["tv", "scarves", "socks"][(k % 3) as usize],
                ),
            };
            Event {
                // Shaped like ingest's fact ids (32 hex digits).
                id: format!("{k:032x}"),
                shop: shop.clone(),
                at: t0 + SignedDuration::from_secs(60 * k as i64),
                source: Source {
                    platform: "bench".into(),
                    topic: "bench".into(),
                    delivery_id: format!("d{k}"),
                },
                kind,
            }
        })
        .collect()
}

/// Rounds of each timed part: this machine's timings vary by ±15% between
/// runs, so the median and the best of several rounds are printed.
const ROUNDS: usize = 5;

/// Median and best of per-round seconds.
fn spread(mut secs: Vec<f64>) -> (f64, f64) {
    secs.sort_by(f64::total_cmp);
    (secs[secs.len() / 2], secs[0])
}

fn rate(n: u64, secs: f64) -> String {
    format!(
        "{:.0} events/s ({:.2} µs/event)",
        n as f64 / secs,
        secs * 1e6 / n as f64
    )
}

/// A year of a contact's life before `t0`, written onto its profile.
fn age(c: &mut Contact, t0: Timestamp) {
    use waymark_core::contact::Seen;
    let day = |d: i64| t0 - SignedDuration::from_hours(24 * d);
    let a = &mut c.audience.activity;
    for d in 1..=365 {
        for v in 0..3 {
            let category = ["tv", "scarves", "socks", "hats", "gloves"][((d + v) % 5) as usize];
            a.add(&format!("product_viewed:{category}"), day(d), 0);
            a.add("product_viewed", day(d), 0);
            a.add(
                &format!("page_viewed:{}", ["home", "pricing", "blog"][v as usize]),
                day(d),
                0,
            );
        }
        if d % 7 == 0 {
            a.add("email_opened", day(d), 0);
            a.add("email_clicked", day(d), 0);
        }
        if d % 42 == 0 {
            a.add("order_placed", day(d), 6_600);
            a.add("added_to_cart", day(d), 0);
            a.add("checkout_started", day(d), 0);
            c.history
                .record("post_purchase", &format!("order:{d}"), 0, day(d));
        }
    }
    for i in 0..20u64 {
        let seen = Seen {
            product_id: Some(i),
            title: Some(format!("Product {i}").as_str().into()),
            category: Some("scarves".into()),
            price: Some(Money::parse("39.90", "EUR").unwrap()),
            url: Some(format!("https://shop.example/p/{i}").as_str().into()),
            image: Some(
                format!("https://cdn.shop.example/p/{i}.jpg")
                    .as_str()
                    .into(),
            ),
            at: day(i as i64),
        };
        c.commerce.viewed.push(seen.clone());
        if i < 8 {
            c.commerce.bought.push(seen);
        }
    }
}

/// A store holding `contacts` people, each created by its first event and
/// then given a year behind it; the events left to time.
async fn aged_store(
    processor: &Processor<MemoryStore>,
    store: &MemoryStore,
    evs: &[Event],
    contacts: u64,
) {
    use waymark_app::ports::{Commit, ContactStore};
    let shop = &evs[0].shop;
    for e in &evs[..contacts as usize] {
        processor
            .handle_event(e)
            .await
            .expect("in-memory processing");
    }
    for i in 0..contacts {
        let email = EmailAddress::parse(&format!("c{i}@example.com")).unwrap();
        let identity = waymark_core::event::Identity {
            email: Some(email),
            ..Default::default()
        };
        let Some(id) = store.find(shop, &identity).await.unwrap().contact else {
            continue;
        };
        let state = store.load_for_update(shop, &id).await.unwrap().unwrap();
        let mut contact = state.contact;
        age(&mut contact, evs[0].at);
        store
            .commit(Commit {
                contact,
                expected_version: state.version,
                recent_events: state.recent_events,
                runs: vec![],
                outbox: vec![],
                identities: Default::default(),
                segments_entered: vec![],
                segments_exited: vec![],
                absorbed: None,
                counts: Default::default(),
                expired: vec![],
            })
            .await
            .expect("in-memory commit");
    }
}

fn profile_and_segments(n: u64, contacts: u64) {
    profile_and_segments_of(n, contacts, false);
}

fn profile_and_segments_of(n: u64, contacts: u64, aged: bool) {
    let catalog = audience_only();
    let segments = catalog.segments().len();
    let shop = ShopDomain::parse("bench.myshopify.com").unwrap();
    let evs = events(&shop, n, contacts);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // Aged contacts are created and aged before the clock starts.
    let timed = if aged { contacts as usize } else { 0 };
    let rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            // A fresh store each round: every round creates the same contacts.
            let store = MemoryStore::default();
            let processor = Processor::new(catalog.clone(), store.clone());
            if aged {
                rt.block_on(aged_store(&processor, &store, &evs, contacts));
            }
            let start = Instant::now();
            rt.block_on(async {
                for e in &evs[timed..] {
                    processor
                        .handle_event(e)
                        .await
                        .expect("in-memory processing");
                }
            });
            start.elapsed().as_secs_f64()
        })
        .collect();
    let (median, best) = spread(rounds);
    let n = n - timed as u64;
    println!(
        "profile + {segments} segments + score + stage (in-memory adapters): {n} events over {contacts} {}contacts: median of {ROUNDS} rounds {}; best {}",
        if aged { "year-old " } else { "" },
        rate(n, median),
        rate(n, best)
    );
}

/// The same work without any store: the pure fold, score, segments and
/// stage on contacts held in memory (what the adapters add is the rest).
fn pure_update(n: u64, contacts: u64) {
    pure_update_of(n, contacts, false);
}

fn pure_update_of(n: u64, contacts: u64, aged: bool) {
    let catalog = audience_only();
    let shop = ShopDomain::parse("bench.myshopify.com").unwrap();
    let evs = events(&shop, n, contacts);
    let t0: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
    let mut changes = 0usize;
    let rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let mut people: Vec<(Contact, Vec<waymark_core::journey::Run>)> = (0..contacts)
                .map(|i| {
                    let mut c = Contact::new(ContactId::for_customer(i), shop.clone(), t0);
                    if aged {
                        age(&mut c, t0);
                    }
                    (c, Vec::new())
                })
                .collect();
            changes = 0;
            let start = Instant::now();
            for (k, e) in evs.iter().enumerate() {
                let (contact, runs) = &mut people[k % contacts as usize];
                changes += waymark_core::journey::handle_event(&catalog, contact, runs, e).len();
            }
            start.elapsed().as_secs_f64()
        })
        .collect();
    let (median, best) = spread(rounds);
    println!(
        "  the pure part (fold, score, {} segments, stage; no store){}: median {}; best {} ({changes} membership/stage changes)",
        catalog.segments().len(),
        if aged { ", year-old contacts" } else { "" },
        rate(n, median),
        rate(n, best)
    );
}

fn sweep_at_scale(contacts: u64) {
    let store = MemoryStore::default();
    let shop = ShopDomain::parse("bench.myshopify.com").unwrap();
    let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let seed = Instant::now();
    for i in 0..contacts {
        let mut c = Contact::new(ContactId::for_customer(i), shop.clone(), t0);
        c.identity.email = Some(EmailAddress::parse(&format!("c{i}@example.com")).unwrap());
        // Last signs of life spread over a year.
        let last = t0 + SignedDuration::from_secs((i * 31_536_000 / contacts) as i64);
        c.audience.last_engaged_at = Some(last);
        c.schedule.idle_at = Some(last + SignedDuration::from_hours(24 * 90));
        store.seed(ContactState {
            contact: c,
            version: 1,
            recent_events: Default::default(),
            runs: vec![],
        });
    }
    let seeded = seed.elapsed().as_secs_f64();
    let processor = Processor::new(
        waymark_content::catalog().expect("bundled content"),
        store.clone(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // Yesterday was swept; today's run covers one day.
    let now: Timestamp = "2026-09-01T03:00:00Z".parse().unwrap();
    rt.block_on(async {
        store
            .set_sweep_cursor(waymark_core::activity::day_of(now) - 2)
            .await
            .unwrap();
        let start = Instant::now();
        let r = sweep(&processor, &store, now).await.expect("sweep");
        let secs = start.elapsed().as_secs_f64();
        println!(
            "sweep of one day over {} contacts (seeded in {seeded:.1} s): {} index items read, {} lapsed, {} unchanged, {:.1} ms — reads grow with the day's crossings, not the table",
            store.contact_count(),
            r.items_read,
            r.lapsed,
            r.unchanged,
            secs * 1e3
        );
    });
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let table: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    profile_and_segments(n / 10, 2_000);
    profile_and_segments(n, 10_000);
    pure_update(n, 10_000);
    profile_and_segments_of(n, 10_000, true);
    pure_update_of(n, 10_000, true);
    sweep_at_scale(table);
}
