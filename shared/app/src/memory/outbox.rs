//! The twin's outbox lifecycle (queued, sending, retry, parked, sent,
//! skipped) and the due index over runs, messages and campaigns.

use super::{Entry, MemoryStore, Status};
use crate::ports::{Claimed, Due, DueIndex, Outbox, StoreError, StoreErrorKind};
use jiff::Timestamp;
use std::hash::{Hash, Hasher};
use waymark_core::outbox::OutboxMessage;

impl Entry {
    /// A message as a commit leaves it: queued, or held until its hour.
    pub(super) fn queued(m: OutboxMessage) -> Self {
        Entry {
            slot: m.queued_at,
            due: match m.not_before {
                Some(t) => Some(t),
                None => m.queued_at.checked_add(crate::ports::REDRIVE_QUEUED).ok(),
            },
            status: if m.not_before.is_some() {
                Status::Held
            } else {
                Status::Queued
            },
            message: m,
            attempts: 0,
            error: None,
            inflight: false,
        }
    }
}

impl Entry {
    /// What became of it, for a campaign's next schedule (as the DynamoDB
    /// adapter reads it).
    pub(super) fn fate(&self) -> crate::ports::EmailFate {
        let (st, reason) = match &self.status {
            Status::Held => ("held", None),
            Status::Queued => ("queued", None),
            Status::Sending => ("sending", None),
            Status::Retry => ("retry", None),
            Status::Sent(_) => ("sent", None),
            Status::Parked => ("parked", None),
            Status::Skipped(why) => ("skipped", Some(why.as_str())),
        };
        crate::ports::EmailFate::of(st, u64::from(self.attempts), reason)
    }
}

impl MemoryStore {
    /// Settles a claimed message with `settle`, if this attempt still holds
    /// the claim.
    fn settle(&self, c: &Claimed, settle: impl FnOnce(&mut Entry)) -> Result<(), StoreError> {
        let key = self.key(&c.message);
        let mut s = self.lock();
        match s.outbox.get_mut(&key) {
            Some(e) if e.status == Status::Sending && e.attempts == c.attempt => {
                settle(e);
                Ok(())
            }
            _ => Err(StoreError::new(
                StoreErrorKind::Rejected,
                key.to_string(),
                "not claimed by this attempt",
            )),
        }
    }
}

impl DueIndex for MemoryStore {
    async fn due(&self, now: Timestamp) -> Result<Vec<Due>, StoreError> {
        let s = self.lock();
        let mut due = Vec::new();
        for state in s.contacts.iter() {
            let (shop, id) = (&state.contact.shop, &state.contact.id);
            let earliest = state
                .runs
                .iter()
                .filter(|r| r.run.is_active())
                .filter_map(|r| r.run.wait_until)
                .chain(state.contact.schedule.review_at)
                .filter(|w| *w <= now)
                .min();
            if let Some(at) = earliest {
                due.push((
                    at,
                    Due::Contact {
                        shop: shop.clone(),
                        id: id.clone(),
                    },
                ));
            }
        }
        for (k, e) in &s.outbox {
            if let Some(at) = e.due.filter(|d| *d <= now) {
                due.push((at, Due::Message { id: k.clone() }));
            }
        }
        for ((shop, id), (_, _, _, at, _)) in &s.campaigns {
            if let Some(at) = at.filter(|d| *d <= now) {
                due.push((
                    at,
                    Due::Campaign {
                        shop: shop.clone(),
                        id: id.clone(),
                    },
                ));
            }
        }
        Ok(crate::ports::due_order(due))
    }

    async fn due_in(&self, now: Timestamp, shard: u32) -> Result<Vec<Due>, StoreError> {
        let mut due = self.due(now).await?;
        due.retain(|d| twin_shard(d) == shard);
        Ok(due)
    }
}

/// The twin's due shard of an item: stable, spread evenly.
fn twin_shard(item: &Due) -> u32 {
    let mut h = super::Fnv::default();
    match item {
        Due::Contact { shop, id } => (shop.as_str(), id.as_str()).hash(&mut h),
        Due::Message { id } => id.hash(&mut h),
        Due::Campaign { shop, id } => (shop.as_str(), "campaign", id).hash(&mut h),
    }
    (h.finish() % u64::from(crate::ports::DUE_SHARDS)) as u32
}

impl Outbox for MemoryStore {
    fn key(&self, message: &OutboxMessage) -> String {
        format!("{}/{}", message.shop, message.id)
    }

    async fn claim(&self, id: &str, lease_until: Timestamp) -> Result<Option<Claimed>, StoreError> {
        let mut s = self.lock();
        let Some(e) = s.outbox.get_mut(id).filter(|e| e.status == Status::Queued) else {
            return Ok(None);
        };
        e.status = Status::Sending;
        e.attempts += 1;
        // As the table: a due time already past the lease stays.
        e.due = Some(e.due.map_or(lease_until, |d| d.max(lease_until)));
        let unsure = std::mem::replace(&mut e.inflight, true);
        Ok(Some(Claimed {
            message: e.message.clone(),
            attempt: e.attempts,
            unsure,
        }))
    }

    async fn create_claimed(&self, message: &OutboxMessage) -> Result<Option<Claimed>, StoreError> {
        let key = self.key(message);
        let mut s = self.lock();
        if s.outbox.contains_key(&key) {
            return Ok(None);
        }
        let mut e = Entry::queued(message.clone());
        e.status = Status::Sending;
        e.attempts = 1;
        e.inflight = true;
        // As the table: in no due index until the attempt settles or is
        // handed on (`watch`).
        e.due = None;
        s.outbox.insert(key, e);
        Ok(Some(Claimed {
            message: message.clone(),
            attempt: 1,
            unsure: false,
        }))
    }

    async fn watch(
        &self,
        shop: &waymark_core::ids::ShopDomain,
        message_id: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        if let Some(e) = s
            .outbox
            .get_mut(&format!("{shop}/{message_id}"))
            .filter(|e| e.status == Status::Sending && e.due.is_none())
        {
            e.due = Some(at);
        }
        Ok(())
    }

    async fn mark_sent(
        &self,
        id: &str,
        provider_id: &str,
        _keep_until: Timestamp,
        counts: &waymark_core::analytics::Counts,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some(e) = s.outbox.get_mut(id) else {
            return Ok(false);
        };
        if matches!(e.status, Status::Sent(_)) {
            return Ok(false);
        }
        e.status = Status::Sent(provider_id.to_string());
        e.due = None;
        e.error = None;
        e.inflight = false;
        let shop = e.message.shop.clone();
        s.counts.entry(shop).or_default().merge(counts.clone());
        Ok(true)
    }

    async fn retry_at(
        &self,
        c: &Claimed,
        at: Timestamp,
        error: &str,
        unknown: bool,
    ) -> Result<(), StoreError> {
        self.settle(c, |e| {
            e.status = Status::Retry;
            e.slot = at;
            e.due = Some(at);
            e.error = Some(error.to_string());
            e.inflight = unknown;
        })
    }

    async fn park(&self, c: &Claimed, error: &str) -> Result<(), StoreError> {
        self.settle(c, |e| {
            e.status = Status::Parked;
            e.due = None;
            e.error = Some(error.to_string());
            e.inflight = false;
        })
    }

    async fn skip(&self, c: &Claimed, reason: &str) -> Result<(), StoreError> {
        self.settle(c, |e| {
            e.status = Status::Skipped(reason.to_string());
            e.due = None;
            e.inflight = false;
        })
    }

    async fn requeue(&self, id: &str, now: Timestamp) -> Result<(), StoreError> {
        if let Some(e) = self.lock().outbox.get_mut(id)
            && e.due.is_some_and(|d| d <= now)
        {
            match e.status {
                Status::Held | Status::Retry | Status::Sending => {
                    e.status = Status::Queued;
                    e.due = now.checked_add(crate::ports::REDRIVE_QUEUED).ok();
                }
                // Never picked up: its sender is told again (in DynamoDB,
                // a touch that the stream hands to dispatch).
                Status::Queued => e.due = now.checked_add(crate::ports::REDRIVE_QUEUED).ok(),
                _ => {}
            }
        }
        Ok(())
    }
}
