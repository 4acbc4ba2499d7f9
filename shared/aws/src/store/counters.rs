//! The results counters: one item per (day, shard, journey, version, step),
//! numbers added with `ADD` (so concurrent writers never conflict), kept for
//! `COUNTER_RETENTION`.

use super::*;
use aws_sdk_dynamodb::types::Update;
use std::collections::BTreeMap;
use waymark_app::ports::Counters;
use waymark_core::analytics::{Counts, Key};

/// How long counters are kept: a year of reports, and the same days last
/// year to compare with.
const COUNTER_RETENTION: SignedDuration = SignedDuration::from_hours(24 * 400);

/// The `ADD` updates that apply `counts` (written by `seed`'s shard).
pub(super) fn counter_updates(
    table: &str,
    shop: &ShopDomain,
    seed: &str,
    counts: &Counts,
) -> Vec<TransactWriteItem> {
    let shard = keys::counter_shard(seed);
    counts
        .0
        .iter()
        .filter(|(_, fields)| fields.values().any(|n| *n != 0))
        .map(|(key, fields)| {
            let mut names = HashMap::new();
            let mut values = HashMap::new();
            let mut adds = Vec::new();
            for (i, (name, n)) in fields.iter().filter(|(_, n)| **n != 0).enumerate() {
                names.insert(format!("#f{i}"), name.clone());
                values.insert(format!(":v{i}"), super::n(n));
                adds.push(format!("#f{i} :v{i}"));
            }
            let expires = key
                .day
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map(|z| z.timestamp())
                .unwrap_or(Timestamp::UNIX_EPOCH)
                .checked_add(COUNTER_RETENTION)
                .unwrap_or(Timestamp::MAX);
            names.insert("#t".into(), TYPE.into());
            names.insert("#ttl".into(), TTL.into());
            values.insert(":t".into(), s("counter"));
            values.insert(":ttl".into(), super::n(expires.as_second()));
            let update = Update::builder()
                .table_name(table)
                .key(PK, s(keys::counter(shop, key.day, shard)))
                .key(
                    SK,
                    s(keys::counter_sk(&key.journey, key.version, &key.step)),
                )
                .update_expression(format!("SET #t = :t, #ttl = :ttl ADD {}", adds.join(", ")))
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .build()
                .expect("table, key and expression are set");
            TransactWriteItem::builder().update(update).build()
        })
        .collect()
}

fn parse_sk(day: jiff::civil::Date, sk: &str) -> Option<Key> {
    let mut parts = sk.splitn(3, '#');
    let journey = parts.next()?;
    let version = parts.next()?.parse().ok()?;
    let step = parts.next()?;
    Some(Key::new(day, journey, version, step))
}

impl DynamoStore {
    /// Adds `counts` once for `once`: beside a marker that expires at
    /// `ttl`, in one transaction. `false` if the marker was there already.
    pub(super) async fn count_marked(
        &self,
        shop: &ShopDomain,
        once: &str,
        ttl: AttributeValue,
        counts: &Counts,
    ) -> Result<bool, StoreError> {
        let marker: Item = HashMap::from([
            (PK.into(), s(keys::receipt(shop, &format!("count#{once}")))),
            (SK.into(), s(keys::sk::RECEIPT)),
            (TYPE.into(), s("counted")),
            (TTL.into(), ttl),
        ]);
        let mut writes = vec![put(&self.table, marker, "attribute_not_exists(PK)", None)];
        writes.extend(counter_updates(&self.table, shop, once, counts));
        // The marker there already: counted before. A busy counter item is
        // not that: tried again.
        let spread = u64::from(keys::counter_shard(once));
        let done = txn::transact(&self.client, writes, "count", spread).await?;
        Ok(done == txn::Transacted::Applied)
    }
}

/// How long a fact's "counted" mark is kept: an email opened or clicked
/// again weeks later is still one unique open (the marks are small; a
/// month's 30,000 emails leave about 15 MB).
const ONCE_KEPT: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 90);

impl Counters for DynamoStore {
    async fn count_once(
        &self,
        shop: &ShopDomain,
        once: &str,
        at: Timestamp,
        counts: &Counts,
    ) -> Result<bool, StoreError> {
        let kept = at.checked_add(ONCE_KEPT).unwrap_or(at);
        self.count_marked(shop, once, n(kept.as_second()), counts)
            .await
    }

    async fn read_counts(
        &self,
        shop: &ShopDomain,
        from: jiff::civil::Date,
        to: jiff::civil::Date,
    ) -> Result<Counts, StoreError> {
        let mut counts = Counts::default();
        let mut day = from;
        while day <= to {
            for shard in 0..keys::COUNTER_SHARDS {
                let mut pages = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("PK = :pk")
                    .expression_attribute_values(":pk", s(keys::counter(shop, day, shard)))
                    .into_paginator()
                    .items()
                    .send();
                while let Some(item) = pages.next().await {
                    let item = item.map_err(|e| sdk_err("read counters", e))?;
                    let Some(key) = item
                        .get(SK)
                        .and_then(|v| v.as_s().ok())
                        .and_then(|sk| parse_sk(day, sk))
                    else {
                        continue;
                    };
                    let fields: BTreeMap<String, i64> = item
                        .iter()
                        .filter(|(k, _)| ![PK, SK, TYPE, TTL].contains(&k.as_str()))
                        .filter_map(|(k, v)| Some((k.clone(), v.as_n().ok()?.parse().ok()?)))
                        .collect();
                    for (f, n) in fields {
                        counts.add(&key, &f, n);
                    }
                }
            }
            let Some(next) = day.tomorrow().ok() else {
                break;
            };
            day = next;
        }
        Ok(counts)
    }
}
