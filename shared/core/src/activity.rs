//! What a contact did, counted per day: the windowed facts segment conditions
//! read ("placed ≥ 3 orders in 365 days", "viewed category TV ≥ 2 times in 7
//! days"). Bounded: days older than [`KEPT_DAYS`] fall off, and at most
//! [`MAX_KEYS`] counters are kept (the least recently touched goes first), so
//! a contact document stays small whatever the contact does.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Days of history kept: enough for "in the last 365 days" windows.
pub const KEPT_DAYS: i64 = 400;
/// Counters kept per contact.
pub const MAX_KEYS: usize = 48;

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
/// one flat vector sorted by (key hash, counter, day), with shared key
/// strings, so copying a profile costs one allocation however many counters
/// it has, and finding a counter compares integers, not strings.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Activity(Vec<Entry>);

/// A copy is made to be changed (a loaded profile takes the event): it
/// keeps room for a few new days, so the first insert does not reallocate.
impl Clone for Activity {
    fn clone(&self) -> Self {
        let mut v = Vec::with_capacity(self.0.len() + 4);
        v.extend_from_slice(&self.0);
        Self(v)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// `hash(key)`: the sort's first field (never stored).
    hash: u64,
    key: Arc<str>,
    day: Day,
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
            let lower = |c: char| {
                let mut l = c.to_lowercase();
                l.next() == Some(c) && l.next().is_none()
            };
            if d.chars().all(lower) {
                k.push_str(d);
            } else {
                k.push_str(&d.to_lowercase());
            }
            k
        }
        None => event.to_string(),
    }
}

impl Activity {
    /// The entries of one counter (a contiguous run).
    fn range(&self, key: &str) -> std::ops::Range<usize> {
        self.range_of(hash(key), key)
    }

    fn range_of(&self, h: u64, key: &str) -> std::ops::Range<usize> {
        // Integers first; the text only at the start of a counter with the
        // same hash. A counter's entries share one key string, so its run
        // ends where the pointer changes.
        let run_end = |from: usize| {
            let p = Arc::as_ptr(&self.0[from].key);
            from + self.0[from..]
                .iter()
                .take_while(|e| std::ptr::eq(Arc::as_ptr(&e.key), p))
                .count()
        };
        let mut i = self.0.partition_point(|e| e.hash < h);
        while let Some(e) = self.0.get(i).filter(|e| e.hash == h) {
            match (*e.key).cmp(key) {
                std::cmp::Ordering::Equal => return i..run_end(i),
                std::cmp::Ordering::Less => i = run_end(i),
                std::cmp::Ordering::Greater => break,
            }
        }
        i..i
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
        let r = self.range_of(h, key);
        let new_key = r.is_empty();
        let shared = self
            .0
            .get(r.start)
            .filter(|_| !new_key)
            .map(|e| e.key.clone());
        match self.0[r.clone()].binary_search_by_key(&day.d, |e| e.day.d) {
            Ok(i) => {
                let e = &mut self.0[r.start + i].day;
                e.n = e.n.saturating_add(day.n);
                e.sum = e.sum.saturating_add(day.sum);
            }
            Err(i) => {
                let key = shared.unwrap_or_else(|| Arc::from(key));
                self.0.insert(r.start + i, Entry { hash: h, key, day });
            }
        }
        // Days older than the history kept fall off this counter.
        let r = self.range_of(h, key);
        let newest = self.0[r.end - 1].day.d;
        let stale = self.0[r.clone()]
            .iter()
            .take_while(|e| e.day.d <= newest - KEPT_DAYS as i32)
            .count();
        if stale > 0 {
            self.0.drain(r.start..r.start + stale);
        }
        if new_key && self.keys() > MAX_KEYS {
            // Drop the counter whose newest day is oldest.
            let mut stalest: Option<(i32, Arc<str>)> = None;
            let mut i = 0;
            while i < self.0.len() {
                let k = self.0[i].key.clone();
                let r = self.range(&k);
                let last = self.0[r.end - 1].day.d;
                if &*k != key && stalest.as_ref().is_none_or(|(d, _)| last < *d) {
                    stalest = Some((last, k));
                }
                i = r.end;
            }
            if let Some((_, k)) = stalest {
                let r = self.range(&k);
                self.0.drain(r);
            }
        }
    }

    /// How many counters there are.
    pub fn keys(&self) -> usize {
        let mut n = 0;
        let mut last: Option<&str> = None;
        for e in &self.0 {
            if last != Some(&*e.key) {
                n += 1;
                last = Some(&e.key);
            }
        }
        n
    }

    /// Count and sum of a counter over the days within `within` of `now`
    /// (whole days: the window starts at the day `now - within` falls in);
    /// the whole history when `within` is `None`.
    pub fn total(&self, key: &str, within: Option<SignedDuration>, now: Timestamp) -> (u32, i64) {
        let from = within.map_or(i32::MIN, |w| window_start(now, w));
        let to = day_of(now);
        self.0[self.range(key)]
            .iter()
            .filter(|e| e.day.d >= from && e.day.d <= to)
            .fold((0, 0), |(n, s), e| (n + e.day.n, s + e.day.sum))
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
        let first = self.0[self.range(key)].iter().find(|e| e.day.d >= from)?;
        // Day `first.d` stays in the window while `now - within` is in it or before.
        day_start(first.day.d + 1).checked_add(within).ok()
    }

    /// Folds another contact's history in (identity merge).
    pub fn merge(&mut self, other: &Activity) {
        for e in &other.0 {
            self.add_day(&e.key, e.day);
        }
    }
}

/// Stored as before: `{"counter": [{d, n, sum}, …], …}`.
impl Serialize for Activity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        let mut i = 0;
        while i < self.0.len() {
            let r = self.range(&self.0[i].key);
            let days: Vec<Day> = self.0[r.clone()].iter().map(|e| e.day).collect();
            map.serialize_entry(&*self.0[i].key, &days)?;
            i = r.end;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Activity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, Vec<Day>>::deserialize(d)?;
        let mut out = Vec::new();
        for (k, mut days) in map {
            days.sort_by_key(|x| x.d);
            let key: Arc<str> = Arc::from(k.as_str());
            let h = hash(&k);
            out.extend(days.into_iter().map(|day| Entry {
                hash: h,
                key: key.clone(),
                day,
            }));
        }
        out.sort_by(|a, b| (a.hash, &*a.key, a.day.d).cmp(&(b.hash, &*b.key, b.day.d)));
        Ok(Self(out))
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
        assert!(a.0.iter().filter(|e| &*e.key == "x").count() <= KEPT_DAYS as usize);
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
