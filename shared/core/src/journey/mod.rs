//! Journeys: definitions read from files, the state of one contact's run, and
//! the pure step function that moves runs along. The engine never reads the
//! clock and never performs I/O; it returns effects for adapters to perform.

mod admission;
mod audience;
mod campaign_send;
pub(crate) mod catalog;
pub mod condition;
mod dates;
mod definition;
mod effect;
mod engine;
pub mod graph;
mod reactions;
mod run;
mod steps;

pub use campaign_send::earlier_email;
pub use catalog::{Catalog, ContentError, ContentFile, EmailTopic};
pub use condition::Condition;
pub use dates::run_subscription;
pub use definition::{
    Branch, DATE_REACHED, DateRef, Definition, Exit, Goal, OnRepeat, OnRetire, Reentry, RunPer,
    SEGMENT_EVENTS, Segment, Step, StepKind, Trigger, Update,
};
pub use effect::Effect;
pub use engine::{handle_event, handle_tick, reads_ended_runs, successors};
pub use run::{CLICKS_KEPT, Click, Run, RunStatus};

#[cfg(test)]
mod schema_tests;
#[cfg(test)]
mod tests;
