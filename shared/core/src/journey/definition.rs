//! The journey definition language as it appears in `journeys/*.yaml`, and
//! its validation. A definition is data: adding a journey never adds a branch
//! to the engine.

use crate::event::{Event, EventKind};
use jiff::SignedDuration;
use serde::Deserialize;

/// One versioned journey.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub id: String,
    pub version: u32,
    pub name: String,
    pub trigger: Trigger,
    pub goals: Vec<Goal>,
    pub exits: Vec<Exit>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub event: String,
    /// All must hold for the event to start a run.
    pub require: Vec<Condition>,
    pub run_per: RunPer,
    pub on_repeat: OnRepeat,
}

/// What a run is keyed on: one per contact, or one per checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunPer {
    Contact,
    Checkout,
}

/// What a newer trigger event for an existing run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRepeat {
    /// Nothing: the run carries on as it was.
    Ignore,
    /// The run takes the newer data, and a pending wait anchored on the
    /// trigger restarts from the newer event's time.
    Refresh,
}

/// Predicates over an event, named so definitions stay readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    HasEmail,
    HasLineItems,
    NoLineItems,
    NotCompleted,
    Completed,
}

impl Condition {
    pub fn holds(self, event: &Event) -> bool {
        let checkout = match &event.kind {
            EventKind::CheckoutUpdated(c) => Some(c),
            _ => None,
        };
        match self {
            Self::HasEmail => event.kind.identity().email.is_some(),
            Self::HasLineItems => checkout.is_some_and(|c| !c.line_items.is_empty()),
            Self::NoLineItems => checkout.is_some_and(|c| c.line_items.is_empty()),
            Self::NotCompleted => checkout.is_some_and(|c| c.completed_at.is_none()),
            Self::Completed => checkout.is_some_and(|c| c.completed_at.is_some()),
        }
    }
}

/// An event that ends the run as a conversion, at any step.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    pub event: String,
}

/// An event for the same run that ends it without conversion (cart emptied).
#[derive(Debug, Clone, PartialEq)]
pub struct Exit {
    pub event: String,
    /// Any one of these ends the run.
    pub when_any: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// Wait `duration`, counted from the trigger's time (so a refresh moves it)
    /// or from when the run reached this step.
    Wait {
        duration: SignedDuration,
        from_trigger: bool,
    },
    /// Queue an email rendered from `template`.
    Email {
        template: String,
        transactional: bool,
    },
    /// End the run.
    Exit,
}

// ---- the file format --------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub id: String,
    pub version: u32,
    pub name: String,
    pub trigger: TriggerFile,
    #[serde(default)]
    pub goals: Vec<GoalFile>,
    #[serde(default)]
    pub exits: Vec<ExitFile>,
    pub steps: Vec<StepFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TriggerFile {
    pub event: String,
    #[serde(default)]
    pub require: Vec<Condition>,
    #[serde(default = "run_per_contact")]
    pub run_per: RunPer,
    #[serde(default = "ignore_repeats")]
    pub on_repeat: OnRepeat,
}

fn run_per_contact() -> RunPer {
    RunPer::Contact
}

fn ignore_repeats() -> OnRepeat {
    OnRepeat::Ignore
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GoalFile {
    pub event: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExitFile {
    pub event: String,
    pub when_any: Vec<Condition>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StepFile {
    pub id: String,
    pub wait: Option<String>,
    #[serde(default)]
    pub from: Option<WaitAnchor>,
    pub email: Option<String>,
    #[serde(default)]
    pub transactional: bool,
    #[serde(default)]
    pub exit: bool,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum WaitAnchor {
    Trigger,
    Previous,
}
