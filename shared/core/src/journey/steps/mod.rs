//! The step function's moves, one module per kind of step (`wait`,
//! `wait_for`, `email`, `coupon`, `emit`, `update`, `choice` for `if` and
//! `split`), and the thin dispatcher that runs a run's steps until it has to
//! wait, ends, or reaches logical time `now`. Every move is deterministic and
//! reads no clock; what it decides comes back as effects.

mod choice;
mod coupon;
mod email;
mod emit;
mod gate;
mod update;
mod wait;

use super::catalog::Catalog;
use super::definition::{Definition, OnRetire, Step, StepKind};
use super::effect::Effect;
use super::run::{Run, RunStatus};
use crate::contact::Contact;
use jiff::Timestamp;

/// Steps one input may move a run through before the run is stopped: a guard
/// behind validation's check for loops without waits.
const STEP_BUDGET: usize = 1_000;

/// What one step needs: the run it moves, the contact it reads and writes,
/// the definition version the run keeps, and where its effects go.
pub(super) struct Ctx<'a> {
    pub catalog: &'a Catalog,
    pub def: &'a Definition,
    pub contact: &'a mut Contact,
    pub run: &'a mut Run,
    /// How far logical time may take the run.
    pub now: Timestamp,
    pub effects: &'a mut Vec<Effect>,
}

/// After a step: take the run's next step, or stop here (waiting, held
/// beyond `now`, or ended).
pub(super) enum Flow {
    Next,
    Stop,
}

/// Moves one run as far as logical time `now` allows.
pub(super) fn advance(
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
    let mut cx = Ctx {
        catalog,
        def,
        contact,
        run,
        now,
        effects,
    };
    let mut budget = STEP_BUDGET;
    while cx.run.is_active() {
        budget -= 1;
        let at = cx.run.cursor;
        if budget == 0 {
            let reason = "step budget exhausted (a loop without a wait?)";
            end(cx.run, RunStatus::Exited, reason, at, cx.effects);
            return;
        }
        let Some(step) = def.steps.get(cx.run.step) else {
            end(cx.run, RunStatus::Completed, "finished", at, cx.effects);
            return;
        };
        if let Flow::Stop = take(&mut cx, step) {
            return;
        }
    }
}

/// One step of the run, by its kind.
fn take(cx: &mut Ctx<'_>, step: &Step) -> Flow {
    match &step.kind {
        StepKind::Wait {
            duration,
            from_trigger,
        } => wait::wait(cx, step, *duration, *from_trigger),
        StepKind::WaitUntil { time, days } => wait::wait_until(cx, step, *time, days),
        StepKind::WaitDate {
            date,
            offset,
            end_if_late,
        } => wait::wait_date(cx, step, date, *offset, *end_if_late),
        StepKind::WaitFor {
            timeout,
            on_timeout,
            ..
        } => wait::wait_for(cx, *timeout, *on_timeout),
        StepKind::Coupon(spec) => coupon::give(cx, step, spec),
        StepKind::If {
            conditions,
            then,
            otherwise,
        } => choice::if_(cx, conditions, *then, *otherwise),
        StepKind::Split { branches } => choice::split(cx, step, branches),
        StepKind::Email {
            template,
            transactional,
        } => email::queue(cx, step, template, *transactional),
        StepKind::Emit { detail_type } => emit::emit(cx, step, detail_type),
        StepKind::Update(u) => update::update(cx, step, u),
        StepKind::Exit => {
            let at = cx.run.cursor;
            end(cx.run, RunStatus::Exited, "exit step", at, cx.effects);
            Flow::Stop
        }
    }
}

pub(super) fn end(
    run: &mut Run,
    status: RunStatus,
    reason: &str,
    at: Timestamp,
    effects: &mut Vec<Effect>,
) {
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
pub(super) fn branch(
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

pub(super) fn goto(def: &Definition, run: &mut Run, target: Option<usize>) {
    run.step = target.unwrap_or(def.steps.len());
}

/// A wait (or timeout) due at `due`: if it is still ahead of `now`, notes
/// the wait and returns false; otherwise clears it, moves the run's logical
/// time to `due`, and returns true.
pub(super) fn fire_if_due(
    run: &mut Run,
    due: Timestamp,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) -> bool {
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
