//! The twin's inbox (deduplicated events, the in-memory stream),
//! allowances and results counters.

use super::MemoryStore;
use crate::ports::{Inbox, Receipt, Recorded, Rejected, StoreError};
use jiff::Timestamp;
use waymark_core::event::Event;
use waymark_core::ids::ShopDomain;

impl Inbox for MemoryStore {
    async fn record(&self, receipt: &Receipt, event: &Event) -> Result<Recorded, StoreError> {
        let mut s = self.lock();
        debug_assert_eq!(receipt.shop, event.shop);
        let e = (event.shop.clone(), event.id.clone());
        if let Some(by) = s.events.get(&e) {
            return Ok(if *by == event.source.delivery_id {
                Recorded::Again
            } else {
                Recorded::Duplicate
            });
        }
        s.events.insert(e, event.source.delivery_id.clone());
        s.stream.push(event.clone());
        Ok(Recorded::New)
    }

    async fn reject(&self, rejected: &Rejected) -> Result<(), StoreError> {
        self.lock().rejected.push(rejected.clone());
        Ok(())
    }
}

impl crate::ports::Allowances for MemoryStore {
    async fn take(&self, take: &waymark_core::ratelimit::Take) -> Result<bool, StoreError> {
        let mut state = self.lock();
        // What DynamoDB's TTL would have removed by now.
        state
            .allowances
            .retain(|_, (_, expires)| *expires > take.window_start);
        let key = (take.shop.clone(), take.name.clone(), take.window_start);
        let (count, _) = state.allowances.entry(key).or_insert((0, take.expires_at));
        if u64::from(*count) + u64::from(take.n) > u64::from(take.max) {
            return Ok(false);
        }
        *count += take.n;
        Ok(true)
    }
}

impl crate::ports::Counters for MemoryStore {
    async fn count_once(
        &self,
        shop: &ShopDomain,
        once: &str,
        _at: Timestamp,
        counts: &waymark_core::analytics::Counts,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if !s.receipts.insert((shop.clone(), format!("count#{once}"))) {
            return Ok(false);
        }
        s.counts
            .entry(shop.clone())
            .or_default()
            .merge(counts.clone());
        Ok(true)
    }

    async fn read_counts(
        &self,
        shop: &ShopDomain,
        from: jiff::civil::Date,
        to: jiff::civil::Date,
    ) -> Result<waymark_core::analytics::Counts, StoreError> {
        let s = self.lock();
        let mut out = waymark_core::analytics::Counts::default();
        if let Some(all) = s.counts.get(shop) {
            for (key, fields) in &all.0 {
                if key.day >= from && key.day <= to {
                    for (f, n) in fields {
                        out.add(key, f, *n);
                    }
                }
            }
        }
        Ok(out)
    }
}
