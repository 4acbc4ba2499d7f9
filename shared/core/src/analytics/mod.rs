//! Results: what each journey (and campaign) sends, earns and converts.
//!
//! Counted as the facts happen, never by scanning: every fact adds to a
//! counter keyed by (day in the shop's zone, journey, version, step). The
//! writes that make a fact true carry its counts (the processor's commit,
//! a deduplicated feedback receipt, the send), so a redelivered fact is
//! never counted twice. [`report`] turns counter rows into the report.

pub mod attribution;
pub mod export;
pub mod report;
mod tally;

pub use attribution::{Attributed, Touch, Windows};
pub use tally::{ProcessedFacts, processed};

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The journey name the store-wide counters (KPIs) are kept under.
pub const STORE: &str = "_store";

/// The measures, as stored (attribute names of a counter item).
pub mod field {
    pub const ENTERED: &str = "entered";
    pub const COMPLETED: &str = "completed";
    pub const EXITED: &str = "exited";
    /// `exited:<reason>`: exits by reason.
    pub const EXITED_BY: &str = "exited:";
    pub const CONVERTED: &str = "converted";
    pub const SENT: &str = "sent";
    pub const DELIVERED: &str = "delivered";
    /// Unique per message, machine opens left out.
    pub const OPENED: &str = "opened";
    /// Opens by a privacy proxy or link scanner (unique per message).
    pub const MACHINE_OPENED: &str = "machine_opened";
    /// Unique per message, machine clicks left out.
    pub const CLICKED: &str = "clicked";
    /// Clicks by a link scanner (its user agent, or within seconds of the
    /// send), unique per message: an A/B test by clicks must not be won by
    /// a company's mail filter.
    pub const MACHINE_CLICKED: &str = "machine_clicked";
    pub const BOUNCED: &str = "bounced";
    /// Messages not sent because the address is suppressed (read at send).
    pub const SUPPRESSED: &str = "suppressed";
    /// Campaign emails not sent because their campaign was cancelled
    /// (held for the recipient's local time, or queued, when it was).
    pub const STOPPED: &str = "stopped";
    /// Messages parked after their retries (or a permanent failure).
    pub const FAILED: &str = "failed";
    /// Messages sent again after an attempt whose outcome was never known
    /// (the provider's answer lost, or the sender stopped before recording
    /// it): each may have reached its recipient twice.
    pub const MAYBE_DUPLICATED: &str = "maybe_duplicated";
    pub const COMPLAINED: &str = "complained";
    pub const UNSUBSCRIBED: &str = "unsubscribed";
    /// Attributed orders (net of cancellations).
    pub const ORDERS: &str = "orders";
    /// `revenue:<ISO currency>`, in minor units (net of refunds).
    pub const REVENUE: &str = "revenue:";
    // Store-wide (journey `_store`, step ""):
    pub const STORE_ORDERS: &str = "store_orders";
    pub const STORE_REVENUE: &str = "store_revenue:";
    /// `store_orders_in:<ISO currency>`: orders with a total in that
    /// currency (an average order value divides by its own currency's).
    pub const STORE_ORDERS_IN: &str = "store_orders_in:";
    pub const REPEAT_ORDERS: &str = "repeat_orders";
    /// Checkouts a journey followed (a run keyed on the checkout).
    pub const CHECKOUTS: &str = "checkouts";
    /// Of those, checkouts abandoned: not completed before the journey's
    /// first reminder went (counted when it goes).
    pub const ABANDONED: &str = "abandoned_checkouts";
    /// Abandoned checkouts completed by an order while their run was on.
    pub const RECOVERED: &str = "recovered_checkouts";
    pub const SUBSCRIBED: &str = "subscribed";

    /// The measures of one message. Each is counted on its step's row
    /// alone (one counter item a fact, not two); a journey's total is the
    /// sum of its steps' (see [`super::Counts::with_message_totals`]).
    pub const PER_MESSAGE: [&str; 13] = [
        SENT,
        DELIVERED,
        OPENED,
        MACHINE_OPENED,
        CLICKED,
        MACHINE_CLICKED,
        BOUNCED,
        COMPLAINED,
        UNSUBSCRIBED,
        SUPPRESSED,
        STOPPED,
        FAILED,
        MAYBE_DUPLICATED,
    ];
}

/// Where a count goes. `step` is `""` for the journey as a whole, a step id,
/// or `<split step>=<branch>` for a split's branch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key {
    pub day: Date,
    pub journey: String,
    pub version: u32,
    pub step: String,
}

impl Key {
    pub fn new(day: Date, journey: &str, version: u32, step: &str) -> Self {
        Self {
            day,
            journey: journey.to_string(),
            version,
            step: step.to_string(),
        }
    }

    /// The branch of a split, when the key is one: (split step, branch).
    pub fn split(&self) -> Option<(&str, &str)> {
        self.step.split_once('=')
    }
}

/// Counts to add, by key and measure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(pub BTreeMap<Key, BTreeMap<String, i64>>);

impl Counts {
    pub fn add(&mut self, key: &Key, field: &str, n: i64) {
        if n == 0 {
            return;
        }
        *self
            .0
            .entry(key.clone())
            .or_default()
            .entry(field.to_string())
            .or_default() += n;
    }

    pub fn is_empty(&self) -> bool {
        self.0.values().all(|m| m.values().all(|n| *n == 0))
    }

    /// Counts a measure of one message (`field::PER_MESSAGE`) of the
    /// journey `key` names: on the message's step row, or on the journey's
    /// row when the step is not known.
    pub fn add_message(&mut self, key: &Key, step: Option<&str>, field: &str, n: i64) {
        match step.filter(|s| !s.is_empty()) {
            Some(step) => self.add(
                &Key {
                    step: step.to_string(),
                    ..key.clone()
                },
                field,
                n,
            ),
            None => self.add(key, field, n),
        }
    }

    /// The counts with each journey's per-message totals filled in, per
    /// day: the sum of its steps' rows, or its own row's count where that
    /// is larger (rows written before messages were counted per step alone
    /// carry both, and a message without a known step only the journey's).
    /// Split branches are not steps and are left out of the sum.
    pub fn with_message_totals(&self) -> Counts {
        let mut sums: BTreeMap<Key, BTreeMap<&str, i64>> = BTreeMap::new();
        for (k, fields) in &self.0 {
            if k.step.is_empty() || k.split().is_some() {
                continue;
            }
            let journey = Key {
                step: String::new(),
                ..k.clone()
            };
            for name in field::PER_MESSAGE {
                if let Some(n) = fields.get(name) {
                    *sums
                        .entry(journey.clone())
                        .or_default()
                        .entry(name)
                        .or_default() += n;
                }
            }
        }
        let mut out = self.clone();
        for (journey, fields) in sums {
            let row = out.0.entry(journey).or_default();
            for (name, n) in fields {
                let have = row.entry(name.to_string()).or_default();
                *have = (*have).max(n);
            }
        }
        out
    }

    pub fn merge(&mut self, other: Counts) {
        for (key, fields) in other.0 {
            for (f, n) in fields {
                self.add(&key, &f, n);
            }
        }
    }

    /// Number of counter items the counts touch.
    pub fn items(&self) -> usize {
        self.0.len()
    }
}

/// The day `at` falls on in `zone`: what a count is filed under.
pub fn day(at: jiff::Timestamp, zone: &jiff::tz::TimeZone) -> Date {
    at.to_zoned(zone.clone()).date()
}

/// Whether an open (or a click) looks like a machine's rather than a
/// person's: a known privacy proxy or link scanner by user agent, or within
/// seconds of the send (scanners fetch and follow links at delivery). Apple
/// Mail Privacy Protection fetches through a proxy whose user agent is a
/// bare `Mozilla/5.0`; a person's browser never sends that alone.
pub fn machine_open(
    user_agent: Option<&str>,
    sent_at: Option<jiff::Timestamp>,
    at: jiff::Timestamp,
) -> bool {
    const SCANNERS: &[&str] = &[
        "barracuda",
        "mimecast",
        "proofpoint",
        "symantec",
        "trendmicro",
        "forcepoint",
        "python-requests",
        "curl/",
        "wget/",
        "go-http-client",
        "bot",
        "spider",
    ];
    if let Some(ua) = user_agent {
        let lower = ua.trim().to_ascii_lowercase();
        if lower == "mozilla/5.0" || SCANNERS.iter().any(|s| lower.contains(s)) {
            return true;
        }
    }
    sent_at.is_some_and(|s| (at - s).get_seconds().abs() < 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_key_and_drop_zeroes() {
        let k = Key::new(jiff::civil::date(2026, 12, 1), "welcome", 1, "");
        let mut c = Counts::default();
        c.add(&k, field::ENTERED, 1);
        c.add(&k, field::ENTERED, 2);
        c.add(&k, field::SENT, 0);
        assert_eq!(c.0[&k][field::ENTERED], 3);
        assert!(!c.0[&k].contains_key(field::SENT));
        assert_eq!(c.items(), 1);
    }

    #[test]
    fn a_day_is_the_shops_local_day() {
        let zone = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let at: jiff::Timestamp = "2026-12-02T03:00:00Z".parse().unwrap();
        assert_eq!(day(at, &zone), jiff::civil::date(2026, 12, 1));
    }

    #[test]
    fn machine_opens_are_told_by_agent_or_timing() {
        let sent: jiff::Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let late: jiff::Timestamp = "2026-12-01T11:00:00Z".parse().unwrap();
        let soon: jiff::Timestamp = "2026-12-01T10:00:03Z".parse().unwrap();
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15";
        assert!(!machine_open(Some(iphone), Some(sent), late));
        assert!(machine_open(Some("Mozilla/5.0"), Some(sent), late));
        assert!(machine_open(Some("Barracuda Sentinel"), Some(sent), late));
        assert!(machine_open(Some(iphone), Some(sent), soon));
        assert!(!machine_open(None, None, late));
    }
}

#[cfg(test)]
mod message_totals_tests {
    use super::*;

    #[test]
    fn a_message_counts_on_its_step_and_the_journey_total_is_summed() {
        let d: Date = "2026-11-30".parse().unwrap();
        let j = Key::new(d, "welcome", 2, "");
        let mut c = Counts::default();
        c.add_message(&j, Some("w1"), field::SENT, 1);
        c.add_message(&j, Some("w2"), field::SENT, 1);
        c.add_message(&j, Some("w2"), field::OPENED, 1);
        c.add(&Key::new(d, "welcome", 2, "split=a"), field::SENT, 5);
        c.add(&j, field::ENTERED, 3);
        // One counter item a fact: the journey's row holds no send.
        assert_eq!(c.0[&j].get(field::SENT), None);
        let t = c.with_message_totals();
        assert_eq!(t.0[&j][field::SENT], 2, "split branches are not steps");
        assert_eq!(t.0[&j][field::OPENED], 1);
        assert_eq!(t.0[&j][field::ENTERED], 3);
        // Rows written the old way (journey and step both) are not doubled.
        let mut old = Counts::default();
        old.add(&j, field::SENT, 4);
        old.add(&Key::new(d, "welcome", 2, "w1"), field::SENT, 3);
        assert_eq!(old.with_message_totals().0[&j][field::SENT], 4);
        // A message whose step is unknown counts on the journey's row.
        let mut unknown = Counts::default();
        unknown.add_message(&j, None, field::DELIVERED, 1);
        assert_eq!(unknown.0[&j][field::DELIVERED], 1);
        // Other journeys and days stay apart.
        let next = Key::new(d.tomorrow().unwrap(), "welcome", 2, "");
        assert!(!t.0.contains_key(&next));
    }
}
