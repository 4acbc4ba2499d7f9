//! The twin's `ContactStore`: lookups, loads, and the all-or-nothing commit
//! (versions checked first, then the contact, runs, merges, memberships and
//! outbox written together).

use super::contacts::Aliases;
use super::{Entry, MemoryStore, State, same_run};
use crate::ports::{
    Commit, CommitError, ContactState, ContactStore, Outbox, Resolution, StoreError, VersionedRun,
};
use waymark_core::event::Identity;
use waymark_core::ids::{ContactId, ShopDomain};
use waymark_core::journey::Run;

impl ContactStore for MemoryStore {
    /// Lookups here are always current (unless a test made the next
    /// `find` late: this answers as they are).
    async fn find_current(
        &self,
        shop: &ShopDomain,
        identity: &Identity,
    ) -> Result<Resolution, StoreError> {
        let late = self.lock().late_find.take();
        let found = self.find(shop, identity).await;
        self.lock().late_find = late;
        found
    }

    async fn find(&self, shop: &ShopDomain, identity: &Identity) -> Result<Resolution, StoreError> {
        let mut s = self.lock();
        s.lookups_read += [
            identity.customer_id.is_some(),
            identity.email.is_some(),
            identity.order_id.is_some(),
            identity.contract_id.is_some(),
            identity.anonymous_id.is_some(),
        ]
        .into_iter()
        .map(u64::from)
        .sum::<u64>();
        if s.late_find.as_ref().is_some_and(|(at, _)| at == shop)
            && let Some((_, stale)) = s.late_find.take()
        {
            return Ok(stale);
        }
        let mut r = Resolution::default();
        let none = Aliases::default();
        let a = s.aliases.get(shop).unwrap_or(&none);
        if let Some(c) = identity.customer_id {
            match a.customer.get(&c) {
                Some(id) => r.contact = Some(id.clone()),
                None => r.unmapped.customer_id = Some(c),
            }
        }
        if let Some(e) = &identity.email {
            match a.email.get(&*e.lookup_key()) {
                // The address is another contact's: perhaps the same person
                // (the processor decides).
                Some(id) if r.contact.as_ref().is_some_and(|c| c != id) => r.merge.push(id.clone()),
                Some(id) => r.contact = r.contact.or(Some(id.clone())),
                None => r.unmapped.email = Some(e.clone()),
            }
        }
        if let Some(o) = identity.order_id {
            match a.order.get(&o) {
                Some(id) => r.contact = r.contact.or(Some(id.clone())),
                None => r.unmapped.order_id = Some(o),
            }
        }
        if let Some(k) = identity.contract_id {
            match a.contract.get(&k) {
                Some(id) => r.contact = r.contact.or(Some(id.clone())),
                None => r.unmapped.contract_id = Some(k),
            }
        }
        if let Some(anon) = &identity.anonymous_id {
            match a.anonymous.get(anon) {
                Some(id) if r.contact.as_ref().is_some_and(|c| c != id) => r.merge.push(id.clone()),
                // A new person on a known browser: its contact is merged in
                // only if anonymous (the processor checks).
                Some(id) if r.contact.is_none() && identity.is_known() => r.merge.push(id.clone()),
                Some(id) => r.contact = Some(id.clone()),
                None => r.unmapped.anonymous_id = Some(anon.clone()),
            }
        }
        Ok(r)
    }

    async fn load_for_update(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> Result<Option<ContactState>, StoreError> {
        Ok(self.lock().contacts.get(shop, id).cloned())
    }

    /// Current, unless a test made the contact's loads late
    /// (`answer_loads_late`).
    async fn load_active(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> Result<Option<ContactState>, StoreError> {
        match self.late_load(shop, id) {
            Some(stale) => Ok(Some(stale)),
            None => self.load_active_current(shop, id).await,
        }
    }

    /// Current, unless a test made the contact's loads late.
    async fn load_whole(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> Result<Option<ContactState>, StoreError> {
        match self.late_load(shop, id) {
            Some(stale) => Ok(Some(stale)),
            None => self.load_for_update(shop, id).await,
        }
    }

    async fn load_active_current(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> Result<Option<ContactState>, StoreError> {
        let mut state = self.load_for_update(shop, id).await?;
        if let Some(s) = &mut state {
            s.runs.retain(|r| !r.run.kept_for_messages());
            // As DynamoDB's: the older event ids stay where they are.
            s.recent_events.park();
        }
        Ok(state)
    }

    async fn put_decision(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
        run: &Run,
        counts: &waymark_core::analytics::Counts,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some(slot) = s.contacts.slot(shop, id) else {
            return Err(StoreError::new(
                crate::ports::StoreErrorKind::Rejected,
                "put decision",
                format!("no contact {id}"),
            ));
        };
        let state = s.contacts.at_mut(slot);
        if state.runs.iter().any(|x| same_run(&x.run, run)) {
            return Ok(false);
        }
        state.runs.push(VersionedRun {
            run: run.clone(),
            version: 1,
        });
        s.counts
            .entry(shop.clone())
            .or_default()
            .merge(counts.clone());
        Ok(true)
    }

    async fn commit(&self, c: Commit) -> Result<(), CommitError> {
        let mut s = self.lock();
        let (shop, id) = (&c.contact.shop, &c.contact.id);
        // Lookups are claimed first, whatever the commit's fate (the
        // DynamoDB adapter claims them before its transaction too).
        match s.aliases.get_mut(shop) {
            Some(a) => a.claim(&c.identities, id),
            None => s
                .aliases
                .entry(shop.clone())
                .or_default()
                .claim(&c.identities, id),
        }
        // Every condition before writing anything: all or nothing.
        let outbox_keys: Vec<String> = c.outbox.iter().map(|m| self.key(m)).collect();
        if s.conflicts(&c, &outbox_keys) {
            return Err(CommitError::Conflict);
        }
        if let Some(a) = &c.absorbed {
            s.absorb(shop, id, a);
        }
        s.move_memberships(&c);
        // The absorbed contact's slot may have been freed above; this one's
        // is unchanged (it is not the absorbed one).
        let slot = match s.contacts.slot(shop, id) {
            Some(i) => i,
            None => s.contacts.insert(
                shop,
                id,
                ContactState {
                    contact: waymark_core::contact::Contact::new(
                        id.clone(),
                        shop.clone(),
                        c.contact.first_seen_at,
                    ),
                    version: 0,
                    recent_events: Default::default(),
                    runs: Vec::new(),
                },
            ),
        };
        let Commit {
            contact,
            recent_events,
            runs,
            outbox,
            counts,
            expired,
            ..
        } = c;
        s.counts
            .entry(contact.shop.clone())
            .or_default()
            .merge(counts);
        let new_idle = contact.schedule.idle_at;
        let state = s.contacts.at_mut(slot);
        let old_idle = state.contact.schedule.idle_at;
        state.contact = contact;
        state.version += 1;
        let mut recent_events = recent_events;
        recent_events.unpark_from(&state.recent_events);
        state.recent_events = recent_events;
        store_runs(state, runs, &expired);
        s.index_idle(slot, old_idle, new_idle);
        for (k, m) in outbox_keys.into_iter().zip(outbox) {
            s.outbox.insert(k, Entry::queued(m));
        }
        Ok(())
    }
}

impl State {
    /// Whether another writer got there first: the contact's or a run's
    /// version moved, a message exists, or the merged contact changed.
    fn conflicts(&self, c: &Commit, outbox_keys: &[String]) -> bool {
        let (shop, id) = (&c.contact.shop, &c.contact.id);
        let stored = self.contacts.slot(shop, id).map(|i| self.contacts.at(i));
        let run_version = |run: &Run| {
            stored
                .and_then(|st| st.runs.iter().find(|x| same_run(&x.run, run)))
                .map_or(0, |x| x.version)
        };
        stored.map_or(0, |st| st.version) != c.expected_version
            || c.runs.iter().any(|r| run_version(&r.run) != r.version)
            || c.outbox.iter().zip(outbox_keys).any(|(m, k)| {
                self.outbox.get(k).is_some_and(|e| {
                    !(m.replaces_unsent && e.fate() == crate::ports::EmailFate::Unsent)
                })
            })
            || c.absorbed.as_ref().is_some_and(|a| {
                self.contacts.get(shop, &a.id).map_or(0, |st| st.version) != a.version
            })
    }

    /// A merge: browsers lead here; addresses and contracts only where they
    /// still lead to the merged contact (or nowhere), as the DynamoDB
    /// adapter does; the merged contact becomes a tombstone or goes.
    fn absorb(&mut self, shop: &ShopDomain, id: &ContactId, a: &crate::ports::Absorbed) {
        let aliases = self.aliases.get_mut(shop).expect("claimed first");
        for anon in &a.anonymous_ids {
            aliases.anonymous.insert(anon.clone(), id.clone());
        }
        let repoint = |slot: Option<&mut ContactId>| match slot {
            Some(to) if *to == a.id => *to = id.clone(),
            _ => {}
        };
        for e in &a.emails {
            let key = e.lookup_key();
            match aliases.email.get_mut(&*key) {
                None => {
                    aliases.email.insert(key.into_owned(), id.clone());
                }
                slot => repoint(slot),
            }
        }
        for k in &a.contracts {
            match aliases.contract.get_mut(k) {
                None => {
                    aliases.contract.insert(*k, id.clone());
                }
                slot => repoint(slot),
            }
        }
        match &a.tombstone {
            Some(t) => self.retire_contact(shop, &a.id, t.clone()),
            None => {
                self.remove_contact(shop, &a.id);
            }
        }
    }

    fn move_memberships(&mut self, c: &Commit) {
        let (shop, id) = (&c.contact.shop, &c.contact.id);
        for seg in &c.segments_entered {
            self.members
                .entry((shop.clone(), seg.clone()))
                .or_default()
                .insert(id.clone(), c.contact.identity.email.clone());
        }
        for seg in &c.segments_exited {
            if let Some(m) = self.members.get_mut(&(shop.clone(), seg.clone())) {
                m.remove(id);
            }
        }
    }
}

/// Changed runs replace their stored versions (or join them); expired ones
/// go.
fn store_runs(
    state: &mut ContactState,
    runs: Vec<VersionedRun>,
    expired: &[(String, String, u32)],
) {
    for r in runs {
        let updated = VersionedRun {
            version: r.version + 1,
            run: r.run,
        };
        match state
            .runs
            .iter_mut()
            .find(|x| same_run(&x.run, &updated.run))
        {
            Some(slot) => *slot = updated,
            None => state.runs.push(updated),
        }
    }
    state.runs.retain(|x| {
        !expired
            .iter()
            .any(|(j, k, e)| x.run.journey == *j && x.run.key == *k && x.run.entry == *e)
    });
}

impl MemoryStore {
    /// What a test made the contact's loads answer instead of its state
    /// (`answer_loads_late`), if anything.
    fn late_load(&self, shop: &ShopDomain, id: &ContactId) -> Option<ContactState> {
        self.lock()
            .late_loads
            .get(&(shop.clone(), id.clone()))
            .cloned()
    }
}
