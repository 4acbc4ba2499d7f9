//! Campaigns: the fan-out the timer drives. At its time a campaign's
//! audience is read page by page (its segments in turn, from a cursor saved
//! after every page, so a cut-short tick or a crash resumes where it
//! stopped); each member's send is recorded as an event for that contact
//! (its id derived from campaign and contact: a member of two segments, a
//! re-read page or a restarted fan-out records nothing twice). The stream
//! hands the events to `process` in parallel across its shards, where each
//! contact's consent, topics, smart sending and local time decide its
//! email. With an A/B test, the test share goes first; after the wait the
//! variant with the best click (or open) rate goes to the rest.

use crate::ports::{
    CampaignPhase, CampaignRecord, CampaignState, CampaignStore, Counters, Inbox, Receipt,
    StoreError,
};
use futures::StreamExt;
use jiff::Timestamp;
use waymark_core::analytics::field;
use waymark_core::campaign::{self, Group, Metric, Send};
use waymark_core::event::{Event, EventKind, Source, fact_id};
use waymark_core::ids::ShopDomain;

/// Members read per page.
pub const PAGE: usize = 500;
/// Sends recorded at once (each is one small transaction).
pub const PARALLEL: usize = 32;

/// What one turn of a campaign did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    pub recorded: u64,
    pub overlaps: u64,
    pub pages: u64,
}

/// Moves a due campaign on as far as `more_time` allows; saves where it got.
pub async fn advance<S>(
    store: &S,
    shop: &ShopDomain,
    id: &str,
    now: Timestamp,
    more_time: &impl Fn() -> bool,
) -> Result<Progress, StoreError>
where
    S: CampaignStore + Inbox + Counters + Sync,
{
    let mut progress = Progress::default();
    let Some(CampaignRecord {
        campaign: c,
        mut state,
        mut version,
    }) = store.campaign(shop, id).await?
    else {
        return Ok(progress);
    };
    loop {
        let turn = match state.phase {
            CampaignPhase::Done | CampaignPhase::Cancelled => return Ok(progress),
            CampaignPhase::Scheduled => start(&c, &mut state, now),
            CampaignPhase::Deciding => decide(store, shop, id, &c, &mut state, now).await?,
            CampaignPhase::Testing | CampaignPhase::Sending => {
                if !more_time() {
                    Turn::NotYet(now)
                } else {
                    page(store, shop, &c, &mut state, now, &mut progress).await?;
                    Turn::MovedOn(after_page(&c, &mut state, now))
                }
            }
        };
        let due = match turn {
            Turn::MovedOn(due) => due,
            Turn::NotYet(at) => {
                store
                    .save_campaign(shop, id, &state, version, Some(at))
                    .await?;
                return Ok(progress);
            }
        };
        if !store.save_campaign(shop, id, &state, version, due).await? {
            // Cancelled (or moved on by another tick) meanwhile.
            tracing::info!(%shop, campaign = id, "campaign changed meanwhile; stopping");
            return Ok(progress);
        }
        version += 1;
        if state.phase == CampaignPhase::Deciding || state.phase == CampaignPhase::Done {
            return Ok(progress);
        }
    }
}

/// What one turn of a campaign's phase decided.
enum Turn {
    /// Not yet (or no time left): save the state as it is, due again at
    /// this time, and stop.
    NotYet(Timestamp),
    /// Moved on: save, due next at this time (none once done).
    MovedOn(Option<Timestamp>),
}

/// A scheduled campaign starts at its time: with its A/B test's share if
/// it has one, else with everyone.
fn start(c: &campaign::Campaign, state: &mut CampaignState, now: Timestamp) -> Turn {
    let start = c.starts_at();
    if now < start {
        // Due at its time (a stale index entry, or rescheduled).
        return Turn::NotYet(start);
    }
    state.started_at = Some(now);
    state.phase = if c.ab_test.is_some() {
        CampaignPhase::Testing
    } else {
        CampaignPhase::Sending
    };
    state.segment = 0;
    state.after = None;
    Turn::MovedOn(Some(now))
}

/// After the test's wait, picks the winner and sends it to the rest.
async fn decide<S: Counters>(
    store: &S,
    shop: &ShopDomain,
    id: &str,
    c: &campaign::Campaign,
    state: &mut CampaignState,
    now: Timestamp,
) -> Result<Turn, StoreError> {
    let at = state.decide_at.unwrap_or(now);
    if now < at {
        return Ok(Turn::NotYet(at));
    }
    state.winner = Some(winner(store, shop, c, state, now).await?);
    state.phase = CampaignPhase::Sending;
    state.segment = 0;
    state.after = None;
    tracing::info!(%shop, campaign = id, winner = ?state.winner, "A/B test decided");
    Ok(Turn::MovedOn(Some(now)))
}

/// When the page was the last of the last segment, the phase ends: the
/// test waits for its decision, the send is done. Returns when it is due next.
fn after_page(
    c: &campaign::Campaign,
    state: &mut CampaignState,
    now: Timestamp,
) -> Option<Timestamp> {
    if state.segment < c.segments.len() {
        return Some(now);
    }
    match state.phase {
        CampaignPhase::Testing => {
            let wait = c.ab_test.as_ref().map(|ab| ab.wait).unwrap_or_default();
            let at = now.checked_add(wait).unwrap_or(now);
            state.phase = CampaignPhase::Deciding;
            state.decide_at = Some(at);
            Some(at)
        }
        _ => {
            state.phase = CampaignPhase::Done;
            None
        }
    }
}

/// Reads one page of the current segment and records its members' sends.
async fn page<S>(
    store: &S,
    shop: &ShopDomain,
    c: &campaign::Campaign,
    state: &mut CampaignState,
    now: Timestamp,
    progress: &mut Progress,
) -> Result<(), StoreError>
where
    S: CampaignStore + Inbox + Sync,
{
    let Some(segment) = c.segments.get(state.segment) else {
        return Ok(());
    };
    let (members, next) = store
        .member_page(shop, segment, state.after.as_deref(), PAGE)
        .await?;
    let started = state.started_at.unwrap_or(now);
    let testing = state.phase == CampaignPhase::Testing;
    let def = Box::new(c.clone());
    let sends: Vec<Send> = members
        .into_iter()
        .filter_map(|m| {
            let variant = match (c.group(m.contact.as_str()), testing) {
                (Group::All, _) => None,
                (Group::Test(i), true) => c
                    .ab_test
                    .as_ref()
                    .and_then(|ab| ab.variants.get(i))
                    .map(|v| v.name.clone()),
                (Group::Rest, false) => state.winner.clone(),
                _ => return None,
            };
            Some(Send {
                campaign: c.id.clone(),
                contact: m.contact,
                variant,
                started_at: started,
                def: Some(def.clone()),
            })
        })
        .collect();
    let results: Vec<Result<crate::ports::Recorded, StoreError>> =
        futures::stream::iter(sends.into_iter().map(|s| record(store, shop, s, now)))
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
    for r in results {
        match r? {
            crate::ports::Recorded::New => {
                state.recorded += 1;
                progress.recorded += 1;
            }
            crate::ports::Recorded::Duplicate => {
                state.overlaps += 1;
                progress.overlaps += 1;
            }
        }
    }
    progress.pages += 1;
    match next {
        Some(key) => state.after = Some(key),
        None => {
            state.segment += 1;
            state.after = None;
        }
    }
    Ok(())
}

/// Records one member's send: an event for the contact, deduplicated by
/// (campaign, contact).
async fn record<S: Inbox>(
    store: &S,
    shop: &ShopDomain,
    send: Send,
    now: Timestamp,
) -> Result<crate::ports::Recorded, StoreError> {
    let resource = format!("{}/{}", send.campaign, send.contact);
    // Not time-bound: one send per contact and campaign, ever.
    let id = fact_id(shop, "campaign_send", &resource, Timestamp::UNIX_EPOCH);
    let event = Event {
        id: id.clone(),
        shop: shop.clone(),
        at: now,
        source: Source {
            platform: "waymark".into(),
            topic: "campaign".into(),
            delivery_id: id.clone(),
        },
        kind: EventKind::CampaignSend(send),
    };
    let receipt = Receipt {
        shop: shop.clone(),
        delivery_id: format!("campaign-{id}"),
        platform_event_id: None,
        topic: "campaign".into(),
        received_at: Some(now),
    };
    store.record(&receipt, &event).await
}

/// The variant with the best rate of the test's metric (clicks, or opens)
/// per email sent; the first variant on a tie or without data.
async fn winner<S: Counters>(
    store: &S,
    shop: &ShopDomain,
    c: &campaign::Campaign,
    state: &CampaignState,
    now: Timestamp,
) -> Result<String, StoreError> {
    let Some(ab) = &c.ab_test else {
        return Ok(campaign::STEP.into());
    };
    let from = state.started_at.unwrap_or(now) - jiff::SignedDuration::from_hours(24 * 2);
    let to = now + jiff::SignedDuration::from_hours(24 * 2);
    let counts = counts_between(store, shop, from, to).await?;
    let journey = campaign::journey(&c.id);
    let metric = match ab.metric {
        Metric::Clicks => field::CLICKED,
        Metric::Opens => field::OPENED,
    };
    let rate = |name: &str| {
        let (mut sent, mut hits) = (0i64, 0i64);
        for (k, f) in &counts.0 {
            if k.journey == journey && k.step == name {
                sent += f.get(field::SENT).copied().unwrap_or(0);
                hits += f.get(metric).copied().unwrap_or(0);
            }
        }
        if sent > 0 {
            hits as f64 / sent as f64
        } else {
            0.0
        }
    };
    let mut best = &ab.variants[0];
    for v in &ab.variants[1..] {
        if rate(&v.name) > rate(&best.name) {
            best = v;
        }
    }
    Ok(best.name.clone())
}

/// The counter rows of the UTC days from `from` to `to`.
async fn counts_between<S: Counters>(
    store: &S,
    shop: &ShopDomain,
    from: Timestamp,
    to: Timestamp,
) -> Result<waymark_core::analytics::Counts, StoreError> {
    store
        .read_counts(
            shop,
            from.to_zoned(jiff::tz::TimeZone::UTC).date(),
            to.to_zoned(jiff::tz::TimeZone::UTC).date(),
        )
        .await
}

type Fields = std::collections::BTreeMap<String, i64>;

fn get(m: &Fields, f: &str) -> i64 {
    m.get(f).copied().unwrap_or(0)
}

/// `waymark campaigns status`: the record and its results so far.
pub async fn status<S>(
    store: &S,
    shop: &ShopDomain,
    id: &str,
) -> Result<Option<serde_json::Value>, StoreError>
where
    S: CampaignStore + Counters,
{
    let Some(r) = store.campaign(shop, id).await? else {
        return Ok(None);
    };
    let from = r.state.started_at.unwrap_or(r.state.scheduled_at)
        - jiff::SignedDuration::from_hours(24 * 2);
    let to = r.state.started_at.unwrap_or(r.state.scheduled_at)
        + jiff::SignedDuration::from_hours(24 * 60);
    let counts = counts_between(store, shop, from, to).await?;
    let (total, variants) = campaign_totals(&counts, &campaign::journey(id));
    Ok(Some(status_json(id, &r, &total, &variants)))
}

/// The campaign's counters summed: its totals, and each variant's.
fn campaign_totals(
    counts: &waymark_core::analytics::Counts,
    journey: &str,
) -> (Fields, std::collections::BTreeMap<String, Fields>) {
    let mut total = Fields::new();
    let mut variants = std::collections::BTreeMap::<String, Fields>::new();
    let counts = counts.with_message_totals();
    for (k, f) in &counts.0 {
        if k.journey != journey {
            continue;
        }
        let into = if k.step.is_empty() {
            &mut total
        } else if k.step.contains('=') {
            continue;
        } else {
            variants.entry(k.step.clone()).or_default()
        };
        for (name, n) in f {
            *into.entry(name.clone()).or_default() += n;
        }
    }
    (total, variants)
}

fn status_json(
    id: &str,
    r: &CampaignRecord,
    total: &Fields,
    variants: &std::collections::BTreeMap<String, Fields>,
) -> serde_json::Value {
    let skipped: serde_json::Map<String, serde_json::Value> = total
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(field::EXITED_BY)?.to_string(), (*v).into())))
        .collect();
    serde_json::json!({
        "campaign": id,
        "name": r.campaign.name,
        "phase": r.state.phase,
        "send_at": r.campaign.send_at,
        "started_at": r.state.started_at,
        "audience": r.state.recorded,
        "overlaps": r.state.overlaps,
        "queued": get(total, field::COMPLETED),
        "sent": get(total, field::SENT),
        "delivered": get(total, field::DELIVERED),
        "opened": get(total, field::OPENED),
        "clicked": get(total, field::CLICKED),
        "unsubscribed": get(total, field::UNSUBSCRIBED),
        "suppressed": get(total, field::SUPPRESSED),
        "failed": get(total, field::FAILED),
        "maybe_duplicated": get(total, field::MAYBE_DUPLICATED),
        "skipped": get(total, field::EXITED),
        "skipped_by_reason": skipped,
        "ab_test": r.campaign.ab_test.as_ref().map(|ab| serde_json::json!({
            "test_share": ab.test_share,
            "metric": ab.metric,
            "decide_at": r.state.decide_at,
            "winner": r.state.winner,
            "variants": ab.variants.iter().map(|v| {
                let m = variants.get(&v.name).cloned().unwrap_or_default();
                serde_json::json!({
                    "variant": v.name,
                    "sent": get(&m, field::SENT),
                    "opened": get(&m, field::OPENED),
                    "clicked": get(&m, field::CLICKED),
                })
            }).collect::<Vec<_>>(),
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use crate::ports::{Commit, ContactStore};
    use waymark_core::campaign::{Campaign, SendAt};
    use waymark_core::contact::Contact;
    use waymark_core::ids::{ContactId, EmailAddress};

    fn at(t: &str) -> Timestamp {
        t.parse().unwrap()
    }

    async fn members(store: &MemoryStore, shop: &ShopDomain, n: u64, segment: &str) {
        for i in 0..n {
            let id = ContactId::for_customer(i + 1);
            let (contact, version) = match store.load_for_update(shop, &id).await.unwrap() {
                Some(s) => (s.contact, s.version),
                None => {
                    let mut c = Contact::new(id, shop.clone(), at("2026-11-01T00:00:00Z"));
                    c.identity.email =
                        Some(EmailAddress::parse(&format!("m{i}@example.com")).unwrap());
                    (c, 0)
                }
            };
            store
                .commit(Commit {
                    contact,
                    expected_version: version,
                    recent_events: Default::default(),
                    runs: vec![],
                    outbox: vec![],
                    identities: Default::default(),
                    segments_entered: vec![segment.to_string()],
                    segments_exited: vec![],
                    absorbed: None,
                    counts: Default::default(),
                    expired: Vec::new(),
                })
                .await
                .unwrap();
        }
    }

    fn newsletter(segments: &[&str]) -> Campaign {
        Campaign {
            id: "news".into(),
            name: "News".into(),
            segments: segments.iter().map(|s| s.to_string()).collect(),
            exclude: vec![],
            template: "welcome_1".into(),
            subject: None,
            preheader: None,
            topic: None,
            send_at: SendAt::Instant(at("2026-12-01T10:00:00Z")),
            smart_sending: None,
            utm: Default::default(),
            ab_test: None,
        }
    }

    #[tokio::test]
    async fn a_fan_out_cut_short_and_run_again_records_everyone_once() {
        let store = MemoryStore::default();
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        // Two segments that overlap on 300 members, over several pages.
        members(&store, &shop, 1_200, "a").await;
        members(&store, &shop, 300, "b").await;
        let c = newsletter(&["a", "b"]);
        assert!(
            store
                .schedule(&shop, &c, at("2026-11-30T00:00:00Z"))
                .await
                .unwrap()
        );
        let now = at("2026-12-01T10:00:00Z");
        // A tick that has time for one page only, then stops (a timeout).
        let budget = std::cell::Cell::new(1u32);
        let one_page = || {
            let left = budget.get();
            budget.set(left.saturating_sub(1));
            left > 0
        };
        let first = advance(&store, &shop, "news", now, &one_page)
            .await
            .unwrap();
        assert_eq!(first.recorded, PAGE as u64);
        let r = store.campaign(&shop, "news").await.unwrap().unwrap();
        assert_eq!(r.state.phase, CampaignPhase::Sending);
        assert!(r.state.after.is_some(), "a cursor to go on from");
        // The same page again (a crash before its cursor was saved): the
        // sends it records are duplicates, nothing new.
        let mut replay = r.state.clone();
        replay.after = None;
        assert!(
            store
                .save_campaign(&shop, "news", &replay, r.version, Some(now))
                .await
                .unwrap()
        );
        let again = advance(&store, &shop, "news", now, &|| true).await.unwrap();
        assert_eq!(
            again.overlaps,
            PAGE as u64 + 300,
            "the replayed page and segment b"
        );
        let events = store.take_new_events();
        assert_eq!(events.len(), 1_200, "one send per person");
        let ids: std::collections::BTreeSet<_> = events.iter().map(|e| e.id.clone()).collect();
        assert_eq!(ids.len(), 1_200);
        let r = store.campaign(&shop, "news").await.unwrap().unwrap();
        assert_eq!(r.state.phase, CampaignPhase::Done);
        assert_eq!(r.state.recorded, 1_200);
        // Done is done: another tick records nothing.
        let after = advance(&store, &shop, "news", now, &|| true).await.unwrap();
        assert_eq!(after, Progress::default());
    }

    #[tokio::test]
    async fn nothing_is_recorded_before_its_time_or_after_a_cancel() {
        let store = MemoryStore::default();
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        members(&store, &shop, 10, "a").await;
        let c = newsletter(&["a"]);
        assert!(
            store
                .schedule(&shop, &c, at("2026-11-30T00:00:00Z"))
                .await
                .unwrap()
        );
        let early = advance(&store, &shop, "news", at("2026-12-01T09:59:00Z"), &|| true)
            .await
            .unwrap();
        assert_eq!(early.recorded, 0);
        assert!(store.cancel(&shop, "news").await.unwrap());
        let late = advance(&store, &shop, "news", at("2026-12-01T10:00:00Z"), &|| true)
            .await
            .unwrap();
        assert_eq!(late.recorded, 0);
        assert!(store.take_new_events().is_empty());
    }
}
