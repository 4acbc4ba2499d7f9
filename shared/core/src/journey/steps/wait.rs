//! Waiting steps: `wait` (a duration), `wait_until` (a local time of day),
//! `wait_until_date` (a date on the contact, with an offset) and `wait_for`'s
//! timeout. A wait is `run.wait_until`: set once, fired when logical time
//! reaches it, never re-read from a clock.

use super::{Ctx, Flow, branch, end, fire_if_due, goto};
use crate::journey::dates::{local_zone, resolve_date};
use crate::journey::definition::{DateRef, Step};
use crate::journey::effect::Effect;
use crate::journey::run::RunStatus;
use jiff::{SignedDuration, Timestamp};

/// `wait: 1h` (from the step, or from the trigger's time, which a refresh moves).
pub(super) fn wait(
    cx: &mut Ctx<'_>,
    step: &Step,
    duration: SignedDuration,
    from_trigger: bool,
) -> Flow {
    let run = &mut *cx.run;
    let due = match run.wait_until {
        Some(due) => due,
        None => {
            let anchor = if from_trigger {
                run.trigger_at
            } else {
                run.cursor
            };
            let due = anchor.checked_add(duration).unwrap_or(Timestamp::MAX);
            run.wait_until = Some(due);
            if due > cx.now {
                cx.effects.push(Effect::Waiting {
                    journey: run.journey.clone(),
                    key: run.key.clone(),
                    until: due,
                });
            }
            due
        }
    };
    if due > cx.now {
        return Flow::Stop;
    }
    run.wait_until = None;
    run.cursor = run.cursor.max(due);
    goto(cx.def, run, step.next);
    Flow::Next
}

/// `wait_until: {time: "10:00", days: [...]}` in the contact's zone.
pub(super) fn wait_until(
    cx: &mut Ctx<'_>,
    step: &Step,
    time: jiff::civil::Time,
    days: &[jiff::civil::Weekday],
) -> Flow {
    let due = match cx.run.wait_until {
        Some(due) => due,
        None => {
            let tz = local_zone(cx.catalog, cx.contact);
            let due = crate::sending::next_local(cx.run.cursor, time, days, &tz);
            cx.run.wait_until = Some(due);
            due
        }
    };
    if !fire_if_due(cx.run, due, cx.now, cx.effects) {
        return Flow::Stop;
    }
    goto(cx.def, cx.run, step.next);
    Flow::Next
}

/// `wait_until_date: {date, before|after}`: a missing or past date goes on at
/// once, or ends the run (`late: end`).
pub(super) fn wait_date(
    cx: &mut Ctx<'_>,
    step: &Step,
    date: &DateRef,
    offset: SignedDuration,
    end_if_late: bool,
) -> Flow {
    let at = cx.run.cursor;
    let due = match cx.run.wait_until {
        Some(due) => due,
        None => match resolve_date(cx.catalog, cx.contact, Some(cx.run), date)
            .and_then(|d| d.checked_add(offset).ok())
        {
            Some(t) if t > cx.run.cursor => {
                cx.run.wait_until = Some(t);
                t
            }
            _ if end_if_late => {
                end(
                    cx.run,
                    RunStatus::Exited,
                    "the date had passed",
                    at,
                    cx.effects,
                );
                return Flow::Stop;
            }
            _ => {
                goto(cx.def, cx.run, step.next);
                return Flow::Next;
            }
        },
    };
    if !fire_if_due(cx.run, due, cx.now, cx.effects) {
        return Flow::Stop;
    }
    goto(cx.def, cx.run, step.next);
    Flow::Next
}

/// `wait_for`'s timeout (the event side is decided when the event comes).
pub(super) fn wait_for(
    cx: &mut Ctx<'_>,
    timeout: SignedDuration,
    on_timeout: Option<usize>,
) -> Flow {
    let run = &mut *cx.run;
    let due = *run
        .wait_until
        .get_or_insert_with(|| run.cursor.checked_add(timeout).unwrap_or(Timestamp::MAX));
    if !fire_if_due(cx.run, due, cx.now, cx.effects) {
        return Flow::Stop;
    }
    branch(cx.def, cx.run, on_timeout, due, cx.effects);
    Flow::Next
}
