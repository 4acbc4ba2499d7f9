//! Hostile input at every door an outsider (or a mistyped file) reaches:
//! signed webhooks of every topic, `/track` batches, link tokens, SES
//! events, and campaign files. Each property starts from a real sample and
//! breaks one place in it (a value swapped for a hostile one, a key gone,
//! text cut into), so the parsers are driven past their first check. A
//! fuzzer is the stronger tool, but `cargo fuzz` needs a nightly toolchain
//! this project does not ask for; these run in every `cargo test`.
//!
//! Each must give an answer (a value or an error), never a panic; and what
//! is accepted must still keep the rules the trust model promises.

use crate::event::EventKind;
use crate::ids::ShopDomain;
use crate::journey::{Catalog, ContentFile};
use crate::shopify::{self, Delivery, TOPICS, Topic};
use crate::site::{self, Links};
use crate::unsubscribe::{self, Purpose, TokenKeys};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use serde_json::{Value, json};

const WEBHOOKS: [&str; 13] = [
    include_str!("../../../events/shopify/checkouts_create.json"),
    include_str!("../../../events/shopify/customers_create.json"),
    include_str!("../../../events/shopify/customers_data_request.json"),
    include_str!("../../../events/shopify/customers_delete.json"),
    include_str!("../../../events/shopify/customers_redact.json"),
    include_str!("../../../events/shopify/fulfillments_create.json"),
    include_str!("../../../events/shopify/fulfillments_update.json"),
    include_str!("../../../events/shopify/orders_create.json"),
    include_str!("../../../events/shopify/orders_fulfilled.json"),
    include_str!("../../../events/shopify/refunds_create.json"),
    include_str!("../../../events/shopify/shop_redact.json"),
    include_str!("../../../events/shopify/subscription_billing_attempts_success.json"),
    include_str!("../../../events/shopify/subscription_contracts_create.json"),
];

const SES_EVENTS: [&str; 4] = [
    include_str!("../../../events/feedback-bounce.json"),
    include_str!("../../../events/feedback-click.json"),
    include_str!("../../../events/feedback-complaint.json"),
    include_str!("../../../events/feedback-open.json"),
];

const CAMPAIGN: &str = include_str!("../../../campaigns/weekly_newsletter.yaml");

const ORIGIN: &str = "https://demo-store.example";

fn shop() -> ShopDomain {
    ShopDomain::parse("demo.myshopify.com").unwrap()
}

fn now() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

/// One of every kind of storefront event, valid as it stands.
fn track_batch() -> Value {
    let product = json!({"id": 7001, "title": "Merino scarf", "category": "Scarves",
        "price": "39.90", "currency": "EUR", "url": format!("{ORIGIN}/products/scarf"),
        "image": "https://cdn.shopify.com/s/files/scarf.jpg"});
    json!({"key": "wk_demo_123", "batch": [
        {"type": "page_viewed", "id": "e1", "anonymous_id": "a-1", "at": "2026-11-23T09:59:00Z",
         "url": format!("{ORIGIN}/pages/about"), "page_type": "about", "time_zone": "Europe/Dublin", "locale": "en-IE"},
        {"type": "product_viewed", "id": "e2", "anonymous_id": "a-1", "url": format!("{ORIGIN}/products/scarf"), "product": product},
        {"type": "added_to_cart", "id": "e3", "anonymous_id": "a-1", "product": product},
        {"type": "searched", "id": "e4", "anonymous_id": "a-1", "query": "wool"},
        {"type": "form_submitted", "id": "e5", "anonymous_id": "a-1", "email": "ana@example.com",
         "first_name": "Ana", "topic": "knitting", "accepts_marketing": true, "double_opt_in": false},
        {"type": "identified", "id": "e6", "anonymous_id": "a-1", "email": "ana@example.com"},
        {"type": "custom", "id": "e7", "anonymous_id": "a-1", "name": "quiz_done", "properties": {"score": 3}}
    ]})
}

/// Values a hostile sender would try where any other value stands.
fn hostile() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!("")),
        Just(json!(true)),
        Just(json!(-1)),
        Just(json!(0.5)),
        Just(json!(1e300)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!([])),
        Just(json!({})),
        Just(json!("x".repeat(70_000))),
        Just(json!("javascript:alert(1)")),
        Just(json!("https://evil.example/login")),
        Just(json!("evil.example/pay")),
        Just(json!("<a href=\"https://evil.example\">x</a>")),
        Just(json!("Ana\u{202e}gnp.exe\u{200b}")),
        Just(json!("Ana\r\nBcc: victim@example.com")),
        Just(json!("9999-12-31T23:59:59Z")),
        Just(json!("-000001-01-01T00:00:00Z")),
        Just(json!("EUR\u{0}")),
        Just(json!("{{ 7 * 7 }}")),
        Just(deep(300)),
        "\\PC{0,40}".prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
    ]
}

/// Links that try to leave the store while looking like they stay.
fn link_attacks() -> impl Strategy<Value = String> {
    let fixed = prop_oneof![
        Just("https://evil.example/login".to_string()),
        Just("javascript:alert(1)".to_string()),
        Just("data:text/html,<script>x</script>".to_string()),
        Just("//evil.example/".to_string()),
        Just(format!("{ORIGIN}@evil.example/")),
        Just(format!("{ORIGIN}.evil.example/")),
        Just(format!("{ORIGIN}:443@evil.example/")),
        Just(format!(" {ORIGIN}/ https://evil.example/")),
        Just(format!("{ORIGIN}/\\evil.example")),
        Just(format!("{ORIGIN}/%0d%0aLocation:%20https://evil.example")),
        Just(format!("{ORIGIN}/a\nhttps://evil.example")),
        Just("HTTPS://EVIL.EXAMPLE/".to_string()),
        Just("https:\\evil.example".to_string()),
        Just("https://cdn.shopify.com.evil.example/x.jpg".to_string()),
        Just("http://demo-store.example/".to_string()),
    ];
    prop_oneof![
        fixed,
        "[a-z]{1,8}://[a-z.]{1,20}/[ -~]{0,20}".prop_map(String::from),
        "[ -~]{0,30}".prop_map(|tail| format!("{ORIGIN}{tail}")),
    ]
}

fn deep(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!([inner]))
}

/// Every place in a JSON document, as paths of keys and indexes.
fn places(v: &Value, at: &mut Vec<Vec<Place>>, path: &mut Vec<Place>) {
    at.push(path.clone());
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                path.push(Place::Key(k.clone()));
                places(child, at, path);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push(Place::Index(i));
                places(child, at, path);
                path.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Place {
    Key(String),
    Index(usize),
}

/// The document with one place broken: replaced by `with`, or (when
/// `remove` and the place is an object's key) taken out.
fn broken(doc: &Value, pick: usize, with: Value, remove: bool) -> Value {
    let mut all = Vec::new();
    places(doc, &mut all, &mut Vec::new());
    let path = &all[pick % all.len()];
    let mut out = doc.clone();
    let Some((last, parents)) = path.split_last() else {
        return with;
    };
    let mut node = &mut out;
    for step in parents {
        node = match step {
            Place::Key(k) => &mut node[k.as_str()],
            Place::Index(i) => &mut node[*i],
        };
    }
    match (last, node) {
        (Place::Key(k), Value::Object(map)) if remove => {
            map.remove(k);
        }
        (Place::Key(k), node) => node[k.as_str()] = with,
        (Place::Index(i), node) => node[*i] = with,
    }
    out
}

fn keys() -> TokenKeys {
    TokenKeys::new(
        b"a-secret-of-some-length-0001",
        Some(b"the-previous-secret-00002"),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every sample, one place broken, delivered under every topic (a
    /// signed body replayed under another topic's header): an event or an
    /// error, never a panic; an accepted event is the delivering shop's and
    /// serialises (it is stored next).
    #[test]
    fn webhooks_broken_anywhere_are_an_event_or_an_error(
        sample in 0..WEBHOOKS.len(),
        pick in any::<usize>(),
        with in hostile(),
        remove in any::<bool>(),
    ) {
        let doc: Value = serde_json::from_str(WEBHOOKS[sample]).unwrap();
        let body = serde_json::to_vec(&broken(&doc, pick, with, remove)).unwrap();
        let shop = shop();
        for topic in TOPICS {
            let delivery = Delivery {
                shop: &shop,
                topic: Topic::parse(topic).unwrap(),
                webhook_id: "wh-1",
                triggered_at: Some(now()),
                body: &body,
            };
            if let Ok(event) = shopify::parse(&delivery) {
                prop_assert_eq!(&event.shop, &shop);
                prop_assert!(serde_json::to_string(&event).is_ok());
            }
        }
    }

    /// A storefront batch with one place broken is stored whole or refused
    /// whole, never a panic; and whatever is accepted keeps every link on
    /// the key's origin (images also on Shopify's CDN) and no markup or
    /// line break in text that can reach an email.
    #[test]
    fn track_batches_broken_anywhere_keep_the_trust_rules(
        pick in any::<usize>(),
        with in hostile(),
        remove in any::<bool>(),
    ) {
        let body = serde_json::to_vec(&broken(&track_batch(), pick, with, remove)).unwrap();
        let origins = vec![ORIGIN.to_string()];
        let parsed = site::parse(&shop(), Links::Origins(&origins), &body, now(), Some(SignedDuration::from_hours(24)));
        let Ok(batch) = parsed else { return Ok(()) };
        for event in &batch.events {
            let EventKind::Site(s) = &event.kind else { continue };
            let on_store = |url: &str| url.to_ascii_lowercase().starts_with(&format!("{ORIGIN}/")) || url.eq_ignore_ascii_case(ORIGIN);
            if let Some(url) = &s.url {
                prop_assert!(on_store(url), "page link off the store: {url}");
            }
            if let Some(p) = &s.product {
                if let Some(url) = &p.url {
                    prop_assert!(on_store(url), "product link off the store: {url}");
                }
                if let Some(image) = &p.image {
                    prop_assert!(on_store(image) || image.starts_with("https://cdn.shopify.com/"), "image off the store: {image}");
                }
                for text in [&p.title, &p.category].into_iter().flatten() {
                    prop_assert!(!text.contains(['<', '>', '\r', '\n']), "markup in product text: {text:?}");
                    prop_assert!(!text.contains("://"), "a link in product text: {text:?}");
                }
            }
            if let Some(name) = &s.first_name {
                prop_assert!(!name.contains(['<', '>', '\r', '\n']) && !name.contains("://"), "first name: {name:?}");
            }
        }
    }

    /// Every link a batch carries set to one that tries to leave the store:
    /// refused, or still on the key's origin (or Shopify's CDN for images).
    #[test]
    fn track_links_never_leave_the_store(
        which in 0usize..4,
        event in 0usize..3,
        link in link_attacks(),
    ) {
        let mut doc = track_batch();
        let (i, path): (usize, &[&str]) = match which {
            0 => (event.min(1), &["url"]),
            1 => (1 + event % 2, &["product", "url"]),
            2 => (1 + event % 2, &["product", "image"]),
            _ => (0, &["url"]),
        };
        let mut node = &mut doc["batch"][i];
        for key in path {
            node = &mut node[*key];
        }
        *node = json!(link);
        let body = serde_json::to_vec(&doc).unwrap();
        let origins = vec![ORIGIN.to_string()];
        if let Ok(batch) = site::parse(&shop(), Links::Origins(&origins), &body, now(), None) {
            // After the origin comes a path, a query, a fragment or nothing
            // (the URL standard's reading, not the validator's). An `@`
            // there is the path's or the query's (`/@handle`, `?q=a@b`), not
            // a user name before another host: that one fails `on_store`.
            let on_store = |url: &str| {
                url.strip_prefix(ORIGIN)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
            };
            for event in &batch.events {
                let EventKind::Site(s) = &event.kind else { continue };
                let product = s.product.as_ref();
                for url in [s.url.as_ref(), product.and_then(|p| p.url.as_ref())].into_iter().flatten() {
                    prop_assert!(on_store(url) && !url.contains(['\\', ' ', '\n']), "{url:?}");
                }
                if let Some(image) = product.and_then(|p| p.image.as_ref()) {
                    prop_assert!(on_store(image) || image.starts_with("https://cdn.shopify.com/"), "{image:?}");
                }
            }
        }
    }

    /// Anything in a link's `t=`: no claims, never a panic, for either
    /// purpose; a genuine token with any one character changed: no claims.
    #[test]
    fn tokens_are_genuine_or_nothing(
        junk in "(v2\\.[0-9a-f]{0,8}\\.)?[A-Za-z0-9_=+/.-]{0,200}",
        flip in any::<usize>(),
        replacement in "[A-Za-z0-9_=.-]",
    ) {
        let keys = keys();
        for purpose in [Purpose::Unsubscribe, Purpose::Confirm] {
            prop_assert!(unsubscribe::verify_for(purpose, &keys, &junk, now()).is_none());
        }
        let address = crate::ids::EmailAddress::parse("ana@example.com").unwrap();
        let genuine = unsubscribe::sign_for(Purpose::Unsubscribe, &keys, &shop(), &address, now());
        let i = flip % genuine.len();
        let changed = format!("{}{}{}", &genuine[..i], replacement, &genuine[i + 1..]);
        if changed != genuine {
            prop_assert!(unsubscribe::verify_for(Purpose::Unsubscribe, &keys, &changed, now()).is_none(), "{changed}");
        }
    }

    /// SES events with one place broken: feedback or an error, never a panic.
    #[test]
    fn ses_events_broken_anywhere_are_feedback_or_an_error(
        sample in 0..SES_EVENTS.len(),
        pick in any::<usize>(),
        with in hostile(),
        remove in any::<bool>(),
    ) {
        let doc: Value = serde_json::from_str(SES_EVENTS[sample]).unwrap();
        let _ = crate::feedback::parse(&broken(&doc, pick, with, remove));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The shipped campaign with text cut into anywhere: a campaign or
    /// errors naming the file, never a panic.
    #[test]
    fn campaign_files_cut_anywhere_are_a_campaign_or_located_errors(
        at in 0usize..4000,
        len in 0usize..12,
        junk in "[ -~\\n\\t:{}\\[\\]%|-]{0,40}",
    ) {
        static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        let catalog = CATALOG.get_or_init(|| {
            Catalog::from_files(&crate::repo_content::files(&crate::repo_content::root())).unwrap()
        });
        let mut cut = at.min(CAMPAIGN.len());
        while !CAMPAIGN.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut end = (cut + len).min(CAMPAIGN.len());
        while !CAMPAIGN.is_char_boundary(end) {
            end -= 1;
        }
        let file = ContentFile {
            path: "campaigns/weekly_newsletter.yaml".into(),
            text: format!("{}{junk}{}", &CAMPAIGN[..cut], &CAMPAIGN[end..]),
        };
        if let Err(errors) = crate::campaign::parse(&file, catalog) {
            prop_assert!(!errors.is_empty());
            prop_assert!(errors.iter().all(|e| e.path == file.path && e.line >= 1), "{errors:?}");
        }
    }
}

#[test]
fn the_breaker_reaches_every_place_and_the_samples_start_valid() {
    let doc = json!({"a": [1, {"b": 2}]});
    let mut all = Vec::new();
    places(&doc, &mut all, &mut Vec::new());
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(
        broken(&doc, 4, json!("x"), false),
        json!({"a": [1, {"b": "x"}]})
    );
    assert_eq!(broken(&doc, 4, Value::Null, true), json!({"a": [1, {}]}));
    assert_eq!(broken(&doc, 3, Value::Null, true), json!({"a": [1, null]}));
    assert_eq!(broken(&doc, 0, json!(7), false), json!(7));
    let origins = vec![ORIGIN.to_string()];
    let body = serde_json::to_vec(&track_batch()).unwrap();
    let batch = site::parse(&shop(), Links::Origins(&origins), &body, now(), None).unwrap();
    assert_eq!(
        batch.events.len(),
        7,
        "every kind of event, accepted as it stands"
    );
    for (sample, topic) in WEBHOOKS
        .iter()
        .zip(["checkouts/create", "customers/create"])
    {
        let delivery = Delivery {
            shop: &shop(),
            topic: Topic::parse(topic).unwrap(),
            webhook_id: "wh-1",
            triggered_at: Some(now()),
            body: sample.as_bytes(),
        };
        assert!(shopify::parse(&delivery).is_ok(), "{topic}");
    }
}
