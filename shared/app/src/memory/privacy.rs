//! The twin's erasures: a person's items and lookups, or a whole shop's.

use super::MemoryStore;
use crate::ports::{Erasure, Privacy, StoreError};
use jiff::Timestamp;
use waymark_core::ids::{ContactId, ShopDomain};

impl Privacy for MemoryStore {
    async fn erase(&self, e: &Erasure) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let mut n = 0;
        for id in e.contact.iter().chain(&e.merged) {
            n += s.remove_contact(&e.shop, id);
        }
        if let Some(a) = s.aliases.get_mut(&e.shop) {
            let gone = e
                .emails
                .iter()
                .filter(|m| a.email.remove(&*m.lookup_key()).is_some())
                .count()
                + e.customer_id
                    .iter()
                    .filter(|c| a.customer.remove(c).is_some())
                    .count()
                + e.orders
                    .iter()
                    .filter(|o| a.order.remove(o).is_some())
                    .count()
                + e.contracts
                    .iter()
                    .filter(|k| a.contract.remove(k).is_some())
                    .count()
                + e.anonymous_ids
                    .iter()
                    .filter(|x| a.anonymous.remove(*x).is_some())
                    .count();
            n += gone as u64;
        }
        for seg in &e.segments {
            if let (Some(m), Some(id)) = (
                s.members.get_mut(&(e.shop.clone(), seg.clone())),
                &e.contact,
            ) {
                n += u64::from(m.remove(id).is_some());
            }
        }
        for m in &e.messages {
            n += u64::from(s.outbox.remove(&format!("{}/{m}", e.shop)).is_some());
        }
        for ev in &e.events {
            n += u64::from(s.events.remove(&(e.shop.clone(), ev.clone())).is_some());
        }
        let contact = e.contact.clone();
        s.stream
            .retain(|ev| !(ev.shop == e.shop && contact.is_some() && e.events.contains(&ev.id)));
        Ok(n)
    }

    async fn erase_shop(&self, shop: &ShopDomain, _at: Timestamp) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let aliases = s.aliases.remove(shop).map_or(0, |a| a.len());
        let before = s.contacts.len() + s.outbox.len() + s.events.len();
        let ids: Vec<ContactId> = s
            .contacts
            .iter()
            .filter(|st| &st.contact.shop == shop)
            .map(|st| st.contact.id.clone())
            .collect();
        for id in &ids {
            s.remove_contact(shop, id);
        }
        s.outbox.retain(|_, e| &e.message.shop != shop);
        s.events.retain(|(sh, _), _| sh != shop);
        s.receipts.retain(|(sh, _)| sh != shop);
        s.stream.retain(|e| &e.shop != shop);
        s.rejected.retain(|r| &r.receipt.shop != shop);
        s.members.retain(|(sh, _), _| sh != shop);
        s.suppressions.retain(|(sh, _), _| sh != shop);
        let after = s.contacts.len() + s.outbox.len() + s.events.len();
        Ok((before - after + aliases) as u64)
    }
}
