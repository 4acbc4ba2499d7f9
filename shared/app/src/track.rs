//! Site tracking: `POST /track` from the storefront snippet. A public write
//! key names the shop; the request's `Origin` must be one the key allows
//! (CORS); each key has a rate (events a second, per function instance);
//! form submissions, which make the store send mail, have allowances per key
//! and per address counted in the store (shared by every instance); a batch
//! is stored whole or refused whole, and a resent event is a duplicate, not a
//! second event.

use crate::ports::{Allowances, Inbox, Receipt, Recorded};
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::sync::Mutex;
use waymark_core::event::{Event, EventKind, SiteAction};
use waymark_core::ids::ShopDomain;
use waymark_core::ratelimit::{Allowance, Take, TokenBucket, address_name};
use waymark_core::site::{self, TrackError};

/// One public write key: the shop it writes for and the origins it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteKey {
    pub shop: ShopDomain,
    pub origins: Vec<String>,
}

/// Tracking settings, from `WAYMARK_TRACK_KEYS`, `WAYMARK_TRACK_RATE`,
/// `WAYMARK_TRACK_MAX_SKEW`, `WAYMARK_FORMS_PER_KEY`,
/// `WAYMARK_FORMS_PER_ADDRESS`.
#[derive(Debug, Clone)]
pub struct TrackConfig {
    pub keys: HashMap<String, WriteKey>,
    /// Events a second per key (bursts up to ten seconds' worth).
    pub rate: f64,
    /// How far a client's event time may be from the server's clock;
    /// `None` accepts any (local replays of recorded timelines).
    pub max_skew: Option<SignedDuration>,
    pub forms: FormAllowances,
}

/// How many form submissions are taken, across every instance: per write
/// key (a flood of made-up addresses) and per address (one person mailed
/// again and again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormAllowances {
    pub per_key: Allowance,
    pub per_address: Allowance,
}

impl Default for FormAllowances {
    /// 300 an hour per key; 3 a day per address.
    fn default() -> Self {
        Self {
            per_key: Allowance {
                max: 300,
                window: SignedDuration::from_hours(1),
            },
            per_address: Allowance {
                max: 3,
                window: SignedDuration::from_hours(24),
            },
        }
    }
}

/// Whose form allowance a refused batch was over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormLimit {
    Key,
    Address,
}

impl TrackConfig {
    /// Parses `key:shop:origin,origin key2:shop2:origin` (whitespace or `;`
    /// between keys). Origins are `scheme://host[:port]`.
    pub fn parse_keys(raw: &str) -> Result<HashMap<String, WriteKey>, String> {
        let mut keys = HashMap::new();
        for entry in raw
            .split(|c: char| c.is_whitespace() || c == ';')
            .filter(|e| !e.is_empty())
        {
            let mut parts = entry.splitn(3, ':');
            let (Some(key), Some(shop), Some(origins)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(format!(
                    "`{entry}`: expected `<key>:<shop domain>:<origin>[,<origin>…]`"
                ));
            };
            if key.len() < 8 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!(
                    "`{key}`: a write key is 8 or more letters, digits or `_`"
                ));
            }
            let shop = ShopDomain::parse(shop).map_err(|e| format!("`{entry}`: {e}"))?;
            let origins: Vec<String> = origins
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|o| !o.is_empty())
                .collect();
            if let Some(bad) = origins
                .iter()
                .find(|o| !(o.starts_with("https://") || o.starts_with("http://")))
            {
                return Err(format!("`{bad}`: an origin is scheme://host[:port]"));
            }
            keys.insert(key.to_string(), WriteKey { shop, origins });
        }
        Ok(keys)
    }
}

/// A `/track` request as the function URL hands it over.
#[derive(Debug, Clone)]
pub struct TrackRequest<'a> {
    pub method: &'a str,
    pub origin: Option<&'a str>,
    /// `X-Waymark-Key`, else the body's `key`.
    pub key: Option<&'a str>,
    pub body: &'a [u8],
    pub now: Timestamp,
}

/// What came of a `/track` request (the function turns it into HTTP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackOutcome {
    pub answer: TrackAnswer,
    /// The request's origin, when it is one the write keys allow: the only
    /// origin CORS permission is ever given to.
    pub allowed_origin: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackAnswer {
    /// A preflight from an allowed origin.
    Preflight,
    /// A preflight from an origin no key allows.
    PreflightRefused,
    MethodNotAllowed,
    /// Over the size a request may have (what was over).
    TooLarge(String),
    MissingKey,
    UnknownKey,
    /// The key does not accept requests from this origin.
    OriginNotAllowed,
    /// The batch is refused whole, nothing stored: every problem, named.
    Refused {
        too_many: bool,
        problems: Vec<String>,
    },
    /// Over the key's rate: retry after this many seconds.
    RateLimited {
        retry_after: u64,
    },
    /// Form submissions over the key's or an address's allowance: retry
    /// after this many seconds (the window's end).
    FormsLimited {
        per: FormLimit,
        retry_after: u64,
    },
    /// Storage failed: the snippet resends the batch.
    Unavailable,
    /// Stored: new events, and events seen before.
    Accepted {
        accepted: u32,
        duplicates: u32,
    },
}

pub struct SiteIngest<I> {
    config: TrackConfig,
    inbox: I,
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

impl<I: Inbox + Allowances + Sync> SiteIngest<I> {
    pub fn new(config: TrackConfig, inbox: I) -> Self {
        Self {
            config,
            inbox,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub async fn handle(&self, req: &TrackRequest<'_>) -> TrackOutcome {
        let origin = req
            .origin
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase());
        let answer = |answer: TrackAnswer, allowed: bool| TrackOutcome {
            answer,
            allowed_origin: origin.clone().filter(|_| allowed),
        };
        if req.method == "OPTIONS" {
            // A preflight names no key; any configured origin may proceed.
            return match origin.as_deref().is_some_and(|o| self.known_origin(o)) {
                true => answer(TrackAnswer::Preflight, true),
                false => answer(TrackAnswer::PreflightRefused, false),
            };
        }
        match self.admit(req, origin.as_deref()) {
            Ok((key_name, key)) => answer(self.take_batch(req, &key_name, key).await, true),
            Err(refused) => answer(refused, false),
        }
    }

    /// Whether any write key accepts this origin.
    fn known_origin(&self, origin: &str) -> bool {
        self.config
            .keys
            .values()
            .any(|k| k.origins.iter().any(|x| x == origin))
    }

    /// The checks before the origin is known to be allowed (so a refusal
    /// gives it no CORS permission): method, size, write key, origin.
    fn admit(
        &self,
        req: &TrackRequest<'_>,
        origin: Option<&str>,
    ) -> Result<(String, &WriteKey), TrackAnswer> {
        if req.method != "POST" {
            return Err(TrackAnswer::MethodNotAllowed);
        }
        if req.body.len() > site::MAX_BODY {
            let what = format!("body over {} bytes", site::MAX_BODY);
            return Err(TrackAnswer::TooLarge(what));
        }
        let body_key = site::key_of(req.body);
        let Some(key_name) = req.key.map(str::to_string).or(body_key) else {
            return Err(TrackAnswer::MissingKey);
        };
        let Some(key) = self.config.keys.get(&key_name) else {
            tracing::warn!("track: unknown write key");
            return Err(TrackAnswer::UnknownKey);
        };
        let allowed = origin.is_some_and(|o| key.origins.iter().any(|x| x == o));
        if !allowed {
            tracing::warn!(shop = %key.shop, origin = ?origin, "track: origin not allowed for this key");
            return Err(TrackAnswer::OriginNotAllowed);
        }
        Ok((key_name, key))
    }

    /// A batch from an allowed origin: parsed, within the key's rate and
    /// form allowances, then stored.
    async fn take_batch(
        &self,
        req: &TrackRequest<'_>,
        key_name: &str,
        key: &WriteKey,
    ) -> TrackAnswer {
        let links = site::Links::Origins(&key.origins);
        let batch = match site::parse(&key.shop, links, req.body, req.now, self.config.max_skew) {
            Ok(b) => b,
            Err(e) => {
                let too_many = matches!(e, TrackError::TooMany(_));
                let problems = match e {
                    TrackError::Invalid(p) => p,
                    other => vec![other.to_string()],
                };
                return TrackAnswer::Refused { too_many, problems };
            }
        };
        if let Err(wait) = self.take_rate(key_name, batch.events.len(), req.now) {
            let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
            return TrackAnswer::RateLimited { retry_after };
        }
        match self.take_forms(key_name, key, &batch.events, req.now).await {
            Ok(None) => {}
            Ok(Some(refused)) => return refused,
            Err(e) => {
                tracing::error!(shop = %key.shop, error = %e, "track: could not count form submissions");
                return TrackAnswer::Unavailable;
            }
        }
        self.store(key, &batch.events, req.now).await
    }

    /// Takes `events` tokens from the key's bucket (in this instance), or
    /// says how long to wait.
    fn take_rate(
        &self,
        key_name: &str,
        events: usize,
        now: Timestamp,
    ) -> Result<(), SignedDuration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets
            .entry(key_name.to_string())
            .or_insert_with(|| TokenBucket::new(self.config.rate, self.config.rate * 10.0))
            .take(events as f64, now)
    }

    /// Records each event in the inbox; a resent one is a duplicate.
    async fn store(&self, key: &WriteKey, events: &[Event], now: Timestamp) -> TrackAnswer {
        let (mut accepted, mut duplicates) = (0u32, 0u32);
        for event in events {
            let receipt = Receipt {
                shop: key.shop.clone(),
                delivery_id: format!("track:{}", event.source.delivery_id),
                platform_event_id: None,
                topic: event.source.topic.clone(),
                received_at: Some(now),
            };
            match self.inbox.record(&receipt, event).await {
                Ok(Recorded::New) => accepted += 1,
                Ok(Recorded::Duplicate | Recorded::Again) => duplicates += 1,
                Err(e) => {
                    // The snippet resends the batch; what was stored is a duplicate then.
                    tracing::error!(shop = %key.shop, error = %e, "track: could not store event");
                    return TrackAnswer::Unavailable;
                }
            }
        }
        tracing::info!(shop = %key.shop, accepted, duplicates, "track: batch stored");
        TrackAnswer::Accepted {
            accepted,
            duplicates,
        }
    }

    /// Takes the batch's form submissions from each address's allowance,
    /// then from the key's: the refusal when one is spent. A resent batch
    /// counts again (it is refused or stored before its events are known
    /// to be duplicates).
    async fn take_forms(
        &self,
        key_name: &str,
        key: &WriteKey,
        events: &[Event],
        now: Timestamp,
    ) -> Result<Option<TrackAnswer>, crate::ports::StoreError> {
        let addresses = form_addresses(events);
        if addresses.is_empty() {
            return Ok(None);
        }
        let limits = self.config.forms;
        let refused = |per: FormLimit, allowance: &Allowance| {
            let wait = allowance.window_end(now).duration_since(now);
            let retry_after = wait.as_secs().max(1) as u64;
            tracing::warn!(shop = %key.shop, per = ?per, "track: form submissions over their allowance");
            Some(TrackAnswer::FormsLimited { per, retry_after })
        };
        for (name, n) in &addresses {
            let take = Take::new(&key.shop, name.clone(), &limits.per_address, *n, now);
            if !self.inbox.take(&take).await? {
                return Ok(refused(FormLimit::Address, &limits.per_address));
            }
        }
        let total = addresses.values().sum();
        let take = Take::new(
            &key.shop,
            format!("form-key:{key_name}"),
            &limits.per_key,
            total,
            now,
        );
        if !self.inbox.take(&take).await? {
            return Ok(refused(FormLimit::Key, &limits.per_key));
        }
        Ok(None)
    }
}

/// The addresses a batch's form submissions name (as allowance names, the
/// same in any case), with how many each.
fn form_addresses(
    events: &[waymark_core::event::Event],
) -> std::collections::BTreeMap<String, u32> {
    let mut addresses = std::collections::BTreeMap::new();
    for event in events {
        if let EventKind::Site(site) = &event.kind
            && site.action == SiteAction::FormSubmitted
            && let Some(address) = &site.email
        {
            *addresses.entry(address_name(address)).or_insert(0) += 1;
        }
    }
    addresses
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    fn service(rate: f64) -> (SiteIngest<MemoryStore>, MemoryStore) {
        let store = MemoryStore::default();
        let config = TrackConfig {
            keys: TrackConfig::parse_keys(
                "wk_demo_123:demo.myshopify.com:https://demo.example,http://127.0.0.1:8080",
            )
            .unwrap(),
            rate,
            max_skew: Some(SignedDuration::from_hours(24)),
            forms: FormAllowances::default(),
        };
        (SiteIngest::new(config, store.clone()), store)
    }

    fn now() -> Timestamp {
        "2026-05-01T12:00:00Z".parse().unwrap()
    }

    fn post<'a>(origin: Option<&'a str>, body: &'a str) -> TrackRequest<'a> {
        TrackRequest {
            method: "POST",
            origin,
            key: None,
            body: body.as_bytes(),
            now: now(),
        }
    }

    const ONE: &str = r#"{"key":"wk_demo_123","batch":[{"type":"page_viewed","id":"e1","anonymous_id":"a1","page_type":"pricing"}]}"#;

    #[tokio::test]
    async fn keys_origins_and_duplicates() {
        let (s, store) = service(100.0);
        let ok = s.handle(&post(Some("https://demo.example/"), ONE)).await;
        assert_eq!(
            ok.answer,
            TrackAnswer::Accepted {
                accepted: 1,
                duplicates: 0
            }
        );
        assert_eq!(ok.allowed_origin.as_deref(), Some("https://demo.example"));
        assert_eq!(store.take_new_events().len(), 1);
        let again = s.handle(&post(Some("https://demo.example"), ONE)).await;
        assert_eq!(
            again.answer,
            TrackAnswer::Accepted {
                accepted: 0,
                duplicates: 1
            }
        );
        assert!(store.take_new_events().is_empty());

        let evil = s.handle(&post(Some("https://evil.example"), ONE)).await;
        assert_eq!(evil.answer, TrackAnswer::OriginNotAllowed);
        assert_eq!(evil.allowed_origin, None, "no CORS permission for it");
        let no_origin = s.handle(&post(None, ONE)).await;
        assert_eq!(no_origin.answer, TrackAnswer::OriginNotAllowed);
        let bad_key = ONE.replace("wk_demo_123", "wk_guess_000");
        assert_eq!(
            s.handle(&post(Some("https://demo.example"), &bad_key))
                .await
                .answer,
            TrackAnswer::UnknownKey
        );
        assert!(
            store.take_new_events().is_empty(),
            "refused requests store nothing"
        );

        let pre = s
            .handle(&TrackRequest {
                method: "OPTIONS",
                origin: Some("http://127.0.0.1:8080"),
                key: None,
                body: b"",
                now: now(),
            })
            .await;
        assert_eq!(pre.answer, TrackAnswer::Preflight);
    }

    #[tokio::test]
    async fn a_bad_event_refuses_the_whole_batch() {
        let (s, store) = service(100.0);
        let body = r#"{"key":"wk_demo_123","batch":[
            {"type":"page_viewed","id":"e1","anonymous_id":"a1"},
            {"type":"page_viewed","id":"e2"}]}"#;
        let r = s.handle(&post(Some("https://demo.example"), body)).await;
        let TrackAnswer::Refused { too_many, problems } = r.answer else {
            panic!("{r:?}")
        };
        assert!(!too_many);
        assert!(problems[0].starts_with("batch[1].anonymous_id"));
        assert!(store.take_new_events().is_empty());
    }

    #[tokio::test]
    async fn the_rate_limit_answers_429_with_retry_after() {
        let (s, store) = service(1.0);
        let batch: Vec<String> = (0..10)
            .map(|i| format!(r#"{{"type":"page_viewed","id":"e{i}","anonymous_id":"a"}}"#))
            .collect();
        let body = format!(r#"{{"key":"wk_demo_123","batch":[{}]}}"#, batch.join(","));
        assert!(matches!(
            s.handle(&post(Some("https://demo.example"), &body))
                .await
                .answer,
            TrackAnswer::Accepted { .. }
        ));
        let body2 = body.replace("\"e", "\"f");
        let limited = s.handle(&post(Some("https://demo.example"), &body2)).await;
        assert_eq!(limited.answer, TrackAnswer::RateLimited { retry_after: 10 });
        assert_eq!(
            store.take_new_events().len(),
            10,
            "the limited batch stored nothing"
        );
    }

    fn form(id: &str, email: &str) -> String {
        format!(
            r#"{{"type":"form_submitted","id":"{id}","anonymous_id":"a-{id}","email":"{email}","accepts_marketing":true}}"#
        )
    }

    async fn at(s: &SiteIngest<MemoryStore>, body: String, when: Timestamp) -> TrackAnswer {
        let request = TrackRequest {
            method: "POST",
            origin: Some("https://demo.example"),
            key: None,
            body: body.as_bytes(),
            now: when,
        };
        s.handle(&request).await.answer
    }

    fn batch(events: &[String]) -> String {
        format!(r#"{{"key":"wk_demo_123","batch":[{}]}}"#, events.join(","))
    }

    /// Form allowances are kept in the store: a second service over the
    /// same store (another instance) sees what the first took.
    #[tokio::test]
    async fn forms_are_allowed_per_address_and_per_key_across_instances() {
        let (first, store) = service(1000.0);
        let mut config = first.config.clone();
        config.forms = FormAllowances {
            per_key: Allowance::parse("5/1h").unwrap(),
            per_address: Allowance::parse("2/1d").unwrap(),
        };
        let one = SiteIngest::new(config.clone(), store.clone());
        let two = SiteIngest::new(config, store.clone());
        let accepted = |n| TrackAnswer::Accepted {
            accepted: n,
            duplicates: 0,
        };
        // The same person, in any case, twice: then refused until tomorrow.
        let a1 = batch(&[form("f1", "ana@example.com")]);
        assert_eq!(at(&one, a1, now()).await, accepted(1));
        let a2 = batch(&[form("f2", "ANA@example.com")]);
        assert_eq!(at(&two, a2, now()).await, accepted(1));
        let a3 = batch(&[
            r#"{"type":"page_viewed","id":"p1","anonymous_id":"x"}"#.to_string(),
            form("f3", "ana@example.com"),
        ]);
        let refused = at(&one, a3.clone(), now()).await;
        assert_eq!(
            refused,
            TrackAnswer::FormsLimited {
                per: FormLimit::Address,
                retry_after: 12 * 3600,
            },
            "noon: the day's window ends at midnight UTC"
        );
        assert_eq!(
            store.take_new_events().len(),
            2,
            "the refused batch stored nothing"
        );
        // Others are still welcome, up to the key's five an hour (two used).
        let others = batch(&[form("g1", "bo@example.com"), form("g2", "cy@example.com")]);
        assert_eq!(at(&two, others, now()).await, accepted(2));
        let over = batch(&[form("g3", "di@example.com"), form("g4", "ed@example.com")]);
        assert_eq!(
            at(&one, over, now()).await,
            TrackAnswer::FormsLimited {
                per: FormLimit::Key,
                retry_after: 3600,
            }
        );
        // Events without a form never touch the allowances.
        let views = batch(&[r#"{"type":"page_viewed","id":"p2","anonymous_id":"x"}"#.to_string()]);
        assert_eq!(at(&one, views, now()).await, accepted(1));
        // The next day, Ana's submission is taken again.
        let tomorrow = now() + SignedDuration::from_hours(13);
        assert_eq!(at(&two, a3, tomorrow).await, accepted(2));
    }

    #[test]
    fn key_settings_are_checked() {
        assert!(TrackConfig::parse_keys("short:demo.myshopify.com:https://a.example").is_err());
        assert!(TrackConfig::parse_keys("wk_demo_123:demo.myshopify.com:ftp://a").is_err());
        assert!(TrackConfig::parse_keys("wk_demo_123:demo.myshopify.com").is_err());
        let k = TrackConfig::parse_keys(
            "wk_a_12345:a.myshopify.com:https://a.example; wk_b_12345:b.myshopify.com:https://b.example,https://www.b.example",
        )
        .unwrap();
        assert_eq!(k["wk_b_12345"].origins.len(), 2);
    }
}
