//! In-memory twins of every port, for the simulator, benchmarks and fast
//! tests of the services. They honour the same contract as the DynamoDB
//! adapter (conditional writes, versions, the outbox lifecycle), checked by
//! the same contract tests. Never used by a deployed function.

use crate::ports::{
    Claimed, Commit, CommitError, ContactState, ContactStore, Due, DueIndex, Inbox, Mailer, Member,
    Outbox, Receipt, Recorded, Rejected, Resolution, Segments, StoreError, SuppressionReason,
    Suppressions, VersionedRun,
};
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use waymark_core::event::{Event, Identity};
use waymark_core::ids::{ContactId, EmailAddress, ShopDomain};
use waymark_core::journey::Run;
use waymark_core::outbox::{OutboxMessage, SendFailure};

/// Same lease as the DynamoDB adapter: a claim not settled by then is requeued.
const CLAIM_LEASE: SignedDuration = SignedDuration::from_mins(15);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Queued,
    Sending,
    Retry,
    Sent(String),
    Parked,
    Skipped(String),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub message: OutboxMessage,
    pub status: Status,
    pub attempts: u32,
    pub slot: Timestamp,
    pub due: Option<Timestamp>,
    pub error: Option<String>,
}

type ContactKey = (ShopDomain, ContactId);

/// A run's identity within its contact, as the DynamoDB sort key has it.
fn same_run(a: &Run, b: &Run) -> bool {
    a.journey == b.journey && a.key == b.key && a.entry == b.entry
}

#[derive(Default)]
struct State {
    receipts: HashSet<(ShopDomain, String)>,
    events: HashSet<(ShopDomain, String)>,
    /// Newly recorded events in arrival order: the in-memory stream.
    stream: Vec<Event>,
    rejected: Vec<Rejected>,
    aliases: HashMap<(ShopDomain, String), ContactId>,
    contacts: HashMap<ContactKey, ContactState>,
    outbox: BTreeMap<String, Entry>,
    suppressions: HashMap<(ShopDomain, String), SuppressionReason>,
    members: BTreeMap<(ShopDomain, String), BTreeMap<ContactId, Option<EmailAddress>>>,
}

/// Every storage port in memory; clones share the same state.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

fn alias_keys(identity: &Identity) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(c) = identity.customer_id {
        keys.push(format!("cust:{c}"));
    }
    if let Some(e) = &identity.email {
        keys.push(format!("email:{}", e.lookup_key()));
    }
    keys
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the events recorded since the last call (what the stream holds).
    pub fn take_new_events(&self) -> Vec<Event> {
        std::mem::take(&mut self.lock().stream)
    }

    /// Every outbox entry, for assertions and the simulator's timeline.
    pub fn outbox(&self) -> Vec<Entry> {
        self.lock().outbox.values().cloned().collect()
    }

    pub fn rejected(&self) -> Vec<Rejected> {
        self.lock().rejected.clone()
    }
}

impl Inbox for MemoryStore {
    async fn record(&self, receipt: &Receipt, event: &Event) -> Result<Recorded, StoreError> {
        let mut s = self.lock();
        let r = (receipt.shop.clone(), receipt.delivery_id.clone());
        let e = (event.shop.clone(), event.id.clone());
        if s.receipts.contains(&r) || s.events.contains(&e) {
            return Ok(Recorded::Duplicate);
        }
        s.receipts.insert(r);
        s.events.insert(e);
        s.stream.push(event.clone());
        Ok(Recorded::New)
    }

    async fn reject(&self, rejected: &Rejected) -> Result<(), StoreError> {
        self.lock().rejected.push(rejected.clone());
        Ok(())
    }
}

impl ContactStore for MemoryStore {
    async fn find(&self, shop: &ShopDomain, identity: &Identity) -> Result<Resolution, StoreError> {
        let s = self.lock();
        let mut r = Resolution::default();
        if let Some(c) = identity.customer_id {
            match s.aliases.get(&(shop.clone(), format!("cust:{c}"))) {
                Some(id) => r.contact = Some(id.clone()),
                None => r.unmapped.customer_id = Some(c),
            }
        }
        if let Some(e) = &identity.email {
            match s
                .aliases
                .get(&(shop.clone(), format!("email:{}", e.lookup_key())))
            {
                Some(id) => r.contact = r.contact.or(Some(id.clone())),
                None => r.unmapped.email = Some(e.clone()),
            }
        }
        Ok(r)
    }

    async fn load_for_update(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> Result<Option<ContactState>, StoreError> {
        Ok(self
            .lock()
            .contacts
            .get(&(shop.clone(), id.clone()))
            .cloned())
    }

    async fn commit(&self, c: &Commit) -> Result<(), CommitError> {
        let mut s = self.lock();
        let key = (c.contact.shop.clone(), c.contact.id.clone());
        for alias in alias_keys(&c.identities) {
            s.aliases
                .entry((key.0.clone(), alias))
                .or_insert_with(|| key.1.clone());
        }
        // Check every condition before writing anything: all or nothing.
        let stored = s.contacts.get(&key);
        if stored.map_or(0, |st| st.version) != c.expected_version {
            return Err(CommitError::Conflict);
        }
        let run_version = |run: &Run| {
            stored
                .and_then(|st| st.runs.iter().find(|x| same_run(&x.run, run)))
                .map_or(0, |x| x.version)
        };
        if c.runs.iter().any(|r| run_version(&r.run) != r.version) {
            return Err(CommitError::Conflict);
        }
        let outbox_keys: Vec<String> = c.outbox.iter().map(|m| self.key(m)).collect();
        if outbox_keys.iter().any(|k| s.outbox.contains_key(k)) {
            return Err(CommitError::Conflict);
        }
        let mut state = s.contacts.remove(&key).unwrap_or_else(|| ContactState {
            contact: c.contact.clone(),
            version: 0,
            recent_events: Vec::new(),
            runs: Vec::new(),
        });
        state.contact = c.contact.clone();
        state.version += 1;
        state.recent_events = c.recent_events.clone();
        for r in &c.runs {
            let updated = VersionedRun {
                run: r.run.clone(),
                version: r.version + 1,
            };
            match state.runs.iter_mut().find(|x| same_run(&x.run, &r.run)) {
                Some(slot) => *slot = updated,
                None => state.runs.push(updated),
            }
        }
        for seg in &c.segments_entered {
            s.members
                .entry((key.0.clone(), seg.clone()))
                .or_default()
                .insert(key.1.clone(), c.contact.email.clone());
        }
        for seg in &c.segments_exited {
            if let Some(m) = s.members.get_mut(&(key.0.clone(), seg.clone())) {
                m.remove(&key.1);
            }
        }
        s.contacts.insert(key, state);
        for (k, m) in outbox_keys.into_iter().zip(&c.outbox) {
            s.outbox.insert(
                k,
                Entry {
                    message: m.clone(),
                    status: Status::Queued,
                    attempts: 0,
                    slot: m.queued_at,
                    due: None,
                    error: None,
                },
            );
        }
        Ok(())
    }
}

impl DueIndex for MemoryStore {
    async fn due(&self, now: Timestamp) -> Result<Vec<Due>, StoreError> {
        let s = self.lock();
        let mut due = Vec::new();
        for ((shop, id), state) in &s.contacts {
            for r in &state.runs {
                if r.run.is_active() && r.run.wait_until.is_some_and(|w| w <= now) {
                    due.push(Due::Contact {
                        shop: shop.clone(),
                        id: id.clone(),
                    });
                }
            }
        }
        for (k, e) in &s.outbox {
            if e.due.is_some_and(|d| d <= now) {
                due.push(Due::Message { id: k.clone() });
            }
        }
        Ok(due)
    }
}

impl Outbox for MemoryStore {
    fn key(&self, message: &OutboxMessage) -> String {
        format!("{}/{}", message.shop, message.id)
    }

    async fn claim(&self, id: &str) -> Result<Option<Claimed>, StoreError> {
        let mut s = self.lock();
        let Some(e) = s.outbox.get_mut(id).filter(|e| e.status == Status::Queued) else {
            return Ok(None);
        };
        e.status = Status::Sending;
        e.attempts += 1;
        e.due = e.slot.checked_add(CLAIM_LEASE).ok();
        Ok(Some(Claimed {
            message: e.message.clone(),
            attempt: e.attempts,
        }))
    }

    async fn mark_sent(&self, id: &str, provider_id: &str) -> Result<(), StoreError> {
        if let Some(e) = self.lock().outbox.get_mut(id) {
            e.status = Status::Sent(provider_id.to_string());
            e.due = None;
            e.error = None;
        }
        Ok(())
    }

    async fn retry_at(&self, c: &Claimed, at: Timestamp, error: &str) -> Result<(), StoreError> {
        let key = self.key(&c.message);
        let mut s = self.lock();
        match s.outbox.get_mut(&key) {
            Some(e) if e.status == Status::Sending && e.attempts == c.attempt => {
                e.status = Status::Retry;
                e.slot = at;
                e.due = Some(at);
                e.error = Some(error.to_string());
                Ok(())
            }
            _ => Err(StoreError(format!("{key}: not claimed by this attempt"))),
        }
    }

    async fn park(&self, c: &Claimed, error: &str) -> Result<(), StoreError> {
        let key = self.key(&c.message);
        let mut s = self.lock();
        match s.outbox.get_mut(&key) {
            Some(e) if e.status == Status::Sending && e.attempts == c.attempt => {
                e.status = Status::Parked;
                e.due = None;
                e.error = Some(error.to_string());
                Ok(())
            }
            _ => Err(StoreError(format!("{key}: not claimed by this attempt"))),
        }
    }

    async fn skip(&self, c: &Claimed, reason: &str) -> Result<(), StoreError> {
        let key = self.key(&c.message);
        let mut s = self.lock();
        match s.outbox.get_mut(&key) {
            Some(e) if e.status == Status::Sending && e.attempts == c.attempt => {
                e.status = Status::Skipped(reason.to_string());
                e.due = None;
                Ok(())
            }
            _ => Err(StoreError(format!("{key}: not claimed by this attempt"))),
        }
    }

    async fn requeue(&self, id: &str, now: Timestamp) -> Result<(), StoreError> {
        if let Some(e) = self.lock().outbox.get_mut(id)
            && matches!(e.status, Status::Retry | Status::Sending)
            && e.due.is_some_and(|d| d <= now)
        {
            e.status = Status::Queued;
            e.due = None;
        }
        Ok(())
    }
}

impl Segments for MemoryStore {
    async fn count(&self, shop: &ShopDomain, segment: &str) -> Result<u64, StoreError> {
        Ok(self
            .lock()
            .members
            .get(&(shop.clone(), segment.to_string()))
            .map_or(0, |m| m.len() as u64))
    }

    async fn members(&self, shop: &ShopDomain, segment: &str) -> Result<Vec<Member>, StoreError> {
        Ok(self
            .lock()
            .members
            .get(&(shop.clone(), segment.to_string()))
            .map(|m| {
                m.iter()
                    .map(|(c, e)| Member {
                        contact: c.clone(),
                        email: e.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

impl Suppressions for MemoryStore {
    async fn suppression(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
    ) -> Result<Option<SuppressionReason>, StoreError> {
        Ok(self
            .lock()
            .suppressions
            .get(&(shop.clone(), email.lookup_key()))
            .copied())
    }

    async fn suppress(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
        reason: SuppressionReason,
        _at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        let slot = s
            .suppressions
            .entry((shop.clone(), email.lookup_key()))
            .or_insert(reason);
        if *slot == SuppressionReason::Unsubscribed {
            *slot = reason;
        }
        Ok(())
    }
}

/// An event bus that keeps what was published.
#[derive(Clone, Default)]
pub struct MemoryPublisher {
    published: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

impl MemoryPublisher {
    /// (detail type, detail) of every published event, in order.
    pub fn published(&self) -> Vec<(String, serde_json::Value)> {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl crate::ports::Publisher for MemoryPublisher {
    async fn publish(
        &self,
        detail_type: &str,
        detail: &serde_json::Value,
    ) -> Result<String, SendFailure> {
        let mut p = self.published.lock().unwrap_or_else(|p| p.into_inner());
        p.push((detail_type.to_string(), detail.clone()));
        Ok(format!("memory-event-{}", p.len()))
    }
}

/// One message a `MemoryMailer` accepted.
#[derive(Debug, Clone)]
pub struct SentMail {
    pub from: String,
    pub to: String,
    pub raw: Vec<u8>,
}

/// A mailer that keeps what it was given; it can be told to fail.
#[derive(Clone, Default)]
pub struct MemoryMailer {
    sent: Arc<Mutex<Vec<SentMail>>>,
    failures: Arc<Mutex<Vec<SendFailure>>>,
}

impl MemoryMailer {
    /// The next sends fail with these, in order.
    pub fn fail_next(&self, failures: impl IntoIterator<Item = SendFailure>) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(failures);
    }

    /// Every accepted message, in order.
    pub fn sent(&self) -> Vec<SentMail> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Mailer for MemoryMailer {
    async fn send(
        &self,
        from: &str,
        to: &str,
        raw: Vec<u8>,
        _tags: &[(&str, String)],
    ) -> Result<String, SendFailure> {
        {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            if !failures.is_empty() {
                return Err(failures.remove(0));
            }
        }
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        sent.push(SentMail {
            from: from.to_string(),
            to: to.to_string(),
            raw,
        });
        Ok(format!("memory-{}", sent.len()))
    }
}
