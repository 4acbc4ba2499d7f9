//! The twin's campaign records and segment member pages, and its page
//! queue: a page handed over is worked at once (the workers' SQS queue in
//! production).

use super::MemoryStore;
use crate::ports::{CampaignPage, CampaignPhase, Member, StoreError};
use jiff::Timestamp;
use waymark_core::ids::ShopDomain;

impl MemoryStore {
    /// Cancels the campaign if its phase passes `from`, as a cancel does
    /// (version moved, nothing due).
    fn cancel_if(&self, shop: &ShopDomain, id: &str, from: impl Fn(CampaignPhase) -> bool) -> bool {
        let mut s = self.lock();
        match s.campaigns.get_mut(&(shop.clone(), id.to_string())) {
            Some(entry) if from(entry.1.phase) => {
                entry.1.phase = CampaignPhase::Cancelled;
                entry.2 += 1;
                entry.3 = None;
                true
            }
            _ => false,
        }
    }
}

impl crate::ports::CampaignStore for MemoryStore {
    async fn schedule(
        &self,
        shop: &ShopDomain,
        campaign: &waymark_core::campaign::Campaign,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        use crate::ports::{CampaignPhase, CampaignState};
        let mut s = self.lock();
        let key = (shop.clone(), campaign.id.clone());
        let version = match s.campaigns.get(&key) {
            Some((_, st, _, _, _))
                if !matches!(
                    st.phase,
                    CampaignPhase::Scheduled | CampaignPhase::Cancelled
                ) =>
            {
                return Ok(false);
            }
            Some((_, _, v, _, _)) => v + 1,
            None => 1,
        };
        let state = CampaignState::scheduled(at);
        s.campaigns.insert(
            key,
            (
                campaign.clone(),
                state,
                version,
                Some(campaign.starts_at()),
                Default::default(),
            ),
        );
        Ok(true)
    }

    async fn campaign(
        &self,
        shop: &ShopDomain,
        id: &str,
    ) -> Result<Option<crate::ports::CampaignRecord>, StoreError> {
        Ok(self
            .lock()
            .campaigns
            .get(&(shop.clone(), id.to_string()))
            .map(|(c, st, v, _, (worked, _))| crate::ports::CampaignRecord {
                campaign: c.clone(),
                state: st.clone(),
                version: *v,
                worked: *worked,
            }))
    }

    async fn save_campaign(
        &self,
        shop: &ShopDomain,
        id: &str,
        state: &crate::ports::CampaignState,
        version: u64,
        due: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        match s.campaigns.get_mut(&(shop.clone(), id.to_string())) {
            Some(entry)
                if entry.2 == version
                    && entry.1.phase != crate::ports::CampaignPhase::Cancelled =>
            {
                entry.1 = state.clone();
                entry.2 = version + 1;
                entry.3 = due;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn cancel(&self, shop: &ShopDomain, id: &str) -> Result<bool, StoreError> {
        Ok(self.cancel_if(shop, id, |p| {
            !matches!(p, CampaignPhase::Done | CampaignPhase::Cancelled)
        }))
    }

    async fn cancel_done(&self, shop: &ShopDomain, id: &str) -> Result<bool, StoreError> {
        Ok(self.cancel_if(shop, id, |p| p == CampaignPhase::Done))
    }

    async fn email_fate(
        &self,
        shop: &ShopDomain,
        id: &str,
    ) -> Result<crate::ports::EmailFate, StoreError> {
        let s = self.lock();
        Ok(s.outbox
            .get(&format!("{shop}/{id}"))
            .map_or(crate::ports::EmailFate::Settled, |e| e.fate()))
    }

    async fn email_written(
        &self,
        shop: &ShopDomain,
        id: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let exists = self.lock().outbox.contains_key(&format!("{shop}/{id}"));
        if exists {
            crate::ports::Outbox::watch(self, shop, id, at).await?;
        }
        Ok(exists)
    }

    async fn page_done(
        &self,
        page: &CampaignPage,
        recorded: u64,
        overlaps: u64,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some((_, st, _, _, (worked, finished))) = s
            .campaigns
            .get_mut(&(page.shop.clone(), page.campaign.clone()))
        else {
            return Ok(false);
        };
        let testing = page.wave == CampaignPhase::Testing;
        if st.run() != page.run || !finished.insert((testing, page.number)) {
            return Ok(false);
        }
        if testing {
            worked.testing += 1;
        } else {
            worked.sending += 1;
        }
        worked.recorded += recorded;
        worked.overlaps += overlaps;
        Ok(true)
    }

    async fn member_page(
        &self,
        shop: &ShopDomain,
        segment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Member>, Option<String>), StoreError> {
        let s = self.lock();
        let mut all = s.members_of(shop, segment);
        all.sort_by(|a, b| a.contact.as_str().cmp(b.contact.as_str()));
        let page: Vec<Member> = all
            .into_iter()
            .filter(|m| after.is_none_or(|a| m.contact.as_str() > a))
            .take(limit + 1)
            .collect();
        if page.len() > limit {
            let page: Vec<Member> = page.into_iter().take(limit).collect();
            let next = page.last().map(|m| m.contact.as_str().to_string());
            Ok((page, next))
        } else {
            Ok((page, None))
        }
    }
}

impl crate::ports::PageQueue for MemoryStore {
    async fn enqueue(&self, page: &CampaignPage) -> Result<(), StoreError> {
        crate::campaigns::work_page(self, page, page.at)
            .await
            .map(|_| ())
    }
}
