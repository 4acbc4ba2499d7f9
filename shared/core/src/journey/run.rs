//! One contact's run through one journey: plain data, persisted as is.

use super::definition::{Definition, RunPer};
use crate::event::{Event, EventKind};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Active,
    /// Reached the end of its steps.
    Completed,
    /// A goal event happened: a conversion.
    Converted,
    /// An exit condition, an exit step, the audience or a suppression ended it.
    Exited,
}

impl RunStatus {
    /// The stored name (the same as its serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Converted => "converted",
            Self::Exited => "exited",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub journey: String,
    /// The definition version the run started on and keeps.
    pub version: u32,
    /// What the run is keyed on within the contact: `contact` or a checkout token.
    pub key: String,
    /// Which entry of this contact (and key) into the journey: 0, 1, …
    #[serde(default)]
    pub entry: u32,
    pub status: RunStatus,
    /// Index of the step the run is on.
    pub step: usize,
    /// When the pending wait (or `wait_for` timeout) of the current step fires.
    pub wait_until: Option<Timestamp>,
    pub entered_at: Timestamp,
    /// Logical time of the newest trigger event folded into the run.
    pub trigger_at: Timestamp,
    /// Logical time the run has reached.
    pub cursor: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub end_reason: Option<String>,
    /// The trigger event's data (the newest, on refresh): what conditions
    /// read and emails render.
    pub trigger: crate::event::EventKind,
    /// The event a `wait_for` step last matched (e.g. the fulfilment with
    /// its tracking), rendered as `event`.
    #[serde(default)]
    pub matched: Option<crate::event::EventKind>,
    /// Email steps sent, in order (a step may appear twice on a loop).
    #[serde(default)]
    pub sent: Vec<String>,
    /// Split decisions, as `step=branch`.
    #[serde(default)]
    pub path: Vec<String>,
    /// Opens of, and clicks in, the emails this run sent (bounded): the
    /// per-message engagement.
    #[serde(default)]
    pub clicks: Vec<Click>,
}

/// Opens and clicks a run remembers.
pub const CLICKS_KEPT: usize = 20;

/// An open of (`open`) or a click on a link of the email a step sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Click {
    pub step: String,
    pub link: Option<String>,
    pub at: Timestamp,
    /// An open, not a click.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open: bool,
    /// A machine's (privacy proxy, link scanner): kept for `opened`, left
    /// out of attribution and of `clicked`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub machine: bool,
}

impl Run {
    /// A new run of `def` for `key`, entered by `event`.
    pub(super) fn start(def: &Definition, key: String, entry: u32, event: &Event) -> Self {
        Self::new(
            def.id.clone(),
            def.version,
            key,
            entry,
            event.kind.clone(),
            event.at,
        )
    }

    /// A fresh run at its first step, entered at `at` by `trigger`, that
    /// has sent nothing yet.
    pub fn new(
        journey: String,
        version: u32,
        key: String,
        entry: u32,
        trigger: crate::event::EventKind,
        at: Timestamp,
    ) -> Self {
        Self {
            journey,
            version,
            key,
            entry,
            status: RunStatus::Active,
            step: 0,
            wait_until: None,
            entered_at: at,
            trigger_at: at,
            cursor: at,
            ended_at: None,
            end_reason: None,
            trigger,
            matched: None,
            sent: Vec::new(),
            path: Vec::new(),
            clicks: Vec::new(),
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == RunStatus::Active
    }

    /// Whether the run queued no message at all: no email (`sent`) and
    /// nothing an `emit` or `coupon` step published (marked `emit:` in
    /// `path`). Erasure and merges find a run's messages through it.
    pub fn queued_nothing(&self) -> bool {
        self.sent.is_empty() && !self.path.iter().any(|p| p.starts_with("emit:"))
    }

    /// Whether the run has ended and is kept only for what it queued: a
    /// journey's (not a campaign's) ended run with messages, whose emails'
    /// opens and clicks still arrive and earn orders. Only events that read
    /// those (`reads_ended_runs`), merges and privacy requests load it.
    pub fn kept_for_messages(&self) -> bool {
        !self.is_active() && !crate::campaign::is_campaign(&self.journey) && !self.queued_nothing()
    }

    /// When an ended run's item expires: [`ENDED_RUN_KEPT`] after it ended
    /// (a campaign's decided run: [`crate::campaign::RUN_KEPT`]); never
    /// while it runs. A journey's run that queued no message expires as it
    /// ends: no open, click or order can name it, erasure has no message of
    /// it to find, and re-entry and cooldowns read its entry in the
    /// contact's history.
    ///
    /// [`ENDED_RUN_KEPT`]: crate::history::ENDED_RUN_KEPT
    pub fn expires_at(&self) -> Option<Timestamp> {
        let ended = self.ended_at.filter(|_| !self.is_active())?;
        let kept = if crate::campaign::is_campaign(&self.journey) {
            crate::campaign::RUN_KEPT
        } else if self.queued_nothing() {
            jiff::SignedDuration::ZERO
        } else {
            crate::history::ENDED_RUN_KEPT
        };
        Some(ended.checked_add(kept).unwrap_or(ended))
    }

    /// Whether a journey's ended run is past its keeping time at `now` (and
    /// may go, its entry remembered in the contact's history). Campaign runs
    /// are left to their expiry (they are never re-entered).
    pub fn expired_by(&self, now: Timestamp) -> bool {
        !crate::campaign::is_campaign(&self.journey) && self.expires_at().is_some_and(|t| t <= now)
    }
}

/// The run an event belongs to within the contact: per checkout, a checkout
/// event's token or an order's checkout token; per order, an order event's id.
pub(super) fn run_key(def: &Definition, event: &Event) -> Option<String> {
    match (def.trigger.run_per, &event.kind) {
        (RunPer::Contact, _) => Some("contact".into()),
        (RunPer::Checkout, EventKind::CheckoutUpdated(c)) => Some(c.token.clone()),
        (RunPer::Checkout, kind) => kind.order().and_then(|o| o.checkout_token.clone()),
        (RunPer::Order, kind) => kind.order_id().map(|o| o.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::RunStatus;

    #[test]
    fn the_stored_name_is_the_serde_name() {
        for status in [
            RunStatus::Active,
            RunStatus::Completed,
            RunStatus::Converted,
            RunStatus::Exited,
        ] {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }
}
