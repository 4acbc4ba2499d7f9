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
    /// Items that failed this tick; still due, so the next tick retries them.
    pub failed: usize,
}

/// A tick's report and, per contact, what the engine decided (for the
/// simulator's timeline and for logs).
#[derive(Debug, Default)]
pub struct TickOutcome {
    pub report: TickReport,
    pub effects: Vec<ContactEffects>,
}

/// What the engine decided for one contact.
#[derive(Debug)]
pub struct ContactEffects {
    pub shop: waymark_core::ids::ShopDomain,
    pub contact: waymark_core::ids::ContactId,
    pub effects: Vec<waymark_core::journey::Effect>,
}

pub async fn tick<S, D, O>(
    processor: &Processor<S>,
    index: &D,
    outbox: &O,
    now: Timestamp,
) -> Result<TickOutcome, ProcessError>
where
    S: ContactStore,
    D: DueIndex,
    O: Outbox,
{
    let mut report = TickReport::default();
    let mut effects = Vec::new();
    // A contact with several due runs appears once per run: fire it once.
    let due: std::collections::BTreeSet<Due> = index.due(now).await?.into_iter().collect();
    for item in due {
        match item {
            Due::Contact { shop, id } => {
                // One contact's failure must not hold up everyone after it.
                let r = match processor.handle_tick(&shop, &id, now).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(%shop, contact = %id, error = %e, "tick failed for contact; retried next tick");
                        report.failed += 1;
                        continue;
                    }
                };
                report.contacts += 1;
                report.emails_queued += r
                    .effects
                    .iter()
                    .filter(|e| matches!(e, waymark_core::journey::Effect::Email(_)))
                    .count();
                if !r.effects.is_empty() {
                    effects.push(ContactEffects {
                        shop,
                        contact: id,
                        effects: r.effects,
                    });
                }
            }
            Due::Message { id } => match outbox.requeue(&id, now).await {
                Ok(()) => report.messages_requeued += 1,
                Err(e) => {
                    tracing::error!(outbox_id = %id, error = %e, "requeue failed; retried next tick");
                    report.failed += 1;
                }
            },
        }
    }
    tracing::info!(%now, ?report, "tick");
    Ok(TickOutcome { report, effects })
}
