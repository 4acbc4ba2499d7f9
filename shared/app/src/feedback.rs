//! Feedback: SES sending events → suppression and engagement. A permanent
//! bounce or a complaint suppresses the address at once, for every journey;
//! a complaint is also an opt-out; opens and clicks become events journeys can
//! wait for and that keep the contact's engagement current; deliveries,
//! bounces, complaints, opens and clicks are counted for the results, once
//! per message. Idempotent: SES events arrive at least once.

use crate::ports::{Counters, Inbox, Receipt, StoreError, SuppressionReason, Suppressions};
use waymark_core::event::{ConsentChange, Engagement, Event, EventKind, Source, fact_id};
use waymark_core::feedback::{Feedback, FeedbackError, Kind, parse};
use waymark_core::ids::EmailAddress;

/// What one SES event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Suppressed(usize),
    Recorded(usize),
    Noted(String),
    /// Mail Waymark did not send.
    Ignored,
}

pub struct FeedbackService<S> {
    store: S,
    /// The shop's zone: results count each fact on its local day.
    zone: jiff::tz::TimeZone,
}

impl<S: Inbox + Suppressions + Counters> FeedbackService<S> {
    pub fn new(store: S) -> Self {
        Self {
            store,
            zone: jiff::tz::TimeZone::UTC,
        }
    }

    /// Counts results on the days of `zone` (the shop's).
    pub fn with_zone(mut self, zone: jiff::tz::TimeZone) -> Self {
        self.zone = zone;
        self
    }

    pub async fn handle(&self, json: &serde_json::Value) -> Result<Handled, FeedbackHandlingError> {
        let f = match parse(json) {
            Ok(f) => f,
            Err(FeedbackError::NotOurs) => return Ok(Handled::Ignored),
            Err(e) => return Err(FeedbackHandlingError::Shape(e.to_string())),
        };
        let handled = match &f.kind {
            Kind::Bounce {
                permanent: true,
                recipients,
            } => {
                self.suppress(&f, recipients, SuppressionReason::HardBounce)
                    .await?;
                Handled::Suppressed(recipients.len())
            }
            Kind::Complaint { recipients } => {
                self.suppress(&f, recipients, SuppressionReason::Complaint)
                    .await?;
                for r in recipients {
                    let kind = EventKind::ConsentChanged(ConsentChange {
                        email: r.clone(),
                        subscribed: false,
                        source: "complaint".into(),
                        topics: vec![],
                        via: None,
                    });
                    self.record(&f, r, kind).await?;
                }
                Handled::Suppressed(recipients.len())
            }
            Kind::Open { recipients } | Kind::Click { recipients, .. } => {
                let link = match &f.kind {
                    Kind::Click { link, .. } => Some(link.clone()),
                    _ => None,
                };
                for r in recipients {
                    let e = Engagement {
                        email: r.clone(),
                        message: f.message.clone(),
                        journey: f.journey.clone(),
                        link: link.clone(),
                        machine: f.machine(),
                    };
                    let kind = if link.is_some() {
                        EventKind::EmailClicked(e)
                    } else {
                        EventKind::EmailOpened(e)
                    };
                    self.record(&f, r, kind).await?;
                }
                Handled::Recorded(recipients.len())
            }
            Kind::Bounce {
                permanent: false, ..
            } => Handled::Noted("transient bounce".into()),
            Kind::Delivery { .. } => Handled::Noted("delivered".into()),
            Kind::Other(what) => Handled::Noted(what.clone()),
        };
        // Counted last: if anything above fails, the redelivery counts it.
        if let Some((once, counts)) = f.counts(&self.zone) {
            self.store.count_once(&f.shop, &once, f.at, &counts).await?;
        }
        tracing::info!(shop = %f.shop, ses_message_id = %f.ses_message_id, outcome = ?handled, "ses feedback");
        Ok(handled)
    }

    async fn suppress(
        &self,
        f: &Feedback,
        to: &[EmailAddress],
        reason: SuppressionReason,
    ) -> Result<(), StoreError> {
        for r in to {
            self.store.suppress(&f.shop, r, reason, f.at).await?;
        }
        Ok(())
    }

    async fn record(
        &self,
        f: &Feedback,
        email: &EmailAddress,
        kind: EventKind,
    ) -> Result<(), StoreError> {
        let resource = format!("{}/{}", f.ses_message_id, email.lookup_key());
        let id = fact_id(&f.shop, kind.name(), &resource, f.at);
        let event = Event {
            id: id.clone(),
            shop: f.shop.clone(),
            at: f.at,
            source: Source {
                platform: "ses".into(),
                topic: kind.name().into(),
                delivery_id: f.ses_message_id.clone(),
            },
            kind,
        };
        let receipt = Receipt {
            shop: f.shop.clone(),
            delivery_id: format!("ses-{id}"),
            platform_event_id: None,
            topic: event.kind.name().into(),
            received_at: Some(f.at),
        };
        self.store.record(&receipt, &event).await?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FeedbackHandlingError {
    /// Retrying cannot fix a malformed event.
    #[error("malformed SES event: {0}")]
    Shape(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use waymark_core::ids::ShopDomain;

    fn sample(name: &str) -> serde_json::Value {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn bounces_and_complaints_suppress_clicks_become_events() {
        let store = MemoryStore::default();
        let f = FeedbackService::new(store.clone());
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let ana = EmailAddress::parse("ana.silva@example.com").unwrap();
        assert_eq!(
            f.handle(&sample("feedback-click.json")).await.unwrap(),
            Handled::Recorded(1)
        );
        assert!(
            matches!(&store.take_new_events()[0].kind, EventKind::EmailClicked(e) if e.link.as_deref().is_some_and(|l| l.contains("recover")))
        );
        // At least once: the same event again records nothing new.
        f.handle(&sample("feedback-click.json")).await.unwrap();
        assert!(store.take_new_events().is_empty());

        assert_eq!(
            f.handle(&sample("feedback-complaint.json")).await.unwrap(),
            Handled::Suppressed(1)
        );
        assert_eq!(
            store.suppression(&shop, &ana).await.unwrap(),
            Some(SuppressionReason::Complaint)
        );
        assert!(
            matches!(&store.take_new_events()[0].kind, EventKind::ConsentChanged(c) if c.source == "complaint")
        );
        assert_eq!(
            f.handle(&sample("feedback-bounce.json")).await.unwrap(),
            Handled::Suppressed(1)
        );
        assert!(matches!(
            f.handle(&serde_json::json!({"nope": 1})).await,
            Err(FeedbackHandlingError::Shape(_))
        ));
    }
}
