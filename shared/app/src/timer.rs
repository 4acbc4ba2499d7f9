//! Timer: what the every-minute schedule does at logical instant `now`: fire
//! every wait due by then and put due retries back in the outbox queue. A
//! stale index entry (the wait was cancelled or already fired) does nothing.

use crate::ports::{ContactStore, Due, DueIndex, Outbox};
use crate::process::{ProcessError, Processor};
use jiff::Timestamp;

/// What one tick did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    pub contacts: usize,
    pub emails_queued: usize,
    pub messages_requeued: usize,
}

pub async fn tick<S, D, O>(
    processor: &Processor<S>,
    index: &D,
    outbox: &O,
    now: Timestamp,
) -> Result<TickReport, ProcessError>
where
    S: ContactStore,
    D: DueIndex,
    O: Outbox,
{
    let mut report = TickReport::default();
    // A contact with several due runs appears once per run: fire it once.
    let due: std::collections::BTreeSet<Due> = index.due(now).await?.into_iter().collect();
    for item in due {
        match item {
            Due::Contact { shop, id } => {
                let r = processor.handle_tick(&shop, &id, now).await?;
                report.contacts += 1;
                report.emails_queued += r
                    .effects
                    .iter()
                    .filter(|e| matches!(e, waymark_core::journey::Effect::Email(_)))
                    .count();
            }
            Due::Message { id } => {
                outbox.requeue(&id, now).await?;
                report.messages_requeued += 1;
            }
        }
    }
    tracing::info!(%now, ?report, "tick");
    Ok(report)
}
