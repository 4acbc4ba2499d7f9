//! Which email earned an order: the last email the contact clicked within
//! the click window, else the last one opened within the open window (both
//! 5 days unless `journeys/_defaults.yaml` says `attribution:`). One order
//! goes to one email, so revenue is never counted for two journeys. A
//! machine's open or click (a privacy proxy, a link scanner) earns nothing:
//! only a person's counts. What a refund or cancellation takes back comes
//! off the same email's journey.

use crate::journey::Run;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// The attribution windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub click: SignedDuration,
    pub open: SignedDuration,
}

impl Default for Windows {
    fn default() -> Self {
        Self {
            click: SignedDuration::from_hours(24 * 5),
            open: SignedDuration::from_hours(24 * 5),
        }
    }
}

/// The email an order is attributed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touch {
    pub journey: String,
    pub version: u32,
    pub step: String,
    /// The run's split decisions (`step=branch`), so branches earn too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
    pub at: Timestamp,
    pub clicked: bool,
}

/// An attributed order, kept on the contact (the newest
/// [`ATTRIBUTED_KEPT`]) so a refund or cancellation finds its email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributed {
    pub order_id: u64,
    pub touch: Touch,
    pub currency: String,
    /// What is still counted (minor units): the total less refunds.
    pub remaining: i64,
}

/// Attributed orders a contact keeps (refunds come within weeks).
pub const ATTRIBUTED_KEPT: usize = 20;

/// The email an order placed at `at` is attributed to, if any.
pub fn touch(runs: &[Run], at: Timestamp, windows: &Windows) -> Option<Touch> {
    let latest = |want_click: bool, window: SignedDuration| {
        runs.iter()
            .flat_map(|r| r.clicks.iter().map(move |c| (r, c)))
            .filter(|(_, c)| c.open != want_click && !c.machine)
            .filter(|(_, c)| c.at <= at && at.duration_since(c.at) <= window)
            .max_by_key(|(_, c)| c.at)
            .map(|(r, c)| Touch {
                journey: r.journey.clone(),
                version: r.version,
                step: c.step.clone(),
                path: r.path.clone(),
                at: c.at,
                clicked: want_click,
            })
    };
    latest(true, windows.click).or_else(|| latest(false, windows.open))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::{Click, RunStatus};

    fn run(journey: &str, clicks: Vec<Click>) -> Run {
        let at: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
        Run {
            journey: journey.into(),
            version: 2,
            key: "contact".into(),
            entry: 0,
            status: RunStatus::Active,
            step: 0,
            wait_until: None,
            entered_at: at,
            trigger_at: at,
            cursor: at,
            ended_at: None,
            end_reason: None,
            trigger: crate::event::EventKind::ShopRedacted,
            matched: None,
            sent: vec![],
            path: vec!["subject=b".into()],
            clicks,
        }
    }

    fn click(step: &str, at: &str, open: bool) -> Click {
        Click {
            step: step.into(),
            link: (!open).then(|| "https://demo-store.example/".into()),
            at: at.parse().unwrap(),
            open,
            machine: false,
        }
    }

    #[test]
    fn a_machine_open_or_click_earns_nothing() {
        let mut scanned = click("w1", "2026-11-22T10:00:00Z", false);
        scanned.machine = true;
        let mut proxied = click("b1", "2026-11-22T11:00:00Z", true);
        proxied.machine = true;
        let person = click("b2", "2026-11-21T10:00:00Z", true);
        let at = "2026-11-23T10:00:00Z".parse().unwrap();
        let runs = vec![
            run("welcome", vec![scanned.clone()]),
            run("browse", vec![proxied.clone(), person]),
        ];
        let t = touch(&runs, at, &Windows::default()).unwrap();
        assert_eq!((t.step.as_str(), t.clicked), ("b2", false));
        let runs = vec![run("welcome", vec![scanned, proxied])];
        assert_eq!(touch(&runs, at, &Windows::default()), None);
    }

    #[test]
    fn a_click_in_the_window_beats_a_later_open() {
        let runs = vec![
            run("welcome", vec![click("w1", "2026-11-20T10:00:00Z", false)]),
            run("browse", vec![click("b1", "2026-11-22T10:00:00Z", true)]),
        ];
        let t = touch(
            &runs,
            "2026-11-23T10:00:00Z".parse().unwrap(),
            &Windows::default(),
        )
        .unwrap();
        assert_eq!(
            (t.journey.as_str(), t.step.as_str(), t.clicked),
            ("welcome", "w1", true)
        );
        assert_eq!(t.version, 2);
        assert_eq!(t.path, vec!["subject=b".to_string()]);
    }

    #[test]
    fn an_open_counts_when_no_click_is_in_its_window() {
        let runs = vec![
            run("welcome", vec![click("w1", "2026-11-10T10:00:00Z", false)]),
            run("browse", vec![click("b1", "2026-11-22T10:00:00Z", true)]),
        ];
        let t = touch(
            &runs,
            "2026-11-23T10:00:00Z".parse().unwrap(),
            &Windows::default(),
        )
        .unwrap();
        assert_eq!((t.journey.as_str(), t.clicked), ("browse", false));
    }

    #[test]
    fn nothing_outside_the_windows_and_nothing_after_the_order() {
        let runs = vec![run(
            "welcome",
            vec![
                click("w1", "2026-11-17T09:59:59Z", false),
                click("w2", "2026-11-23T10:00:01Z", false),
            ],
        )];
        assert_eq!(
            touch(
                &runs,
                "2026-11-22T10:00:00Z".parse().unwrap(),
                &Windows::default()
            )
            .map(|t| t.step),
            None
        );
        let narrow = Windows {
            click: SignedDuration::from_hours(1),
            open: SignedDuration::from_hours(1),
        };
        assert!(touch(&runs, "2026-11-17T12:00:00Z".parse().unwrap(), &narrow).is_none());
    }
}
