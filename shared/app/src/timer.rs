//! Timer: what the every-minute schedule does at logical instant `now`: fire
//! every wait due by then and put due retries back in the outbox queue. A
//! stale index entry (the wait was cancelled or already fired) does nothing.

use crate::ports::{CampaignStore, ContactStore, Counters, Due, DueIndex, Outbox, PageQueue};
use crate::process::{ProcessError, Processor};
use futures::StreamExt;
use jiff::Timestamp;

/// What one tick did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    pub contacts: usize,
    pub emails_queued: usize,
    pub messages_requeued: usize,
    /// Campaign members handed to the workers (each send becomes its
    /// contact's email).
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

/// How many contacts one tick works on at once by default: their loads and
/// commits are network round trips, so one invocation keeps several in
/// flight.
pub const CONTACTS_IN_FLIGHT: usize = 16;

/// The part of the due work one tick takes, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// One due shard (`0..DUE_SHARDS`), or every shard when `None`.
    pub shard: Option<u32>,
    /// Contacts worked on at once (at least 1).
    pub in_flight: usize,
}

impl Scope {
    /// Everything due, `CONTACTS_IN_FLIGHT` contacts at a time.
    pub const ALL: Scope = Scope {
        shard: None,
        in_flight: CONTACTS_IN_FLIGHT,
    };
}

/// Fires what is due by `now` in the scope's shard, in due order (messages,
/// then campaigns, then contacts earliest first, `in_flight` at a time), for
/// as long as `more_time()` says the invocation has time left; the rest stays
/// due for the next tick.
pub async fn tick<S, D, O, Q>(
    processor: &Processor<S>,
    index: &D,
    outbox: &O,
    pages: &Q,
    now: Timestamp,
    scope: Scope,
    more_time: impl Fn() -> bool,
) -> Result<TickOutcome, ProcessError>
where
    S: ContactStore,
    D: DueIndex,
    O: Outbox + CampaignStore + Counters + Sync,
    Q: PageQueue + Sync,
{
    let shard = scope.shard;
    let due = match shard {
        Some(shard) => index.due_in(now, shard).await?,
        None => index.due(now).await?,
    };
    let total = due.len();
    let mut report = TickReport::default();
    let mut contacts = Vec::new();
    for item in due {
        match item {
            Due::Contact { shop, id } => contacts.push((shop, id)),
            _ if !more_time() => report.deferred += 1,
            Due::Campaign { shop, id } => {
                match crate::campaigns::advance(outbox, pages, &shop, &id, now, &more_time).await {
                    Ok(p) => report.campaign_sends += p.queued,
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
    let waiting = contacts.len();
    let fired: Vec<_> = futures::stream::iter(contacts)
        .take_while(|_| std::future::ready(more_time()))
        .map(|(shop, id)| async move {
            let result = processor.handle_tick(&shop, &id, now).await;
            (shop, id, result)
        })
        .buffered(scope.in_flight.max(1))
        .collect()
        .await;
    report.deferred += waiting - fired.len();
    let effects = fired
        .into_iter()
        .filter_map(|(shop, id, result)| contact_fired(&mut report, shop, id, result))
        .collect();
    if report.deferred > 0 {
        tracing::warn!(
            deferred = report.deferred,
            total,
            "tick out of time; the rest is due next tick"
        );
    }
    tracing::info!(%now, ?shard, ?report, "tick");
    Ok(TickOutcome { report, effects })
}

/// Counts one contact's tick; what it decided, if anything.
fn contact_fired(
    report: &mut TickReport,
    shop: waymark_core::ids::ShopDomain,
    id: waymark_core::ids::ContactId,
    result: Result<crate::process::Report, ProcessError>,
) -> Option<ContactEffects> {
    // One contact's failure must not hold up everyone after it.
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(%shop, contact = %id, error = %e, "tick failed for contact; retried next tick");
            report.failed += 1;
            return None;
        }
    };
    report.contacts += 1;
    report.emails_queued += r
        .effects
        .iter()
        .filter(|e| matches!(e, waymark_core::journey::Effect::Email(_)))
        .count();
    (!r.effects.is_empty()).then_some(ContactEffects {
        shop,
        contact: id,
        effects: r.effects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use crate::ports::{Commit, ContactStore, DueIndex, Outbox};
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
                replaces_unsent: false,
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

    /// A processor with no journeys over `store` (reviews and requeues only).
    fn no_journeys(store: &MemoryStore) -> Processor<MemoryStore> {
        Processor::new(
            waymark_core::journey::Catalog::from_files(&[]).unwrap(),
            store.clone(),
        )
    }

    /// An invocation's `more_time` that says yes `n` times, then no.
    fn budget(n: u32) -> impl Fn() -> bool {
        let left = std::cell::Cell::new(n);
        move || {
            let now = left.get();
            left.set(now.saturating_sub(1));
            now > 0
        }
    }

    #[tokio::test]
    async fn a_tick_out_of_time_leaves_the_rest_due_for_the_next() {
        let store = MemoryStore::default();
        two_retries(&store).await;
        let processor = no_journeys(&store);
        let more_time = budget(1);
        let now = at("2026-11-23T11:02:00Z");
        let first = tick(
            &processor,
            &store,
            &store,
            &store,
            now,
            Scope::ALL,
            more_time,
        )
        .await
        .unwrap();
        assert_eq!(
            (first.report.messages_requeued, first.report.deferred),
            (1, 1)
        );
        let second = tick(&processor, &store, &store, &store, now, Scope::ALL, || true)
            .await
            .unwrap();
        assert_eq!(
            (second.report.messages_requeued, second.report.deferred),
            (1, 0)
        );
    }

    /// `n` contacts whose review falls due at 11:00.
    async fn reviews_due(store: &MemoryStore, n: u64) {
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        for customer in 0..n {
            let mut contact = Contact::new(
                ContactId::for_customer(customer),
                shop.clone(),
                at("2026-11-23T10:00:00Z"),
            );
            contact.schedule.review_at = Some(at("2026-11-23T11:00:00Z"));
            store
                .commit(Commit {
                    contact,
                    expected_version: 0,
                    recent_events: Default::default(),
                    runs: vec![],
                    outbox: vec![],
                    identities: Default::default(),
                    segments_entered: vec![],
                    segments_exited: vec![],
                    absorbed: None,
                    counts: Default::default(),
                    expired: Vec::new(),
                })
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn each_shard_fires_its_own_part_and_together_they_fire_everything_once() {
        let store = MemoryStore::default();
        reviews_due(&store, 40).await;
        let processor = no_journeys(&store);
        let now = at("2026-11-23T11:01:00Z");
        let mut fired = Vec::new();
        for shard in 0..crate::ports::DUE_SHARDS {
            let others: usize =
                store.due(now).await.unwrap().len() - store.due_in(now, shard).await.unwrap().len();
            let scope = Scope {
                shard: Some(shard),
                in_flight: CONTACTS_IN_FLIGHT,
            };
            let r = tick(&processor, &store, &store, &store, now, scope, || true)
                .await
                .unwrap()
                .report;
            assert_eq!(
                store.due(now).await.unwrap().len(),
                others,
                "shard {shard} left the others due"
            );
            fired.push(r.contacts);
        }
        assert_eq!(fired.iter().sum::<usize>(), 40, "{fired:?}");
        assert!(fired.iter().filter(|n| **n > 0).count() > 1, "{fired:?}");
        assert!(store.due(now).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn contacts_past_the_budget_stay_due() {
        let store = MemoryStore::default();
        reviews_due(&store, 40).await;
        let processor = no_journeys(&store);
        let more_time = budget(5);
        let now = at("2026-11-23T11:01:00Z");
        let r = tick(
            &processor,
            &store,
            &store,
            &store,
            now,
            Scope::ALL,
            more_time,
        )
        .await
        .unwrap()
        .report;
        assert_eq!((r.contacts, r.deferred), (5, 35));
        assert_eq!(store.due(now).await.unwrap().len(), 35);
    }
}
