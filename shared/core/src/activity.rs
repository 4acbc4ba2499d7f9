//! What a contact did, counted per day: the windowed facts segment conditions
//! read ("placed ≥ 3 orders in 365 days", "viewed category TV ≥ 2 times in 7
//! days"). Bounded: days older than [`KEPT_DAYS`] fall off, a whole block of
//! [`BLOCK_DAYS`] at a time, and at most [`MAX_KEYS`] counters are kept (the
//! least recently touched goes first), so a contact document stays small
//! whatever the contact does. Blocks are how the store keeps a contact's
//! past apart from its present: a closed block never changes again, so it
//! is never written again.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Days of history kept: enough for "in the last 365 days" windows.
pub const KEPT_DAYS: i64 = 400;
/// Counters kept per contact.
pub const MAX_KEYS: usize = 48;
/// Days are kept and dropped in blocks of this many (day numbers since
/// 1970-01-01 divided by it): a day falls off with its whole block, once
/// every day of the block is older than [`KEPT_DAYS`].
pub const BLOCK_DAYS: i32 = 32;

/// The block a day number belongs to.
pub fn block_of(d: i32) -> i32 {
    d.div_euclid(BLOCK_DAYS)
}

/// One day's count and summed amount (minor units) for one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Day {
    /// Days since 1970-01-01 (UTC).
    pub d: i32,
    pub n: u32,
    /// Summed amount in minor units (order totals), 0 when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sum: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// Counters keyed `event` or `event:detail` (`product_viewed:tv`,
/// `page_viewed:pricing`), each a short list of days, oldest first. Held as
/// a small sorted table of counters (by key hash, then key), each with its
/// own list of days: finding a counter compares integers and then one key,
/// and a new day touches only its counter's list (a year of a dozen
/// counters is thousands of days; one flat list would move them all).
/// Lists are shared between copies until changed: copying a profile (a
/// loaded one takes the event) copies no days, and an event then copies
/// only the lists it adds to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Activity {
    counters: Vec<Counter>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Counter {
    /// `hash(key)`: the table's first sort field (never stored).
    hash: u64,
    key: Arc<str>,
    days: Arc<Vec<Day>>,
}

/// FNV-1a: stable, and fast on the short keys counters have.
fn hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The UTC day number of an instant.
pub fn day_of(at: Timestamp) -> i32 {
    at.as_second().div_euclid(86_400) as i32
}

/// The day `now - within` falls in (integer arithmetic: asked for every
/// windowed condition of every event).
fn window_start(now: Timestamp, within: SignedDuration) -> i32 {
    now.as_second()
        .saturating_sub(within.as_secs())
        .div_euclid(86_400)
        .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// The instant a day starts.
pub fn day_start(d: i32) -> Timestamp {
    Timestamp::from_second(i64::from(d) * 86_400).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A counter key: the event name, or the event name and a detail, lowercased.
pub fn key(event: &str, detail: Option<&str>) -> String {
    match detail {
        Some(d) => {
            let d = d.trim();
            let mut k = String::with_capacity(event.len() + 1 + d.len());
            k.push_str(event);
            k.push(':');
            k.push_str(&crate::ids::lowercase(d));
            k
        }
        None => event.to_string(),
    }
}

impl Activity {
    /// The counter's index, or where it would go.
    fn find(&self, h: u64, key: &str) -> Result<usize, usize> {
        let mut i = self.counters.partition_point(|c| c.hash < h);
        while let Some(c) = self.counters.get(i).filter(|c| c.hash == h) {
            match (*c.key).cmp(key) {
                std::cmp::Ordering::Equal => return Ok(i),
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => break,
            }
        }
        Err(i)
    }

    /// The days of one counter (none if there is no such counter).
    fn days_of(&self, key: &str) -> &[Day] {
        match self.find(hash(key), key) {
            Ok(i) => &self.counters[i].days,
            Err(_) => &[],
        }
    }

    /// Counts one occurrence at `at` with an amount (0 if none).
    pub fn add(&mut self, key: &str, at: Timestamp, sum: i64) {
        self.add_day(
            key,
            Day {
                d: day_of(at),
                n: 1,
                sum,
            },
        );
    }

    fn add_day(&mut self, key: &str, day: Day) {
        let h = hash(key);
        let (i, new_key) = match self.find(h, key) {
            Ok(i) => (i, false),
            Err(i) => {
                self.counters.insert(
                    i,
                    Counter {
                        hash: h,
                        key: Arc::from(key),
                        days: Arc::default(),
                    },
                );
                (i, true)
            }
        };
        let days = Arc::make_mut(&mut self.counters[i].days);
        // Days mostly arrive in order: the newest is checked first.
        match days.last_mut() {
            Some(last) if last.d == day.d => {
                last.n = last.n.saturating_add(day.n);
                last.sum = last.sum.saturating_add(day.sum);
            }
            Some(last) if last.d < day.d => days.push(day),
            None => days.push(day),
            Some(_) => match days.binary_search_by_key(&day.d, |x| x.d) {
                Ok(j) => {
                    let e = &mut days[j];
                    e.n = e.n.saturating_add(day.n);
                    e.sum = e.sum.saturating_add(day.sum);
                }
                Err(j) => days.insert(j, day),
            },
        }
        // Blocks whose every day is older than the history kept fall off
        // this counter (a block at a time, so a closed block changes once).
        let newest = days[days.len() - 1].d;
        let first_kept = block_of(newest - KEPT_DAYS as i32 + 1);
        let stale = days
            .iter()
            .take_while(|e| block_of(e.d) < first_kept)
            .count();
        if stale > 0 {
            days.drain(..stale);
        }
        if new_key && self.counters.len() > MAX_KEYS {
            // Drop the counter whose newest day is oldest.
            let stalest = (0..self.counters.len())
                .filter(|&j| j != i)
                .min_by_key(|&j| self.counters[j].days.last().map_or(i32::MIN, |d| d.d));
            if let Some(j) = stalest {
                self.counters.remove(j);
            }
        }
    }

    /// How many counters there are.
    pub fn keys(&self) -> usize {
        self.counters.len()
    }

    /// Count and sum of a counter over the days within `within` of `now`
    /// (whole days: the window starts at the day `now - within` falls in);
    /// the whole history when `within` is `None`.
    pub fn total(&self, key: &str, within: Option<SignedDuration>, now: Timestamp) -> (u32, i64) {
        let from = within.map_or(i32::MIN, |w| window_start(now, w));
        let to = day_of(now);
        self.days_of(key)
            .iter()
            .filter(|e| e.d >= from && e.d <= to)
            .fold((0, 0), |(n, s), e| (n + e.n, s + e.sum))
    }

    /// The first instant after `now` at which a windowed total of `key`
    /// changes because a day leaves the window.
    pub fn next_expiry(
        &self,
        key: &str,
        within: SignedDuration,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let from = window_start(now, within);
        let first = self.days_of(key).iter().find(|e| e.d >= from)?;
        // Day `first.d` stays in the window while `now - within` is in it or before.
        day_start(first.d + 1).checked_add(within).ok()
    }

    /// The days of `key` inside the window at `now`, oldest first, each with
    /// the instant it leaves the window; `None` when a day after `now`'s is
    /// counted (an event from the future would enter the window by time,
    /// and a caller must not assume totals only fall).
    pub fn expiring(
        &self,
        key: &str,
        within: SignedDuration,
        now: Timestamp,
    ) -> Option<impl Iterator<Item = (Timestamp, Day)> + '_> {
        let from = window_start(now, within);
        let days = self.days_of(key);
        if days.last().is_some_and(|e| e.d > day_of(now)) {
            return None;
        }
        Some(
            days.iter()
                .filter(move |e| e.d >= from)
                .filter_map(move |e| Some((day_start(e.d + 1).checked_add(within).ok()?, *e))),
        )
    }

    /// Folds another contact's history in (identity merge).
    pub fn merge(&mut self, other: &Activity) {
        for c in &other.counters {
            for day in c.days.iter() {
                self.add_day(&c.key, *day);
            }
        }
    }
}

/// Stored as before: `{"counter": [{d, n, sum}, …], …}`.
impl Serialize for Activity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.counters.len()))?;
        for c in &self.counters {
            map.serialize_entry(&*c.key, &**c.days)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Activity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, Vec<Day>>::deserialize(d)?;
        let mut counters: Vec<(u64, String, Vec<Day>)> = map
            .into_iter()
            .filter(|(_, days)| !days.is_empty())
            .map(|(k, mut days)| {
                days.sort_by_key(|x| x.d);
                (hash(&k), k, days)
            })
            .collect();
        counters.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Ok(Activity {
            counters: counters
                .into_iter()
                .map(|(hash, k, days)| Counter {
                    hash,
                    key: Arc::from(k),
                    days: Arc::new(days),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn windows_count_whole_days() {
        let mut a = Activity::default();
        a.add("order_placed", t("2026-01-01T10:00:00Z"), 5000);
        a.add("order_placed", t("2026-01-01T12:00:00Z"), 2500);
        a.add("order_placed", t("2026-03-01T10:00:00Z"), 1000);
        let now = t("2026-03-05T00:00:00Z");
        assert_eq!(a.total("order_placed", None, now), (3, 8500));
        assert_eq!(
            a.total(
                "order_placed",
                Some(SignedDuration::from_hours(24 * 30)),
                now
            ),
            (1, 1000)
        );
        assert_eq!(a.total("product_viewed", None, now), (0, 0));
        // The January day leaves a 90-day window when `now - 90d` passes it.
        let w = SignedDuration::from_hours(24 * 90);
        let jan = t("2026-02-01T00:00:00Z");
        assert_eq!(
            a.next_expiry("order_placed", w, jan),
            Some(t("2026-04-02T00:00:00Z"))
        );
        assert_eq!(
            a.total("order_placed", Some(w), t("2026-04-01T23:59:59Z"))
                .0,
            3
        );
        assert_eq!(
            a.total("order_placed", Some(w), t("2026-04-02T00:00:00Z"))
                .0,
            1
        );
    }

    #[test]
    fn history_is_bounded() {
        let mut a = Activity::default();
        for i in 0..(MAX_KEYS + 10) {
            a.add(
                &format!("k{i}"),
                t("2026-01-01T00:00:00Z") + SignedDuration::from_hours(i as i64),
                0,
            );
        }
        assert_eq!(a.keys(), MAX_KEYS);
        for d in 0..1000 {
            a.add(
                "x",
                t("2024-01-01T00:00:00Z") + SignedDuration::from_hours(24 * d),
                0,
            );
        }
        let kept = a.days_of("x");
        assert!(kept.len() <= (KEPT_DAYS + i64::from(BLOCK_DAYS)) as usize);
        // Every day of the last KEPT_DAYS is kept; what fell off fell off
        // by whole blocks.
        let newest = kept.last().unwrap().d;
        assert!(kept.len() >= KEPT_DAYS as usize);
        assert_eq!(kept[0].d % BLOCK_DAYS, 0, "a block starts the history");
        assert!(kept[0].d <= newest - KEPT_DAYS as i32 + 1);
        // Stored and read back the same.
        let json = serde_json::to_string(&a).unwrap();
        let back: Activity = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn counters_stay_apart_and_merge() {
        let now = t("2026-03-05T00:00:00Z");
        let mut a = Activity::default();
        let mut b = Activity::default();
        for (i, k) in [
            "a",
            "b",
            "page_viewed:pricing",
            "product_viewed:tv",
            "order_placed",
        ]
        .iter()
        .enumerate()
        {
            for d in 0..=i {
                a.add(
                    k,
                    t("2026-03-01T10:00:00Z") + SignedDuration::from_hours(24 * d as i64),
                    1,
                );
            }
            b.add(k, t("2026-03-02T11:00:00Z"), 10);
        }
        assert_eq!(a.total("product_viewed:tv", None, now), (4, 4));
        assert_eq!(a.total("product_viewed", None, now), (0, 0));
        a.merge(&b);
        assert_eq!(a.total("a", None, now), (2, 11));
        assert_eq!(a.total("order_placed", None, now), (6, 15));
        assert_eq!(a.keys(), 5);
        let back: Activity = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }
}
