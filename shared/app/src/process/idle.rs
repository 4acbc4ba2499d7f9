//! What the sweep does with a contact silent past the inactivity
//! threshold: a known person lapses, an anonymous visitor is forgotten.

use super::{Idle, ProcessError, Processor};
use crate::ports::{CampaignStore, ContactState, ContactStore, Erasure, Privacy};
use waymark_core::event::{Event, EventKind, Lapse};
use waymark_core::ids::{ContactId, ShopDomain};
use waymark_core::outbox::OutboxMessage;

impl<S: ContactStore + Privacy + CampaignStore> Processor<S> {
    /// The sweep found the contact silent past the inactivity threshold.
    /// Unless it woke up meanwhile, a known person lapses (which journeys
    /// trigger on) and an anonymous visitor is forgotten: everything of it
    /// goes, so visitors who never come back do not stay in the table.
    pub async fn handle_idle(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
        now: jiff::Timestamp,
    ) -> Result<Idle, ProcessError> {
        let Some(state) = self.store.load_for_update(shop, id).await? else {
            return Ok(Idle::Unchanged);
        };
        let threshold = state
            .contact
            .idle_threshold(self.catalog.audience().inactive_after);
        if threshold.is_none_or(|t| t > now) {
            // Its bucket was kept early (an index key moves only earlier):
            // it moves to the threshold it has now.
            if state.contact.schedule.idle_at.is_some_and(|t| t <= now) {
                self.handle_tick(shop, id, now).await?;
            }
            return Ok(Idle::Unchanged);
        }
        if state.contact.is_anonymous() && state.contact.identity.merged_into.is_none() {
            self.forget_visitor(&state, now).await?;
            return Ok(Idle::Forgotten);
        }
        let days = (self.catalog.audience().inactive_after.as_hours() / 24) as u32;
        let event = Event {
            id: format!("lapse-{}", state.contact.last_active_at().as_millisecond()),
            shop: shop.clone(),
            at: now,
            source: waymark_core::event::Source {
                platform: "waymark".into(),
                topic: "sweep".into(),
                delivery_id: String::new(),
            },
            kind: EventKind::Lapsed(Lapse { days }),
        };
        let report = self.handle_event_for(id, &event).await?;
        Ok(if report.contact.is_some() && !report.replayed {
            Idle::Lapsed
        } else {
            Idle::Unchanged
        })
    }

    /// Forgets an anonymous visitor past the inactivity threshold: its
    /// profile, runs, browser lookups, memberships and stored events; no
    /// record is kept (nothing named anyone).
    async fn forget_visitor(
        &self,
        state: &ContactState,
        now: jiff::Timestamp,
    ) -> Result<(), ProcessError> {
        let c = &state.contact;
        let erasure = Erasure {
            shop: c.shop.clone(),
            contact: Some(c.id.clone()),
            merged: c
                .identity
                .merged_from
                .iter()
                .map(|m| m.contact.clone())
                .collect(),
            customer_id: None,
            emails: Vec::new(),
            orders: Vec::new(),
            contracts: Vec::new(),
            anonymous_ids: c.identity.anonymous_ids.clone(),
            segments: c.audience.segments.iter().cloned().collect(),
            messages: state
                .runs
                .iter()
                .flat_map(|r| OutboxMessage::ids_of_run(&c.shop, &c.id, &r.run))
                .chain(c.exports.iter().cloned())
                .collect(),
            events: state.recent_events.fact_ids(),
            reason: "anonymous/expired".into(),
            request: None,
            at: now,
            proof: false,
        };
        let items = self.store.erase(&erasure).await?;
        tracing::info!(shop = %c.shop, contact = %c.id, items, "anonymous visitor forgotten");
        Ok(())
    }
}
