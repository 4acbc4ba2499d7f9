//! Preferences: the one-click unsubscribe (RFC 8058), the small page behind
//! the footer link (leave some email topics, or everything), and a double
//! opt-in's confirmation. A valid token records the choice at once
//! (suppression list, read before every send) and as a consent event (the
//! contact's profile and journeys). Whatever the token, the answer is the
//! same: a guessed or tampered link changes nothing and reveals nothing.
//! Returns what happened as a typed outcome; the function renders it (this
//! module knows no HTTP and no HTML).

use crate::ports::{Inbox, Receipt, StoreError, SuppressionReason, Suppressions};
use jiff::Timestamp;
use waymark_core::event::{ConsentChange, DOUBLE_OPT_IN, Event, EventKind, Source, fact_id};
use waymark_core::journey::EmailTopic;
use waymark_core::unsubscribe;

/// What a preferences request came to. The same outcome for a valid and an
/// invalid token: nothing tells whether an address exists.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The page behind a link: the topics on offer and the token (cleaned)
    /// to post back. Changes nothing.
    PreferencePage {
        token: String,
        topics: Vec<EmailTopic>,
    },
    /// Unsubscribed from all marketing mail.
    Unsubscribed,
    /// Left these topics (their labels); other mail goes on.
    TopicsLeft(Vec<String>),
    /// A double opt-in's page: one button. Changes nothing.
    ConfirmPage { token: String },
    /// The opt-in is confirmed.
    Subscribed,
    /// The choice could not be recorded just now.
    TryAgain,
}

pub struct Preferences<S> {
    keys: unsubscribe::TokenKeys,
    store: S,
    /// The store's email topics (id, label), offered on the page.
    topics: Vec<EmailTopic>,
}

/// Only base64url characters and the dot survive into the page.
fn clean(token: &str) -> String {
    token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(1024)
        .collect()
}

/// What a POST to `/unsubscribe` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Everything (RFC 8058's `List-Unsubscribe=One-Click`, or the page's
    /// "all" button, or a body naming no known topic).
    All,
    /// Only these topics (known ids, in the store's order).
    Topics(Vec<String>),
}

impl<S: Inbox + Suppressions> Preferences<S> {
    pub fn new(keys: unsubscribe::TokenKeys, store: S) -> Self {
        Self {
            keys,
            store,
            topics: Vec::new(),
        }
    }

    /// The topics the page offers (`topics:` in `journeys/_defaults.yaml`).
    pub fn with_topics(mut self, topics: Vec<EmailTopic>) -> Self {
        self.topics = topics;
        self
    }

    /// Reads a form body (`application/x-www-form-urlencoded`): one-click,
    /// "all", or `topic=<id>` fields. Unknown topics are ignored; a body
    /// that names no known topic means everything.
    pub fn choice(&self, body: &str) -> Choice {
        let mut all = false;
        let mut chosen = Vec::new();
        for pair in body.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match (k, v) {
                ("List-Unsubscribe", "One-Click") | ("all", _) => all = true,
                ("topic", id) => chosen.push(id.to_string()),
                _ => {}
            }
        }
        let known: Vec<String> = self
            .topics
            .iter()
            .filter(|t| chosen.contains(&t.id))
            .map(|t| t.id.clone())
            .collect();
        if all || known.is_empty() {
            Choice::All
        } else {
            Choice::Topics(known)
        }
    }

    /// `GET /unsubscribe?t=…`: the preference page (leave some topics, or
    /// everything). Changes nothing (mail scanners follow links), and reads
    /// nothing: it looks the same for any token.
    pub fn confirm_page(&self, token: Option<&str>) -> Outcome {
        Outcome::PreferencePage {
            token: clean(token.unwrap_or_default()),
            topics: self.topics.clone(),
        }
    }

    /// `POST /unsubscribe?t=…` (one-click, or the page's buttons).
    pub async fn unsubscribe(
        &self,
        token: Option<&str>,
        choice: Choice,
        now: Timestamp,
    ) -> Outcome {
        let done = match &choice {
            Choice::All => Outcome::Unsubscribed,
            Choice::Topics(ids) => Outcome::TopicsLeft(
                self.topics
                    .iter()
                    .filter(|t| ids.contains(&t.id))
                    .map(|t| t.label.clone())
                    .collect(),
            ),
        };
        let Some(claims) = token.and_then(|t| unsubscribe::verify(&self.keys, t, now)) else {
            tracing::info!("unsubscribe with an invalid or expired token: nothing changed");
            return done;
        };
        match self.record(&claims, &choice, now).await {
            Ok(()) => done,
            Err(e) => {
                tracing::error!(error = %e, "could not record an unsubscribe");
                Outcome::TryAgain
            }
        }
    }

    /// `GET /confirm?t=…`: a double opt-in's confirmation page, one button
    /// (a link scanner that follows the URL confirms nothing).
    pub fn confirm_subscription_page(&self, token: Option<&str>) -> Outcome {
        Outcome::ConfirmPage {
            token: clean(token.unwrap_or_default()),
        }
    }

    /// `POST /confirm?t=…`: records the consent (source `double_opt_in`)
    /// and lifts an earlier unsubscribe. The answer is the same for any
    /// token.
    pub async fn confirm_subscription(&self, token: Option<&str>, now: Timestamp) -> Outcome {
        let done = Outcome::Subscribed;
        let Some(claims) = token.and_then(|t| {
            unsubscribe::verify_for(unsubscribe::Purpose::Confirm, &self.keys, t, now)
        }) else {
            tracing::info!("confirmation with an invalid or expired token: nothing changed");
            return done;
        };
        let recorded = async {
            self.store
                .lift_unsubscribe(&claims.shop, &claims.email, now)
                .await?;
            self.consent(&claims, true, DOUBLE_OPT_IN, vec![], now)
                .await
        };
        match recorded.await {
            Ok(()) => done,
            Err(e) => {
                tracing::error!(error = %e, "could not record a confirmation");
                Outcome::TryAgain
            }
        }
    }

    async fn record(
        &self,
        c: &unsubscribe::Claims,
        choice: &Choice,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        match choice {
            Choice::All => {
                self.store
                    .suppress(&c.shop, &c.email, SuppressionReason::Unsubscribed, now)
                    .await?;
                self.consent(c, false, "unsubscribe", vec![], now).await
            }
            Choice::Topics(ids) => {
                self.store
                    .suppress_topics(&c.shop, &c.email, ids, now)
                    .await?;
                self.consent(c, false, "unsubscribe", ids.clone(), now)
                    .await
            }
        }
    }

    /// The consent change as an event (the contact's profile and journeys).
    async fn consent(
        &self,
        c: &unsubscribe::Claims,
        subscribed: bool,
        source: &str,
        topics: Vec<String>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let fact = format!("{}#{source}#{}", c.email.as_str(), topics.join(","));
        let id = fact_id(&c.shop, "consent_changed", &fact, now);
        let event = Event {
            id: id.clone(),
            shop: c.shop.clone(),
            at: now,
            source: Source {
                platform: "waymark".into(),
                topic: source.into(),
                delivery_id: id.clone(),
            },
            kind: EventKind::ConsentChanged(ConsentChange {
                email: c.email.clone(),
                subscribed,
                source: source.into(),
                topics,
                via: (!subscribed).then(|| c.via.clone()).flatten(),
            }),
        };
        let receipt = Receipt {
            shop: c.shop.clone(),
            delivery_id: format!("{source}-{id}"),
            platform_event_id: None,
            topic: source.into(),
            received_at: Some(now),
        };
        self.store.record(&receipt, &event).await?;
        tracing::info!(shop = %c.shop, source, subscribed, "consent recorded");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> waymark_core::unsubscribe::TokenKeys {
        waymark_core::unsubscribe::TokenKeys::new(b"k", None)
    }
    use crate::memory::MemoryStore;
    use waymark_core::ids::{EmailAddress, ShopDomain};

    #[tokio::test]
    async fn a_valid_token_suppresses_and_records_consent_a_forged_one_changes_nothing() {
        let store = MemoryStore::default();
        let prefs = Preferences::new(keys(), store.clone());
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let email = EmailAddress::parse("ana@example.com").unwrap();
        let now: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        let good = waymark_core::unsubscribe::sign(&keys(), &shop, &email, now);
        let forged = waymark_core::unsubscribe::sign(
            &waymark_core::unsubscribe::TokenKeys::new(b"guess", None),
            &shop,
            &email,
            now,
        );

        let answer_forged = prefs.unsubscribe(Some(&forged), Choice::All, now).await;
        assert_eq!(store.suppression(&shop, &email).await.unwrap(), None);
        assert!(store.take_new_events().is_empty());

        let answer_good = prefs.unsubscribe(Some(&good), Choice::All, now).await;
        assert_eq!(answer_good, answer_forged, "the same answer either way");
        assert_eq!(
            store.suppression(&shop, &email).await.unwrap(),
            Some(SuppressionReason::Unsubscribed)
        );
        let events = store.take_new_events();
        assert!(matches!(&events[0].kind, EventKind::ConsentChanged(c) if !c.subscribed));
        // A second click records nothing new.
        prefs.unsubscribe(Some(&good), Choice::All, now).await;
        assert!(store.take_new_events().is_empty());
        assert_eq!(
            prefs.confirm_page(Some("<script>")),
            Outcome::PreferencePage {
                token: "script".into(),
                topics: vec![]
            },
            "token is cleaned"
        );
    }

    fn topics() -> Vec<EmailTopic> {
        vec![
            EmailTopic {
                id: "offers".into(),
                label: "Offers & coupons".into(),
            },
            EmailTopic {
                id: "news".into(),
                label: "New arrivals".into(),
            },
        ]
    }

    #[test]
    fn bodies_choose_all_or_known_topics() {
        let prefs = Preferences::new(keys(), MemoryStore::default()).with_topics(topics());
        assert_eq!(prefs.choice("List-Unsubscribe=One-Click"), Choice::All);
        assert_eq!(
            prefs.choice("topic=news&topic=offers&topic=bogus"),
            Choice::Topics(vec!["offers".into(), "news".into()])
        );
        assert_eq!(prefs.choice("topic=bogus"), Choice::All);
        assert_eq!(prefs.choice(""), Choice::All);
        assert_eq!(
            prefs.confirm_page(Some("tok")),
            Outcome::PreferencePage {
                token: "tok".into(),
                topics: topics()
            }
        );
    }

    #[tokio::test]
    async fn a_topic_choice_suppresses_only_that_topic() {
        let store = MemoryStore::default();
        let prefs = Preferences::new(keys(), store.clone()).with_topics(topics());
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let email = EmailAddress::parse("ana@example.com").unwrap();
        let now: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        let good = waymark_core::unsubscribe::sign(&keys(), &shop, &email, now);
        let outcome = prefs
            .unsubscribe(Some(&good), prefs.choice("topic=offers"), now)
            .await;
        assert_eq!(
            outcome,
            Outcome::TopicsLeft(vec!["Offers & coupons".into()])
        );
        let state = store.suppression_state(&shop, &email).await.unwrap();
        assert_eq!(state.reason, None);
        assert!(state.blocks(false, Some("offers")).is_some());
        assert!(state.blocks(false, Some("news")).is_none());
        assert!(
            state.blocks(true, Some("offers")).is_none(),
            "transactional goes"
        );
        let events = store.take_new_events();
        assert!(matches!(&events[0].kind,
            EventKind::ConsentChanged(c) if !c.subscribed && c.topics == vec!["offers".to_string()]));
    }

    #[tokio::test]
    async fn a_confirmation_subscribes_and_lifts_an_unsubscribe_a_forged_one_does_nothing() {
        let store = MemoryStore::default();
        let prefs = Preferences::new(keys(), store.clone());
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let email = EmailAddress::parse("ana@example.com").unwrap();
        let now: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        store
            .suppress(&shop, &email, SuppressionReason::Unsubscribed, now)
            .await
            .unwrap();
        // An unsubscribe token is not a confirmation.
        let wrong = waymark_core::unsubscribe::sign(&keys(), &shop, &email, now);
        let forged_answer = prefs.confirm_subscription(Some(&wrong), now).await;
        assert_eq!(
            store.suppression(&shop, &email).await.unwrap(),
            Some(SuppressionReason::Unsubscribed)
        );
        assert!(store.take_new_events().is_empty());
        let good = waymark_core::unsubscribe::sign_for(
            waymark_core::unsubscribe::Purpose::Confirm,
            &keys(),
            &shop,
            &email,
            now,
        );
        let answer = prefs.confirm_subscription(Some(&good), now).await;
        assert_eq!(answer, forged_answer, "the same answer either way");
        assert_eq!(store.suppression(&shop, &email).await.unwrap(), None);
        let events = store.take_new_events();
        assert!(matches!(&events[0].kind,
            EventKind::ConsentChanged(c) if c.subscribed && c.source == DOUBLE_OPT_IN));
        // A bounce is never lifted.
        store
            .suppress(&shop, &email, SuppressionReason::HardBounce, now)
            .await
            .unwrap();
        prefs.confirm_subscription(Some(&good), now).await;
        assert_eq!(
            store.suppression(&shop, &email).await.unwrap(),
            Some(SuppressionReason::HardBounce)
        );
    }
}
