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
//! `HOT_MAX - HOT_AFTER_SPILL` events, so the item that holds the blocks is
//! written rarely and the hot item stays small however busy the contact.

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
    ids: Vec<u128>,
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

    fn has(&self, id: u128) -> bool {
        self.hot.contains(&id) || self.older.iter().any(|b| b.ids.contains(&id))
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
    /// then, and keeps `MAX_OLDER` ids at most (the newest).
    fn move_out(&mut self, ids: Vec<u128>, at: i64) {
        if !ids.is_empty() {
            self.older.push(Block { at, ids });
            self.older.sort_by_key(|b| b.at);
        }
        let now = self.hot_at.max(at);
        let keep = KEEP_OLDER.as_secs();
        self.older.retain(|b| b.at + keep >= now);
        let mut excess = self
            .older
            .iter()
            .map(|b| b.ids.len())
            .sum::<usize>()
            .saturating_sub(MAX_OLDER);
        while excess > 0 {
            let first = &mut self.older[0];
            let n = excess.min(first.ids.len());
            first.ids.drain(..n);
            if first.ids.is_empty() {
                self.older.remove(0);
            }
            excess -= n;
        }
    }

    /// Takes a merged contact's ids in: its stored events are now this
    /// contact's to erase, and its replayed records are recognised.
    pub fn absorb(&mut self, other: &RecentEvents) {
        let theirs = other
            .older
            .iter()
            .map(|b| (&b.ids, b.at))
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
            .flat_map(|b| &b.ids)
            .chain(&self.hot)
            .filter(|&&id| id & DIGEST_MARK != DIGEST_MARK)
            .map(hex)
            .collect()
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.hot.len() + self.older.iter().map(|b| b.ids.len()).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The stored form: `{"ids": [...], "at": secs, "older": [{"at", "ids"}]}`
/// (the adapter keeps `older` in an item of its own). The form before
/// (a list of the newest ids) still reads.
#[derive(Serialize, Deserialize)]
struct Stored {
    ids: Vec<String>,
    #[serde(default)]
    at: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    older: Vec<StoredBlock>,
}

#[derive(Serialize, Deserialize)]
struct StoredBlock {
    at: i64,
    ids: Vec<String>,
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
            older: self
                .older
                .iter()
                .map(|b| StoredBlock {
                    at: b.at,
                    ids: b.ids.iter().map(hex).collect(),
                })
                .collect(),
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
            AnyStored::Now(s) => Self {
                hot: ids(s.ids),
                hot_at: s.at,
                older: s
                    .older
                    .into_iter()
                    .map(|b| Block {
                        at: b.at,
                        ids: ids(b.ids),
                    })
                    .collect(),
            },
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
