//! The journey definition language as it appears in `journeys/*.yaml`. A
//! definition is data: adding a journey never adds a branch to the engine.
//! `catalog.rs` turns the file form into this validated form.

use super::condition::Condition;
use jiff::SignedDuration;
use serde::Deserialize;

/// A segment: contacts for whom every condition holds, kept current as
/// events change them (`segments/<id>.yaml`).
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub id: String,
    pub name: String,
    pub conditions: Vec<super::condition::Condition>,
}

/// Trigger names that are derived from membership changes, not received.
pub const SEGMENT_EVENTS: [&str; 2] = ["segment_entered", "segment_exited"];

/// The derived trigger for a lifecycle stage change (`stage: <to>` filters).
pub const STAGE_CHANGED: &str = "stage_changed";

/// The derived trigger for a contact's email marketing consent turning on,
/// whatever said so (a signup form, a checkout opt-in, the store's admin).
pub const SUBSCRIBED: &str = "subscribed";

/// The derived trigger for a date on the contact coming up (`date:` and
/// `offset:` say which date and how long before or after it).
pub const DATE_REACHED: &str = "date_reached";

/// A date a journey can wait for or trigger on, read from the contact (or
/// the run's subscription) when needed:
/// `coupon.<name>.expires_at`, `property.<key>` (an RFC 3339 timestamp or a
/// `YYYY-MM-DD` date, midnight in the contact's zone),
/// `subscription.next_billing_at` and `subscription.mid_cycle_at` (of the
/// subscription whose billing started the run, else the newest active one:
/// its last billing plus one cadence, or half of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateRef {
    CouponExpiry(String),
    Property(String),
    NextBilling,
    MidCycle,
}

impl DateRef {
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('.').collect();
        match parts.as_slice() {
            ["coupon", name, "expires_at"] if !name.is_empty() => {
                Ok(Self::CouponExpiry(name.to_string()))
            }
            ["property", key] if !key.is_empty() => Ok(Self::Property(key.to_string())),
            ["subscription", "next_billing_at"] => Ok(Self::NextBilling),
            ["subscription", "mid_cycle_at"] => Ok(Self::MidCycle),
            _ => Err(format!(
                "`{text}` is not a date (coupon.<name>.expires_at, property.<key>, subscription.next_billing_at or subscription.mid_cycle_at)"
            )),
        }
    }
}

/// How contacts are scored, staged and considered inactive
/// (`segments/_audience.yaml`).
#[derive(Debug, Clone, PartialEq)]
pub struct Audience {
    /// No engagement for this long makes a contact lapsed (the sweep's
    /// threshold).
    pub inactive_after: SignedDuration,
    /// The score halves every this long; `None`: no decay.
    pub half_life: Option<SignedDuration>,
    pub scoring: Vec<ScoreRule>,
    /// Lifecycle rules, first match wins; no match keeps the stage.
    pub lifecycle: Vec<StageRule>,
    /// The RFM score thresholds.
    pub rfm: crate::rfm::Thresholds,
}

impl Default for Audience {
    fn default() -> Self {
        Self {
            inactive_after: SignedDuration::from_hours(24 * 90),
            half_life: None,
            scoring: Vec::new(),
            lifecycle: Vec::new(),
            rfm: crate::rfm::Thresholds::default(),
        }
    }
}

/// Points an event is worth, when its conditions hold.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRule {
    pub event: String,
    pub conditions: Vec<Condition>,
    pub points: i64,
}

/// A contact for whom every condition holds is in this stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRule {
    pub stage: String,
    pub conditions: Vec<Condition>,
}

/// One versioned journey.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub id: String,
    pub version: u32,
    pub name: String,
    /// Contact conditions checked at entry and before every email: a contact
    /// who no longer matches leaves the run.
    pub audience: Vec<Condition>,
    /// While a run of one of these journeys is active, this one does not
    /// start; when one of them starts, this one's active run exits.
    pub suppressed_by: Vec<String>,
    /// `Some` when this version retires the journey: no new entries, and
    /// runs on older versions finish or exit.
    pub retired: Option<OnRetire>,
    pub trigger: Trigger,
    pub goals: Vec<Goal>,
    pub exits: Vec<Exit>,
    pub steps: Vec<Step>,
    /// Frequency cap and quiet hours for its marketing email (the defaults
    /// of `journeys/_defaults.yaml` with this journey's `sending:` on top).
    pub sending: crate::sending::Rules,
    /// The email topic its marketing email belongs to (`topics:` in
    /// `journeys/_defaults.yaml`): a contact who left the topic gets none.
    pub topic: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRetire {
    /// In-flight runs carry on to their end.
    Finish,
    /// In-flight runs exit at their next input.
    Exit,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// An event name, or `segment_entered` / `segment_exited`.
    pub event: String,
    /// With `segment_entered`/`segment_exited`: which segment.
    pub segment: Option<String>,
    /// With `stage_changed`: the stage entered (any when unset).
    pub stage: Option<String>,
    /// All must hold for the event to start a run.
    pub conditions: Vec<Condition>,
    pub run_per: RunPer,
    pub on_repeat: OnRepeat,
    pub reentry: Reentry,
    /// No new run (whatever its key) while the contact entered this journey
    /// less than this long ago: "skip contacts who got it in the last 14 days".
    pub cooldown: Option<SignedDuration>,
    /// With `date_reached`: the date, and the offset from it (negative:
    /// before) at which the run starts; one run per date value.
    pub date: Option<(DateRef, SignedDuration)>,
}

/// What a run is keyed on: one per contact, per checkout, or per order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunPer {
    Contact,
    Checkout,
    Order,
}

/// What a newer trigger event for an active run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRepeat {
    /// Nothing: the run carries on as it was.
    Ignore,
    /// The run takes the newer data, and a pending wait anchored on the
    /// trigger restarts from the newer event's time.
    Refresh,
}

/// Whether a contact may enter again (same key) after a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reentry {
    Once,
    Always,
    /// Only when the previous entry is at least this old.
    Every(SignedDuration),
}

/// An event that ends the run as a conversion, at any step.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    pub event: String,
    pub conditions: Vec<Condition>,
}

/// An event for the same run that ends it without conversion (cart emptied).
#[derive(Debug, Clone, PartialEq)]
pub struct Exit {
    pub event: String,
    /// Any one of these ends the run; none listed: the event alone does.
    pub when_any: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    /// Index of the step that follows (the next in the file unless `next:`
    /// says otherwise); `None` after the last step.
    pub next: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// Wait `duration`, counted from the trigger's time (so a refresh moves
    /// it) or from when the run reached this step.
    Wait {
        duration: SignedDuration,
        from_trigger: bool,
    },
    /// Wait until a local time of day (in the contact's zone), optionally on
    /// given weekdays only: "the next weekday at 10:00".
    WaitUntil {
        time: jiff::civil::Time,
        days: Vec<jiff::civil::Weekday>,
    },
    /// Wait until a date on the contact plus `offset` (negative: before
    /// it): "2 days before the welcome coupon expires". A date that is
    /// missing or already past lets the run go on at once.
    WaitDate {
        date: DateRef,
        offset: SignedDuration,
        /// `late: end`: a missing or already past date ends the run
        /// instead (a mid-cycle email after the cycle is no use).
        end_if_late: bool,
    },
    /// Give the contact a unique coupon code (and tell the store, through
    /// the bus event `waymark.coupon_issued`).
    Coupon(crate::coupon::Spec),
    /// Wait for an event (same contact) for at most `timeout`; go to
    /// `on_event` if it happens, `on_timeout` otherwise.
    WaitFor {
        /// Any of these events ends the wait.
        events: Vec<String>,
        conditions: Vec<Condition>,
        timeout: SignedDuration,
        on_event: Option<usize>,
        on_timeout: Option<usize>,
    },
    /// A condition split.
    If {
        conditions: Vec<Condition>,
        then: Option<usize>,
        otherwise: Option<usize>,
    },
    /// A random (deterministic per run) split: A/B tests and holdouts.
    Split { branches: Vec<Branch> },
    /// Queue an email rendered from `template`.
    Email {
        template: String,
        transactional: bool,
    },
    /// Change the contact: tags, properties, score, lifecycle stage.
    Update(Update),
    /// Publish an event (this detail type) to EventBridge through the outbox.
    Emit { detail_type: String },
    /// End the run.
    Exit,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    pub name: String,
    pub weight: u32,
    pub target: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    #[serde(default)]
    pub tag: Vec<String>,
    #[serde(default)]
    pub untag: Vec<String>,
    #[serde(default)]
    pub set: std::collections::BTreeMap<String, serde_json::Value>,
    /// Points added to (or, negative, taken from) the contact's score.
    #[serde(default)]
    pub score: i64,
    pub stage: Option<String>,
    /// Withdraws email marketing consent, recording this as its source
    /// (`sunset`): the contact is never mailed marketing again unless they
    /// opt in anew.
    pub unsubscribe: Option<String>,
}

impl Definition {
    /// Where a run goes after step `i` in the default flow.
    pub fn after(&self, i: usize) -> Option<usize> {
        self.steps.get(i).and_then(|s| s.next)
    }
}
