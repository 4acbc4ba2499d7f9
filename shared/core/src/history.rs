//! What a contact's journey runs leave behind once their items expire: for
//! each journey and run key, the newest entry and when it began. Ended runs
//! are kept [`ENDED_RUN_KEPT`] (clicks on their emails still arrive and
//! orders are attributed to them), then expire; re-entry (`once`, `every`)
//! and cooldowns read this history, so a contact's stored runs stay a
//! handful however long it has been a customer.
//!
//! Bounded: [`KEYS_PER_JOURNEY`] keys per journey (a run per order or per
//! checkout: the newest are the ones a late redelivery could name) and
//! [`MAX_ENTRIES`] in all.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// How long an ended run's item is kept after it ends (its emails' clicks
/// and opens still count, and attribution windows are at most 30 days).
pub const ENDED_RUN_KEPT: SignedDuration = SignedDuration::from_hours(24 * 45);
/// Run keys remembered per journey.
pub const KEYS_PER_JOURNEY: usize = 20;
/// Entries remembered in all.
pub const MAX_ENTRIES: usize = 200;

/// One journey and key's newest entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entered {
    #[serde(rename = "j")]
    pub journey: String,
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "e")]
    pub entry: u32,
    pub at: Timestamp,
}

/// The entries, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct History(Vec<Entered>);

impl History {
    /// Remembers an entry (a newer entry of the same journey and key
    /// replaces the older one; an older one changes nothing).
    pub fn record(&mut self, journey: &str, key: &str, entry: u32, at: Timestamp) {
        if let Some(i) = self
            .0
            .iter()
            .position(|e| e.journey == journey && e.key == key)
        {
            if self.0[i].entry >= entry {
                return;
            }
            self.0.remove(i);
        }
        let place = self.0.partition_point(|e| e.at <= at);
        self.0.insert(
            place,
            Entered {
                journey: journey.to_string(),
                key: key.to_string(),
                entry,
                at,
            },
        );
        self.bound(journey);
    }

    /// Drops the oldest keys of `journey` past [`KEYS_PER_JOURNEY`], then the
    /// oldest entries past [`MAX_ENTRIES`].
    fn bound(&mut self, journey: &str) {
        let mut of_journey = self.0.iter().filter(|e| e.journey == journey).count();
        if of_journey > KEYS_PER_JOURNEY {
            self.0.retain(|e| {
                if e.journey == journey && of_journey > KEYS_PER_JOURNEY {
                    of_journey -= 1;
                    false
                } else {
                    true
                }
            });
        }
        if self.0.len() > MAX_ENTRIES {
            let extra = self.0.len() - MAX_ENTRIES;
            self.0.drain(..extra);
        }
    }

    /// Whether an entry of `journey` and `key` may have been remembered
    /// once and dropped since (none is remembered, and the journey's keys
    /// or all the entries are at their bound): its run may still be kept
    /// for its messages, which most loads leave out.
    pub fn may_have_forgotten(&self, journey: &str, key: &str) -> bool {
        self.latest(journey, key).is_none()
            && (self.0.len() >= MAX_ENTRIES
                || self.0.iter().filter(|e| e.journey == journey).count() >= KEYS_PER_JOURNEY)
    }

    /// Whether any entry may have been dropped: all the entries, or some
    /// journey's keys, at their bound (`may_have_forgotten` needs this).
    pub fn at_bound(&self) -> bool {
        if self.0.len() >= MAX_ENTRIES {
            return true;
        }
        let mut of_journey: std::collections::HashMap<&str, usize> = Default::default();
        self.0.iter().any(|e| {
            let n = of_journey.entry(e.journey.as_str()).or_default();
            *n += 1;
            *n >= KEYS_PER_JOURNEY
        })
    }

    /// The newest entry of a journey and key, if remembered.
    pub fn latest(&self, journey: &str, key: &str) -> Option<&Entered> {
        self.0.iter().find(|e| e.journey == journey && e.key == key)
    }

    /// Whether the journey was entered (any key) after `since`.
    pub fn entered_after(&self, journey: &str, since: Timestamp) -> bool {
        self.0.iter().any(|e| e.journey == journey && e.at > since)
    }

    /// Folds a merged contact's history in.
    pub fn absorb(&mut self, other: &History) {
        for e in &other.0 {
            self.record(&e.journey, &e.key, e.entry, e.at);
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: i64) -> Timestamp {
        Timestamp::from_second(1_790_000_000 + d * 86_400).unwrap()
    }

    #[test]
    fn the_newest_entry_of_each_journey_and_key_is_kept() {
        let mut h = History::default();
        h.record("welcome", "contact", 0, day(0));
        h.record("winback", "contact", 0, day(3));
        h.record("winback", "contact", 1, day(90));
        h.record("winback", "contact", 0, day(3));
        assert_eq!(h.len(), 2);
        assert_eq!(h.latest("winback", "contact").unwrap().entry, 1);
        assert_eq!(h.latest("welcome", "contact").unwrap().at, day(0));
        assert!(h.latest("welcome", "other").is_none());
        assert!(h.entered_after("winback", day(80)));
        assert!(!h.entered_after("welcome", day(0)));
    }

    #[test]
    fn a_decade_of_orders_keeps_the_newest_keys_and_stays_small() {
        let mut h = History::default();
        for order in 0..2_000 {
            let at = day(order);
            h.record("post_purchase", &format!("order:{order}"), 0, at);
            h.record("checkout", &format!("tok{order:029}"), 0, at);
            h.record(&format!("journey_{}", order % 300), "contact", 0, at);
        }
        assert_eq!(h.len(), MAX_ENTRIES);
        let kept = |j: &str| h.0.iter().filter(|e| e.journey == j).count();
        assert!(kept("post_purchase") <= KEYS_PER_JOURNEY);
        assert!(h.latest("post_purchase", "order:1999").is_some());
        assert!(h.latest("post_purchase", "order:0").is_none());
        assert!(h.may_have_forgotten("post_purchase", "order:0") && h.at_bound());
        assert!(!h.may_have_forgotten("post_purchase", "order:1999"));
        let mut few = History::default();
        few.record("post_purchase", "order:1", 0, day(1));
        assert!(
            !few.may_have_forgotten("post_purchase", "order:0") && !few.at_bound(),
            "nothing dropped yet: never entered"
        );
        let json = serde_json::to_string(&h).unwrap();
        assert!(json.len() < 20_000, "{} bytes", json.len());
        let back: History = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn a_merge_keeps_the_newer_entry_of_both() {
        let mut a = History::default();
        a.record("welcome", "contact", 0, day(0));
        let mut b = History::default();
        b.record("welcome", "contact", 1, day(40));
        b.record("browse", "contact", 0, day(2));
        a.absorb(&b);
        assert_eq!(a.latest("welcome", "contact").unwrap().entry, 1);
        assert!(a.latest("browse", "contact").is_some());
    }
}
