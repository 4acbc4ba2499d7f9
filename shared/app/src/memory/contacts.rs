//! The twin's contacts and lookups: contacts in numbered slots (which the
//! inactivity index holds), each shop's aliases, and the index itself.

use super::{HashMap, MemoryStore, State};
use crate::ports::{ContactState, IdleBatch, IdleIndex, StoreError};
use jiff::Timestamp;
use waymark_core::contact::Contact;
use waymark_core::event::Identity;
use waymark_core::ids::{ContactId, ShopDomain};

/// A shop's lookups (customer id, email, order, browser, contract → contact),
/// one typed map each so a lookup builds no key.
#[derive(Default)]
pub(super) struct Aliases {
    pub(super) customer: HashMap<u64, ContactId>,
    pub(super) email: HashMap<String, ContactId>,
    pub(super) order: HashMap<u64, ContactId>,
    pub(super) anonymous: HashMap<String, ContactId>,
    pub(super) contract: HashMap<u64, ContactId>,
}

impl Aliases {
    pub(super) fn len(&self) -> usize {
        self.customer.len()
            + self.email.len()
            + self.order.len()
            + self.anonymous.len()
            + self.contract.len()
    }

    /// Maps every lookup of `identity` not mapped yet to `id`.
    pub(super) fn claim(&mut self, identity: &Identity, id: &ContactId) {
        if let Some(c) = identity.customer_id {
            self.customer.entry(c).or_insert_with(|| id.clone());
        }
        if let Some(e) = &identity.email {
            self.email
                .entry(e.lookup_key().into_owned())
                .or_insert_with(|| id.clone());
        }
        if let Some(o) = identity.order_id {
            self.order.entry(o).or_insert_with(|| id.clone());
        }
        if let Some(a) = &identity.anonymous_id {
            self.anonymous
                .entry(a.clone())
                .or_insert_with(|| id.clone());
        }
        if let Some(k) = identity.contract_id {
            self.contract.entry(k).or_insert_with(|| id.clone());
        }
    }
}

/// Contacts in numbered slots, found by shop then id; the inactivity index
/// holds slot numbers, so moving a contact between days copies no key. A
/// slot's contact carries its own key (`contact.shop`, `contact.id`).
#[derive(Default)]
pub(super) struct Contacts {
    slots: HashMap<ShopDomain, HashMap<ContactId, u32>>,
    stored: Vec<Option<ContactState>>,
    free: Vec<u32>,
}

impl Contacts {
    pub(super) fn slot(&self, shop: &ShopDomain, id: &ContactId) -> Option<u32> {
        self.slots.get(shop)?.get(id).copied()
    }

    pub(super) fn at(&self, slot: u32) -> &ContactState {
        self.stored[slot as usize]
            .as_ref()
            .expect("a mapped slot holds a contact")
    }

    pub(super) fn at_mut(&mut self, slot: u32) -> &mut ContactState {
        self.stored[slot as usize]
            .as_mut()
            .expect("a mapped slot holds a contact")
    }

    pub(super) fn get(&self, shop: &ShopDomain, id: &ContactId) -> Option<&ContactState> {
        self.slot(shop, id).map(|i| self.at(i))
    }

    /// Stores a new contact (the caller checked it is new); returns its slot.
    pub(super) fn insert(
        &mut self,
        shop: &ShopDomain,
        id: &ContactId,
        stored: ContactState,
    ) -> u32 {
        let slot = match self.free.pop() {
            Some(i) => {
                self.stored[i as usize] = Some(stored);
                i
            }
            None => {
                self.stored.push(Some(stored));
                (self.stored.len() - 1) as u32
            }
        };
        match self.slots.get_mut(shop) {
            Some(m) => {
                m.insert(id.clone(), slot);
            }
            None => {
                self.slots
                    .entry(shop.clone())
                    .or_default()
                    .insert(id.clone(), slot);
            }
        }
        slot
    }

    pub(super) fn remove(
        &mut self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> Option<(u32, ContactState)> {
        let slot = self.slots.get_mut(shop)?.remove(id)?;
        let state = self.stored[slot as usize].take()?;
        self.free.push(slot);
        Some((slot, state))
    }

    pub(super) fn len(&self) -> usize {
        self.stored.len() - self.free.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &ContactState> {
        self.stored.iter().flatten()
    }
}

fn idle_day(idle_at: Option<Timestamp>) -> Option<i32> {
    idle_at.map(waymark_core::activity::day_of)
}

impl State {
    /// Moves a contact from the bucket of its old `idle_at` day to its new one.
    pub(super) fn index_idle(&mut self, slot: u32, old: Option<Timestamp>, new: Option<Timestamp>) {
        let (old, day) = (idle_day(old), idle_day(new));
        if old == day {
            return;
        }
        if let Some(d) = old {
            self.idle.remove(&(d, slot));
        }
        if let Some(d) = day {
            self.idle.insert((d, slot));
        }
    }

    /// Replaces a merged contact by its tombstone: its runs, memberships
    /// and index entries go.
    pub(super) fn retire_contact(&mut self, shop: &ShopDomain, id: &ContactId, tombstone: Contact) {
        let Some(slot) = self.contacts.slot(shop, id) else {
            return;
        };
        let state = self.contacts.at_mut(slot);
        let old = std::mem::replace(
            state,
            ContactState {
                contact: tombstone,
                version: state.version + 1,
                recent_events: Default::default(),
                runs: Vec::new(),
            },
        );
        for seg in &old.contact.audience.segments {
            if let Some(m) = self.members.get_mut(&(shop.clone(), seg.clone())) {
                m.remove(id);
            }
        }
        self.index_idle(slot, old.contact.schedule.idle_at, None);
    }

    /// Removes a contact and everything keyed on it; returns items removed.
    pub(super) fn remove_contact(&mut self, shop: &ShopDomain, id: &ContactId) -> u64 {
        let mut n = 0;
        if let Some((slot, state)) = self.contacts.remove(shop, id) {
            n += 1 + state.runs.len() as u64;
            for seg in &state.contact.audience.segments {
                if let Some(m) = self.members.get_mut(&(shop.clone(), seg.clone())) {
                    n += u64::from(m.remove(id).is_some());
                }
            }
            self.index_idle(slot, state.contact.schedule.idle_at, None);
        }
        n
    }
}

impl IdleIndex for MemoryStore {
    async fn idle_between(&self, from: i32, to: i32) -> Result<IdleBatch, StoreError> {
        let s = self.lock();
        let mut contacts: Vec<_> = s
            .idle
            .range((from, 0)..=(to, u32::MAX))
            .map(|&(_, slot)| {
                let c = &s.contacts.at(slot).contact;
                (c.shop.clone(), c.id.clone())
            })
            .collect();
        contacts.sort();
        Ok(IdleBatch {
            items_read: contacts.len() as u64,
            contacts,
        })
    }

    async fn sweep_cursor(&self) -> Result<Option<i32>, StoreError> {
        Ok(self.lock().sweep_cursor)
    }

    async fn set_sweep_cursor(&self, day: i32) -> Result<(), StoreError> {
        self.lock().sweep_cursor = Some(day);
        Ok(())
    }
}
