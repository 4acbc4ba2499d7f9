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

/// Products remembered as viewed, and as bought.
pub(super) const VIEWED_KEPT: usize = 20;
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
    if list.len() > kept {
        list.remove(0);
    }
}
