//! Scheduled campaigns: one item per campaign (the definition, its progress
//! and version), in the due index while something is due; and paging
//! through a segment's members for the fan-out.

use super::*;
use aws_sdk_dynamodb::types::Update;
use waymark_app::ports::{
    CampaignPage, CampaignPhase, CampaignRecord, CampaignState, CampaignStore, Member, Worked,
};
use waymark_core::campaign::Campaign;

/// The campaign item's counts of what the workers finished (`ADD`ed by
/// each page's mark, apart from the state the timer saves): pages of the
/// test's share, pages of the send, sends recorded, members met again.
const PAGES_TESTING: &str = "pages_t";
const PAGES_SENDING: &str = "pages_s";
const RECORDED: &str = "recorded";
const OVERLAPS: &str = "overlaps";
/// Which run the counts belong to ([`CampaignState::run`]).
const RUN: &str = "run";

impl DynamoStore {
    /// The outbox message `id`'s attributes in `projection` (a consistent
    /// read), if it exists.
    async fn message_item(
        &self,
        shop: &ShopDomain,
        id: &str,
        projection: &str,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(keys::outbox(shop, id)))
            .key(SK, s(keys::sk::OUTBOX))
            .projection_expression(projection)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("read message", e))?;
        Ok(out.item)
    }

    /// Cancels the campaign if its phase is one of `phases`: the phase a
    /// cancel writes, the version moved, out of the due index.
    async fn cancel_in(
        &self,
        shop: &ShopDomain,
        id: &str,
        phases: &[&str],
    ) -> Result<bool, StoreError> {
        let names: Vec<String> = (0..phases.len()).map(|i| format!(":p{i}")).collect();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(keys::campaign(shop, id)))
            .key(SK, s(keys::sk::CAMPAIGN))
            .condition_expression(format!("phase IN ({})", names.join(", ")))
            .update_expression("SET phase = :c, ver = ver + :one REMOVE due_shard, due_at")
            .expression_attribute_values(":c", s("cancelled"))
            .expression_attribute_values(":one", n(1));
        for (name, phase) in names.iter().zip(phases) {
            request = request.expression_attribute_values(name, s(*phase));
        }
        applied(request.send().await, "cancel campaign")
    }
}

fn phase_name(p: CampaignPhase) -> &'static str {
    match p {
        CampaignPhase::Scheduled => "scheduled",
        CampaignPhase::Testing => "testing",
        CampaignPhase::Deciding => "deciding",
        CampaignPhase::Sending => "sending",
        CampaignPhase::Done => "done",
        CampaignPhase::Cancelled => "cancelled",
    }
}

impl CampaignStore for DynamoStore {
    async fn schedule(
        &self,
        shop: &ShopDomain,
        campaign: &Campaign,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let pk = keys::campaign(shop, &campaign.id);
        let state = CampaignState::scheduled(at);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(&pk))
            .item(SK, s(keys::sk::CAMPAIGN))
            .item(TYPE, s("campaign"))
            .item(DOC, doc(campaign)?)
            .item("state", doc(&state)?)
            .item("phase", s(phase_name(state.phase)))
            .item(VERSION, n(at.as_millisecond().max(1)))
            .item(RUN, n(state.run()))
            .item(DUE_SHARD, s(keys::shard(&pk)))
            .item(DUE_AT, n(campaign.starts_at().as_millisecond()))
            .condition_expression("attribute_not_exists(PK) OR phase IN (:s, :c)")
            .expression_attribute_values(":s", s("scheduled"))
            .expression_attribute_values(":c", s("cancelled"))
            .send()
            .await;
        applied(result, "schedule campaign")
    }

    async fn campaign(
        &self,
        shop: &ShopDomain,
        id: &str,
    ) -> Result<Option<CampaignRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(keys::campaign(shop, id)))
            .key(SK, s(keys::sk::CAMPAIGN))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("read campaign", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let campaign: Campaign = read_doc(&item)?;
        let raw = item
            .get("state")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| StoreError::new(StoreErrorKind::Corrupt, "read campaign", "no state"))?;
        let mut state: CampaignState =
            serde_json::from_str(raw).map_err(store_err("deserialise campaign state"))?;
        // A cancel writes only the phase.
        if item
            .get("phase")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            == Some("cancelled")
        {
            state.phase = CampaignPhase::Cancelled;
        }
        Ok(Some(CampaignRecord {
            campaign,
            state,
            version: read_n(&item, VERSION),
            worked: Worked {
                testing: read_n(&item, PAGES_TESTING),
                sending: read_n(&item, PAGES_SENDING),
                recorded: read_n(&item, RECORDED),
                overlaps: read_n(&item, OVERLAPS),
            },
        }))
    }

    async fn save_campaign(
        &self,
        shop: &ShopDomain,
        id: &str,
        state: &CampaignState,
        version: u64,
        due: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        let pk = keys::campaign(shop, id);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(&pk))
            .key(SK, s(keys::sk::CAMPAIGN))
            .condition_expression("ver = :v AND phase <> :c")
            .expression_attribute_values(":v", n(version))
            .expression_attribute_values(":next", n(version + 1))
            .expression_attribute_values(":c", s("cancelled"))
            .expression_attribute_values(":state", doc(state)?)
            .expression_attribute_values(":phase", s(phase_name(state.phase)));
        request = match due {
            Some(at) => request
                .update_expression(
                    "SET #state = :state, phase = :phase, ver = :next, due_shard = :shard, due_at = :due",
                )
                .expression_attribute_values(":shard", s(keys::shard(&pk)))
                .expression_attribute_values(":due", n(at.as_millisecond())),
            None => request.update_expression(
                "SET #state = :state, phase = :phase, ver = :next REMOVE due_shard, due_at",
            ),
        };
        let result = request
            .expression_attribute_names("#state", "state")
            .send()
            .await;
        applied(result, "save campaign")
    }

    async fn cancel(&self, shop: &ShopDomain, id: &str) -> Result<bool, StoreError> {
        self.cancel_in(shop, id, &["scheduled", "testing", "deciding", "sending"])
            .await
    }

    async fn cancel_done(&self, shop: &ShopDomain, id: &str) -> Result<bool, StoreError> {
        self.cancel_in(shop, id, &["done"]).await
    }

    async fn email_written(
        &self,
        shop: &ShopDomain,
        id: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let Some(item) = self.message_item(shop, id, "st").await? else {
            return Ok(false);
        };
        if item
            .get("st")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            == Some("sending")
        {
            waymark_app::ports::Outbox::watch(self, shop, id, at).await?;
        }
        Ok(true)
    }

    async fn email_fate(
        &self,
        shop: &ShopDomain,
        id: &str,
    ) -> Result<waymark_app::ports::EmailFate, StoreError> {
        use waymark_app::ports::EmailFate;
        let Some(item) = self
            .message_item(shop, id, "st, attempts, skip_reason")
            .await?
        else {
            return Ok(EmailFate::Settled);
        };
        let text = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
        };
        Ok(EmailFate::of(
            text("st").unwrap_or_default(),
            read_n(&item, "attempts"),
            text("skip_reason"),
        ))
    }

    async fn page_done(
        &self,
        page: &CampaignPage,
        recorded: u64,
        overlaps: u64,
    ) -> Result<bool, StoreError> {
        // The mark and the counts in one transaction: a page is counted
        // once, however often it is delivered, and never lost to a crash
        // between the two.
        let pk = keys::campaign(&page.shop, &page.campaign);
        let testing = page.wave == CampaignPhase::Testing;
        let mark: Item = HashMap::from([
            (PK.into(), s(&pk)),
            (
                SK.into(),
                s(keys::campaign_page(page.run, testing, page.number)),
            ),
            (TYPE.into(), s("campaign_page")),
            (TTL.into(), ttl(page.at)),
        ]);
        let count = Update::builder()
            .table_name(&self.table)
            .key(PK, s(&pk))
            .key(SK, s(keys::sk::CAMPAIGN))
            // A campaign scheduled before the workers (no run attribute) is
            // still that run.
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(#run) OR #run = :run)",
            )
            .update_expression("ADD #pages :one, #rec :rec, #ovl :ovl")
            .expression_attribute_names("#run", RUN)
            .expression_attribute_names(
                "#pages",
                if testing {
                    PAGES_TESTING
                } else {
                    PAGES_SENDING
                },
            )
            .expression_attribute_names("#rec", RECORDED)
            .expression_attribute_names("#ovl", OVERLAPS)
            .expression_attribute_values(":run", n(page.run))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":rec", n(recorded))
            .expression_attribute_values(":ovl", n(overlaps))
            .build()
            .expect("table, key and expression are set");
        let writes = vec![
            put(&self.table, mark, "attribute_not_exists(PK)", None),
            TransactWriteItem::builder().update(count).build(),
        ];
        // Workers finishing pages at once (and the timer's saves) write the
        // same campaign item: a transaction that meets another is tried
        // again in place, rather than the whole page delivered again.
        let done =
            super::txn::transact(&self.client, writes, "mark campaign page", page.number).await?;
        Ok(done == super::txn::Transacted::Applied)
    }

    async fn member_page(
        &self,
        shop: &ShopDomain,
        segment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Member>, Option<String>), StoreError> {
        let pk = keys::segment(shop, segment);
        let start =
            after.map(|sk| HashMap::from([(PK.to_string(), s(&pk)), (SK.to_string(), s(sk))]));
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(&pk))
            .set_exclusive_start_key(start)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_err("read segment page", e))?;
        let mut members = Vec::new();
        let mut last = None;
        for item in out.items.unwrap_or_default() {
            let sk = item.get(SK).and_then(|v| v.as_s().ok()).cloned();
            let contact = item
                .get("contact")
                .and_then(|v| v.as_s().ok())
                .and_then(|c| ContactId::parse(c).ok());
            if let Some(contact) = contact {
                members.push(Member {
                    contact,
                    email: item
                        .get("email")
                        .and_then(|v| v.as_s().ok())
                        .and_then(|e| EmailAddress::parse(e).ok()),
                });
            }
            last = sk;
        }
        let next = out.last_evaluated_key.and(last);
        Ok((members, next))
    }
}
