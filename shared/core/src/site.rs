//! Storefront events from the tracking snippet (`POST /track`) → canonical
//! events. Everything is checked before anything is kept: a batch with one
//! bad event is refused whole, naming every problem, so the snippet can fix
//! and resend it (nothing is silently dropped).

use crate::event::{Event, EventKind, Product, SiteAction, SiteEvent, Source, fact_id};
use crate::ids::{EmailAddress, ShopDomain};
use crate::money::Money;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Events one request may carry.
pub const MAX_BATCH: usize = 100;
/// Bytes one request may carry.
pub const MAX_BODY: usize = 256 * 1024;
const MAX_TEXT: usize = 512;
/// A first name's length at most (it goes into subject lines).
const MAX_NAME: usize = 64;
/// Image hosts accepted besides the store's own origins (Shopify's CDN).
const IMAGE_HOSTS: [&str; 1] = ["https://cdn.shopify.com"];
const MAX_URL: usize = 2048;
const MAX_PROPERTIES: usize = 32;
/// Problems reported at most per refused batch.
const MAX_PROBLEMS: usize = 20;

/// A request body: `{"key": …, "batch": [event, …]}` or a single event.
#[derive(Deserialize)]
#[serde(untagged)]
enum Body {
    Batch {
        key: Option<String>,
        batch: Vec<serde_json::Value>,
    },
    One(serde_json::Value),
}

/// One event as the snippet sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Incoming {
    #[serde(rename = "type")]
    action: String,
    /// The client's id for this event (a UUID): repeats are duplicates.
    id: String,
    at: Option<String>,
    anonymous_id: Option<String>,
    email: Option<String>,
    customer_id: Option<u64>,
    url: Option<String>,
    page_type: Option<String>,
    product: Option<IncomingProduct>,
    query: Option<String>,
    topic: Option<String>,
    accepts_marketing: Option<bool>,
    /// The form wants its opt-in confirmed by email first.
    #[serde(default)]
    double_opt_in: bool,
    name: Option<String>,
    first_name: Option<String>,
    time_zone: Option<String>,
    locale: Option<String>,
    #[serde(default)]
    properties: BTreeMap<String, serde_json::Value>,
    /// Ignored here (the key is read from the body or header).
    #[serde(default)]
    key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncomingProduct {
    id: Option<u64>,
    title: Option<String>,
    category: Option<String>,
    price: Option<serde_json::Value>,
    currency: Option<String>,
    url: Option<String>,
    image: Option<String>,
}

/// A parsed request: the write key it names (if in the body) and its events.
#[derive(Debug)]
pub struct Batch {
    pub key: Option<String>,
    pub events: Vec<Event>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("a batch carries at most {MAX_BATCH} events, got {0}")]
    TooMany(usize),
    #[error("the batch is empty")]
    Empty,
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// The write key named in a body, without validating the rest (to
/// authenticate before doing any work).
pub fn key_of(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct KeyOnly {
        key: Option<String>,
    }
    serde_json::from_slice::<KeyOnly>(body).ok()?.key
}

/// Where links in storefront input may point: the store's own origins
/// (`scheme://host[:port]`, lower case, the write key's), or anywhere (only
/// for local previews of sample events, which mail no one).
#[derive(Debug, Clone, Copy)]
pub enum Links<'a> {
    Origins(&'a [String]),
    Anywhere,
}

impl Links<'_> {
    /// Whether `url` is on one of the origins (or links may go anywhere).
    fn allows(&self, url: &str, extra: &[&str]) -> bool {
        let url = url.to_ascii_lowercase();
        let on = |origin: &str| {
            url.strip_prefix(origin)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
        };
        match self {
            Self::Anywhere => url.starts_with("https://") || url.starts_with("http://"),
            Self::Origins(origins) => origins.iter().any(|o| on(o)) || extra.iter().any(|o| on(o)),
        }
    }
}

/// Parses and checks a request body for `shop`, received at `now`. Client
/// times further than `max_skew` from `now` are refused (clocks lie; `None`
/// accepts any time, for replaying recorded timelines locally). Storefront
/// input is unauthenticated: text that can reach an email must be plain
/// (no links, markup or control characters) and links must stay on the
/// store's origins (`links`); anything else refuses the batch, naming why.
pub fn parse(
    shop: &ShopDomain,
    links: Links<'_>,
    body: &[u8],
    now: Timestamp,
    max_skew: Option<SignedDuration>,
) -> Result<Batch, TrackError> {
    let parsed: Body = serde_json::from_slice(body).map_err(|e| TrackError::Json(e.to_string()))?;
    let (key, raw) = match parsed {
        Body::Batch { key, batch } => (key, batch),
        Body::One(v) => (
            v.get("key").and_then(|k| k.as_str()).map(String::from),
            vec![v],
        ),
    };
    if raw.is_empty() {
        return Err(TrackError::Empty);
    }
    if raw.len() > MAX_BATCH {
        return Err(TrackError::TooMany(raw.len()));
    }
    let mut problems = Vec::new();
    let mut events = Vec::new();
    for (i, value) in raw.into_iter().enumerate() {
        match serde_json::from_value::<Incoming>(value) {
            Err(e) => problems.push(format!("batch[{i}]: {e}")),
            Ok(incoming) => match convert(shop, links, incoming, now, max_skew) {
                Ok(event) => events.push(event),
                Err(errs) => problems.extend(errs.into_iter().map(|e| format!("batch[{i}].{e}"))),
            },
        }
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
    }
    if problems.is_empty() {
        Ok(Batch { key, events })
    } else {
        problems.truncate(MAX_PROBLEMS);
        Err(TrackError::Invalid(problems))
    }
}

fn action(name: &str) -> Option<SiteAction> {
    Some(match name {
        "page_viewed" => SiteAction::PageViewed,
        "product_viewed" => SiteAction::ProductViewed,
        "added_to_cart" => SiteAction::AddedToCart,
        "searched" => SiteAction::Searched,
        "form_submitted" => SiteAction::FormSubmitted,
        "identified" => SiteAction::Identified,
        "custom" | "custom_event" => SiteAction::Custom,
        _ => return None,
    })
}

fn convert(
    shop: &ShopDomain,
    links: Links<'_>,
    mut e: Incoming,
    now: Timestamp,
    max_skew: Option<SignedDuration>,
) -> Result<Event, Vec<String>> {
    let mut errs = Vec::new();
    let act = action(&e.action);
    if act.is_none() {
        errs.push(format!(
            "type: unknown event type `{}` (known: page_viewed, product_viewed, added_to_cart, searched, form_submitted, identified, custom)",
            e.action
        ));
    }
    if e.id.is_empty() || e.id.len() > 100 || !is_token(&e.id) {
        errs.push("id: 1–100 characters of letters, digits, `-` or `_`".into());
    }
    let at = event_time(e.at.as_deref(), now, max_skew, &mut errs);
    let has_email = e.email.as_deref().is_some_and(|m| !m.trim().is_empty());
    required_by_action(act, &e, has_email, &mut errs);
    let delivery_id = std::mem::take(&mut e.id);
    let kind = EventKind::Site(site_event(act, e, links, errs)?);
    Ok(Event {
        id: fact_id(shop, kind.name(), &delivery_id, at),
        shop: shop.clone(),
        at,
        source: Source {
            platform: "site".into(),
            topic: format!("track/{}", kind.name()),
            delivery_id,
        },
        kind,
    })
}

/// Letters, digits, `-` and `_` only: the ids a client names.
fn is_token(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks the rest of the event (who it is about, its texts, product and
/// properties) onto `errs`, and builds it when nothing at all was wrong.
fn site_event(
    act: Option<SiteAction>,
    e: Incoming,
    links: Links<'_>,
    mut errs: Vec<String>,
) -> Result<SiteEvent, Vec<String>> {
    let (anonymous_id, email) = who(e.anonymous_id, e.email.as_deref(), e.customer_id, &mut errs);
    let url = link("url", e.url, links, &[], &mut errs);
    let page_type = text("page_type", e.page_type, MAX_TEXT, &mut errs);
    let query = text("query", e.query, MAX_TEXT, &mut errs);
    let topic = text("topic", e.topic, MAX_TEXT, &mut errs);
    let name = text("name", e.name, MAX_TEXT, &mut errs);
    let first_name = plain("first_name", e.first_name, MAX_NAME, &mut errs);
    let locale = text("locale", e.locale, 35, &mut errs);
    let time_zone = text("time_zone", e.time_zone, 64, &mut errs);
    let product = e.product.map(|p| product(p, links, &mut errs));
    if let Some(z) = &time_zone
        && jiff::tz::TimeZone::get(z).is_err()
    {
        errs.push(format!("time_zone: `{z}` is not an IANA time zone"));
    }
    if e.properties.len() > MAX_PROPERTIES
        || serde_json::to_string(&e.properties).map_or(0, |s| s.len()) > 4096
    {
        errs.push(format!(
            "properties: at most {MAX_PROPERTIES} entries and 4 KB"
        ));
    }
    let _ = e.key;
    let Some(action) = act else {
        return Err(errs);
    };
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(SiteEvent {
        action,
        anonymous_id,
        customer_id: e.customer_id,
        email,
        url,
        page_type,
        product,
        query,
        topic,
        accepts_marketing: e.accepts_marketing,
        double_opt_in: e.double_opt_in,
        name,
        first_name,
        time_zone,
        locale,
        properties: e.properties,
    })
}

/// Who the event is about: a well-formed anonymous id and email, and at
/// least one of them or a customer id.
fn who(
    anonymous_id: Option<String>,
    email: Option<&str>,
    customer_id: Option<u64>,
    errs: &mut Vec<String>,
) -> (Option<String>, Option<EmailAddress>) {
    let anonymous_id = anonymous_id.filter(|a| !a.is_empty());
    if let Some(a) = &anonymous_id
        && (a.len() > 64 || !is_token(a))
    {
        errs.push("anonymous_id: up to 64 letters, digits, `-` or `_`".into());
    }
    let email = match email.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => EmailAddress::parse(raw)
            .map_err(|err| errs.push(format!("email: {err}")))
            .ok(),
    };
    if anonymous_id.is_none() && email.is_none() && customer_id.is_none() {
        errs.push("anonymous_id: needed when the event names no email or customer_id".into());
    }
    (anonymous_id, email)
}

/// When the event happened: its own `at` (within `max_skew` of the server's
/// clock), or now.
fn event_time(
    raw: Option<&str>,
    now: Timestamp,
    max_skew: Option<SignedDuration>,
    errs: &mut Vec<String>,
) -> Timestamp {
    let Some(raw) = raw else {
        return now;
    };
    let Some(t) = crate::time::parse_instant(raw) else {
        errs.push(format!("at: `{raw}` is not an RFC 3339 time"));
        return now;
    };
    if let Some(skew) = max_skew
        && now.duration_since(t).abs() > skew
    {
        errs.push(format!(
            "at: `{raw}` is more than {} from the server's clock",
            crate::time::format_duration(skew)
        ));
    }
    t
}

/// What each kind of event must carry.
fn required_by_action(
    act: Option<SiteAction>,
    e: &Incoming,
    has_email: bool,
    errs: &mut Vec<String>,
) {
    if act == Some(SiteAction::FormSubmitted) && !has_email {
        errs.push("email: a form_submitted event carries the email submitted".into());
    }
    if act == Some(SiteAction::Custom) && e.name.as_deref().is_none_or(str::is_empty) {
        errs.push("name: a custom event needs a name".into());
    }
    if matches!(
        act,
        Some(SiteAction::ProductViewed | SiteAction::AddedToCart)
    ) && e.product.is_none()
    {
        errs.push(format!("product: a {} event needs its product", e.action));
    }
}

/// A product as the storefront described it: plain text, links within the
/// store's origins, a price with its currency.
fn product(p: IncomingProduct, links: Links<'_>, errs: &mut Vec<String>) -> Product {
    let price = match (&p.price, p.currency.as_deref()) {
        (None, _) => None,
        (Some(_), None) => {
            errs.push("product.currency: needed with product.price".into());
            None
        }
        (Some(v), Some(cur)) => {
            let amount = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Money::parse(&amount, cur)
                .map_err(|err| errs.push(format!("product.price: {err}")))
                .ok()
        }
    };
    Product {
        id: p.id,
        title: plain("product.title", p.title, MAX_TEXT, errs),
        category: plain("product.category", p.category, MAX_TEXT, errs),
        price,
        url: link("product.url", p.url, links, &[], errs),
        image: link("product.image", p.image, links, &IMAGE_HOSTS, errs),
    }
}

/// A trimmed, non-empty text field within its size limit.
fn text(field: &str, v: Option<String>, max: usize, errs: &mut Vec<String>) -> Option<String> {
    let v = v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())?;
    if v.len() > max {
        errs.push(format!("{field}: longer than {max} bytes"));
        return None;
    }
    Some(v)
}

/// Text that can reach an email (a name, a product's title or category):
/// plain, since anyone can send it.
fn plain(field: &str, v: Option<String>, max: usize, errs: &mut Vec<String>) -> Option<String> {
    let v = text(field, v, max, errs)?;
    let lower = v.to_ascii_lowercase();
    let markup = v
        .chars()
        .any(|c| c.is_control() || invisible(c) || matches!(c, '<' | '>'));
    let bare_address = v.split_whitespace().any(looks_like_address);
    if markup || lower.contains("://") || lower.contains("www.") || bare_address {
        errs.push(format!(
            "{field}: plain text only (no links, markup or control characters)"
        ));
        return None;
    }
    Some(v)
}

/// A bare web address (`evil.example/login`, `pay-now.shop`): mail clients
/// turn these into links without any scheme. Labels of letters, digits and
/// `-`, at least two, the last 2 to 24 letters; what follows a `/` is its
/// path. Initials and version numbers (`J.R.`, `v2.0`) are not addresses.
fn looks_like_address(token: &str) -> bool {
    let token = token.trim_matches(|c: char| !c.is_alphanumeric() && c != '/');
    let host = token.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let labels: Vec<&str> = host.split('.').collect();
    let Some(tld) = labels.last() else {
        return false;
    };
    labels.len() >= 2
        && (2..=24).contains(&tld.len())
        && tld.chars().all(|c| c.is_ascii_alphabetic())
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'))
        && labels[..labels.len() - 1].iter().any(|l| l.len() >= 2)
}

/// Zero-width and direction-changing characters: invisible in a mail, and
/// used to disguise text.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A link: http(s) on the store's origins (or on `extra` hosts).
fn link(
    field: &str,
    v: Option<String>,
    links: Links<'_>,
    extra: &[&str],
    errs: &mut Vec<String>,
) -> Option<String> {
    let v = text(field, v, MAX_URL, errs)?;
    // A URL is one token: no spaces, line breaks or characters a URL never
    // holds raw (what follows the origin reaches plain-text mail as is).
    if v.chars()
        .any(|c| c.is_whitespace() || c.is_control() || invisible(c) || "<>\"{}|\\^`".contains(c))
    {
        errs.push(format!(
            "{field}: not a URL (spaces, line breaks or characters a URL never holds)"
        ));
        return None;
    }
    if !links.allows(&v, extra) {
        let also = if extra.is_empty() {
            String::new()
        } else {
            format!(" or {}", extra.join(", "))
        };
        errs.push(format!(
            "{field}: links must stay on the store's origins (the write key's){also}"
        ));
        return None;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_web_addresses_are_not_plain_text_but_initials_and_versions_are() {
        for bad in [
            "evil.example/login",
            "Visit pay-now.shop today",
            "URGENT: verify at secure-login.example.com",
            "ana@evil.example",
        ] {
            let mut errs = Vec::new();
            assert!(
                plain("first_name", Some(bad.into()), 512, &mut errs).is_none(),
                "{bad}"
            );
            assert!(errs[0].contains("plain text only"), "{errs:?}");
        }
        for good in [
            "Ana",
            "J.R. Smith",
            "Scarf v2.0",
            "St. Patrick's scarf",
            "Mrs. O'Brien",
            "Cotton (100%).",
        ] {
            let mut errs = Vec::new();
            assert_eq!(
                plain("first_name", Some(good.into()), 512, &mut errs).as_deref(),
                Some(good),
                "{errs:?}"
            );
        }
    }

    fn shop() -> ShopDomain {
        ShopDomain::parse("demo.myshopify.com").unwrap()
    }

    fn store() -> Vec<String> {
        vec!["https://demo-store.example".to_string()]
    }

    fn now() -> Timestamp {
        "2026-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_batch_becomes_site_events() {
        let body = br#"{"key":"wk_demo","batch":[
            {"type":"product_viewed","id":"e1","anonymous_id":"a-1","at":"2026-05-01T11:59:00Z",
             "product":{"id":42,"title":"Wool scarf","category":"Scarves","price":"39.90","currency":"EUR"}},
            {"type":"form_submitted","id":"e2","anonymous_id":"a-1","email":"ana@example.com","topic":"knitting","accepts_marketing":true}
        ]}"#;
        let b = parse(
            &shop(),
            Links::Origins(&store()),
            body,
            now(),
            Some(SignedDuration::from_hours(24)),
        )
        .unwrap();
        assert_eq!(b.key.as_deref(), Some("wk_demo"));
        assert_eq!(b.events.len(), 2);
        assert_eq!(b.events[0].kind.name(), "product_viewed");
        assert_eq!(b.events[1].at, now());
        let EventKind::Site(s) = &b.events[0].kind else {
            panic!()
        };
        assert_eq!(
            s.product
                .as_ref()
                .unwrap()
                .price
                .as_ref()
                .unwrap()
                .amount_minor,
            3990
        );
        // The same client id and time is the same fact.
        let again = parse(&shop(), Links::Origins(&store()), body, now(), None).unwrap();
        assert_eq!(again.events[0].id, b.events[0].id);
    }

    #[test]
    fn every_problem_is_named_with_its_place() {
        let body = br#"{"batch":[
            {"type":"page_viewed","id":"ok","anonymous_id":"a"},
            {"type":"teleported","id":"x","anonymous_id":"a"},
            {"type":"form_submitted","id":"y","anonymous_id":"a"},
            {"type":"page_viewed","id":"z"},
            {"type":"page_viewed","id":"w","anonymous_id":"a","at":"2020-01-01T00:00:00Z"},
            {"type":"page_viewed","id":"v","anonymous_id":"a","colour":"red"}
        ]}"#;
        let err = parse(
            &shop(),
            Links::Origins(&store()),
            body,
            now(),
            Some(SignedDuration::from_hours(24)),
        )
        .unwrap_err();
        let TrackError::Invalid(p) = err else {
            panic!("{err:?}")
        };
        let all = p.join("\n");
        assert!(
            all.contains("batch[1].type: unknown event type `teleported`"),
            "{all}"
        );
        assert!(
            all.contains("batch[2].email: a form_submitted event carries"),
            "{all}"
        );
        assert!(all.contains("batch[3].anonymous_id: needed"), "{all}");
        assert!(all.contains("batch[4].at:"), "{all}");
        assert!(all.contains("batch[5]: unknown field `colour`"), "{all}");
        assert!(!all.contains("batch[0]"), "{all}");
    }

    #[test]
    fn size_limits_hold() {
        let many: Vec<String> = (0..101)
            .map(|i| format!(r#"{{"type":"page_viewed","id":"e{i}","anonymous_id":"a"}}"#))
            .collect();
        let body = format!(r#"{{"batch":[{}]}}"#, many.join(","));
        assert_eq!(
            parse(
                &shop(),
                Links::Origins(&store()),
                body.as_bytes(),
                now(),
                None
            )
            .unwrap_err(),
            TrackError::TooMany(101)
        );
        assert_eq!(
            parse(
                &shop(),
                Links::Origins(&store()),
                br#"{"batch":[]}"#,
                now(),
                None
            )
            .unwrap_err(),
            TrackError::Empty
        );
        assert!(matches!(
            parse(&shop(), Links::Origins(&store()), b"{nope", now(), None),
            Err(TrackError::Json(_))
        ));
    }

    #[test]
    fn hostile_input_never_panics() {
        use proptest::prelude::*;
        proptest!(|(body in proptest::collection::vec(any::<u8>(), 0..400))| {
            let _ = parse(&shop(), Links::Origins(&store()), &body, now(), Some(SignedDuration::from_hours(1)));
        });
    }

    fn problems(event: &str) -> String {
        let body = format!(r#"{{"batch":[{event}]}}"#);
        match parse(
            &shop(),
            Links::Origins(&store()),
            body.as_bytes(),
            now(),
            None,
        ) {
            Err(TrackError::Invalid(p)) => p.join("\n"),
            other => panic!("accepted: {other:?}"),
        }
    }

    #[test]
    fn links_stay_on_the_stores_origins() {
        let ok = r#"{"type":"product_viewed","id":"p1","anonymous_id":"a","url":"https://demo-store.example/products/scarf?v=1",
            "product":{"id":1,"title":"Scarf","url":"https://demo-store.example/products/scarf","image":"https://cdn.shopify.com/s/files/scarf.jpg"}}"#;
        let body = format!(r#"{{"batch":[{ok}]}}"#);
        assert!(
            parse(
                &shop(),
                Links::Origins(&store()),
                body.as_bytes(),
                now(),
                None
            )
            .is_ok()
        );
        // An `@` after the origin is the path's or the query's, on the store.
        let at = r#"{"type":"page_viewed","id":"p1","anonymous_id":"a","url":"https://demo-store.example/@ana?q=a@b.example"}"#;
        let body = format!(r#"{{"batch":[{at}]}}"#);
        assert!(
            parse(
                &shop(),
                Links::Origins(&store()),
                body.as_bytes(),
                now(),
                None
            )
            .is_ok()
        );
        for (field, value) in [
            ("url", "https://evil.example/login"),
            ("url", "javascript:alert(1)"),
            ("url", "https://demo-store.example.evil.example/"),
            ("url", "https://demo-store.example@evil.example/"),
        ] {
            let event = format!(
                r#"{{"type":"page_viewed","id":"p2","anonymous_id":"a","{field}":"{value}"}}"#
            );
            assert!(
                problems(&event).contains("url: links must stay on the store's origins"),
                "{value}"
            );
        }
        for value in [
            "https://demo-store.example/p\n\nAccount locked: https://evil.example/login",
            "https://demo-store.example/p Account-locked",
        ] {
            let event = serde_json::json!({"type": "page_viewed", "id": "p5", "anonymous_id": "a", "url": value});
            assert!(
                problems(&event.to_string()).contains("url: not a URL"),
                "{value}"
            );
        }
        let event = r#"{"type":"product_viewed","id":"p3","anonymous_id":"a",
            "product":{"id":1,"url":"https://evil.example/p","image":"http://evil.example/i.png"}}"#;
        let all = problems(event);
        assert!(all.contains("product.url: links must stay"), "{all}");
        assert!(
            all.contains("product.image: links must stay") && all.contains("cdn.shopify.com"),
            "{all}"
        );
    }

    #[test]
    fn text_that_reaches_an_email_is_plain() {
        for (field, value) in [
            (
                "first_name",
                "URGENT: verify your card at https://evil.example/login",
            ),
            ("first_name", "see www.evil.example"),
            ("first_name", "<b>Ana</b>"),
            ("first_name", "Ana\u{202E}kcolnu"),
            (
                "first_name",
                "A very long first name that goes on and on and on for more than sixty-four bytes",
            ),
        ] {
            let event = format!(
                r#"{{"type":"form_submitted","id":"f1","email":"ana@example.com","{field}":"{value}"}}"#
            );
            assert!(problems(&event).contains("first_name:"), "{value}");
        }
        let event = r#"{"type":"product_viewed","id":"p4","anonymous_id":"a",
            "product":{"id":1,"title":"Claim your prize at https://evil.example","category":"<script>"}}"#;
        let all = problems(event);
        assert!(all.contains("product.title: plain text only"), "{all}");
        assert!(all.contains("product.category: plain text only"), "{all}");
    }
}
