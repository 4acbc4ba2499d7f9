//! The single-table key layout. Every key starts with the shop, so two shops'
//! data can never meet. The access patterns are listed in ARCHITECTURE.md;
//! change both together.

use waymark_core::ids::{ContactId, ShopDomain};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
/// Item type, read by the stream filters.
pub const TYPE: &str = "t";
/// The item's domain document, as JSON.
pub const DOC: &str = "doc";
pub const VERSION: &str = "ver";
pub const DUE_INDEX: &str = "due";
pub const DUE_SHARD: &str = "due_shard";
pub const DUE_AT: &str = "due_at";
pub const TTL: &str = "ttl";
pub const IDLE_INDEX: &str = "idle";
/// `I#<shard>`: the idle index's partition (spread like the due index).
pub const IDLE_SHARD: &str = "idle_shard";
/// `<day, 6 digits>#<contact PK>`: the UTC day a contact's inactivity
/// threshold falls on, so a range of days is one query per shard.
pub const IDLE_KEY: &str = "idle_key";
/// Sort keys of the items that are alone in their partition (or the
/// partition's head item).
pub mod sk {
    pub const CONTACT: &str = "C";
    pub const ALIAS: &str = "A";
    pub const OUTBOX: &str = "O";
    pub const RECEIPT: &str = "W";
    pub const EVENT: &str = "E";
    pub const REJECTED: &str = "X";
    pub const SUPPRESSION: &str = "SUP";
    pub const SWEEP_CURSOR: &str = "SWEEP";
    pub const ERASURE: &str = "ERASED";
    pub const CAMPAIGN: &str = "CAMP";
    pub const ALLOWANCE: &str = "L";
}

/// An allowance's count for one window: `S#<shop>#L#<name>#<window start,
/// Unix seconds>`. The name is a write key or an address's hash.
pub fn allowance(shop: &ShopDomain, name: &str, window_start: jiff::Timestamp) -> String {
    format!("S#{shop}#L#{name}#{}", window_start.as_second())
}

/// A scheduled campaign: `S#<shop>#CAMP#<id>`.
pub fn campaign(shop: &ShopDomain, id: &str) -> String {
    format!("S#{shop}#CAMP#{id}")
}

/// A campaign page's finished mark, in the campaign's partition:
/// `P#<run>#<t: the A/B test's share | s: the send>#<page, 8 digits>`.
pub fn campaign_page(run: i64, testing: bool, number: u64) -> String {
    let wave = if testing { 't' } else { 's' };
    format!("P#{run}#{wave}#{number:08}")
}

/// Shop and campaign id back from a campaign partition key.
pub fn parse_campaign(pk: &str) -> Option<(ShopDomain, String)> {
    let rest = pk.strip_prefix("S#")?;
    let (shop, id) = rest.split_once("#CAMP#")?;
    Some((ShopDomain::parse(shop).ok()?, id.to_string()))
}

/// Whether a partition key is an outbox message's.
pub fn is_outbox(pk: &str) -> bool {
    pk.contains("#O#")
}

/// Partitions a day's results counters may be in: a report reads each.
/// Earlier releases spread every count over four, so a popular journey's
/// counts never made one hot partition, each fact a write of its own.
pub const COUNTER_SHARDS: u32 = 4;

/// The partition counts are written to now: one a day. `process` adds a
/// window's counts in one write per counter item and stream shard (at most
/// one every few seconds, when a busy window's state fills, and otherwise
/// one per five minutes), so a day's partition takes a few writes a second
/// at most, far below what one partition serves; and a counter item is one
/// item a day, not four, each with its stream marks, which is what a
/// report reads.
pub const COUNTER_WRITE_SHARD: u32 = 0;

/// A day's results counters, one shard: `S#<shop>#N#<day>#<shard>`.
pub fn counter(shop: &ShopDomain, day: jiff::civil::Date, shard: u32) -> String {
    format!("S#{shop}#N#{day}#{shard}")
}

/// Shop, day and shard back from a counter partition key.
pub fn parse_counter(pk: &str) -> Option<(ShopDomain, jiff::civil::Date, u32)> {
    let rest = pk.strip_prefix("S#")?;
    let (shop, rest) = rest.split_once("#N#")?;
    let (day, shard) = rest.split_once('#')?;
    Some((
        ShopDomain::parse(shop).ok()?,
        day.parse().ok()?,
        shard.parse().ok()?,
    ))
}

/// A counter item's mark for a stream shard: `hw_`, when the shard was
/// created (seconds, read from its id, `x` when the id does not say) and a
/// 64-bit hash of the id (ids are long). The time lets a counter item drop
/// the marks of shards whose records have all expired.
pub fn stream_mark(shard_id: &str) -> String {
    let reversed: String = shard_id.chars().rev().collect();
    let created = shard_created(shard_id).map_or_else(|| "x".to_string(), |s| s.to_string());
    format!("hw_{created}_{:08x}{:08x}", fnv(shard_id), fnv(&reversed))
}

/// When a shard was created (seconds), from its id
/// (`shardId-<creation, ms, 20 digits>-<suffix>`).
fn shard_created(shard_id: &str) -> Option<i64> {
    let ms = shard_id.strip_prefix("shardId-")?.split('-').next()?;
    (ms.len() == 20 && ms.bytes().all(|b| b.is_ascii_digit()))
        .then(|| ms.parse::<i64>().ok())
        .flatten()
        .map(|ms| ms / 1000)
}

/// When the shard of a mark (`stream_mark`) was created, if it says.
pub fn mark_created(mark: &str) -> Option<i64> {
    mark.strip_prefix("hw_")?.split('_').next()?.parse().ok()
}

/// A counter's sort key: `<journey>#<version>#<step>`.
pub fn counter_sk(journey: &str, version: u32, step: &str) -> String {
    format!("{journey}#{version}#{step}")
}

/// Number of due-index shards; each is one Query, by its own timer
/// invocation, per minute.
pub use waymark_app::ports::DUE_SHARDS;

pub fn receipt(shop: &ShopDomain, delivery: &str) -> String {
    format!("S#{shop}#W#{delivery}")
}

pub fn rejected(shop: &ShopDomain, delivery: &str) -> String {
    format!("S#{shop}#X#{delivery}")
}

pub fn event(shop: &ShopDomain, id: &str) -> String {
    format!("S#{shop}#E#{id}")
}

pub fn contact(shop: &ShopDomain, id: &ContactId) -> String {
    format!("S#{shop}#C#{id}")
}

pub fn alias_customer(shop: &ShopDomain, customer_id: u64) -> String {
    format!("S#{shop}#A#cust:{customer_id}")
}

pub fn alias_email(shop: &ShopDomain, lookup: &str) -> String {
    format!("S#{shop}#A#email:{lookup}")
}

pub fn alias_order(shop: &ShopDomain, order_id: u64) -> String {
    format!("S#{shop}#A#order:{order_id}")
}

pub fn alias_contract(shop: &ShopDomain, contract_id: u64) -> String {
    format!("S#{shop}#A#contract:{contract_id}")
}

pub fn alias_anonymous(shop: &ShopDomain, anonymous_id: &str) -> String {
    format!("S#{shop}#A#anon:{anonymous_id}")
}

/// The idle-index shard and sort key of a contact for a UTC day. The day
/// alone: an index key need not be unique, and the item's own key comes
/// with it (keys written before carried `#<pk>` after the day, which the
/// sweep's range still takes in).
pub fn idle(day: i32, pk: &str) -> (String, String) {
    (format!("I#{}", &shard(pk)[2..]), idle_day(day))
}

/// A day as the idle index sorts it.
pub fn idle_day(day: i32) -> String {
    format!("{:06}", day.max(0))
}

/// The record that an erasure happened (no personal data in it).
pub fn erasure(shop: &ShopDomain, id: &str) -> String {
    format!("S#{shop}#ERASED#{id}")
}

/// The work list of an erasure under way for one contact (a hash of its
/// id): what a cut-short erasure had still to delete, for its redelivery.
pub fn pending_erasure(shop: &ShopDomain, contact: &ContactId) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{shop}\0{contact}").as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("S#{shop}#ERASING#{hex}")
}

pub const SWEEP_CURSOR: &str = "SWEEP#cursor";

/// A run's sort key while it goes on (and a campaign's decision, and an
/// item written before ended runs moved: `kept_run_sk`).
pub fn run_sk(journey: &str, key: &str, entry: u32) -> String {
    format!("R#{journey}#{key}#{entry}")
}

/// The sort key of a journey's ended run kept for its messages
/// (`Run::kept_for_messages`): after every other item of the contact's
/// partition (`C`, `C#…`, `R#…`), so a load that has no use for them stops
/// short of them (`SK < KEPT_RUNS`).
pub fn kept_run_sk(journey: &str, key: &str, entry: u32) -> String {
    format!("{KEPT_RUNS}{journey}#{key}#{entry}")
}

/// Where the kept ended runs start in a contact's partition.
pub const KEPT_RUNS: &str = "S#";

pub fn segment(shop: &ShopDomain, segment: &str) -> String {
    format!("S#{shop}#SEG#{segment}")
}

pub fn member_sk(contact: &ContactId) -> String {
    format!("C#{contact}")
}

/// Suppressions are keyed by a hash of the address, so they can outlive a
/// privacy erasure (a complaint must still be honoured) without keeping
/// the address itself.
pub fn suppression(shop: &ShopDomain, lookup: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{shop}\0{lookup}").as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("S#{shop}#SUP#{hex}")
}

pub fn outbox(shop: &ShopDomain, id: &str) -> String {
    format!("S#{shop}#O#{id}")
}

/// The shop back from an outbox message's key.
pub fn outbox_shop(pk: &str) -> Option<ShopDomain> {
    let rest = pk.strip_prefix("S#")?;
    let (shop, _) = rest.split_once("#O#")?;
    ShopDomain::parse(shop).ok()
}

/// Shop and contact back from a contact partition key.
pub fn parse_contact(pk: &str) -> Option<(ShopDomain, ContactId)> {
    let rest = pk.strip_prefix("S#")?;
    let (shop, cid) = rest.split_once("#C#")?;
    Some((ShopDomain::parse(shop).ok()?, ContactId::parse(cid).ok()?))
}

/// The due-index shard of a partition key: stable, spread evenly.
pub fn shard(pk: &str) -> String {
    format!("D#{}", fnv(pk) % DUE_SHARDS)
}

/// FNV-1a: tiny and stable across builds (unlike std's hasher).
fn fnv(text: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_mark_says_when_its_shard_was_created() {
        let mark = stream_mark("shardId-00000001541626099285-f35f62ef");
        assert!(mark.starts_with("hw_1541626099_"), "{mark}");
        assert_eq!(mark_created(&mark), Some(1_541_626_099));
        let odd = stream_mark("shard-7");
        assert!(odd.starts_with("hw_x_") && mark_created(&odd).is_none());
        assert_ne!(
            stream_mark("shardId-00000001541626099285-f35f62ef"),
            stream_mark("shardId-00000001541626099285-f35f62e0")
        );
    }

    #[test]
    fn contact_keys_round_trip() {
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let id = ContactId::for_customer(7);
        assert_eq!(
            parse_contact(&contact(&shop, &id)),
            Some((shop.clone(), id))
        );
        assert_eq!(parse_contact("S#x.com#O#abc"), None);
        assert_eq!(outbox_shop(&outbox(&shop, "m-1")), Some(shop));
        assert_eq!(outbox_shop("S#x.com#C#cust-1"), None);
    }

    #[test]
    fn shards_are_stable_and_in_range() {
        assert_eq!(
            shard("S#demo.myshopify.com#C#cust-1"),
            shard("S#demo.myshopify.com#C#cust-1")
        );
        let n: std::collections::BTreeSet<_> = (0..200).map(|i| shard(&format!("k{i}"))).collect();
        assert_eq!(n.len(), DUE_SHARDS as usize);
    }
}
