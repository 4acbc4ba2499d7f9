//! RFM: recency, frequency and monetary scores 1–5 from a customer's orders,
//! and the classic named cells they fall in. The thresholds are the store's
//! (`rfm:` in `segments/_audience.yaml`), with defaults suited to a typical
//! store (days since the last order; number of orders; total spent in the
//! shop's currency units). The engine keeps each contact's scores current
//! (`Contact::rfm`), and when they next change by time alone.

use crate::contact::Contact;
pub use score::{CELLS, Rfm};

pub mod score;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

/// Days since the last order at or below which recency scores 5, 4, 3, 2.
pub const RECENCY_DAYS: [i64; 4] = [30, 90, 180, 365];
/// Orders at or above which frequency scores 2, 3, 4, 5.
pub const FREQUENCY: [u32; 4] = [2, 3, 4, 6];
/// Total spent (major units) at or above which monetary scores 2, 3, 4, 5.
pub const MONETARY: [i64; 4] = [50, 150, 300, 750];

/// A store's RFM thresholds, each four ascending values for scores 2–5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Days since the last order at or below which recency scores 5, 4, 3, 2.
    pub recency_days: [i64; 4],
    /// Orders at or above which frequency scores 2, 3, 4, 5.
    pub frequency: [u32; 4],
    /// Total spent (major units) at or above which monetary scores 2, 3, 4, 5.
    pub monetary: [i64; 4],
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            recency_days: RECENCY_DAYS,
            frequency: FREQUENCY,
            monetary: MONETARY,
        }
    }
}

impl Thresholds {
    /// What is wrong with them, if anything (each list strictly ascending
    /// and positive).
    pub fn problem(&self) -> Option<String> {
        fn ascending<T: PartialOrd + Copy + Default>(v: &[T; 4]) -> bool {
            v[0] > T::default() && v.windows(2).all(|w| w[0] < w[1])
        }
        if !ascending(&self.recency_days) {
            return Some("rfm: `recency_days` must be four ascending positive numbers".into());
        }
        if !ascending(&self.frequency) {
            return Some("rfm: `frequency` must be four ascending positive numbers".into());
        }
        if !ascending(&self.monetary) {
            return Some("rfm: `monetary` must be four ascending positive numbers".into());
        }
        None
    }
}

impl Rfm {
    /// The contact's scores at `now` under the default thresholds; `None`
    /// before a first order.
    pub fn of(contact: &Contact, now: Timestamp) -> Option<Self> {
        Self::with(contact, now, &Thresholds::default())
    }

    /// The contact's scores at `now` under a store's thresholds.
    pub fn with(contact: &Contact, now: Timestamp, t: &Thresholds) -> Option<Self> {
        let last = contact.commerce.last_order_at?;
        if contact.commerce.order_count == 0 {
            return None;
        }
        let days = now.duration_since(last).as_secs().max(0) / 86_400;
        let r = 5 - t.recency_days.iter().filter(|&&d| days > d).count() as u8;
        let f = 1 + t
            .frequency
            .iter()
            .filter(|&&n| contact.commerce.order_count >= n)
            .count() as u8;
        let spent = contact
            .commerce
            .total_spent
            .as_ref()
            .map_or(0, |m| m.major_units());
        let m = 1 + t.monetary.iter().filter(|&&v| spent >= v).count() as u8;
        Some(Self { r, f, m })
    }

    /// When the recency score next drops after `now` (the scores change
    /// with time alone only through recency).
    pub fn next_change(contact: &Contact, now: Timestamp) -> Option<Timestamp> {
        Self::next_change_with(contact, now, &Thresholds::default())
    }

    /// The same under a store's thresholds.
    pub fn next_change_with(
        contact: &Contact,
        now: Timestamp,
        t: &Thresholds,
    ) -> Option<Timestamp> {
        let last = contact.commerce.last_order_at?;
        t.recency_days
            .iter()
            .filter_map(|d| {
                last.checked_add(SignedDuration::from_hours(24 * d + 24))
                    .ok()
            })
            .find(|t| *t > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ContactId, ShopDomain};
    use crate::money::Money;

    fn customer(orders: u32, spent: &str, last: &str) -> Contact {
        let mut c = Contact::new(
            ContactId::for_customer(1),
            ShopDomain::parse("demo.myshopify.com").unwrap(),
            "2025-01-01T00:00:00Z".parse().unwrap(),
        );
        c.commerce.order_count = orders;
        c.commerce.total_spent = Some(Money::parse(spent, "EUR").unwrap());
        c.commerce.last_order_at = Some(last.parse().unwrap());
        c
    }

    #[test]
    fn scores_and_cells() {
        let now: Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
        let champ = Rfm::of(&customer(8, "1200.00", "2026-05-20T00:00:00Z"), now).unwrap();
        assert_eq!(champ, Rfm { r: 5, f: 5, m: 5 });
        assert_eq!(champ.cell(), "champions");
        let new = Rfm::of(&customer(1, "40.00", "2026-05-25T00:00:00Z"), now).unwrap();
        assert_eq!((new.cell(), new.m), ("new_customers", 1));
        let cant_lose = Rfm::of(&customer(6, "900.00", "2025-01-10T00:00:00Z"), now).unwrap();
        assert_eq!(cant_lose.cell(), "cant_lose");
        let lost = Rfm::of(&customer(1, "20.00", "2024-01-10T00:00:00Z"), now).unwrap();
        assert_eq!(lost.cell(), "lost");
        let mut none = customer(0, "0", "2026-05-20T00:00:00Z");
        none.commerce.last_order_at = None;
        assert_eq!(Rfm::of(&none, now), None);
        // Every (r, f) pair has a cell from the list.
        for r in 1..=5 {
            for f in 1..=5 {
                assert!(CELLS.contains(&Rfm { r, f, m: 1 }.cell()));
            }
        }
    }

    #[test]
    fn recency_drops_on_schedule() {
        let c = customer(2, "100.00", "2026-01-01T00:00:00Z");
        let next = Rfm::next_change(&c, "2026-01-15T00:00:00Z".parse().unwrap()).unwrap();
        let before = Rfm::of(&c, next - SignedDuration::from_secs(1)).unwrap();
        let after = Rfm::of(&c, next).unwrap();
        assert_eq!((before.r, after.r), (5, 4));
    }
}
