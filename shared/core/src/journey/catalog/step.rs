//! A journey's steps: each step file read into its kind, with its jumps
//! resolved to step indexes.

use super::diagnostics::{Diagnostics, is_snake_id};
use super::journey::Known;
use super::journey_file::{
    BranchFile, END, Late, StepFile, WaitAnchor, WaitDateFile, WaitForFile, WaitUntilFile, offset,
    weekday,
};
use crate::journey::definition::{Branch, DateRef, Step, StepKind, Update};
use jiff::SignedDuration;
use std::collections::BTreeMap;

/// Where one step is, for its messages and its jumps.
struct Place<'a> {
    /// The step's position and the journey's length.
    i: usize,
    len: usize,
    index: &'a BTreeMap<&'a str, usize>,
    /// `journey … , step …`, the prefix of every message.
    here: String,
    /// The line (0-based) messages are searched from.
    line: usize,
    /// Unknown jump targets, reported after the step's own problems.
    bad_jumps: Vec<(String, String)>,
}

impl Place<'_> {
    /// The step `name` leads to: the next one when absent, none at `end`.
    fn target(&mut self, field: &str, name: &Option<String>) -> Option<usize> {
        match name.as_deref() {
            None => (self.i + 1 < self.len).then_some(self.i + 1),
            Some(END) => None,
            Some(n) => match self.index.get(n) {
                Some(&j) => Some(j),
                None => {
                    self.bad_jumps.push((
                        format!("{field}: {n}"),
                        format!("{}: `{field}` names unknown step `{n}`", self.here),
                    ));
                    None
                }
            },
        }
    }

    fn err(&self, d: &mut Diagnostics, needle: &str, message: String) {
        d.at(needle, self.line, format!("{}: {message}", self.here));
    }
}

pub(super) fn parse_steps(
    files: &[StepFile],
    journey: &str,
    known: &Known,
    d: &mut Diagnostics,
) -> Vec<Step> {
    let index: BTreeMap<&str, usize> = files
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut seen: Vec<&str> = Vec::new();
    let mut steps = Vec::new();
    for (i, s) in files.iter().enumerate() {
        let mut at = Place {
            i,
            len: files.len(),
            index: &index,
            here: format!("{journey}, step `{}`", s.id),
            line: d.line_of(&format!("id: {}", s.id)).saturating_sub(1),
            bad_jumps: Vec::new(),
        };
        let id_needle = format!("id: {}", s.id);
        if s.id == END || s.id.is_empty() {
            at.err(d, &id_needle, format!("`{END}` and empty ids are reserved"));
        }
        if seen.contains(&s.id.as_str()) {
            d.at(
                &id_needle,
                at.line + 1,
                format!("{}: step id is used twice", at.here),
            );
        }
        seen.push(&s.id);
        let Some((kind, next)) = parse_step(s, known, &mut at, d) else {
            continue;
        };
        for (needle, msg) in std::mem::take(&mut at.bad_jumps) {
            d.at(&needle, at.line, msg);
        }
        steps.push(Step {
            id: s.id.clone(),
            kind,
            next,
        });
    }
    steps
}

/// One step's kind and where it goes next; none when it is not exactly one
/// kind of step.
fn parse_step(
    s: &StepFile,
    known: &Known,
    at: &mut Place,
    d: &mut Diagnostics,
) -> Option<(StepKind, Option<usize>)> {
    if !is_one_kind(s) {
        at.err(
            d,
            &format!("id: {}", s.id),
            "a step needs exactly one of `wait`, `wait_until`, `wait_until_date`, `wait_for`, `if`, `split`, `email`, `coupon`, `update`, `emit` or `exit`".to_string(),
        );
        return None;
    }
    check_keys_of_other_kinds(s, at, d);
    let next = at.target("next", &s.next);
    Some((step_kind(s, known, at, d), next))
}

/// Whether the step names exactly one kind.
fn is_one_kind(s: &StepFile) -> bool {
    let kinds = [
        s.emit.is_some(),
        s.wait.is_some(),
        s.wait_until.is_some(),
        s.wait_until_date.is_some(),
        s.coupon.is_some(),
        s.wait_for.is_some(),
        s.if_.is_some(),
        s.split.is_some(),
        s.email.is_some(),
        s.update.is_some(),
        s.exit,
    ];
    kinds.iter().filter(|k| **k).count() == 1
}

/// `then`/`else` and `from` belong to some kinds only.
fn check_keys_of_other_kinds(s: &StepFile, at: &Place, d: &mut Diagnostics) {
    let branches = s.if_.is_some() || s.wait_for.is_some();
    if !branches && (s.then.is_some() || s.otherwise.is_some()) {
        at.err(
            d,
            "then:",
            "`then`/`else` only apply to `if` and `wait_for` steps".to_string(),
        );
    }
    if s.from.is_some() && s.wait.is_none() {
        at.err(
            d,
            "from:",
            "`from` only applies to a `wait` step".to_string(),
        );
    }
}

/// The step's one kind, each checked by its own function.
fn step_kind(s: &StepFile, known: &Known, at: &mut Place, d: &mut Diagnostics) -> StepKind {
    if let Some(w) = &s.wait {
        StepKind::Wait {
            duration: w.0,
            from_trigger: matches!(s.from, Some(WaitAnchor::Trigger)),
        }
    } else if let Some(w) = &s.wait_until {
        wait_until(w, at, d)
    } else if let Some(w) = &s.wait_until_date {
        wait_until_date(w, at, d)
    } else if let Some(c) = &s.coupon {
        coupon(c, at, d);
        StepKind::Coupon(c.clone())
    } else if let Some(w) = &s.wait_for {
        wait_for(w, s, known, at, d)
    } else if let Some(c) = &s.if_ {
        StepKind::If {
            conditions: c.clone(),
            then: at.target("then", &s.then),
            otherwise: at.target("else", &s.otherwise),
        }
    } else if let Some(b) = &s.split {
        split(b, at, d)
    } else if let Some(t) = &s.email {
        email(t, s.transactional, known, at, d)
    } else if let Some(u) = &s.update {
        update(u, known, at, d);
        StepKind::Update(u.clone())
    } else if let Some(detail_type) = &s.emit {
        emit(detail_type, at, d)
    } else {
        StepKind::Exit
    }
}

fn email(
    template: &str,
    transactional: bool,
    known: &Known,
    at: &Place,
    d: &mut Diagnostics,
) -> StepKind {
    if !known.templates.contains_key(template) {
        at.err(
            d,
            template,
            format!("unknown template `{template}` (no templates/{template}/ folder)"),
        );
    }
    StepKind::Email {
        template: template.to_string(),
        transactional,
    }
}

fn wait_until(w: &WaitUntilFile, at: &Place, d: &mut Diagnostics) -> StepKind {
    let time = w.time.parse::<jiff::civil::Time>().unwrap_or_else(|_| {
        at.err(
            d,
            &w.time,
            format!("`{}` is not a time of day (e.g. \"10:00\")", w.time),
        );
        jiff::civil::Time::midnight()
    });
    let days = w
        .days
        .iter()
        .filter_map(|day| {
            let parsed = weekday(day);
            if parsed.is_none() {
                at.err(
                    d,
                    day,
                    format!("`{day}` is not a weekday (mon, tue, … sun)"),
                );
            }
            parsed
        })
        .collect();
    StepKind::WaitUntil { time, days }
}

fn wait_until_date(w: &WaitDateFile, at: &Place, d: &mut Diagnostics) -> StepKind {
    let date = DateRef::parse(&w.date).unwrap_or_else(|m| {
        at.err(d, &w.date, m);
        DateRef::Property(String::new())
    });
    let offset = offset(w.before, w.after).unwrap_or_else(|m| {
        at.err(d, "wait_until_date:", m);
        SignedDuration::ZERO
    });
    StepKind::WaitDate {
        date,
        offset,
        end_if_late: w.late == Late::End,
    }
}

fn coupon(c: &crate::coupon::Spec, at: &Place, d: &mut Diagnostics) {
    if !crate::coupon::valid_prefix(&c.prefix) {
        at.err(
            d,
            "prefix:",
            format!(
                "coupon `prefix` is 1–20 upper-case letters or digits, got `{}`",
                c.prefix
            ),
        );
    }
    if !is_snake_id(&c.name) {
        at.err(
            d,
            "name:",
            "coupon `name` must be lower_snake_case".to_string(),
        );
    }
    if c.valid_for.0 <= SignedDuration::ZERO {
        at.err(
            d,
            "valid_for:",
            "coupon `valid_for` must be positive".to_string(),
        );
    }
}

fn wait_for(
    w: &WaitForFile,
    s: &StepFile,
    known: &Known,
    at: &mut Place,
    d: &mut Diagnostics,
) -> StepKind {
    let events = w.event.names();
    if events.is_empty() {
        at.err(d, "event:", "`wait_for` needs an event".to_string());
    }
    for e in &events {
        if !known.event(e) {
            at.err(d, e, format!("unknown event `{e}`"));
        }
    }
    if s.otherwise.is_none() {
        at.err(
            d,
            "wait_for:",
            "`wait_for` needs an `else:` (where to go when `timeout` passes)".to_string(),
        );
    }
    StepKind::WaitFor {
        events,
        conditions: w.when.clone(),
        timeout: w.timeout.0,
        on_event: at.target("then", &s.then),
        on_timeout: at.target("else", &s.otherwise),
    }
}

fn split(b: &[BranchFile], at: &mut Place, d: &mut Diagnostics) -> StepKind {
    if b.len() < 2 || b.iter().any(|x| x.weight == 0) {
        at.err(
            d,
            "split:",
            "a split needs at least two branches with positive weights".to_string(),
        );
    }
    StepKind::Split {
        branches: b
            .iter()
            .map(|x| Branch {
                name: x.name.clone(),
                weight: x.weight,
                target: at.target("then", &x.then),
            })
            .collect(),
    }
}

fn update(u: &Update, known: &Known, at: &Place, d: &mut Diagnostics) {
    if let Some(stage) = &u.stage
        && !known.stage(stage)
    {
        d.at("stage:", at.line, known.unknown_stage(&at.here, stage));
    }
}

fn emit(detail_type: &str, at: &Place, d: &mut Diagnostics) -> StepKind {
    let valid = !detail_type.is_empty()
        && detail_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if !valid {
        at.err(
            d,
            detail_type,
            "`emit` takes a detail type of letters, digits, `_`, `-` or `.`".to_string(),
        );
    }
    StepKind::Emit {
        detail_type: detail_type.to_string(),
    }
}
