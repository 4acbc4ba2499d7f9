//! Timer: what the every-minute schedule does at logical instant `now`: fire
//! every wait due by then and put due retries back in the outbox queue. A
//! stale index entry (the wait was cancelled or already fired) does nothing.

use crate::ports::{CampaignStore, ContactStore, Counters, Due, DueIndex, Inbox, Outbox};
use crate::process::{ProcessError, Processor};
use jiff::Timestamp;

/// What one tick did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    pub contacts: usize,
    pub emails_queued: usize,
    pub messages_requeued: usize,
    /// Campaign sends recorded (each becomes its contact's email).
    pub campaign_sends: u64,
    /// Items that failed this tick; still due, so the next tick retries them.
    pub failed: usize,
    /// Items left for the next tick when this one ran out of time.
    pub deferred: usize,
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

/// Fires what is due by `now`, in due order (messages, then contacts
/// earliest first), for as long as `more_time()` says the invocation has
/// time left; the rest stays due for the next tick.
pub async fn tick<S, D, O>(
    processor: &Processor<S>,
    index: &D,
    outbox: &O,
    now: Timestamp,
    more_time: impl Fn() -> bool,
) -> Result<TickOutcome, ProcessError>
where
    S: ContactStore,
    D: DueIndex,
    O: Outbox + CampaignStore + Inbox + Counters + Sync,
{
    let mut report = TickReport::default();
    let mut effects = Vec::new();
    let due = index.due(now).await?;
    let total = due.len();
    for (done, item) in due.into_iter().enumerate() {
        if !more_time() {
            report.deferred = total - done;
            tracing::warn!(
                deferred = report.deferred,
                "tick out of time; the rest is due next tick"
            );
            break;
        }
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
            Due::Campaign { shop, id } => {
                match crate::campaigns::advance(outbox, &shop, &id, now, &more_time).await {
                    Ok(p) => report.campaign_sends += p.recorded,
                    Err(e) => {
                        tracing::error!(%shop, campaign = %id, error = %e, "campaign fan-out failed; resumed next tick");
                        report.failed += 1;
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use crate::ports::{Commit, ContactStore, Outbox};
    use waymark_core::contact::Contact;
    use waymark_core::ids::{ContactId, EmailAddress, ShopDomain};
    use waymark_core::outbox::OutboxMessage;

    fn at(t: &str) -> Timestamp {
        t.parse().unwrap()
    }

    /// Two messages waiting for their retry at 11:01.
    async fn two_retries(store: &MemoryStore) {
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let contact = Contact::new(
            ContactId::for_customer(1),
            shop.clone(),
            at("2026-11-23T11:00:00Z"),
        );
        let messages: Vec<OutboxMessage> = ["m1", "m2"]
            .into_iter()
            .map(|id| OutboxMessage {
                id: id.into(),
                shop: shop.clone(),
                contact: contact.id.clone(),
                journey: "j".into(),
                version: 1,
                run_key: "k".into(),
                step: id.into(),
                queued_at: at("2026-11-23T11:00:00Z"),
                params: serde_json::json!({}),
                topic: None,
                not_before: None,
                channel: waymark_core::outbox::Channel::Email {
                    to: EmailAddress::parse("ana@example.com").unwrap(),
                    template: "hello".into(),
                    transactional: false,
                },
            })
            .collect();
        store
            .commit(Commit {
                contact,
                expected_version: 0,
                recent_events: Default::default(),
                runs: vec![],
                outbox: messages.clone(),
                identities: Default::default(),
                segments_entered: vec![],
                segments_exited: vec![],
                absorbed: None,
                counts: Default::default(),
                expired: Vec::new(),
            })
            .await
            .unwrap();
        for m in &messages {
            let key = store.key(m);
            let c = store
                .claim(&key, at("2026-11-23T11:01:00Z"))
                .await
                .unwrap()
                .unwrap();
            store
                .retry_at(&c, at("2026-11-23T11:01:00Z"), "Throttling", false)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_tick_out_of_time_leaves_the_rest_due_for_the_next() {
        let store = MemoryStore::default();
        two_retries(&store).await;
        let processor = Processor::new(
            waymark_core::journey::Catalog::from_files(&[]).unwrap(),
            store.clone(),
        );
        let budget = std::cell::Cell::new(1u32);
        let more_time = || {
            let left = budget.get();
            budget.set(left.saturating_sub(1));
            left > 0
        };
        let now = at("2026-11-23T11:02:00Z");
        let first = tick(&processor, &store, &store, now, more_time)
            .await
            .unwrap();
        assert_eq!(
            (first.report.messages_requeued, first.report.deferred),
            (1, 1)
        );
        let second = tick(&processor, &store, &store, now, || true)
            .await
            .unwrap();
        assert_eq!(
            (second.report.messages_requeued, second.report.deferred),
            (1, 0)
        );
    }
}
