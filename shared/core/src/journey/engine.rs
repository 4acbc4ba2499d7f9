//! The step function. Given a contact, its runs and one input (an event or a
//! tick at logical time `now`), it moves the runs and returns effects.
//! Invariants: deterministic (splits hash the run, never draw); a run's waits
//! due at or before an event's time fire before the event is applied; each
//! visit of an email step queues at most one message, with a stable id.

use super::catalog::Catalog;
use super::condition::{Scope, all};
use super::definition::{
    DATE_REACHED, DateRef, Definition, OnRepeat, OnRetire, Reentry, RunPer, StepKind, Trigger,
};
use super::run::{Run, RunStatus};
use crate::contact::Contact;
use crate::event::{Event, EventKind};
use crate::outbox::OutboxMessage;
use jiff::Timestamp;
use sha2::Digest;

pub use super::catalog::successors;

/// Steps one input may move a run through before the run is stopped: a guard
/// behind validation's check for loops without waits.
const STEP_BUDGET: usize = 1_000;

/// What the engine decided; adapters persist the emails, the rest is the
/// timeline (logged, shown by the simulator).
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Entered {
        journey: String,
        key: String,
        at: Timestamp,
    },
    Waiting {
        journey: String,
        key: String,
        until: Timestamp,
    },
    Email(Box<OutboxMessage>),
    /// An event for the EventBridge bus (goes through the outbox too).
    Emit(Box<OutboxMessage>),
    /// A branch was taken (`if`, `split`, `wait_for`).
    Branched {
        journey: String,
        step: String,
        to: String,
        at: Timestamp,
    },
    /// The contact was changed by an `update` step.
    Updated {
        journey: String,
        step: String,
        at: Timestamp,
    },
    /// A marketing email held back (quiet hours, frequency cap) until a time.
    Held {
        journey: String,
        step: String,
        until: Timestamp,
        reason: String,
    },
    /// An email step was passed without sending, with the reason.
    Skipped {
        journey: String,
        step: String,
        reason: String,
    },
    Ended {
        journey: String,
        key: String,
        status: RunStatus,
        reason: String,
        at: Timestamp,
    },
    /// The contact entered or left a segment.
    Segment {
        segment: String,
        entered: bool,
        at: Timestamp,
    },
    /// The contact's lifecycle stage changed.
    Stage {
        from: Option<String>,
        to: String,
        at: Timestamp,
    },
    /// A trigger matched but no run started, with the reason.
    NotEntered {
        journey: String,
        reason: String,
    },
}

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
    let mut effects = fire_waits(catalog, contact, runs, now);
    // Steps that ran may have set a date a trigger watches (a coupon given
    // after a wait, an `update` of a date property).
    let changed = effects.iter().any(|e| !matches!(e, Effect::Waiting { .. }));
    if changed && contact.review_at.is_none_or(|r| r > now) {
        contact.review_at = next_review(catalog, contact, now);
    }
    if contact.review_at.is_some_and(|r| r <= now) {
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
    if contact.rfm_changes_at.is_some_and(|t| t <= now) {
        refresh_rfm(catalog, contact, now);
    }
    for run in runs.iter_mut().filter(|r| r.is_active()) {
        advance(catalog, contact, run, now, &mut effects);
    }
    effects
}

/// The contact's RFM scores at `at`, and when recency next drops.
fn refresh_rfm(catalog: &Catalog, contact: &mut Contact, at: Timestamp) {
    let thresholds = &catalog.audience().rfm;
    contact.rfm = crate::rfm::Rfm::with(contact, at, thresholds);
    contact.rfm_changes_at = crate::rfm::Rfm::next_change_with(contact, at, thresholds);
}

/// The score decayed to `now` (halving every half-life), then the points of
/// every scoring rule the event matches.
fn rescore(catalog: &Catalog, contact: &mut Contact, event: &Event) {
    let audience = catalog.audience();
    if let (Some(h), Some(from)) = (audience.half_life, contact.score_at)
        && event.at > from
        && contact.score != 0
    {
        let halves = event.at.duration_since(from).as_secs_f64() / h.as_secs_f64();
        // Under one point it is gone, so a decayed score reaches 0 (and
        // stops being reviewed) instead of resting at ±1.
        let decayed = contact.score as f64 * 0.5f64.powf(halves);
        contact.score = if decayed.abs() < 1.0 {
            0
        } else {
            decayed.round() as i64
        };
    }
    let kind = event.kind.name();
    let points: i64 = audience
        .scoring
        .iter()
        .filter(|r| r.event == kind)
        .filter(|r| {
            all(
                &r.conditions,
                Scope {
                    event: Some(&event.kind),
                    contact,
                    run: None,
                    now: event.at,
                },
            )
        })
        .map(|r| r.points)
        .sum();
    contact.score = contact.score.saturating_add(points);
    if contact.score_at.is_none_or(|t| event.at > t) {
        contact.score_at = Some(event.at);
    }
}

/// Applies the lifecycle rules (first match wins, none keeps the stage);
/// returns the new stage if it changed.
fn restage(
    catalog: &Catalog,
    contact: &mut Contact,
    at: Timestamp,
    effects: &mut Vec<Effect>,
) -> Option<String> {
    let scope = Scope {
        event: None,
        contact,
        run: None,
        now: at,
    };
    let rules = &catalog.audience().lifecycle;
    let (rank, rule) = rules
        .iter()
        .enumerate()
        .find(|(_, r)| all(&r.conditions, scope))?;
    // A stage a journey set holds until a rule further along the lifecycle
    // (higher in the list: lapsed, advocate, loyal…) holds.
    let pinned = contact.stage_by.is_some()
        && contact
            .stage
            .as_deref()
            .and_then(|s| rules.iter().position(|r| r.stage == s))
            .is_some_and(|held| rank > held);
    if pinned {
        return None;
    }
    contact.stage_by = None;
    if contact.stage.as_deref() == Some(rule.stage.as_str()) {
        return None;
    }
    effects.push(Effect::Stage {
        from: contact.stage.clone(),
        to: rule.stage.clone(),
        at,
    });
    contact.stage = Some(rule.stage.clone());
    contact.stage_at = Some(at);
    Some(rule.stage.clone())
}

/// The next instant a time-based rule about the contact can change by
/// itself: segment and lifecycle conditions, and the score's decay.
fn next_review(catalog: &Catalog, contact: &Contact, now: Timestamp) -> Option<Timestamp> {
    let audience = catalog.audience();
    let rules = catalog
        .segments()
        .iter()
        .flat_map(|s| s.conditions.iter())
        .chain(audience.lifecycle.iter().flat_map(|r| r.conditions.iter()))
        .filter_map(|c| c.changes_after(contact, now));
    let decay = audience
        .half_life
        .filter(|_| contact.score != 0)
        .and_then(|h| now.checked_add(h).ok());
    // A date trigger's instant still ahead (a coupon expiry less 2 days).
    let dates = catalog
        .current()
        .filter_map(|d| date_trigger_at(catalog, contact, &d.trigger))
        .filter_map(|(_, t)| (t > now).then_some(t));
    rules.chain(decay).chain(dates).min()
}

/// How late a date trigger may still fire (the timer was down, the contact
/// was reviewed late); older instants are let go.
const DATE_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 7);

/// A date on the contact (or the run's subscription), if it has one.
fn resolve_date(
    catalog: &Catalog,
    contact: &Contact,
    run: Option<&Run>,
    date: &DateRef,
) -> Option<Timestamp> {
    match date {
        DateRef::NextBilling | DateRef::MidCycle => {
            let (sub, billed) = run_subscription(contact, run)?;
            let next = sub.interval?.after(billed, &local_zone(catalog, contact))?;
            Some(match date {
                DateRef::MidCycle => billed.checked_add(billed.duration_until(next) / 2).ok()?,
                _ => next,
            })
        }
        DateRef::CouponExpiry(name) => contact
            .coupons
            .iter()
            .rev()
            .find(|c| &c.name == name)
            .map(|c| c.expires_at),
        DateRef::Property(key) => {
            let text = contact.properties.get(key)?.as_str()?;
            text.parse::<Timestamp>().ok().or_else(|| {
                let day: jiff::civil::Date = text.parse().ok()?;
                day.to_zoned(local_zone(catalog, contact))
                    .ok()
                    .map(|z| z.timestamp())
            })
        }
    }
}

/// The subscription a run is about (the one whose billing started it, else
/// the contact's newest active one) and when its cycle was billed.
pub fn run_subscription<'c>(
    contact: &'c Contact,
    run: Option<&Run>,
) -> Option<(&'c crate::contact::SubscriptionState, Timestamp)> {
    if let Some(run) = run
        && let EventKind::SubscriptionBilled(b) = &run.trigger
    {
        let sub = contact
            .subscriptions
            .iter()
            .find(|s| s.contract_id == b.contract_id)?;
        return Some((sub, run.trigger_at));
    }
    let sub = contact
        .subscriptions
        .iter()
        .rev()
        .find(|s| s.is_active() && s.billed_at.is_some())?;
    Some((sub, sub.billed_at?))
}

/// For a `date_reached` trigger: the date and the instant (date + offset)
/// at which it fires.
fn date_trigger_at(
    catalog: &Catalog,
    contact: &Contact,
    trigger: &Trigger,
) -> Option<(Timestamp, Timestamp)> {
    let (date, offset) = trigger.date.as_ref()?;
    let day = resolve_date(catalog, contact, None, date)?;
    Some((day, day.checked_add(*offset).ok()?))
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
    // the person's own earlier unsubscribe (or complaint): a typed-in
    // address never overrides that without the emailed confirmation.
    let opted_out = contact
        .consent
        .as_ref()
        .is_some_and(|c| !c.subscribed && matches!(c.source.as_str(), "unsubscribe" | "complaint"));
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
    let mut effects = fire_waits(catalog, contact, runs, event.at);
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
    let kind = event.kind.name();
    for run in runs.iter_mut().filter(|r| r.is_active()) {
        if catalog.retirement(&run.journey) == Some(OnRetire::Exit) {
            end(
                run,
                RunStatus::Exited,
                "journey retired",
                event.at,
                &mut effects,
            );
            continue;
        }
        let Some(def) = catalog.version(&run.journey, run.version) else {
            end(
                run,
                RunStatus::Exited,
                "journey version removed",
                event.at,
                &mut effects,
            );
            continue;
        };
        let scope = Scope {
            event: Some(&event.kind),
            contact,
            run: Some(run),
            now: event.at,
        };
        if event.at >= run.entered_at
            && def
                .goals
                .iter()
                .any(|g| g.event == kind && all(&g.conditions, scope) && goal_matches(run, event))
        {
            end(
                run,
                RunStatus::Converted,
                &format!("goal: {kind}"),
                event.at,
                &mut effects,
            );
            continue;
        }
        let same_run = run_key(def, event).as_deref() == Some(run.key.as_str());
        if same_run
            && let Some(x) = def.exits.iter().find(|x| {
                x.event == kind
                    && (x.when_any.is_empty() || x.when_any.iter().any(|c| c.holds(scope)))
            })
        {
            let reason = format!("exit: {kind} ({:?})", x.when_any);
            end(run, RunStatus::Exited, &reason, event.at, &mut effects);
            continue;
        }
        if let Some(StepKind::WaitFor {
            events: wanted,
            conditions,
            on_event,
            ..
        }) = def.steps.get(run.step).map(|s| &s.kind)
            && wanted.iter().any(|w| w == kind)
            && (def.trigger.run_per == RunPer::Contact || same_run)
            && event.at >= run.cursor
            && all(conditions, scope)
        {
            let to = *on_event;
            run.wait_until = None;
            run.cursor = event.at;
            run.matched = Some(event.kind.clone());
            branch(def, run, to, event.at, &mut effects);
            advance(catalog, contact, run, event.at, &mut effects);
            continue;
        }
        if same_run
            && def.trigger.event == kind
            && def.trigger.on_repeat == OnRepeat::Refresh
            && event.at > run.trigger_at
        {
            refresh(def, run, event, &mut effects);
        }
    }
    for def in catalog.current() {
        let scope = Scope {
            event: Some(&event.kind),
            contact,
            run: None,
            now: event.at,
        };
        // A date trigger's run is keyed on the date: one run per date value.
        let date_key = (def.trigger.event == DATE_REACHED)
            .then(|| date_trigger_at(catalog, contact, &def.trigger))
            .flatten()
            .filter(|(_, t)| {
                *t <= event.at && t.checked_add(DATE_GRACE).is_ok_and(|g| event.at < g)
            })
            .map(|(day, _)| format!("date:{day}"));
        let fired = match (def.trigger.event.as_str(), &def.trigger.segment) {
            (DATE_REACHED, _) => date_key.is_some(),
            ("segment_entered", Some(seg)) => entered.contains(seg),
            ("segment_exited", Some(seg)) => exited.contains(seg),
            (super::definition::SUBSCRIBED, _) => subscribed,
            (super::definition::STAGE_CHANGED, _) => staged
                .as_ref()
                .is_some_and(|to| def.trigger.stage.as_ref().is_none_or(|want| want == to)),
            (name, _) => name == kind,
        };
        if !fired || !all(&def.trigger.conditions, scope) {
            continue;
        }
        let Some(key) = date_key.or_else(|| run_key(def, event)) else {
            continue;
        };
        let latest = runs
            .iter()
            .filter(|r| r.journey == def.id && r.key == key)
            .max_by_key(|r| r.entry);
        let entry = match latest {
            None => 0,
            Some(r) if r.is_active() => continue,
            Some(r) => {
                let again = match def.trigger.reentry {
                    Reentry::Once => false,
                    Reentry::Always => true,
                    Reentry::Every(d) => r.entered_at.checked_add(d).is_ok_and(|t| t <= event.at),
                };
                if !again {
                    continue;
                }
                r.entry + 1
            }
        };
        let not_entered = |reason: String| Effect::NotEntered {
            journey: def.id.clone(),
            reason,
        };
        if let Some(cooldown) = def.trigger.cooldown
            && runs.iter().any(|r| {
                r.journey == def.id
                    && r.entered_at
                        .checked_add(cooldown)
                        .is_ok_and(|t| t > event.at)
            })
        {
            effects.push(not_entered(
                "cooling down: entered this journey recently".into(),
            ));
            continue;
        }
        if !all(&def.audience, scope) {
            effects.push(not_entered("not in the journey's audience".into()));
            continue;
        }
        if let Some(by) = def
            .suppressed_by
            .iter()
            .find(|other| runs.iter().any(|r| r.is_active() && &r.journey == *other))
        {
            effects.push(not_entered(format!("suppressed: the contact is in `{by}`")));
            continue;
        }
        // An order at or after this (late) event already met the goal: a
        // checkout webhook arriving after its order starts nothing.
        let ordered_goal =
            kind != "order_placed" && def.goals.iter().any(|g| g.event == "order_placed");
        if ordered_goal
            && (contact.ordered_checkouts.contains(&key) || contact.ordered_since(event.at))
        {
            effects.push(not_entered(
                "goal already reached: an order at or after this event".into(),
            ));
            continue;
        }
        // Journeys this one suppresses leave as it starts.
        for other in runs.iter_mut().filter(|r| r.is_active()) {
            let suppressed = catalog
                .version(&other.journey, other.version)
                .is_some_and(|d| d.suppressed_by.contains(&def.id));
            if suppressed {
                end(
                    other,
                    RunStatus::Exited,
                    &format!("suppressed by `{}`", def.id),
                    event.at,
                    &mut effects,
                );
            }
        }
        let mut run = Run {
            journey: def.id.clone(),
            version: def.version,
            key: key.clone(),
            entry,
            status: RunStatus::Active,
            step: 0,
            wait_until: None,
            entered_at: event.at,
            trigger_at: event.at,
            cursor: event.at,
            ended_at: None,
            end_reason: None,
            trigger: event.kind.clone(),
            matched: None,
            sent: Vec::new(),
            path: Vec::new(),
            clicks: Vec::new(),
        };
        effects.push(Effect::Entered {
            journey: def.id.clone(),
            key,
            at: event.at,
        });
        advance(catalog, contact, &mut run, event.at, &mut effects);
        runs.push(run);
    }
    // Update steps may have moved the contact in or out of segments; the
    // membership follows now, and journeys triggered by it start on the
    // contact's next event.
    update_segments(catalog, contact, event.at, &mut effects);
    restage(catalog, contact, event.at, &mut effects);
    contact.review_at = next_review(catalog, contact, event.at);
    let lapsed = contact
        .lapsed_at
        .is_some_and(|l| l >= contact.last_active_at());
    contact.idle_at = (!lapsed)
        .then(|| {
            contact
                .last_active_at()
                .checked_add(catalog.audience().inactive_after)
                .ok()
        })
        .flatten();
    effects
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
            // them); clicks are kept one by one.
            if open && run.clicks.iter().any(|c| c.open && c.step == step) {
                return;
            }
            run.clicks.push(super::run::Click {
                step,
                link: click.link.clone(),
                at,
                open,
            });
            let excess = run.clicks.len().saturating_sub(super::run::CLICKS_KEPT);
            run.clicks.drain(..excess);
            return;
        }
    }
}

/// Re-evaluates the contact's segments after an event; returns the ids
/// entered and exited (membership lives on the contact, so this is a diff).
fn update_segments(
    catalog: &Catalog,
    contact: &mut Contact,
    at: Timestamp,
    effects: &mut Vec<Effect>,
) -> (Vec<String>, Vec<String>) {
    let (mut entered, mut exited) = (Vec::new(), Vec::new());
    let mut members = 0;
    for seg in catalog.segments() {
        let scope = Scope {
            event: None,
            contact,
            run: None,
            now: at,
        };
        let member = all(&seg.conditions, scope);
        members += usize::from(member);
        let was = contact.segments.contains(&seg.id);
        if member && !was {
            entered.push(seg.id.clone());
        } else if !member && was {
            exited.push(seg.id.clone());
        }
    }
    for s in &entered {
        contact.segments.insert(s.clone());
        effects.push(Effect::Segment {
            segment: s.clone(),
            entered: true,
            at,
        });
    }
    for s in &exited {
        contact.segments.remove(s);
        effects.push(Effect::Segment {
            segment: s.clone(),
            entered: false,
            at,
        });
    }
    // Segments no longer defined are forgotten (there are some if the
    // contact holds more than the defined ones it belongs to).
    if contact.segments.len() != members {
        let known = |s: &String| catalog.segments().iter().any(|x| &x.id == s);
        contact.segments.retain(known);
    }
    (entered, exited)
}

/// The run an event belongs to within the contact: per checkout, a checkout
/// event's token or an order's checkout token; per order, an order event's id.
fn run_key(def: &Definition, event: &Event) -> Option<String> {
    match (def.trigger.run_per, &event.kind) {
        (RunPer::Contact, _) => Some("contact".into()),
        (RunPer::Checkout, EventKind::CheckoutUpdated(c)) => Some(c.token.clone()),
        (RunPer::Checkout, kind) => kind.order().and_then(|o| o.checkout_token.clone()),
        (RunPer::Order, kind) => kind.order_id().map(|o| o.to_string()),
    }
}

/// An order converts a checkout run if it is for the run's checkout, or if the
/// contact placed it after the run began; other goals count from entry.
fn goal_matches(run: &Run, event: &Event) -> bool {
    match &event.kind {
        EventKind::OrderPlaced(o) | EventKind::OrderPaid(o) => {
            o.checkout_token.as_deref() == Some(run.key.as_str()) || event.at >= run.entered_at
        }
        _ => event.at >= run.entered_at,
    }
}

fn refresh(def: &Definition, run: &mut Run, event: &Event, effects: &mut Vec<Effect>) {
    run.trigger_at = event.at;
    run.trigger = event.kind.clone();
    if let Some(StepKind::Wait {
        duration,
        from_trigger: true,
    }) = def.steps.get(run.step).map(|s| &s.kind)
        && run.wait_until.is_some()
    {
        let until = event.at.checked_add(*duration).unwrap_or(Timestamp::MAX);
        run.wait_until = Some(until);
        effects.push(Effect::Waiting {
            journey: run.journey.clone(),
            key: run.key.clone(),
            until,
        });
    }
}

fn end(run: &mut Run, status: RunStatus, reason: &str, at: Timestamp, effects: &mut Vec<Effect>) {
    run.status = status;
    run.wait_until = None;
    run.ended_at = Some(at);
    run.end_reason = Some(reason.to_string());
    effects.push(Effect::Ended {
        journey: run.journey.clone(),
        key: run.key.clone(),
        status,
        reason: reason.to_string(),
        at,
    });
}

/// Moves the run to `target` (`None`: past the last step), noting the branch.
fn branch(
    def: &Definition,
    run: &mut Run,
    target: Option<usize>,
    at: Timestamp,
    effects: &mut Vec<Effect>,
) {
    let from = def
        .steps
        .get(run.step)
        .map(|s| s.id.clone())
        .unwrap_or_default();
    let to = target
        .and_then(|t| def.steps.get(t))
        .map_or_else(|| "end".to_string(), |s| s.id.clone());
    effects.push(Effect::Branched {
        journey: run.journey.clone(),
        step: from,
        to,
        at,
    });
    goto(def, run, target);
}

fn goto(def: &Definition, run: &mut Run, target: Option<usize>) {
    run.step = target.unwrap_or(def.steps.len());
}

/// The zone local-time rules use for a contact: theirs, else the shop's.
fn local_zone(catalog: &Catalog, contact: &Contact) -> jiff::tz::TimeZone {
    contact
        .zone_name()
        .and_then(crate::sending::zone)
        .unwrap_or_else(|| catalog.time_zone().clone())
}

/// A wait (or timeout) due at `due`: if it is still ahead of `now`, notes
/// the wait and returns false; otherwise clears it, moves the run's logical
/// time to `due`, and returns true.
fn fire_if_due(run: &mut Run, due: Timestamp, now: Timestamp, effects: &mut Vec<Effect>) -> bool {
    if due > now {
        effects.push(Effect::Waiting {
            journey: run.journey.clone(),
            key: run.key.clone(),
            until: due,
        });
        return false;
    }
    run.wait_until = None;
    run.cursor = run.cursor.max(due);
    true
}

/// What the send-time rules say about a marketing email at `at`.
enum Hold {
    None,
    Skip(&'static str),
    Until(Timestamp, &'static str),
}

/// What a marketing email (or the coupon it shows) may do at `at`: nothing
/// without consent or for a topic the contact left, else the send-time rules.
fn marketing_hold(catalog: &Catalog, def: &Definition, contact: &Contact, at: Timestamp) -> Hold {
    if !contact.accepts_marketing() {
        Hold::Skip("no email marketing consent")
    } else if def
        .topic
        .as_ref()
        .is_some_and(|t| contact.topics_out.contains(t))
    {
        Hold::Skip("unsubscribed from this email topic")
    } else {
        hold(catalog, def, contact, at)
    }
}

/// A step held by the send-time rules: `true` while its time has not come
/// (the run stops here); at its time, clears the hold and moves the run's
/// logical time there, so the step runs again.
fn still_held(run: &mut Run, now: Timestamp) -> bool {
    match run.wait_until {
        Some(due) if due > now => true,
        Some(due) => {
            run.wait_until = None;
            run.cursor = run.cursor.max(due);
            false
        }
        None => false,
    }
}

fn held(run: &mut Run, step: &str, until: Timestamp, reason: &str, effects: &mut Vec<Effect>) {
    run.wait_until = Some(until);
    effects.push(Effect::Held {
        journey: run.journey.clone(),
        step: step.to_string(),
        until,
        reason: reason.into(),
    });
}

fn hold(catalog: &Catalog, def: &Definition, contact: &Contact, at: Timestamp) -> Hold {
    use crate::sending::{WhenCapped, capped_until, quiet_until};
    let rules = &def.sending;
    let mut until = None;
    if let Some(cap) = &rules.cap
        && let Some(free) = capped_until(cap, &contact.marketing_sent, at)
    {
        match rules.when_capped {
            WhenCapped::Skip => return Hold::Skip("frequency cap"),
            WhenCapped::Delay => until = Some((free, "frequency cap")),
        }
    }
    if let Some(q) = &rules.quiet_hours {
        let tz = local_zone(catalog, contact);
        let candidate = until.map_or(at, |(t, _)| t);
        if let Some(open) = quiet_until(q, candidate, &tz) {
            until = Some((open, "quiet hours"));
        }
    }
    until.map_or(Hold::None, |(t, why)| Hold::Until(t, why))
}

/// A split bucket in `0..total`, stable for this run and step.
fn bucket(contact: &Contact, run: &Run, step: &str, total: u32) -> u32 {
    let mut h = sha2::Sha256::new();
    for part in [
        contact.id.as_str(),
        &run.journey,
        &run.key,
        &run.entry.to_string(),
        step,
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % total.max(1)
}

/// Moves one run as far as logical time `now` allows.
fn advance(
    catalog: &Catalog,
    contact: &mut Contact,
    run: &mut Run,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) {
    if catalog.retirement(&run.journey) == Some(OnRetire::Exit) {
        let at = run.cursor.max(now.min(run.wait_until.unwrap_or(now)));
        end(run, RunStatus::Exited, "journey retired", at, effects);
        return;
    }
    let Some(def) = catalog.version(&run.journey, run.version) else {
        let at = run.cursor;
        end(
            run,
            RunStatus::Exited,
            "journey version removed",
            at,
            effects,
        );
        return;
    };
    let mut budget = STEP_BUDGET;
    while run.is_active() {
        budget -= 1;
        if budget == 0 {
            let at = run.cursor;
            end(
                run,
                RunStatus::Exited,
                "step budget exhausted (a loop without a wait?)",
                at,
                effects,
            );
            return;
        }
        let Some(step) = def.steps.get(run.step) else {
            let at = run.cursor;
            end(run, RunStatus::Completed, "finished", at, effects);
            return;
        };
        let at = run.cursor;
        match &step.kind {
            StepKind::Wait {
                duration,
                from_trigger,
            } => {
                let due = match run.wait_until {
                    Some(due) => due,
                    None => {
                        let anchor = if *from_trigger {
                            run.trigger_at
                        } else {
                            run.cursor
                        };
                        let due = anchor.checked_add(*duration).unwrap_or(Timestamp::MAX);
                        run.wait_until = Some(due);
                        if due > now {
                            effects.push(Effect::Waiting {
                                journey: run.journey.clone(),
                                key: run.key.clone(),
                                until: due,
                            });
                        }
                        due
                    }
                };
                if due > now {
                    return;
                }
                run.wait_until = None;
                run.cursor = run.cursor.max(due);
                goto(def, run, step.next);
            }
            StepKind::WaitUntil { time, days } => {
                let due = match run.wait_until {
                    Some(due) => due,
                    None => {
                        let tz = local_zone(catalog, contact);
                        let due = crate::sending::next_local(run.cursor, *time, days, &tz);
                        run.wait_until = Some(due);
                        due
                    }
                };
                if !fire_if_due(run, due, now, effects) {
                    return;
                }
                goto(def, run, step.next);
            }
            StepKind::WaitDate {
                date,
                offset,
                end_if_late,
            } => {
                let due = match run.wait_until {
                    Some(due) => due,
                    None => match resolve_date(catalog, contact, Some(run), date)
                        .and_then(|d| d.checked_add(*offset).ok())
                    {
                        Some(t) if t > run.cursor => {
                            run.wait_until = Some(t);
                            t
                        }
                        // No such date, or already past: go on at once, or
                        // end (`late: end`).
                        _ if *end_if_late => {
                            end(run, RunStatus::Exited, "the date had passed", at, effects);
                            return;
                        }
                        _ => {
                            goto(def, run, step.next);
                            continue;
                        }
                    },
                };
                if !fire_if_due(run, due, now, effects) {
                    return;
                }
                goto(def, run, step.next);
            }
            StepKind::Coupon(spec) => {
                // A code is given only to a contact the journey's marketing
                // email can reach now: held by quiet hours or the cap like
                // the email that shows it (so a 12-hour code is not half
                // spent by the night), skipped without consent.
                if run.wait_until.is_some() {
                    if still_held(run, now) {
                        return;
                    }
                    continue;
                }
                let scope = Scope {
                    event: None,
                    contact,
                    run: Some(run),
                    now: at,
                };
                let decision = if all(&def.audience, scope) {
                    marketing_hold(catalog, def, contact, at)
                } else {
                    Hold::Skip("not in the journey's audience")
                };
                match decision {
                    Hold::Until(until, reason) => {
                        held(run, &step.id, until, reason, effects);
                        continue;
                    }
                    Hold::Skip(reason) => {
                        effects.push(Effect::Skipped {
                            journey: run.journey.clone(),
                            step: step.id.clone(),
                            reason: format!("no coupon: {reason}"),
                        });
                        goto(def, run, step.next);
                        continue;
                    }
                    Hold::None => {}
                }
                let mark = format!("emit:{}", step.id);
                let visit = run.path.iter().filter(|p| **p == mark).count();
                let key = format!("{}#{}", run.key, run.entry);
                let code = crate::coupon::code(
                    catalog.coupon_secret(),
                    &spec.prefix,
                    &[
                        contact.shop.as_str(),
                        contact.id.as_str(),
                        &run.journey,
                        &key,
                        &format!("{}#{visit}", step.id),
                    ],
                );
                let coupon = crate::coupon::Coupon {
                    name: spec.name.clone(),
                    code,
                    discount: spec.discount.clone(),
                    journey: run.journey.clone(),
                    issued_at: at,
                    expires_at: crate::coupon::expiry(at, spec.valid_for.0),
                    used_at: None,
                };
                let data = serde_json::to_value(&coupon).unwrap_or_default();
                contact.give_coupon(coupon);
                let mut message =
                    OutboxMessage::event(contact, run, &step.id, visit, "waymark.coupon_issued");
                message.params["coupon"] = data;
                effects.push(Effect::Emit(Box::new(message)));
                run.path.push(mark);
                goto(def, run, step.next);
            }
            StepKind::WaitFor {
                timeout,
                on_timeout,
                ..
            } => {
                let due = *run.wait_until.get_or_insert_with(|| {
                    run.cursor.checked_add(*timeout).unwrap_or(Timestamp::MAX)
                });
                if !fire_if_due(run, due, now, effects) {
                    return;
                }
                branch(def, run, *on_timeout, due, effects);
            }
            StepKind::If {
                conditions,
                then,
                otherwise,
            } => {
                // An `if` reads the contact, the run, and the event that started it.
                let scope = Scope {
                    event: Some(&run.trigger),
                    contact,
                    run: Some(run),
                    now: at,
                };
                let target = if all(conditions, scope) {
                    *then
                } else {
                    *otherwise
                };
                branch(def, run, target, at, effects);
            }
            StepKind::Split { branches } => {
                let total: u32 = branches.iter().map(|b| b.weight).sum();
                let mut pick = bucket(contact, run, &step.id, total);
                let chosen = branches
                    .iter()
                    .find(|b| {
                        if pick < b.weight {
                            true
                        } else {
                            pick -= b.weight;
                            false
                        }
                    })
                    .unwrap_or(&branches[0]);
                run.path.push(format!("{}={}", step.id, chosen.name));
                branch(def, run, chosen.target, at, effects);
            }
            StepKind::Email {
                template,
                transactional,
            } => {
                // A held message (quiet hours, frequency cap) waits like a
                // wait step, then this step runs again at its new time.
                if run.wait_until.is_some() {
                    if still_held(run, now) {
                        return;
                    }
                    continue;
                }
                let scope = Scope {
                    event: None,
                    contact,
                    run: Some(run),
                    now: at,
                };
                if !all(&def.audience, scope) {
                    end(
                        run,
                        RunStatus::Exited,
                        "left the journey's audience",
                        at,
                        effects,
                    );
                    return;
                }
                let skipped = |reason: &str| Effect::Skipped {
                    journey: run.journey.clone(),
                    step: step.id.clone(),
                    reason: reason.into(),
                };
                // Marketing mail goes only to contacts who opted in, within
                // the cap and outside quiet hours; transactional mail (order
                // updates) follows its own rules.
                let marketing = !*transactional;
                let decision = if marketing {
                    marketing_hold(catalog, def, contact, at)
                } else {
                    Hold::None
                };
                match decision {
                    Hold::Until(until, reason) => {
                        held(run, &step.id, until, reason, effects);
                        continue;
                    }
                    Hold::Skip(reason) => effects.push(skipped(reason)),
                    Hold::None => {
                        let visit = run.sent.iter().filter(|s| **s == step.id).count();
                        match OutboxMessage::for_step(
                            contact,
                            run,
                            &step.id,
                            visit,
                            template,
                            *transactional,
                        ) {
                            Some(mut message) => {
                                if marketing {
                                    message.topic = def.topic.clone();
                                }
                                effects.push(Effect::Email(Box::new(message)));
                                run.sent.push(step.id.clone());
                                if marketing {
                                    contact.marketing_queued(at);
                                }
                            }
                            None => effects.push(skipped("contact has no email address")),
                        }
                    }
                }
                goto(def, run, step.next);
            }
            StepKind::Emit { detail_type } => {
                let visit = run
                    .path
                    .iter()
                    .filter(|p| **p == format!("emit:{}", step.id))
                    .count();
                effects.push(Effect::Emit(Box::new(OutboxMessage::event(
                    contact,
                    run,
                    &step.id,
                    visit,
                    detail_type,
                ))));
                run.path.push(format!("emit:{}", step.id));
                goto(def, run, step.next);
            }
            StepKind::Update(u) => {
                for t in &u.tag {
                    contact.tags.insert(t.clone());
                }
                for t in &u.untag {
                    contact.tags.remove(t);
                }
                for (k, v) in &u.set {
                    contact.properties.insert(k.clone(), v.clone());
                }
                contact.score += u.score;
                if let Some(stage) = &u.stage {
                    if contact.stage.as_ref() != Some(stage) {
                        effects.push(Effect::Stage {
                            from: contact.stage.clone(),
                            to: stage.clone(),
                            at,
                        });
                        contact.stage = Some(stage.clone());
                        contact.stage_at = Some(at);
                    }
                    contact.stage_by = Some(run.journey.clone());
                }
                if let Some(source) = &u.unsubscribe {
                    contact.withdraw_consent(source, at);
                }
                effects.push(Effect::Updated {
                    journey: run.journey.clone(),
                    step: step.id.clone(),
                    at,
                });
                goto(def, run, step.next);
            }
            StepKind::Exit => {
                end(run, RunStatus::Exited, "exit step", at, effects);
            }
        }
    }
}
