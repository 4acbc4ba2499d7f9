//! The DynamoDB adapter for every storage port, over one table. Writes that
//! must agree are one transaction; every write that can be replayed is
//! conditional, so replays and races become no-ops or conflicts, never damage.

use crate::keys::{
    self, DOC, DUE_AT, DUE_INDEX, DUE_SHARD, IDLE_INDEX, IDLE_KEY, IDLE_SHARD, PK, SK, TTL, TYPE,
    VERSION,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use waymark_app::ports::{
    Claimed, Commit, CommitError, ContactState, ContactStore, Due, DueIndex, Erasure, IdleBatch,
    IdleIndex, Inbox, Member, Outbox, Privacy, Receipt, Recorded, Rejected, Resolution, Segments,
    StoreError, SuppressionReason, SuppressionState, Suppressions, VersionedRun,
};
use waymark_core::contact::Contact;
use waymark_core::event::{Event, Identity};
use waymark_core::ids::{ContactId, EmailAddress, ShopDomain};
use waymark_core::journey::Run;
use waymark_core::outbox::OutboxMessage;

/// How long rejected deliveries are kept for inspection.
const RETENTION: SignedDuration = SignedDuration::from_hours(24 * 30);
/// How long receipts and events are kept: long past Shopify's 48 hours of
/// redelivery, and short, since events carry personal data.
const EVENT_RETENTION: SignedDuration = SignedDuration::from_hours(24 * 7);
/// How long one delivery of `shop/redact` may erase before handing over to
/// the next (the process function has 30 s).
const SHOP_ERASURE_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);
/// How long a claimed message may stay `sending` before the timer requeues it.
const CLAIM_LEASE: SignedDuration = SignedDuration::from_mins(15);
/// Actions DynamoDB takes in one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;

type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn ttl(at: Timestamp) -> AttributeValue {
    n(at.checked_add(RETENTION).unwrap_or(at).as_second())
}

fn event_ttl(at: Timestamp) -> AttributeValue {
    n(at.checked_add(EVENT_RETENTION).unwrap_or(at).as_second())
}

fn store_err<E: std::fmt::Debug>(what: &str) -> impl FnOnce(E) -> StoreError + '_ {
    move |e| StoreError(format!("{what}: {e:?}"))
}

fn sdk_err<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    what: &str,
    e: SdkError<E, R>,
) -> StoreError {
    match e.as_service_error() {
        Some(se) => StoreError(format!(
            "{what}: {}: {}",
            se.code().unwrap_or("error"),
            se.message().unwrap_or("")
        )),
        None => StoreError(format!("{what}: {e:?}")),
    }
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(|se| se.code()) == Some("ConditionalCheckFailedException")
}

fn is_cancelled_by_condition<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    let Some(se) = e.as_service_error() else {
        return false;
    };
    // TransactionCanceledException lists one reason per item; any failed
    // condition means someone else got there first.
    se.code() == Some("TransactionCanceledException")
        && se
            .message()
            .unwrap_or("")
            .contains("ConditionalCheckFailed")
}

fn doc<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(value)
        .map(s)
        .map_err(store_err("serialise"))
}

fn read_doc<T: for<'de> Deserialize<'de>>(item: &Item) -> Result<T, StoreError> {
    let raw = item
        .get(DOC)
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError("item has no doc".into()))?;
    serde_json::from_str(raw).map_err(store_err("deserialise"))
}

fn read_n(item: &Item, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A transactional put; an empty `condition` writes unconditionally.
fn put(table: &str, item: Item, condition: &str, values: Option<Item>) -> TransactWriteItem {
    let condition = (!condition.is_empty()).then(|| condition.to_string());
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition)
        .set_expression_attribute_values(values)
        .build()
        .expect("table and item are set");
    TransactWriteItem::builder().put(put).build()
}

/// The contact document: profile plus the newest applied event ids.
#[derive(Serialize, Deserialize)]
struct ContactDoc {
    contact: Contact,
    recent_events: waymark_core::ids::RecentEvents,
}

impl Inbox for DynamoStore {
    async fn record(&self, receipt: &Receipt, event: &Event) -> Result<Recorded, StoreError> {
        let mut receipt_item: Item = HashMap::from([
            (
                PK.into(),
                s(keys::receipt(&receipt.shop, &receipt.delivery_id)),
            ),
            (SK.into(), s("W")),
            (TYPE.into(), s("receipt")),
            ("topic".into(), s(&receipt.topic)),
            ("event_id".into(), s(&event.id)),
            (
                TTL.into(),
                event_ttl(receipt.received_at.unwrap_or(event.at)),
            ),
        ]);
        if let Some(platform) = &receipt.platform_event_id {
            receipt_item.insert("platform_event_id".into(), s(platform));
        }
        let event_item: Item = HashMap::from([
            (PK.into(), s(keys::event(&event.shop, &event.id))),
            (SK.into(), s("E")),
            (TYPE.into(), s("event")),
            ("kind".into(), s(event.kind.name())),
            ("at".into(), s(event.at.to_string())),
            (DOC.into(), doc(event)?),
            (TTL.into(), event_ttl(event.at)),
        ]);
        let result = self
            .client
            .transact_write_items()
            .transact_items(put(
                &self.table,
                receipt_item,
                "attribute_not_exists(PK)",
                None,
            ))
            .transact_items(put(
                &self.table,
                event_item,
                "attribute_not_exists(PK)",
                None,
            ))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Recorded::New),
            Err(e) if is_cancelled_by_condition(&e) => Ok(Recorded::Duplicate),
            Err(e) => Err(sdk_err("record event", e)),
        }
    }

    async fn reject(&self, rejected: &Rejected) -> Result<(), StoreError> {
        // DynamoDB items stop at 400 KB; keep the head of an oversized body.
        let body = &rejected.body[..rejected.body.len().min(350_000)];
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(
                PK,
                s(keys::rejected(
                    &rejected.receipt.shop,
                    &rejected.receipt.delivery_id,
                )),
            )
            .item(SK, s("X"))
            .item(TYPE, s("rejected"))
            .item("topic", s(&rejected.receipt.topic))
            .item("error", s(&rejected.error))
            .item("body", AttributeValue::B(body.to_vec().into()))
            .item(
                "truncated",
                AttributeValue::Bool(body.len() < rejected.body.len()),
            );
        // Undated deliveries are kept until an operator removes them.
        if let Some(at) = rejected.receipt.received_at {
            request = request.item(TTL, ttl(at));
        }
        request
            .send()
            .await
            .map_err(|e| sdk_err("keep rejected delivery", e))?;
        Ok(())
    }
}

impl DynamoStore {
    /// Ends one claimed attempt of a message: `update` applies only while the
    /// message is still `sending` under this very attempt.
    async fn settle<const N: usize>(
        &self,
        c: &Claimed,
        update: &str,
        values: [(&str, AttributeValue); N],
        what: &str,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(self.key(&c.message)))
            .key(SK, s("O"))
            .condition_expression("st = :sending AND attempts = :attempt")
            .update_expression(update)
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":attempt", n(c.attempt));
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        request.send().await.map_err(|e| sdk_err(what, e))?;
        Ok(())
    }

    /// Every item a query finds, page after page. `query` builds the
    /// request (table and conditions); the pages are this loop's.
    async fn query_all(
        &self,
        query: impl Fn() -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        what: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = query()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_err(what, e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Every item of one partition, strongly consistent, in key order.
    async fn partition(&self, pk: String, what: &str) -> Result<Vec<Item>, StoreError> {
        self.query_all(
            || {
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("PK = :pk")
                    .expression_attribute_values(":pk", s(&pk))
                    .consistent_read(true)
            },
            what,
        )
        .await
    }

    async fn alias(&self, pk: String) -> Result<Option<ContactId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s("A"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("read alias", e))?;
        Ok(out
            .item
            .and_then(|i| i.get("contact").and_then(|v| v.as_s().ok()).cloned())
            .and_then(|c| ContactId::parse(&c).ok()))
    }

    /// Points identities at a contact. The first mapping wins: an identity
    /// already owned by another contact is left alone (merging is explicit).
    async fn claim_aliases(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
        identity: &Identity,
    ) -> Result<(), StoreError> {
        let mut pks = Vec::new();
        if let Some(c) = identity.customer_id {
            pks.push(keys::alias_customer(shop, c));
        }
        if let Some(e) = &identity.email {
            pks.push(keys::alias_email(shop, &e.lookup_key()));
        }
        if let Some(o) = identity.order_id {
            pks.push(keys::alias_order(shop, o));
        }
        if let Some(a) = &identity.anonymous_id {
            pks.push(keys::alias_anonymous(shop, a));
        }
        if let Some(k) = identity.contract_id {
            pks.push(keys::alias_contract(shop, k));
        }
        for pk in pks {
            self.put_alias(&pk, id, None).await?;
        }
        Ok(())
    }

    /// Points one lookup at `id` if it leads nowhere yet, or (`from`) still
    /// leads to that contact; a lookup owned by anyone else is left alone.
    async fn put_alias(
        &self,
        pk: &str,
        id: &ContactId,
        from: Option<&ContactId>,
    ) -> Result<(), StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(pk))
            .item(SK, s("A"))
            .item(TYPE, s("alias"))
            .item("contact", s(id.as_str()));
        let put = match from {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(from) => put
                .condition_expression("attribute_not_exists(PK) OR contact = :from")
                .expression_attribute_values(":from", s(from.as_str())),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(sdk_err("write alias", e)),
        }
    }
}

impl ContactStore for DynamoStore {
    async fn find(&self, shop: &ShopDomain, identity: &Identity) -> Result<Resolution, StoreError> {
        let mut r = Resolution::default();
        if let Some(c) = identity.customer_id {
            match self.alias(keys::alias_customer(shop, c)).await? {
                Some(id) => r.contact = Some(id),
                None => r.unmapped.customer_id = Some(c),
            }
        }
        if let Some(e) = &identity.email {
            match self.alias(keys::alias_email(shop, &e.lookup_key())).await? {
                // The address is another contact's: perhaps the same person
                // (the processor decides).
                Some(id) if r.contact.as_ref().is_some_and(|c| *c != id) => r.merge.push(id),
                Some(id) => r.contact = r.contact.or(Some(id)),
                None => r.unmapped.email = Some(e.clone()),
            }
        }
        if let Some(o) = identity.order_id {
            match self.alias(keys::alias_order(shop, o)).await? {
                Some(id) => r.contact = r.contact.or(Some(id)),
                None => r.unmapped.order_id = Some(o),
            }
        }
        if let Some(k) = identity.contract_id {
            match self.alias(keys::alias_contract(shop, k)).await? {
                Some(id) => r.contact = r.contact.or(Some(id)),
                None => r.unmapped.contract_id = Some(k),
            }
        }
        if let Some(a) = &identity.anonymous_id {
            match self.alias(keys::alias_anonymous(shop, a)).await? {
                Some(id) if r.contact.as_ref().is_some_and(|c| *c != id) => r.merge.push(id),
                // A new person on a known browser: its contact is merged in
                // only if anonymous (the processor checks).
                Some(id) if r.contact.is_none() && identity.is_known() => r.merge.push(id),
                Some(id) => r.contact = Some(id),
                None => r.unmapped.anonymous_id = Some(a.clone()),
            }
        }
        Ok(r)
    }

    async fn load_for_update(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> Result<Option<ContactState>, StoreError> {
        let items = self
            .partition(keys::contact(shop, id), "load contact")
            .await?;
        let Some(profile) = items
            .iter()
            .find(|i| i.get(SK).and_then(|v| v.as_s().ok()).map(String::as_str) == Some("C"))
        else {
            return Ok(None);
        };
        let d: ContactDoc = read_doc(profile)?;
        let mut runs = Vec::new();
        for item in &items {
            if item
                .get(TYPE)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some("run")
            {
                runs.push(VersionedRun {
                    run: read_doc::<Run>(item)?,
                    version: read_n(item, VERSION),
                });
            }
        }
        Ok(Some(ContactState {
            contact: d.contact,
            version: read_n(profile, VERSION),
            recent_events: d.recent_events,
            runs,
        }))
    }

    async fn commit(&self, c: Commit) -> Result<(), CommitError> {
        let shop = &c.contact.shop;
        let pk = keys::contact(shop, &c.contact.id);
        self.claim_aliases(shop, &c.contact.id, &c.identities)
            .await?;
        let versioned = |expected: u64| -> (&'static str, Option<Item>) {
            if expected == 0 {
                ("attribute_not_exists(PK)", None)
            } else {
                (
                    "ver = :v",
                    Some(HashMap::from([(":v".to_string(), n(expected))])),
                )
            }
        };
        let mut writes = Vec::new();
        let mut contact_item: Item = HashMap::from([
            (PK.into(), s(&pk)),
            (SK.into(), s("C")),
            (TYPE.into(), s("contact")),
            (VERSION.into(), n(c.expected_version + 1)),
            (
                DOC.into(),
                doc(&ContactDoc {
                    contact: c.contact.clone(),
                    recent_events: c.recent_events.clone(),
                })?,
            ),
        ]);
        if let Some(review) = c.contact.review_at {
            contact_item.insert(DUE_SHARD.into(), s(keys::shard(&pk)));
            contact_item.insert(DUE_AT.into(), n(review.as_millisecond()));
        }
        if let Some(idle) = c.contact.idle_at {
            let (shard, key) = keys::idle(waymark_core::activity::day_of(idle), &pk);
            contact_item.insert(IDLE_SHARD.into(), s(shard));
            contact_item.insert(IDLE_KEY.into(), s(key));
        }
        let (cond, vals) = versioned(c.expected_version);
        writes.push(put(&self.table, contact_item, cond, vals));
        if let Some(a) = &c.absorbed {
            // A merged profile leaves a tombstone (no index attributes:
            // never due, never idle) that lookups still naming it follow.
            // An anonymous one is deleted.
            let gone = keys::contact(shop, &a.id);
            match &a.tombstone {
                Some(t) => {
                    let tombstone: Item = HashMap::from([
                        (PK.into(), s(&gone)),
                        (SK.into(), s("C")),
                        (TYPE.into(), s("contact")),
                        (VERSION.into(), n(a.version + 1)),
                        (
                            DOC.into(),
                            doc(&ContactDoc {
                                contact: t.clone(),
                                recent_events: Default::default(),
                            })?,
                        ),
                    ]);
                    let (cond, vals) = versioned(a.version);
                    writes.push(put(&self.table, tombstone, cond, vals));
                }
                None => writes.push(
                    TransactWriteItem::builder()
                        .delete(
                            aws_sdk_dynamodb::types::Delete::builder()
                                .table_name(&self.table)
                                .key(PK, s(&gone))
                                .key(SK, s("C"))
                                .condition_expression("ver = :v")
                                .expression_attribute_values(":v", n(a.version))
                                .build()
                                .expect("table and key are set"),
                        )
                        .build(),
                ),
            }
            for seg in &a.segments {
                writes.push(delete(
                    &self.table,
                    keys::segment(shop, seg),
                    keys::member_sk(&a.id),
                ));
            }
        }
        for r in &c.runs {
            let mut item: Item = HashMap::from([
                (PK.into(), s(&pk)),
                (
                    SK.into(),
                    s(keys::run_sk(&r.run.journey, &r.run.key, r.run.entry)),
                ),
                (TYPE.into(), s("run")),
                (VERSION.into(), n(r.version + 1)),
                (
                    "status".into(),
                    s(format!("{:?}", r.run.status).to_lowercase()),
                ),
                (DOC.into(), doc(&r.run)?),
            ]);
            if r.run.is_active()
                && let Some(due) = r.run.wait_until
            {
                item.insert(DUE_SHARD.into(), s(keys::shard(&pk)));
                item.insert(DUE_AT.into(), n(due.as_millisecond()));
            }
            let (cond, vals) = versioned(r.version);
            writes.push(put(&self.table, item, cond, vals));
        }
        for seg in &c.segments_entered {
            let mut item: Item = HashMap::from([
                (PK.into(), s(keys::segment(shop, seg))),
                (SK.into(), s(keys::member_sk(&c.contact.id))),
                (TYPE.into(), s("member")),
                ("contact".into(), s(c.contact.id.as_str())),
            ]);
            if let Some(e) = &c.contact.email {
                item.insert("email".into(), s(e.as_str()));
            }
            // Unconditional: the contact's version check guards the commit.
            writes.push(put(&self.table, item, "", None));
        }
        for seg in &c.segments_exited {
            writes.push(delete(
                &self.table,
                keys::segment(shop, seg),
                keys::member_sk(&c.contact.id),
            ));
        }
        for m in &c.outbox {
            writes.push(put(
                &self.table,
                outbox_item(m)?,
                "attribute_not_exists(PK)",
                None,
            ));
        }
        // A merged visitor's browsers in the transaction, as far as its 100
        // actions allow: a deleted visitor leaves nothing its lookups could
        // lead to. The rest, and addresses and contracts, follow the commit
        // (a merged profile's tombstone leads here meanwhile).
        // Its runs' deletions too (active ones first: they are in the due
        // index); those beyond are deleted after the commit.
        let mut later = Vec::new();
        let mut runs_later = Vec::new();
        if let Some(a) = &c.absorbed {
            let gone = keys::contact(shop, &a.id);
            let mut runs: Vec<(String, String)> = a
                .runs
                .iter()
                .map(|(j, k, e)| (gone.clone(), keys::run_sk(j, k, *e)))
                .collect();
            let room = MAX_TRANSACTION_ITEMS.saturating_sub(writes.len());
            runs_later = runs.split_off(room.min(runs.len()));
            for (pk, sk) in runs {
                writes.push(delete(&self.table, pk, sk));
            }
            let mut browsers: Vec<String> = a
                .anonymous_ids
                .iter()
                .map(|x| keys::alias_anonymous(shop, x))
                .collect();
            browsers.sort();
            browsers.dedup();
            let room = MAX_TRANSACTION_ITEMS.saturating_sub(writes.len());
            later = browsers.split_off(room.min(browsers.len()));
            for alias in browsers {
                let item: Item = HashMap::from([
                    (PK.into(), s(alias)),
                    (SK.into(), s("A")),
                    (TYPE.into(), s("alias")),
                    ("contact".into(), s(c.contact.id.as_str())),
                ]);
                writes.push(put(&self.table, item, "", None));
            }
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(e) if is_cancelled_by_condition(&e) => return Err(CommitError::Conflict),
            Err(e) => return Err(sdk_err("commit", e).into()),
        }
        if let Some(a) = &c.absorbed {
            self.repoint(shop, a, later, &c.contact.id).await?;
            // Idempotent; if cut short, what is left sits in the merged
            // profile's partition, which the person's erasure deletes whole.
            self.delete_keys(runs_later).await?;
        }
        Ok(())
    }
}

impl DynamoStore {
    /// Points a merged contact's addresses and contracts at the contact it
    /// went into, each only if it still leads to the merged one (or to
    /// nothing): another contact's lookup is never taken. Idempotent; if it
    /// is cut short, the tombstone still leads there.
    async fn repoint(
        &self,
        shop: &ShopDomain,
        a: &waymark_app::ports::Absorbed,
        browsers: Vec<String>,
        into: &ContactId,
    ) -> Result<(), StoreError> {
        let mut aliases: Vec<String> = a
            .emails
            .iter()
            .map(|e| keys::alias_email(shop, &e.lookup_key()))
            .chain(a.contracts.iter().map(|k| keys::alias_contract(shop, *k)))
            .chain(browsers)
            .collect();
        aliases.sort();
        aliases.dedup();
        for alias in aliases {
            self.put_alias(&alias, into, Some(&a.id)).await?;
        }
        Ok(())
    }
}

/// An unconditional delete in a transaction.
fn delete(table: &str, pk: String, sk: String) -> TransactWriteItem {
    TransactWriteItem::builder()
        .delete(
            aws_sdk_dynamodb::types::Delete::builder()
                .table_name(table)
                .key(PK, s(pk))
                .key(SK, s(sk))
                .build()
                .expect("table and key are set"),
        )
        .build()
}

fn outbox_item(m: &OutboxMessage) -> Result<Item, StoreError> {
    Ok(HashMap::from([
        (PK.into(), s(keys::outbox(&m.shop, &m.id))),
        (SK.into(), s("O")),
        (TYPE.into(), s("outbox")),
        ("st".into(), s("queued")),
        ("attempts".into(), n(0)),
        ("slot_ms".into(), n(m.queued_at.as_millisecond())),
        ("journey".into(), s(&m.journey)),
        (DOC.into(), doc(m)?),
    ]))
}

impl DueIndex for DynamoStore {
    async fn due(&self, now: Timestamp) -> Result<Vec<Due>, StoreError> {
        let mut due = Vec::new();
        for shard in 0..keys::DUE_SHARDS {
            let items = self
                .query_all(
                    || {
                        self.client
                            .query()
                            .table_name(&self.table)
                            .index_name(DUE_INDEX)
                            .key_condition_expression("due_shard = :s AND due_at <= :now")
                            .expression_attribute_values(":s", s(format!("D#{shard}")))
                            .expression_attribute_values(":now", n(now.as_millisecond()))
                    },
                    "query due index",
                )
                .await?;
            for item in items {
                let pk = item
                    .get(PK)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                if let Some((shop, id)) = keys::parse_contact(&pk) {
                    due.push(Due::Contact { shop, id });
                } else if pk.contains("#O#") {
                    due.push(Due::Message { id: pk });
                }
            }
        }
        // A contact can be due twice (a wait and a review): once is enough.
        due.sort();
        due.dedup();
        Ok(due)
    }
}

impl IdleIndex for DynamoStore {
    async fn idle_between(&self, from: i32, to: i32) -> Result<IdleBatch, StoreError> {
        let mut batch = IdleBatch::default();
        for shard in 0..keys::DUE_SHARDS {
            let items = self
                .query_all(
                    || {
                        self.client
                            .query()
                            .table_name(&self.table)
                            .index_name(IDLE_INDEX)
                            .key_condition_expression(
                                "idle_shard = :s AND idle_key BETWEEN :from AND :to",
                            )
                            .expression_attribute_values(":s", s(format!("I#{shard}")))
                            .expression_attribute_values(":from", s(keys::idle_day(from)))
                            .expression_attribute_values(
                                ":to",
                                s(format!("{}~", keys::idle_day(to))),
                            )
                    },
                    "query idle index",
                )
                .await?;
            batch.items_read += items.len() as u64;
            batch.contacts.extend(items.iter().filter_map(|item| {
                item.get(PK)
                    .and_then(|v| v.as_s().ok())
                    .and_then(|pk| keys::parse_contact(pk))
            }));
        }
        Ok(batch)
    }

    async fn sweep_cursor(&self) -> Result<Option<i32>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(keys::SWEEP_CURSOR))
            .key(SK, s("SWEEP"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("read sweep cursor", e))?;
        Ok(out
            .item
            .and_then(|i| i.get("day").and_then(|v| v.as_n().ok()).cloned())
            .and_then(|d| d.parse().ok()))
    }

    async fn set_sweep_cursor(&self, day: i32) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(keys::SWEEP_CURSOR))
            .item(SK, s("SWEEP"))
            .item(TYPE, s("cursor"))
            .item("day", n(day))
            .send()
            .await
            .map_err(|e| sdk_err("write sweep cursor", e))?;
        Ok(())
    }
}

impl DynamoStore {
    /// Deletes items by key, 25 to a batch, retrying what DynamoDB hands back.
    async fn delete_keys(&self, keys: Vec<(String, String)>) -> Result<u64, StoreError> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        let total = keys.len() as u64;
        for chunk in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|(pk, sk)| {
                    WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .key(PK, s(pk))
                                .key(SK, s(sk))
                                .build()
                                .expect("key is set"),
                        )
                        .build()
                })
                .collect();
            for attempt in 0..8u32 {
                if requests.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| sdk_err("erase items", e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
            }
            if !requests.is_empty() {
                return Err(StoreError(
                    "erase items: DynamoDB kept refusing a batch".into(),
                ));
            }
        }
        Ok(total)
    }

    async fn record_erasure(
        &self,
        shop: &ShopDomain,
        id: &str,
        reason: &str,
        request: Option<&str>,
        items: u64,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(keys::erasure(shop, id)))
            .item(SK, s("ERASED"))
            .item(TYPE, s("erasure"))
            .item("reason", s(reason))
            .item("items", n(items))
            .item("at", s(at.to_string()));
        if let Some(r) = request {
            put = put.item("request", s(r));
        }
        put.send().await.map_err(|e| sdk_err("record erasure", e))?;
        Ok(())
    }
}

impl Privacy for DynamoStore {
    async fn erase(&self, e: &Erasure) -> Result<u64, StoreError> {
        let shop = &e.shop;
        let mut doomed: Vec<(String, String)> = Vec::new();
        if let Some(id) = &e.contact {
            let pk = keys::contact(shop, id);
            for item in self.partition(pk.clone(), "load contact to erase").await? {
                if let Some(sk) = item.get(SK).and_then(|v| v.as_s().ok()) {
                    doomed.push((pk.clone(), sk.clone()));
                }
            }
            for seg in &e.segments {
                doomed.push((keys::segment(shop, seg), keys::member_sk(id)));
            }
        }
        // What is left of contacts merged into it: the tombstone, and any
        // run a cut-short merge left behind.
        for m in &e.merged {
            let pk = keys::contact(shop, m);
            for item in self
                .partition(pk.clone(), "load merged contact to erase")
                .await?
            {
                if let Some(sk) = item.get(SK).and_then(|v| v.as_s().ok()) {
                    doomed.push((pk.clone(), sk.clone()));
                }
            }
        }
        let a = |pk: String| (pk, "A".to_string());
        doomed.extend(e.customer_id.map(|c| a(keys::alias_customer(shop, c))));
        doomed.extend(
            e.emails
                .iter()
                .map(|m| a(keys::alias_email(shop, &m.lookup_key()))),
        );
        doomed.extend(e.orders.iter().map(|o| a(keys::alias_order(shop, *o))));
        doomed.extend(
            e.contracts
                .iter()
                .map(|k| a(keys::alias_contract(shop, *k))),
        );
        doomed.extend(
            e.anonymous_ids
                .iter()
                .map(|x| a(keys::alias_anonymous(shop, x))),
        );
        doomed.extend(
            e.messages
                .iter()
                .map(|m| (keys::outbox(shop, m), "O".to_string())),
        );
        doomed.extend(
            e.events
                .iter()
                .map(|ev| (keys::event(shop, ev), "E".to_string())),
        );
        doomed.sort();
        doomed.dedup();
        let items = self.delete_keys(doomed).await?;
        // The record names no one: a hash of the request and the time.
        let record = {
            use sha2::Digest;
            let seed = format!(
                "{}\0{}\0{}",
                e.contact.as_ref().map(|c| c.as_str()).unwrap_or(""),
                e.request.as_deref().unwrap_or(""),
                e.at.as_millisecond()
            );
            sha2::Sha256::digest(seed.as_bytes())[..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        self.record_erasure(shop, &record, &e.reason, e.request.as_deref(), items, e.at)
            .await?;
        Ok(items)
    }

    async fn erase_shop(&self, shop: &ShopDomain, at: Timestamp) -> Result<u64, StoreError> {
        // A rare, whole-shop operation: a paginated scan, deleting page by
        // page. Past its time budget it stops with an error, so the stream
        // delivers the request again and the next attempt carries on from
        // what is left (deleting is idempotent).
        let started = std::time::Instant::now();
        let prefix = format!("S#{shop}#");
        let keep = keys::erasure(shop, "");
        let mut items = 0;
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(PK, :p)")
                .expression_attribute_values(":p", s(&prefix))
                .projection_expression("PK, SK")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_err("scan shop", e))?;
            let mut doomed = Vec::new();
            for item in out.items.unwrap_or_default() {
                let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
                if let (Some(pk), Some(sk)) = (text(PK), text(SK))
                    && !pk.starts_with(&keep)
                {
                    doomed.push((pk, sk));
                }
            }
            items += self.delete_keys(doomed).await?;
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
            if started.elapsed() > SHOP_ERASURE_BUDGET {
                tracing::warn!(%shop, items, "shop erasure continues on the next delivery");
                return Err(StoreError(format!(
                    "shop erasure in progress: {items} items deleted so far; continues on retry"
                )));
            }
        }
        self.record_erasure(shop, "shop", "shop/redact", None, items, at)
            .await?;
        Ok(items)
    }
}

impl Outbox for DynamoStore {
    fn key(&self, message: &OutboxMessage) -> String {
        keys::outbox(&message.shop, &message.id)
    }

    async fn claim(&self, id: &str) -> Result<Option<Claimed>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(id))
            .key(SK, s("O"))
            .condition_expression("st = :queued")
            .update_expression(
                "SET st = :sending, attempts = attempts + :one, due_shard = :shard, due_at = slot_ms + :lease",
            )
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":shard", s(keys::shard(id)))
            .expression_attribute_values(":lease", n(CLAIM_LEASE.as_millis()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                Ok(Some(Claimed {
                    message: read_doc(&item)?,
                    attempt: read_n(&item, "attempts") as u32,
                }))
            }
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(sdk_err("claim message", e)),
        }
    }

    async fn mark_sent(&self, id: &str, provider_id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(id))
            .key(SK, s("O"))
            .update_expression(
                "SET st = :sent, provider_id = :pid REMOVE due_shard, due_at, last_error",
            )
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":pid", s(provider_id))
            .send()
            .await
            .map_err(|e| sdk_err("mark sent", e))?;
        Ok(())
    }

    async fn retry_at(&self, c: &Claimed, at: Timestamp, error: &str) -> Result<(), StoreError> {
        let shard = keys::shard(&self.key(&c.message));
        self.settle(
            c,
            "SET st = :st, slot_ms = :at, due_shard = :shard, due_at = :at, last_error = :why",
            [
                (":st", s("retry")),
                (":at", n(at.as_millisecond())),
                (":shard", s(shard)),
                (":why", s(error)),
            ],
            "schedule retry",
        )
        .await
    }

    async fn park(&self, c: &Claimed, error: &str) -> Result<(), StoreError> {
        self.settle(
            c,
            "SET st = :st, last_error = :why REMOVE due_shard, due_at",
            [(":st", s("parked")), (":why", s(error))],
            "park message",
        )
        .await
    }

    async fn skip(&self, c: &Claimed, reason: &str) -> Result<(), StoreError> {
        self.settle(
            c,
            "SET st = :st, skip_reason = :why REMOVE due_shard, due_at",
            [(":st", s("skipped")), (":why", s(reason))],
            "skip message",
        )
        .await
    }

    async fn requeue(&self, id: &str, now: Timestamp) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(id))
            .key(SK, s("O"))
            .condition_expression("(st = :retry OR st = :sending) AND due_at <= :now")
            .update_expression("SET st = :queued REMOVE due_shard, due_at")
            .expression_attribute_values(":retry", s("retry"))
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":now", n(now.as_millisecond()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(sdk_err("requeue message", e)),
        }
    }
}

impl Segments for DynamoStore {
    async fn count(&self, shop: &ShopDomain, segment: &str) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", s(keys::segment(shop, segment)))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_err("count segment", e))?;
            total += out.count as u64;
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(total);
            }
        }
    }

    async fn members(&self, shop: &ShopDomain, segment: &str) -> Result<Vec<Member>, StoreError> {
        let items = self
            .partition(keys::segment(shop, segment), "list segment")
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
                Some(Member {
                    contact: ContactId::parse(&text("contact")?).ok()?,
                    email: text("email").and_then(|e| EmailAddress::parse(&e).ok()),
                })
            })
            .collect())
    }
}

impl DynamoStore {
    /// An update of one address's suppression item (table and key set).
    fn suppression_update(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(keys::suppression(shop, &email.lookup_key())))
            .key(SK, s("SUP"))
    }
}

impl Suppressions for DynamoStore {
    async fn suppression(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
    ) -> Result<Option<SuppressionReason>, StoreError> {
        Ok(self.suppression_state(shop, email).await?.reason)
    }

    async fn suppression_state(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
    ) -> Result<SuppressionState, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(keys::suppression(shop, &email.lookup_key())))
            .key(SK, s("SUP"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("read suppression", e))?;
        let Some(item) = out.item else {
            return Ok(SuppressionState::default());
        };
        Ok(SuppressionState {
            reason: item
                .get("reason")
                .and_then(|v| v.as_s().ok())
                .and_then(|r| SuppressionReason::parse(r)),
            topics: item
                .get("topics")
                .and_then(|v| v.as_ss().ok())
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default(),
        })
    }

    async fn suppress(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
        reason: SuppressionReason,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let result = self
            .suppression_update(shop, email)
            .update_expression("SET #t = :type, reason = :r, #at = :at")
            // Never downgrade: a bounce or complaint outranks an unsubscribe.
            .condition_expression("attribute_not_exists(reason) OR reason = :unsub")
            .expression_attribute_names("#t", TYPE)
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":type", s("suppression"))
            .expression_attribute_values(":r", s(reason.as_str()))
            .expression_attribute_values(":at", s(at.to_string()))
            .expression_attribute_values(":unsub", s(SuppressionReason::Unsubscribed.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(sdk_err("write suppression", e)),
        }
    }

    async fn suppress_topics(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
        topics: &[String],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        if topics.is_empty() {
            return Ok(());
        }
        self.suppression_update(shop, email)
            .update_expression("SET #t = :type, #at = :at ADD topics :topics")
            .expression_attribute_names("#t", TYPE)
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":type", s("suppression"))
            .expression_attribute_values(":at", s(at.to_string()))
            .expression_attribute_values(":topics", AttributeValue::Ss(topics.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_err("write topic suppression", e))?;
        Ok(())
    }

    async fn lift_unsubscribe(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let result = self
            .suppression_update(shop, email)
            .update_expression("SET #at = :at REMOVE reason, topics")
            // Only an unsubscribe is lifted; a bounce or complaint stays.
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(reason) OR reason = :unsub)",
            )
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":at", s(at.to_string()))
            .expression_attribute_values(":unsub", s(SuppressionReason::Unsubscribed.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(sdk_err("lift suppression", e)),
        }
    }
}

/// Outbox messages in a given state, for operators and tests.
pub async fn outbox_by_status(
    store: &DynamoStore,
    status: &str,
) -> Result<Vec<(OutboxMessage, Option<String>)>, StoreError> {
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client
            .scan()
            .table_name(&store.table)
            .filter_expression("t = :t AND st = :st")
            .expression_attribute_values(":t", s("outbox"))
            .expression_attribute_values(":st", s(status))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_err("scan outbox", e))?;
        for item in out.items.unwrap_or_default() {
            let error = item.get("last_error").and_then(|v| v.as_s().ok()).cloned();
            found.push((read_doc(&item)?, error));
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    Ok(found)
}
