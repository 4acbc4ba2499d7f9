//! Counting off the stream. A fact's counts ride on the write that makes
//! it true, as a `counts` attribute (JSON text; the contact item of a
//! commit, an email's "sent" mark, a fact's "counted" receipt); the
//! `process` function reads them from the table's stream and adds each
//! batch's to the counter items, one plain `UpdateItem` per counter item
//! however many facts it takes in, none inside a transaction.
//!
//! Once per record: the mapping's tumbling window names the shard, and
//! each counter item keeps, per stream shard, the newest sequence number it
//! has counted (`hw_<shard created>_<hash>`); a record at or below it was
//! counted already. An update that takes in records asks that the mark
//! still be below the first of them (else it reads the mark and takes only
//! the newer ones), and moves the mark to the last, in the same write. The
//! stream hands a shard's records over in order the first time; a batch
//! handed over again may come out of order (AWS says so for tumbling
//! windows), and a record not yet counted that comes after a later one was
//! would then be left out: a count can be missed that way, never doubled.
//! Marks of shards whose records have all expired are dropped.

use super::*;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use std::collections::BTreeMap;
use waymark_core::analytics::{Counts, Key};

/// The attribute a counted write carries its counts in (JSON text).
pub const COUNTS: &str = "counts";
/// Counter attributes that are marks, not measures.
pub const MARK_PREFIX: &str = "hw_";
/// How long after its shard was created a mark is kept: the stream keeps a
/// record 24 hours, and a shard takes new records for about four.
const MARK_KEPT: SignedDuration = SignedDuration::from_hours(30);

/// What a counted write carries: the counts, and where they go (the shop;
/// `seed`, the writer, chose the counter partition in earlier releases and
/// is still written so that they read what this one writes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Carried {
    shop: ShopDomain,
    seed: String,
    rows: Vec<(Key, BTreeMap<String, i64>)>,
}

/// The `counts` attribute for `counts` (none when there is nothing to
/// count).
pub(super) fn counts_attribute(
    shop: &ShopDomain,
    seed: &str,
    counts: &Counts,
) -> Result<Option<AttributeValue>, StoreError> {
    let rows: Vec<(Key, BTreeMap<String, i64>)> = counts
        .0
        .iter()
        .map(|(k, f)| {
            let f: BTreeMap<String, i64> = f
                .iter()
                .filter(|(_, n)| **n != 0)
                .map(|(name, n)| (name.clone(), *n))
                .collect();
            (k.clone(), f)
        })
        .filter(|(_, f)| !f.is_empty())
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    // Plain JSON, always a string: the stream filter asks for
    // `counts.S` (a filter tests leaves, not "any type").
    let carried = Carried {
        shop: shop.clone(),
        seed: seed.to_string(),
        rows,
    };
    serde_json::to_string(&carried)
        .map(|json| Some(AttributeValue::S(json)))
        .map_err(store_err("serialise counts"))
}

/// One stream record's counts, and its place in its shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamCounts {
    /// The record's sequence number, zero-padded to 40 digits (text order
    /// is number order).
    pub seq: String,
    shop: ShopDomain,
    seed: String,
    rows: Vec<(Key, BTreeMap<String, i64>)>,
}

impl StreamCounts {
    /// Facts it counts (the measures added, revenue amounts left out).
    pub fn facts(&self) -> i64 {
        self.rows
            .iter()
            .flat_map(|(_, f)| f.iter())
            // `exited:<reason>` repeats `exited`; `revenue:<currency>` is an
            // amount.
            .filter(|(name, _)| !name.contains(':'))
            .map(|(_, n)| n.abs())
            .sum()
    }
}

/// The counts a stream record carries: `Ok(None)` for a record that counts
/// nothing (no `counts`, a removal, or an email's item in any state but
/// sent); an error for counts this build cannot read.
pub fn stream_counts(record: &crate::stream::StreamRecord) -> Result<Option<StreamCounts>, String> {
    if !matches!(record.event_name.as_str(), "INSERT" | "MODIFY") {
        return Ok(None);
    }
    let Some(raw) = record.dynamodb.new_image.get(COUNTS) else {
        return Ok(None);
    };
    // An email counts its send with the mark, once: no later write touches
    // a sent message, and any earlier state carries no counts.
    if record.string(TYPE) == Some("outbox") && record.string("st") != Some("sent") {
        return Ok(None);
    }
    let carried: Carried = crate::stream::image_doc(raw)
        .map_err(|e| format!("record {}: counts: {e}", record.dynamodb.sequence_number))?;
    Ok(Some(StreamCounts {
        seq: padded(&record.dynamodb.sequence_number),
        shop: carried.shop,
        seed: carried.seed,
        rows: carried.rows,
    }))
}

fn padded(seq: &str) -> String {
    format!("{seq:0>40}")
}

/// The counts a tumbling window has taken in and not yet added: carried
/// from one batch to the next in the window's `state`, and added when the
/// window closes, when they grow past [`PendingCounts::FULL`], or when a
/// batch fails. Each record keeps its sequence number, so adding them is
/// [`DynamoStore::add_stream_counts`] as for a single batch: a record
/// added twice (a batch that came again) still counts once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PendingCounts {
    records: Vec<StreamCounts>,
}

impl PendingCounts {
    /// The state key that holds them.
    const KEY: &'static str = "counts";
    /// What a window carries before adding what it holds: Lambda ends a
    /// window whose state passes 1 MB.
    pub const FULL: usize = 256 * 1024;

    /// What the window's state carries (nothing: a new window). An error
    /// for a state this build cannot read.
    pub fn from_state(
        state: Option<&std::collections::HashMap<String, String>>,
    ) -> Result<Self, String> {
        match state.and_then(|s| s.get(Self::KEY)) {
            None => Ok(Self::default()),
            Some(json) => serde_json::from_str(json).map_err(|e| format!("window state: {e}")),
        }
    }

    /// The state to carry to the window's next batch.
    pub fn to_state(&self) -> std::collections::HashMap<String, String> {
        let mut state = std::collections::HashMap::new();
        if !self.records.is_empty() {
            // Plain data: serialising it cannot fail.
            let json = serde_json::to_string(self).unwrap_or_default();
            state.insert(Self::KEY.to_string(), json);
        }
        state
    }

    /// Takes in a batch's counts, but not a record it holds already (the
    /// batch came again). Returns how many were new.
    pub fn take_in(&mut self, batch: Vec<StreamCounts>) -> usize {
        let before = self.records.len();
        let mut held: std::collections::BTreeSet<String> =
            self.records.iter().map(|r| r.seq.clone()).collect();
        for c in batch {
            if held.insert(c.seq.clone()) {
                self.records.push(c);
            }
        }
        self.records.len() - before
    }

    /// A state's size, as Lambda limits it.
    pub fn size(state: &std::collections::HashMap<String, String>) -> usize {
        state.values().map(String::len).sum()
    }

    pub fn records(&self) -> &[StreamCounts] {
        &self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn clear(&mut self) {
        self.records.clear();
    }

    /// Facts held.
    pub fn facts(&self) -> i64 {
        self.records.iter().map(StreamCounts::facts).sum()
    }
}

/// What one batch added.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Added {
    /// Counter items written, and records taken in (a record counted
    /// before is not).
    pub items: usize,
    pub records: usize,
    /// Records counted before (delivered again).
    pub repeated: usize,
}

/// One counter item's share of a batch: each record's fields, in order.
#[derive(Default)]
struct Share {
    day: Option<jiff::civil::Date>,
    records: Vec<(String, BTreeMap<String, i64>)>,
}

impl DynamoStore {
    /// Adds the counts of a batch of records from the stream shard `shard`
    /// to their counter items, each record once however often it is
    /// delivered.
    pub async fn add_stream_counts(
        &self,
        shard: &str,
        batch: &[StreamCounts],
    ) -> Result<Added, StoreError> {
        let mut shares: BTreeMap<(String, String), Share> = BTreeMap::new();
        for c in batch {
            for (key, fields) in &c.rows {
                let share = shares
                    .entry((
                        keys::counter(&c.shop, key.day, keys::COUNTER_WRITE_SHARD),
                        keys::counter_sk(&key.journey, key.version, &key.step),
                    ))
                    .or_default();
                share.day = Some(key.day);
                share.records.push((c.seq.clone(), fields.clone()));
            }
        }
        let mark = keys::stream_mark(shard);
        let mut added = Added::default();
        let mut taken = std::collections::BTreeSet::new();
        let mut repeated = std::collections::BTreeSet::new();
        for ((pk, sk), share) in shares {
            let (took, skipped) = self.add_share(&pk, &sk, &mark, &share).await?;
            added.items += usize::from(!took.is_empty());
            taken.extend(took);
            repeated.extend(skipped);
        }
        added.records = taken.len();
        added.repeated = repeated.difference(&taken).count();
        Ok(added)
    }

    /// Adds one counter item's share: at once if its mark is below the
    /// share's first record, else only what is above the mark (read).
    /// Returns the records taken in and those counted before.
    async fn add_share(
        &self,
        pk: &str,
        sk: &str,
        mark: &str,
        share: &Share,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let mut known: Option<Option<String>> = None;
        loop {
            let above: Vec<&(String, BTreeMap<String, i64>)> = share
                .records
                .iter()
                .filter(|(seq, _)| match &known {
                    Some(Some(hw)) => seq > hw,
                    _ => true,
                })
                .collect();
            let skipped: Vec<String> = share
                .records
                .iter()
                .filter(|r| !above.iter().any(|a| a.0 == r.0))
                .map(|(seq, _)| seq.clone())
                .collect();
            let (Some(first), Some(last)) = (
                above.iter().map(|(s, _)| s).min(),
                above.iter().map(|(s, _)| s).max(),
            ) else {
                return Ok((Vec::new(), skipped));
            };
            let mut sums: BTreeMap<&str, i64> = BTreeMap::new();
            for (_, fields) in &above {
                for (name, n) in fields.iter() {
                    *sums.entry(name.as_str()).or_default() += n;
                }
            }
            let request = self.share_update(pk, sk, mark, share.day, &sums, last);
            let request = match &known {
                // First try: the mark is below the first record, or absent.
                None => request
                    .condition_expression("attribute_not_exists(#hw) OR #hw < :first")
                    .expression_attribute_values(":first", s(first)),
                Some(None) => request.condition_expression("attribute_not_exists(#hw)"),
                Some(Some(hw)) => request
                    .condition_expression("#hw = :read")
                    .expression_attribute_values(":read", s(hw)),
            };
            match request
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
                .send()
                .await
            {
                Ok(out) => {
                    self.drop_expired_marks(pk, sk, mark, out.attributes.as_ref())
                        .await?;
                    return Ok((above.iter().map(|(s, _)| s.clone()).collect(), skipped));
                }
                Err(e) if is_condition_failure(&e) => {
                    known = Some(self.stream_mark_of(pk, sk, mark).await?);
                }
                Err(e) => return Err(sdk_err("add counts", e)),
            }
        }
    }

    fn share_update(
        &self,
        pk: &str,
        sk: &str,
        mark: &str,
        day: Option<jiff::civil::Date>,
        sums: &BTreeMap<&str, i64>,
        last: &str,
    ) -> UpdateItemFluentBuilder {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .expression_attribute_names("#t", TYPE)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_names("#hw", mark)
            .expression_attribute_values(":t", s("counter"))
            .expression_attribute_values(":ttl", n(super::counters::expires(day).as_second()))
            .expression_attribute_values(":last", s(last));
        let mut adds = Vec::new();
        for (i, (name, total)) in sums.iter().filter(|(_, n)| **n != 0).enumerate() {
            request = request
                .expression_attribute_names(format!("#f{i}"), *name)
                .expression_attribute_values(format!(":v{i}"), n(total));
            adds.push(format!("#f{i} :v{i}"));
        }
        let add = if adds.is_empty() {
            String::new()
        } else {
            format!(" ADD {}", adds.join(", "))
        };
        request.update_expression(format!("SET #t = :t, #ttl = :ttl, #hw = :last{add}"))
    }

    /// Drops the marks of shards created more than [`MARK_KEPT`] before
    /// the shard being counted (`mark`): their records have all expired
    /// from the stream (kept 24 hours; a shard takes new records for about
    /// four), so none can come again. A counter item keeps a few marks,
    /// however long it is counted into.
    async fn drop_expired_marks(
        &self,
        pk: &str,
        sk: &str,
        mark: &str,
        item: Option<&HashMap<String, AttributeValue>>,
    ) -> Result<(), StoreError> {
        let Some(now) = keys::mark_created(mark) else {
            return Ok(());
        };
        let expired: Vec<&String> = item
            .into_iter()
            .flat_map(|i| i.keys())
            .filter(|name| keys::mark_created(name).is_some_and(|t| t < now - MARK_KEPT.as_secs()))
            .collect();
        if expired.is_empty() {
            return Ok(());
        }
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk));
        let mut names = Vec::new();
        for (i, name) in expired.iter().enumerate() {
            request = request.expression_attribute_names(format!("#m{i}"), name.as_str());
            names.push(format!("#m{i}"));
        }
        request
            .update_expression(format!("REMOVE {}", names.join(", ")))
            .send()
            .await
            .map_err(|e| sdk_err("drop expired counter marks", e))?;
        Ok(())
    }

    /// The counter item's mark for a stream shard, read (none: never
    /// counted from that shard).
    async fn stream_mark_of(
        &self,
        pk: &str,
        sk: &str,
        mark: &str,
    ) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .projection_expression("#hw")
            .expression_attribute_names("#hw", mark)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("read counter mark", e))?;
        Ok(out
            .item
            .and_then(|i| i.get(mark).and_then(|v| v.as_s().ok()).cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_sequence_numbers_order_as_numbers() {
        assert!(padded("999") < padded("1000"));
        assert!(padded("4421584500000000017450439091") > padded("999999999999999999999"));
        assert_eq!(padded("7").len(), 40);
    }
}
