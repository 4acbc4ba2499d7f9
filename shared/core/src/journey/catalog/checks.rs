//! Checks across a journey's steps and inside its conditions that the types
//! cannot express: where each step leads, what is reachable, loops that never
//! wait, counted events and RFM cells that do not exist.

use crate::event::EventKind;
use crate::journey::condition::Condition;
use crate::journey::definition::{Step, StepKind};

/// Problems inside conditions the types cannot catch: counted events that
/// do not exist, RFM cells that do not exist, scores out of range.
pub fn check_conditions(conditions: &[Condition]) -> Vec<String> {
    let mut problems = Vec::new();
    fn walk(c: &Condition, out: &mut Vec<String>) {
        match c {
            Condition::Count(rule) => {
                if !EventKind::NAMES.contains(&rule.event.as_str()) {
                    out.push(format!("count: unknown event `{}`", rule.event));
                }
                if rule.at_least.is_none() && rule.at_most.is_none() && rule.sum_at_least.is_none()
                {
                    out.push(format!(
                        "count of `{}` needs `at_least`, `at_most` or `sum_at_least`",
                        rule.event
                    ));
                }
            }
            Condition::Rfm(cell) if !crate::rfm::CELLS.contains(&cell.as_str()) => {
                out.push(format!(
                    "unknown RFM cell `{cell}` (known: {})",
                    crate::rfm::CELLS.join(", ")
                ))
            }
            Condition::RfmAtLeast(f) => {
                for (name, v) in [("r", f.r), ("f", f.f), ("m", f.m)] {
                    if v.is_some_and(|v| !(1..=5).contains(&v)) {
                        out.push(format!("rfm_at_least: `{name}` is a score from 1 to 5"));
                    }
                }
            }
            Condition::Not(c) => walk(c, out),
            Condition::AnyOf(cs) | Condition::AllOf(cs) => {
                cs.iter().for_each(|c| walk(c, out));
            }
            _ => {}
        }
    }
    for c in conditions {
        walk(c, &mut problems);
    }
    problems
}

/// The steps a step can lead to.
pub fn successors(step: &Step) -> Vec<Option<usize>> {
    match &step.kind {
        StepKind::WaitFor {
            on_event,
            on_timeout,
            ..
        } => vec![*on_event, *on_timeout],
        StepKind::If {
            then, otherwise, ..
        } => vec![*then, *otherwise],
        StepKind::Split { branches } => branches.iter().map(|b| b.target).collect(),
        StepKind::Exit => vec![],
        _ => vec![step.next],
    }
}

pub(super) fn reachability(steps: &[Step]) -> Vec<bool> {
    let mut seen = vec![false; steps.len()];
    let mut stack = vec![0];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        stack.extend(successors(&steps[i]).into_iter().flatten());
    }
    seen
}

/// A step on a cycle that passes through no wait, if any.
pub(super) fn loop_without_wait(steps: &[Step]) -> Option<&str> {
    let waits = |s: &Step| {
        matches!(
            s.kind,
            StepKind::Wait { .. } | StepKind::WaitUntil { .. } | StepKind::WaitFor { .. }
        )
    };
    for start in 0..steps.len() {
        if waits(&steps[start]) {
            continue;
        }
        let mut seen = vec![false; steps.len()];
        let mut stack: Vec<usize> = successors(&steps[start]).into_iter().flatten().collect();
        while let Some(i) = stack.pop() {
            if i == start {
                return Some(&steps[start].id);
            }
            if waits(&steps[i]) || std::mem::replace(&mut seen[i], true) {
                continue;
            }
            stack.extend(successors(&steps[i]).into_iter().flatten());
        }
    }
    None
}
