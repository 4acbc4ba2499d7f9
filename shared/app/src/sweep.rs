//! The re-engagement sweep (daily schedule): finds the contacts whose
//! inactivity threshold fell on the days since the last sweep, through the
//! time-bucketed idle index, and lapses those still silent, which starts the
//! win-back journey; anonymous visitors that silent are forgotten. Its reads grow with the contacts that crossed the
//! threshold, never with the size of the list.

use crate::ports::{CampaignStore, ContactStore, IdleIndex, Privacy};
use crate::process::{Idle, ProcessError, Processor};
use jiff::Timestamp;
use waymark_core::activity::day_of;

/// How far back the very first sweep looks.
pub const FIRST_SWEEP_DAYS: i32 = 30;
/// The most days one run covers.
pub const MAX_SWEEP_DAYS: i32 = 31;

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// The UTC days swept (days since 1970-01-01), inclusive.
    pub from_day: i32,
    pub to_day: i32,
    /// Index items read: the sweep's cost.
    pub items_read: u64,
    /// Contacts found silent and lapsed now.
    pub lapsed: usize,
    /// Anonymous visitors found silent and forgotten.
    pub forgotten: usize,
    /// Contacts in the buckets that had woken up (or lapsed already).
    pub unchanged: usize,
    /// Contacts that failed; the days are swept again next time.
    pub failed: usize,
}

/// Sweeps every whole day up to yesterday (UTC, by `now`) not swept yet.
pub async fn sweep<S>(
    processor: &Processor<S>,
    index: &S,
    now: Timestamp,
) -> Result<SweepReport, ProcessError>
where
    S: ContactStore + IdleIndex + Privacy + CampaignStore,
{
    let to = day_of(now) - 1;
    // A cursor held back by failures never makes the range grow past a
    // month: each run stays bounded (older failures are in the logs).
    let from = match index.sweep_cursor().await? {
        Some(done) => (done + 1).max(to - MAX_SWEEP_DAYS),
        None => to - FIRST_SWEEP_DAYS,
    };
    let mut report = SweepReport {
        from_day: from,
        to_day: to,
        ..SweepReport::default()
    };
    if from > to {
        return Ok(report);
    }
    let batch = index.idle_between(from, to).await?;
    report.items_read = batch.items_read;
    for (shop, id) in batch.contacts {
        match processor.handle_idle(&shop, &id, now).await {
            Ok(Idle::Lapsed) => report.lapsed += 1,
            Ok(Idle::Forgotten) => report.forgotten += 1,
            Ok(Idle::Unchanged) => report.unchanged += 1,
            Err(e) => {
                tracing::error!(%shop, contact = %id, error = %e, "sweep failed for contact; swept again next time");
                report.failed += 1;
            }
        }
    }
    if report.failed == 0 {
        index.set_sweep_cursor(to).await?;
    }
    tracing::info!(?report, "sweep");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use crate::ports::ContactState;
    use waymark_core::contact::Contact;
    use waymark_core::ids::{ContactId, EmailAddress, ShopDomain};

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn seeded(n: u64, store: &MemoryStore) {
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        for i in 0..n {
            let mut c = Contact::new(
                ContactId::for_customer(i),
                shop.clone(),
                t("2025-01-01T00:00:00Z"),
            );
            c.identity.email = Some(EmailAddress::parse(&format!("c{i}@example.com")).unwrap());
            // One contact's threshold a day, from 2026-01-01 on.
            c.audience.last_engaged_at =
                Some(t("2025-10-03T00:00:00Z") + jiff::SignedDuration::from_hours(24 * i as i64));
            c.schedule.idle_at = c
                .audience
                .last_engaged_at
                .map(|l| l + jiff::SignedDuration::from_hours(24 * 90));
            store.seed(ContactState {
                contact: c,
                version: 1,
                recent_events: Default::default(),
                runs: vec![],
            });
        }
    }

    #[tokio::test]
    async fn each_day_is_swept_once_and_reads_only_its_bucket() {
        let store = MemoryStore::default();
        seeded(100, &store);
        let catalog = waymark_core::journey::Catalog::from_files(&[]).unwrap();
        let p = Processor::new(catalog, store.clone());
        store
            .set_sweep_cursor(day_of(t("2026-01-04T00:00:00Z")))
            .await
            .unwrap();
        let r = sweep(&p, &store, t("2026-01-10T03:00:00Z")).await.unwrap();
        // Days 01-05 … 01-09: five thresholds crossed, five contacts read.
        assert_eq!((r.items_read, r.lapsed, r.failed), (5, 5, 0));
        let again = sweep(&p, &store, t("2026-01-10T23:00:00Z")).await.unwrap();
        assert_eq!(again.items_read, 0, "a day is swept once");
        let next = sweep(&p, &store, t("2026-01-11T03:00:00Z")).await.unwrap();
        assert_eq!((next.items_read, next.lapsed), (1, 1));
    }

    fn visit(browser: &str, n: u32, at: Timestamp) -> waymark_core::event::Event {
        use waymark_core::event::{Event, EventKind, SiteAction, SiteEvent, Source};
        Event {
            id: format!("{browser}-{n}"),
            shop: ShopDomain::parse("demo.myshopify.com").unwrap(),
            at,
            source: Source {
                platform: "site".into(),
                topic: "page_viewed".into(),
                delivery_id: format!("{browser}-{n}"),
            },
            kind: EventKind::Site(SiteEvent {
                action: SiteAction::PageViewed,
                anonymous_id: Some(browser.into()),
                customer_id: None,
                email: None,
                url: None,
                page_type: None,
                product: None,
                query: None,
                topic: None,
                accepts_marketing: None,
                double_opt_in: false,
                name: None,
                first_name: None,
                time_zone: None,
                locale: None,
                properties: Default::default(),
            }),
        }
    }

    #[tokio::test]
    async fn anonymous_visitors_silent_past_the_threshold_are_forgotten_and_regulars_kept() {
        use crate::ports::ContactStore;
        use waymark_core::event::Identity;
        let store = MemoryStore::default();
        let catalog = waymark_core::journey::Catalog::from_files(&[]).unwrap();
        let p = Processor::new(catalog, store.clone());
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let browser = |b: &str| Identity {
            anonymous_id: Some(b.into()),
            ..Identity::default()
        };
        let found = |b: &'static str| {
            let store = store.clone();
            let shop = shop.clone();
            async move { store.find(&shop, &browser(b)).await.unwrap().contact }
        };
        // One visit on 2026-01-01; the regular comes back on 03-01.
        p.handle_event(&visit("once", 1, t("2026-01-01T12:00:00Z")))
            .await
            .unwrap();
        p.handle_event(&visit("regular", 1, t("2026-01-01T12:00:00Z")))
            .await
            .unwrap();
        p.handle_event(&visit("regular", 2, t("2026-03-01T12:00:00Z")))
            .await
            .unwrap();
        let regular = found("regular").await.expect("a visitor is a contact");
        store
            .set_sweep_cursor(day_of(t("2026-03-30T00:00:00Z")))
            .await
            .unwrap();

        // 90 days after the single visit: that visitor goes, lookup and all.
        // The regular's bucket stayed at its first visit's threshold (an
        // index key moves only earlier): the sweep finds it there, keeps
        // it, and moves it to the threshold its March visit set.
        let r = sweep(&p, &store, t("2026-04-03T03:00:00Z")).await.unwrap();
        assert_eq!(
            (r.forgotten, r.lapsed, r.unchanged, r.failed),
            (1, 0, 1, 0),
            "{r:?}"
        );
        assert_eq!(found("once").await, None);
        let kept = store.load_for_update(&shop, &regular).await.unwrap();
        let kept = kept.expect("the regular visited in March");
        assert_eq!(
            kept.contact.schedule.idle_at,
            Some(t("2026-05-30T12:00:00Z"))
        );

        // 90 days after the regular's last visit: gone too.
        let r = sweep(&p, &store, t("2026-06-01T03:00:00Z")).await.unwrap();
        assert_eq!((r.forgotten, r.failed), (1, 0), "{r:?}");
        assert_eq!(found("regular").await, None);
        assert!(
            store
                .load_for_update(&shop, &regular)
                .await
                .unwrap()
                .is_none()
        );
    }
}
