//! What a contact did, counted per day: the windowed facts segment conditions
//! read ("placed ≥ 3 orders in 365 days", "viewed category TV ≥ 2 times in 7
//! days"). Bounded: days older than [`KEPT_DAYS`] fall off, and at most
//! [`MAX_KEYS`] counters are kept (the least recently touched goes first), so
//! a contact document stays small whatever the contact does.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
/// `page_viewed:pricing`), each a short list of days, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Activity(BTreeMap<String, Vec<Day>>);

/// The UTC day number of an instant.
pub fn day_of(at: Timestamp) -> i32 {
    at.as_second().div_euclid(86_400) as i32
}

/// The instant a day starts.
pub fn day_start(d: i32) -> Timestamp {
    Timestamp::from_second(i64::from(d) * 86_400).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A counter key: the event name, or the event name and a detail, lowercased.
pub fn key(event: &str, detail: Option<&str>) -> String {
    match detail {
        Some(d) => format!("{event}:{}", d.trim().to_lowercase()),
        None => event.to_string(),
    }
}

impl Activity {
    /// Counts one occurrence at `at` with an amount (0 if none).
    pub fn add(&mut self, key: &str, at: Timestamp, sum: i64) {
        let d = day_of(at);
        if !self.0.contains_key(key) {
            self.0.insert(key.to_string(), Vec::new());
        }
        let Some(days) = self.0.get_mut(key) else {
            return;
        };
        match days.binary_search_by_key(&d, |x| x.d) {
            Ok(i) => {
                days[i].n = days[i].n.saturating_add(1);
                days[i].sum = days[i].sum.saturating_add(sum);
            }
            Err(i) => days.insert(i, Day { d, n: 1, sum }),
        }
        let oldest = d - KEPT_DAYS as i32;
        days.retain(|x| x.d > oldest);
        if self.0.len() > MAX_KEYS {
            // Drop the counter whose newest day is oldest.
            if let Some(stale) = self
                .0
                .iter()
                .filter(|(k, _)| k.as_str() != key)
                .min_by_key(|(_, v)| v.last().map_or(i32::MIN, |x| x.d))
                .map(|(k, _)| k.clone())
            {
                self.0.remove(&stale);
            }
        }
    }

    /// Count and sum of a counter over the days within `within` of `now`
    /// (whole days: the window starts at the day `now - within` falls in);
    /// the whole history when `within` is `None`.
    pub fn total(&self, key: &str, within: Option<SignedDuration>, now: Timestamp) -> (u32, i64) {
        let from = within.map_or(i32::MIN, |w| {
            day_of(now.checked_sub(w).unwrap_or(Timestamp::MIN))
        });
        let to = day_of(now);
        self.0.get(key).map_or((0, 0), |days| {
            days.iter()
                .filter(|x| x.d >= from && x.d <= to)
                .fold((0, 0), |(n, s), x| (n + x.n, s + x.sum))
        })
    }

    /// The first instant after `now` at which a windowed total of `key`
    /// changes because a day leaves the window.
    pub fn next_expiry(
        &self,
        key: &str,
        within: SignedDuration,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let from = day_of(now.checked_sub(within).unwrap_or(Timestamp::MIN));
        let days = self.0.get(key)?;
        let first = days.iter().find(|x| x.d >= from)?;
        // Day `first.d` stays in the window while `now - within` is in it or before.
        day_start(first.d + 1).checked_add(within).ok()
    }

    /// Forgets everything (privacy erasure).
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Folds another contact's history in (identity merge).
    pub fn merge(&mut self, other: &Activity) {
        for (k, days) in &other.0 {
            let mine = self.0.entry(k.clone()).or_default();
            for x in days {
                match mine.binary_search_by_key(&x.d, |y| y.d) {
                    Ok(i) => {
                        mine[i].n = mine[i].n.saturating_add(x.n);
                        mine[i].sum = mine[i].sum.saturating_add(x.sum);
                    }
                    Err(i) => mine.insert(i, *x),
                }
            }
        }
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
        assert_eq!(a.0.len(), MAX_KEYS);
        for d in 0..1000 {
            a.add(
                "x",
                t("2024-01-01T00:00:00Z") + SignedDuration::from_hours(24 * d),
                0,
            );
        }
        assert!(a.0["x"].len() <= KEPT_DAYS as usize);
    }
}
