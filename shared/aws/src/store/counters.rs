//! The results counters: one item per (day, shard, journey, version, step),
//! numbers added with `ADD` (so concurrent writers never conflict), kept for
//! `COUNTER_RETENTION`.

use super::*;
use std::collections::BTreeMap;
use waymark_app::ports::Counters;
use waymark_core::analytics::{Counts, Key};

/// How long counters are kept: a year of reports, and the same days last
/// year to compare with.
const COUNTER_RETENTION: SignedDuration = SignedDuration::from_hours(24 * 400);

/// When a counter item of `day` expires.
pub(super) fn expires(day: Option<jiff::civil::Date>) -> Timestamp {
    day.and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .checked_add(COUNTER_RETENTION)
        .unwrap_or(Timestamp::MAX)
}

fn parse_sk(day: jiff::civil::Date, sk: &str) -> Option<Key> {
    let mut parts = sk.splitn(3, '#');
    let journey = parts.next()?;
    let version = parts.next()?.parse().ok()?;
    let step = parts.next()?;
    Some(Key::new(day, journey, version, step))
}

impl DynamoStore {
    /// Counts `counts` once for `once`: a marker that expires at `ttl`,
    /// put only if it is not there, carrying the counts (the stream hands
    /// them to the counters once, `tally.rs`). `false` if the marker was
    /// there already.
    pub(super) async fn count_marked(
        &self,
        shop: &ShopDomain,
        once: &str,
        ttl: AttributeValue,
        counts: &Counts,
    ) -> Result<bool, StoreError> {
        let mut marker: Item = HashMap::from([
            (PK.into(), s(keys::receipt(shop, &format!("count#{once}")))),
            (SK.into(), s(keys::sk::RECEIPT)),
            (TYPE.into(), s("counted")),
            (TTL.into(), ttl),
        ]);
        if let Some(carried) = super::tally::counts_attribute(shop, once, counts)? {
            marker.insert(super::tally::COUNTS.into(), carried);
        }
        self.put_new(marker, "count").await
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
                        .filter(|(k, _)| !k.starts_with(super::tally::MARK_PREFIX))
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
