//! Privacy requests: a person's export and erasure, a shop's erasure, and
//! the erasure records kept as proof.

use super::*;

impl DynamoStore {
    /// Deletes items by key, 25 to a batch, retrying what DynamoDB hands back.
    pub(super) async fn delete_keys(&self, keys: Vec<(String, String)>) -> Result<u64, StoreError> {
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
                return Err(StoreError::new(
                    StoreErrorKind::Unfinished,
                    "erase items",
                    "DynamoDB kept refusing part of a batch",
                ));
            }
        }
        Ok(total)
    }

    /// An erasure-side item (a work list, a scan cursor), read consistently.
    async fn erasure_item(&self, pk: &str, what: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(keys::sk::ERASURE))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err(what, e))?;
        Ok(out.item)
    }

    /// The keys a cut-short erasure of this contact had listed (its work
    /// list, in pages), and the pages' own sort keys.
    async fn pending_keys(
        &self,
        pk: &str,
    ) -> Result<(Vec<(String, String)>, Vec<String>), StoreError> {
        let pages = self
            .partition(pk.to_string(), "read pending erasure")
            .await?;
        let mut listed = Vec::new();
        let mut page_keys = Vec::new();
        for page in &pages {
            if let Some(sk) = page.get(SK).and_then(|v| v.as_s().ok()) {
                page_keys.push(sk.clone());
            }
            let keys = page.get("keys").and_then(|v| v.as_l().ok());
            listed.extend(
                keys.into_iter()
                    .flatten()
                    .filter_map(|v| v.as_s().ok())
                    .filter_map(|k| k.split_once('\u{1f}'))
                    .map(|(p, s)| (p.to_string(), s.to_string())),
            );
        }
        Ok((listed, page_keys))
    }

    /// Writes an erasure's work list, in pages of `PENDING_PAGE` keys (an
    /// item holds 400 KB at most; a contact of many years can list
    /// thousands), each kept 30 days at most: an erasure that never
    /// finishes raises the alarm on its failed deliveries. Returns the
    /// pages' sort keys.
    async fn write_pending(
        &self,
        pk: &str,
        listed: &[&(String, String)],
        at: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let mut page_keys = Vec::new();
        for (i, page) in listed.chunks(PENDING_PAGE).enumerate() {
            let keys = page
                .iter()
                .map(|(p, s)| AttributeValue::S(format!("{p}\u{1f}{s}")))
                .collect();
            let sk = format!("{}#{i}", keys::sk::ERASURE);
            self.client
                .put_item()
                .table_name(&self.table)
                .item(PK, s(pk))
                .item(SK, s(&sk))
                .item(TYPE, s("erasing"))
                .item("keys", AttributeValue::L(keys))
                .item(TTL, ttl(at))
                .send()
                .await
                .map_err(|e| sdk_err("write pending erasure", e))?;
            page_keys.push(sk);
        }
        Ok(page_keys)
    }

    pub(super) async fn record_erasure(
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
            .item(SK, s(keys::sk::ERASURE))
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
    /// The keys of every item in one partition.
    async fn partition_keys(
        &self,
        pk: String,
        what: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for item in self.partition(pk.clone(), what).await? {
            if let Some(sk) = item.get(SK).and_then(|v| v.as_s().ok()) {
                out.push((pk.clone(), sk.clone()));
            }
        }
        Ok(out)
    }

    /// The contact's own partition and segment memberships, and what is
    /// left of contacts merged into it: the tombstone, and any run a
    /// cut-short merge left behind.
    async fn partitions_to_erase(&self, e: &Erasure) -> Result<Vec<(String, String)>, StoreError> {
        let shop = &e.shop;
        let mut doomed: Vec<(String, String)> = Vec::new();
        if let Some(id) = &e.contact {
            let pk = keys::contact(shop, id);
            doomed.extend(self.partition_keys(pk, "load contact to erase").await?);
            for seg in &e.segments {
                doomed.push((keys::segment(shop, seg), keys::member_sk(id)));
            }
        }
        for m in &e.merged {
            let pk = keys::contact(shop, m);
            doomed.extend(
                self.partition_keys(pk, "load merged contact to erase")
                    .await?,
            );
        }
        Ok(doomed)
    }
}

/// The person's lookups (customer id, addresses, orders, contracts,
/// browsers), outbox messages and events.
fn lookups_and_messages(e: &Erasure) -> Vec<(String, String)> {
    let shop = &e.shop;
    let mut doomed = Vec::new();
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
    doomed
}

/// The erasure record's id names no one: a hash of the request and the time.
fn record_id(e: &Erasure) -> String {
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
}

impl Privacy for DynamoStore {
    async fn erase(&self, e: &Erasure) -> Result<u64, StoreError> {
        let shop = &e.shop;
        let mut doomed = self.partitions_to_erase(e).await?;
        doomed.extend(lookups_and_messages(e));
        // Resumable: the keys beyond the contact's own partition (which a
        // redelivery re-reads) are written down before anything is deleted,
        // and a redelivery finishes what a cut-short attempt left.
        let pending = e.contact.as_ref().map(|c| keys::pending_erasure(shop, c));
        let mut pages = Vec::new();
        if let Some(pk) = &pending {
            let (listed, old_pages) = self.pending_keys(pk).await?;
            doomed.extend(listed);
            pages.extend(old_pages);
        }
        doomed.sort();
        doomed.dedup();
        if let Some(pk) = &pending {
            let own = e.contact.as_ref().map(|c| keys::contact(shop, c));
            let listed: Vec<&(String, String)> = doomed
                .iter()
                .filter(|(p, _)| Some(p) != own.as_ref())
                .collect();
            pages.extend(self.write_pending(pk, &listed, e.at).await?);
        }
        // Lookups go last: while any item is left, the person can still be
        // found by the next delivery.
        doomed.sort_by_key(|(_, sk)| sk == keys::sk::ALIAS);
        let items = self.delete_keys(doomed).await?;
        if e.proof {
            self.record_erasure(
                shop,
                &record_id(e),
                &e.reason,
                e.request.as_deref(),
                items,
                e.at,
            )
            .await?;
        }
        if let Some(pk) = pending {
            pages.sort();
            pages.dedup();
            self.delete_keys(pages.into_iter().map(|sk| (pk.clone(), sk)).collect())
                .await?;
        }
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
        // Where the last attempt stopped: the scan resumes there instead of
        // reading the whole table again (which a large table never finishes).
        let cursor_pk = keys::erasure(shop, "scan-cursor");
        let (mut items, mut start) = self.shop_erasure_cursor(&cursor_pk).await?;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(PK, :p)")
                .expression_attribute_values(":p", s(&prefix))
                .projection_expression("PK, SK")
                .set_limit(self.shop_erasure.1)
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
            if started.elapsed() >= self.shop_erasure.0 {
                self.save_shop_erasure_cursor(&cursor_pk, start.as_ref(), items, at)
                    .await?;
                tracing::warn!(%shop, items, "shop erasure continues on the next delivery");
                return Err(StoreError::new(
                    StoreErrorKind::Unfinished,
                    "shop erasure",
                    format!("in progress: {items} items deleted so far; continues on retry"),
                ));
            }
        }
        self.record_erasure(shop, "shop", "shop/redact", None, items, at)
            .await?;
        self.delete_keys(vec![(cursor_pk, keys::sk::ERASURE.to_string())])
            .await?;
        Ok(items)
    }
}

type ScanKey = HashMap<String, AttributeValue>;

/// Keys one page of an erasure's work list holds (about 100 bytes each:
/// well inside an item's 400 KB).
const PENDING_PAGE: usize = 2_000;

impl DynamoStore {
    /// A shop erasure's saved scan position and count, if one was cut short.
    async fn shop_erasure_cursor(&self, pk: &str) -> Result<(u64, Option<ScanKey>), StoreError> {
        let Some(item) = self.erasure_item(pk, "read shop erasure cursor").await? else {
            return Ok((0, None));
        };
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let start = match (text("at_pk"), text("at_sk")) {
            (Some(p), Some(k)) => Some(HashMap::from([
                (PK.to_string(), s(p)),
                (SK.to_string(), s(k)),
            ])),
            _ => None,
        };
        Ok((read_n(&item, "items"), start))
    }

    async fn save_shop_erasure_cursor(
        &self,
        pk: &str,
        start: Option<&ScanKey>,
        items: u64,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let key = |k: &str| {
            start
                .and_then(|m| m.get(k))
                .and_then(|v| v.as_s().ok())
                .cloned()
        };
        let (Some(at_pk), Some(at_sk)) = (key(PK), key(SK)) else {
            return Ok(());
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(pk))
            .item(SK, s(keys::sk::ERASURE))
            .item(TYPE, s("erasing"))
            .item("at_pk", s(at_pk))
            .item("at_sk", s(at_sk))
            .item("items", n(items))
            // A shop erasure that never finishes leaves no cursor for ever.
            .item(TTL, ttl(at))
            .send()
            .await
            .map_err(|e| sdk_err("save shop erasure cursor", e))?;
        Ok(())
    }
}
