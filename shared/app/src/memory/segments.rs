//! The twin's segment memberships.

use super::MemoryStore;
use crate::ports::{Member, Segments, StoreError};
use waymark_core::ids::ShopDomain;

impl Segments for MemoryStore {
    async fn count(&self, shop: &ShopDomain, segment: &str) -> Result<u64, StoreError> {
        Ok(self
            .lock()
            .members
            .get(&(shop.clone(), segment.to_string()))
            .map_or(0, |m| m.len() as u64))
    }

    async fn members(&self, shop: &ShopDomain, segment: &str) -> Result<Vec<Member>, StoreError> {
        Ok(self.lock().members_of(shop, segment))
    }
}
