//! The ports the services need. Each is implemented by an adapter in
//! `waymark-aws`. Methods are idempotent where the edge is at-least-once.

use jiff::Timestamp;
use std::future::Future;
use waymark_core::analytics::Counts;
use waymark_core::contact::Contact;
use waymark_core::event::{Event, Identity};
use waymark_core::ids::{ContactId, EmailAddress, RecentEvents, ShopDomain};
use waymark_core::journey::Run;
use waymark_core::outbox::{OutboxMessage, SendFailure};

/// What went wrong in storage, which decides whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// Throttled or over provisioned capacity: try again later.
    Throttled,
    /// A passing failure of the service or the network (timeout, 5xx).
    Transient,
    /// Work that continues on the next attempt (a long erasure, a batch the
    /// service kept partly refusing).
    Unfinished,
    /// An item or a transaction over DynamoDB's limits: no retry helps.
    TooLarge,
    /// A stored item that does not read back: no retry helps.
    Corrupt,
    /// Anything else the service refused (validation, access, a state the
    /// caller did not expect): no retry helps.
    Rejected,
}

impl StoreErrorKind {
    /// Whether the same call may succeed later.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Transient | Self::Unfinished)
    }
}

/// A storage failure the caller cannot fix by retrying its own logic: what
/// was being done, what kind of failure it was, and the adapter's error.
#[derive(Debug, thiserror::Error)]
#[error("storage: {what}: {detail}")]
pub struct StoreError {
    kind: StoreErrorKind,
    what: String,
    detail: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    pub fn new(kind: StoreErrorKind, what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind,
            what: what.into(),
            detail: detail.into(),
            source: None,
        }
    }

    /// Keeps the adapter's own error as the source.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

/// A verified delivery's receipt, keyed by the platform's delivery id.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub shop: ShopDomain,
    pub delivery_id: String,
    /// The platform's id of the underlying event (`X-Shopify-Event-Id`): the
    /// same event can come in several deliveries.
    pub platform_event_id: Option<String>,
    pub topic: String,
    /// Logical time of the delivery (the payload's, else the header's);
    /// unknown for a delivery too broken to say, which is then kept until
    /// an operator removes it.
    pub received_at: Option<Timestamp>,
}

/// A verified delivery that could not be parsed, kept for inspection.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub receipt: Receipt,
    pub error: String,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    /// The business fact was stored before, by another delivery: no effect.
    Duplicate,
    /// This same delivery (its event's source delivery id) stored the fact
    /// before: a redelivery, no effect.
    Again,
}

/// Allowances counted in the store, so every function instance shares them
/// (see `waymark_core::ratelimit`).
pub trait Allowances {
    /// Adds `take.n` to the window's count unless that would pass
    /// `take.max`: `false`, and nothing added, when it would.
    fn take(
        &self,
        take: &waymark_core::ratelimit::Take,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The results counters (see `waymark_core::analytics`).
pub trait Counters {
    /// Adds `counts` for the fact `once` (a fact id unique per shop), unless
    /// that fact was counted before: the id and the counts are written
    /// together (the DynamoDB adapter adds them to the counters off its
    /// stream, a moment later). `false` when it had been.
    fn count_once(
        &self,
        shop: &ShopDomain,
        once: &str,
        at: Timestamp,
        counts: &Counts,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Every counter of `shop` for the days `from..=to`, summed over shards.
    fn read_counts(
        &self,
        shop: &ShopDomain,
        from: jiff::civil::Date,
        to: jiff::civil::Date,
    ) -> impl Future<Output = Result<Counts, StoreError>> + Send;
}

/// Where a scheduled campaign stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignPhase {
    /// Waiting for its time.
    Scheduled,
    /// Recording the A/B test share's sends.
    Testing,
    /// The test is out; the winner is decided at `decide_at`.
    Deciding,
    /// Recording everyone's sends (the rest, with the winner, after a test).
    Sending,
    /// Every send recorded.
    Done,
    Cancelled,
}

/// A campaign's progress, saved after every page of its fan-out.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CampaignState {
    pub phase: CampaignPhase,
    pub started_at: Option<Timestamp>,
    /// Where the fan-out is: the segment (index into the audience's
    /// segments) and the last member read in it.
    pub segment: usize,
    pub after: Option<String>,
    /// Recipients whose send was recorded, and members met again in another
    /// segment (one email per person), when the timer recorded them itself
    /// (an earlier release); the workers count theirs in [`Worked`].
    pub recorded: u64,
    pub overlaps: u64,
    pub decide_at: Option<Timestamp>,
    pub winner: Option<String>,
    pub scheduled_at: Timestamp,
    /// Pages of the current wave handed to the workers so far (the next
    /// page's number).
    #[serde(default)]
    pub pages: u64,
    /// Every page of the current wave is handed over: the wave ends when
    /// the workers have finished that many.
    #[serde(default)]
    pub planned: bool,
    /// When the wave's last page was handed over.
    #[serde(default)]
    pub planned_at: Option<Timestamp>,
    /// Pages the workers had not finished when a wave was ended without
    /// them (parked in the failure queue past the grace time).
    #[serde(default)]
    pub missing_pages: u64,
    /// How the A/B test was decided (significant or not, and why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<waymark_core::campaign::Decision>,
}

impl CampaignState {
    /// A campaign just scheduled (at `at`): nothing sent yet.
    pub fn scheduled(at: Timestamp) -> Self {
        Self {
            phase: CampaignPhase::Scheduled,
            started_at: None,
            segment: 0,
            after: None,
            recorded: 0,
            overlaps: 0,
            decide_at: None,
            winner: None,
            scheduled_at: at,
            pages: 0,
            planned: false,
            planned_at: None,
            missing_pages: 0,
            decision: None,
        }
    }

    /// Which scheduling of the campaign this is (a campaign sent again is
    /// scheduled again): its pages carry it, so a late page of an earlier
    /// send counts for nothing.
    pub fn run(&self) -> i64 {
        self.scheduled_at.as_millisecond()
    }
}

/// A campaign as stored: its definition, progress and version.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRecord {
    pub campaign: waymark_core::campaign::Campaign,
    pub state: CampaignState,
    pub version: u64,
    /// What the workers finished in this run.
    pub worked: Worked,
}

impl CampaignRecord {
    /// Recipients whose send was recorded, and members met again in
    /// another segment: the workers' counts, with what the timer counted
    /// itself before the workers did it (a send begun by an earlier release).
    pub fn recorded(&self) -> (u64, u64) {
        (
            self.state.recorded + self.worked.recorded,
            self.state.overlaps + self.worked.overlaps,
        )
    }
}

/// What the workers finished of a campaign's run: pages per wave, and the
/// sends they recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Worked {
    pub testing: u64,
    pub sending: u64,
    pub recorded: u64,
    pub overlaps: u64,
}

impl Worked {
    /// Pages finished in a wave (`Testing`, or `Sending`).
    pub fn pages(&self, wave: CampaignPhase) -> u64 {
        match wave {
            CampaignPhase::Testing => self.testing,
            _ => self.sending,
        }
    }
}

/// One page of a campaign's audience, as the timer hands it to a worker:
/// the members to record a send for, with their variant.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CampaignPage {
    pub shop: ShopDomain,
    pub campaign: String,
    /// [`CampaignState::run`] of the send it belongs to.
    pub run: i64,
    /// `Testing` (the A/B test's share) or `Sending`.
    pub wave: CampaignPhase,
    /// Its number in the wave, from 0.
    pub number: u64,
    /// The tick that read it: the logical time its sends are recorded at.
    pub at: Timestamp,
    pub started_at: Timestamp,
    pub sends: Vec<PageSend>,
}

/// A member of a page: who, and the variant they get (none: the campaign
/// as written).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PageSend {
    pub contact: ContactId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// Where the timer hands campaign pages to the workers that record them
/// (an SQS queue in production; the twin records them at once).
pub trait PageQueue {
    fn enqueue(&self, page: &CampaignPage) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What became of an email a cancelled campaign schedule queued, as the
/// next schedule's decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailFate {
    /// Never tried: held or queued with no attempt, or stopped by the
    /// cancel at its first claim. The next schedule may write over it.
    Unsent,
    /// Claimed by dispatch this moment: known once that attempt settles.
    Sending,
    /// Sent, or may have been (an attempt made: retrying, parked, stopped
    /// after an attempt), or skipped for another reason, or gone.
    Settled,
}

impl EmailFate {
    /// The fate of an outbox message in state `st` (as stored: `held`,
    /// `queued`, `sending`, `skipped`…) after `attempts` claims, skipped
    /// for `skip_reason`: the one rule both adapters read it by.
    pub fn of(st: &str, attempts: u64, skip_reason: Option<&str>) -> Self {
        match st {
            "held" | "queued" if attempts == 0 => Self::Unsent,
            "skipped" if attempts == 1 && skip_reason == Some(waymark_core::campaign::STOPPED) => {
                Self::Unsent
            }
            "sending" => Self::Sending,
            _ => Self::Settled,
        }
    }
}

/// Scheduled campaigns (written by `waymark campaigns schedule`, driven by
/// the timer).
pub trait CampaignStore {
    /// Stores `campaign` to go at its time. Refused (`false`) while an
    /// earlier schedule of it is under way (testing, deciding, sending),
    /// and once one is done: its recipients' decisions are kept under its
    /// id (90 days), so a second send of the same id would skip whoever got
    /// the first. A new send is a new id; a cancelled one may be scheduled
    /// again (it goes to whom the cancelled one did not mail).
    fn schedule(
        &self,
        shop: &ShopDomain,
        campaign: &waymark_core::campaign::Campaign,
        at: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn campaign(
        &self,
        shop: &ShopDomain,
        id: &str,
    ) -> impl Future<Output = Result<Option<CampaignRecord>, StoreError>> + Send;
    /// Saves progress unless someone changed the campaign since `version`
    /// (a cancel, another tick): `false` then. Due again at `due`.
    fn save_campaign(
        &self,
        shop: &ShopDomain,
        id: &str,
        state: &CampaignState,
        version: u64,
        due: Option<Timestamp>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Stops a campaign that is not done: nothing more is recorded, sends
    /// recorded but not yet decided are dropped, and dispatch stops its
    /// emails not sent yet (held for a local time, or queued). `false` if
    /// there was nothing to stop.
    fn cancel(
        &self,
        shop: &ShopDomain,
        id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Cancels a campaign whose fan-out is done (some of its emails still
    /// waiting for their time): dispatch stops what has not gone. `false`
    /// unless it was done.
    fn cancel_done(
        &self,
        shop: &ShopDomain,
        id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// What became of the outbox message `id` (of `shop`): see
    /// [`EmailFate`].
    fn email_fate(
        &self,
        shop: &ShopDomain,
        id: &str,
    ) -> impl Future<Output = Result<EmailFate, StoreError>> + Send;
    /// Whether the email `id` (of `shop`) exists already: written by a
    /// campaign page that decided and sent its recipient itself. One its
    /// worker left claimed and unsettled (it stopped) is put in the due
    /// index at `at` too, so the timer hands it to dispatch (as
    /// [`Outbox::watch`] does).
    fn email_written(
        &self,
        shop: &ShopDomain,
        id: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Marks `page` finished and adds its counts to the campaign's, once:
    /// `false` when it was marked before (a redelivered page) or belongs
    /// to an earlier run.
    fn page_done(
        &self,
        page: &CampaignPage,
        recorded: u64,
        overlaps: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Up to `limit` members of `segment` after the member key `after`, and
    /// the key to go on from (`None`: the last page).
    fn member_page(
        &self,
        shop: &ShopDomain,
        segment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<Member>, Option<String>), StoreError>> + Send;
}

/// Where ingest puts verified deliveries.
pub trait Inbox {
    /// Stores the event, with what its receipt adds to it (the platform's
    /// event id), unless the same fact was stored before: the fact id
    /// decides, and a redelivery of the same delivery is told apart.
    fn record(
        &self,
        receipt: &Receipt,
        event: &Event,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;
    /// Keeps a delivery that failed to parse.
    fn reject(&self, rejected: &Rejected) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A contact with its runs, as loaded for an update, with the versions the
/// commit is conditional on.
#[derive(Debug, Clone)]
pub struct ContactState {
    pub contact: Contact,
    /// 0 when the contact does not exist yet.
    pub version: u64,
    /// Ids of the newest events applied, so a replayed event is a no-op.
    pub recent_events: RecentEvents,
    pub runs: Vec<VersionedRun>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionedRun {
    pub run: Run,
    /// 0 for a run not stored yet.
    pub version: u64,
}

/// Everything one step of processing changes, written atomically.
#[derive(Debug, Clone)]
pub struct Commit {
    pub contact: Contact,
    pub expected_version: u64,
    pub recent_events: RecentEvents,
    /// Runs that changed, each conditional on its loaded version.
    pub runs: Vec<VersionedRun>,
    pub outbox: Vec<OutboxMessage>,
    /// Identities to point at this contact (email, customer id); one already
    /// owned by another contact is left alone (merging is explicit).
    pub identities: Identity,
    /// Segments entered and left: membership items to add and remove.
    pub segments_entered: Vec<String>,
    pub segments_exited: Vec<String>,
    /// An anonymous visitor's contact folded into this one: removed in the
    /// same commit, its anonymous ids re-pointed here.
    pub absorbed: Option<Absorbed>,
    /// What the results count for this step (added in the same commit, so
    /// a replayed event counts nothing).
    pub counts: Counts,
    /// Ended runs past their keeping time, (journey, key, entry): deleted
    /// in the commit (the contact's history remembers their entries).
    pub expired: Vec<(String, String, u32)>,
}

/// The contact a merge removes, with what must go with it.
#[derive(Debug, Clone)]
pub struct Absorbed {
    pub id: ContactId,
    pub version: u64,
    /// What is left in its place (see `Contact::tombstone`); none for an
    /// anonymous visitor, whose only lookups (its browsers) are re-pointed,
    /// so nothing could lead to it: it is deleted.
    pub tombstone: Option<Contact>,
    /// Its lookups, pointed at the surviving contact.
    pub emails: Vec<EmailAddress>,
    pub contracts: Vec<u64>,
    pub anonymous_ids: Vec<String>,
    pub segments: Vec<String>,
    /// Its runs' sort keys (journey, key, entry), active ones first.
    pub runs: Vec<(String, String, u32)>,
}

/// One person's erasure: everything Waymark keeps about them goes, except
/// a record that the erasure happened (and suppressions, kept hashed, so a
/// complaint or bounce is still honoured).
#[derive(Debug, Clone)]
pub struct Erasure {
    pub shop: ShopDomain,
    /// The contact (and its runs) if one exists.
    pub contact: Option<ContactId>,
    /// What is left of contacts merged into it.
    pub merged: Vec<ContactId>,
    /// Identities whose lookups go: customer id, emails, orders, browsers.
    pub customer_id: Option<u64>,
    pub emails: Vec<EmailAddress>,
    pub orders: Vec<u64>,
    /// Subscription contracts (their lookups name the person too).
    pub contracts: Vec<u64>,
    pub anonymous_ids: Vec<String>,
    pub segments: Vec<String>,
    /// Outbox messages (emails and bus events) queued for the person.
    pub messages: Vec<String>,
    /// Stored events the person's contact applied.
    pub events: Vec<String>,
    /// Why: `customers/redact`, `customers/delete`, `anonymous/expired`.
    pub reason: String,
    pub request: Option<String>,
    pub at: Timestamp,
    /// Whether a record of the erasure is kept as proof (a person's
    /// request); a forgotten anonymous visitor leaves none, so forgetting
    /// visitors does not grow the table either.
    pub proof: bool,
}

/// Contacts whose inactivity threshold falls on one day, as the sweep reads
/// them from the time-bucketed index.
#[derive(Debug, Clone, Default)]
pub struct IdleBatch {
    pub contacts: Vec<(ShopDomain, ContactId)>,
    /// Index items read to find them (the sweep's cost).
    pub items_read: u64,
}

/// The time-bucketed inactivity index: each contact sits in the bucket of
/// the UTC day its inactivity threshold falls on, moved on every commit.
pub trait IdleIndex {
    /// The contacts whose threshold day is in `from..=to` (days since
    /// 1970-01-01, UTC): one query per shard, whatever the range.
    fn idle_between(
        &self,
        from: i32,
        to: i32,
    ) -> impl Future<Output = Result<IdleBatch, StoreError>> + Send;
    /// The last day the sweep finished, if any.
    fn sweep_cursor(&self) -> impl Future<Output = Result<Option<i32>, StoreError>> + Send;
    fn set_sweep_cursor(&self, day: i32) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Privacy requests: erasing a person or a whole shop.
pub trait Privacy {
    /// Deletes what the erasure lists and writes its record; returns the
    /// number of items deleted. Idempotent.
    fn erase(&self, erasure: &Erasure) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Deletes every item of a shop (`shop/redact`), but the erasure record.
    fn erase_shop(
        &self,
        shop: &ShopDomain,
        at: Timestamp,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// One member of a segment, for counts and exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub contact: ContactId,
    pub email: Option<EmailAddress>,
}

/// Segment membership as stored: one item per member, written in the same
/// commit as the contact, so a count is one query, never a scan.
pub trait Segments {
    fn count(
        &self,
        shop: &ShopDomain,
        segment: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    fn members(
        &self,
        shop: &ShopDomain,
        segment: &str,
    ) -> impl Future<Output = Result<Vec<Member>, StoreError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Someone else changed the contact or a run: reload and try again.
    #[error("concurrent update")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an event's identity resolves to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// The contact (by customer id first, then email), if any.
    pub contact: Option<ContactId>,
    /// The identities that point at no contact yet: the commit claims them.
    pub unmapped: Identity,
    /// Other contacts the event's identities point at, perhaps the same
    /// person's (the processor decides; the first that is merges into
    /// `contact`): the email's contact, then the browser's.
    pub merge: Vec<ContactId>,
}

/// Contacts, their identities and their runs.
pub trait ContactStore {
    fn find(
        &self,
        shop: &ShopDomain,
        identity: &Identity,
    ) -> impl Future<Output = Result<Resolution, StoreError>> + Send;
    /// As `find`, with every lookup read as it is now: `find` may answer a
    /// moment late (a lookup read eventually consistent), naming a contact
    /// just merged away or erased.
    fn find_current(
        &self,
        shop: &ShopDomain,
        identity: &Identity,
    ) -> impl Future<Output = Result<Resolution, StoreError>> + Send;
    /// The contact, its recent event ids and every run it has stored.
    fn load_for_update(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> impl Future<Output = Result<Option<ContactState>, StoreError>> + Send;
    /// As `load_for_update`, without the ended runs kept only for their
    /// messages (`Run::kept_for_messages`), which most events never read
    /// (`journey::reads_ended_runs`). A commit after it leaves them as
    /// they are. It may answer a moment late (read eventually consistent:
    /// half the units): a contact as it was before its last commit. A
    /// commit built on that fails as a conflict (its version is behind),
    /// so the caller reads again with `load_active_current`; a contact not
    /// found is asked again as it is now before `None` is answered.
    fn load_active(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> impl Future<Output = Result<Option<ContactState>, StoreError>> + Send;
    /// As `load_for_update`, read as `load_active` is: it may answer a
    /// moment late, for a caller whose versioned commit would fail on it
    /// (never an erasure or an export, which act on what they read).
    fn load_whole(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> impl Future<Output = Result<Option<ContactState>, StoreError>> + Send;
    /// As `load_active`, read as the contact is now: after a conflict, and
    /// where a decision is acted on without a versioned commit.
    fn load_active_current(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> impl Future<Output = Result<Option<ContactState>, StoreError>> + Send;
    fn commit(&self, commit: Commit) -> impl Future<Output = Result<(), CommitError>> + Send;
    /// Stores a campaign recipient's decision, decided and acted on straight
    /// from its page without writing the contact: `run` (ended) joins the
    /// contact's runs if it has none of that journey, key and entry yet,
    /// carrying `counts` (its entry and end), which count once. `false`:
    /// there was one already, and nothing was written or counted.
    fn put_decision(
        &self,
        shop: &ShopDomain,
        contact: &ContactId,
        run: &Run,
        counts: &waymark_core::analytics::Counts,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// How long a queued message may wait for its sender before the timer hands
/// it to dispatch again: its stream record may have been lost (retries
/// exhausted, a record past its age), and a message must never sit `queued`
/// forever.
pub const REDRIVE_QUEUED: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);

/// How long a settled message (sent, skipped, parked) is kept before it
/// expires: long enough to look into a complaint or re-drive a parked one;
/// the outbox does not grow with every email ever sent.
pub const SETTLED_RETENTION: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 30);

/// Something due in the sparse due index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Due {
    /// A contact with a run whose wait is due.
    Contact { shop: ShopDomain, id: ContactId },
    /// An outbox message whose retry (or claim lease) is due.
    Message { id: String },
    /// A campaign whose send (or its next page, or its A/B decision) is due.
    Campaign { shop: ShopDomain, id: String },
}

/// How many parts the due index is split into. The schedule invokes the
/// timer once per shard each minute, so what falls due in one minute is
/// fired by this many invocations side by side (the template's `Shard0` …
/// `Shard7` schedules).
pub const DUE_SHARDS: u32 = 8;

pub trait DueIndex {
    /// Everything due at or before `now`, across all shards, each once, in
    /// the order the timer should take it (`due_order`).
    fn due(&self, now: Timestamp) -> impl Future<Output = Result<Vec<Due>, StoreError>> + Send;
    /// What `due` returns that lives in `shard` (`0..DUE_SHARDS`), in the
    /// same order: the shards split the due set, each item in exactly one.
    fn due_in(
        &self,
        now: Timestamp,
        shard: u32,
    ) -> impl Future<Output = Result<Vec<Due>, StoreError>> + Send;
}

/// The order the timer takes due items in: messages first (a retry or an
/// expired claim is one cheap write, and must never wait behind a herd of
/// reviews falling due at midnight), then contacts, earliest due first; each
/// item once (at its earliest time).
pub fn due_order(mut items: Vec<(Timestamp, Due)>) -> Vec<Due> {
    items.sort_by(|(a, x), (b, y)| {
        let kind = |d: &Due| match d {
            Due::Message { .. } => 0,
            Due::Campaign { .. } => 1,
            Due::Contact { .. } => 2,
        };
        (kind(x), a).cmp(&(kind(y), b))
    });
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter_map(|(_, d)| seen.insert(d.clone()).then_some(d))
        .collect()
}

/// A message's delivery state, as claimed for one attempt.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub message: OutboxMessage,
    /// 1-based number of this attempt.
    pub attempt: u32,
    /// An earlier attempt may have sent it: claimed and never settled (its
    /// sender stopped, or could not record the outcome), or failed with no
    /// answer worth trusting. Sending it now may deliver it twice.
    pub unsure: bool,
}

/// The outbox: messages written by process/timer, sent by dispatch.
pub trait Outbox {
    /// This adapter's id for a message (what `claim` and the due index use).
    fn key(&self, message: &OutboxMessage) -> String;
    /// Claims a queued message for one attempt, held until `lease_until`
    /// (when the claiming invocation can no longer be running: a claim not
    /// settled by then is requeued by the timer); `None` if it is not queued
    /// (already sent, parked, or claimed by another invocation).
    fn claim(
        &self,
        id: &str,
        lease_until: Timestamp,
    ) -> impl Future<Output = Result<Option<Claimed>, StoreError>> + Send;
    /// Writes `message` already claimed for its first attempt, for a
    /// sender that sends it at once (a campaign page): no dispatch takes
    /// it, and it is in the due index only once that attempt retries (or
    /// is handed on by [`Outbox::watch`], if its sender stopped). `None`: a
    /// message of that id exists already (written by an earlier delivery
    /// of the page, or by `process`), untouched.
    fn create_claimed(
        &self,
        message: &OutboxMessage,
    ) -> impl Future<Output = Result<Option<Claimed>, StoreError>> + Send;
    /// Puts a message claimed and not settled, and in no due index, in the
    /// due index at `at`: the timer hands it to dispatch then (as `unsure`:
    /// its sender may have sent it). Nothing for any other message.
    fn watch(
        &self,
        shop: &ShopDomain,
        message_id: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Marks a message sent and adds `counts` (its send, on the day of the
    /// attempt) in the same write, so a message marked twice (an answer
    /// lost, a second sender after a requeue) is counted once: `false` when
    /// it was marked sent already, and nothing was counted. It is kept until
    /// `keep_until` (then expires).
    fn mark_sent(
        &self,
        id: &str,
        provider_id: &str,
        keep_until: Timestamp,
        counts: &waymark_core::analytics::Counts,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Schedules another attempt at `at`. `unknown`: the provider may have
    /// carried this one out, so the next attempt is `unsure`.
    fn retry_at(
        &self,
        claimed: &Claimed,
        at: Timestamp,
        error: &str,
        unknown: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn park(
        &self,
        claimed: &Claimed,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Settles a claimed message without sending it (suppressed address).
    fn skip(
        &self,
        claimed: &Claimed,
        reason: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Puts a message whose retry (or claim lease) is due by `now` back in
    /// the queue; hands a message still queued `REDRIVE_QUEUED` after its
    /// time to dispatch again (and checks again as long after); does
    /// nothing if it moved on meanwhile.
    fn requeue(
        &self,
        id: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Why an address must not be mailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuppressionReason {
    /// The person unsubscribed: no marketing mail.
    Unsubscribed,
    /// The address bounced for good: no mail at all.
    HardBounce,
    /// The person marked mail as spam: no mail at all.
    Complaint,
}

impl SuppressionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unsubscribed => "unsubscribed",
            Self::HardBounce => "hard_bounce",
            Self::Complaint => "complaint",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unsubscribed" => Self::Unsubscribed,
            "hard_bounce" => Self::HardBounce,
            "complaint" => Self::Complaint,
            _ => return None,
        })
    }

    /// Whether it stops a message of this kind.
    pub fn blocks(self, transactional: bool) -> bool {
        !transactional || self != Self::Unsubscribed
    }
}

/// What the suppression list says about one address: a suppression of all
/// marketing (or all mail), and the topics it opted out of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuppressionState {
    pub reason: Option<SuppressionReason>,
    pub topics: std::collections::BTreeSet<String>,
}

impl SuppressionState {
    /// Why a message of this kind (and topic) must not go, if it must not.
    pub fn blocks(&self, transactional: bool, topic: Option<&str>) -> Option<String> {
        if let Some(r) = self.reason
            && r.blocks(transactional)
        {
            return Some(r.as_str().to_string());
        }
        match topic {
            Some(t) if !transactional && self.topics.contains(t) => {
                Some(format!("unsubscribed from topic `{t}`"))
            }
            _ => None,
        }
    }
}

/// The per-shop suppression list, read by dispatch before every send, so an
/// unsubscribe or a bounce takes effect before the next message.
pub trait Suppressions {
    fn suppression(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
    ) -> impl Future<Output = Result<Option<SuppressionReason>, StoreError>> + Send;
    /// The whole entry, topics included (one read).
    fn suppression_state(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
    ) -> impl Future<Output = Result<SuppressionState, StoreError>> + Send;
    /// Adds topics the address opted out of (its other mail goes on).
    fn suppress_topics(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
        topics: &[String],
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A confirmed opt-in: lifts an unsubscribe and topic opt-outs (never a
    /// bounce or a complaint).
    fn lift_unsubscribe(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records a suppression; a stronger one (bounce, complaint) is never
    /// replaced by an unsubscribe.
    fn suppress(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
        reason: SuppressionReason,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Publishes one event to the event bus; returns the bus's event id.
pub trait Publisher {
    fn publish(
        &self,
        detail_type: &str,
        detail: &serde_json::Value,
    ) -> impl Future<Output = Result<String, SendFailure>> + Send;
}

/// Sends one raw MIME message; returns the provider's message id.
pub trait Mailer {
    /// `tags` travel with the message and come back in its SES events.
    fn send(
        &self,
        from: &str,
        to: &str,
        raw: Vec<u8>,
        tags: &[(&str, String)],
    ) -> impl Future<Output = Result<String, SendFailure>> + Send;
}
