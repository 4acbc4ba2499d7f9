//! Preferences: the one-click unsubscribe (RFC 8058) and the small page behind
//! the footer link. A valid token records the opt-out at once (suppression
//! list, read before every send) and as a consent event (the contact's
//! profile and journeys). Whatever the token, the answer is the same: a
//! guessed or tampered link changes nothing and reveals nothing.

use crate::ports::{Inbox, Receipt, StoreError, SuppressionReason, Suppressions};
use jiff::Timestamp;
use waymark_core::event::{ConsentChange, Event, EventKind, Source, fact_id};

/// An HTTP answer with its content type.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

pub struct Preferences<S> {
    secret: Vec<u8>,
    store: S,
}

fn page(status: u16, title: &str, body: &str) -> Page {
    Page {
        status,
        content_type: "text/html; charset=utf-8",
        body: format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head>\
             <body style=\"font-family: sans-serif; max-width: 32rem; margin: 3rem auto;\"><h1>{title}</h1>{body}</body></html>"
        ),
    }
}

/// Only base64url characters and the dot survive into the page.
fn clean(token: &str) -> String {
    token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(1024)
        .collect()
}

impl<S: Inbox + Suppressions> Preferences<S> {
    pub fn new(secret: impl Into<Vec<u8>>, store: S) -> Self {
        Self {
            secret: secret.into(),
            store,
        }
    }

    /// `GET /unsubscribe?t=…`: a page with one button. Changes nothing (mail
    /// scanners follow links).
    pub fn confirm_page(&self, token: Option<&str>) -> Page {
        let t = clean(token.unwrap_or_default());
        page(
            200,
            "Unsubscribe",
            &format!(
                "<p>Stop all marketing emails from this store?</p>\
                 <form method=\"post\" action=\"?t={t}\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
                 <button type=\"submit\">Unsubscribe</button></form>\
                 <p>Order updates (confirmations, shipping) still reach you.</p>"
            ),
        )
    }

    /// `POST /unsubscribe?t=…` (one-click or the page's button).
    pub async fn unsubscribe(&self, token: Option<&str>, now: Timestamp) -> Page {
        let done = page(
            200,
            "You are unsubscribed",
            "<p>You will get no more marketing emails from us. Order updates still reach you.</p>",
        );
        let Some(claims) =
            token.and_then(|t| waymark_core::unsubscribe::verify(&self.secret, t, now))
        else {
            tracing::info!("unsubscribe with an invalid or expired token: nothing changed");
            return done;
        };
        match self.record(&claims, now).await {
            Ok(()) => done,
            Err(e) => {
                tracing::error!(error = %e, "could not record an unsubscribe");
                page(
                    503,
                    "Please try again",
                    "<p>We could not record that just now. Please try again in a minute.</p>",
                )
            }
        }
    }

    async fn record(
        &self,
        c: &waymark_core::unsubscribe::Claims,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.store
            .suppress(&c.shop, &c.email, SuppressionReason::Unsubscribed, now)
            .await?;
        let id = fact_id(&c.shop, "consent_changed", c.email.as_str(), now);
        let event = Event {
            id: id.clone(),
            shop: c.shop.clone(),
            at: now,
            source: Source {
                platform: "waymark".into(),
                topic: "unsubscribe".into(),
                delivery_id: id.clone(),
            },
            kind: EventKind::ConsentChanged(ConsentChange {
                email: c.email.clone(),
                subscribed: false,
                source: "unsubscribe".into(),
            }),
        };
        let receipt = Receipt {
            shop: c.shop.clone(),
            delivery_id: format!("unsubscribe-{id}"),
            platform_event_id: None,
            topic: "unsubscribe".into(),
            received_at: Some(now),
        };
        self.store.record(&receipt, &event).await?;
        tracing::info!(shop = %c.shop, "unsubscribed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use waymark_core::ids::{EmailAddress, ShopDomain};

    #[tokio::test]
    async fn a_valid_token_suppresses_and_records_consent_a_forged_one_changes_nothing() {
        let store = MemoryStore::default();
        let prefs = Preferences::new(b"k".to_vec(), store.clone());
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let email = EmailAddress::parse("ana@example.com").unwrap();
        let now: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        let good = waymark_core::unsubscribe::sign(b"k", &shop, &email, now);
        let forged = waymark_core::unsubscribe::sign(b"guess", &shop, &email, now);

        let answer_forged = prefs.unsubscribe(Some(&forged), now).await;
        assert_eq!(store.suppression(&shop, &email).await.unwrap(), None);
        assert!(store.take_new_events().is_empty());

        let answer_good = prefs.unsubscribe(Some(&good), now).await;
        assert_eq!(answer_good, answer_forged, "the same answer either way");
        assert_eq!(
            store.suppression(&shop, &email).await.unwrap(),
            Some(SuppressionReason::Unsubscribed)
        );
        let events = store.take_new_events();
        assert!(matches!(&events[0].kind, EventKind::ConsentChanged(c) if !c.subscribed));
        // A second click records nothing new.
        prefs.unsubscribe(Some(&good), now).await;
        assert!(store.take_new_events().is_empty());
        assert!(
            prefs
                .confirm_page(Some("<script>"))
                .body
                .contains("?t=script"),
            "token is cleaned"
        );
    }
}
