//! A campaign's recipients decided and sent straight from their page (the
//! `fanout` worker), where the recipient's email can go now. The decision
//! is `process`'s own ([`Processor::decide_on_page`]) on the contact as
//! loaded; what it writes is the least that keeps every guarantee:
//!
//! - the email, written already claimed for its first attempt
//!   ([`Dispatcher::send_new`]: one write, no queued state, no claim, no
//!   due-index entry unless it must be retried), then sent and marked;
//! - the decision's ended run, once ([`ContactStore::put_decision`]): it
//!   is what a redelivered page or an overlapping segment finds, what
//!   results count (its counts ride on it), what opens, clicks and orders
//!   are attributed to, and what the frequency cap and smart sending count
//!   (`note_direct_sends`), so the contact itself is not written.
//!
//! A page delivered again after its worker stopped finds the email written
//! (or the run) and hands an email that may not have settled to the timer
//! ([`Dispatcher::hand_on`]), which gives it to dispatch as `unsure`.
//! Everything else (a later local time, quiet hours, an earlier schedule's
//! decision, a merged contact) goes through the recorded event, as before.

use crate::dispatch::{Dispatcher, Outcome};
use crate::ports::{
    CampaignStore, ContactStore, Counters, Mailer, Outbox, Privacy, Publisher, StoreError,
    StoreErrorKind, Suppressions,
};
use crate::process::{PageDecision, ProcessError, Processor};
use jiff::Timestamp;
use std::future::Future;
use waymark_core::event::{Event, EventKind};

/// What became of one recipient on its page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Not decided here: the page records the send as an event.
    ViaEvent,
    /// Decided (and mailed, or skipped) by this page now.
    Decided,
    /// Decided by this page before (a delivery again).
    Again,
    /// Decided by another page (an overlapping segment).
    Overlap,
}

/// Takes a campaign's recipients on their page, where it can.
pub trait PageSender {
    /// `event`: the recipient's send, as it would be recorded (its `Send`
    /// naming the page); `deadline`: when this invocation must be done.
    fn take(
        &self,
        event: &Event,
        deadline: Timestamp,
    ) -> impl Future<Output = Result<Taken, StoreError>> + Send;
}

/// Every recipient through the recorded event (the in-memory twin's queue,
/// and what a worker without a mailer does).
pub struct ViaEvents;

impl PageSender for ViaEvents {
    async fn take(&self, _: &Event, _: Timestamp) -> Result<Taken, StoreError> {
        Ok(Taken::ViaEvent)
    }
}

/// Decides with `process`'s rules and sends with `dispatch`'s.
pub struct Direct<S, M, P> {
    processor: Processor<S>,
    dispatcher: Dispatcher<S, M, P>,
}

impl<S, M, P> Direct<S, M, P> {
    pub fn new(processor: Processor<S>, dispatcher: Dispatcher<S, M, P>) -> Self {
        Self {
            processor,
            dispatcher,
        }
    }
}

impl<S, M, P> PageSender for Direct<S, M, P>
where
    S: ContactStore + Privacy + CampaignStore + Outbox + Suppressions + Counters + Sync,
    M: Mailer + Sync,
    P: Publisher + Sync,
{
    async fn take(&self, event: &Event, deadline: Timestamp) -> Result<Taken, StoreError> {
        let EventKind::CampaignSend(send) = &event.kind else {
            return Ok(Taken::ViaEvent);
        };
        let decision = self
            .processor
            .decide_on_page(event)
            .await
            .map_err(store_error)?;
        let store = self.processor.store();
        match decision {
            PageDecision::ViaEvent => Ok(Taken::ViaEvent),
            PageDecision::Decided {
                this_page: false, ..
            } => Ok(Taken::Overlap),
            PageDecision::Decided {
                this_page: true,
                messages,
            } => {
                for id in &messages {
                    self.dispatcher.hand_on(&event.shop, id, deadline).await?;
                }
                Ok(Taken::Again)
            }
            PageDecision::Skip { run, counts } => {
                let put = store
                    .put_decision(&event.shop, &send.contact, &run, &counts)
                    .await?;
                Ok(if put { Taken::Decided } else { Taken::Overlap })
            }
            PageDecision::Send {
                run,
                counts,
                message,
            } => {
                let taken = match self.dispatcher.send_new(&message, deadline).await? {
                    Some(outcome) => {
                        log(&message.id, &outcome);
                        Taken::Decided
                    }
                    // Written by this page before it stopped short of the
                    // run: it may not have settled.
                    None => {
                        self.dispatcher
                            .hand_on(&event.shop, &message.id, deadline)
                            .await?;
                        Taken::Again
                    }
                };
                store
                    .put_decision(&event.shop, &send.contact, &run, &counts)
                    .await?;
                Ok(taken)
            }
        }
    }
}

/// The outcome's kind only: a park's or suppression's reason can name the
/// recipient (the dispatcher logs it, addresses taken out).
fn log(id: &str, outcome: &Outcome) {
    let outcome = match outcome {
        Outcome::Sent(_) => "sent",
        Outcome::NotClaimed => "not claimed",
        Outcome::Suppressed(_) => "suppressed",
        Outcome::Stopped => "stopped",
        Outcome::Retry(_) => "retry",
        Outcome::Parked(_) => "parked",
    };
    tracing::debug!(outbox_id = id, outcome, "campaign email from its page");
}

/// A decision that could not be made: the page is delivered again.
fn store_error(e: ProcessError) -> StoreError {
    match e {
        ProcessError::Store(e) => e,
        other => StoreError::new(
            StoreErrorKind::Transient,
            "decide campaign recipient",
            other.to_string(),
        ),
    }
}
