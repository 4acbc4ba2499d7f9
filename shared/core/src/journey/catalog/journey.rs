//! `journeys/<id>.yaml`: one journey version, checked against the rest of the
//! content (templates, segments, stages, topics, sending defaults).

use super::EmailTopic;
use super::checks::{check_conditions, loop_without_wait, reachability};
use super::defaults::merge;
use super::diagnostics::{ContentError, ContentFile, Diagnostics, is_snake_id, yaml_error};
use super::journey_file::{File, ReentryFile, TriggerFile, offset};
use super::step::parse_steps;
use crate::email::Template;
use crate::event::EventKind;
use crate::journey::condition::Condition;
use crate::journey::definition::{
    DATE_REACHED, DateRef, Definition, Exit, Goal, OnRepeat, Reentry, RunPer, SEGMENT_EVENTS,
    STAGE_CHANGED, Step, StepKind, Trigger,
};
use crate::sending::Rules;
use std::collections::BTreeMap;

/// What the rest of the content declares, which a journey may name.
pub(super) struct Known<'a> {
    pub templates: &'a BTreeMap<String, Template>,
    pub sending: &'a Rules,
    pub segments: &'a [String],
    pub stages: &'a [String],
    pub topics: &'a [EmailTopic],
}

impl Known<'_> {
    pub(super) fn event(&self, name: &str) -> bool {
        EventKind::NAMES.contains(&name)
    }

    pub(super) fn segment(&self, id: &str) -> bool {
        self.segments.iter().any(|s| s == id)
    }

    /// A stage the lifecycle rules do not know could never be held or left
    /// by them (no rules: any stage).
    pub(super) fn stage(&self, stage: &str) -> bool {
        self.stages.is_empty() || self.stages.iter().any(|s| s == stage)
    }

    pub(super) fn unknown_stage(&self, here: &str, stage: &str) -> String {
        format!(
            "{here}: unknown lifecycle stage `{stage}` (segments/_audience.yaml has {})",
            self.stages.join(", ")
        )
    }
}

/// One journey file: every problem in it (not just the first), or the
/// definition.
pub(super) fn parse_definition(
    f: &ContentFile,
    known: &Known,
) -> Result<Definition, Vec<ContentError>> {
    let file: File = serde_norway::from_str(&f.text).map_err(|e| yaml_error(f, e))?;
    let mut d = Diagnostics::new(f);
    let journey = format!("journey `{}` v{}", file.id, file.version);
    check_id_and_version(&file, &journey, &mut d);
    let trigger = match (&file.trigger, file.retired) {
        (Some(t), _) => parse_trigger(t, &journey, known, &mut d),
        (None, Some(_)) => retired_trigger(),
        (None, None) => {
            d.at(
                "id:",
                0,
                format!("{journey}: needs a `trigger` (or `retired: finish|exit`)"),
            );
            return Err(d.into_errors());
        }
    };
    check_goal_and_exit_events(&file, &journey, known, &mut d);
    if file.steps.is_empty() && file.retired.is_none() {
        d.at("steps:", 0, format!("{journey}: has no steps"));
    }
    let steps = parse_steps(&file.steps, &journey, known, &mut d);
    check_steps_named(&steps, &journey, &mut d);
    if d.is_empty() && !steps.is_empty() {
        check_graph(&steps, &journey, &mut d);
    }
    check_journey_conditions(&file, &steps, &journey, known, &mut d);
    check_topic(file.topic.as_deref(), &journey, known, &mut d);
    let sending = merge(known.sending, &file.sending).unwrap_or_else(|(needle, msg)| {
        d.at(&needle, 0, format!("{journey}, sending: {msg}"));
        known.sending.clone()
    });
    d.finish(definition(file, sending, trigger, steps))
}

fn check_id_and_version(file: &File, journey: &str, d: &mut Diagnostics) {
    if !is_snake_id(&file.id) {
        d.at(
            "id:",
            0,
            format!("{journey}: `id` must be lower_snake_case"),
        );
    }
    if file.version == 0 {
        d.at("version:", 0, format!("{journey}: `version` starts at 1"));
    }
}

fn check_goal_and_exit_events(file: &File, journey: &str, known: &Known, d: &mut Diagnostics) {
    for (what, event) in file
        .goals
        .iter()
        .map(|g| ("goal", &g.event))
        .chain(file.exits.iter().map(|x| ("exit", &x.event)))
    {
        if !known.event(event) {
            d.at(
                event,
                0,
                format!("{journey}: unknown {what} event `{event}`"),
            );
        }
    }
}

/// The journey's topic of interest, if it names one, is declared in
/// `journeys/_defaults.yaml`.
fn check_topic(topic: Option<&str>, journey: &str, known: &Known, d: &mut Diagnostics) {
    if let Some(t) = topic
        && !known.topics.iter().any(|x| x.id == t)
    {
        d.at(
            "topic:",
            0,
            format!(
                "{journey}: unknown topic `{t}` (topics in journeys/_defaults.yaml: {})",
                known
                    .topics
                    .iter()
                    .map(|x| x.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
}

/// The checked file as a definition.
fn definition(file: File, sending: Rules, trigger: Trigger, steps: Vec<Step>) -> Definition {
    Definition {
        sending,
        topic: file.topic,
        id: file.id,
        version: file.version,
        name: file.name,
        audience: file.audience,
        suppressed_by: file.suppressed_by,
        retired: file.retired,
        trigger,
        goals: file
            .goals
            .into_iter()
            .map(|g| Goal {
                event: g.event,
                conditions: g.when,
            })
            .collect(),
        exits: file
            .exits
            .into_iter()
            .map(|x| Exit {
                event: x.event,
                when_any: x.when_any,
            })
            .collect(),
        steps,
    }
}

/// A retired journey without a trigger admits nobody; its runs finish or exit.
fn retired_trigger() -> Trigger {
    Trigger {
        event: String::new(),
        conditions: vec![],
        run_per: RunPer::Contact,
        on_repeat: OnRepeat::Ignore,
        reentry: Reentry::Once,
        cooldown: None,
        segment: None,
        stage: None,
        date: None,
    }
}

fn parse_trigger(t: &TriggerFile, journey: &str, known: &Known, d: &mut Diagnostics) -> Trigger {
    let derived = SEGMENT_EVENTS.contains(&t.event.as_str());
    match (&t.segment, derived) {
        (None, true) => d.at(
            "event:",
            0,
            format!("{journey}: `{}` needs `segment: <id>`", t.event),
        ),
        (Some(s), true) if !known.segment(s) => d.at(
            s,
            0,
            format!("{journey}: unknown segment `{s}` (no segments/{s}.yaml)"),
        ),
        (Some(_), false) => d.at(
            "segment:",
            0,
            format!("{journey}: `segment` only goes with segment_entered/segment_exited"),
        ),
        _ => {}
    }
    let staged = t.event == STAGE_CHANGED;
    if let Some(stage) = &t.stage {
        if !staged {
            d.at(
                "stage:",
                0,
                format!("{journey}: `stage` only goes with `{STAGE_CHANGED}`"),
            );
        } else if !known.stage(stage) {
            d.at("stage:", 0, known.unknown_stage(journey, stage));
        }
    }
    let subscribed = t.event == crate::journey::definition::SUBSCRIBED;
    let dated = t.event == DATE_REACHED;
    let date = trigger_date(t, dated, journey, d);
    if !known.event(&t.event) && !derived && !staged && !subscribed && !dated {
        d.at(
            &t.event,
            0,
            format!(
                "{journey}: unknown trigger event `{}` (known: {})",
                t.event,
                EventKind::NAMES.join(", ")
            ),
        );
    }
    check_run_per(t, journey, d);
    let reentry = match &t.reentry {
        None => Reentry::Once,
        Some(ReentryFile::Word(w)) if w == "once" => Reentry::Once,
        Some(ReentryFile::Word(w)) if w == "always" => Reentry::Always,
        Some(ReentryFile::Word(w)) => {
            d.at(
                "reentry:",
                0,
                format!(
                    "{journey}: `reentry` is `once`, `always` or `{{every: <duration>}}`, got `{w}`"
                ),
            );
            Reentry::Once
        }
        Some(ReentryFile::Every { every }) => Reentry::Every(every.0),
    };
    Trigger {
        event: t.event.clone(),
        conditions: t.when.clone(),
        run_per: t.run_per,
        on_repeat: t.on_repeat,
        reentry,
        cooldown: t.cooldown.map(|c| c.0),
        segment: t.segment.clone(),
        stage: t.stage.clone(),
        date,
    }
}

/// `date_reached`'s date and offset; the fields only go together.
fn trigger_date(
    t: &TriggerFile,
    dated: bool,
    journey: &str,
    d: &mut Diagnostics,
) -> Option<(DateRef, jiff::SignedDuration)> {
    if !dated && (t.before.is_some() || t.after.is_some()) {
        d.at(
            "trigger:",
            0,
            format!("{journey}: `before`/`after` only go with `{DATE_REACHED}`"),
        );
    }
    match (&t.date, dated) {
        (None, true) => {
            d.at(
                "event:",
                0,
                format!("{journey}: `{DATE_REACHED}` needs `date: <which date>`"),
            );
            None
        }
        (Some(_), false) => {
            d.at(
                "date:",
                0,
                format!("{journey}: `date` only goes with `{DATE_REACHED}`"),
            );
            None
        }
        (Some(date), true) => match (DateRef::parse(date), offset(t.before, t.after)) {
            (Ok(r), Ok(o)) => Some((r, o)),
            (Err(m), _) | (_, Err(m)) => {
                d.at("date:", 0, format!("{journey}: {m}"));
                None
            }
        },
        (None, false) => None,
    }
}

/// A run per checkout or order needs a trigger that names one.
fn check_run_per(t: &TriggerFile, journey: &str, d: &mut Diagnostics) {
    if t.run_per == RunPer::Checkout && t.event != "checkout_updated" {
        d.at(
            "run_per:",
            0,
            format!("{journey}: `run_per: checkout` needs a checkout trigger event"),
        );
    }
    if t.run_per == RunPer::Order
        && !t.event.starts_with("order_")
        && t.event != "subscription_billed"
    {
        d.at(
            "run_per:",
            0,
            format!(
                "{journey}: `run_per: order` needs an order (or `subscription_billed`) trigger event"
            ),
        );
    }
}

/// `received:`, `opened:` and `clicked:` name email steps of this journey.
fn check_steps_named(steps: &[Step], journey: &str, d: &mut Diagnostics) {
    let email_steps: Vec<&str> = steps
        .iter()
        .filter(|s| matches!(s.kind, StepKind::Email { .. }))
        .map(|s| s.id.as_str())
        .collect();
    for s in steps {
        let (StepKind::If { conditions, .. } | StepKind::WaitFor { conditions, .. }) = &s.kind
        else {
            continue;
        };
        for n in conditions.iter().flat_map(|c| c.steps_named()) {
            if !email_steps.contains(&n) {
                d.at(
                    n,
                    0,
                    format!(
                        "{journey}: `{n}` (in `received`, `opened` or `clicked`) names no email step"
                    ),
                );
            }
        }
    }
}

/// Every step reachable, and no loop that never waits.
fn check_graph(steps: &[Step], journey: &str, d: &mut Diagnostics) {
    for (i, reachable) in reachability(steps).into_iter().enumerate() {
        if !reachable {
            let id = &steps[i].id;
            d.at(
                &format!("id: {id}"),
                0,
                format!("{journey}: step `{id}` is unreachable"),
            );
        }
    }
    if let Some(id) = loop_without_wait(steps) {
        d.at(
            &format!("id: {id}"),
            0,
            format!(
                "{journey}: step `{id}` is on a loop with no `wait` or `wait_for`: it would never stop"
            ),
        );
    }
}

/// The journey's conditions (audience, trigger, steps) name events, cells
/// and segments that exist.
fn check_journey_conditions(
    file: &File,
    steps: &[Step],
    journey: &str,
    known: &Known,
    d: &mut Diagnostics,
) {
    let mut conditions: Vec<&Condition> = file.audience.iter().collect();
    if let Some(t) = &file.trigger {
        conditions.extend(t.when.iter());
    }
    for s in steps {
        if let StepKind::If { conditions: c, .. } | StepKind::WaitFor { conditions: c, .. } =
            &s.kind
        {
            conditions.extend(c.iter());
        }
    }
    for c in conditions {
        for m in check_conditions(std::slice::from_ref(c)) {
            let needle = if m.starts_with("count") {
                "count"
            } else {
                "rfm"
            };
            d.at(needle, 0, format!("{journey}: {m}"));
        }
        for seg in c.segments_named() {
            if !known.segment(seg) {
                d.at(
                    seg,
                    0,
                    format!("{journey}: unknown segment `{seg}` (no segments/{seg}.yaml)"),
                );
            }
        }
    }
}
