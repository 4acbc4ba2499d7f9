//! Dispatch: sends one outbox message at most once per claim. Render, build
//! MIME, send; on failure retry with backoff or park with the error. A
//! message is never dropped: it ends sent or parked.

use crate::ports::{
    CampaignPhase, CampaignStore, Claimed, Counters, Mailer, Outbox, Publisher, StoreError,
    Suppressions,
};
use waymark_core::email::{Rendered, Renderer, Sender, UnsubscribeLinks, mime};
use waymark_core::ids::EmailAddress;
use waymark_core::outbox::{AfterFailure, Channel, OutboxMessage, SendFailure, after_failure};

/// How one message ended this attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent(String),
    /// Not queued any more (already sent, parked, or claimed elsewhere).
    NotClaimed,
    /// The address is on the suppression list for this kind of mail.
    Suppressed(String),
    /// A campaign email whose campaign was cancelled before it went.
    Stopped,
    Retry(jiff::Timestamp),
    Parked(String),
}

/// How long past the claiming invocation's deadline its claim still holds
/// (clock differences between the function and the timer).
pub const CLAIM_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_mins(1);

/// Where marketing emails point their unsubscribe links, and the key that
/// signs them (shared with the preferences function).
#[derive(Clone)]
pub struct Unsubscribe {
    /// What seals the links (the current secret, and the previous one
    /// during a rotation).
    pub keys: waymark_core::unsubscribe::TokenKeys,
    /// The preferences function's `/unsubscribe` URL.
    pub url: String,
    /// A mailbox that processes unsubscribe requests (`UNSUBSCRIBE_MAILTO`),
    /// if the store runs one; otherwise List-Unsubscribe names only the URL.
    pub mailto: Option<String>,
}

pub struct Dispatcher<O, M, P> {
    outbox: O,
    mailer: M,
    publisher: P,
    renderer: Renderer,
    sender: Sender,
    unsubscribe: Unsubscribe,
    /// The shop's zone: sends are counted on the shop's local day.
    zone: jiff::tz::TimeZone,
    /// The store's own origin (`shop.url`): campaigns add UTM to its links.
    store_url: Option<String>,
}

impl<O: Outbox + Suppressions + Counters + CampaignStore, M: Mailer, P: Publisher>
    Dispatcher<O, M, P>
{
    pub fn new(
        outbox: O,
        mailer: M,
        publisher: P,
        renderer: Renderer,
        sender: Sender,
        unsubscribe: Unsubscribe,
    ) -> Self {
        Self {
            outbox,
            mailer,
            publisher,
            renderer,
            sender,
            unsubscribe,
            zone: jiff::tz::TimeZone::UTC,
            store_url: None,
        }
    }

    /// The store's own origin, whose links campaigns tag with UTM.
    pub fn with_store_url(mut self, url: Option<String>) -> Self {
        self.store_url = url.map(|u| u.trim_end_matches('/').to_string());
        self
    }

    /// Counts sends on the days of `zone` (the shop's).
    pub fn with_zone(mut self, zone: jiff::tz::TimeZone) -> Self {
        self.zone = zone;
        self
    }

    /// `measure` (sent, failed, suppressed…) for the message, on the day
    /// of this attempt (nothing for a bus event).
    fn counts(
        &self,
        claimed: &Claimed,
        deadline: jiff::Timestamp,
        measure: &str,
    ) -> waymark_core::analytics::Counts {
        use waymark_core::analytics::{Counts, Key, day};
        let m = &claimed.message;
        let mut counts = Counts::default();
        if matches!(m.channel, Channel::Email { .. }) {
            let at = attempted_at(claimed, deadline);
            let key = Key::new(day(at, &self.zone), &m.journey, m.version, "");
            counts.add_message(&key, Some(&m.step), measure, 1);
        }
        counts
    }

    /// Counts `measure` once for the message, on the day of this attempt.
    /// A failure to count is logged, never a reason to send again.
    async fn count(&self, claimed: &Claimed, deadline: jiff::Timestamp, measure: &str) {
        let m = &claimed.message;
        let counts = self.counts(claimed, deadline, measure);
        if counts.0.is_empty() {
            return;
        }
        let at = attempted_at(claimed, deadline);
        let once = format!("{measure}#{}", m.id);
        if let Err(e) = self.outbox.count_once(&m.shop, &once, at, &counts).await {
            tracing::warn!(outbox_id = %m.id, error = %e, "send not counted");
        }
    }

    /// Sends one queued message. `deadline` is when this invocation must
    /// have finished (the platform's): the claim is held until just after
    /// it, so the timer never requeues a message while its sender can still
    /// be sending it, however late the message was claimed; and a failure is
    /// retried counting from it, not from when the message was queued.
    pub async fn dispatch(
        &self,
        id: &str,
        deadline: jiff::Timestamp,
    ) -> Result<Outcome, StoreError> {
        let Some(claimed) = self.outbox.claim(id, lease_until(deadline)).await? else {
            return Ok(Outcome::NotClaimed);
        };
        self.send_claimed(id, &claimed, deadline).await
    }

    /// Writes `message` claimed for its first attempt and sends it at once
    /// (a campaign page's recipient): as [`Dispatcher::dispatch`] once it
    /// has claimed, with no queued write, claim or due-index entry before.
    /// `Ok(None)`: a message of that id exists already, and is left to
    /// whoever wrote it (see [`Dispatcher::hand_on`]).
    pub async fn send_new(
        &self,
        message: &OutboxMessage,
        deadline: jiff::Timestamp,
    ) -> Result<Option<Outcome>, StoreError> {
        let Some(claimed) = self.outbox.create_claimed(message).await? else {
            return Ok(None);
        };
        let id = self.outbox.key(message);
        self.send_claimed(&id, &claimed, deadline).await.map(Some)
    }

    /// An existing message written by [`Dispatcher::send_new`] whose sender
    /// may have stopped before it settled (a page delivered again): handed
    /// to the timer once this invocation's claim would have run out, which
    /// hands it to dispatch as `unsure` if it is still not settled. Nothing
    /// for a message settled, queued, or in the due index already.
    pub async fn hand_on(
        &self,
        shop: &waymark_core::ids::ShopDomain,
        message_id: &str,
        deadline: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        self.outbox
            .watch(shop, message_id, lease_until(deadline))
            .await
    }

    /// Sends a claimed message: the campaign's cancel and the suppression
    /// list read first, then the send, then its outcome settled.
    async fn send_claimed(
        &self,
        id: &str,
        claimed: &Claimed,
        deadline: jiff::Timestamp,
    ) -> Result<Outcome, StoreError> {
        let m = &claimed.message;
        let result = match &m.channel {
            Channel::Email {
                to,
                template,
                transactional,
            } => {
                if self.cancelled(claimed).await? {
                    self.outbox
                        .skip(claimed, waymark_core::campaign::STOPPED)
                        .await?;
                    self.count(claimed, deadline, waymark_core::analytics::field::STOPPED)
                        .await;
                    tracing::info!(outbox_id = id, journey = %m.journey, "campaign cancelled; not sent");
                    return Ok(Outcome::Stopped);
                }
                if let Some(reason) = self
                    .suppressed(id, claimed, to, *transactional, deadline)
                    .await?
                {
                    return Ok(Outcome::Suppressed(reason));
                }
                self.send_email(m, to, template, *transactional).await
            }
            Channel::Event { detail_type } => self.publish(m, detail_type).await,
        };
        match result {
            Ok(provider_id) => self.settle_sent(id, claimed, provider_id, deadline).await,
            Err(failure) => self.settle_failed(id, claimed, &failure, deadline).await,
        }
    }

    /// Whether the message is a campaign email whose schedule was cancelled
    /// (or replaced after a cancel): read at send time, so a cancel stops
    /// what is held for a later local time or still queued. Only campaign
    /// emails read the campaign; one queued before they named their
    /// schedule goes.
    async fn cancelled(&self, claimed: &Claimed) -> Result<bool, StoreError> {
        let m = &claimed.message;
        let Some(c) = m.params.get("campaign") else {
            return Ok(false);
        };
        let (Some(campaign), Some(schedule)) = (
            c.get("id").and_then(|v| v.as_str()),
            c.get("schedule").and_then(|v| v.as_i64()),
        ) else {
            return Ok(false);
        };
        let Some(record) = self.outbox.campaign(&m.shop, campaign).await? else {
            return Ok(false);
        };
        Ok(waymark_core::campaign::stopped(
            schedule,
            record.state.run(),
            record.state.phase == CampaignPhase::Cancelled,
        ))
    }

    /// Skips the message when its address is suppressed: read at send time,
    /// so an unsubscribe (from everything or from this message's topic) or
    /// a bounce recorded a second ago stops it.
    async fn suppressed(
        &self,
        id: &str,
        claimed: &Claimed,
        to: &EmailAddress,
        transactional: bool,
        deadline: jiff::Timestamp,
    ) -> Result<Option<String>, StoreError> {
        let m = &claimed.message;
        let state = self.outbox.suppression_state(&m.shop, to).await?;
        let Some(reason) = state.blocks(transactional, m.topic.as_deref()) else {
            return Ok(None);
        };
        self.outbox.skip(claimed, &reason).await?;
        self.count(
            claimed,
            deadline,
            waymark_core::analytics::field::SUPPRESSED,
        )
        .await;
        tracing::info!(outbox_id = id, reason, "suppressed; not sent");
        Ok(Some(reason))
    }

    /// Puts an event message on the bus.
    async fn publish(&self, m: &OutboxMessage, detail_type: &str) -> Result<String, SendFailure> {
        let detail = serde_json::json!({
            "shop": m.shop,
            "journey": m.journey,
            "step": m.step,
            "message": m.id,
            "at": m.queued_at,
            "data": m.params,
        });
        self.publisher.publish(detail_type, &detail).await
    }

    /// Counts the send and marks the message sent.
    async fn settle_sent(
        &self,
        id: &str,
        claimed: &Claimed,
        provider_id: String,
        deadline: jiff::Timestamp,
    ) -> Result<Outcome, StoreError> {
        let m = &claimed.message;
        if claimed.unsure {
            // An earlier attempt's outcome was never known: SES has
            // no idempotency key, so this may be a second delivery.
            self.count(
                claimed,
                deadline,
                waymark_core::analytics::field::MAYBE_DUPLICATED,
            )
            .await;
            tracing::warn!(
                outbox_id = id,
                attempt = claimed.attempt,
                "sent after an attempt with an unknown outcome: it may have been delivered twice"
            );
        }
        let keep_until = deadline
            .max(m.queued_at)
            .checked_add(crate::ports::SETTLED_RETENTION)
            .unwrap_or(jiff::Timestamp::MAX);
        // The send is counted with its mark, once: if marking fails and the
        // message goes again, it is counted when that attempt is marked.
        let sent = self.counts(claimed, deadline, waymark_core::analytics::field::SENT);
        self.outbox
            .mark_sent(id, &provider_id, keep_until, &sent)
            .await?;
        tracing::info!(outbox_id = id, provider_id, journey = %m.journey, step = %m.step, "sent");
        Ok(Outcome::Sent(provider_id))
    }

    /// Schedules a retry, or parks the message when the failure is final or
    /// the attempts are spent.
    async fn settle_failed(
        &self,
        id: &str,
        claimed: &Claimed,
        failure: &SendFailure,
        deadline: jiff::Timestamp,
    ) -> Result<Outcome, StoreError> {
        let m = &claimed.message;
        let error = match failure {
            SendFailure::Transient(e) | SendFailure::Unknown(e) | SendFailure::Permanent(e) => {
                e.clone()
            }
        };
        let unknown = matches!(failure, SendFailure::Unknown(_));
        // Provider errors can name the recipient: not in the logs.
        let logged = waymark_core::redact::addresses(&error);
        match after_failure(deadline.max(m.queued_at), claimed.attempt, failure) {
            AfterFailure::RetryAt(at) => {
                self.outbox.retry_at(claimed, at, &error, unknown).await?;
                tracing::warn!(outbox_id = id, attempt = claimed.attempt, %at, error = logged, "send failed; will retry");
                Ok(Outcome::Retry(at))
            }
            AfterFailure::Park(reason) => {
                self.outbox.park(claimed, &reason).await?;
                self.count(claimed, deadline, waymark_core::analytics::field::FAILED)
                    .await;
                tracing::error!(
                    outbox_id = id,
                    attempt = claimed.attempt,
                    reason = waymark_core::redact::addresses(&reason),
                    "message parked"
                );
                Ok(Outcome::Parked(reason))
            }
        }
    }

    /// Renders and sends one email; a rendering error is permanent.
    async fn send_email(
        &self,
        m: &OutboxMessage,
        to: &EmailAddress,
        template: &str,
        transactional: bool,
    ) -> Result<String, SendFailure> {
        let links = (!transactional).then(|| self.unsubscribe_links(m, to));
        let params = self.params_with_links(m, to, links.as_ref());
        let mut rendered = self
            .renderer
            .render(template, &params)
            .map_err(|e| SendFailure::Permanent(e.to_string()))?;
        if let Some(c) = m.params.get("campaign") {
            self.apply_campaign(c, &params, &mut rendered)
                .map_err(SendFailure::Permanent)?;
        }
        let raw = mime(&self.sender, m, to, &rendered, links.as_ref());
        self.mailer
            .send(
                self.sender.address.as_str(),
                to.as_str(),
                raw,
                &feedback_tags(m),
            )
            .await
    }

    /// A marketing email's signed unsubscribe link (and mailbox, if any).
    fn unsubscribe_links(&self, m: &OutboxMessage, to: &EmailAddress) -> UnsubscribeLinks {
        let via = waymark_core::event::MessageRef {
            journey: m.journey.clone(),
            version: m.version,
            step: m.step.clone(),
        };
        let token = waymark_core::unsubscribe::sign_via(
            &self.unsubscribe.keys,
            &m.shop,
            to,
            m.queued_at,
            &via,
        );
        UnsubscribeLinks {
            url: format!("{}?t={token}", self.unsubscribe.url),
            mailto: self
                .unsubscribe
                .mailto
                .as_ref()
                .map(|m| format!("mailto:{m}?subject=unsubscribe")),
        }
    }

    /// The message's params plus the links a template may show:
    /// `unsubscribe_url` (marketing) and `confirm_url`.
    fn params_with_links(
        &self,
        m: &OutboxMessage,
        to: &EmailAddress,
        links: Option<&UnsubscribeLinks>,
    ) -> serde_json::Value {
        let mut params = m.params.clone();
        if let Some(obj) = params.as_object_mut() {
            if let Some(l) = links {
                obj.insert("unsubscribe_url".into(), l.url.clone().into());
            }
            // A double opt-in's confirmation link (`/confirm` beside
            // `/unsubscribe`); only the address's owner ever sees it.
            let token = waymark_core::unsubscribe::sign_for(
                waymark_core::unsubscribe::Purpose::Confirm,
                &self.unsubscribe.keys,
                &m.shop,
                to,
                m.queued_at,
            );
            let base = self
                .unsubscribe
                .url
                .strip_suffix("/unsubscribe")
                .unwrap_or(&self.unsubscribe.url);
            obj.insert(
                "confirm_url".into(),
                format!("{base}/confirm?t={token}").into(),
            );
        }
        params
    }

    /// A campaign's own subject (in the template language, with the
    /// message's parameters) and preheader, and UTM parameters on the
    /// store's links. A subject that cannot be rendered is a permanent
    /// failure (the message is parked with the reason).
    fn apply_campaign(
        &self,
        c: &serde_json::Value,
        params: &serde_json::Value,
        rendered: &mut Rendered,
    ) -> Result<(), String> {
        if let Some(subject) = c["subject"].as_str().filter(|s| !s.trim().is_empty()) {
            rendered.subject = self
                .renderer
                .render_line(subject, params)
                .map_err(|e| format!("campaign subject `{subject}`: {e}"))?;
        }
        if let Some(preheader) = c["preheader"].as_str() {
            rendered.html = waymark_core::email::with_preheader(&rendered.html, preheader);
        }
        let utm: std::collections::BTreeMap<String, String> =
            serde_json::from_value(c["utm"].clone()).unwrap_or_default();
        if let Some(origin) = &self.store_url {
            rendered.html = waymark_core::campaign::add_utm(&rendered.html, origin, &utm);
            rendered.text = waymark_core::campaign::add_utm(&rendered.text, origin, &utm);
        }
        Ok(())
    }
}

/// Until when an invocation ending at `deadline` holds what it claimed.
fn lease_until(deadline: jiff::Timestamp) -> jiff::Timestamp {
    deadline
        .checked_add(CLAIM_GRACE)
        .unwrap_or(jiff::Timestamp::MAX)
}

/// When an attempt happened, for the day it is counted on: a first attempt
/// when the message was due (queued, or held until its hour); a retry, which
/// may come on a later day, when it was made (its invocation's deadline, at
/// most the function's timeout after the send).
fn attempted_at(claimed: &Claimed, deadline: jiff::Timestamp) -> jiff::Timestamp {
    let m = &claimed.message;
    let due = m.not_before.map_or(m.queued_at, |t| t.max(m.queued_at));
    if claimed.attempt <= 1 {
        due
    } else {
        deadline.max(due)
    }
}

/// The SES tags that tie feedback (bounces, opens…) back to the message.
fn feedback_tags(m: &OutboxMessage) -> [(&'static str, String); 5] {
    [
        (
            waymark_core::feedback::TAG_SHOP,
            waymark_core::feedback::shop_tag(&m.shop),
        ),
        (waymark_core::feedback::TAG_MESSAGE, m.id.clone()),
        (waymark_core::feedback::TAG_JOURNEY, m.journey.clone()),
        (waymark_core::feedback::TAG_VERSION, m.version.to_string()),
        (waymark_core::feedback::TAG_STEP, m.step.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryMailer, MemoryPublisher, MemoryStore, Status};
    use crate::ports::{Commit, ContactStore};
    use waymark_core::contact::Contact;
    use waymark_core::email::Template;
    use waymark_core::ids::{ContactId, EmailAddress, ShopDomain};
    use waymark_core::outbox::OutboxMessage;

    fn renderer() -> Renderer {
        let t = Template {
            name: "hello".into(),
            dir: "templates/hello".into(),
            subject: "Hi {{ contact.first_name }}".into(),
            text: "Your cart: {{ checkout.total | money }}".into(),
            html: "<p>{{ contact.first_name }}</p>".into(),
            mjml: false,
            preheader: None,
        };
        Renderer::new([&t])
    }

    async fn setup(
        params: serde_json::Value,
    ) -> (
        Dispatcher<MemoryStore, MemoryMailer, MemoryPublisher>,
        MemoryStore,
        MemoryMailer,
        String,
    ) {
        let store = MemoryStore::default();
        let mailer = MemoryMailer::default();
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let t0: jiff::Timestamp = "2026-11-23T11:00:00Z".parse().unwrap();
        let contact = Contact::new(ContactId::for_customer(1), shop.clone(), t0);
        let message = OutboxMessage {
            id: "m1".into(),
            shop,
            contact: contact.id.clone(),
            journey: "j".into(),
            version: 1,
            run_key: "k".into(),
            step: "s".into(),
            queued_at: t0,
            params,
            topic: None,
            not_before: None,
            replaces_unsent: false,
            channel: waymark_core::outbox::Channel::Email {
                to: EmailAddress::parse("ana@example.com").unwrap(),
                template: "hello".into(),
                transactional: false,
            },
        };
        store
            .commit(Commit {
                contact,
                expected_version: 0,
                recent_events: Default::default(),
                runs: vec![],
                outbox: vec![message.clone()],
                identities: Default::default(),
                segments_entered: vec![],
                segments_exited: vec![],
                absorbed: None,
                counts: Default::default(),
                expired: Vec::new(),
            })
            .await
            .unwrap();
        let key = store.key(&message);
        let sender = Sender {
            name: "Shop".into(),
            address: EmailAddress::parse("shop@example.com").unwrap(),
        };
        let unsubscribe = Unsubscribe {
            keys: waymark_core::unsubscribe::TokenKeys::new(b"unsubscribe-secret", None),
            url: "https://prefs.example/unsubscribe".into(),
            mailto: None,
        };
        (
            Dispatcher::new(
                store.clone(),
                mailer.clone(),
                MemoryPublisher::default(),
                renderer(),
                sender,
                unsubscribe,
            ),
            store,
            mailer,
            key,
        )
    }

    fn at(t: &str) -> jiff::Timestamp {
        t.parse().unwrap()
    }

    fn good_params() -> serde_json::Value {
        serde_json::json!({"contact": {"first_name": "Ana"}, "checkout": {"total": {"amount_minor": 6600, "currency": "EUR"}}})
    }

    #[tokio::test]
    async fn sends_once_whatever_the_redeliveries() {
        let (d, store, mailer, key) = setup(good_params()).await;
        assert!(matches!(
            d.dispatch(&key, at("2026-11-23T11:00:00Z")).await.unwrap(),
            Outcome::Sent(_)
        ));
        assert_eq!(
            d.dispatch(&key, at("2026-11-23T11:00:00Z")).await.unwrap(),
            Outcome::NotClaimed
        );
        let sent = mailer.sent();
        assert_eq!(sent.len(), 1);
        let raw = String::from_utf8_lossy(&sent[0].raw);
        assert!(
            raw.contains("Subject: Hi Ana") && raw.contains("66.00 EUR"),
            "{raw}"
        );
        assert!(
            raw.contains("List-Unsubscribe: <https://prefs.example/unsubscribe?t="),
            "{raw}"
        );
        assert!(
            raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{raw}"
        );
        assert!(matches!(store.outbox()[0].status, Status::Sent(_)));
    }

    #[tokio::test]
    async fn suppressed_addresses_get_no_marketing_and_bounced_ones_nothing() {
        use crate::ports::{SuppressionReason, Suppressions};
        let (d, store, mailer, key) = setup(good_params()).await;
        let m = store.outbox()[0].message.clone();
        store
            .suppress(
                &m.shop,
                m.to().unwrap(),
                SuppressionReason::Unsubscribed,
                m.queued_at,
            )
            .await
            .unwrap();
        assert_eq!(
            d.dispatch(&key, at("2026-11-23T11:00:00Z")).await.unwrap(),
            Outcome::Suppressed("unsubscribed".into())
        );
        assert!(mailer.sent().is_empty());
        assert_eq!(
            store.outbox()[0].status,
            Status::Skipped("unsubscribed".into())
        );
        assert!(SuppressionReason::HardBounce.blocks(true));
        assert!(!SuppressionReason::Unsubscribed.blocks(true));
    }

    #[tokio::test]
    async fn transient_failures_retry_at_their_slot_then_send() {
        let (d, store, mailer, key) = setup(good_params()).await;
        mailer.fail_next([SendFailure::Transient("TooManyRequestsException".into())]);
        let retry_at: jiff::Timestamp = "2026-11-23T11:01:00Z".parse().unwrap();
        assert_eq!(
            d.dispatch(&key, at("2026-11-23T11:00:00Z")).await.unwrap(),
            Outcome::Retry(retry_at)
        );
        assert_eq!(
            d.dispatch(&key, at("2026-11-23T11:00:00Z")).await.unwrap(),
            Outcome::NotClaimed,
            "not before its slot"
        );
        store.requeue(&key, retry_at).await.unwrap();
        assert!(matches!(
            d.dispatch(&key, at("2026-11-23T11:00:00Z")).await.unwrap(),
            Outcome::Sent(_)
        ));
        assert_eq!(mailer.sent().len(), 1);
    }

    #[tokio::test]
    async fn a_campaign_subject_is_rendered_for_each_recipient_or_parks_the_message() {
        let mut params = good_params();
        params["campaign"] =
            serde_json::json!({"subject": "{{ contact.first_name }}, this week's picks"});
        let (d, _, mailer, key) = setup(params).await;
        assert!(matches!(
            d.dispatch(&key, at("2026-11-23T11:00:00Z")).await.unwrap(),
            Outcome::Sent(_)
        ));
        let raw = String::from_utf8_lossy(&mailer.sent()[0].raw).into_owned();
        assert!(raw.contains("Subject: Ana, this week's picks"), "{raw}");

        let mut params = good_params();
        params["campaign"] = serde_json::json!({"subject": "{{ contact.nickname }}, hello"});
        let (d, store, mailer, key) = setup(params).await;
        let Outcome::Parked(error) = d.dispatch(&key, at("2026-11-23T11:00:00Z")).await.unwrap()
        else {
            panic!("a half-rendered subject must not go out")
        };
        assert!(
            error.contains("campaign subject") && error.contains("undefined"),
            "{error}"
        );
        assert!(mailer.sent().is_empty());
        assert_eq!(store.outbox()[0].status, Status::Parked);
    }

    #[tokio::test]
    async fn permanent_failures_and_missing_variables_park_with_the_error() {
        let (d, store, mailer, key) = setup(good_params()).await;
        mailer.fail_next([SendFailure::Permanent("MessageRejected: blocked".into())]);
        assert_eq!(
            d.dispatch(&key, at("2026-11-23T11:00:00Z")).await.unwrap(),
            Outcome::Parked("MessageRejected: blocked".into())
        );
        assert_eq!(store.outbox()[0].status, Status::Parked);

        let (d, store, mailer, key) =
            setup(serde_json::json!({"contact": {"first_name": "Ana"}})).await;
        let Outcome::Parked(error) = d.dispatch(&key, at("2026-11-23T11:00:00Z")).await.unwrap()
        else {
            panic!("a half-rendered email must not go out")
        };
        assert!(
            error.contains("template `hello`") && error.contains("undefined"),
            "{error}"
        );
        assert!(mailer.sent().is_empty());
        assert_eq!(store.outbox()[0].error.as_deref(), Some(error.as_str()));
    }

    #[tokio::test]
    async fn a_retry_sent_the_next_day_is_counted_on_the_day_it_went() {
        use crate::ports::Counters;
        use waymark_core::analytics::field;
        // Queued at 11:00; the first attempt, late in the evening, is
        // throttled; the retry goes just after midnight.
        let (d, store, mailer, key) = setup(good_params()).await;
        mailer.fail_next([SendFailure::Transient("Throttling".into())]);
        let Outcome::Retry(retry) = d.dispatch(&key, at("2026-11-23T23:59:30Z")).await.unwrap()
        else {
            panic!("a throttle is retried")
        };
        store.requeue(&key, retry).await.unwrap();
        assert!(matches!(
            d.dispatch(&key, at("2026-11-24T00:01:30Z")).await.unwrap(),
            Outcome::Sent(_)
        ));
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let sent_on = |day: jiff::civil::Date| {
            let store = store.clone();
            let shop = shop.clone();
            async move {
                let counts = store.read_counts(&shop, day, day).await.unwrap();
                counts
                    .with_message_totals()
                    .0
                    .iter()
                    .filter(|(k, _)| k.step.is_empty())
                    .map(|(_, f)| f.get(field::SENT).copied().unwrap_or(0))
                    .sum::<i64>()
            }
        };
        assert_eq!(sent_on(jiff::civil::date(2026, 11, 23)).await, 0);
        assert_eq!(sent_on(jiff::civil::date(2026, 11, 24)).await, 1);
    }

    #[tokio::test]
    async fn a_message_claimed_late_is_not_requeued_while_it_is_being_sent() {
        // Queued at 11:00 (logical time), claimed at 15:00 (a backlog).
        let (d, store, mailer, key) = setup(good_params()).await;
        mailer.fail_next([SendFailure::Transient("Throttling".into())]);
        let late = at("2026-11-23T15:00:00Z");
        assert_eq!(
            d.dispatch(&key, late).await.unwrap(),
            Outcome::Retry(at("2026-11-23T15:01:00Z")),
            "the retry counts from the failure, not from 11:00"
        );
        store
            .requeue(&key, at("2026-11-23T15:00:30Z"))
            .await
            .unwrap();
        assert_eq!(d.dispatch(&key, late).await.unwrap(), Outcome::NotClaimed);
        store
            .requeue(&key, at("2026-11-23T15:01:00Z"))
            .await
            .unwrap();
        // Claimed at 15:02 with a deadline a minute later: a tick at 15:03
        // (the old lease, counted from 11:00, ran out hours ago) leaves it be.
        let Some(claimed) = store.claim(&key, at("2026-11-23T15:04:00Z")).await.unwrap() else {
            panic!("requeued")
        };
        store
            .requeue(&key, at("2026-11-23T15:03:00Z"))
            .await
            .unwrap();
        assert!(
            store
                .claim(&key, at("2026-11-23T15:10:00Z"))
                .await
                .unwrap()
                .is_none(),
            "its sender is still within its deadline: no second sender"
        );
        store
            .mark_sent(&key, "p-1", at("2026-12-23T15:10:00Z"), &Default::default())
            .await
            .unwrap();
        assert_eq!(claimed.attempt, 2);
    }
}
