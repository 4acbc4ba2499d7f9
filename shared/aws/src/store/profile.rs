//! A contact's profile across items of its partition, so an event writes
//! what it changed and not a year of history:
//! - `C`, the hot item: everything an ordinary event changes, with the
//!   activity of the newest block of days (`activity::BLOCK_DAYS`);
//! - `C#A`: the activity of the older blocks, folded into one item in a
//!   compact form (each counter's days as differences), which changes when
//!   a block closes or falls off, or a late event or a merge reaches it
//!   (before this form, each block had an item of its own, `C#A#<block>`:
//!   those still load, and the next commit that writes a part folds them);
//! - `C#L`: the lists that change with orders, ended runs, merges, coupons
//!   and the store's tags, not with page views;
//! - `T#E#<slot>`: each older block of applied event ids (the newest stay
//!   hot; the hot item lists the blocks and their slots), written once by
//!   the commit that moves it out (once every 13 events) into the lowest
//!   slot free, over a block since dropped (`waymark_core::recent_events`).
//!   They sort past the ended runs kept for their messages, so an ordinary
//!   load does not read them: only an event as old as a block's stamp, an
//!   erasure or a merge does (a whole load). (Before, all blocks were one
//!   item, `C#E`, read with every load: it still loads, and the next
//!   commit moves its blocks out.)
//!
//! A part is written only when its stored bytes differ from what the
//! contact's last load read (remembered per contact and version, in
//! memory: without it, every part is written). The hot item's version
//! check guards them all: parts change only in a commit that also writes
//! the hot item, so a part read at version v is current while `C` is.
//! Items written whole (before the split) load as they are, and the next
//! commit moves their history into parts.
//! (The release before the split would read only the hot item: rolling
//! back across it is not supported.)

use super::*;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use waymark_core::activity::block_of;

/// The lists kept in `C#L` (field names of the stored profile).
/// (A contact's browsers stay hot: a known person's first visit from a new
/// one should not cost a transaction.)
const LISTS: [&str; 12] = [
    "bought",
    "history",
    "coupons",
    "past_emails",
    "merged_from",
    "exports",
    "past_contracts",
    "store_tags",
    "tags",
    "ordered_checkouts",
    "attributed",
    "subscriptions",
];

/// The sort key of the lists' item.
pub(super) const LISTS_SK: &str = "C#L";
/// The sort key of the older event ids' item, before each block had its
/// own (read, never written).
const EVENTS_SK: &str = "C#E";
/// Sort keys of a profile's parts start with this (runs start with `R#`)…
pub(super) const PART_PREFIX: &str = "C#";
/// …or this: an older block of event ids, past the ordinary load.
pub(super) const EVENT_BLOCK_PREFIX: &str = "T#E#";

/// Whether a sort key is one of a profile's parts.
pub(super) fn is_part(sk: &str) -> bool {
    sk.starts_with(PART_PREFIX) || sk.starts_with(EVENT_BLOCK_PREFIX)
}

/// An older block of event ids' item: its slot's.
fn event_block_sk(slot: u16) -> String {
    format!("{EVENT_BLOCK_PREFIX}{slot:03}")
}

/// The sort key of the older blocks' activity, folded.
const OLDER_SK: &str = "C#A";

/// A profile cut into its items' documents: the hot one and the parts by
/// sort key.
pub(super) struct Split {
    pub hot: Value,
    pub parts: BTreeMap<String, Value>,
}

/// The contact document as `ContactDoc` stores it, borrowed (a commit's
/// profile is serialised, not copied).
#[derive(Serialize)]
struct DocRef<'a> {
    contact: &'a Contact,
    recent_events: &'a waymark_core::ids::RecentEvents,
}

/// Cuts a contact document into the hot item's and its parts'.
pub(super) fn split(
    contact: &Contact,
    recent_events: &waymark_core::ids::RecentEvents,
) -> Result<Split, StoreError> {
    let doc = DocRef {
        contact,
        recent_events,
    };
    let mut hot = serde_json::to_value(&doc).map_err(store_err("serialise"))?;
    let mut parts = BTreeMap::new();
    if let Some(r) = hot.get_mut("recent_events").and_then(Value::as_object_mut) {
        r.remove("older");
    }
    for block in recent_events.stored_blocks() {
        let value = serde_json::to_value(&block).map_err(store_err("serialise"))?;
        parts.insert(event_block_sk(block.slot), value);
    }
    let Some(contact) = hot.get_mut("contact").and_then(Value::as_object_mut) else {
        return Ok(Split { hot, parts });
    };
    let lists: Map<String, Value> = LISTS
        .iter()
        .filter_map(|f| contact.remove(*f).map(|v| (f.to_string(), v)))
        .filter(|(_, v)| !is_empty(v))
        .collect();
    if !lists.is_empty() {
        parts.insert(LISTS_SK.to_string(), Value::Object(lists));
    }
    if let Some(Value::Object(activity)) = contact.get_mut("activity") {
        let older = older_days(activity);
        if !older.is_empty() {
            parts.insert(OLDER_SK.to_string(), fold(older));
        }
    }
    Ok(Split { hot, parts })
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn day_of(v: &Value) -> Option<i32> {
    v.get("d")?.as_i64().map(|d| d as i32)
}

/// One day of a counter: its day number, count and sum.
type DayRow = [i64; 3];

/// Takes the days before the newest block out of `activity` (`{counter:
/// [{d, n, sum}, …]}`): each counter's, oldest first.
fn older_days(activity: &mut Map<String, Value>) -> BTreeMap<String, Vec<DayRow>> {
    let newest = activity
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(day_of)
        .max();
    let mut older = BTreeMap::new();
    let Some(newest) = newest else {
        return older;
    };
    let hot_block = block_of(newest);
    for (key, days) in activity.iter_mut() {
        let Some(days) = days.as_array_mut() else {
            continue;
        };
        let (old, recent): (Vec<Value>, Vec<Value>) = std::mem::take(days)
            .into_iter()
            .partition(|d| day_of(d).is_some_and(|d| block_of(d) < hot_block));
        *days = recent;
        let mut rows: Vec<DayRow> = old
            .iter()
            .filter_map(|v| {
                let field = |f: &str| v.get(f).and_then(Value::as_i64).unwrap_or(0);
                Some([i64::from(day_of(v)?), field("n"), field("sum")])
            })
            .collect();
        if !rows.is_empty() {
            rows.sort_by_key(|r| r[0]);
            older.insert(key.clone(), rows);
        }
    }
    activity.retain(|_, days| !is_empty(days));
    older
}

/// The older days as `C#A` stores them: `{"days": {counter: [d, n, sum,
/// Δd, n, sum, …]}}`, each day's number as the difference from the day
/// before. A year of daily browsing is then a run of the same few bytes,
/// which the document's deflate takes to almost nothing.
fn fold(older: BTreeMap<String, Vec<DayRow>>) -> Value {
    let days: Map<String, Value> = older
        .into_iter()
        .map(|(key, rows)| {
            let mut flat = Vec::with_capacity(rows.len() * 3);
            let mut before = 0;
            for [d, n, sum] in rows {
                flat.extend([d - before, n, sum]);
                before = d;
            }
            (key, Value::from(flat))
        })
        .collect();
    Value::Object(Map::from_iter([("days".to_string(), Value::Object(days))]))
}

/// `fold`'s document back as activity (`{counter: [{d, n, sum}, …]}`);
/// what is not of that shape is left out.
fn unfold(mut part: Map<String, Value>) -> Map<String, Value> {
    let Some(Value::Object(days)) = part.remove("days") else {
        return Map::new();
    };
    days.into_iter()
        .filter_map(|(key, flat)| {
            let Value::Array(flat) = flat else {
                return None;
            };
            let mut d = 0i64;
            let rows = flat
                .chunks_exact(3)
                .map_while(|row| {
                    let [Some(dd), Some(n), Some(sum)] = [0, 1, 2].map(|i| row[i].as_i64()) else {
                        return None;
                    };
                    d = d.checked_add(dd)?;
                    let mut day = Map::from_iter([
                        ("d".to_string(), Value::from(d)),
                        ("n".to_string(), Value::from(n)),
                    ]);
                    if sum != 0 {
                        day.insert("sum".to_string(), Value::from(sum));
                    }
                    Some(Value::Object(day))
                })
                .collect();
            Some((key, Value::Array(rows)))
        })
        .collect()
}

/// Puts a profile back together from its hot document and its parts. A
/// tombstone keeps nothing of its parts (a merge left them to be deleted).
pub(super) fn join(mut hot: Value, parts: Vec<(String, Value)>) -> Result<ContactDoc, StoreError> {
    let (events, parts): (Vec<_>, Vec<_>) = parts
        .into_iter()
        .partition(|(sk, _)| sk == EVENTS_SK || sk.starts_with(EVENT_BLOCK_PREFIX));
    if let Some(recent) = hot.get_mut("recent_events").and_then(Value::as_object_mut) {
        let mut older = Vec::new();
        for (sk, part) in events {
            match part {
                // `C#E`: `{"older": [blocks]}`.
                Value::Object(mut all) if sk == EVENTS_SK => {
                    if let Some(Value::Array(blocks)) = all.remove("older") {
                        older.extend(blocks);
                    }
                }
                block => older.push(block),
            }
        }
        if !older.is_empty() {
            recent.insert("older".into(), Value::Array(older));
        }
    }
    if let Some(contact) = hot.get_mut("contact").and_then(Value::as_object_mut)
        && contact.get("merged_into").is_none_or(Value::is_null)
    {
        for (sk, part) in parts {
            let Value::Object(part) = part else { continue };
            if sk == LISTS_SK {
                for (field, value) in part {
                    contact.entry(field).or_insert(value);
                }
            } else {
                // `C#A` folded, or an older block's own item (written
                // before the fold), `{counter: [{d, n, sum}, …]}`.
                let days = if sk == OLDER_SK { unfold(part) } else { part };
                let activity = contact
                    .entry("activity")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(activity) = activity {
                    add_days(activity, days);
                }
            }
        }
    }
    serde_json::from_value(hot).map_err(store_err("deserialise"))
}

/// Adds a block's days to the activity; a day already there is kept as it
/// is (a day is in one item only, unless a stale part survived).
fn add_days(activity: &mut Map<String, Value>, block: Map<String, Value>) {
    for (key, days) in block {
        let Value::Array(days) = days else { continue };
        let list = activity
            .entry(key)
            .or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(list) = list else { continue };
        let have: BTreeSet<i32> = list.iter().filter_map(day_of).collect();
        list.extend(
            days.into_iter()
                .filter(|d| day_of(d).is_some_and(|d| !have.contains(&d))),
        );
    }
}

/// The profile item's names of the parts its commit wrote (each carries
/// that commit's version) and deleted: a load that sees the profile but
/// not those parts as they were left (a query is not a snapshot of a
/// transaction) knows it, and reads again. Written only when not empty
/// (most commits change no part).
const WROTE: &str = "pw";
const DROPPED: &str = "pd";

/// Names on the profile item the parts its commit wrote and deleted.
pub(super) fn stamp(profile: &mut Item, wrote: &[String], dropped: &[String]) {
    if !wrote.is_empty() {
        profile.insert(WROTE.into(), AttributeValue::Ss(wrote.to_vec()));
    }
    if !dropped.is_empty() {
        profile.insert(DROPPED.into(), AttributeValue::Ss(dropped.to_vec()));
    }
}

/// A part the profile's commit wrote and that a load read otherwise (not
/// there, or at another version), or deleted and that is still there:
/// the load saw that commit only in part. (Items written before parts
/// carried versions name none.) Parts at or past `below` are not read by
/// that load, and tell nothing.
pub(super) fn half_seen(items: &[Item], below: Option<&str>) -> Option<String> {
    let sk_of = |i: &Item| i.get(SK).and_then(|v| v.as_s().ok()).cloned();
    let profile = items
        .iter()
        .find(|i| sk_of(i).as_deref() == Some(keys::sk::CONTACT))?;
    let version = read_n(profile, VERSION);
    let names = |name: &str| {
        profile
            .get(name)
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default()
    };
    let at = |sk: &str| items.iter().find(|i| sk_of(i).as_deref() == Some(sk));
    let read = |sk: &String| below.is_none_or(|b| sk.as_str() < b);
    names(WROTE)
        .into_iter()
        .filter(read)
        .find(|sk| at(sk).is_none_or(|i| read_n(i, VERSION) != version))
        .or_else(|| {
            names(DROPPED)
                .into_iter()
                .filter(read)
                .find(|sk| at(sk).is_some())
        })
}

/// A stored document's fingerprint, to tell whether a part changed.
pub(super) fn fingerprint(value: &AttributeValue) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match value {
        AttributeValue::S(s) => s.as_bytes().hash(&mut h),
        AttributeValue::B(b) => b.as_ref().hash(&mut h),
        other => format!("{other:?}").hash(&mut h),
    }
    h.finish()
}

/// Contacts remembered at most; past it the memory starts over (a commit
/// without its load's parts writes them all, which is correct, only dearer).
const REMEMBERED: usize = 4096;

/// A load's parts: sort key → fingerprint.
pub(super) type Parts = BTreeMap<String, u64>;

/// What one load of a contact read: its parts, and the sort keys of its
/// runs (where each run is stored: an ended run kept for its messages
/// moves, and one written before that did is where it was).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Read {
    pub parts: Parts,
    pub runs: BTreeSet<String>,
}

/// What the last load of each contact read: its version and its items.
#[derive(Default)]
pub(super) struct Loaded(Mutex<HashMap<String, (u64, Read)>>);

impl Loaded {
    pub fn remember(&self, pk: &str, version: u64, read: Read) {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= REMEMBERED && !seen.contains_key(pk) {
            seen.clear();
        }
        seen.insert(pk.to_string(), (version, read));
    }

    /// What was read at `version`, if that is the version last loaded.
    pub fn at(&self, pk: &str, version: u64) -> Option<Read> {
        let seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(pk)
            .filter(|(v, _)| *v == version)
            .map(|(_, r)| r.clone())
    }
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Loaded")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waymark_core::activity::BLOCK_DAYS;
    use waymark_core::contact::Contact;
    use waymark_core::ids::{ContactId, RecentEvents};

    fn at(day: i64) -> Timestamp {
        Timestamp::from_second(day * 86_400 + 3_600).unwrap()
    }

    /// A contact with 100 days of browsing, an order list and a history.
    fn aged() -> ContactDoc {
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let mut c = Contact::new(ContactId::for_customer(7), shop, at(20_000));
        for d in 20_000..20_100 {
            c.audience.activity.add("page_viewed", at(d), 0);
            if d % 7 == 0 {
                c.audience.activity.add("order_placed", at(d), 1999);
            }
        }
        c.history.record("welcome", "once", 0, at(20_001));
        c.identity.anonymous_ids.push("anon-1".into());
        c.audience.tags.insert("vip".into());
        let mut recent_events = RecentEvents::default();
        for i in 0..300 {
            recent_events.push(&format!("{i:032x}"), at(20_000 + i / 3));
        }
        ContactDoc {
            contact: c,
            recent_events,
        }
    }

    fn back(s: Split) -> ContactDoc {
        let hot = serde_json::from_str(&s.hot.to_string()).unwrap();
        join(hot, s.parts.into_iter().collect()).unwrap()
    }

    #[test]
    fn a_profile_cut_into_parts_is_put_back_the_same() {
        let doc = aged();
        let s = split(&doc.contact, &doc.recent_events).unwrap();
        // The lists in an item of their own, the older blocks folded into
        // one.
        let sks: Vec<&str> = s.parts.keys().map(String::as_str).collect();
        assert!(sks.contains(&LISTS_SK), "{sks:?}");
        assert!(sks.contains(&OLDER_SK), "{sks:?}");
        assert!(!sks.iter().any(|k| k.starts_with("C#A#")), "{sks:?}");
        let folded = &s.parts[OLDER_SK]["days"]["page_viewed"];
        let older_days = (20_099 / BLOCK_DAYS * BLOCK_DAYS - 20_000) as usize;
        assert_eq!(folded.as_array().unwrap().len(), 3 * older_days);
        assert_eq!(folded[0], 20_000, "the first day as it is");
        assert_eq!(folded[3], 1, "the next as the difference");
        // The hot document holds only the newest block's days, no list.
        let hot = &s.hot["contact"];
        assert!(hot.get("history").is_none() && hot.get("tags").is_none());
        // The newest event ids stay hot, each older block goes to an item
        // of its own, and the hot item lists them.
        assert!(s.hot["recent_events"].get("older").is_none());
        assert!(s.hot["recent_events"]["ids"].as_array().unwrap().len() <= 24);
        let blocks = sks.iter().filter(|k| k.starts_with("T#E#")).count();
        assert!(blocks >= 3, "{sks:?}");
        assert_eq!(
            s.hot["recent_events"]["blocks"].as_array().unwrap().len(),
            blocks
        );
        assert!(!sks.contains(&EVENTS_SK), "{sks:?}");
        let days: Vec<i64> = hot["activity"]["page_viewed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["d"].as_i64().unwrap())
            .collect();
        assert!(
            days.iter()
                .all(|d| d / i64::from(BLOCK_DAYS) == 20_099 / 32)
        );
        let joined = back(s);
        assert_eq!(
            serde_json::to_value(&joined).unwrap(),
            serde_json::to_value(&doc).unwrap()
        );
    }

    /// The older event ids as one item (`C#E`, the layout before each
    /// block had its own) load as they are; the next split gives each block
    /// an item, and a load that leaves those where they are (an ordinary
    /// one) keeps the list of them.
    #[test]
    fn older_event_ids_in_one_item_load_and_move_to_an_item_per_block() {
        let doc = aged();
        let s = split(&doc.contact, &doc.recent_events).unwrap();
        let mut legacy = serde_json::to_value(&doc.recent_events).unwrap();
        let older = legacy.as_object_mut().unwrap().remove("older").unwrap();
        legacy.as_object_mut().unwrap().remove("blocks");
        let mut hot = s.hot.clone();
        hot["recent_events"] = legacy;
        let mut parts: Vec<(String, Value)> = s
            .parts
            .iter()
            .filter(|(sk, _)| !sk.starts_with("T#E#"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        parts.push((EVENTS_SK.into(), serde_json::json!({ "older": older })));
        parts.sort_by(|a, b| a.0.cmp(&b.0));
        let joined = join(hot, parts.clone()).unwrap();
        assert!(joined.recent_events.is_whole());
        assert_eq!(
            joined.recent_events.fact_ids(),
            doc.recent_events.fact_ids()
        );
        let again = split(&joined.contact, &joined.recent_events).unwrap();
        assert_eq!(
            again.parts.keys().collect::<Vec<_>>(),
            s.parts.keys().collect::<Vec<_>>()
        );
        // Loaded without the blocks: listed, none to write.
        let parts: Vec<(String, Value)> = again
            .parts
            .iter()
            .filter(|(sk, _)| !sk.starts_with("T#E#"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let partial = join(again.hot.clone(), parts).unwrap();
        assert!(!partial.recent_events.is_whole());
        assert_eq!(partial.recent_events.len(), doc.recent_events.len());
        let written = split(&partial.contact, &partial.recent_events).unwrap();
        assert!(!written.parts.keys().any(|k| k.starts_with("T#E#")));
        assert_eq!(
            written.hot["recent_events"]["blocks"],
            again.hot["recent_events"]["blocks"]
        );
    }

    /// Older blocks stored each in an item of its own (the layout before
    /// the fold) load as they are; the next split folds them.
    #[test]
    fn older_blocks_in_items_of_their_own_load_and_fold() {
        let doc = aged();
        let s = split(&doc.contact, &doc.recent_events).unwrap();
        let mut parts: Vec<(String, Value)> = Vec::new();
        let all = unfold(s.parts[OLDER_SK].as_object().unwrap().clone());
        for (key, days) in all {
            for day in days.as_array().unwrap() {
                let block = block_of(day["d"].as_i64().unwrap() as i32);
                let sk = format!("C#A#{block:06}");
                let at = match parts.iter().position(|(k, _)| *k == sk) {
                    Some(i) => i,
                    None => {
                        parts.push((sk, Value::Object(Map::new())));
                        parts.len() - 1
                    }
                };
                let list = parts[at].1.as_object_mut().unwrap().entry(key.clone());
                list.or_insert_with(|| Value::Array(Vec::new()))
                    .as_array_mut()
                    .unwrap()
                    .push(day.clone());
            }
        }
        assert!(parts.len() >= 3, "{}", parts.len());
        parts.extend(
            s.parts
                .iter()
                .filter(|(sk, _)| *sk != OLDER_SK)
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        parts.sort_by(|a, b| a.0.cmp(&b.0));
        let hot = serde_json::from_str(&s.hot.to_string()).unwrap();
        let joined = join(hot, parts).unwrap();
        assert_eq!(
            serde_json::to_value(&joined).unwrap(),
            serde_json::to_value(&doc).unwrap()
        );
        let again = split(&joined.contact, &joined.recent_events).unwrap();
        assert_eq!(
            again.parts.keys().collect::<Vec<_>>(),
            s.parts.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_profile_stored_whole_loads_as_it_is() {
        let doc = aged();
        let whole = serde_json::to_value(&doc).unwrap();
        let joined = join(whole.clone(), Vec::new()).unwrap();
        assert_eq!(serde_json::to_value(&joined).unwrap(), whole);
    }

    #[test]
    fn a_day_in_two_items_counts_once_and_a_tombstone_takes_no_part() {
        let doc = aged();
        let mut s = split(&doc.contact, &doc.recent_events).unwrap();
        // A stale copy of the newest block's days, as a part.
        let stale = s.hot["contact"]["activity"].clone();
        s.parts.insert("C#A#999999".into(), stale);
        let joined = back(s);
        assert_eq!(
            joined
                .contact
                .audience
                .activity
                .total("page_viewed", None, at(20_100)),
            (100, 0)
        );
        let mut tomb = serde_json::to_value(&doc).unwrap();
        tomb["contact"]["merged_into"] = serde_json::json!(ContactId::for_customer(8).as_str());
        tomb["contact"].as_object_mut().unwrap().remove("history");
        let lists = split(&doc.contact, &doc.recent_events)
            .unwrap()
            .parts
            .remove(LISTS_SK)
            .unwrap();
        let t = join(tomb, vec![(LISTS_SK.into(), lists)]).unwrap();
        assert!(t.contact.history.is_empty());
    }

    #[test]
    fn the_last_load_is_remembered_per_contact_and_version() {
        let loaded = Loaded::default();
        let read = |parts| Read {
            parts,
            runs: BTreeSet::from(["R#welcome#contact#0".to_string()]),
        };
        loaded.remember("c1", 3, read(BTreeMap::from([("C#L".to_string(), 7)])));
        assert_eq!(loaded.at("c1", 3).unwrap().parts["C#L"], 7);
        assert!(
            loaded
                .at("c1", 3)
                .unwrap()
                .runs
                .contains("R#welcome#contact#0")
        );
        assert!(loaded.at("c1", 4).is_none());
        assert!(loaded.at("c2", 3).is_none());
        for i in 0..REMEMBERED + 1 {
            loaded.remember(&format!("x{i}"), 1, Read::default());
        }
        assert!(
            loaded.at("c1", 3).is_none(),
            "bounded: the memory starts over"
        );
    }

    /// A year of heavy activity (48 counters, every day) with every list at
    /// its bound: an event writes the hot item, a few kilobytes, not the
    /// whole profile; no part comes near the item limit.
    #[test]
    fn a_heavy_year_leaves_a_small_hot_item() {
        let mut doc = aged();
        let c = &mut doc.contact;
        let mut random = crate::doc::tests::varied();
        for d in 20_000..20_365 {
            for k in 0..48 {
                c.audience.activity.add(
                    &format!("product_viewed:category-{k}"),
                    at(d),
                    (random() % 9_999) as i64,
                );
            }
        }
        for i in 0..400u32 {
            c.history.record(
                &format!("journey_{}", i % 40),
                &format!("order:{i}"),
                0,
                at(i64::from(i)),
            );
            c.audience.tags.insert(format!("tag-{:016x}", random()));
        }
        let size = |v: &Value| match doc_of(v) {
            AttributeValue::S(s) => s.len(),
            AttributeValue::B(b) => b.as_ref().len(),
            _ => 0,
        };
        let whole = size(&serde_json::to_value(&doc).unwrap());
        let s = split(&doc.contact, &doc.recent_events).unwrap();
        let hot = size(&s.hot);
        let largest = s.parts.values().map(size).max().unwrap();
        println!(
            "a heavy year: whole {whole} B, hot {hot} B, {} parts, largest {largest} B",
            s.parts.len()
        );
        assert!(hot * 10 < whole, "hot {hot} B of {whole} B");
        assert!(hot < 8 * 1024, "hot {hot} B");
        assert!(largest < 100 * 1024, "largest part {largest} B");
        assert_eq!(
            back(s).contact.audience.activity.keys(),
            doc.contact.audience.activity.keys()
        );
    }

    fn doc_of(v: &Value) -> AttributeValue {
        crate::doc::encode(v).unwrap()
    }
}
