//! In-memory twins of every port, for the simulator, benchmarks and fast
//! tests of the services. They honour the same contract as the DynamoDB
//! adapter (conditional writes, versions, the outbox lifecycle), checked by
//! the same contract tests. Never used by a deployed function.

use crate::ports::{
    Claimed, Commit, CommitError, ContactState, ContactStore, Due, DueIndex, Erasure, IdleBatch,
    IdleIndex, Inbox, Mailer, Member, Outbox, Privacy, Receipt, Recorded, Rejected, Resolution,
    Segments, StoreError, StoreErrorKind, SuppressionReason, SuppressionState, Suppressions,
    VersionedRun,
};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// FNV-1a: the twin's maps are keyed by short strings it made itself, so a
/// fast non-keyed hash is enough (SipHash dominated the benches).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<Fnv>>;
type HashSet<K> = std::collections::HashSet<K, BuildHasherDefault<Fnv>>;
use std::sync::{Arc, Mutex, MutexGuard};
use waymark_core::contact::Contact;
use waymark_core::event::{Event, Identity};
use waymark_core::ids::{ContactId, EmailAddress, ShopDomain};
use waymark_core::journey::Run;
use waymark_core::outbox::{OutboxMessage, SendFailure};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Waiting for its time (a campaign's local-time wave).
    Held,
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
    /// Claimed and not settled, or retried after an unknown outcome.
    pub inflight: bool,
}

/// A run's identity within its contact, as the DynamoDB sort key has it.
fn same_run(a: &Run, b: &Run) -> bool {
    a.journey == b.journey && a.key == b.key && a.entry == b.entry
}

/// A campaign in the twin: definition, progress, version, when due.
type StoredCampaign = (
    waymark_core::campaign::Campaign,
    crate::ports::CampaignState,
    u64,
    Option<Timestamp>,
);

#[derive(Default)]
struct State {
    /// Scheduled campaigns: definition, progress, version, when due.
    campaigns: HashMap<(ShopDomain, String), StoredCampaign>,
    /// Results counters per shop (summed; no shards in memory).
    counts: HashMap<ShopDomain, waymark_core::analytics::Counts>,
    receipts: HashSet<(ShopDomain, String)>,
    events: HashSet<(ShopDomain, String)>,
    /// Newly recorded events in arrival order: the in-memory stream.
    stream: Vec<Event>,
    rejected: Vec<Rejected>,
    aliases: HashMap<ShopDomain, Aliases>,
    contacts: Contacts,
    outbox: BTreeMap<String, Entry>,
    suppressions: HashMap<(ShopDomain, String), SuppressionState>,
    members: BTreeMap<(ShopDomain, String), BTreeMap<ContactId, Option<EmailAddress>>>,
    /// The inactivity index: (day, contact slot); a contact's day is its
    /// stored `idle_at`.
    idle: std::collections::BTreeSet<(i32, u32)>,
    sweep_cursor: Option<i32>,
    /// Allowance counts: (shop, name, window start) → (count, expiry).
    allowances: HashMap<(ShopDomain, String, Timestamp), (u32, Timestamp)>,
}

/// A shop's lookups (customer id, email, order, browser, contract → contact),
/// one typed map each so a lookup builds no key.
#[derive(Default)]
struct Aliases {
    customer: HashMap<u64, ContactId>,
    email: HashMap<String, ContactId>,
    order: HashMap<u64, ContactId>,
    anonymous: HashMap<String, ContactId>,
    contract: HashMap<u64, ContactId>,
}

impl Aliases {
    fn len(&self) -> usize {
        self.customer.len()
            + self.email.len()
            + self.order.len()
            + self.anonymous.len()
            + self.contract.len()
    }

    /// Maps every lookup of `identity` not mapped yet to `id`.
    fn claim(&mut self, identity: &Identity, id: &ContactId) {
        if let Some(c) = identity.customer_id {
            self.customer.entry(c).or_insert_with(|| id.clone());
        }
        if let Some(e) = &identity.email {
            self.email
                .entry(e.lookup_key().into_owned())
                .or_insert_with(|| id.clone());
        }
        if let Some(o) = identity.order_id {
            self.order.entry(o).or_insert_with(|| id.clone());
        }
        if let Some(a) = &identity.anonymous_id {
            self.anonymous
                .entry(a.clone())
                .or_insert_with(|| id.clone());
        }
        if let Some(k) = identity.contract_id {
            self.contract.entry(k).or_insert_with(|| id.clone());
        }
    }
}

/// Contacts in numbered slots, found by shop then id; the inactivity index
/// holds slot numbers, so moving a contact between days copies no key. A
/// slot's contact carries its own key (`contact.shop`, `contact.id`).
#[derive(Default)]
struct Contacts {
    slots: HashMap<ShopDomain, HashMap<ContactId, u32>>,
    stored: Vec<Option<ContactState>>,
    free: Vec<u32>,
}

impl Contacts {
    fn slot(&self, shop: &ShopDomain, id: &ContactId) -> Option<u32> {
        self.slots.get(shop)?.get(id).copied()
    }

    fn at(&self, slot: u32) -> &ContactState {
        self.stored[slot as usize]
            .as_ref()
            .expect("a mapped slot holds a contact")
    }

    fn at_mut(&mut self, slot: u32) -> &mut ContactState {
        self.stored[slot as usize]
            .as_mut()
            .expect("a mapped slot holds a contact")
    }

    fn get(&self, shop: &ShopDomain, id: &ContactId) -> Option<&ContactState> {
        self.slot(shop, id).map(|i| self.at(i))
    }

    /// Stores a new contact (the caller checked it is new); returns its slot.
    fn insert(&mut self, shop: &ShopDomain, id: &ContactId, stored: ContactState) -> u32 {
        let slot = match self.free.pop() {
            Some(i) => {
                self.stored[i as usize] = Some(stored);
                i
            }
            None => {
                self.stored.push(Some(stored));
                (self.stored.len() - 1) as u32
            }
        };
        match self.slots.get_mut(shop) {
            Some(m) => {
                m.insert(id.clone(), slot);
            }
            None => {
                self.slots
                    .entry(shop.clone())
                    .or_default()
                    .insert(id.clone(), slot);
            }
        }
        slot
    }

    fn remove(&mut self, shop: &ShopDomain, id: &ContactId) -> Option<(u32, ContactState)> {
        let slot = self.slots.get_mut(shop)?.remove(id)?;
        let state = self.stored[slot as usize].take()?;
        self.free.push(slot);
        Some((slot, state))
    }

    fn len(&self) -> usize {
        self.stored.len() - self.free.len()
    }

    fn iter(&self) -> impl Iterator<Item = &ContactState> {
        self.stored.iter().flatten()
    }
}

fn idle_day(idle_at: Option<Timestamp>) -> Option<i32> {
    idle_at.map(waymark_core::activity::day_of)
}

impl State {
    /// Moves a contact from the bucket of its old `idle_at` day to its new one.
    fn index_idle(&mut self, slot: u32, old: Option<Timestamp>, new: Option<Timestamp>) {
        let (old, day) = (idle_day(old), idle_day(new));
        if old == day {
            return;
        }
        if let Some(d) = old {
            self.idle.remove(&(d, slot));
        }
        if let Some(d) = day {
            self.idle.insert((d, slot));
        }
    }

    /// Replaces a merged contact by its tombstone: its runs, memberships
    /// and index entries go.
    fn retire_contact(&mut self, shop: &ShopDomain, id: &ContactId, tombstone: Contact) {
        let Some(slot) = self.contacts.slot(shop, id) else {
            return;
        };
        let state = self.contacts.at_mut(slot);
        let old = std::mem::replace(
            state,
            ContactState {
                contact: tombstone,
                version: state.version + 1,
                recent_events: Default::default(),
                runs: Vec::new(),
            },
        );
        for seg in &old.contact.segments {
            if let Some(m) = self.members.get_mut(&(shop.clone(), seg.clone())) {
                m.remove(id);
            }
        }
        self.index_idle(slot, old.contact.idle_at, None);
    }

    /// Removes a contact and everything keyed on it; returns items removed.
    fn remove_contact(&mut self, shop: &ShopDomain, id: &ContactId) -> u64 {
        let mut n = 0;
        if let Some((slot, state)) = self.contacts.remove(shop, id) {
            n += 1 + state.runs.len() as u64;
            for seg in &state.contact.segments {
                if let Some(m) = self.members.get_mut(&(shop.clone(), seg.clone())) {
                    n += u64::from(m.remove(id).is_some());
                }
            }
            self.index_idle(slot, state.contact.idle_at, None);
        }
        n
    }
}

/// Every storage port in memory; clones share the same state.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the events recorded since the last call (what the stream holds).
    pub fn take_new_events(&self) -> Vec<Event> {
        std::mem::take(&mut self.lock().stream)
    }

    /// Seeds a contact straight into the store (benchmarks build large
    /// tables this way), indexed as a commit would index it.
    pub fn seed(&self, state: ContactState) {
        let mut s = self.lock();
        let (shop, id, idle_at) = (
            state.contact.shop.clone(),
            state.contact.id.clone(),
            state.contact.idle_at,
        );
        if s.contacts.get(&shop, &id).is_some() {
            s.remove_contact(&shop, &id);
        }
        let slot = s.contacts.insert(&shop, &id, state);
        s.index_idle(slot, None, idle_at);
    }

    /// Number of contacts stored.
    pub fn contact_count(&self) -> usize {
        self.lock().contacts.len()
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

impl crate::ports::Allowances for MemoryStore {
    async fn take(&self, take: &waymark_core::ratelimit::Take) -> Result<bool, StoreError> {
        let mut state = self.lock();
        // What DynamoDB's TTL would have removed by now.
        state
            .allowances
            .retain(|_, (_, expires)| *expires > take.window_start);
        let key = (take.shop.clone(), take.name.clone(), take.window_start);
        let (count, _) = state.allowances.entry(key).or_insert((0, take.expires_at));
        if u64::from(*count) + u64::from(take.n) > u64::from(take.max) {
            return Ok(false);
        }
        *count += take.n;
        Ok(true)
    }
}

impl crate::ports::Counters for MemoryStore {
    async fn count_once(
        &self,
        shop: &ShopDomain,
        once: &str,
        _at: Timestamp,
        counts: &waymark_core::analytics::Counts,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if !s.receipts.insert((shop.clone(), format!("count#{once}"))) {
            return Ok(false);
        }
        s.counts
            .entry(shop.clone())
            .or_default()
            .merge(counts.clone());
        Ok(true)
    }

    async fn read_counts(
        &self,
        shop: &ShopDomain,
        from: jiff::civil::Date,
        to: jiff::civil::Date,
    ) -> Result<waymark_core::analytics::Counts, StoreError> {
        let s = self.lock();
        let mut out = waymark_core::analytics::Counts::default();
        if let Some(all) = s.counts.get(shop) {
            for (key, fields) in &all.0 {
                if key.day >= from && key.day <= to {
                    for (f, n) in fields {
                        out.add(key, f, *n);
                    }
                }
            }
        }
        Ok(out)
    }
}

impl ContactStore for MemoryStore {
    async fn find(&self, shop: &ShopDomain, identity: &Identity) -> Result<Resolution, StoreError> {
        let s = self.lock();
        let mut r = Resolution::default();
        let none = Aliases::default();
        let a = s.aliases.get(shop).unwrap_or(&none);
        if let Some(c) = identity.customer_id {
            match a.customer.get(&c) {
                Some(id) => r.contact = Some(id.clone()),
                None => r.unmapped.customer_id = Some(c),
            }
        }
        if let Some(e) = &identity.email {
            match a.email.get(&*e.lookup_key()) {
                // The address is another contact's: perhaps the same person
                // (the processor decides).
                Some(id) if r.contact.as_ref().is_some_and(|c| c != id) => r.merge.push(id.clone()),
                Some(id) => r.contact = r.contact.or(Some(id.clone())),
                None => r.unmapped.email = Some(e.clone()),
            }
        }
        if let Some(o) = identity.order_id {
            match a.order.get(&o) {
                Some(id) => r.contact = r.contact.or(Some(id.clone())),
                None => r.unmapped.order_id = Some(o),
            }
        }
        if let Some(k) = identity.contract_id {
            match a.contract.get(&k) {
                Some(id) => r.contact = r.contact.or(Some(id.clone())),
                None => r.unmapped.contract_id = Some(k),
            }
        }
        if let Some(anon) = &identity.anonymous_id {
            match a.anonymous.get(anon) {
                Some(id) if r.contact.as_ref().is_some_and(|c| c != id) => r.merge.push(id.clone()),
                // A new person on a known browser: its contact is merged in
                // only if anonymous (the processor checks).
                Some(id) if r.contact.is_none() && identity.is_known() => r.merge.push(id.clone()),
                Some(id) => r.contact = Some(id.clone()),
                None => r.unmapped.anonymous_id = Some(anon.clone()),
            }
        }
        Ok(r)
    }

    async fn load_for_update(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> Result<Option<ContactState>, StoreError> {
        Ok(self.lock().contacts.get(shop, id).cloned())
    }

    async fn commit(&self, c: Commit) -> Result<(), CommitError> {
        let mut s = self.lock();
        let (shop, id) = (&c.contact.shop, &c.contact.id);
        // Lookups are claimed first, whatever the commit's fate (the
        // DynamoDB adapter claims them before its transaction too).
        match s.aliases.get_mut(shop) {
            Some(a) => a.claim(&c.identities, id),
            None => s
                .aliases
                .entry(shop.clone())
                .or_default()
                .claim(&c.identities, id),
        }
        // Every condition before writing anything: all or nothing.
        let outbox_keys: Vec<String> = c.outbox.iter().map(|m| self.key(m)).collect();
        if s.conflicts(&c, &outbox_keys) {
            return Err(CommitError::Conflict);
        }
        if let Some(a) = &c.absorbed {
            s.absorb(shop, id, a);
        }
        s.move_memberships(&c);
        // The absorbed contact's slot may have been freed above; this one's
        // is unchanged (it is not the absorbed one).
        let slot = match s.contacts.slot(shop, id) {
            Some(i) => i,
            None => s.contacts.insert(
                shop,
                id,
                ContactState {
                    contact: waymark_core::contact::Contact::new(
                        id.clone(),
                        shop.clone(),
                        c.contact.first_seen_at,
                    ),
                    version: 0,
                    recent_events: Default::default(),
                    runs: Vec::new(),
                },
            ),
        };
        let Commit {
            contact,
            recent_events,
            runs,
            outbox,
            counts,
            expired,
            ..
        } = c;
        s.counts
            .entry(contact.shop.clone())
            .or_default()
            .merge(counts);
        let new_idle = contact.idle_at;
        let state = s.contacts.at_mut(slot);
        let old_idle = state.contact.idle_at;
        state.contact = contact;
        state.version += 1;
        state.recent_events = recent_events;
        store_runs(state, runs, &expired);
        s.index_idle(slot, old_idle, new_idle);
        for (k, m) in outbox_keys.into_iter().zip(outbox) {
            s.outbox.insert(k, Entry::queued(m));
        }
        Ok(())
    }
}

impl State {
    /// Whether another writer got there first: the contact's or a run's
    /// version moved, a message exists, or the merged contact changed.
    fn conflicts(&self, c: &Commit, outbox_keys: &[String]) -> bool {
        let (shop, id) = (&c.contact.shop, &c.contact.id);
        let stored = self.contacts.slot(shop, id).map(|i| self.contacts.at(i));
        let run_version = |run: &Run| {
            stored
                .and_then(|st| st.runs.iter().find(|x| same_run(&x.run, run)))
                .map_or(0, |x| x.version)
        };
        stored.map_or(0, |st| st.version) != c.expected_version
            || c.runs.iter().any(|r| run_version(&r.run) != r.version)
            || outbox_keys.iter().any(|k| self.outbox.contains_key(k))
            || c.absorbed.as_ref().is_some_and(|a| {
                self.contacts.get(shop, &a.id).map_or(0, |st| st.version) != a.version
            })
    }

    /// A merge: browsers lead here; addresses and contracts only where they
    /// still lead to the merged contact (or nowhere), as the DynamoDB
    /// adapter does; the merged contact becomes a tombstone or goes.
    fn absorb(&mut self, shop: &ShopDomain, id: &ContactId, a: &crate::ports::Absorbed) {
        let aliases = self.aliases.get_mut(shop).expect("claimed first");
        for anon in &a.anonymous_ids {
            aliases.anonymous.insert(anon.clone(), id.clone());
        }
        let repoint = |slot: Option<&mut ContactId>| match slot {
            Some(to) if *to == a.id => *to = id.clone(),
            _ => {}
        };
        for e in &a.emails {
            let key = e.lookup_key();
            match aliases.email.get_mut(&*key) {
                None => {
                    aliases.email.insert(key.into_owned(), id.clone());
                }
                slot => repoint(slot),
            }
        }
        for k in &a.contracts {
            match aliases.contract.get_mut(k) {
                None => {
                    aliases.contract.insert(*k, id.clone());
                }
                slot => repoint(slot),
            }
        }
        match &a.tombstone {
            Some(t) => self.retire_contact(shop, &a.id, t.clone()),
            None => {
                self.remove_contact(shop, &a.id);
            }
        }
    }

    fn move_memberships(&mut self, c: &Commit) {
        let (shop, id) = (&c.contact.shop, &c.contact.id);
        for seg in &c.segments_entered {
            self.members
                .entry((shop.clone(), seg.clone()))
                .or_default()
                .insert(id.clone(), c.contact.email.clone());
        }
        for seg in &c.segments_exited {
            if let Some(m) = self.members.get_mut(&(shop.clone(), seg.clone())) {
                m.remove(id);
            }
        }
    }
}

/// Changed runs replace their stored versions (or join them); expired ones
/// go.
fn store_runs(
    state: &mut ContactState,
    runs: Vec<VersionedRun>,
    expired: &[(String, String, u32)],
) {
    for r in runs {
        let updated = VersionedRun {
            version: r.version + 1,
            run: r.run,
        };
        match state
            .runs
            .iter_mut()
            .find(|x| same_run(&x.run, &updated.run))
        {
            Some(slot) => *slot = updated,
            None => state.runs.push(updated),
        }
    }
    state.runs.retain(|x| {
        !expired
            .iter()
            .any(|(j, k, e)| x.run.journey == *j && x.run.key == *k && x.run.entry == *e)
    });
}

impl Entry {
    /// A message as a commit leaves it: queued, or held until its hour.
    fn queued(m: OutboxMessage) -> Self {
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

impl IdleIndex for MemoryStore {
    async fn idle_between(&self, from: i32, to: i32) -> Result<IdleBatch, StoreError> {
        let s = self.lock();
        let mut contacts: Vec<_> = s
            .idle
            .range((from, 0)..=(to, u32::MAX))
            .map(|&(_, slot)| {
                let c = &s.contacts.at(slot).contact;
                (c.shop.clone(), c.id.clone())
            })
            .collect();
        contacts.sort();
        Ok(IdleBatch {
            items_read: contacts.len() as u64,
            contacts,
        })
    }

    async fn sweep_cursor(&self) -> Result<Option<i32>, StoreError> {
        Ok(self.lock().sweep_cursor)
    }

    async fn set_sweep_cursor(&self, day: i32) -> Result<(), StoreError> {
        self.lock().sweep_cursor = Some(day);
        Ok(())
    }
}

impl Privacy for MemoryStore {
    async fn erase(&self, e: &Erasure) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let mut n = 0;
        for id in e.contact.iter().chain(&e.merged) {
            n += s.remove_contact(&e.shop, id);
        }
        if let Some(a) = s.aliases.get_mut(&e.shop) {
            let gone = e
                .emails
                .iter()
                .filter(|m| a.email.remove(&*m.lookup_key()).is_some())
                .count()
                + e.customer_id
                    .iter()
                    .filter(|c| a.customer.remove(c).is_some())
                    .count()
                + e.orders
                    .iter()
                    .filter(|o| a.order.remove(o).is_some())
                    .count()
                + e.contracts
                    .iter()
                    .filter(|k| a.contract.remove(k).is_some())
                    .count()
                + e.anonymous_ids
                    .iter()
                    .filter(|x| a.anonymous.remove(*x).is_some())
                    .count();
            n += gone as u64;
        }
        for seg in &e.segments {
            if let (Some(m), Some(id)) = (
                s.members.get_mut(&(e.shop.clone(), seg.clone())),
                &e.contact,
            ) {
                n += u64::from(m.remove(id).is_some());
            }
        }
        for m in &e.messages {
            n += u64::from(s.outbox.remove(&format!("{}/{m}", e.shop)).is_some());
        }
        for ev in &e.events {
            n += u64::from(s.events.remove(&(e.shop.clone(), ev.clone())));
        }
        let contact = e.contact.clone();
        s.stream
            .retain(|ev| !(ev.shop == e.shop && contact.is_some() && e.events.contains(&ev.id)));
        Ok(n)
    }

    async fn erase_shop(&self, shop: &ShopDomain, _at: Timestamp) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let aliases = s.aliases.remove(shop).map_or(0, |a| a.len());
        let before = s.contacts.len() + s.outbox.len() + s.events.len();
        let ids: Vec<ContactId> = s
            .contacts
            .iter()
            .filter(|st| &st.contact.shop == shop)
            .map(|st| st.contact.id.clone())
            .collect();
        for id in &ids {
            s.remove_contact(shop, id);
        }
        s.outbox.retain(|_, e| &e.message.shop != shop);
        s.events.retain(|(sh, _)| sh != shop);
        s.receipts.retain(|(sh, _)| sh != shop);
        s.stream.retain(|e| &e.shop != shop);
        s.rejected.retain(|r| &r.receipt.shop != shop);
        s.members.retain(|(sh, _), _| sh != shop);
        s.suppressions.retain(|(sh, _), _| sh != shop);
        let after = s.contacts.len() + s.outbox.len() + s.events.len();
        Ok((before - after + aliases) as u64)
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
                .chain(state.contact.review_at)
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
        for ((shop, id), (_, _, _, at)) in &s.campaigns {
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
    let mut h = Fnv::default();
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
        e.due = Some(lease_until);
        let unsure = std::mem::replace(&mut e.inflight, true);
        Ok(Some(Claimed {
            message: e.message.clone(),
            attempt: e.attempts,
            unsure,
        }))
    }

    async fn mark_sent(
        &self,
        id: &str,
        provider_id: &str,
        _keep_until: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some(e) = self.lock().outbox.get_mut(id) {
            e.status = Status::Sent(provider_id.to_string());
            e.due = None;
            e.error = None;
            e.inflight = false;
        }
        Ok(())
    }

    async fn retry_at(
        &self,
        c: &Claimed,
        at: Timestamp,
        error: &str,
        unknown: bool,
    ) -> Result<(), StoreError> {
        let key = self.key(&c.message);
        let mut s = self.lock();
        match s.outbox.get_mut(&key) {
            Some(e) if e.status == Status::Sending && e.attempts == c.attempt => {
                e.status = Status::Retry;
                e.slot = at;
                e.due = Some(at);
                e.error = Some(error.to_string());
                e.inflight = unknown;
                Ok(())
            }
            _ => Err(StoreError::new(
                StoreErrorKind::Rejected,
                key.to_string(),
                "not claimed by this attempt",
            )),
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
                e.inflight = false;
                Ok(())
            }
            _ => Err(StoreError::new(
                StoreErrorKind::Rejected,
                key.to_string(),
                "not claimed by this attempt",
            )),
        }
    }

    async fn skip(&self, c: &Claimed, reason: &str) -> Result<(), StoreError> {
        let key = self.key(&c.message);
        let mut s = self.lock();
        match s.outbox.get_mut(&key) {
            Some(e) if e.status == Status::Sending && e.attempts == c.attempt => {
                e.status = Status::Skipped(reason.to_string());
                e.due = None;
                e.inflight = false;
                Ok(())
            }
            _ => Err(StoreError::new(
                StoreErrorKind::Rejected,
                key.to_string(),
                "not claimed by this attempt",
            )),
        }
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

impl crate::ports::CampaignStore for MemoryStore {
    async fn schedule(
        &self,
        shop: &ShopDomain,
        campaign: &waymark_core::campaign::Campaign,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        use crate::ports::{CampaignPhase, CampaignState};
        let mut s = self.lock();
        let key = (shop.clone(), campaign.id.clone());
        let version = match s.campaigns.get(&key) {
            Some((_, st, _, _))
                if !matches!(
                    st.phase,
                    CampaignPhase::Scheduled | CampaignPhase::Done | CampaignPhase::Cancelled
                ) =>
            {
                return Ok(false);
            }
            Some((_, _, v, _)) => v + 1,
            None => 1,
        };
        let state = CampaignState::scheduled(at);
        s.campaigns.insert(
            key,
            (campaign.clone(), state, version, Some(campaign.starts_at())),
        );
        Ok(true)
    }

    async fn campaign(
        &self,
        shop: &ShopDomain,
        id: &str,
    ) -> Result<Option<crate::ports::CampaignRecord>, StoreError> {
        Ok(self
            .lock()
            .campaigns
            .get(&(shop.clone(), id.to_string()))
            .map(|(c, st, v, _)| crate::ports::CampaignRecord {
                campaign: c.clone(),
                state: st.clone(),
                version: *v,
            }))
    }

    async fn save_campaign(
        &self,
        shop: &ShopDomain,
        id: &str,
        state: &crate::ports::CampaignState,
        version: u64,
        due: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        match s.campaigns.get_mut(&(shop.clone(), id.to_string())) {
            Some(entry)
                if entry.2 == version
                    && entry.1.phase != crate::ports::CampaignPhase::Cancelled =>
            {
                entry.1 = state.clone();
                entry.2 = version + 1;
                entry.3 = due;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn cancel(&self, shop: &ShopDomain, id: &str) -> Result<bool, StoreError> {
        use crate::ports::CampaignPhase;
        let mut s = self.lock();
        match s.campaigns.get_mut(&(shop.clone(), id.to_string())) {
            Some(entry)
                if !matches!(
                    entry.1.phase,
                    CampaignPhase::Done | CampaignPhase::Cancelled
                ) =>
            {
                entry.1.phase = CampaignPhase::Cancelled;
                entry.2 += 1;
                entry.3 = None;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn member_page(
        &self,
        shop: &ShopDomain,
        segment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Member>, Option<String>), StoreError> {
        let s = self.lock();
        let mut all: Vec<Member> = s
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
            .unwrap_or_default();
        all.sort_by(|a, b| a.contact.as_str().cmp(b.contact.as_str()));
        let page: Vec<Member> = all
            .into_iter()
            .filter(|m| after.is_none_or(|a| m.contact.as_str() > a))
            .take(limit + 1)
            .collect();
        if page.len() > limit {
            let page: Vec<Member> = page.into_iter().take(limit).collect();
            let next = page.last().map(|m| m.contact.as_str().to_string());
            Ok((page, next))
        } else {
            Ok((page, None))
        }
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
        Ok(self.suppression_state(shop, email).await?.reason)
    }

    async fn suppression_state(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
    ) -> Result<SuppressionState, StoreError> {
        Ok(self
            .lock()
            .suppressions
            .get(&(shop.clone(), email.lookup_key().into_owned()))
            .cloned()
            .unwrap_or_default())
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
            .entry((shop.clone(), email.lookup_key().into_owned()))
            .or_default();
        if slot
            .reason
            .is_none_or(|r| r == SuppressionReason::Unsubscribed)
        {
            slot.reason = Some(reason);
        }
        Ok(())
    }

    async fn suppress_topics(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
        topics: &[String],
        _at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        s.suppressions
            .entry((shop.clone(), email.lookup_key().into_owned()))
            .or_default()
            .topics
            .extend(topics.iter().cloned());
        Ok(())
    }

    async fn lift_unsubscribe(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
        _at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        if let Some(slot) = s
            .suppressions
            .get_mut(&(shop.clone(), email.lookup_key().into_owned()))
        {
            if slot.reason == Some(SuppressionReason::Unsubscribed) {
                slot.reason = None;
            }
            slot.topics.clear();
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
