//! Products a contact viewed and bought, newest last, a bounded list each.

use crate::money::Money;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A product as the profile remembers it. Its texts are shared, so copying
/// a profile (every event loads one) does not copy them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    pub product_id: Option<u64>,
    pub title: Option<Arc<str>>,
    #[serde(default)]
    pub category: Option<Arc<str>>,
    #[serde(default)]
    pub price: Option<Money>,
    #[serde(default)]
    pub url: Option<Arc<str>>,
    #[serde(default)]
    pub image: Option<Arc<str>>,
    pub at: Timestamp,
}

/// Products remembered as viewed: what an email shows of them (the newest
/// six, `contact.viewed` in templates). No rule reads older views (counts
/// and windows read the activity counters), and every storefront event
/// writes the item this list lives on, so more would only be carried.
pub const VIEWED_KEPT: usize = 6;
/// Products remembered as bought (cross-sell and replenishment read them).
pub(super) const BOUGHT_KEPT: usize = 50;

/// Adds a product to a bounded, newest-last list (a product seen again moves
/// to the end).
pub(super) fn remember(list: &mut Vec<Seen>, seen: Seen, kept: usize) {
    if let Some(i) = list.iter().position(|x| {
        (x.product_id.is_some() && x.product_id == seen.product_id)
            || (x.product_id.is_none() && x.title == seen.title)
    }) {
        list.remove(i);
    }
    list.push(seen);
    // A list stored under a larger bound shrinks on its next change.
    if list.len() > kept {
        list.drain(..list.len() - kept);
    }
}

/// Two contacts' lists as one: each product once, at its newest time, the
/// newest `kept`, newest last.
pub(super) fn merged(mine: &[Seen], theirs: &[Seen], kept: usize) -> Vec<Seen> {
    let mut all: Vec<&Seen> = mine.iter().chain(theirs).collect();
    all.sort_by_key(|s| s.at);
    let mut out = Vec::with_capacity(kept);
    for s in all {
        remember(&mut out, s.clone(), kept);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(id: u64, hour: i64) -> Seen {
        Seen {
            product_id: Some(id),
            title: None,
            category: None,
            price: None,
            url: None,
            image: None,
            at: Timestamp::UNIX_EPOCH + jiff::SignedDuration::from_hours(hour),
        }
    }

    fn ids(list: &[Seen]) -> Vec<u64> {
        list.iter().filter_map(|s| s.product_id).collect()
    }

    #[test]
    fn a_list_kept_under_a_larger_bound_shrinks_on_its_next_view() {
        let mut list: Vec<Seen> = (0..20).map(|i| seen(i, i as i64)).collect();
        remember(&mut list, seen(3, 30), VIEWED_KEPT);
        assert_eq!(ids(&list), vec![15, 16, 17, 18, 19, 3]);
    }

    #[test]
    fn merged_lists_keep_the_newest_of_both_each_product_once() {
        // Hers are newer than his, and both viewed product 2.
        let mine: Vec<Seen> = (10..16).map(|i| seen(i, 100 + i as i64)).collect();
        let theirs = vec![seen(1, 1), seen(2, 2), seen(12, 200)];
        let m = merged(&mine, &theirs, VIEWED_KEPT);
        assert_eq!(ids(&m), vec![10, 11, 13, 14, 15, 12]);
        assert_eq!(m.last().unwrap().at, seen(0, 200).at);
    }
}
