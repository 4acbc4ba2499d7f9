//! In-memory twins of every port, for the simulator, benchmarks and fast
//! tests of the services. They honour the same contract as the DynamoDB
//! adapter (conditional writes, versions, the outbox lifecycle), checked by
//! the same contract tests. Never used by a deployed function.
//!
//! One `State` behind a mutex holds every table; each port's twin is in
//! its own file, the publisher and mailer apart.

mod campaigns;
mod commit;
mod contacts;
mod inbox;
mod mailer;
mod outbox;
mod privacy;
mod publisher;
mod segments;
mod suppressions;

pub use mailer::{MemoryMailer, SentMail};
pub use publisher::MemoryPublisher;

use crate::ports::{ContactState, Member, Rejected, SuppressionState};
use contacts::{Aliases, Contacts};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use waymark_core::event::Event;
use waymark_core::ids::{ContactId, EmailAddress, ShopDomain};
use waymark_core::journey::Run;
use waymark_core::outbox::OutboxMessage;

/// FNV-1a: the twin's maps are keyed by short strings it made itself, so a
/// fast non-keyed hash is enough (SipHash dominated the benches).
#[derive(Default)]
pub(super) struct Fnv(u64);

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

/// A campaign in the twin: definition, progress, version, when due, and
/// what the workers finished of its run (with the pages they marked: wave
/// is the A/B test's, page number).
type StoredCampaign = (
    waymark_core::campaign::Campaign,
    crate::ports::CampaignState,
    u64,
    Option<Timestamp>,
    (crate::ports::Worked, HashSet<(bool, u64)>),
);

#[derive(Default)]
struct State {
    /// Scheduled campaigns: definition, progress, version, when due.
    campaigns: HashMap<(ShopDomain, String), StoredCampaign>,
    /// Results counters per shop (summed; no shards in memory).
    counts: HashMap<ShopDomain, waymark_core::analytics::Counts>,
    receipts: HashSet<(ShopDomain, String)>,
    /// Recorded events, with the delivery that recorded each.
    events: HashMap<(ShopDomain, String), String>,
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
    /// What the next `find` of a shop answers instead of its lookups: a
    /// read a moment late, as DynamoDB's eventually consistent one can be
    /// (tests set it; `find_current` never answers it).
    late_find: Option<(ShopDomain, crate::ports::Resolution)>,
    /// What `load_active` and `load_whole` answer for a contact instead of its state: a
    /// replica behind the contact's last commits, as an eventually
    /// consistent read can be, until a test clears it
    /// (`load_active_current` never answers it).
    late_loads: HashMap<(ShopDomain, ContactId), ContactState>,
    /// Lookups read by `find` and `find_current`, one per identity named.
    lookups_read: u64,
}

impl State {
    /// A segment's members (contact and address).
    fn members_of(&self, shop: &ShopDomain, segment: &str) -> Vec<Member> {
        self.members
            .get(&(shop.clone(), segment.to_string()))
            .map(|m| {
                m.iter()
                    .map(|(c, e)| Member {
                        contact: c.clone(),
                        email: e.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
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

    /// The next `find` for `shop` answers `stale`, as a lookup read a
    /// moment late would (a contact just merged away or erased).
    pub fn answer_next_find_late(&self, shop: &ShopDomain, stale: crate::ports::Resolution) {
        self.lock().late_find = Some((shop.clone(), stale));
    }

    /// Every `load_active` and `load_whole` of the contact answers `stale` (as a replica
    /// behind its last commits would) until `caught_up` is called.
    pub fn answer_loads_late(&self, stale: ContactState) {
        let key = (stale.contact.shop.clone(), stale.contact.id.clone());
        self.lock().late_loads.insert(key, stale);
    }

    /// Lookups read so far (one per identity a `find` names).
    pub fn lookups_read(&self) -> u64 {
        self.lock().lookups_read
    }

    /// Loads of the contact answer as it is again.
    pub fn caught_up(&self, shop: &ShopDomain, id: &ContactId) {
        self.lock().late_loads.remove(&(shop.clone(), id.clone()));
    }

    /// Seeds a contact straight into the store (benchmarks build large
    /// tables this way), indexed as a commit would index it.
    pub fn seed(&self, state: ContactState) {
        let mut s = self.lock();
        let (shop, id, idle_at) = (
            state.contact.shop.clone(),
            state.contact.id.clone(),
            state.contact.schedule.idle_at,
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
