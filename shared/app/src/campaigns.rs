//! Campaigns: the fan-out the timer drives. At its time a campaign's
//! audience is read page by page (its segments in turn, from a cursor saved
//! after every page, so a cut-short tick or a crash resumes where it
//! stopped), and each page is handed to a worker through a queue
//! ([`PageQueue`]: SQS in production, so pages are recorded by many
//! invocations side by side). A worker records each member's send as an
//! event for that contact (its id derived from campaign, schedule and
//! contact: a member of two segments, a redelivered page or a restarted
//! fan-out records nothing twice), then marks the page finished, once. The stream
//! hands the events to `process` in parallel across its shards, where each
//! contact's consent, topics, smart sending and local time decide its
//! email. A wave (the A/B test's share, or the send) ends when every page
//! handed over is finished; with an A/B test, the test share goes first,
//! and after the wait the variant with the best click (or open) rate goes
//! to the rest.

use crate::ports::{
    CampaignPage, CampaignPhase, CampaignRecord, CampaignState, CampaignStore, Counters, Inbox,
    PageQueue, PageSend, Receipt, StoreError,
};
use futures::StreamExt;
use jiff::Timestamp;
use waymark_core::analytics::field;
use waymark_core::campaign::{self, Group, Metric, Send};
use waymark_core::event::{Event, EventKind, Source, fact_id};
use waymark_core::ids::ShopDomain;

/// Members read per page (one queue message: at most 500 ids of 64 bytes,
/// well under SQS's 256 KB).
pub const PAGE: usize = 500;
/// Sends a worker records at once (each is one small conditional write).
pub const PARALLEL: usize = 32;
/// How long a wave waits, after its last page was handed over, for the
/// workers to finish every page. A page still missing then has failed five
/// deliveries and is parked (`CampaignPageFailures`, alarmed): the wave ends
/// without it, counted in `missing_pages`, so an A/B test is decided and the
/// campaign finishes; a page moved back later is still recorded and sent.
pub const WAVE_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_hours(2);

/// What one turn of a campaign did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    /// Members handed to the workers, and pages.
    pub queued: u64,
    pub pages: u64,
}

/// Moves a due campaign on as far as `more_time` allows; saves where it got.
pub async fn advance<S, Q>(
    store: &S,
    queue: &Q,
    shop: &ShopDomain,
    id: &str,
    now: Timestamp,
    more_time: &impl Fn() -> bool,
) -> Result<Progress, StoreError>
where
    S: CampaignStore + Counters + Sync,
    Q: PageQueue + Sync,
{
    let mut progress = Progress::default();
    let Some(CampaignRecord {
        campaign: c,
        mut state,
        mut version,
        mut worked,
    }) = store.campaign(shop, id).await?
    else {
        return Ok(progress);
    };
    loop {
        let turn = match state.phase {
            CampaignPhase::Done | CampaignPhase::Cancelled => return Ok(progress),
            CampaignPhase::Scheduled => start(&c, &mut state, now),
            CampaignPhase::Deciding => decide(store, shop, id, &c, &mut state, now).await?,
            CampaignPhase::Testing | CampaignPhase::Sending if state.planned => {
                if worked.pages(state.phase) < state.pages {
                    // The workers may have finished since it was read.
                    if let Some(fresh) = store.campaign(shop, id).await? {
                        worked = fresh.worked;
                    }
                }
                let missing = state.pages.saturating_sub(worked.pages(state.phase));
                let waited = state
                    .planned_at
                    .and_then(|at| at.checked_add(WAVE_GRACE).ok())
                    .is_some_and(|until| now >= until);
                if missing == 0 {
                    Turn::MovedOn(end_wave(&c, &mut state, now))
                } else if waited {
                    tracing::error!(%shop, campaign = id, missing, "campaign pages not finished in time (parked in CampaignPageFailures?); the wave ends without them");
                    state.missing_pages += missing;
                    Turn::MovedOn(end_wave(&c, &mut state, now))
                } else {
                    // Looked at again next tick.
                    Turn::NotYet(now)
                }
            }
            CampaignPhase::Testing | CampaignPhase::Sending => {
                if !more_time() {
                    Turn::NotYet(now)
                } else {
                    page(store, queue, shop, &c, &mut state, now, &mut progress).await?;
                    Turn::MovedOn(Some(now))
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
    new_wave(state);
    Turn::MovedOn(Some(now))
}

/// A wave reads the audience from its start.
fn new_wave(state: &mut CampaignState) {
    state.segment = 0;
    state.after = None;
    state.pages = 0;
    state.planned = false;
    state.planned_at = None;
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
    let decision = decision(store, shop, c, state, now).await?;
    state.winner = Some(
        decision
            .as_ref()
            .map_or_else(|| campaign::STEP.to_string(), |d| d.winner.clone()),
    );
    state.phase = CampaignPhase::Sending;
    new_wave(state);
    tracing::info!(%shop, campaign = id, winner = ?state.winner,
        result = ?decision.as_ref().map(|d| d.result), "A/B test decided");
    state.decision = decision;
    Ok(Turn::MovedOn(Some(now)))
}

/// Every page of the wave is finished: the test waits for its decision, the
/// send is done. Returns when it is due next.
fn end_wave(
    c: &campaign::Campaign,
    state: &mut CampaignState,
    now: Timestamp,
) -> Option<Timestamp> {
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

/// Reads one page of the current segment and hands its members to a
/// worker; past the last segment, the wave is planned.
async fn page<S, Q>(
    store: &S,
    queue: &Q,
    shop: &ShopDomain,
    c: &campaign::Campaign,
    state: &mut CampaignState,
    now: Timestamp,
    progress: &mut Progress,
) -> Result<(), StoreError>
where
    S: CampaignStore + Sync,
    Q: PageQueue + Sync,
{
    let Some(segment) = c.segments.get(state.segment) else {
        state.planned = true;
        state.planned_at = Some(now);
        return Ok(());
    };
    let (members, next) = store
        .member_page(shop, segment, state.after.as_deref(), PAGE)
        .await?;
    let testing = state.phase == CampaignPhase::Testing;
    let sends: Vec<PageSend> = members
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
            Some(PageSend {
                contact: m.contact,
                variant,
            })
        })
        .collect();
    if !sends.is_empty() {
        let page = CampaignPage {
            shop: shop.clone(),
            campaign: c.id.clone(),
            run: state.run(),
            wave: state.phase,
            number: state.pages,
            at: now,
            started_at: state.started_at.unwrap_or(now),
            sends,
        };
        // Handed over before the cursor moves: a crash in between hands the
        // same page (same number) over again, which the worker's marks and
        // the sends' ids make harmless.
        queue.enqueue(&page).await?;
        state.pages += 1;
        progress.queued += page.sends.len() as u64;
        progress.pages += 1;
    }
    match next {
        Some(key) => state.after = Some(key),
        None => {
            state.segment += 1;
            state.after = None;
            if state.segment >= c.segments.len() {
                state.planned = true;
                state.planned_at = Some(now);
            }
        }
    }
    Ok(())
}

/// What a worker did with a page.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PageReport {
    /// Sends recorded now, and members whose send was already recorded
    /// (another segment, or this page delivered again).
    pub recorded: u64,
    pub overlaps: u64,
    /// The page was counted now (not before: a redelivery counts nothing).
    pub counted: bool,
    /// Dropped: the campaign was cancelled, or sent again since.
    pub dropped: bool,
}

/// A worker's turn at `now` (its invocation's start): records the sends of
/// one page, then marks it finished (once). A page of a cancelled campaign,
/// or of an earlier run of it, is dropped. An error leaves the page to be
/// delivered again; what it recorded is not recorded twice, and counts as
/// this page's (not as an overlap) when it comes again.
pub async fn work_page<S>(
    store: &S,
    page: &CampaignPage,
    now: Timestamp,
) -> Result<PageReport, StoreError>
where
    S: CampaignStore + Inbox + Sync,
{
    work_page_with(store, &crate::page_send::ViaEvents, page, now, now, &|| {
        true
    })
    .await
}

/// As [`work_page`], `sender` deciding and sending what it can straight
/// from the page (`crate::page_send`), the rest recorded as events;
/// `deadline`: when the invocation must be done (its emails' claims hold
/// until just after it); `more_time`: whether it may still send (once it
/// may not, the rest of the page is recorded at once).
pub async fn work_page_with<S, P>(
    store: &S,
    sender: &P,
    page: &CampaignPage,
    now: Timestamp,
    deadline: Timestamp,
    more_time: &(impl Fn() -> bool + Sync),
) -> Result<PageReport, StoreError>
where
    S: CampaignStore + Inbox + Sync,
    P: crate::page_send::PageSender + Sync,
{
    let mut report = PageReport::default();
    let record = store.campaign(&page.shop, &page.campaign).await?;
    let Some(record) =
        record.filter(|r| r.state.phase != CampaignPhase::Cancelled && r.state.run() == page.run)
    else {
        report.dropped = true;
        return Ok(report);
    };
    let def = Box::new(record.campaign);
    let sends: Vec<Send> = page
        .sends
        .iter()
        .map(|m| Send {
            campaign: page.campaign.clone(),
            contact: m.contact.clone(),
            variant: m.variant.clone(),
            started_at: page.started_at,
            run: Some(page.run),
            def: Some(def.clone()),
            earlier_unsent: false,
            page: None,
        })
        .collect();
    let (shop, at) = (&page.shop, page.at);
    let by = page_delivery(page);
    let results: Vec<Result<crate::ports::Recorded, StoreError>> = futures::stream::iter(
        sends
            .into_iter()
            .map(|s| take_send(store, sender, shop, s, &by, at, deadline, more_time)),
    )
    .buffer_unordered(PARALLEL)
    .collect()
    .await;
    for r in results {
        match r? {
            // Recorded now, or by this page before its mark failed.
            crate::ports::Recorded::New | crate::ports::Recorded::Again => report.recorded += 1,
            crate::ports::Recorded::Duplicate => report.overlaps += 1,
        }
    }
    report.counted = store
        .page_done(page, report.recorded, report.overlaps)
        .await?;
    if report.counted {
        end_wave_if_finished(store, page, page.at.max(now)).await?;
    }
    Ok(report)
}

/// The worker that finishes a wave's last page ends the wave, so the A/B
/// test's wait (or the send's end) starts then, not at the next tick; when
/// the timer hands out the last page after the workers finished the others,
/// it ends the wave itself. Both may try: the save is conditional on the
/// version, so one of them does it.
async fn end_wave_if_finished<S: CampaignStore + Sync>(
    store: &S,
    page: &CampaignPage,
    now: Timestamp,
) -> Result<(), StoreError> {
    let Some(r) = store.campaign(&page.shop, &page.campaign).await? else {
        return Ok(());
    };
    let finished = r.state.run() == page.run
        && r.state.phase == page.wave
        && r.state.planned
        && r.worked.pages(page.wave) >= r.state.pages;
    if !finished {
        return Ok(());
    }
    let mut state = r.state;
    let due = end_wave(&r.campaign, &mut state, now);
    if store
        .save_campaign(&page.shop, &page.campaign, &state, r.version, due)
        .await?
    {
        tracing::info!(shop = %page.shop, campaign = %page.campaign, phase = ?state.phase, "campaign wave finished by its last page");
    }
    Ok(())
}

/// The page as the delivery that records its members' sends: the same in
/// every delivery of the page, different for every other page.
fn page_delivery(page: &CampaignPage) -> String {
    let wave = if page.wave == CampaignPhase::Testing {
        "t"
    } else {
        "s"
    };
    format!(
        "campaign-page/{}/{}/{wave}/{}",
        page.campaign, page.run, page.number
    )
}

/// One member's send: decided and sent on the page where `sender` can,
/// else recorded as an event for `process`.
#[allow(clippy::too_many_arguments)]
async fn take_send<S: Inbox, P: crate::page_send::PageSender>(
    store: &S,
    sender: &P,
    shop: &ShopDomain,
    send: Send,
    by: &str,
    now: Timestamp,
    deadline: Timestamp,
    more_time: &impl Fn() -> bool,
) -> Result<crate::ports::Recorded, StoreError> {
    use crate::page_send::Taken;
    if !more_time() {
        return record_send(store, shop, send, by, now).await;
    }
    let on_page = Send {
        page: Some(by.to_string()),
        ..send.clone()
    };
    let (event, _) = send_event(shop, on_page, by, now);
    Ok(match sender.take(&event, deadline).await? {
        Taken::ViaEvent => return record_send(store, shop, send, by, now).await,
        Taken::Decided => crate::ports::Recorded::New,
        Taken::Again => crate::ports::Recorded::Again,
        Taken::Overlap => crate::ports::Recorded::Duplicate,
    })
}

/// Records one member's send: an event for the contact, deduplicated by
/// (campaign, run, contact), so a member is recorded once a schedule however
/// many segments name them, and a campaign cancelled and scheduled again
/// records its members anew (process's decision, kept per campaign, still
/// mails each of them once). The event names the page (`by`) that recorded
/// it: the same page delivered again finds its own record.
async fn record_send<S: Inbox>(
    store: &S,
    shop: &ShopDomain,
    send: Send,
    by: &str,
    now: Timestamp,
) -> Result<crate::ports::Recorded, StoreError> {
    let (event, receipt) = send_event(shop, send, by, now);
    store.record(&receipt, &event).await
}

/// A member's send as the event `process` takes (its id from campaign,
/// schedule and contact), and its receipt.
fn send_event(shop: &ShopDomain, send: Send, by: &str, now: Timestamp) -> (Event, Receipt) {
    let resource = format!(
        "{}/{}/{}",
        send.campaign,
        send.run.unwrap_or(0),
        send.contact
    );
    // Not time-bound: one send per contact and schedule of the campaign.
    let id = fact_id(shop, "campaign_send", &resource, Timestamp::UNIX_EPOCH);
    let event = Event {
        id: id.clone(),
        shop: shop.clone(),
        at: now,
        source: Source {
            platform: "waymark".into(),
            topic: "campaign".into(),
            delivery_id: by.to_string(),
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
    (event, receipt)
}

/// The test's decision from each variant's emails sent and clicks (or
/// opens) so far: see [`campaign::AbTest::decide`].
async fn decision<S: Counters>(
    store: &S,
    shop: &ShopDomain,
    c: &campaign::Campaign,
    state: &CampaignState,
    now: Timestamp,
) -> Result<Option<campaign::Decision>, StoreError> {
    let Some(ab) = &c.ab_test else {
        return Ok(None);
    };
    let from = state.started_at.unwrap_or(now) - jiff::SignedDuration::from_hours(24 * 2);
    let to = now + jiff::SignedDuration::from_hours(24 * 2);
    let counts = counts_between(store, shop, from, to).await?;
    let journey = campaign::journey(&c.id);
    let metric = match ab.metric {
        Metric::Clicks => field::CLICKED,
        Metric::Opens => field::OPENED,
    };
    let tally = |name: &str| {
        let mut t = campaign::Tally::default();
        for (k, f) in &counts.0 {
            if k.journey == journey && k.step == name {
                t.sent += f.get(field::SENT).copied().unwrap_or(0);
                t.hits += f.get(metric).copied().unwrap_or(0);
            }
        }
        t
    };
    let tallies: Vec<_> = ab.variants.iter().map(|v| tally(&v.name)).collect();
    Ok(Some(ab.decide(&tallies)))
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
    let totals = totals_of(store, shop, id, &r).await?;
    Ok(Some(status_json(id, &r, &totals)))
}

/// `waymark campaigns cancel`: stops a campaign's fan-out and every email
/// of it not sent yet (dispatch reads the cancel before each). A campaign
/// whose fan-out is done is cancelled while some of its emails have not
/// gone (held for a recipient's local time or quiet hours, or waiting to
/// be sent); once each has been sent or settled, there is nothing to
/// cancel (`false`), as for one cancelled already or never scheduled.
pub async fn cancel<S>(store: &S, shop: &ShopDomain, id: &str) -> Result<bool, StoreError>
where
    S: CampaignStore + Counters,
{
    if store.cancel(shop, id).await? {
        return Ok(true);
    }
    let Some(r) = store.campaign(shop, id).await? else {
        return Ok(false);
    };
    if r.state.phase != CampaignPhase::Done {
        return Ok(false);
    }
    let t = totals_of(store, shop, id, &r).await?.total;
    let settled: i64 = [
        field::SENT,
        field::SUPPRESSED,
        field::STOPPED,
        field::FAILED,
    ]
    .iter()
    .map(|f| get(&t, f))
    .sum();
    if get(&t, field::COMPLETED) <= settled {
        return Ok(false);
    }
    store.cancel_done(shop, id).await
}

/// A campaign's counters summed, from two days before it started (its
/// shop's day may begin earlier) to 60 days after.
async fn totals_of<S: Counters>(
    store: &S,
    shop: &ShopDomain,
    id: &str,
    r: &CampaignRecord,
) -> Result<Totals, StoreError> {
    let from = r.state.started_at.unwrap_or(r.state.scheduled_at)
        - jiff::SignedDuration::from_hours(24 * 2);
    let to = r.state.started_at.unwrap_or(r.state.scheduled_at)
        + jiff::SignedDuration::from_hours(24 * 60);
    let counts = counts_between(store, shop, from, to).await?;
    Ok(campaign_totals(&counts, &campaign::journey(id)))
}

type ByName = std::collections::BTreeMap<String, Fields>;

/// A campaign's counters summed.
#[derive(Default)]
struct Totals {
    total: Fields,
    /// Each variant's email measures, from its step's row (the winner's
    /// include the rest's).
    emails: ByName,
    /// Each variant's test recipients, conversions and orders, from its
    /// branch's row (the test alone).
    branches: ByName,
}

fn campaign_totals(counts: &waymark_core::analytics::Counts, journey: &str) -> Totals {
    let mut t = Totals::default();
    let counts = counts.with_message_totals();
    for (k, f) in &counts.0 {
        if k.journey != journey {
            continue;
        }
        let into = if k.step.is_empty() {
            &mut t.total
        } else if let Some(variant) = campaign::branch_variant(&k.step) {
            t.branches.entry(variant.to_string()).or_default()
        } else if k.step.contains('=') {
            continue;
        } else {
            t.emails.entry(k.step.clone()).or_default()
        };
        for (name, n) in f {
            *into.entry(name.clone()).or_default() += n;
        }
    }
    t
}

fn status_json(id: &str, r: &CampaignRecord, totals: &Totals) -> serde_json::Value {
    let total = &totals.total;
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
        "audience": r.recorded().0,
        "overlaps": r.recorded().1,
        "pages": {
            "handed_out": r.state.pages,
            "finished": r.worked.pages(r.state.phase),
            "missing": r.state.missing_pages,
        },
        "queued": get(total, field::COMPLETED),
        "sent": get(total, field::SENT),
        "delivered": get(total, field::DELIVERED),
        "opened": get(total, field::OPENED),
        "clicked": get(total, field::CLICKED),
        "unsubscribed": get(total, field::UNSUBSCRIBED),
        "converted": get(total, field::CONVERTED),
        "orders": get(total, field::ORDERS),
        "suppressed": get(total, field::SUPPRESSED),
        "stopped": get(total, field::STOPPED),
        "failed": get(total, field::FAILED),
        "maybe_duplicated": get(total, field::MAYBE_DUPLICATED),
        "skipped": get(total, field::EXITED),
        "skipped_by_reason": skipped,
        "ab_test": r.campaign.ab_test.as_ref().map(|ab| serde_json::json!({
            "test_share": ab.test_share,
            "metric": ab.metric,
            "decide_at": r.state.decide_at,
            "winner": r.state.winner,
            "min_sample": ab.min_sample,
            "if_undecided": ab.if_undecided,
            "decision": r.state.decision,
            "variants": ab.variants.iter().map(|v| {
                let m = totals.emails.get(&v.name).cloned().unwrap_or_default();
                let b = totals.branches.get(&v.name).cloned().unwrap_or_default();
                serde_json::json!({
                    "variant": v.name,
                    "sent": get(&m, field::SENT),
                    "opened": get(&m, field::OPENED),
                    "clicked": get(&m, field::CLICKED),
                    "tested": get(&b, field::ENTERED),
                    "converted": get(&b, field::CONVERTED),
                    "orders": get(&b, field::ORDERS),
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
            when: Default::default(),
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
        let first = advance(&store, &store, &shop, "news", now, &one_page)
            .await
            .unwrap();
        assert_eq!((first.queued, first.pages), (PAGE as u64, 1));
        let r = store.campaign(&shop, "news").await.unwrap().unwrap();
        assert_eq!(r.state.phase, CampaignPhase::Sending);
        assert!(r.state.after.is_some(), "a cursor to go on from");
        assert_eq!(r.worked.recorded, PAGE as u64);
        // The same page again (a crash before its cursor was saved): the
        // sends it records are duplicates, and the page is not counted twice.
        let mut replay = r.state.clone();
        replay.after = None;
        replay.pages = 0;
        assert!(
            store
                .save_campaign(&shop, "news", &replay, r.version, Some(now))
                .await
                .unwrap()
        );
        let again = advance(&store, &store, &shop, "news", now, &|| true)
            .await
            .unwrap();
        assert_eq!(again.pages, 4, "a's three pages again, then b's");
        let events = store.take_new_events();
        assert_eq!(events.len(), 1_200, "one send per person");
        let ids: std::collections::BTreeSet<_> = events.iter().map(|e| e.id.clone()).collect();
        assert_eq!(ids.len(), 1_200);
        let r = store.campaign(&shop, "news").await.unwrap().unwrap();
        assert_eq!(r.state.phase, CampaignPhase::Done);
        assert_eq!(r.recorded(), (1_200, 300), "b's members met again in a");
        assert_eq!(r.worked.sending, 4);
        // Done is done: another tick records nothing.
        let after = advance(&store, &store, &shop, "news", now, &|| true)
            .await
            .unwrap();
        assert_eq!(after, Progress::default());
    }

    /// A store whose segment `a` has `n` members, and the newsletter to it
    /// scheduled.
    async fn scheduled(n: u64) -> (MemoryStore, ShopDomain) {
        let store = MemoryStore::default();
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        members(&store, &shop, n, "a").await;
        assert!(
            store
                .schedule(&shop, &newsletter(&["a"]), at("2026-11-30T00:00:00Z"))
                .await
                .unwrap()
        );
        (store, shop)
    }

    /// A queue that holds the pages handed to it (workers not yet run).
    #[derive(Default)]
    struct Held(std::sync::Mutex<Vec<CampaignPage>>);

    impl PageQueue for Held {
        async fn enqueue(&self, page: &CampaignPage) -> Result<(), StoreError> {
            self.0.lock().unwrap().push(page.clone());
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_wave_ends_when_its_workers_have_finished_every_page_once() {
        let (store, shop) = scheduled(1_100).await;
        let now = at("2026-12-01T10:00:00Z");
        let held = Held::default();
        let planned = advance(&store, &held, &shop, "news", now, &|| true)
            .await
            .unwrap();
        assert_eq!((planned.queued, planned.pages), (1_100, 3));
        let r = store.campaign(&shop, "news").await.unwrap().unwrap();
        assert_eq!(r.state.phase, CampaignPhase::Sending, "no page worked yet");
        assert!(r.state.planned);
        let pages = std::mem::take(&mut *held.0.lock().unwrap());
        assert_eq!(
            pages.iter().map(|p| p.number).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        // Workers finish out of order, one page delivered twice.
        let last = work_page(&store, &pages[2], now).await.unwrap();
        assert_eq!((last.recorded, last.counted), (100, true));
        let tick = advance(&store, &held, &shop, "news", now, &|| true)
            .await
            .unwrap();
        assert_eq!(tick, Progress::default(), "nothing handed over twice");
        let r = store.campaign(&shop, "news").await.unwrap().unwrap();
        assert_eq!(r.state.phase, CampaignPhase::Sending, "two pages to go");
        work_page(&store, &pages[0], now).await.unwrap();
        let again = work_page(&store, &pages[0], now).await.unwrap();
        assert_eq!(
            (again.recorded, again.overlaps, again.counted),
            (PAGE as u64, 0, false),
            "a redelivered page finds its own sends and counts nothing"
        );
        work_page(&store, &pages[1], now).await.unwrap();
        advance(&store, &held, &shop, "news", now, &|| true)
            .await
            .unwrap();
        let r = store.campaign(&shop, "news").await.unwrap().unwrap();
        assert_eq!(r.state.phase, CampaignPhase::Done);
        assert_eq!(r.recorded(), (1_100, 0));
        assert_eq!(store.take_new_events().len(), 1_100);
        // Done: not scheduled again under the same id (its recipients'
        // decisions are kept under it), and a late copy of a page counts
        // nothing.
        assert!(
            !store
                .schedule(&shop, &newsletter(&["a"]), at("2026-12-02T00:00:00Z"))
                .await
                .unwrap()
        );
        let late = work_page(&store, &pages[1], now).await.unwrap();
        assert!(!late.counted);
        assert_eq!(
            store
                .campaign(&shop, "news")
                .await
                .unwrap()
                .unwrap()
                .recorded(),
            (1_100, 0)
        );
    }

    #[tokio::test]
    async fn a_page_whose_mark_failed_counts_its_own_sends_when_it_comes_again() {
        let (store, shop) = scheduled(150).await;
        let now = at("2026-12-01T10:00:00Z");
        let held = Held::default();
        advance(&store, &held, &shop, "news", now, &|| true)
            .await
            .unwrap();
        let page = held.0.lock().unwrap().remove(0);
        // The worker recorded every send, then failed before the page's mark.
        let run = store.campaign(&shop, "news").await.unwrap().unwrap();
        let def = Box::new(run.campaign);
        for m in &page.sends {
            let send = Send {
                campaign: page.campaign.clone(),
                contact: m.contact.clone(),
                variant: None,
                started_at: page.started_at,
                run: Some(page.run),
                def: Some(def.clone()),
                earlier_unsent: false,
                page: None,
            };
            record_send(&store, &shop, send, &page_delivery(&page), now)
                .await
                .unwrap();
        }
        let again = work_page(&store, &page, now).await.unwrap();
        assert_eq!(
            (again.recorded, again.overlaps, again.counted),
            (150, 0, true)
        );
        let r = store.campaign(&shop, "news").await.unwrap().unwrap();
        assert_eq!(
            (r.state.phase, r.recorded()),
            (CampaignPhase::Done, (150, 0))
        );
        assert_eq!(store.take_new_events().len(), 150);
    }

    #[tokio::test]
    async fn a_campaign_scheduled_again_records_its_members_anew() {
        // Two pages handed out, one worked, then the campaign is cancelled.
        let (store, shop) = scheduled(600).await;
        let now = at("2026-12-01T10:00:00Z");
        let held = Held::default();
        advance(&store, &held, &shop, "news", now, &|| true)
            .await
            .unwrap();
        let first = held.0.lock().unwrap().remove(0);
        held.0.lock().unwrap().clear();
        work_page(&store, &first, now).await.unwrap();
        assert!(store.cancel(&shop, "news").await.unwrap());
        assert!(
            store
                .schedule(&shop, &newsletter(&["a"]), at("2026-12-01T10:05:00Z"))
                .await
                .unwrap()
        );
        advance(&store, &held, &shop, "news", now, &|| true)
            .await
            .unwrap();
        let second: Vec<_> = std::mem::take(&mut *held.0.lock().unwrap());
        assert_eq!(second.len(), 2);
        assert_ne!(first.run, second[0].run);
        for page in &second {
            work_page(&store, page, now).await.unwrap();
        }
        let r = store.campaign(&shop, "news").await.unwrap().unwrap();
        assert_eq!(
            (r.state.phase, r.recorded()),
            (CampaignPhase::Done, (600, 0))
        );
        let events = store.take_new_events();
        assert_eq!(
            events.len(),
            PAGE + 600,
            "the first page's, then everyone's anew"
        );
        let runs: std::collections::BTreeSet<_> = events
            .iter()
            .filter_map(|e| match &e.kind {
                waymark_core::event::EventKind::CampaignSend(s) => s.run,
                _ => None,
            })
            .collect();
        assert_eq!(runs, [first.run, second[0].run].into());
    }

    #[tokio::test]
    async fn a_wave_whose_page_is_parked_ends_after_the_grace_time_and_says_so() {
        let (store, shop) = scheduled(600).await;
        let now = at("2026-12-01T10:00:00Z");
        let held = Held::default();
        advance(&store, &held, &shop, "news", now, &|| true)
            .await
            .unwrap();
        let pages = std::mem::take(&mut *held.0.lock().unwrap());
        // The first page is worked; the second keeps failing (parked).
        work_page(&store, &pages[0], now).await.unwrap();
        let almost = now + WAVE_GRACE - jiff::SignedDuration::from_mins(1);
        advance(&store, &held, &shop, "news", almost, &|| true)
            .await
            .unwrap();
        let r = store.campaign(&shop, "news").await.unwrap().unwrap();
        assert_eq!(r.state.phase, CampaignPhase::Sending, "still waiting");
        advance(&store, &held, &shop, "news", now + WAVE_GRACE, &|| true)
            .await
            .unwrap();
        let r = store.campaign(&shop, "news").await.unwrap().unwrap();
        assert_eq!(
            (r.state.phase, r.state.missing_pages),
            (CampaignPhase::Done, 1)
        );
        // Moved back from the failure queue later: its members still get
        // their send.
        let late = work_page(&store, &pages[1], now + WAVE_GRACE)
            .await
            .unwrap();
        assert_eq!((late.recorded, late.dropped), (100, false));
        assert_eq!(store.take_new_events().len(), 600);
        let status = status(&store, &shop, "news").await.unwrap().unwrap();
        assert_eq!(status["pages"]["missing"], 1);
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
        let held = Held::default();
        let early = advance(
            &store,
            &held,
            &shop,
            "news",
            at("2026-12-01T09:59:00Z"),
            &|| true,
        )
        .await
        .unwrap();
        assert_eq!(early.queued, 0);
        // A page already handed over when the campaign is cancelled is
        // dropped by its worker.
        advance(
            &store,
            &held,
            &shop,
            "news",
            at("2026-12-01T10:00:00Z"),
            &|| true,
        )
        .await
        .unwrap();
        let pages = std::mem::take(&mut *held.0.lock().unwrap());
        assert_eq!(pages.len(), 1);
        assert!(store.cancel(&shop, "news").await.unwrap());
        let late = advance(
            &store,
            &held,
            &shop,
            "news",
            at("2026-12-01T10:00:00Z"),
            &|| true,
        )
        .await
        .unwrap();
        assert_eq!(late.queued, 0);
        assert!(
            work_page(&store, &pages[0], at("2026-12-01T10:01:00Z"))
                .await
                .unwrap()
                .dropped
        );
        assert!(store.take_new_events().is_empty());
    }
}
