//! What an event does to the runs already going: goals convert them, exits
//! end them, a `wait_for` takes its event branch, a repeated trigger
//! refreshes them (a cart changed: the reminder counts from the new time).

use super::catalog::Catalog;
use super::condition::{Scope, all};
use super::definition::Definition;
use super::definition::{OnRepeat, OnRetire, RunPer, StepKind};
use super::effect::Effect;
use super::run::{Run, RunStatus, run_key};
use super::steps::{advance, branch, end};
use crate::contact::Contact;
use crate::event::{Event, EventKind};
use jiff::Timestamp;

/// What an event does to one running run: the journey retired or its
/// version removed, a goal reached, an exit, the event a `wait_for` waits
/// for, or a repeated trigger that refreshes the run.
pub(super) fn react(
    catalog: &Catalog,
    contact: &mut Contact,
    run: &mut Run,
    event: &Event,
    effects: &mut Vec<Effect>,
) {
    let kind = event.kind.name();
    if catalog.retirement(&run.journey) == Some(OnRetire::Exit) {
        end(run, RunStatus::Exited, "journey retired", event.at, effects);
        return;
    }
    let Some(def) = catalog.version(&run.journey, run.version) else {
        end(
            run,
            RunStatus::Exited,
            "journey version removed",
            event.at,
            effects,
        );
        return;
    };
    let scope = Scope {
        event: Some(&event.kind),
        contact,
        run: Some(run),
        now: event.at,
    };
    if reaches_goal(def, run, event, scope) {
        end(
            run,
            RunStatus::Converted,
            &format!("goal: {kind}"),
            event.at,
            effects,
        );
        return;
    }
    let same_run = run_key(def, event).as_deref() == Some(run.key.as_str());
    if same_run && let Some(reason) = exit_taken(def, kind, scope) {
        end(run, RunStatus::Exited, &reason, event.at, effects);
        return;
    }
    if let Some(to) = ends_wait(def, run, event, scope, same_run) {
        run.wait_until = None;
        run.cursor = event.at;
        run.matched = Some(event.kind.clone());
        branch(def, run, to, event.at, effects);
        advance(catalog, contact, run, event.at, effects);
        return;
    }
    if same_run
        && def.trigger.event == kind
        && def.trigger.on_repeat == OnRepeat::Refresh
        && event.at > run.trigger_at
    {
        refresh(def, run, event, effects);
    }
}

/// Whether the event is one of the journey's goals, met by this run.
fn reaches_goal(def: &Definition, run: &Run, event: &Event, scope: Scope<'_>) -> bool {
    let kind = event.kind.name();
    event.at >= run.entered_at
        && def
            .goals
            .iter()
            .any(|g| g.event == kind && all(&g.conditions, scope) && goal_matches(run, event))
}

/// The reason of the first of the journey's exits the event takes, if any.
fn exit_taken(def: &Definition, kind: &str, scope: Scope<'_>) -> Option<String> {
    let x = def.exits.iter().find(|x| {
        x.event == kind && (x.when_any.is_empty() || x.when_any.iter().any(|c| c.holds(scope)))
    })?;
    Some(format!("exit: {kind} ({:?})", x.when_any))
}

/// When the run waits for this event (and its conditions hold), where the
/// wait goes on to.
fn ends_wait(
    def: &Definition,
    run: &Run,
    event: &Event,
    scope: Scope<'_>,
    same_run: bool,
) -> Option<Option<usize>> {
    let Some(StepKind::WaitFor {
        events: wanted,
        conditions,
        on_event,
        ..
    }) = def.steps.get(run.step).map(|s| &s.kind)
    else {
        return None;
    };
    (wanted.iter().any(|w| w == event.kind.name())
        && (def.trigger.run_per == RunPer::Contact || same_run)
        && event.at >= run.cursor
        && all(conditions, scope))
    .then_some(*on_event)
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
