//! The twin's suppression list: per address, a reason and topics.

use super::MemoryStore;
use crate::ports::{StoreError, SuppressionReason, SuppressionState, Suppressions};
use jiff::Timestamp;
use waymark_core::ids::{EmailAddress, ShopDomain};

impl Suppressions for MemoryStore {
    async fn suppression(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
    ) -> Result<Option<SuppressionReason>, StoreError> {
        Ok(self.suppression_state(shop, email).await?.reason)
    }

    async fn suppression_state(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
    ) -> Result<SuppressionState, StoreError> {
        Ok(self
            .lock()
            .suppressions
            .get(&(shop.clone(), email.lookup_key().into_owned()))
            .cloned()
            .unwrap_or_default())
    }

    async fn suppress(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
        reason: SuppressionReason,
        _at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        let slot = s
            .suppressions
            .entry((shop.clone(), email.lookup_key().into_owned()))
            .or_default();
        if slot
            .reason
            .is_none_or(|r| r == SuppressionReason::Unsubscribed)
        {
            slot.reason = Some(reason);
        }
        Ok(())
    }

    async fn suppress_topics(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
        topics: &[String],
        _at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        s.suppressions
            .entry((shop.clone(), email.lookup_key().into_owned()))
            .or_default()
            .topics
            .extend(topics.iter().cloned());
        Ok(())
    }

    async fn lift_unsubscribe(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
        _at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        if let Some(slot) = s
            .suppressions
            .get_mut(&(shop.clone(), email.lookup_key().into_owned()))
        {
            if slot.reason == Some(SuppressionReason::Unsubscribed) {
                slot.reason = None;
            }
            slot.topics.clear();
        }
        Ok(())
    }
}
