//! The DynamoDB adapter for every storage port, over one table. Writes that
//! must agree are one transaction; every write that can be replayed is
//! conditional, so replays and races become no-ops or conflicts, never damage.

use crate::keys::{
    self, DOC, DUE_AT, DUE_INDEX, DUE_SHARD, IDLE_INDEX, IDLE_KEY, IDLE_SHARD, PK, SK, TTL, TYPE,
    VERSION,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use errors::{applied, is_condition_failure, sdk_err, store_err, transaction_conflict};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use waymark_app::ports::{
    Claimed, Commit, CommitError, ContactState, ContactStore, Due, DueIndex, Erasure, IdleBatch,
    IdleIndex, Inbox, Member, Outbox, Privacy, Receipt, Recorded, Rejected, Resolution, Segments,
    StoreError, StoreErrorKind, SuppressionReason, SuppressionState, Suppressions, VersionedRun,
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
/// Actions DynamoDB takes in one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;

type Item = HashMap<String, AttributeValue>;

mod allowances;
mod campaigns;
mod contacts;
mod counters;
mod due;
mod errors;
mod idle;
mod inbox;
mod outbox;
mod privacy;
mod profile;
mod segments;
mod suppressions;
mod tally;
mod txn;

pub(crate) use errors::sdk_err as sdk_error;
pub use outbox::outbox_by_status;
pub use tally::{Added, MARK_PREFIX, PendingCounts, StreamCounts, stream_counts};

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// How long one delivery of `shop/redact` may erase, and the scan's page
    /// size (a test makes both small to cut the erasure into pieces).
    shop_erasure: (std::time::Duration, Option<i32>),
    /// What each contact's last load read (see `profile`).
    loaded: std::sync::Arc<profile::Loaded>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            shop_erasure: (SHOP_ERASURE_BUDGET, None),
            loaded: Default::default(),
        }
    }

    /// Puts `item` where none is (`attribute_not_exists`): `false` when
    /// one was there already, and nothing was written.
    async fn put_new(&self, item: Item, what: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        applied(result, what)
    }

    /// The same store with another shop-erasure budget and scan page size.
    pub fn with_shop_erasure_budget(mut self, budget: std::time::Duration, page: i32) -> Self {
        self.shop_erasure = (budget, Some(page));
        self
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

fn doc<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    crate::doc::encode(value).map_err(store_err("serialise"))
}

fn read_doc<T: for<'de> Deserialize<'de>>(item: &Item) -> Result<T, StoreError> {
    let raw = item
        .get(DOC)
        .ok_or_else(|| StoreError::new(StoreErrorKind::Corrupt, "read item", "item has no doc"))?;
    crate::doc::decode(raw).map_err(store_err("deserialise"))
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
