//! Process: one canonical event → the contact's profile and runs updated, and
//! any emails queued, in one atomic commit. A replayed event is a no-op; a
//! concurrent update is retried from a fresh read.

use crate::ports::{
    Absorbed, CampaignPhase, CampaignStore, Commit, CommitError, ContactState, ContactStore,
    Erasure, Privacy, Resolution, StoreError, VersionedRun,
};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use waymark_core::contact::Contact;
use waymark_core::event::{Event, EventKind};
use waymark_core::identity;
use waymark_core::ids::{ContactId, ShopDomain};
use waymark_core::journey::{Catalog, Effect, handle_event, handle_tick};
use waymark_core::outbox::OutboxMessage;

mod idle;

/// Attempts at a commit that keeps meeting concurrent updates.
const MAX_CONFLICTS: usize = 8;
/// Merged contacts followed to the one they went into (a merged contact can
/// itself be merged later, so there can be more than one).
const MAX_MERGE_HOPS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("contact {0}: still conflicting after {MAX_CONFLICTS} attempts")]
    Contended(String),
    /// The event names nobody (ingest refuses these; retrying cannot help).
    #[error("event {0} names neither a customer id nor an email")]
    Unattributable(String),
    #[error("contact {0}: merged contacts lead further than {MAX_MERGE_HOPS} hops")]
    MergeChain(String),
    /// A campaign's earlier email is being sent this moment; its outcome
    /// decides whether the next schedule mails the recipient again.
    #[error("email {0} is being sent; decided once that attempt settles")]
    EmailInFlight(String),
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

/// What a campaign page does with one recipient, decided by
/// [`Processor::decide_on_page`].
#[derive(Debug)]
pub enum PageDecision {
    /// Left to the recorded event and `process`, as every send was before:
    /// a later local time or quiet hours (a held email), an earlier
    /// schedule's decision, a merged or unknown contact, or anything more
    /// than the decision (a wait due by now fires first).
    ViaEvent,
    /// Decided already for this schedule: by this page (`this_page`, a
    /// delivery again: its emails `messages` may not have settled) or by
    /// another (an overlapping segment).
    Decided {
        this_page: bool,
        messages: Vec<String>,
    },
    /// Gets nothing: the ended run that says why, and what it counts.
    Skip {
        run: Box<waymark_core::journey::Run>,
        counts: waymark_core::analytics::Counts,
    },
    /// Gets `message` now: the run, and what it counts.
    Send {
        run: Box<waymark_core::journey::Run>,
        counts: waymark_core::analytics::Counts,
        message: Box<OutboxMessage>,
    },
}

/// What the sweep did with a contact it found past the inactivity threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// A known person, silent: lapsed now (win-back, sunset).
    Lapsed,
    /// An anonymous visitor, silent: forgotten.
    Forgotten,
    /// It woke up meanwhile, lapsed already, or is gone.
    Unchanged,
}

/// A request to erase a person (as opposed to exporting their data).
fn is_erasure(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::CustomerDeleted(_) | EventKind::CustomerRedacted(_)
    )
}

/// A privacy request: it erases or exports what it reads, so it reads the
/// contact as it is now.
fn is_privacy(kind: &EventKind) -> bool {
    is_erasure(kind) || matches!(kind, EventKind::DataRequested(_))
}

/// Whether applying the event reads the contact's ended runs kept for
/// their messages (`Run::kept_for_messages`): the engine's (an open or a
/// click, an order: `journey::reads_ended_runs`), and a privacy request's,
/// which erases or exports every run. Others load the contact without them
/// (`ContactStore::load_active`); a merge loads both contacts whole.
fn reads_ended_runs(kind: &EventKind) -> bool {
    waymark_core::journey::reads_ended_runs(kind) || is_privacy(kind)
}

/// Whether the engine, on a contact loaded without its ended runs kept for
/// their messages (`loaded` runs, `history` as loaded), started a run of a
/// journey and key that history may have forgotten: a kept run may hold
/// that key and entry (and `once` would refuse it), so the step is taken
/// again on the contact loaded whole. Rare: only a journey past its
/// remembered keys (a run per order or checkout, twenty of them) gets here.
fn forgot_a_key(
    history: &waymark_core::history::History,
    loaded: usize,
    runs: &[waymark_core::journey::Run],
) -> bool {
    // A campaign's decisions are loaded always (and never in the history).
    runs.iter().skip(loaded).any(|r| {
        !waymark_core::campaign::is_campaign(&r.journey)
            && history.may_have_forgotten(&r.journey, &r.key)
    })
}

/// Whether the contact took the event already: `None` when only the
/// older event ids the load left where they are stored can tell (an event
/// as old as one of their blocks' stamps, a late one), and `whole` is set
/// for the attempt again, which reads them.
fn replayed(state: &ContactState, event: &Event, whole: &AtomicBool) -> Option<bool> {
    match state.recent_events.knows(&event.id, event.at) {
        Some(known) => Some(known),
        // A whole load reads every block (none is left parked).
        None if whole.load(Relaxed) => Some(false),
        None => {
            whole.store(true, Relaxed);
            None
        }
    }
}

/// What one load → apply attempt decided: nothing to write, or a commit
/// that holds only if nobody changed the contact since it was read.
enum Attempt {
    Done(Report),
    Commit(Box<Commit>, Report),
    /// The load left out runs the step turned out to need (`forgot_a_key`):
    /// load again, whole.
    Again,
}

impl Attempt {
    /// A commit to write, then the contact's effects to report.
    fn write(commit: Commit, contact: ContactId, effects: Vec<Effect>) -> Self {
        Self::Commit(
            Box::new(commit),
            Report {
                contact: Some(contact),
                effects,
                replayed: false,
            },
        )
    }
}

impl<S: ContactStore> Processor<S> {
    pub fn new(catalog: Catalog, store: S) -> Self {
        Self { catalog, store }
    }

    /// What the results count for one step of a contact (see
    /// `waymark_core::analytics`); records attributed orders on `contact`.
    fn count(
        &self,
        at: jiff::Timestamp,
        event: Option<&EventKind>,
        before: &Before,
        runs: &[waymark_core::journey::Run],
        contact: &mut Contact,
    ) -> waymark_core::analytics::Counts {
        let facts = waymark_core::analytics::ProcessedFacts {
            at,
            event,
            zone: self.catalog.time_zone(),
            windows: self.catalog.attribution(),
            runs_before: &before.runs,
            runs_after: runs,
            subscribed_before: before.subscribed,
            topics_out_before: &before.topics_out,
        };
        waymark_core::analytics::processed(&facts, contact)
    }

    /// Runs `attempt` (load, apply, build the commit) until its commit holds:
    /// a conflict means someone else changed the contact, or the load
    /// answered a moment late (`load_active`), so it reloads as the
    /// contact is now (`attempt(true)`) and recomputes, up to
    /// `MAX_CONFLICTS` times.
    async fn retrying<F, Fut>(&self, subject: &str, mut attempt: F) -> Result<Report, ProcessError>
    where
        F: FnMut(bool) -> Fut,
        Fut: std::future::Future<Output = Result<Attempt, ProcessError>>,
    {
        let mut current = false;
        for _ in 0..MAX_CONFLICTS {
            let (commit, report) = match attempt(current).await? {
                Attempt::Done(report) => return Ok(report),
                Attempt::Commit(commit, report) => (commit, report),
                Attempt::Again => continue,
            };
            match self.store.commit(*commit).await {
                Ok(()) => {
                    log(&report.effects);
                    return Ok(report);
                }
                Err(CommitError::Conflict) => current = true,
                Err(CommitError::Store(e)) => return Err(e.into()),
            }
        }
        Err(ProcessError::Contended(subject.to_string()))
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// A contact, whole or without its ended runs kept for their messages;
    /// read as it is now when `current` (after a commit built on a load a
    /// moment late failed, or for a privacy request, which acts on what it
    /// reads), else as a replica has it (`load_whole`, `load_active`: half
    /// the units).
    async fn load(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
        whole: bool,
        current: bool,
    ) -> Result<Option<ContactState>, StoreError> {
        match (whole, current) {
            (true, true) => self.store.load_for_update(shop, id).await,
            (true, false) => self.store.load_whole(shop, id).await,
            (false, true) => self.store.load_active_current(shop, id).await,
            (false, false) => self.store.load_active(shop, id).await,
        }
    }

    /// Fires the contact's waits due at or before `now`.
    pub async fn handle_tick(
        &self,
        shop: &waymark_core::ids::ShopDomain,
        id: &ContactId,
        now: jiff::Timestamp,
    ) -> Result<Report, ProcessError> {
        let whole = AtomicBool::new(false);
        let whole = &whole;
        self.retrying(id.as_str(), |current| async move {
            let loaded = self.load(shop, id, whole.load(Relaxed), current).await?;
            let Some(state) = loaded.filter(|s| s.contact.identity.merged_into.is_none()) else {
                return Ok(Attempt::Done(Report::default()));
            };
            let mut contact = state.contact.clone();
            let mut runs: Vec<_> = state.runs.iter().map(|r| r.run.clone()).collect();
            let before = Before::of(&contact, &runs);
            let effects = handle_tick(&self.catalog, &mut contact, &mut runs, now);
            if contact == state.contact && runs.iter().zip(&state.runs).all(|(a, b)| *a == b.run) {
                return Ok(Attempt::Done(Report::default()));
            }
            if !whole.load(Relaxed) && forgot_a_key(&state.contact.history, state.runs.len(), &runs)
            {
                whole.store(true, Relaxed);
                return Ok(Attempt::Again);
            }
            let counts = self.count(now, None, &before, &runs, &mut contact);
            let mut commit = build_commit(
                &Base {
                    version: state.version,
                    runs: state.runs.clone(),
                    segments: state.contact.audience.segments.clone(),
                },
                contact,
                runs,
                state.recent_events.clone(),
                &effects,
                Default::default(),
                now,
            );
            commit.counts = counts;
            Ok(Attempt::write(commit, id.clone(), effects))
        })
        .await
    }
}

impl<S: ContactStore + Privacy + CampaignStore> Processor<S> {
    /// Applies an event to a known contact (no identity resolution).
    async fn handle_event_for(
        &self,
        id: &ContactId,
        event: &Event,
    ) -> Result<Report, ProcessError> {
        let whole = AtomicBool::new(reads_ended_runs(&event.kind));
        let whole = &whole;
        self.retrying(&event.id, |current| async move {
            let loaded = self
                .load(
                    &event.shop,
                    id,
                    whole.load(Relaxed),
                    current || is_privacy(&event.kind),
                )
                .await?;
            let Some(state) = loaded.filter(|s| s.contact.identity.merged_into.is_none()) else {
                return Ok(Attempt::Done(Report::default()));
            };
            match replayed(&state, event, whole) {
                Some(true) => {
                    return Ok(Attempt::Done(Report {
                        contact: Some(id.clone()),
                        effects: vec![],
                        replayed: true,
                    }));
                }
                Some(false) => {}
                None => return Ok(Attempt::Again),
            }
            let (mut contact, base, mut recent) = take_contact(state);
            let history = (!whole.load(Relaxed) && contact.history.at_bound())
                .then(|| contact.history.clone());
            let mut runs: Vec<_> = base.runs.iter().map(|r| r.run.clone()).collect();
            let event = &self.with_earlier_email(event, &contact, &runs).await?;
            let before = Before::of(&contact, &runs);
            let effects = handle_event(&self.catalog, &mut contact, &mut runs, event);
            if history.is_some_and(|h| forgot_a_key(&h, base.runs.len(), &runs)) {
                whole.store(true, Relaxed);
                return Ok(Attempt::Again);
            }
            let counts = self.count(event.at, Some(&event.kind), &before, &runs, &mut contact);
            recent.push(&event.id, event.at);
            let written = self.written_on_page(event, &effects).await?;
            let kept: Vec<Effect> = effects
                .iter()
                .filter(|e| !matches!(e, Effect::Email(m) if written.contains(&m.id)))
                .cloned()
                .collect();
            let mut commit = build_commit(
                &base,
                contact,
                runs,
                recent,
                &kept,
                Default::default(),
                event.at,
            );
            commit.counts = counts;
            Ok(Attempt::write(commit, id.clone(), effects))
        })
        .await
    }

    /// Applies one event to its contact.
    pub async fn handle_event(&self, event: &Event) -> Result<Report, ProcessError> {
        if let EventKind::CampaignSend(send) = &event.kind {
            return self.handle_campaign_send(send, event).await;
        }
        if event.kind == EventKind::ShopRedacted {
            let items = self.store.erase_shop(&event.shop, event.at).await?;
            tracing::info!(shop = %event.shop, items, "shop redacted: every item of the shop erased");
            return Ok(Report::default());
        }
        let identity = &event.kind.identity();
        let whole = AtomicBool::new(false);
        let whole = &whole;
        self.retrying(&event.id, |current| async move {
            let located = self
                .locate(event, identity, whole.load(Relaxed), current)
                .await?;
            let Some((found, id, loaded, all)) = located else {
                tracing::info!(event_id = %event.id, kind = event.kind.name(), "no contact for this event; nothing to do");
                return Ok(Attempt::Done(Report::default()));
            };
            let state = match loaded {
                Some(s) => s,
                None => ContactState {
                    contact: Contact::new(id.clone(), event.shop.clone(), event.at),
                    version: 0,
                    recent_events: Default::default(),
                    runs: Vec::new(),
                },
            };
            match replayed(&state, event, whole) {
                Some(true) => {
                    return Ok(Attempt::Done(Report {
                        contact: Some(id),
                        effects: vec![],
                        replayed: true,
                    }));
                }
                Some(false) => {}
                None => return Ok(Attempt::Again),
            }
            if is_erasure(&event.kind) {
                self.erase(&state, event).await?;
                for o in self.profiles_at_address(event, &found.merge, &id).await? {
                    self.erase(&o, event).await?;
                }
                return Ok(Attempt::Done(Report {
                    contact: Some(id),
                    ..Report::default()
                }));
            }
            let (mut contact, base, mut recent) = take_contact(state);
            note_held(&mut contact, &found, identity);
            let history = (!all && contact.history.at_bound()).then(|| contact.history.clone());
            let mut runs: Vec<_> = base.runs.iter().map(|r| r.run.clone()).collect();
            let absorbed = self
                .same_person(&contact, &found.merge, event)
                .await?
                .map(|o| absorb(&mut contact, &mut runs, &mut recent, o, event.at));
            let before = Before::of(&contact, &runs);
            let mut effects = handle_event(&self.catalog, &mut contact, &mut runs, event);
            if history.is_some_and(|h| forgot_a_key(&h, base.runs.len(), &runs)) {
                whole.store(true, Relaxed);
                return Ok(Attempt::Again);
            }
            let counts = self.count(event.at, Some(&event.kind), &before, &runs, &mut contact);
            if let EventKind::DataRequested(request) = &event.kind {
                let message = self
                    .export(&contact, &runs, request, event, &found.merge)
                    .await?;
                contact.exports.push(message.id.clone());
                effects.push(Effect::Emit(Box::new(message)));
            }
            recent.push(&event.id, event.at);
            let mut commit = build_commit(
                &base,
                contact,
                runs,
                recent,
                &effects,
                found.unmapped,
                event.at,
            );
            commit.absorbed = absorbed;
            commit.counts = counts;
            Ok(Attempt::write(commit, id, effects))
        })
        .await
    }

    /// A campaign's recorded send, for its contact; the sends of a cancelled
    /// campaign, or of a schedule of it since replaced, are dropped here.
    async fn handle_campaign_send(
        &self,
        send: &waymark_core::campaign::Send,
        event: &Event,
    ) -> Result<Report, ProcessError> {
        let live = self
            .store
            .campaign(&event.shop, &send.campaign)
            .await?
            .is_some_and(|r| {
                r.state.phase != CampaignPhase::Cancelled
                    && send.run.is_none_or(|run| run == r.state.run())
            });
        if !live {
            tracing::info!(campaign = %send.campaign, contact = %send.contact, "campaign cancelled or scheduled again; send dropped");
            return Ok(Report::default());
        }
        self.handle_event_for(&send.contact, event).await
    }

    /// A campaign recipient decided on its page, without writing the
    /// contact: the same rules as [`Processor::handle_event`] applies to
    /// the recorded send, on the contact as loaded now. Only a decision
    /// that is the whole of what the send changes (its run, and the
    /// contact's note of a marketing email, which the run itself carries
    /// for the cap: `note_direct_sends`) is taken here; anything else goes
    /// through the event.
    pub async fn decide_on_page(&self, event: &Event) -> Result<PageDecision, ProcessError> {
        let EventKind::CampaignSend(send) = &event.kind else {
            return Ok(PageDecision::ViaEvent);
        };
        let Some(def) = send.def.as_deref() else {
            return Ok(PageDecision::ViaEvent);
        };
        // As the contact is now: nothing versioned follows this decision.
        let Some(state) = self
            .store
            .load_active_current(&event.shop, &send.contact)
            .await?
            .filter(|s| s.contact.identity.merged_into.is_none())
        else {
            return Ok(PageDecision::ViaEvent);
        };
        // A send this contact may have taken already (as old as a block of
        // ids the load left where it is stored) goes through the event.
        if state.recent_events.knows(&event.id, event.at) != Some(false) {
            return Ok(PageDecision::ViaEvent);
        }
        let name = waymark_core::campaign::journey(&def.id);
        if let Some(earlier) = state.runs.iter().find(|r| r.run.journey == name) {
            return Ok(match &earlier.run.trigger {
                // Decided on a page (this one, or another segment's): a
                // run `process` decided from a recorded event is told
                // apart by that event (the inbox knows its page).
                EventKind::CampaignSend(s) if s.run == send.run && s.page.is_some() => {
                    PageDecision::Decided {
                        this_page: s.page.is_some() && s.page == send.page,
                        messages: OutboxMessage::ids_of_run(
                            &event.shop,
                            &send.contact,
                            &earlier.run,
                        ),
                    }
                }
                // Another schedule's: decided again only by the event's
                // rules (what became of that email).
                _ => PageDecision::ViaEvent,
            });
        }
        let mut contact = state.contact.clone();
        let mut runs: Vec<_> = state.runs.iter().map(|r| r.run.clone()).collect();
        let before = Before::of(&contact, &runs);
        let effects = handle_event(&self.catalog, &mut contact, &mut runs, event);
        let loaded = state.runs.len();
        let only_its_run = runs.len() == loaded + 1
            && runs[..loaded]
                .iter()
                .zip(&state.runs)
                .all(|(a, b)| *a == b.run)
            && runs[loaded].journey == name;
        let mut rest = contact.clone();
        rest.marketing.marketing_sent = state.contact.marketing.marketing_sent.clone();
        if !only_its_run || rest != state.contact {
            return Ok(PageDecision::ViaEvent);
        }
        let counts = self.count(event.at, Some(&event.kind), &before, &runs, &mut contact);
        let run = Box::new(runs.swap_remove(loaded));
        Ok(match effects.as_slice() {
            [Effect::Skipped { .. }] => PageDecision::Skip { run, counts },
            [Effect::Email(m)] if m.not_before.is_none_or(|t| t <= event.at) => {
                PageDecision::Send {
                    run,
                    counts,
                    message: m.clone(),
                }
            }
            _ => PageDecision::ViaEvent,
        })
    }

    /// The emails of a campaign send that its page wrote already (its
    /// worker decided and sent the recipient itself, then stopped before
    /// the decision's run, or its page came again once it had no time left
    /// and recorded the send): the decision is committed without them, and
    /// one left unsettled is handed to the timer, 15 minutes after the send
    /// (past its worker's claim), to go to dispatch.
    async fn written_on_page(
        &self,
        event: &Event,
        effects: &[Effect],
    ) -> Result<Vec<String>, ProcessError> {
        let mut written = Vec::new();
        if !matches!(event.kind, EventKind::CampaignSend(_)) {
            return Ok(written);
        }
        let at = event
            .at
            .checked_add(crate::ports::REDRIVE_QUEUED)
            .unwrap_or(event.at);
        for e in effects {
            // One that replaces an earlier schedule's unsent email is
            // written over it by the commit's own condition.
            if let Effect::Email(m) = e
                && !m.replaces_unsent
                && self.store.email_written(&event.shop, &m.id, at).await?
            {
                tracing::warn!(outbox_id = %m.id, "campaign email written by its page already; decided without it");
                written.push(m.id.clone());
            }
        }
        Ok(written)
    }

    /// A campaign send whose recipient was queued an email by an earlier,
    /// cancelled schedule says whether that email was never sent (read
    /// from the outbox): the core decides them again only then. Any other
    /// event is as it came.
    async fn with_earlier_email<'e>(
        &self,
        event: &'e Event,
        contact: &Contact,
        runs: &[waymark_core::journey::Run],
    ) -> Result<std::borrow::Cow<'e, Event>, ProcessError> {
        let EventKind::CampaignSend(send) = &event.kind else {
            return Ok(std::borrow::Cow::Borrowed(event));
        };
        let Some(id) = waymark_core::journey::earlier_email(contact, runs, send) else {
            return Ok(std::borrow::Cow::Borrowed(event));
        };
        let unsent = match self.store.email_fate(&event.shop, &id).await? {
            crate::ports::EmailFate::Unsent => true,
            crate::ports::EmailFate::Settled => false,
            // Dispatch holds it this moment (stopping it, most likely): the
            // event comes again once that attempt has settled.
            crate::ports::EmailFate::Sending => {
                return Err(ProcessError::EmailInFlight(id));
            }
        };
        let mut event = event.clone();
        if let EventKind::CampaignSend(send) = &mut event.kind {
            send.earlier_unsent = unsent;
        }
        Ok(std::borrow::Cow::Owned(event))
    }

    /// The first merge candidate that is the same person, loaded (one merge
    /// a commit; another candidate merges on a later event).
    async fn same_person(
        &self,
        contact: &Contact,
        candidates: &[ContactId],
        event: &Event,
    ) -> Result<Option<ContactState>, ProcessError> {
        for other in candidates.iter().filter(|m| **m != contact.id) {
            if let Some(o) = self.store.load_for_update(&event.shop, other).await?
                && o.contact.identity.merged_into.is_none()
                && identity::same_person(contact, &o.contact, event)
            {
                return Ok(Some(o));
            }
        }
        Ok(None)
    }

    /// A data request's answer: the person's data, with their email-only
    /// profiles under the named address, as a message for the bus.
    async fn export(
        &self,
        contact: &Contact,
        runs: &[waymark_core::journey::Run],
        request: &waymark_core::event::PrivacyRequest,
        event: &Event,
        candidates: &[ContactId],
    ) -> Result<OutboxMessage, ProcessError> {
        let mut export = data_export(contact, runs, event.at);
        let others: Vec<_> = self
            .profiles_at_address(event, candidates, &contact.id)
            .await?
            .iter()
            .map(|o| {
                let runs: Vec<_> = o.runs.iter().map(|r| r.run.clone()).collect();
                data_export(&o.contact, &runs, event.at)
            })
            .collect();
        if !others.is_empty() {
            export["other_profiles"] = serde_json::Value::Array(others);
        }
        let request = request
            .request_id
            .clone()
            .unwrap_or_else(|| event.id.clone());
        Ok(OutboxMessage::data_export(
            contact, &request, event.at, export,
        ))
    }

    /// The person's email-only profiles under the address a privacy request
    /// names (never merged into the customer: no customer record said so):
    /// theirs too, to erase or export.
    async fn profiles_at_address(
        &self,
        event: &Event,
        candidates: &[ContactId],
        id: &ContactId,
    ) -> Result<Vec<ContactState>, ProcessError> {
        let named = event.kind.identity().email;
        let Some(named) = named.as_ref().map(|e| e.lookup_key()) else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for other in candidates.iter().filter(|m| *m != id) {
            if let Some(o) = self.store.load_for_update(&event.shop, other).await?
                && o.contact.identity.customer_id.is_none()
                && o.contact.identity.merged_into.is_none()
                && o.contact
                    .identity
                    .email
                    .as_ref()
                    .is_some_and(|e| e.lookup_key() == named)
            {
                found.push(o);
            }
        }
        Ok(found)
    }

    /// The event's contact, loaded (merged contacts followed to the one
    /// they went into), what its identities resolved to, and whether it
    /// was loaded whole (`whole`, or as the event or a merge needs:
    /// `reads_ended_runs`); `None`: no contact is the event's (an
    /// order-only event nobody is known by). Lookups are read a moment late
    /// at times: one that names a contact that is no more (an anonymous
    /// visitor merged away, a person just erased) is read again as it is
    /// now before the event is taken for a new person there. `current`
    /// (after a conflict): lookups and contacts are all read as they are
    /// now.
    async fn locate(
        &self,
        event: &Event,
        identity: &waymark_core::event::Identity,
        whole: bool,
        mut current: bool,
    ) -> Result<Option<(Resolution, ContactId, Option<ContactState>, bool)>, ProcessError> {
        let (mut tried, missed) = match self.locate_held(event, identity, whole, current).await? {
            OneLookup::Found(found, id, state, all) => {
                return Ok(Some((found, id, Some(state), all)));
            }
            OneLookup::Loaded(id, state, all) => (Some((id, state, all)), None),
            OneLookup::Missed(first) => (None, Some(first)),
            OneLookup::NotTried => (None, None),
        };
        // A lookup read first and leading nowhere is not read again: it is
        // the first the resolution reads (a customer id) or the last (a
        // browser), and one that leads nowhere changes nothing of the
        // others' answers.
        let (asked, missed) = match missed {
            Some(first) => (
                waymark_core::event::Identity {
                    customer_id: identity.customer_id.filter(|_| first.customer_id.is_none()),
                    anonymous_id: identity
                        .anonymous_id
                        .clone()
                        .filter(|_| first.anonymous_id.is_none()),
                    ..identity.clone()
                },
                first,
            ),
            None => (identity.clone(), Default::default()),
        };
        let mut found = self.find(&event.shop, &asked, current).await?;
        found.unmapped.customer_id = found.unmapped.customer_id.or(missed.customer_id);
        found.unmapped.anonymous_id = found.unmapped.anonymous_id.or(missed.anonymous_id);
        loop {
            let Some(id) = contact_for(found.contact.clone(), identity, event)? else {
                return Ok(None);
            };
            let all = whole || reads_ended_runs(&event.kind) || !found.merge.is_empty();
            // The contact the one lookup led to, loaded already, is this
            // one as the event needs it (not merged away: that is followed).
            if let Some((held_id, state, held_all)) = tried.take()
                && held_id == id
                && held_all == all
                && state.contact.identity.merged_into.is_none()
            {
                return Ok(Some((found, id, Some(state), all)));
            }
            let strong = current || is_privacy(&event.kind);
            let (id, loaded) = self.follow_merges(&event.shop, id, all, strong).await?;
            if loaded.is_none() && found.contact.is_some() && !current {
                found = self.store.find_current(&event.shop, identity).await?;
                current = true;
                continue;
            }
            return Ok(Some((found, id, loaded, all)));
        }
    }

    /// The contact an identity's lookups lead to, read as they are now
    /// when `current`.
    async fn find(
        &self,
        shop: &ShopDomain,
        identity: &waymark_core::event::Identity,
        current: bool,
    ) -> Result<Resolution, ProcessError> {
        Ok(if current {
            self.store.find_current(shop, identity).await?
        } else {
            self.store.find(shop, identity).await?
        })
    }

    /// The event's contact by one lookup, its browser's (or its customer
    /// id's, when it names no browser), when the contact that lookup leads
    /// to holds every other identity the event names (`contact::Held`: its address,
    /// and its customer id): every lookup would lead there, so they are not
    /// read. A page view from a known browser with the address it signed in
    /// with reads one lookup, not two. Not for privacy requests (they look
    /// for the address's other profiles) nor for events naming an order or
    /// a contract.
    async fn locate_held(
        &self,
        event: &Event,
        identity: &waymark_core::event::Identity,
        whole: bool,
        current: bool,
    ) -> Result<OneLookup, ProcessError> {
        let Some(email) = &identity.email else {
            return Ok(OneLookup::NotTried);
        };
        if identity.order_id.is_some() || identity.contract_id.is_some() || is_privacy(&event.kind)
        {
            return Ok(OneLookup::NotTried);
        }
        let (first, customer) = match (&identity.anonymous_id, identity.customer_id) {
            (Some(a), customer) => (
                waymark_core::event::Identity {
                    anonymous_id: Some(a.clone()),
                    ..Default::default()
                },
                customer,
            ),
            (None, Some(k)) => (
                waymark_core::event::Identity {
                    customer_id: Some(k),
                    ..Default::default()
                },
                None,
            ),
            (None, None) => return Ok(OneLookup::NotTried),
        };
        let found = self.find(&event.shop, &first, current).await?;
        let Some(id) = found.contact else {
            return Ok(OneLookup::Missed(first));
        };
        let all = whole || reads_ended_runs(&event.kind);
        let Some(state) = self.load(&event.shop, &id, all, current).await? else {
            return Ok(OneLookup::NotTried);
        };
        let i = &state.contact.identity;
        let holds = i.merged_into.is_none()
            && state.contact.id == id
            && i.held.email.as_deref() == Some(&*email.lookup_key())
            && customer.is_none_or(|k| i.held.customer_id == Some(k));
        if !holds {
            return Ok(OneLookup::Loaded(id, state, all));
        }
        let found = Resolution {
            contact: Some(id.clone()),
            ..Resolution::default()
        };
        Ok(OneLookup::Found(found, id, state, all))
    }

    /// Loads a contact, following merged contacts to the one they went
    /// into; with its ended runs kept for their messages when `all`.
    async fn follow_merges(
        &self,
        shop: &ShopDomain,
        mut id: ContactId,
        all: bool,
        current: bool,
    ) -> Result<(ContactId, Option<ContactState>), ProcessError> {
        let mut loaded = self.load(shop, &id, all, current).await?;
        for _ in 0..MAX_MERGE_HOPS {
            let Some(into) = loaded
                .as_ref()
                .and_then(|s| s.contact.identity.merged_into.clone())
            else {
                return Ok((id, loaded));
            };
            id = into;
            loaded = self.load(shop, &id, all, current).await?;
        }
        match loaded {
            Some(s) if s.contact.identity.merged_into.is_some() => {
                Err(ProcessError::MergeChain(id.to_string()))
            }
            loaded => Ok((id, loaded)),
        }
    }

    /// Erases one person: contact, runs, lookups, memberships, messages
    /// and stored events, leaving the erasure's record.
    async fn erase(&self, state: &ContactState, event: &Event) -> Result<(), ProcessError> {
        let c = &state.contact;
        let (request, orders) = match &event.kind {
            EventKind::CustomerRedacted(r) => (r.request_id.clone(), r.orders.clone()),
            _ => (None, Vec::new()),
        };
        let mut emails: Vec<_> = c
            .identity
            .email
            .iter()
            .chain(&c.identity.past_emails)
            .cloned()
            .collect();
        let named = event.kind.identity();
        if let Some(e) = named.email
            && !emails.contains(&e)
        {
            emails.push(e);
        }
        let merged: Vec<ContactId> = c
            .identity
            .merged_from
            .iter()
            .map(|m| m.contact.clone())
            .collect();
        // A past address whose lookup now leads to someone else is theirs
        // (the address moved on): their lookup stays.
        let mut own = Vec::with_capacity(emails.len());
        for e in emails {
            let lookup = waymark_core::event::Identity {
                email: Some(e.clone()),
                ..Default::default()
            };
            let found = self.store.find(&event.shop, &lookup).await?.contact;
            if found.is_none_or(|f| f == c.id || merged.contains(&f)) {
                own.push(e);
            }
        }
        // The same holds for a customer id: its lookup goes only if it leads
        // to this person (or nowhere).
        let mut customer_id = None;
        if let Some(k) = c.identity.customer_id.or(named.customer_id) {
            let lookup = waymark_core::event::Identity {
                customer_id: Some(k),
                ..Default::default()
            };
            let found = self.store.find(&event.shop, &lookup).await?.contact;
            if found.is_none_or(|f| f == c.id || merged.contains(&f)) {
                customer_id = Some(k);
            }
        }
        let erasure = Erasure {
            shop: event.shop.clone(),
            contact: Some(c.id.clone()),
            merged,
            customer_id,
            emails: own,
            orders,
            contracts: c.contract_ids().collect(),
            anonymous_ids: c.identity.anonymous_ids.clone(),
            segments: c.audience.segments.iter().cloned().collect(),
            messages: state
                .runs
                .iter()
                .flat_map(|r| OutboxMessage::ids_of_run(&c.shop, &c.id, &r.run))
                .chain(c.exports.iter().cloned())
                .collect(),
            // The request itself names the person: it goes too.
            events: state
                .recent_events
                .fact_ids()
                .into_iter()
                .chain([event.id.clone()])
                .collect(),
            reason: event.source.topic.clone(),
            request,
            at: event.at,
            proof: true,
        };
        let items = self.store.erase(&erasure).await?;
        tracing::info!(shop = %event.shop, reason = %erasure.reason, items, "contact erased");
        Ok(())
    }
}

/// What the results compare a step's outcome with: the runs (a merged
/// visitor's included, so they do not count as entered again) and consent
/// as they were before the event.
struct Before {
    runs: Vec<waymark_core::journey::Run>,
    subscribed: bool,
    topics_out: std::collections::BTreeSet<String>,
}

impl Before {
    fn of(contact: &Contact, runs: &[waymark_core::journey::Run]) -> Self {
        Self {
            runs: runs.to_vec(),
            subscribed: contact
                .marketing
                .consent
                .as_ref()
                .is_some_and(|c| c.subscribed),
            topics_out: contact.marketing.topics_out.clone(),
        }
    }
}

/// What [`Processor::locate_held`] came to.
enum OneLookup {
    /// The contact, holding every identity the event names.
    Found(Resolution, ContactId, ContactState, bool),
    /// The contact the one lookup led to, which does not: every lookup is
    /// read (and the contact is not loaded again if it is still the one).
    Loaded(ContactId, ContactState, bool),
    /// The one lookup read (this identity) leads nowhere.
    Missed(waymark_core::event::Identity),
    NotTried,
}

/// Notes on the contact the lookups the event's resolution found leading
/// to it itself, not through a merged contact (`contact::Held`): the
/// customer id's when it was the contact found, the address's when it led
/// there too (a different contact would be a merge candidate).
fn note_held(contact: &mut Contact, found: &Resolution, named: &waymark_core::event::Identity) {
    if found.contact.as_ref() != Some(&contact.id) || !found.merge.is_empty() {
        return;
    }
    if let Some(k) = named.customer_id
        && found.unmapped.customer_id.is_none()
    {
        contact.identity.held.customer_id = Some(k);
    }
    if let Some(e) = &named.email
        && found.unmapped.email.is_none()
    {
        contact.identity.held.email = Some(e.lookup_key().into_owned());
    }
}

/// The contact an event is for: the one its identity leads to, else the id
/// its identity derives (a new contact; an erasure cut short goes on with it,
/// since an earlier attempt may have taken the lookups and left the rest).
/// None when there is nothing to do: a data request or an order-only event
/// (a refund, a shipment) for someone Waymark does not know.
fn contact_for(
    found: Option<ContactId>,
    identity: &waymark_core::event::Identity,
    event: &Event,
) -> Result<Option<ContactId>, ProcessError> {
    if let Some(id) = found {
        return Ok(Some(id));
    }
    if (event.kind.is_privacy() && !is_erasure(&event.kind))
        || !identity.is_known() && identity.anonymous_id.is_none()
    {
        return Ok(None);
    }
    match (
        &identity.customer_id,
        &identity.email,
        &identity.anonymous_id,
    ) {
        (Some(c), ..) => Ok(Some(ContactId::for_customer(*c))),
        (None, Some(e), _) => Ok(Some(ContactId::for_email(e))),
        (None, None, Some(a)) => Ok(Some(ContactId::for_anonymous(a))),
        (None, None, None) => Err(ProcessError::Unattributable(event.id.clone())),
    }
}

/// Folds `other` into `contact`: its profile, and for each journey (and
/// key) the contact is not in, its active runs and its newest ended one (so
/// a welcome series goes on where it was, and re-entry rules still see the
/// last time). Returns what the commit retires.
fn absorb(
    contact: &mut Contact,
    runs: &mut Vec<waymark_core::journey::Run>,
    recent: &mut waymark_core::ids::RecentEvents,
    other: ContactState,
    at: jiff::Timestamp,
) -> Absorbed {
    let o = &other.contact;
    contact.absorb(o, at);
    recent.absorb(&other.recent_events);
    for r in &other.runs {
        // Messages it was sent stay erasable with the person.
        contact
            .exports
            .extend(OutboxMessage::ids_of_run(&o.shop, &o.id, &r.run));
    }
    let theirs: Vec<&waymark_core::journey::Run> = other.runs.iter().map(|r| &r.run).collect();
    let moving = identity::runs_to_move(runs, &theirs);
    runs.extend(moving);
    // Active runs first: the store retires those with the commit.
    let mut gone: Vec<&VersionedRun> = other.runs.iter().collect();
    gone.sort_by_key(|r| !r.run.is_active());
    let kind = if o.is_anonymous() {
        "anonymous visitor"
    } else {
        "email-only profile"
    };
    tracing::info!(contact = %contact.id, merged = %o.id, kind, "contact merged into the identified contact");
    Absorbed {
        id: o.id.clone(),
        version: other.version,
        tombstone: (!o.is_anonymous()).then(|| o.tombstone(&contact.id)),
        emails: o
            .identity
            .email
            .iter()
            .chain(&o.identity.past_emails)
            .cloned()
            .collect(),
        contracts: o.contract_ids().collect(),
        anonymous_ids: o.identity.anonymous_ids.clone(),
        segments: o.audience.segments.iter().cloned().collect(),
        runs: gone
            .iter()
            .map(|r| (r.run.journey.clone(), r.run.key.clone(), r.run.entry))
            .collect(),
    }
}

/// Expired runs one commit deletes at most (a contact upgraded from a
/// version that kept every run sheds them over its next few events).
const EXPIRED_PER_COMMIT: usize = 20;

/// What a commit is checked and compared against: the loaded version, runs
/// and memberships.
struct Base {
    version: u64,
    runs: Vec<VersionedRun>,
    segments: std::collections::BTreeSet<String>,
}

/// Splits a loaded state into the contact for the engine to change, what
/// `build_commit` compares against, and the recent event ids.
fn take_contact(state: ContactState) -> (Contact, Base, waymark_core::ids::RecentEvents) {
    let ContactState {
        contact,
        version,
        recent_events,
        runs,
    } = state;
    let base = Base {
        version,
        runs,
        segments: contact.audience.segments.clone(),
    };
    (contact, base, recent_events)
}

fn build_commit(
    state: &Base,
    mut contact: Contact,
    runs: Vec<waymark_core::journey::Run>,
    recent_events: waymark_core::ids::RecentEvents,
    effects: &[Effect],
    identities: waymark_core::event::Identity,
    now: jiff::Timestamp,
) -> Commit {
    let mut expired = Vec::new();
    let changed = runs
        .into_iter()
        .enumerate()
        .filter_map(|(i, run)| match state.runs.get(i) {
            // Ended long enough ago: the history remembers its entry (for
            // runs written before it did) and the item goes.
            Some(old)
                if old.run == run && expired.len() < EXPIRED_PER_COMMIT && run.expired_by(now) =>
            {
                contact
                    .history
                    .record(&run.journey, &run.key, run.entry, run.entered_at);
                expired.push((run.journey, run.key, run.entry));
                None
            }
            Some(old) if old.run == run => None,
            // Ended now with nothing to keep it for (a journey's run that
            // sent no email): deleted rather than written, or never
            // written at all; the history has its entry.
            Some(_) | None if run.expired_by(now) => {
                contact
                    .history
                    .record(&run.journey, &run.key, run.entry, run.entered_at);
                if i < state.runs.len() {
                    expired.push((run.journey, run.key, run.entry));
                }
                None
            }
            Some(old) => {
                // Kept for its messages, it goes out of the ordinary load:
                // the history must know its entry (one started before the
                // history was kept has none), or a step on a load without
                // it would start its key again.
                if run.kept_for_messages() {
                    contact
                        .history
                        .record(&run.journey, &run.key, run.entry, run.entered_at);
                }
                Some(VersionedRun {
                    run,
                    version: old.version,
                })
            }
            None => Some(VersionedRun { run, version: 0 }),
        })
        .collect();
    let segments_entered = contact
        .audience
        .segments
        .difference(&state.segments)
        .cloned()
        .collect();
    let segments_exited = state
        .segments
        .difference(&contact.audience.segments)
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
        absorbed: None,
        counts: Default::default(),
        expired,
    }
}

/// A person's data as Waymark holds it, for a privacy data request.
fn data_export(
    contact: &Contact,
    runs: &[waymark_core::journey::Run],
    at: jiff::Timestamp,
) -> serde_json::Value {
    serde_json::json!({
        "exported_at": at,
        "contact": contact,
        "journeys": runs.iter().map(|r| serde_json::json!({
            "journey": r.journey,
            "version": r.version,
            "status": r.status,
            "entered_at": r.entered_at,
            "ended_at": r.ended_at,
            "end_reason": r.end_reason,
            "emails_sent": r.sent,
        })).collect::<Vec<_>>(),
    })
}

/// The timeline, without personal data: ids, journeys, steps, reasons and
/// times — never a message's parameters (names, codes, a data export) or an
/// address.
fn log(effects: &[Effect]) {
    for e in effects {
        match e {
            Effect::Email(m) | Effect::Emit(m) => {
                tracing::info!(journey = %m.journey, step = %m.step, outbox_id = %m.id, "message queued")
            }
            Effect::Entered { journey, at, .. } => tracing::info!(%journey, %at, "entered"),
            Effect::Waiting { journey, until, .. } => {
                tracing::info!(%journey, %until, "waiting")
            }
            Effect::Branched {
                journey, step, to, ..
            } => tracing::info!(%journey, %step, %to, "branched"),
            Effect::Updated { journey, step, .. } => tracing::info!(%journey, %step, "updated"),
            Effect::Held {
                journey,
                step,
                until,
                reason,
            } => tracing::info!(%journey, %step, %until, %reason, "held"),
            Effect::Skipped {
                journey,
                step,
                reason,
            } => tracing::info!(%journey, %step, %reason, "skipped"),
            Effect::Ended {
                journey,
                status,
                reason,
                at,
                ..
            } => tracing::info!(%journey, status = status.as_str(), %reason, %at, "ended"),
            Effect::Segment {
                segment, entered, ..
            } => tracing::info!(%segment, entered, "segment"),
            Effect::Stage { from, to, .. } => {
                tracing::info!(from = from.as_deref().unwrap_or("-"), %to, "stage")
            }
            Effect::NotEntered { journey, reason } => {
                tracing::info!(%journey, %reason, "not entered")
            }
        }
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;
    use waymark_core::event::{Checkout, Customer, Source};
    use waymark_core::ids::EmailAddress;

    fn at() -> jiff::Timestamp {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    fn shop() -> ShopDomain {
        ShopDomain::parse("demo.myshopify.com").unwrap()
    }

    fn address(a: &str) -> EmailAddress {
        EmailAddress::parse(a).unwrap()
    }

    fn event(platform: &str, kind: EventKind) -> Event {
        Event {
            id: "e".into(),
            shop: shop(),
            at: at(),
            source: Source {
                platform: platform.into(),
                topic: "t".into(),
                delivery_id: "d".into(),
            },
            kind,
        }
    }

    fn checkout(customer_id: Option<u64>, email: &str) -> EventKind {
        EventKind::CheckoutUpdated(Checkout {
            token: "k".into(),
            customer_id,
            email: Some(address(email)),
            first_name: None,
            line_items: vec![],
            total: None,
            recovery_url: None,
            completed_at: None,
            accepts_marketing: None,
            country: None,
            province: None,
            locale: None,
            anonymous_id: None,
        })
    }

    /// A checkout from the browser `anon-1` with an address, as event `id`.
    fn on_browser(id: &str, email: &str) -> Event {
        let mut kind = checkout(None, email);
        if let EventKind::CheckoutUpdated(c) = &mut kind {
            c.anonymous_id = Some("anon-1".into());
            c.token = id.into();
        }
        let mut e = event("shopify", kind);
        e.id = id.into();
        e
    }

    fn customer_record(id: u64, email: &str) -> EventKind {
        EventKind::CustomerUpserted(Customer {
            customer_id: id,
            email: Some(address(email)),
            first_name: None,
            last_name: None,
            accepts_marketing: None,
            country: None,
            province: None,
            tags: vec![],
            phone: None,
            opted_out: false,
        })
    }

    fn run(journey: &str, entry: u32, status: &str) -> waymark_core::journey::Run {
        serde_json::from_value(serde_json::json!({
            "journey": journey, "version": 1, "key": "contact", "entry": entry,
            "status": status, "step": 1, "wait_until": null,
            "entered_at": at(), "trigger_at": at(), "cursor": at(),
            "ended_at": null, "end_reason": null, "trigger": {"type": "reviewed"},
        }))
        .unwrap()
    }

    /// A run started before the history was kept has no entry there; once
    /// a commit writes it ended and kept for its messages (out of the
    /// ordinary load), the history has its entry, so `once` still holds
    /// on a load without it.
    #[test]
    fn a_kept_run_written_has_its_entry_in_the_history() {
        let ana = Contact::new(ContactId::for_customer(7), shop(), at());
        let mut ended = run("welcome", 0, "completed");
        ended.ended_at = Some(at());
        ended.sent = vec!["hello".into()];
        let base = Base {
            version: 3,
            runs: vec![VersionedRun {
                run: ended.clone(),
                version: 2,
            }],
            segments: Default::default(),
        };
        let mut opened = ended.clone();
        opened.clicks.push(waymark_core::journey::Click {
            step: "hello".into(),
            link: None,
            at: at(),
            open: true,
            machine: false,
        });
        assert!(ana.history.latest("welcome", "contact").is_none());
        let commit = build_commit(
            &base,
            ana.clone(),
            vec![opened],
            Default::default(),
            &[],
            Default::default(),
            at(),
        );
        assert_eq!(commit.runs.len(), 1);
        assert_eq!(
            commit
                .contact
                .history
                .latest("welcome", "contact")
                .map(|e| e.entry),
            Some(0)
        );
        // A campaign's decision stays out of the history.
        let mut decided = ended.clone();
        decided.journey = "campaign-weekly".into();
        let base = Base {
            runs: vec![VersionedRun {
                run: decided.clone(),
                version: 2,
            }],
            ..base
        };
        decided.clicks.push(waymark_core::journey::Click {
            step: "hello".into(),
            link: None,
            at: at(),
            open: true,
            machine: false,
        });
        let commit = build_commit(
            &base,
            ana,
            vec![decided],
            Default::default(),
            &[],
            Default::default(),
            at(),
        );
        assert!(
            commit
                .contact
                .history
                .latest("campaign-weekly", "contact")
                .is_none()
        );
    }

    #[test]
    fn active_runs_and_the_newest_ended_one_move_over() {
        let mut ana = Contact::new(ContactId::for_customer(7), shop(), at());
        ana.identity.customer_id = Some(7);
        let mut runs = vec![run("vip", 0, "active")];
        let mut lead = Contact::new(
            ContactId::for_email(&address("ana@example.com")),
            shop(),
            at(),
        );
        lead.identity.email = Some(address("ana@example.com"));
        let versioned = |r| VersionedRun { run: r, version: 1 };
        let other = ContactState {
            contact: lead,
            version: 3,
            recent_events: Default::default(),
            runs: vec![
                versioned(run("browse_abandonment", 0, "completed")),
                versioned(run("browse_abandonment", 1, "converted")),
                versioned(run("welcome_series", 0, "active")),
                versioned(run("vip", 0, "active")),
            ],
        };
        let mut recent = Default::default();
        let a = absorb(&mut ana, &mut runs, &mut recent, other, at());
        let moved: Vec<_> = runs.iter().map(|r| (r.journey.as_str(), r.entry)).collect();
        assert_eq!(
            moved,
            [("vip", 0), ("browse_abandonment", 1), ("welcome_series", 0)],
            "the customer's own vip run stays; the older ended entry does not move"
        );
        // All its runs go from its partition, active ones first.
        let gone: Vec<_> = a.runs.iter().map(|(j, _, e)| (j.as_str(), *e)).collect();
        assert_eq!(
            gone,
            [
                ("welcome_series", 0),
                ("vip", 0),
                ("browse_abandonment", 0),
                ("browse_abandonment", 1)
            ]
        );
        assert_eq!(a.version, 3);
        assert_eq!(
            a.tombstone.unwrap().identity.merged_into,
            Some(ana.id.clone())
        );
        assert_eq!(a.emails, vec![address("ana@example.com")]);
    }

    #[tokio::test]
    async fn privacy_requests_take_the_email_only_profile_under_the_named_address_too() {
        use crate::memory::MemoryStore;
        use waymark_core::event::PrivacyRequest;
        let p = Processor::new(
            waymark_core::journey::Catalog::from_files(&[]).unwrap(),
            MemoryStore::default(),
        );
        // Ana's account (work address) and a guest checkout under her own.
        let guest = checkout(None, "ana@example.com");
        let request = PrivacyRequest {
            request_id: Some("req-1".into()),
            customer_id: Some(7),
            email: Some(address("ana@example.com")),
            orders: vec![],
        };
        let kinds = [
            customer_record(7, "ana.work@example.com"),
            guest,
            EventKind::DataRequested(request.clone()),
            EventKind::CustomerRedacted(request),
        ];
        for (n, kind) in kinds.into_iter().enumerate() {
            let mut e = event("shopify", kind);
            e.id = format!("{:032x}", n + 1);
            e.at = at() + jiff::SignedDuration::from_mins(n as i64);
            p.handle_event(&e).await.unwrap();
            if n == 2 {
                assert_eq!(p.store().contact_count(), 2);
                // The export holds both profiles.
                let outbox = p.store().outbox();
                let export = outbox
                    .iter()
                    .find(|m| m.message.journey == "privacy")
                    .expect("an export");
                let data = serde_json::to_string(&export.message.params).unwrap();
                assert!(data.contains("ana.work@example.com"), "{data}");
                assert!(data.contains("other_profiles"), "{data}");
                assert!(data.contains("\"ana@example.com\""), "{data}");
            }
        }
        assert_eq!(p.store().contact_count(), 0, "both profiles erased");
    }

    /// A journey run that ends having sent no email leaves no item: one
    /// that starts and ends in one event is never written, one that ends
    /// later is deleted by the commit that ends it; either way the history
    /// has its entry and `once` still holds. One that mailed stays.
    #[tokio::test]
    async fn a_run_that_ends_without_an_email_leaves_no_item() {
        use crate::memory::MemoryStore;
        let store = MemoryStore::default();
        let catalog = waymark_core::journey::Catalog::from_files(&[
            waymark_core::journey::ContentFile {
                path: "journeys/once_only.yaml".into(),
                text: "id: once_only\nversion: 1\nname: O\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: mark\n    update: { tag: [seen] }\n".into(),
            },
            waymark_core::journey::ContentFile {
                path: "journeys/waits.yaml".into(),
                text: "id: waits\nversion: 1\nname: W\ntrigger:\n  event: customer_upserted\nexits:\n  - event: order_placed\nsteps:\n  - id: pause\n    wait: 2d\n  - id: mark\n    update: { tag: [waited] }\n".into(),
            },
            // Emails nobody, but publishes a message: its run stays, so an
            // erasure finds that message through it.
            waymark_core::journey::ContentFile {
                path: "journeys/handoff.yaml".into(),
                text: "id: handoff\nversion: 1\nname: H\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: tell_sales\n    emit: sales_handoff\n".into(),
            },
        ])
        .unwrap();
        let p = Processor::new(catalog, store.clone());
        let mut e = event("shopify", customer_record(7, "ana@example.com"));
        p.handle_event(&e).await.unwrap();
        let load = || async {
            store
                .load_for_update(&shop(), &ContactId::for_customer(7))
                .await
                .unwrap()
                .unwrap()
        };
        let state = load().await;
        let journeys: Vec<&str> = state.runs.iter().map(|r| r.run.journey.as_str()).collect();
        assert_eq!(
            journeys,
            ["waits", "handoff"],
            "`once_only` ended at once, unwritten; `handoff` published a message"
        );
        assert!(
            state
                .contact
                .history
                .latest("once_only", "contact")
                .is_some()
        );
        // The wait's run ends two days later, by the tick, having mailed no one.
        p.handle_tick(
            &shop(),
            &ContactId::for_customer(7),
            at() + jiff::SignedDuration::from_hours(49),
        )
        .await
        .unwrap();
        let state = load().await;
        let journeys: Vec<&str> = state.runs.iter().map(|r| r.run.journey.as_str()).collect();
        assert_eq!(journeys, ["handoff"], "{:?}", state.runs);
        assert!(state.contact.audience.tags.contains("waited"), "it ran");
        assert_eq!(
            state
                .contact
                .history
                .latest("waits", "contact")
                .map(|e| e.entry),
            Some(0)
        );
        e.id = "e2".into();
        e.at = at() + jiff::SignedDuration::from_hours(50);
        p.handle_event(&e).await.unwrap();
        assert!(
            load()
                .await
                .runs
                .iter()
                .all(|r| r.run.journey != "once_only"),
            "`once` holds with no item"
        );
    }

    /// A journey run per checkout, past the keys its history remembers:
    /// the oldest checkout's entry is forgotten while its run is still kept
    /// for its message, out of the ordinary load. A late update of that
    /// checkout is taken again on the contact loaded whole, so `once` still
    /// holds and its message is not published again.
    #[tokio::test]
    async fn a_key_the_history_forgot_is_checked_against_the_kept_runs() {
        use crate::memory::MemoryStore;
        let store = MemoryStore::default();
        let catalog = waymark_core::journey::Catalog::from_files(&[
            waymark_core::journey::ContentFile {
                path: "journeys/per_checkout.yaml".into(),
                text: "id: per_checkout\nversion: 1\nname: P\ntrigger:\n  event: checkout_updated\n  run_per: checkout\nsteps:\n  - id: tell\n    emit: checkout_seen\n".into(),
            },
        ])
        .unwrap();
        let p = Processor::new(catalog, store.clone());
        let update = |n: usize, token: usize| {
            let mut e = event("shopify", checkout(Some(7), "ana@example.com"));
            if let EventKind::CheckoutUpdated(c) = &mut e.kind {
                c.token = format!("tok{token}");
            }
            e.id = format!("e{n}");
            e.at = at() + jiff::SignedDuration::from_mins(n as i64);
            e
        };
        let keys = waymark_core::history::KEYS_PER_JOURNEY;
        for n in 0..=keys {
            p.handle_event(&update(n, n)).await.unwrap();
        }
        let id = ContactId::for_customer(7);
        let state = store.load_for_update(&shop(), &id).await.unwrap().unwrap();
        assert_eq!(state.runs.len(), keys + 1, "every run kept for its message");
        assert!(
            state
                .contact
                .history
                .latest("per_checkout", "tok0")
                .is_none()
        );
        assert!(
            store
                .load_active(&shop(), &id)
                .await
                .unwrap()
                .unwrap()
                .runs
                .is_empty()
        );
        let report = p.handle_event(&update(keys + 1, 0)).await.unwrap();
        assert!(
            report.effects.iter().all(|e| !matches!(e, Effect::Emit(_))),
            "{:?}",
            report.effects
        );
        let state = store.load_for_update(&shop(), &id).await.unwrap().unwrap();
        assert_eq!(state.runs.len(), keys + 1, "no second run of tok0");
        // The same for an event taken for a known contact (a campaign's
        // recorded send, a lapse): its path checks the same way.
        let report = p.handle_event_for(&id, &update(keys + 2, 0)).await.unwrap();
        assert!(
            report.effects.iter().all(|e| !matches!(e, Effect::Emit(_))),
            "{:?}",
            report.effects
        );
        let state = store.load_for_update(&shop(), &id).await.unwrap().unwrap();
        assert_eq!(state.runs.len(), keys + 1, "still no second run of tok0");
    }

    /// A contact from a version that kept every run: its run that ended
    /// long ago is deleted by its next commit, its entry kept in the
    /// history, and a `once` journey still never starts again.
    #[tokio::test]
    async fn an_expired_run_is_deleted_and_its_entry_remembered() {
        use crate::memory::MemoryStore;
        let store = MemoryStore::default();
        let mut ana = Contact::new(ContactId::for_customer(7), shop(), at());
        ana.identity.customer_id = Some(7);
        let mut old = run("once_only", 0, "completed");
        old.ended_at = Some(at() - jiff::SignedDuration::from_hours(24 * 100));
        let mut recent = run("once_only", 0, "completed");
        recent.journey = "other".into();
        recent.ended_at = Some(at() - jiff::SignedDuration::from_hours(24 * 10));
        // It mailed the contact: kept while opens, clicks and orders may
        // still name that email.
        recent.sent = vec!["hello".into()];
        store.seed(ContactState {
            contact: ana,
            version: 1,
            recent_events: Default::default(),
            runs: vec![
                VersionedRun {
                    run: old,
                    version: 1,
                },
                VersionedRun {
                    run: recent,
                    version: 1,
                },
            ],
        });
        let catalog = waymark_core::journey::Catalog::from_files(&[
            waymark_core::journey::ContentFile {
                path: "journeys/once_only.yaml".into(),
                text: "id: once_only\nversion: 1\nname: O\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: mark\n    update: { tag: [seen] }\n".into(),
            },
        ])
        .unwrap();
        let p = Processor::new(catalog, store.clone());
        let mut e = event("shopify", customer_record(7, "ana@example.com"));
        p.handle_event(&e).await.unwrap();
        let state = store
            .load_for_update(&shop(), &ContactId::for_customer(7))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            state
                .runs
                .iter()
                .map(|r| r.run.journey.as_str())
                .collect::<Vec<_>>(),
            vec!["other"],
            "the run past its keeping time is gone; the recent one stays"
        );
        let entered = state.contact.history.latest("once_only", "contact");
        assert_eq!(entered.map(|e| e.entry), Some(0));
        e.id = "e2".into();
        e.at = at() + jiff::SignedDuration::from_hours(1);
        p.handle_event(&e).await.unwrap();
        let state = store
            .load_for_update(&shop(), &ContactId::for_customer(7))
            .await
            .unwrap()
            .unwrap();
        assert!(
            state.runs.iter().all(|r| r.run.journey != "once_only"),
            "`once` holds with the run's item gone"
        );
    }

    /// A lookup read a moment late that names a contact that is no more
    /// (an anonymous visitor merged away, leaving no tombstone) is read
    /// again as it is now: the event goes to the contact the visitor went
    /// into, and the visitor is not made again.
    #[tokio::test]
    async fn a_late_lookup_naming_a_contact_no_more_is_read_again() {
        use crate::memory::MemoryStore;
        let store = MemoryStore::default();
        let p = Processor::new(
            waymark_core::journey::Catalog::from_files(&[]).unwrap(),
            store.clone(),
        );
        p.handle_event(&event("shopify", customer_record(7, "ana@example.com")))
            .await
            .unwrap();
        let gone = ContactId::for_anonymous("anon-1");
        store.answer_next_find_late(
            &shop(),
            Resolution {
                contact: Some(gone.clone()),
                ..Default::default()
            },
        );
        let mut e = event("shopify", checkout(None, "ana@example.com"));
        e.id = "e2".into();
        let report = p.handle_event(&e).await.unwrap();
        assert_eq!(report.contact, Some(ContactId::for_customer(7)));
        assert!(
            store
                .load_for_update(&shop(), &gone)
                .await
                .unwrap()
                .is_none(),
            "not made again"
        );
    }

    /// Once a contact holds the address its browser signs in with (an
    /// event found both lookups leading to it), the browser's event reads
    /// the browser's lookup alone; an address it does not hold is looked
    /// up as ever, and goes to its own person.
    #[tokio::test]
    async fn a_browser_whose_contact_holds_the_address_reads_one_lookup() {
        use crate::memory::MemoryStore;
        let store = MemoryStore::default();
        let p = Processor::new(
            waymark_core::journey::Catalog::from_files(&[]).unwrap(),
            store.clone(),
        );
        let ana = ContactId::for_email(&address("ana@example.com"));
        let mut lookups = Vec::new();
        for id in ["e1", "e2", "e3", "e4"] {
            let before = store.lookups_read();
            let report = p
                .handle_event(&on_browser(id, "ana@example.com"))
                .await
                .unwrap();
            assert_eq!(report.contact, Some(ana.clone()), "{id}");
            lookups.push(store.lookups_read() - before);
        }
        // The first reads the browser's lookup, which leads nowhere, then
        // the address's (and makes the contact); the second reads the
        // browser's, then all of them (and finds both its own); from then
        // on, one.
        assert_eq!(lookups, [2, 3, 1, 1]);
        let held = store.load_for_update(&shop(), &ana).await.unwrap().unwrap();
        assert_eq!(
            held.contact.identity.held.email.as_deref(),
            Some("ana@example.com")
        );
        assert!(held.recent_events.contains("e4"));
        // Another address on the same browser: every lookup is read, and
        // that address is a person of its own (ana is not anonymous).
        let before = store.lookups_read();
        let report = p
            .handle_event(&on_browser("e5", "bo@example.com"))
            .await
            .unwrap();
        assert_eq!(store.lookups_read() - before, 3);
        assert_eq!(
            report.contact,
            Some(ContactId::for_email(&address("bo@example.com")))
        );
    }

    /// A browser whose contact holds its address, since merged away while
    /// its lookups still lead there (a crash between the merge's commit
    /// and its repointing): the event goes on to the contact it went into.
    #[tokio::test]
    async fn a_held_lookup_of_a_contact_merged_away_is_followed() {
        use crate::memory::MemoryStore;
        let store = MemoryStore::default();
        let p = Processor::new(
            waymark_core::journey::Catalog::from_files(&[]).unwrap(),
            store.clone(),
        );
        let ana = ContactId::for_email(&address("ana@example.com"));
        for id in ["e1", "e2"] {
            p.handle_event(&on_browser(id, "ana@example.com"))
                .await
                .unwrap();
        }
        let held = store.load_for_update(&shop(), &ana).await.unwrap().unwrap();
        assert!(held.contact.identity.held.email.is_some());
        let into = ContactId::for_customer(7);
        store.seed(ContactState {
            contact: held.contact.tombstone(&into),
            version: held.version + 1,
            recent_events: Default::default(),
            runs: vec![],
        });
        store.seed(ContactState {
            contact: Contact::new(into.clone(), shop(), at()),
            version: 1,
            recent_events: Default::default(),
            runs: vec![],
        });
        let report = p
            .handle_event(&on_browser("e3", "ana@example.com"))
            .await
            .unwrap();
        assert_eq!(report.contact, Some(into.clone()));
        let survivor = store
            .load_for_update(&shop(), &into)
            .await
            .unwrap()
            .unwrap();
        assert!(survivor.recent_events.contains("e3"));
    }

    #[tokio::test]
    async fn a_load_a_moment_late_is_read_again_as_it_is_after_its_commit_conflicts() {
        use crate::memory::MemoryStore;
        let store = MemoryStore::default();
        let p = Processor::new(
            waymark_core::journey::Catalog::from_files(&[]).unwrap(),
            store.clone(),
        );
        let id = ContactId::for_customer(7);
        p.handle_event(&event("shopify", customer_record(7, "ana@example.com")))
            .await
            .unwrap();
        let before = store.load_for_update(&shop(), &id).await.unwrap().unwrap();
        let mut second = event("shopify", checkout(Some(7), "ana@example.com"));
        second.id = "e2".into();
        p.handle_event(&second).await.unwrap();
        // A replica still behind the second event's commit: every
        // ordinary load of the contact answers it as it was before.
        store.answer_loads_late(before.clone());
        let mut third = event("shopify", customer_record(7, "ana@example.com"));
        third.id = "e3".into();
        let report = p.handle_event(&third).await.unwrap();
        assert_eq!(report.contact, Some(id.clone()));
        let mut tick_event = event("shopify", checkout(Some(7), "ana@example.com"));
        tick_event.id = "e4".into();
        p.handle_event_for(&id, &tick_event).await.unwrap();
        // An open loads the contact whole, also a moment late at first.
        let mut open = event(
            "ses",
            EventKind::EmailOpened(waymark_core::event::Engagement {
                email: waymark_core::ids::EmailAddress::parse("ana@example.com").unwrap(),
                message: None,
                journey: None,
                link: None,
                machine: false,
            }),
        );
        open.id = "e5".into();
        p.handle_event(&open).await.unwrap();
        store.caught_up(&shop(), &id);
        let now = store.load_for_update(&shop(), &id).await.unwrap().unwrap();
        assert_eq!(
            now.version,
            before.version + 4,
            "each commit on the one before"
        );
        for e in ["e2", "e3", "e4", "e5"] {
            assert!(now.recent_events.contains(e), "{e} kept");
        }
    }

    #[tokio::test]
    async fn tombstones_are_followed_to_the_live_contact_but_never_in_circles() {
        use crate::memory::MemoryStore;
        let store = MemoryStore::default();
        let seed = |id: u64, into: Option<u64>| {
            let c = Contact::new(ContactId::for_customer(id), shop(), at());
            let contact = match into {
                Some(into) => c.tombstone(&ContactId::for_customer(into)),
                None => c,
            };
            store.seed(ContactState {
                contact,
                version: 1,
                recent_events: Default::default(),
                runs: vec![],
            });
        };
        // 1 → 2 → 3 (live); 8 → 9 → 8.
        seed(1, Some(2));
        seed(2, Some(3));
        seed(3, None);
        seed(8, Some(9));
        seed(9, Some(8));
        let p = Processor::new(
            waymark_core::journey::Catalog::from_files(&[]).unwrap(),
            store,
        );
        let report = p
            .handle_event(&event("shopify", customer_record(1, "ana@example.com")))
            .await
            .unwrap();
        assert_eq!(report.contact, Some(ContactId::for_customer(3)));
        let err = p
            .handle_event(&event("shopify", customer_record(8, "bo@example.com")))
            .await
            .unwrap_err();
        assert!(matches!(err, ProcessError::MergeChain(_)), "{err}");
    }

    #[tokio::test]
    async fn erasing_a_person_keeps_the_lookup_of_an_address_now_someone_elses() {
        use crate::memory::MemoryStore;
        use waymark_core::event::{Identity, PrivacyRequest};
        let p = Processor::new(
            waymark_core::journey::Catalog::from_files(&[]).unwrap(),
            MemoryStore::default(),
        );
        let mut n = 0;
        let mut send = |kind: EventKind| {
            n += 1;
            let mut e = event("shopify", kind);
            e.id = format!("{n:032x}");
            e.at = at() + jiff::SignedDuration::from_mins(n);
            e
        };
        // Ana's account, then Bo's with x@; Ana's record later names x@
        // too (not merged: two customers), then moves on to y@.
        for kind in [
            customer_record(1, "a@example.com"),
            customer_record(2, "x@example.com"),
            customer_record(1, "x@example.com"),
            customer_record(1, "y@example.com"),
        ] {
            p.handle_event(&send(kind)).await.unwrap();
        }
        let find = |email: &str| {
            let identity = Identity {
                email: Some(address(email)),
                ..Default::default()
            };
            let store = p.store().clone();
            async move { store.find(&shop(), &identity).await.unwrap().contact }
        };
        assert_eq!(
            find("x@example.com").await,
            Some(ContactId::for_customer(2))
        );
        let redact = EventKind::CustomerRedacted(PrivacyRequest {
            request_id: None,
            customer_id: Some(1),
            email: Some(address("y@example.com")),
            orders: vec![],
        });
        p.handle_event(&send(redact)).await.unwrap();
        assert_eq!(find("y@example.com").await, None, "hers is gone");
        assert_eq!(
            find("x@example.com").await,
            Some(ContactId::for_customer(2)),
            "Bo's stays"
        );
    }

    /// An ordinary load leaves the older event ids where they are stored:
    /// a redelivered event as old as one of their blocks is recognised
    /// all the same (the contact is read whole), and a new one is taken.
    #[tokio::test]
    async fn a_late_redelivery_is_recognised_though_its_id_was_not_loaded() {
        use crate::memory::MemoryStore;
        let store = MemoryStore::default();
        let p = Processor::new(
            waymark_core::journey::Catalog::from_files(&[]).unwrap(),
            store.clone(),
        );
        let nth = |n: i64| {
            let mut e = event("shopify", customer_record(1, "a@example.com"));
            e.id = format!("{n:032x}");
            e.at = at() + jiff::SignedDuration::from_mins(n);
            e
        };
        for n in 0..40 {
            let report = p.handle_event(&nth(n)).await.unwrap();
            assert!(!report.replayed, "event {n}");
        }
        let id = ContactId::for_customer(1);
        let parked = store.load_active(&shop(), &id).await.unwrap().unwrap();
        assert!(!parked.recent_events.is_whole(), "the twin parks them");
        assert_eq!(parked.recent_events.knows(&nth(3).id, nth(3).at), None);
        let version = parked.version;
        for n in [3, 39] {
            let report = p.handle_event(&nth(n)).await.unwrap();
            assert!(report.replayed, "event {n} again");
        }
        assert!(!p.handle_event(&nth(40)).await.unwrap().replayed);
        let now = store.load_for_update(&shop(), &id).await.unwrap().unwrap();
        assert_eq!(now.version, version + 1, "only the new one written");
        assert!(now.recent_events.is_whole() && now.recent_events.contains(&nth(3).id));
    }

    /// A customer id the erased contact still carries but whose lookup
    /// leads to someone else keeps that lookup, as an address does.
    #[tokio::test]
    async fn erasing_a_person_keeps_a_customer_lookup_that_leads_to_someone_else() {
        use crate::memory::MemoryStore;
        use waymark_core::event::{Identity, PrivacyRequest};
        let store = MemoryStore::default();
        let p = Processor::new(
            waymark_core::journey::Catalog::from_files(&[]).unwrap(),
            store.clone(),
        );
        let mut n = 0;
        let mut send = |kind: EventKind| {
            n += 1;
            let mut e = event("shopify", kind);
            e.id = format!("{n:032x}");
            e.at = at() + jiff::SignedDuration::from_mins(n);
            e
        };
        for kind in [
            customer_record(1, "a@example.com"),
            customer_record(2, "b@example.com"),
        ] {
            p.handle_event(&send(kind)).await.unwrap();
        }
        // Ana's record carries Bo's customer id, whose lookup leads to Bo.
        let mut ana = store
            .load_for_update(&shop(), &ContactId::for_customer(1))
            .await
            .unwrap()
            .unwrap();
        ana.contact.identity.customer_id = Some(2);
        store.seed(ana);
        let redact = EventKind::CustomerRedacted(PrivacyRequest {
            request_id: None,
            customer_id: None,
            email: Some(address("a@example.com")),
            orders: vec![],
        });
        p.handle_event(&send(redact)).await.unwrap();
        let find = |identity: Identity| {
            let store = store.clone();
            async move { store.find(&shop(), &identity).await.unwrap().contact }
        };
        let email = |e: &str| Identity {
            email: Some(address(e)),
            ..Default::default()
        };
        assert_eq!(find(email("a@example.com")).await, None, "hers is gone");
        assert_eq!(
            find(Identity {
                customer_id: Some(2),
                ..Default::default()
            })
            .await,
            Some(ContactId::for_customer(2)),
            "Bo's customer lookup stays"
        );
    }

    /// An erasure reads the person as they are now, not as a replica a
    /// moment behind has them: an address they moved to in the commit just
    /// before is erased too.
    #[tokio::test]
    async fn an_erasure_reads_the_person_as_they_are_now_while_a_replica_lags() {
        use crate::memory::MemoryStore;
        use waymark_core::event::{Identity, PrivacyRequest};
        let store = MemoryStore::default();
        let p = Processor::new(
            waymark_core::journey::Catalog::from_files(&[]).unwrap(),
            store.clone(),
        );
        let id = ContactId::for_customer(1);
        let mut first = event("shopify", customer_record(1, "a@example.com"));
        first.id = "e1".into();
        p.handle_event(&first).await.unwrap();
        let behind = store.load_for_update(&shop(), &id).await.unwrap().unwrap();
        let mut moved = event("shopify", customer_record(1, "b@example.com"));
        moved.id = "e2".into();
        moved.at = at() + jiff::SignedDuration::from_mins(1);
        p.handle_event(&moved).await.unwrap();
        // Every eventually consistent load still answers the contact
        // before the move.
        store.answer_loads_late(behind);
        let mut redact = event(
            "shopify",
            EventKind::CustomerRedacted(PrivacyRequest {
                request_id: None,
                customer_id: Some(1),
                email: Some(address("a@example.com")),
                orders: vec![],
            }),
        );
        redact.id = "e3".into();
        redact.at = at() + jiff::SignedDuration::from_mins(2);
        p.handle_event(&redact).await.unwrap();
        for email in ["a@example.com", "b@example.com"] {
            let identity = Identity {
                email: Some(address(email)),
                ..Default::default()
            };
            let found = store.find_current(&shop(), &identity).await.unwrap();
            assert_eq!(found.contact, None, "{email}'s lookup erased");
        }
        store.caught_up(&shop(), &id);
        assert!(store.load_for_update(&shop(), &id).await.unwrap().is_none());
    }

    #[test]
    fn only_the_customer_record_folds_an_email_only_profile_into_a_customer() {
        let mut ana = Contact::new(ContactId::for_customer(7), shop(), at());
        ana.identity.customer_id = Some(7);
        ana.identity.email = Some(address("ana.work@example.com"));
        let mut lead = Contact::new(
            ContactId::for_email(&address("ana@example.com")),
            shop(),
            at(),
        );
        lead.identity.email = Some(address("ana@example.com"));

        let record = event("shopify", customer_record(7, "ana@example.com"));
        assert!(identity::same_person(&ana, &lead, &record));
        // Another address, another customer, or a record of someone else.
        assert!(!identity::same_person(
            &ana,
            &lead,
            &event("shopify", customer_record(7, "bo@example.com"))
        ));
        assert!(!identity::same_person(
            &ana,
            &lead,
            &event("shopify", customer_record(8, "ana@example.com"))
        ));
        let mut other_customer = lead.clone();
        other_customer.identity.customer_id = Some(9);
        assert!(!identity::same_person(&ana, &other_customer, &record));
        // Not from the shop's signed webhooks.
        assert!(!identity::same_person(
            &ana,
            &lead,
            &event("site", customer_record(7, "ana@example.com"))
        ));
        // A logged-in customer's checkout with someone's address typed in.
        let typed = checkout(Some(7), "ana@example.com");
        assert!(!identity::same_person(
            &ana,
            &lead,
            &event("shopify", typed)
        ));
        // An anonymous visitor is always this person's (its browser said so).
        let visitor = Contact::new(ContactId::for_anonymous("anon-1"), shop(), at());
        assert!(identity::same_person(
            &ana,
            &visitor,
            &event("site", customer_record(7, "x@example.com"))
        ));
    }
}
