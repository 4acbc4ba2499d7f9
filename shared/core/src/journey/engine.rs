//! The step function. Given a contact, its runs and one input (an event or a
//! tick at logical time `now`), it moves the runs and returns effects.
//! Invariants: deterministic; a run's waits due at or before an event's time
//! fire before the event is applied; a step sends at most one email per run.

use super::catalog::Catalog;
use super::definition::{Definition, OnRepeat, RunPer, StepKind};
use super::run::{Run, RunStatus};
use crate::contact::Contact;
use crate::event::{Event, EventKind};
use crate::outbox::OutboxMessage;
use jiff::Timestamp;

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
    /// A trigger matched but the run was not started, with the reason.
    NotEntered {
        journey: String,
        reason: String,
    },
}

/// Fires every wait due at or before `now`.
pub fn handle_tick(
    catalog: &Catalog,
    contact: &Contact,
    runs: &mut [Run],
    now: Timestamp,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    for run in runs.iter_mut().filter(|r| r.is_active()) {
        advance(catalog, contact, run, now, &mut effects);
    }
    effects
}

/// Applies one event: first the waits due by its time fire (against the
/// contact as it was), then the contact takes the event, then goals, exits,
/// refreshes and new entries are decided.
pub fn handle_event(
    catalog: &Catalog,
    contact: &mut Contact,
    runs: &mut Vec<Run>,
    event: &Event,
) -> Vec<Effect> {
    let mut effects = handle_tick(catalog, contact, runs, event.at);
    contact.apply(event);
    let kind = event.kind.name();
    for run in runs.iter_mut().filter(|r| r.is_active()) {
        let Some(def) = catalog.version(&run.journey, run.version) else {
            end(
                run,
                RunStatus::Exited,
                "journey version retired",
                event.at,
                &mut effects,
            );
            continue;
        };
        if def.goals.iter().any(|g| g.event == kind) && goal_matches(run, event) {
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
            && let Some(x) = def
                .exits
                .iter()
                .find(|x| x.event == kind && x.when_any.iter().any(|c| c.holds(event)))
        {
            let reason = format!("exit: {kind} ({:?})", x.when_any);
            end(run, RunStatus::Exited, &reason, event.at, &mut effects);
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
        if def.trigger.event != kind || !def.trigger.require.iter().all(|c| c.holds(event)) {
            continue;
        }
        let Some(key) = run_key(def, event) else {
            continue;
        };
        if runs.iter().any(|r| r.journey == def.id && r.key == key) {
            continue;
        }
        if contact.ordered_checkouts.contains(&key) || contact.ordered_since(event.at) {
            effects.push(Effect::NotEntered {
                journey: def.id.clone(),
                reason: "goal already reached: an order at or after this event".into(),
            });
            continue;
        }
        let mut run = Run {
            journey: def.id.clone(),
            version: def.version,
            key: key.clone(),
            status: RunStatus::Active,
            step: 0,
            wait_until: None,
            entered_at: event.at,
            trigger_at: event.at,
            cursor: event.at,
            ended_at: None,
            end_reason: None,
            data: serde_json::to_value(&event.kind).unwrap_or_default(),
        };
        effects.push(Effect::Entered {
            journey: def.id.clone(),
            key,
            at: event.at,
        });
        advance(catalog, contact, &mut run, event.at, &mut effects);
        runs.push(run);
    }
    effects
}

fn run_key(def: &Definition, event: &Event) -> Option<String> {
    match def.trigger.run_per {
        RunPer::Contact => Some("contact".into()),
        RunPer::Checkout => match &event.kind {
            EventKind::CheckoutUpdated(c) => Some(c.token.clone()),
            _ => None,
        },
    }
}

/// An order converts a run if it is for the run's checkout, or if the
/// contact placed it after the run began.
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
    run.data = serde_json::to_value(&event.kind).unwrap_or_default();
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

/// Moves one run as far as logical time `now` allows.
fn advance(
    catalog: &Catalog,
    contact: &Contact,
    run: &mut Run,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) {
    let Some(def) = catalog.version(&run.journey, run.version) else {
        let at = run.cursor;
        end(
            run,
            RunStatus::Exited,
            "journey version retired",
            at,
            effects,
        );
        return;
    };
    while run.is_active() {
        let Some(step) = def.steps.get(run.step) else {
            let at = run.cursor;
            end(run, RunStatus::Completed, "finished", at, effects);
            return;
        };
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
                run.step += 1;
            }
            StepKind::Email {
                template,
                transactional,
            } => {
                match OutboxMessage::for_step(contact, run, &step.id, template, *transactional) {
                    Some(message) => effects.push(Effect::Email(Box::new(message))),
                    None => effects.push(Effect::Skipped {
                        journey: run.journey.clone(),
                        step: step.id.clone(),
                        reason: "contact has no email address".into(),
                    }),
                }
                run.step += 1;
            }
            StepKind::Exit => {
                let at = run.cursor;
                end(run, RunStatus::Exited, "exit step", at, effects);
            }
        }
    }
}
