//! What the step function decides, as values: adapters persist the emails
//! and bus events; the rest is the timeline (logged, shown by the simulator).
//! Never performs anything itself.

use super::run::RunStatus;
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
    /// An event for the EventBridge bus (goes through the outbox too).
    Emit(Box<OutboxMessage>),
    /// A branch was taken (`if`, `split`, `wait_for`).
    Branched {
        journey: String,
        step: String,
        to: String,
        at: Timestamp,
    },
    /// The contact was changed by an `update` step.
    Updated {
        journey: String,
        step: String,
        at: Timestamp,
    },
    /// A marketing email held back (quiet hours, frequency cap) until a time.
    Held {
        journey: String,
        step: String,
        until: Timestamp,
        reason: String,
    },
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
    /// The contact entered or left a segment.
    Segment {
        segment: String,
        entered: bool,
        at: Timestamp,
    },
    /// The contact's lifecycle stage changed.
    Stage {
        from: Option<String>,
        to: String,
        at: Timestamp,
    },
    /// A trigger matched but no run started, with the reason.
    NotEntered {
        journey: String,
        reason: String,
    },
}
