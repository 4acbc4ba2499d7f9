//! The journey file as written: what serde reads before any rule is checked.

use super::defaults::SendingFile;
use crate::journey::condition::{Condition, Duration};
use crate::journey::definition::{OnRepeat, OnRetire, RunPer, Update};
use jiff::SignedDuration;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub(super) id: String,
    pub(super) version: u32,
    pub(super) name: String,
    #[serde(default)]
    pub(super) audience: Vec<Condition>,
    #[serde(default)]
    pub(super) suppressed_by: Vec<String>,
    pub(super) retired: Option<OnRetire>,
    pub(super) trigger: Option<TriggerFile>,
    #[serde(default)]
    pub(super) goals: Vec<GoalFile>,
    #[serde(default)]
    pub(super) exits: Vec<ExitFile>,
    #[serde(default)]
    pub(super) steps: Vec<StepFile>,
    #[serde(default)]
    pub(super) sending: SendingFile,
    /// The email topic its marketing email belongs to.
    pub(super) topic: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TriggerFile {
    pub(super) event: String,
    #[serde(default)]
    pub(super) when: Vec<Condition>,
    #[serde(default = "run_per_contact")]
    pub(super) run_per: RunPer,
    #[serde(default = "ignore_repeats")]
    pub(super) on_repeat: OnRepeat,
    #[serde(default)]
    pub(super) reentry: Option<ReentryFile>,
    pub(super) cooldown: Option<Duration>,
    pub(super) segment: Option<String>,
    pub(super) stage: Option<String>,
    /// With `date_reached`: which date, and `before`/`after` it.
    pub(super) date: Option<String>,
    pub(super) before: Option<Duration>,
    pub(super) after: Option<Duration>,
}

fn run_per_contact() -> RunPer {
    RunPer::Contact
}

fn ignore_repeats() -> OnRepeat {
    OnRepeat::Ignore
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum ReentryFile {
    Word(String),
    Every { every: Duration },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GoalFile {
    pub(super) event: String,
    #[serde(default)]
    pub(super) when: Vec<Condition>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExitFile {
    pub(super) event: String,
    #[serde(default)]
    pub(super) when_any: Vec<Condition>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StepFile {
    pub(super) id: String,
    pub(super) wait: Option<Duration>,
    pub(super) from: Option<WaitAnchor>,
    pub(super) wait_for: Option<WaitForFile>,
    pub(super) wait_until: Option<WaitUntilFile>,
    pub(super) wait_until_date: Option<WaitDateFile>,
    pub(super) coupon: Option<crate::coupon::Spec>,
    pub(super) emit: Option<String>,
    #[serde(rename = "if")]
    pub(super) if_: Option<Vec<Condition>>,
    pub(super) then: Option<String>,
    #[serde(rename = "else")]
    pub(super) otherwise: Option<String>,
    pub(super) split: Option<Vec<BranchFile>>,
    pub(super) email: Option<String>,
    #[serde(default)]
    pub(super) transactional: bool,
    pub(super) update: Option<Update>,
    #[serde(default)]
    pub(super) exit: bool,
    pub(super) next: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WaitDateFile {
    pub(super) date: String,
    pub(super) before: Option<Duration>,
    pub(super) after: Option<Duration>,
    #[serde(default)]
    pub(super) late: Late,
}

/// What a `wait_until_date` does when its date is missing or past.
#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum Late {
    #[default]
    Continue,
    End,
}

/// `before: 2d` / `after: 1d` as one signed offset; both is an error.
pub(super) fn offset(
    before: Option<Duration>,
    after: Option<Duration>,
) -> Result<SignedDuration, String> {
    match (before, after) {
        (Some(_), Some(_)) => Err("give `before` or `after`, not both".into()),
        (Some(b), None) => Ok(-b.0),
        (None, Some(a)) => Ok(a.0),
        (None, None) => Ok(SignedDuration::ZERO),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WaitUntilFile {
    pub(super) time: String,
    #[serde(default)]
    pub(super) days: Vec<String>,
}

pub(super) fn weekday(d: &str) -> Option<jiff::civil::Weekday> {
    use jiff::civil::Weekday::*;
    Some(match d.to_ascii_lowercase().get(..3)? {
        "mon" => Monday,
        "tue" => Tuesday,
        "wed" => Wednesday,
        "thu" => Thursday,
        "fri" => Friday,
        "sat" => Saturday,
        "sun" => Sunday,
        _ => return None,
    })
}

/// An event name, or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(super) fn names(&self) -> Vec<String> {
        match self {
            Self::One(n) => vec![n.clone()],
            Self::Many(ns) => ns.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WaitForFile {
    pub(super) event: OneOrMany,
    #[serde(default)]
    pub(super) when: Vec<Condition>,
    pub(super) timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BranchFile {
    pub(super) name: String,
    pub(super) weight: u32,
    pub(super) then: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum WaitAnchor {
    Trigger,
    Previous,
}

/// Word that ends a run when used as a jump target.
pub(super) const END: &str = "end";
