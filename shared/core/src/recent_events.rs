//! The event ids applied to a contact: a replayed stream record is
//! recognised by its id, and an erasure deletes the stored events they
//! name.
//!
//! The newest ids (`HOT_MAX` at most) travel with the contact's hot item,
//! which every event writes; older ones are moved out in blocks, each
//! stamped with the newest event time it may hold, and kept while the
//! events they name may still be stored (`KEEP_OLDER`, the events' 7-day
//! retention and the days DynamoDB may take to delete an expired item),
//! `MAX_OLDER` ids at most. A block is added once every
//! `HOT_MAX - HOT_AFTER_SPILL` events, so the hot item stays small however
//! busy the contact.
//!
//! Each block is stored once, in a slot of its own (an item), and never
//! changes: the hot item lists the blocks (stamp, size and slot), not
//! their ids. An ordinary load leaves the blocks where they are (parked):
//! only an event at or before a parked block's stamp may be one of theirs
//! ([`RecentEvents::knows`] cannot tell, and the caller loads the contact
//! whole), and an event newer than every stamp is new to them. A new block
//! takes the lowest slot no listed block holds, so a dropped block's slot
//! is written over by a later one: nothing is deleted, and a contact has
//! no more slots than it ever had blocks at once (1 + `MAX_OLDER` / 12).

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Ids kept on the hot item at most; past it the oldest are moved out…
const HOT_MAX: usize = 12;
/// …down to this many (all: a block stamped with the newest event time
/// holds every one, and the hot item is written by every event, each id
/// 17 bytes that deflate cannot shrink).
const HOT_AFTER_SPILL: usize = 0;
/// How long an older block is kept after the newest event it may hold.
pub const KEEP_OLDER: SignedDuration = SignedDuration::from_hours(24 * 10);
/// Older ids kept at most (a contact with more events in `KEEP_OLDER`, a
/// bot, keeps the newest).
const MAX_OLDER: usize = 1024;

/// The event ids applied to a contact, kept compact. Fact ids (32 hex
/// digits) are kept as their 16 bytes and can be given back (to erase the
/// stored events); other ids (internal reviews, lapses, never stored as
/// items) by a digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentEvents {
    /// The newest, oldest first.
    hot: Vec<u128>,
    /// The newest event time pushed (Unix seconds): the stamp of the block
    /// the hot ids go to.
    hot_at: i64,
    /// Older blocks, oldest first.
    older: Vec<Block>,
}

/// Ids moved out together, with the newest event time they may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Block {
    at: i64,
    /// How many ids it holds.
    n: usize,
    /// Where it is stored, among the contact's slots.
    slot: u16,
    /// Its ids; `None` when the load left the block where it is stored.
    ids: Option<Vec<u128>>,
}

/// One older block as its slot's item stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBlock {
    pub at: i64,
    /// (Blocks stored together, before slots, had none.)
    #[serde(default)]
    pub slot: u16,
    pub ids: Vec<String>,
}

/// An id as one integer (compared without a byte loop).
fn compact(id: &str) -> u128 {
    u128::from_be_bytes(compact_bytes(id))
}

fn compact_bytes(id: &str) -> [u8; 16] {
    let nibble = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 16];
    let bytes = id.as_bytes();
    let hex = bytes.len() == 32
        && out.iter_mut().enumerate().all(|(i, o)| {
            match (nibble(bytes[2 * i]), nibble(bytes[2 * i + 1])) {
                (Some(h), Some(l)) => {
                    *o = h << 4 | l;
                    true
                }
                _ => false,
            }
        });
    if !hex {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(id.as_bytes());
        out.copy_from_slice(&digest[..16]);
        // Marked, so it is never taken for a stored fact's id.
        out[0] = 0xff;
        out[1] = 0xff;
    }
    out
}

fn hex(id: &u128) -> String {
    format!("{id:032x}")
}

/// Digests of non-fact ids start with this mark.
const DIGEST_MARK: u128 = 0xffff << 112;

impl RecentEvents {
    pub fn contains(&self, id: &str) -> bool {
        self.has(compact(id))
    }

    /// Whether the id is among those read (parked blocks not looked at).
    fn has(&self, id: u128) -> bool {
        self.hot.contains(&id)
            || self
                .older
                .iter()
                .any(|b| b.ids.as_ref().is_some_and(|ids| ids.contains(&id)))
    }

    /// Whether the event `id`, which happened at `at`, was applied: `None`
    /// when only a parked block could tell (it happened at or before the
    /// block's stamp, the newest event time the block may hold).
    pub fn knows(&self, id: &str, at: Timestamp) -> Option<bool> {
        let id = compact(id);
        if self.has(id) {
            return Some(true);
        }
        let parked = self
            .older
            .iter()
            .any(|b| b.ids.is_none() && at.as_second() <= b.at);
        (!parked).then_some(false)
    }

    /// Whether every block was read (an erasure and a merge need all).
    pub fn is_whole(&self) -> bool {
        self.older.iter().all(|b| b.ids.is_some())
    }

    /// Leaves every older block where it is stored (a load that does not
    /// read them; the in-memory store does this to behave as DynamoDB's).
    pub fn park(&mut self) {
        for b in &mut self.older {
            b.ids = None;
        }
    }

    /// Takes the ids of parked blocks from `stored` (the same contact as
    /// stored), as a commit leaves a block it did not read where it is.
    pub fn unpark_from(&mut self, stored: &RecentEvents) {
        for b in self.older.iter_mut().filter(|b| b.ids.is_none()) {
            b.ids = stored
                .older
                .iter()
                .find(|s| (s.slot, s.at) == (b.slot, b.at))
                .and_then(|s| s.ids.clone());
        }
        self.older.retain(|b| b.ids.is_some());
    }

    /// Forgets the listed blocks a whole load found no item for (a slot
    /// is written with the list that names it: only a damaged partition
    /// lacks one).
    pub fn forget_parked(&mut self) {
        self.older.retain(|b| b.ids.is_some());
    }

    /// The blocks read or made since the load, as their items store them
    /// (a parked one is left as it is stored).
    pub fn stored_blocks(&self) -> Vec<StoredBlock> {
        self.older
            .iter()
            .filter_map(|b| {
                Some(StoredBlock {
                    at: b.at,
                    slot: b.slot,
                    ids: b.ids.as_ref()?.iter().map(hex).collect(),
                })
            })
            .collect()
    }

    /// Remembers the id of an event that happened at `at`.
    pub fn push(&mut self, id: &str, at: Timestamp) {
        let id = compact(id);
        if self.has(id) {
            return;
        }
        self.hot.push(id);
        self.hot_at = self.hot_at.max(at.as_second());
        if self.hot.len() > HOT_MAX {
            let out: Vec<u128> = self.hot.drain(..self.hot.len() - HOT_AFTER_SPILL).collect();
            self.move_out(out, self.hot_at);
        }
    }

    /// Adds a block, drops the blocks whose events have all expired by
    /// then, and keeps `MAX_OLDER` ids at most (the newest blocks whole:
    /// a stored block never changes). The new block takes the lowest slot
    /// no block holds.
    fn move_out(&mut self, ids: Vec<u128>, at: i64) {
        let now = self.hot_at.max(at);
        let keep = KEEP_OLDER.as_secs();
        self.older.retain(|b| b.at + keep >= now);
        if !ids.is_empty() {
            let slot = (0..)
                .find(|s| !self.older.iter().any(|b| b.slot == *s))
                .unwrap_or(0);
            self.older.push(Block {
                at,
                n: ids.len(),
                slot,
                ids: Some(ids),
            });
            self.older.sort_by_key(|b| b.at);
        }
        // (A block older than the time kept, a merged contact's, goes.)
        self.older.retain(|b| b.at + keep >= now);
        let mut total: usize = self.older.iter().map(|b| b.n).sum();
        while total > MAX_OLDER && self.older.len() > 1 {
            total -= self.older.remove(0).n;
        }
    }

    /// Takes a merged contact's ids in: its stored events are now this
    /// contact's to erase, and its replayed records are recognised.
    pub fn absorb(&mut self, other: &RecentEvents) {
        // (Theirs are loaded whole: a parked block of theirs has no ids
        // here to take.)
        let theirs = other
            .older
            .iter()
            .filter_map(|b| Some((b.ids.as_ref()?, b.at)))
            .chain([(&other.hot, other.hot_at)]);
        for (ids, at) in theirs {
            let new = ids.iter().filter(|x| !self.has(**x)).copied().collect();
            self.move_out(new, at);
        }
    }

    /// The fact ids remembered (stored event items), oldest first.
    pub fn fact_ids(&self) -> Vec<String> {
        self.older
            .iter()
            .flat_map(|b| b.ids.iter().flatten())
            .chain(&self.hot)
            .filter(|&&id| id & DIGEST_MARK != DIGEST_MARK)
            .map(hex)
            .collect()
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.hot.len() + self.older.iter().map(|b| b.n).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The stored form: `{"ids": [...], "at": secs, "blocks": [[at, n, slot],
/// …], "older": [{"at", "slot", "ids"}]}`: `blocks` lists every older block, `older`
/// holds those read or made since (the adapter stores each in an item of
/// its own and puts those it read back). Forms before still read: a list
/// of the newest ids; `older` without `blocks` (every block in it).
#[derive(Serialize, Deserialize)]
struct Stored {
    ids: Vec<String>,
    #[serde(default)]
    at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blocks: Option<Vec<(i64, usize, u16)>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    older: Vec<StoredBlock>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AnyStored {
    Now(Stored),
    Before(Vec<String>),
}

impl Serialize for RecentEvents {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Stored {
            ids: self.hot.iter().map(hex).collect(),
            at: self.hot_at,
            blocks: (!self.older.is_empty())
                .then(|| self.older.iter().map(|b| (b.at, b.n, b.slot)).collect()),
            older: self.stored_blocks(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for RecentEvents {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ids = |ids: Vec<String>| ids.iter().map(|i| compact(i)).collect();
        Ok(match AnyStored::deserialize(d)? {
            AnyStored::Before(hot) => Self {
                hot: ids(hot),
                ..Self::default()
            },
            AnyStored::Now(s) => {
                let mut read: Vec<Block> = s
                    .older
                    .into_iter()
                    .map(|b| {
                        let ids: Vec<u128> = ids(b.ids);
                        Block {
                            at: b.at,
                            n: ids.len(),
                            slot: b.slot,
                            ids: Some(ids),
                        }
                    })
                    .collect();
                let older = match s.blocks {
                    // Every block listed, with the ids of those read; an
                    // item no longer listed is a leftover, not a block.
                    // A slot's item of another stamp is a block since
                    // written over.
                    Some(list) => list
                        .into_iter()
                        .map(|(at, n, slot)| Block {
                            at,
                            n,
                            slot,
                            ids: read
                                .iter_mut()
                                .find(|b| (b.slot, b.at) == (slot, at))
                                .and_then(|b| b.ids.take()),
                        })
                        .collect(),
                    None => {
                        // Stored together, before slots: each takes one.
                        read.sort_by_key(|b| b.at);
                        for (slot, b) in (0..).zip(&mut read) {
                            b.slot = slot;
                        }
                        read
                    }
                };
                Self {
                    hot: ids(s.ids),
                    hot_at: s.at,
                    older,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: i64) -> Timestamp {
        Timestamp::from_second(1_790_000_000 + d * 86_400).unwrap()
    }

    fn fact(i: u32) -> String {
        format!("{i:032x}")
    }

    #[test]
    fn recent_events_remember_compactly_and_give_fact_ids_back() {
        let mut r = RecentEvents::default();
        let fact = "28425e0804c09ca7156a303b9188f0cf";
        r.push(fact, day(0));
        r.push("review-1795428001000", day(0));
        assert!(r.contains(fact) && r.contains("review-1795428001000"));
        assert!(!r.contains("review-1795428001001"));
        assert_eq!(r.fact_ids(), vec![fact.to_string()]);
        let json = serde_json::to_string(&r).unwrap();
        let back: RecentEvents = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn the_hot_ids_stay_few_and_the_older_are_kept_while_their_events_may_be_stored() {
        let mut r = RecentEvents::default();
        // Ten events a day for a month.
        for d in 0..30 {
            for i in 0..10 {
                r.push(&fact((d * 10 + i) as u32), day(d));
            }
            assert!(r.hot.len() <= HOT_MAX);
        }
        // Every event of the last KEEP_OLDER is still known…
        for i in 200..300 {
            assert!(r.contains(&fact(i)), "event {i}");
        }
        // …and none from before it (their stored items expired).
        assert!(!r.contains(&fact(0)) && !r.contains(&fact(150)));
        let facts = r.fact_ids();
        assert!(facts.len() < 140, "{}", facts.len());
        assert_eq!(facts.last().unwrap(), &fact(299), "oldest first");
        // The hot form carries only the newest; the rest is a block list.
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["ids"].as_array().unwrap().len() <= HOT_MAX);
        assert_eq!(serde_json::from_value::<RecentEvents>(json).unwrap(), r);
    }

    #[test]
    fn a_burst_keeps_the_newest_ids_up_to_the_cap() {
        let mut r = RecentEvents::default();
        for i in 0..5_000 {
            r.push(&fact(i), day(0));
        }
        assert!(r.len() <= MAX_OLDER + HOT_MAX);
        assert!(r.contains(&fact(4_999)) && r.contains(&fact(4_000)));
        assert!(!r.contains(&fact(3_000)));
    }

    #[test]
    fn the_list_written_before_still_reads() {
        let before = format!(r#"["{}","{}"]"#, fact(1), fact(2));
        let mut r: RecentEvents = serde_json::from_str(&before).unwrap();
        assert_eq!(r.fact_ids(), vec![fact(1), fact(2)]);
        for i in 3..40 {
            r.push(&fact(i), day(0));
        }
        assert!(r.contains(&fact(1)), "moved out, not forgotten");
    }

    /// A load that leaves the older blocks where they are still tells a
    /// new event from a replay, except one at or before a parked block's
    /// stamp; the blocks' list survives a commit that did not read them,
    /// and blocks that go are named for deletion.
    #[test]
    fn parked_blocks_are_listed_and_only_an_older_event_needs_them() {
        let mut r = RecentEvents::default();
        for i in 0..40 {
            r.push(&fact(i), day(0) + SignedDuration::from_mins(i64::from(i)));
        }
        let blocks = r.older.len();
        assert!(blocks >= 3);
        let stored = serde_json::to_value(&r).unwrap();
        // As the hot item has it: the list without the ids.
        let mut hot = stored.clone();
        hot.as_object_mut().unwrap().remove("older");
        let mut parked: RecentEvents = serde_json::from_value(hot).unwrap();
        assert!(!parked.is_whole());
        assert_eq!(parked.len(), r.len());
        // A hot id, an event newer than every block, one a block may hold.
        assert_eq!(parked.knows(&fact(39), day(0)), Some(true));
        assert_eq!(parked.knows(&fact(99), day(1)), Some(false));
        assert_eq!(parked.knows(&fact(3), day(0)), None);
        assert_eq!(r.knows(&fact(3), day(0)), Some(true));
        // Written back without the ids: the list, no block to store.
        let back = serde_json::to_value(&parked).unwrap();
        assert_eq!(back["blocks"], stored["blocks"]);
        assert!(back.get("older").is_none());
        let mut again = parked.clone();
        again.unpark_from(&r);
        assert_eq!(again, r);
        // A block more takes the next slot; eleven days on, a spill drops
        // the old blocks, read or not, and takes the first slot free.
        let slots = |r: &RecentEvents| r.older.iter().map(|b| b.slot).collect::<Vec<_>>();
        assert_eq!(slots(&parked), (0..blocks as u16).collect::<Vec<_>>());
        for i in 40..53 {
            parked.push(&fact(i), day(0) + SignedDuration::from_hours(1));
        }
        assert_eq!(*slots(&parked).last().unwrap(), blocks as u16);
        for i in 100..113 {
            parked.push(&fact(i), day(11));
        }
        assert_eq!(parked.older.len(), 1);
        assert_eq!(slots(&parked), vec![0]);
        assert_eq!(parked.stored_blocks().len(), 1, "the new one");
        assert!(parked.knows(&fact(3), day(0)) == Some(false));
    }

    #[test]
    fn a_merged_contacts_ids_are_taken_in() {
        let mut mine = RecentEvents::default();
        mine.push(&fact(2), day(1));
        let mut theirs = RecentEvents::default();
        theirs.push("review-1", day(0));
        for i in 10..50 {
            theirs.push(&fact(i), day(0));
        }
        theirs.push(&fact(2), day(0));
        mine.absorb(&theirs);
        assert!(mine.contains("review-1") && mine.contains(&fact(10)));
        let facts = mine.fact_ids();
        assert_eq!(facts.len(), 41, "each once");
        assert_eq!(facts.last().unwrap(), &fact(2), "mine stay the newest");
    }
}
