//! The profile's JSON codec on the hot path: every event loads a profile
//! (decode) and stores it (encode). A busy contact (a few hundred events of
//! the audience bench's mix) is encoded and decoded many times, in µs per
//! profile; the deflate around it is not measured (it does not depend on
//! the profile's Rust shape).
//!
//! Figures only; nothing here asserts a time (timed tests flake).

use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::time::Instant;
use waymark_core::contact::Contact;
use waymark_core::event::{
    Event, EventKind, LineItem, Order, Product, SiteAction, SiteEvent, Source,
};
use waymark_core::ids::{ContactId, EmailAddress, ShopDomain};
use waymark_core::money::Money;

const ROUNDS: usize = 5;

fn site(action: SiteAction, k: u64) -> EventKind {
    EventKind::Site(SiteEvent {
        action,
        anonymous_id: Some(format!("anon-{}", k % 7)),
        customer_id: None,
        email: Some(EmailAddress::parse("ana@example.com").unwrap()),
        url: Some(format!("https://shop.example/p/{}", k % 37)),
        page_type: (action == SiteAction::PageViewed).then(|| "pricing".to_string()),
        product: (action != SiteAction::PageViewed).then(|| Product {
            id: Some(k % 37),
            title: Some(format!("Product {}", k % 37)),
            category: Some(["tv", "scarves", "socks"][(k % 3) as usize].into()),
            price: Some(Money::parse("39.90", "EUR").unwrap()),
            url: Some(format!("https://shop.example/p/{}", k % 37)),
            image: Some(format!("https://cdn.example/p/{}.jpg", k % 37)),
        }),
        query: None,
        topic: (action == SiteAction::FormSubmitted).then(|| "knitting".to_string()),
        accepts_marketing: (action == SiteAction::FormSubmitted).then_some(true),
        double_opt_in: false,
        name: None,
        first_name: Some("Ana".into()),
        time_zone: Some("Europe/Dublin".into()),
        locale: Some("en-ie".into()),
        properties: BTreeMap::new(),
    })
}

fn order(k: u64) -> EventKind {
    EventKind::OrderPlaced(Order {
        anonymous_id: None,
        order_id: k,
        checkout_token: Some(format!("tok-{k}")),
        customer_id: Some(7),
        email: Some(EmailAddress::parse("ana@example.com").unwrap()),
        first_name: Some("Ana".into()),
        line_items: vec![LineItem {
            title: format!("Merino Beanie {}", k % 11),
            variant_title: None,
            quantity: 1,
            price: Money::parse("28.00", "EUR").unwrap(),
            product_id: Some(8_123_456_789_000 + k % 11),
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

/// A contact after `n` events over `n` hours.
fn busy_contact(n: u64) -> Contact {
    let shop = ShopDomain::parse("bench.myshopify.com").unwrap();
    let t0: Timestamp = "2026-01-01T10:00:00Z".parse().unwrap();
    let mut c = Contact::new(ContactId::for_customer(7), shop.clone(), t0);
    for k in 0..n {
        let kind = match k % 20 {
            0 => order(k),
            1..=3 => site(SiteAction::AddedToCart, k),
            4..=6 => site(SiteAction::PageViewed, k),
            7 => site(SiteAction::FormSubmitted, k),
            _ => site(SiteAction::ProductViewed, k),
        };
        let at = t0 + SignedDuration::from_hours(k as i64);
        c.apply(&Event {
            id: format!("{k:032x}"),
            shop: shop.clone(),
            at,
            source: Source {
                platform: "bench".into(),
                topic: "bench".into(),
                delivery_id: format!("d{k}"),
            },
            kind,
        });
        if k % 25 == 0 {
            c.marketing_queued(at);
        }
    }
    c
}

fn median(mut secs: Vec<f64>) -> f64 {
    secs.sort_by(f64::total_cmp);
    secs[secs.len() / 2]
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let contact = busy_contact(400);
    let json = serde_json::to_vec(&contact).unwrap();
    let decode = median(
        (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..iterations {
                    let c: Contact = serde_json::from_slice(std::hint::black_box(&json)).unwrap();
                    std::hint::black_box(c);
                }
                start.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let encode = median(
        (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..iterations {
                    std::hint::black_box(
                        serde_json::to_vec(std::hint::black_box(&contact)).unwrap(),
                    );
                }
                start.elapsed().as_secs_f64()
            })
            .collect(),
    );
    println!(
        "profile of {} bytes of JSON, {iterations} times, median of {ROUNDS} rounds: decode {:.2} µs/profile, encode {:.2} µs/profile",
        json.len(),
        decode * 1e6 / iterations as f64,
        encode * 1e6 / iterations as f64
    );
}
