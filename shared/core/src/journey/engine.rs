//! The step function. Given a contact, its runs and one input (an event or a
//! tick at logical time `now`), it moves the runs and returns effects.
//! Invariants: deterministic (splits hash the run, never draw); a run's waits
//! due at or before an event's time fire before the event is applied; each
//! visit of an email step queues at most one message, with a stable id.

use super::admission::{Fired, admit};
use super::audience::{next_review, refresh_rfm, rescore, restage, update_segments};
use super::catalog::Catalog;
use super::effect::Effect;
use super::reactions::react;
use super::run::Run;
use super::steps::advance;
use crate::contact::Contact;
use crate::event::{Event, EventKind};
use crate::outbox::OutboxMessage;
use jiff::Timestamp;

pub use super::catalog::successors;

/// Fires every wait due at or before `now`; then, if the contact's
/// time-based rules are due for a review (a window dropped a day, an
/// "ordered within" lapsed), re-evaluates its segments and stage, which
/// may start journeys.
pub fn handle_tick(
    catalog: &Catalog,
    contact: &mut Contact,
    runs: &mut Vec<Run>,
    now: Timestamp,
) -> Vec<Effect> {
    super::campaign_send::note_direct_sends(contact, runs, now);
    let mut effects = fire_waits(catalog, contact, runs, now);
    // Steps that ran may have set a date a trigger watches (a coupon given
    // after a wait, an `update` of a date property).
    let changed = effects.iter().any(|e| !matches!(e, Effect::Waiting { .. }));
    if changed && contact.schedule.review_at.is_none_or(|r| r > now) {
        let review = next_review(catalog, contact, now);
        let idle = contact.schedule.idle_at;
        contact.schedule.settle(review, idle, now);
    }
    if contact.schedule.review_at.is_some_and(|r| r <= now) {
        let review = Event {
            id: format!("review-{}", now.as_millisecond()),
            shop: contact.shop.clone(),
            at: now,
            source: crate::event::Source {
                platform: "waymark".into(),
                topic: "review".into(),
                delivery_id: String::new(),
            },
            kind: EventKind::Reviewed,
        };
        effects.extend(handle_event(catalog, contact, runs, &review));
    }
    // An idle bucket kept early (see `Schedule::settle`) that the sweep
    // found: the contact moves to the threshold it has now.
    if contact.schedule.idle_at.is_some_and(|t| t <= now) {
        let idle = contact.idle_threshold(catalog.audience().inactive_after);
        let review = contact.schedule.review_at;
        contact.schedule.settle(review, idle, now);
    }
    effects
}

fn fire_waits(
    catalog: &Catalog,
    contact: &mut Contact,
    runs: &mut [Run],
    now: Timestamp,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    // Scores that changed with time alone (recency dropped) are current
    // before a wait's conditions read them.
    if contact.audience.rfm_changes_at.is_some_and(|t| t <= now) {
        refresh_rfm(catalog, contact, now);
    }
    for run in runs.iter_mut().filter(|r| r.is_active()) {
        advance(catalog, contact, run, now, &mut effects);
    }
    effects
}

/// Applies one event: first the waits due by its time fire (against the
/// contact as it was), then the contact takes the event, then goals, exits,
/// waits for events, refreshes and new entries are decided.
pub fn handle_event(
    catalog: &Catalog,
    contact: &mut Contact,
    runs: &mut Vec<Run>,
    event: &Event,
) -> Vec<Effect> {
    // The store's `double_opt_in` makes every form opt-in ask first; so does
    // any opt-out the person ever made, from any source (a link, a
    // complaint, Shopify's own consent record, a sunset): a typed-in address
    // never overrides that without the emailed confirmation.
    let opted_out = contact.opted_out();
    let forced;
    let event = match &event.kind {
        EventKind::Site(s)
            if (catalog.double_opt_in() || opted_out)
                && s.action == crate::event::SiteAction::FormSubmitted
                && s.accepts_marketing == Some(true)
                && !s.double_opt_in =>
        {
            let mut e = event.clone();
            if let EventKind::Site(s) = &mut e.kind {
                s.double_opt_in = true;
            }
            forced = e;
            &forced
        }
        _ => event,
    };
    super::campaign_send::note_direct_sends(contact, runs, event.at);
    let mut effects = fire_waits(catalog, contact, runs, event.at);
    if let EventKind::CampaignSend(send) = &event.kind {
        super::campaign_send::plan(catalog, contact, runs, send, event.at, &mut effects);
        return effects;
    }
    match &event.kind {
        EventKind::EmailClicked(e) => note_engagement(contact, runs, e, false, event.at),
        EventKind::EmailOpened(e) => note_engagement(contact, runs, e, true, event.at),
        _ => {}
    }
    let was_subscribed = contact.accepts_marketing();
    contact.apply(event);
    let subscribed = !was_subscribed && contact.accepts_marketing();
    rescore(catalog, contact, event);
    refresh_rfm(catalog, contact, event.at);
    let (entered, exited) = update_segments(catalog, contact, event.at, &mut effects);
    let staged = restage(catalog, contact, event.at, &mut effects);
    for run in runs.iter_mut().filter(|r| r.is_active()) {
        react(catalog, contact, run, event, &mut effects);
    }
    let fired = Fired {
        entered: &entered,
        exited: &exited,
        subscribed,
        staged: staged.as_deref(),
    };
    admit(catalog, contact, runs, event, &fired, &mut effects);
    // Update steps may have moved the contact in or out of segments; the
    // membership follows now, and journeys triggered by it start on the
    // contact's next event.
    update_segments(catalog, contact, event.at, &mut effects);
    restage(catalog, contact, event.at, &mut effects);
    let review = next_review(catalog, contact, event.at);
    let idle = contact.idle_threshold(catalog.audience().inactive_after);
    contact.schedule.settle(review, idle, event.at);
    effects
}

/// Whether the engine reads a contact's ended runs kept for their messages
/// ([`Run::kept_for_messages`]) to apply `kind`: an open or a click is
/// noted on the run whose email it was, an order is attributed to the
/// email that earned it ([`crate::analytics::attribution::touch`]). Every
/// other event and every tick reads only the runs still going (and
/// campaigns' decisions, which the frequency cap counts): re-entry and
/// cooldowns read the contact's history.
pub fn reads_ended_runs(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::EmailOpened(_) | EventKind::EmailClicked(_) | EventKind::OrderPlaced(_)
    )
}

/// Remembers an open or a click on the run whose email it was (found by
/// message id), for `opened: <step>` and `clicked: {step, link}`.
fn note_engagement(
    contact: &Contact,
    runs: &mut [Run],
    click: &crate::event::Engagement,
    open: bool,
    at: Timestamp,
) {
    let Some(message) = &click.message else {
        return;
    };
    for run in runs.iter_mut() {
        if click.journey.as_ref().is_some_and(|j| *j != run.journey) {
            continue;
        }
        let step = OutboxMessage::steps_of_run(&contact.shop, &contact.id, run)
            .into_iter()
            .find(|(id, _)| id == message)
            .map(|(_, step)| step.to_string());
        if let Some(step) = step {
            // One open per message is enough (proxies and re-reads repeat
            // them), unless a person's follows a machine's; clicks are kept
            // one by one.
            if open
                && run
                    .clicks
                    .iter()
                    .any(|c| c.open && c.step == step && (click.machine || !c.machine))
            {
                return;
            }
            run.clicks.push(super::run::Click {
                step,
                link: click.link.clone(),
                at,
                open,
                machine: click.machine,
            });
            let excess = run.clicks.len().saturating_sub(super::run::CLICKS_KEPT);
            run.clicks.drain(..excess);
            return;
        }
    }
}
