//! Process: one canonical event → the contact's profile and runs updated, and
//! any emails queued, in one atomic commit. A replayed event is a no-op; a
//! concurrent update is retried from a fresh read.

use crate::ports::{Commit, CommitError, ContactState, ContactStore, StoreError, VersionedRun};
use waymark_core::contact::Contact;
use waymark_core::event::Event;
use waymark_core::ids::ContactId;
use waymark_core::journey::{Catalog, Effect, handle_event, handle_tick};

/// Newest applied event ids remembered per contact.
const RECENT_EVENTS: usize = 64;
/// Attempts at a commit that keeps meeting concurrent updates.
const MAX_CONFLICTS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("contact {0}: still conflicting after {MAX_CONFLICTS} attempts")]
    Contended(String),
    /// The event names nobody (ingest refuses these; retrying cannot help).
    #[error("event {0} names neither a customer id nor an email")]
    Unattributable(String),
}

pub struct Processor<S> {
    catalog: Catalog,
    store: S,
}

/// What one input did, for logs and tests.
#[derive(Debug, Default)]
pub struct Report {
    /// The contact the input concerned (none if it found nothing to do).
    pub contact: Option<ContactId>,
    pub effects: Vec<Effect>,
    pub replayed: bool,
}

impl<S: ContactStore> Processor<S> {
    pub fn new(catalog: Catalog, store: S) -> Self {
        Self { catalog, store }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Applies one event to its contact.
    pub async fn handle_event(&self, event: &Event) -> Result<Report, ProcessError> {
        let identity = event.kind.identity();
        for _ in 0..MAX_CONFLICTS {
            let found = self.store.find(&event.shop, &identity).await?;
            let id = match (found.contact, &identity.customer_id, &identity.email) {
                (Some(id), _, _) => id,
                (None, Some(c), _) => ContactId::for_customer(*c),
                (None, None, Some(e)) => ContactId::for_email(e),
                (None, None, None) => return Err(ProcessError::Unattributable(event.id.clone())),
            };
            let state = match self.store.load_for_update(&event.shop, &id).await? {
                Some(s) => s,
                None => ContactState {
                    contact: Contact::new(id.clone(), event.shop.clone(), event.at),
                    version: 0,
                    recent_events: Vec::new(),
                    runs: Vec::new(),
                },
            };
            if state.recent_events.contains(&event.id) {
                return Ok(Report {
                    contact: Some(id),
                    effects: vec![],
                    replayed: true,
                });
            }
            let mut contact = state.contact.clone();
            let mut runs: Vec<_> = state.runs.iter().map(|r| r.run.clone()).collect();
            let effects = handle_event(&self.catalog, &mut contact, &mut runs, event);
            let mut recent = state.recent_events.clone();
            recent.push(event.id.clone());
            if recent.len() > RECENT_EVENTS {
                recent.drain(..recent.len() - RECENT_EVENTS);
            }
            let commit = build_commit(&state, contact, runs, recent, &effects, found.unmapped);
            match self.store.commit(&commit).await {
                Ok(()) => {
                    log(&effects);
                    return Ok(Report {
                        contact: Some(id),
                        effects,
                        replayed: false,
                    });
                }
                Err(CommitError::Conflict) => continue,
                Err(CommitError::Store(e)) => return Err(e.into()),
            }
        }
        Err(ProcessError::Contended(event.id.clone()))
    }

    /// Fires the contact's waits due at or before `now`.
    pub async fn handle_tick(
        &self,
        shop: &waymark_core::ids::ShopDomain,
        id: &ContactId,
        now: jiff::Timestamp,
    ) -> Result<Report, ProcessError> {
        for _ in 0..MAX_CONFLICTS {
            let Some(state) = self.store.load_for_update(shop, id).await? else {
                return Ok(Report::default());
            };
            let mut contact = state.contact.clone();
            let mut runs: Vec<_> = state.runs.iter().map(|r| r.run.clone()).collect();
            let effects = handle_tick(&self.catalog, &mut contact, &mut runs, now);
            if contact == state.contact && runs.iter().zip(&state.runs).all(|(a, b)| *a == b.run) {
                return Ok(Report::default());
            }
            let commit = build_commit(
                &state,
                contact,
                runs,
                state.recent_events.clone(),
                &effects,
                Default::default(),
            );
            match self.store.commit(&commit).await {
                Ok(()) => {
                    log(&effects);
                    return Ok(Report {
                        contact: Some(id.clone()),
                        effects,
                        replayed: false,
                    });
                }
                Err(CommitError::Conflict) => continue,
                Err(CommitError::Store(e)) => return Err(e.into()),
            }
        }
        Err(ProcessError::Contended(id.to_string()))
    }
}

fn build_commit(
    state: &ContactState,
    contact: Contact,
    runs: Vec<waymark_core::journey::Run>,
    recent_events: Vec<String>,
    effects: &[Effect],
    identities: waymark_core::event::Identity,
) -> Commit {
    let changed = runs
        .into_iter()
        .enumerate()
        .filter_map(|(i, run)| match state.runs.get(i) {
            Some(old) if old.run == run => None,
            Some(old) => Some(VersionedRun {
                run,
                version: old.version,
            }),
            None => Some(VersionedRun { run, version: 0 }),
        })
        .collect();
    let segments_entered = contact
        .segments
        .difference(&state.contact.segments)
        .cloned()
        .collect();
    let segments_exited = state
        .contact
        .segments
        .difference(&contact.segments)
        .cloned()
        .collect();
    Commit {
        segments_entered,
        segments_exited,
        contact,
        expected_version: state.version,
        recent_events,
        runs: changed,
        outbox: effects
            .iter()
            .filter_map(|e| match e {
                Effect::Email(m) | Effect::Emit(m) => Some((**m).clone()),
                _ => None,
            })
            .collect(),
        identities,
    }
}

fn log(effects: &[Effect]) {
    for e in effects {
        match e {
            Effect::Email(m) => {
                tracing::info!(journey = %m.journey, step = %m.step, outbox_id = %m.id, "email queued")
            }
            other => tracing::info!(effect = ?other, "journey"),
        }
    }
}
