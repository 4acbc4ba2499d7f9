//! `make bench` (part 4): what one event costs in DynamoDB, through the real
//! adapters on moto. A recording proxy on 127.0.0.1 sits between the SDK and
//! the emulator and keeps every DynamoDB request with its answer; capacity
//! is then computed by DynamoDB's published rules from request counts and
//! item sizes (moto's own ConsumedCapacity figures are not accurate):
//! a write is 1 WCU per KB of the item (rounded up), twice in a transaction;
//! a strongly consistent read is 1 RCU per 4 KB returned, half that
//! eventually consistent (every index read). The two indexes are KEYS_ONLY,
//! so an item write costs an index nothing while the item's key in it stays,
//! one write when it enters or leaves, two when its key moves (the bench
//! follows every item's index keys request by request from a scan before
//! each measured event).
//! Stream reads by Lambda are free and not counted.

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use waymark_core::analytics::field;
use waymark_scenarios::proxy::{Record, Records, start as proxy};
use waymark_scenarios::{CHECKOUT, CUSTOMER, ORDER, Stack};

/// DynamoDB's item size: attribute names plus values.
fn value_size(v: &Value) -> usize {
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, str::len),
        "N" => inner.as_str().map_or(1, |n| n.len().div_ceil(2) + 1),
        "B" => inner.as_str().map_or(0, |b| b.len() * 3 / 4),
        "BOOL" | "NULL" => 1,
        "L" => {
            3 + inner
                .as_array()
                .map_or(0, |l| l.iter().map(|x| value_size(x) + 1).sum())
        }
        "M" => 3 + item_size(inner),
        _ => inner.as_array().map_or(0, |l| {
            l.iter().map(|x| x.as_str().map_or(0, str::len)).sum()
        }),
    }
}

fn item_size(item: &Value) -> usize {
    item.as_object()
        .map_or(0, |o| o.iter().map(|(k, v)| k.len() + value_size(v)).sum())
}

fn key_of(v: &Value) -> String {
    format!(
        "{}|{}",
        v["PK"]["S"].as_str().unwrap_or(""),
        v["SK"]["S"].as_str().unwrap_or("")
    )
}

fn kb(size: usize, unit: usize) -> f64 {
    (size.max(1).div_ceil(unit)) as f64
}

#[derive(Default, Debug)]
struct Cost {
    requests: BTreeMap<String, u32>,
    rcu: f64,
    /// Reads of the due and idle indexes: what every tick and sweep costs
    /// however many contacts are due (the bill counts them per tick).
    index_rcu: f64,
    wcu: f64,
    index_wcu: f64,
    /// Of `wcu`: the results' counters and the receipts that make a count
    /// once, and the facts those writes counted (each `ADD` of a measure;
    /// a revenue amount rides with its order and is not a fact of its own).
    counter_wcu: f64,
    counted_facts: f64,
}

/// Who made a request, from what it touches.
/// Which function made a request: the SDK app name each function's client
/// carries in its user agent.
fn function_of(r: &Record) -> &'static str {
    match r.app() {
        Some("ingest") => "ingest",
        Some("process") => "process",
        Some("timer") => "timer",
        Some("fanout") => "fanout",
        Some("sweep") => "sweep",
        Some("dispatch") => "dispatch",
        Some("preferences") => "preferences",
        Some("feedback") => "feedback",
        _ => "harness",
    }
}

/// An item's keys in the two KEYS_ONLY indexes: (shard, sort key).
#[derive(Debug, Clone, Default, PartialEq)]
struct IndexKeys {
    due: Option<(String, String)>,
    idle: Option<(String, String)>,
}

/// Every item's index keys, as the table holds them.
type Index = HashMap<String, IndexKeys>;

fn index_keys(item: &Value) -> IndexKeys {
    let pair = |shard: &str, key: &str, kind: &str| {
        Some((
            item[shard]["S"].as_str()?.to_string(),
            item[key][kind].as_str()?.to_string(),
        ))
    };
    IndexKeys {
        due: pair("due_shard", "due_at", "N"),
        idle: pair("idle_shard", "idle_key", "S"),
    }
}

/// What a KEYS_ONLY index bills for one item going from `old` to `new`:
/// nothing when its key stays (or it stays out), one write to add or
/// remove it, two when its key moves.
fn moves(old: &Option<(String, String)>, new: &Option<(String, String)>) -> f64 {
    match (old, new) {
        (None, None) => 0.0,
        (Some(a), Some(b)) if a == b => 0.0,
        (Some(_), Some(_)) => 2.0,
        _ => 1.0,
    }
}

/// The index writes of one item write, and the index as it leaves it.
fn index_writes(index: &mut Index, key: String, new: Option<IndexKeys>) -> f64 {
    let old = index.remove(&key).unwrap_or_default();
    let after = new.clone().unwrap_or_default();
    let writes = moves(&old.due, &after.due) + moves(&old.idle, &after.idle);
    if writes > 0.0 && std::env::var_os("DDB_COST_DETAIL").is_some() {
        println!(
            "      index {key}: due {:?} → {:?}, idle {:?} → {:?}",
            old.due, after.due, old.idle, after.idle
        );
    }
    if let Some(new) = new {
        index.insert(key, new);
    }
    writes
}

/// An update's effect on the due index key (the only one updates touch):
/// `SET due_at = :v` (and `due_shard = :s`) moves it, `REMOVE … due_at`
/// takes it out.
fn updated(old: &IndexKeys, request: &Value) -> IndexKeys {
    let expr = request["UpdateExpression"].as_str().unwrap_or("");
    let values = &request["ExpressionAttributeValues"];
    let (set, remove) = expr.split_once("REMOVE").unwrap_or((expr, ""));
    let value_of = |name: &str| -> Option<String> {
        let at = set.find(&format!("{name} = :"))? + name.len() + 3;
        let placeholder: String = set[at..]
            .chars()
            .take_while(|c| *c == ':' || c.is_alphanumeric() || *c == '_')
            .collect();
        let v = &values[placeholder.as_str()];
        v["N"].as_str().or(v["S"].as_str()).map(str::to_string)
    };
    let mut new = old.clone();
    if remove.contains("due_at") {
        new.due = None;
    } else if let Some(at) = value_of("due_at") {
        let shard = value_of("due_shard")
            .or_else(|| old.due.as_ref().map(|d| d.0.clone()))
            .unwrap_or_default();
        new.due = Some((shard, at));
    }
    new
}

/// `DDB_COST_DETAIL=1` prints every write with its units (stderr): which
/// kind of item (the key's type letter and sort key) costs what.
fn detail(function: &str, op: &str, key: &str, units: f64) {
    detail_of(function, op, key, units, "WCU");
}

/// A read's line in the detail: the item or partition it read, how
/// (strong, eventual) and what it cost.
fn detail_read(function: &str, r: &Record, units: f64) {
    let strong = r.request["ConsistentRead"].as_bool() == Some(true);
    let op = format!("{} {}", r.op, if strong { "strong" } else { "eventual" });
    let key = if r.op == "GetItem" {
        key_of(&r.request["Key"])
    } else {
        r.request["ExpressionAttributeValues"][":pk"]["S"]
            .as_str()
            .unwrap_or("?")
            .to_string()
    };
    detail_of(function, &op, &key, units, "RCU");
}

fn detail_of(function: &str, op: &str, key: &str, units: f64, unit: &str) {
    static ON: OnceLock<bool> = OnceLock::new();
    if !*ON.get_or_init(|| std::env::var_os("DDB_COST_DETAIL").is_some()) {
        return;
    }
    let (pk, sk) = key.split_once('|').unwrap_or((key, ""));
    let kind = pk.split('#').nth(2).unwrap_or("?");
    let sk: String = sk.chars().take(40).collect();
    eprintln!("    {function:<9} {op:<26} {kind:>2} {sk:<40} {units:>4} {unit}");
}

/// The item kind of a key (`S#<shop>#<kind>#…`): `N` a counter, `W` a
/// receipt.
fn kind_of(key: &str) -> &str {
    key.split('#').nth(2).unwrap_or("?")
}

/// Facts an update counts: its `ADD` terms, revenue amounts left out.
fn facts_of(update: &Value) -> f64 {
    let expr = update["UpdateExpression"].as_str().unwrap_or("");
    let Some((_, adds)) = expr.split_once("ADD ") else {
        return 0.0;
    };
    let names = &update["ExpressionAttributeNames"];
    let values = &update["ExpressionAttributeValues"];
    // A term adds its value: one counter write may take in many facts (a
    // batch's, off the stream).
    adds.split(',')
        .filter_map(|term| {
            let mut parts = term.split_whitespace();
            Some((parts.next()?, parts.next()?))
        })
        .map(|(name, value)| (names[name].as_str().unwrap_or(name), value))
        .filter(|(field, _)| !field.contains("revenue"))
        .map(|(_, value)| {
            values[value]["N"]
                .as_str()
                .and_then(|n| n.parse::<f64>().ok())
                .map_or(1.0, f64::abs)
        })
        .sum()
}

/// Books a write on a counter or a receipt as the results' cost.
fn counting(c: &mut Cost, key: &str, units: f64, update: Option<&Value>) {
    match kind_of(key) {
        "N" => {
            c.counter_wcu += units;
            c.counted_facts += update.map_or(0.0, facts_of);
        }
        "W" => c.counter_wcu += units,
        _ => {}
    }
}

fn cost(
    records: &[Record],
    sizes: &HashMap<String, usize>,
    index: &mut Index,
) -> BTreeMap<&'static str, Cost> {
    let mut by: BTreeMap<&'static str, Cost> = BTreeMap::new();
    let size_of = |key: &str| sizes.get(key).copied().unwrap_or(200);
    for r in records {
        let c = by.entry(function_of(r)).or_default();
        *c.requests.entry(r.op.clone()).or_default() += 1;
        let strong = r.request["ConsistentRead"].as_bool() == Some(true);
        let read_factor = if strong { 1.0 } else { 0.5 };
        match r.op.as_str() {
            "PutItem" => {
                let item = &r.request["Item"];
                c.wcu += kb(item_size(item), 1024);
                counting(c, &key_of(item), kb(item_size(item), 1024), None);
                detail(
                    function_of(r),
                    "PutItem",
                    &key_of(item),
                    kb(item_size(item), 1024),
                );
                c.index_wcu += index_writes(index, key_of(item), Some(index_keys(item)));
            }
            "UpdateItem" | "DeleteItem" => {
                let key = key_of(&r.request["Key"]);
                c.wcu += kb(size_of(&key), 1024);
                counting(
                    c,
                    &key,
                    kb(size_of(&key), 1024),
                    (r.op == "UpdateItem").then_some(&r.request),
                );
                detail(function_of(r), &r.op, &key, kb(size_of(&key), 1024));
                let new = (r.op == "UpdateItem")
                    .then(|| updated(&index.get(&key).cloned().unwrap_or_default(), &r.request));
                c.index_wcu += index_writes(index, key, new);
            }
            "GetItem" => {
                let units = kb(item_size(&r.response["Item"]), 4096) * read_factor;
                c.rcu += units;
                detail_read(function_of(r), r, units);
            }
            "Query" | "Scan" => {
                let total: usize = r.response["Items"]
                    .as_array()
                    .map_or(0, |i| i.iter().map(item_size).sum());
                if r.request.get("IndexName").is_some() {
                    c.index_rcu += kb(total, 4096) * read_factor;
                } else {
                    c.rcu += kb(total, 4096) * read_factor;
                    detail_read(function_of(r), r, kb(total, 4096) * read_factor);
                }
            }
            "TransactWriteItems" => {
                for t in r.request["TransactItems"].as_array().into_iter().flatten() {
                    if let Some(put) = t.get("Put") {
                        let item = &put["Item"];
                        c.wcu += 2.0 * kb(item_size(item), 1024);
                        counting(c, &key_of(item), 2.0 * kb(item_size(item), 1024), None);
                        detail(
                            function_of(r),
                            "Transact Put",
                            &key_of(item),
                            2.0 * kb(item_size(item), 1024),
                        );
                        c.index_wcu += index_writes(index, key_of(item), Some(index_keys(item)));
                    } else if let Some(op) = t.get("Update").or(t.get("Delete")) {
                        let key = key_of(&op["Key"]);
                        c.wcu += 2.0 * kb(size_of(&key), 1024);
                        counting(c, &key, 2.0 * kb(size_of(&key), 1024), t.get("Update"));
                        let what = if t.get("Update").is_some() {
                            "Transact Update"
                        } else {
                            "Transact Delete"
                        };
                        detail(function_of(r), what, &key, 2.0 * kb(size_of(&key), 1024));
                        let new = t
                            .get("Update")
                            .map(|u| updated(&index.get(&key).cloned().unwrap_or_default(), u));
                        c.index_wcu += index_writes(index, key, new);
                    } else if let Some(check) = t.get("ConditionCheck") {
                        // Billed as a write of the item, twice, like the
                        // transaction's other items (measured on DynamoDB
                        // by others; the documentation does not say). No
                        // adapter makes one today.
                        c.wcu += 2.0 * kb(size_of(&key_of(&check["Key"])), 1024);
                    }
                }
            }
            "BatchWriteItem" => {
                for reqs in r.request["RequestItems"]
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.values())
                {
                    for w in reqs.as_array().into_iter().flatten() {
                        c.wcu += match (&w["PutRequest"], &w["DeleteRequest"]) {
                            (Value::Object(p), _) => kb(item_size(&Value::Object(p.clone())), 1024),
                            (_, d) => kb(size_of(&key_of(&d["Key"])), 1024),
                        };
                    }
                }
            }
            _ => {}
        }
    }
    by
}

async fn table_sizes(stack: &Stack) -> HashMap<String, usize> {
    scan(stack).await.0
}

/// The index as the table holds it now: where the next measured event
/// starts from.
async fn mark(stack: &Stack, records: &Records) {
    *BEFORE.lock().unwrap() = Some(scan(stack).await.1);
    // The scan itself is the bench's, not the event's.
    records.lock().unwrap().clear();
}

/// The index keys before the event being measured.
static BEFORE: std::sync::Mutex<Option<Index>> = std::sync::Mutex::new(None);

/// Every item's size and index keys.
async fn scan(stack: &Stack) -> (HashMap<String, usize>, Index) {
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    // Every page: an aged table is well past one scan page (1 MB).
    let items: Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> = ddb
        .scan()
        .table_name(&stack.table)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    items
        .iter()
        .map(|i| {
            let text = |k: &str| {
                i.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            let as_json: serde_json::Map<String, Value> = i
                .iter()
                .map(|(k, v)| {
                    let j = match v {
                        aws_sdk_dynamodb::types::AttributeValue::S(s) => json!({"S": s}),
                        aws_sdk_dynamodb::types::AttributeValue::N(n) => json!({"N": n}),
                        aws_sdk_dynamodb::types::AttributeValue::Bool(b) => json!({"BOOL": b}),
                        aws_sdk_dynamodb::types::AttributeValue::B(b) => {
                            json!({"S": "x".repeat(b.as_ref().len())})
                        }
                        _ => json!({"NULL": true}),
                    };
                    (k.clone(), j)
                })
                .collect();
            let key = format!("{}|{}", text("PK"), text("SK"));
            let object = Value::Object(as_json);
            (
                (key.clone(), item_size(&object)),
                (key, index_keys(&object)),
            )
        })
        .unzip()
}

fn report(name: &str, by: &BTreeMap<&'static str, Cost>) {
    let (mut r, mut w, mut i, mut n) = (0.0, 0.0, 0.0, 0);
    println!("{name}");
    for (f, c) in by {
        let ops: Vec<String> = c
            .requests
            .iter()
            .map(|(op, k)| format!("{k}× {op}"))
            .collect();
        let count: u32 = c.requests.values().sum();
        println!(
            "  {f:<9} {count:>2} requests ({}): {:.1} RCU, {:.0} WCU + {:.0} index WCU",
            ops.join(", "),
            c.rcu + c.index_rcu,
            c.wcu,
            c.index_wcu
        );
        r += c.rcu + c.index_rcu;
        w += c.wcu;
        i += c.index_wcu;
        n += count;
    }
    println!(
        "  {:<9} {n:>2} requests: {r:.1} RCU, {:.0} WCU (table {w:.0} + indexes {i:.0})",
        "total",
        w + i
    );
}

/// Reports the requests recorded since the last call, by function.
async fn finish(stack: &Stack, records: &Records, name: &str) {
    report(name, &take(stack, records).await);
}

/// Totals over every function of one measured event.
fn totals(by: &BTreeMap<&'static str, Cost>, only: Option<&str>) -> (u32, f64, f64) {
    by.iter()
        .filter(|(f, _)| only.is_none_or(|o| o == **f))
        .fold((0, 0.0, 0.0), |(n, r, w), (_, c)| {
            (
                n + c.requests.values().sum::<u32>(),
                r + c.rcu,
                w + c.wcu + c.index_wcu,
            )
        })
}

/// The requests recorded since the last call, by function.
async fn take(stack: &Stack, records: &Records) -> BTreeMap<&'static str, Cost> {
    let taken: Vec<Record> = records.lock().unwrap().drain(..).collect();
    let (sizes, after) = scan(stack).await;
    records.lock().unwrap().clear();
    let mut before = BEFORE.lock().unwrap().take().unwrap_or_default();
    let by = cost(&taken, &sizes, &mut before);
    *BEFORE.lock().unwrap() = Some(after);
    by
}

/// One measured figure: printed as a table row, or as a JSON line.
struct Figure {
    event: &'static str,
    age_days: u32,
    requests: u32,
    rcu: f64,
    wcu: f64,
    /// Of `wcu`, the counters' and receipts' writes, and the facts counted.
    counter_wcu: f64,
    counted_facts: f64,
}

impl Figure {
    /// The figure of the functions `keep` selects.
    fn of(
        event: &'static str,
        age_days: u32,
        by: &BTreeMap<&'static str, Cost>,
        keep: impl Fn(&str) -> bool,
    ) -> Self {
        let mut f = Figure {
            event,
            age_days,
            requests: 0,
            rcu: 0.0,
            wcu: 0.0,
            counter_wcu: 0.0,
            counted_facts: 0.0,
        };
        for (_, c) in by.iter().filter(|(function, _)| keep(function)) {
            f.requests += c.requests.values().sum::<u32>();
            f.rcu += c.rcu;
            f.wcu += c.wcu + c.index_wcu;
            f.counter_wcu += c.counter_wcu;
            f.counted_facts += c.counted_facts;
        }
        f
    }

    /// The mean of several figures of one kind.
    fn mean(event: &'static str, age_days: u32, all: &[Figure]) -> Self {
        let n = all.len().max(1) as f64;
        let sum = |get: fn(&Figure) -> f64| all.iter().map(get).sum::<f64>() / n;
        Figure {
            event,
            age_days,
            requests: (all.iter().map(|f| f64::from(f.requests)).sum::<f64>() / n).round() as u32,
            rcu: sum(|f| f.rcu),
            wcu: sum(|f| f.wcu),
            counter_wcu: sum(|f| f.counter_wcu),
            counted_facts: sum(|f| f.counted_facts),
        }
    }
}

/// Everything but the sends: an email is billed in its own line.
fn not_dispatch(function: &str) -> bool {
    function != "dispatch"
}

/// What a timer firing costs: the timer's and the processor's writes (its
/// emails are billed in their own line, and the daily sweep's cursor is
/// the table's, not a contact's).
fn firing(function: &str) -> bool {
    function != "dispatch" && function != "sweep"
}

/// Days of ticks and views before each age whose means are their figures.
const TICK_DAYS: u32 = 30;

fn product_view(id: &str, at: jiff::Timestamp, product: u32) -> Value {
    json!([{"type": "product_viewed", "id": id, "anonymous_id": "anon-ana", "at": at.to_string(),
            "email": "ana.silva@example.com",
            "product": {"id": product, "title": format!("Product {product}"),
                        "category": "Scarves", "price": "39.90", "currency": "EUR",
                        "url": format!("https://demo-store.example/products/p{product}")}}])
}

/// A storefront product view, which must be taken (a refused batch would
/// measure nothing).
async fn view(stack: &mut Stack, id: &str, at: jiff::Timestamp, product: u32) {
    let (status, body) = stack.track(product_view(id, at, product)).await.unwrap();
    assert_eq!(status, 200, "{body}");
}

fn checkout(n: u32, at: jiff::Timestamp) -> String {
    let mut c: Value = serde_json::from_str(CHECKOUT).unwrap();
    c["id"] = json!(35_471_023_456_789u64 + u64::from(n));
    c["token"] = json!(format!("tok{n:029}"));
    c["created_at"] = json!(at.to_string());
    c["updated_at"] = json!(at.to_string());
    c.to_string()
}

const MINUTES_10: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// Checkout `n` (created at `created`) as its update at `at`: one more item.
fn checkout_updated(n: u32, created: jiff::Timestamp, at: jiff::Timestamp) -> String {
    let mut c: Value = serde_json::from_str(&checkout(n, created)).unwrap();
    c["updated_at"] = json!(at.to_string());
    if let Some(items) = c["line_items"].as_array_mut()
        && let Some(first) = items.first().cloned()
    {
        items.push(first);
    }
    c.to_string()
}

/// The customer's record as edited at `at` (a new note and tag).
fn customer_updated(n: u32, at: jiff::Timestamp) -> String {
    let mut c: Value = serde_json::from_str(CUSTOMER).unwrap();
    c["updated_at"] = json!(at.to_string());
    c["note"] = json!(format!("edit {n}"));
    c.to_string()
}

fn order(n: u32, at: jiff::Timestamp) -> String {
    let mut o: Value = serde_json::from_str(ORDER).unwrap();
    o["id"] = json!(6_123_456_789_012u64 + u64::from(n));
    o["name"] = json!(format!("#{}", 1000 + n));
    o["checkout_token"] = json!(format!("tok{n:029}"));
    o["created_at"] = json!(at.to_string());
    o["processed_at"] = json!(at.to_string());
    o["updated_at"] = json!(at.to_string());
    o.to_string()
}

/// An SES event about one of Ana's messages: `eventType`, EventBridge's
/// detail type, and the event's own part (`delivery`, `open`…).
fn ses_about(
    event_type: &str,
    detail_type: &str,
    id: String,
    (message, journey): (&str, &str),
    at: jiff::Timestamp,
    own: Value,
) -> Value {
    let mut event = json!({
        "version": "0", "id": id, "detail-type": detail_type,
        "source": "aws.ses", "time": at.to_string(),
        "detail": {"eventType": event_type,
            "mail": {"timestamp": at.to_string(), "messageId": format!("ses-{message}"),
                     "destination": ["ana.silva@example.com"],
                     "tags": {"waymark_shop": ["demo_myshopify_com"], "waymark_message": [message],
                              "waymark_journey": [journey], "waymark_version": ["1"]}}}
    });
    event["detail"][event_type.to_lowercase()] = own;
    event
}

fn delivery_event(message: &str, journey: &str, at: jiff::Timestamp) -> Value {
    ses_about(
        "Delivery",
        "Email Delivered",
        format!("delivery-{message}"),
        (message, journey),
        at,
        json!({"timestamp": at.to_string(), "recipients": ["ana.silva@example.com"]}),
    )
}

fn open_event(message: &str, journey: &str, at: jiff::Timestamp) -> Value {
    ses_about(
        "Open",
        "Email Opened",
        format!("open-{message}-{at}"),
        (message, journey),
        at,
        json!({"timestamp": at.to_string(),
               "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"}),
    )
}

/// The newest email Ana was sent: (message id, journey).
async fn newest_email(stack: &Stack) -> Option<(String, String)> {
    let sent = stack.sent().await.ok()?;
    let m = sent.last()?;
    let header = m.header("X-Waymark-Message")?;
    let message = header.split(';').next()?.trim().to_string();
    let journey = header
        .split("journey=")
        .nth(1)?
        .split(';')
        .next()?
        .trim()
        .to_string();
    Some((message, journey))
}

/// A local stack on moto behind the recording proxy, and what it records.
async fn recorded_stack() -> (Stack, Records) {
    let records: Records = Arc::default();
    let upstream: Arc<OnceLock<String>> = Arc::default();
    let via = proxy(records.clone(), upstream.clone()).await;
    let stack = Stack::start_via(|moto| {
        upstream.set(moto.to_string()).expect("set once");
        via.clone()
    })
    .await
    .expect("local stack on moto");
    (stack, records)
}

/// One contact through a year of light, realistic activity (three
/// storefront views a day, a checkout and an order every six weeks, an
/// open a week, the daily tick), each event kind measured when the contact
/// is new and at 60, 150 and 365 days.
async fn aged(json_lines: bool) -> Vec<Figure> {
    let (mut stack, records) = recorded_stack().await;
    let day0: jiff::Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
    let at =
        |day: u32, hour: i64| day0 + jiff::SignedDuration::from_hours(24 * i64::from(day) + hour);
    stack
        .webhook("customers/create", "c-aged", CUSTOMER)
        .await
        .unwrap();
    records.lock().unwrap().clear();
    let mut figures = Vec::new();
    let mut seq = 0u32;
    let mut day = 0u32;
    for age in ages() {
        // The last days' ticks and views: their figures are the means (a
        // view now and then moves the contact's older event ids out, a
        // tick now and then fires a journey's step).
        let mut ticks = Vec::new();
        let mut views = Vec::new();
        // Live up to this age.
        while day < age {
            day += 1;
            for v in 0..3 {
                seq += 1;
                let recent = day + TICK_DAYS > age;
                if recent {
                    mark(&stack, &records).await;
                }
                view(&mut stack, &format!("v{seq}"), at(day, 2 + 3 * v), seq % 40).await;
                if recent {
                    let by = take(&stack, &records).await;
                    views.push(Figure::of("page_view", age, &by, |_| true));
                }
            }
            if day.is_multiple_of(42) {
                seq += 1;
                stack
                    .webhook(
                        "checkouts/create",
                        &format!("k{seq}"),
                        &checkout(seq, at(day, 9)),
                    )
                    .await
                    .unwrap();
                stack
                    .webhook(
                        "orders/create",
                        &format!("o{seq}"),
                        &order(seq, at(day, 10)),
                    )
                    .await
                    .unwrap();
            }
            if day.is_multiple_of(7)
                && let Some((message, journey)) = newest_email(&stack).await
            {
                stack
                    .ses_event(open_event(&message, &journey, at(day, 11)))
                    .await
                    .unwrap();
            }
            if day + TICK_DAYS > age {
                mark(&stack, &records).await;
                stack.tick(&at(day, 12).to_string()).await.unwrap();
                let by = take(&stack, &records).await;
                ticks.push(Figure::of("tick", age, &by, firing));
            } else {
                stack.tick(&at(day, 12).to_string()).await.unwrap();
            }
            records.lock().unwrap().clear();
        }
        // Measure each kind once at this age, from the index as it is.
        mark(&stack, &records).await;
        let measure =
            |figures: &mut Vec<Figure>, event: &'static str, by: &BTreeMap<&'static str, Cost>| {
                figures.push(Figure::of(event, age, by, |_| true));
            };
        seq += 1;
        view(&mut stack, &format!("m{seq}"), at(day, 13), 7).await;
        views.push(Figure::of(
            "page_view",
            age,
            &take(&stack, &records).await,
            |_| true,
        ));
        figures.push(Figure::mean("page_view", age, &views));
        seq += 1;
        let n = seq;
        stack
            .webhook(
                "checkouts/create",
                &format!("mk{n}"),
                &checkout(n, at(day, 14)),
            )
            .await
            .unwrap();
        measure(
            &mut figures,
            "checkouts_create",
            &take(&stack, &records).await,
        );
        // The other webhooks a store sends most: the same checkout updated
        // (a changed cart), and the customer's record edited.
        stack
            .webhook(
                "checkouts/update",
                &format!("mu{n}"),
                &checkout_updated(n, at(day, 14), at(day, 14) + MINUTES_10),
            )
            .await
            .unwrap();
        measure(
            &mut figures,
            "checkouts_update",
            &take(&stack, &records).await,
        );
        stack
            .webhook(
                "customers/update",
                &format!("mc{n}"),
                &customer_updated(n, at(day, 14) + MINUTES_10),
            )
            .await
            .unwrap();
        measure(
            &mut figures,
            "customers_update",
            &take(&stack, &records).await,
        );
        stack
            .webhook("orders/create", &format!("mo{n}"), &order(n, at(day, 15)))
            .await
            .unwrap();
        let by = take(&stack, &records).await;
        figures.push(Figure::of("orders_create", age, &by, not_dispatch));
        figures.push(Figure::of("email_sent", age, &by, |f| f == "dispatch"));
        if let Some((message, journey)) = newest_email(&stack).await {
            // SES reports each email's delivery: counted once per message.
            stack
                .ses_event(delivery_event(&message, &journey, at(day, 15)))
                .await
                .unwrap();
            measure(
                &mut figures,
                "email_delivered",
                &take(&stack, &records).await,
            );
            stack
                .ses_event(open_event(&message, &journey, at(day, 16)))
                .await
                .unwrap();
            measure(&mut figures, "email_open", &take(&stack, &records).await);
        }
        day += 1;
        stack.tick(&at(day, 12).to_string()).await.unwrap();
        let by = take(&stack, &records).await;
        // The tick's figure: the mean of the last days' ticks (an email they
        // queue is billed in its own line).
        ticks.push(Figure::of("tick", age, &by, firing));
        // A firing is a tick that did something for the contact; the others
        // cost only the due index's reads, billed per tick below.
        ticks.retain(|f| f.wcu > 0.0);
        let mut all_ticks = TICK_DAYS.min(age) as usize + 1;
        // None in the window (a new contact): the next days' ticks until
        // one fires (the contact ages by those days).
        while ticks.is_empty() && all_ticks < 2 * TICK_DAYS as usize {
            day += 1;
            all_ticks += 1;
            mark(&stack, &records).await;
            stack.tick(&at(day, 12).to_string()).await.unwrap();
            let by = take(&stack, &records).await;
            ticks.push(Figure::of("tick", age, &by, firing));
            ticks.retain(|f| f.wcu > 0.0);
        }
        let tick = Figure::mean("tick", age, &ticks);
        if !json_lines {
            let max = |all: &[Figure]| all.iter().map(|f| f.wcu).fold(0.0, f64::max);
            let mean = |all: &[Figure]| Figure::mean("", age, all).wcu;
            println!(
                "  aged {age} days: {} of {all_ticks} daily ticks fired something, {:.1} WCU on average, {:.0} at most; {} page views, {:.1} WCU on average, {:.0} at most",
                ticks.len(),
                tick.wcu,
                max(&ticks),
                views.len(),
                mean(&views),
                max(&views)
            );
        }
        figures.push(tick);
        // The due-index reads every tick makes whoever is due: a fixed cost
        // per tick, billed apart.
        figures.push(Figure {
            rcu: by.values().map(|c| c.index_rcu).sum(),
            ..Figure::mean("tick_index_reads", age, &[])
        });
        if std::env::var_os("DDB_COST_DETAIL").is_some() && !json_lines {
            hot_fields(&stack).await;
        }
        let size = contact_size(&stack).await;
        if !json_lines {
            println!(
                "  aged {age} days: the contact's partition holds {} items, {} KB ({})",
                size.0,
                size.1 / 1024,
                size.2
            );
        }
    }
    figures
}

/// The ages measured: `--ages 0,60` (days) for a quicker run; by default
/// new, 60, 150 and 365 days.
fn ages() -> Vec<u32> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--ages")
        .and_then(|i| args.get(i + 1))
        .map(|list| {
            list.split(',')
                .map(|a| a.trim().parse().expect("--ages takes days, e.g. 0,60"))
                .collect()
        })
        .unwrap_or_else(|| vec![0, 60, 150, 365])
}

/// What the contact's hot item holds, field by field (JSON bytes before
/// the document is deflated), largest first.
async fn hot_fields(stack: &Stack) {
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let out = ddb
        .get_item()
        .table_name(&stack.table)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(
                "S#demo.myshopify.com#C#cust-7012345678901".into(),
            ),
        )
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("C".into()))
        .send()
        .await
        .unwrap();
    let Some(item) = out.item else { return };
    let Some(doc) = item.get("doc") else { return };
    let value: Value = waymark_aws::doc::decode(doc).unwrap();
    let mut fields: Vec<(usize, String)> = value
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(k, v)| match v.as_object() {
            Some(inner) => inner
                .iter()
                .map(|(k2, v2)| (v2.to_string().len(), format!("{k}.{k2}")))
                .collect::<Vec<_>>(),
            None => vec![(v.to_string().len(), k.clone())],
        })
        .collect();
    fields.sort_by(|a, b| b.cmp(a));
    let stored = match doc {
        aws_sdk_dynamodb::types::AttributeValue::B(b) => b.as_ref().len(),
        other => format!("{other:?}").len(),
    };
    println!(
        "      hot item: doc {stored} bytes stored, {} as JSON; {}",
        value.to_string().len(),
        fields
            .iter()
            .take(12)
            .map(|(n, k)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Items in Ana's partition and their total size.
async fn contact_size(stack: &Stack) -> (usize, usize, String) {
    let sizes = table_sizes(stack).await;
    let mine: Vec<(&str, usize)> = sizes
        .iter()
        .filter(|(k, _)| k.starts_with("S#demo.myshopify.com#C#"))
        .map(|(k, v)| (k.split_once('|').map_or("", |(_, sk)| sk), *v))
        .collect();
    // What the partition holds, by kind of item: the hot profile, its
    // parts and runs, which an ordinary load reads, and the ended runs kept
    // for their messages, which only opens, clicks, orders, merges and
    // privacy requests read.
    let mut kinds: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (sk, size) in &mine {
        let kind = match *sk {
            "C" => "hot profile",
            "C#L" => "lists",
            "C#E" => "older event ids",
            sk if sk.starts_with("T#E#") => "older event ids (not loaded)",
            sk if sk.starts_with("C#A") => "older activity",
            sk if sk.starts_with("R#") => "runs",
            sk if sk.starts_with("S#") => "ended runs kept (not loaded)",
            _ => "other",
        };
        let e = kinds.entry(kind).or_default();
        e.0 += 1;
        e.1 += size;
    }
    let parts = kinds
        .iter()
        .map(|(k, (n, b))| format!("{k} {n} × {:.1} KB", *b as f64 / 1024.0 / *n as f64))
        .collect::<Vec<_>>()
        .join(", ");
    (mine.len(), mine.iter().map(|(_, v)| v).sum(), parts)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--json") {
        for f in aged(true).await {
            println!(
                "{}",
                json!({"event": f.event, "age_days": f.age_days, "requests": f.requests,
                       "rcu": f.rcu, "wcu": f.wcu})
            );
        }
        return;
    }
    let (mut stack, records) = recorded_stack().await;
    // Apart (a minute on moto).
    if std::env::args().any(|a| a == "--report") {
        let (requests, rcu) = report_reads(&mut stack, &records).await;
        println!(
            "a 90-day report over {REPORT_JOURNEYS} journeys ({REPORT_STEPS} steps each, every row written every day, each counter item carrying the marks of {REPORT_STREAM_SHARDS} stream shards): {requests} requests, {rcu:.0} RCU (the goal: at most 2,000)"
        );
        return;
    }
    // Apart: the counters' cost per fact, each event in a window of its
    // own and a store's five minutes in one window.
    if std::env::args().any(|a| a == "--window") {
        drop(stack);
        windows().await;
        return;
    }
    // Apart: one campaign recipient alone (a subscriber, then the send).
    if std::env::args().any(|a| a == "--campaign") {
        stack
            .webhook("customers/create", "c1", CUSTOMER)
            .await
            .unwrap();
        stack.tick("2026-11-30T00:00:00Z").await.unwrap();
        records.lock().unwrap().clear();
        mark(&stack, &records).await;
        campaign_recipient(&mut stack, &records, 1).await;
        drop(stack);
        campaign_recipients(CAMPAIGN_RECIPIENTS).await;
        return;
    }
    println!(
        "DynamoDB cost of one event through the real adapters (moto behind a recording proxy):"
    );
    records.lock().unwrap().clear();
    mark(&stack, &records).await;
    stack
        .webhook("customers/create", "c1", CUSTOMER)
        .await
        .unwrap();
    finish(
        &stack,
        &records,
        "customers/create, a new subscriber (welcome email queued and sent)",
    )
    .await;
    stack
        .webhook("checkouts/create", "k1", CHECKOUT)
        .await
        .unwrap();
    finish(
        &stack,
        &records,
        "checkouts/create for that contact (abandoned-checkout run, a wait in the due index)",
    )
    .await;
    stack
        .track(
            json!([{"type": "page_viewed", "id": "p1", "anonymous_id": "anon-1",
                        "email": "ana.silva@example.com", "page_type": "pricing",
                        "at": "2026-11-23T10:10:00Z"}]),
        )
        .await
        .unwrap();
    finish(
        &stack,
        &records,
        "a storefront page view by that contact (POST /track; profile, score, segments)",
    )
    .await;
    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    finish(&stack, &records, "the tick an hour later (timer reads the due shards and fires the wait — the reminder is held by the frequency cap; the first sweep reads its idle shards)").await;
    let open: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/feedback-open.json"
        ))
        .unwrap(),
    )
    .unwrap();
    stack.ses_event(open).await.unwrap();
    finish(
        &stack,
        &records,
        "an SES open (feedback: the open counted once per message with its receipt; process: the engagement event)",
    )
    .await;
    stack.webhook("orders/create", "o1", ORDER).await.unwrap();
    finish(
        &stack,
        &records,
        "orders/create (goal: the checkout run converts; order follow-up starts)",
    )
    .await;
    campaign_recipient(&mut stack, &records, 1).await;
    sweep_on_moto(&mut stack).await;
    println!(
        "One contact as it ages (3 storefront views a day, an order every 6 weeks, an open a week, the daily tick); each event kind, all functions, index writes included:"
    );
    let figures = aged(false).await;
    println!(
        "  {:<17} {:>8} {:>8} {:>8} {:>8}",
        "event", "new", "60 d", "150 d", "365 d"
    );
    for event in [
        "page_view",
        "checkouts_create",
        "checkouts_update",
        "customers_update",
        "orders_create",
        "email_sent",
        "email_delivered",
        "email_open",
        "tick",
    ] {
        let cell = |age: u32| {
            figures
                .iter()
                .find(|f| f.event == event && f.age_days == age)
                .map_or("—".to_string(), |f| {
                    if f.wcu.fract() == 0.0 {
                        format!("{:.0}/{:.1}", f.wcu, f.rcu)
                    } else {
                        format!("{:.1}/{:.1}", f.wcu, f.rcu)
                    }
                })
        };
        println!(
            "  {event:<17} {:>8} {:>8} {:>8} {:>8}   (WCU/RCU)",
            cell(0),
            cell(60),
            cell(150),
            cell(365)
        );
    }
    bill(&figures);
}

/// The mix, per 100 events: (event measured, how many, what it
/// stands for). The 16 other webhooks are costed as the two a store sends
/// most, half each: a checkout updated and a customer's record edited.
const MIX: [(&str, f64, &str); 7] = [
    ("page_view", 70.0, "storefront events"),
    ("checkouts_create", 10.0, "checkouts"),
    ("checkouts_update", 8.0, "other webhooks: carts"),
    ("customers_update", 8.0, "other: customers"),
    ("orders_create", 4.0, "orders"),
    ("email_open", 10.0, "SES opens and clicks"),
    ("tick", 50.0, "timer firings"),
];
/// Emails per 100 events.
const EMAILS_PER_100: f64 = 30.0;
/// The emails' lines of the bill: each sent, and SES's delivery of it.
const EMAIL_LINES: [(&str, f64, &str); 2] = [
    ("email_sent", EMAILS_PER_100, "emails sent"),
    ("email_delivered", EMAILS_PER_100, "deliveries (SES)"),
];
/// On-demand prices (us-east-1): per million write and read request units.
const WRITE_PRICE: f64 = 0.625;
const READ_PRICE: f64 = 0.125;
/// The timer runs every minute.
const TICKS_A_MONTH: f64 = 60.0 * 24.0 * 30.0;
/// SES: per 1,000 emails.
const SES_PRICE: f64 = 0.10;

/// The month's bill for the mix at each measured age, line by line, from the
/// measured units (storage left out: a few GB at 10k contacts).
fn bill(figures: &[Figure]) {
    let mut ages: Vec<u32> = figures.iter().map(|f| f.age_days).collect();
    ages.dedup();
    println!(
        "The month's bill for the mix (per 100 events: 70 storefront, 10 checkouts, 16 other webhooks, 4 orders, 10 opens/clicks, 50 timer firings; 30 emails), on-demand ${WRITE_PRICE}/M writes, ${READ_PRICE}/M reads, SES ${SES_PRICE}/1,000:"
    );
    for age in ages {
        let of = |event: &str| {
            figures
                .iter()
                .find(|f| f.event == event && f.age_days == age)
        };
        let (mut wcu, mut rcu) = (0.0, 0.0);
        let (mut counter_wcu, mut facts) = (0.0, 0.0);
        println!("  contact aged {age} days:");
        for &(event, n, what) in MIX.iter().chain(&EMAIL_LINES) {
            let Some(f) = of(event) else {
                println!("    {n:>4} {what:<22} not measured at this age");
                continue;
            };
            wcu += n * f.wcu;
            rcu += n * f.rcu;
            counter_wcu += n * f.counter_wcu;
            facts += n * f.counted_facts;
            println!(
                "    {n:>4} {what:<22} × {:>5.1} WCU {:>5.1} RCU",
                f.wcu, f.rcu
            );
        }
        println!(
            "    per event: {:.1} WCU, {:.1} RCU (emails and their deliveries included)",
            wcu / 100.0,
            rcu / 100.0
        );
        println!(
            "    the results' counters and receipts: {:.1} WCU per event, {:.2} WCU per counted fact ({:.0} facts per 100 events), each event counted in a window of its own (--window: a store's 5-minute window shares the counter writes)",
            counter_wcu / 100.0,
            counter_wcu / facts.max(1.0),
            facts
        );
        let tick_reads = of("tick_index_reads").map_or(0.0, |f| f.rcu) * TICKS_A_MONTH;
        println!(
            "    and every tick's due-index reads, whatever is due: {TICKS_A_MONTH} ticks × {:.1} RCU",
            tick_reads / TICKS_A_MONTH
        );
        for (contacts, events) in [(10_000u64, 100_000f64), (1_000_000, 10_000_000.0)] {
            let writes = wcu / 100.0 * events / 1e6 * WRITE_PRICE;
            let reads = (rcu / 100.0 * events + tick_reads) / 1e6 * READ_PRICE;
            let ses = events * EMAILS_PER_100 / 100.0 / 1000.0 * SES_PRICE;
            println!(
                "    {contacts:>9} contacts, {events:>10} events: writes ${writes:.2} + reads ${reads:.2} + SES ${ses:.2} = ${:.2} a month",
                writes + reads + ses
            );
        }
    }
}

/// One recipient of a campaign, everything included: the fan-out's page
/// read, the recipient decided and sent on its page (the email written
/// claimed, sent and marked; the decision's run), and its counts added.
async fn campaign_recipient(stack: &mut Stack, records: &Records, recipients: u32) {
    use waymark_app::ports::CampaignStore;
    use waymark_core::campaign::{Campaign, SendAt};
    let campaign = Campaign {
        id: "cost".into(),
        name: "Cost".into(),
        segments: vec!["subscribers".into()],
        exclude: vec![],
        when: Default::default(),
        template: "nurture_bestsellers".into(),
        subject: Some("This week".into()),
        preheader: None,
        topic: None,
        send_at: SendAt::Instant("2026-12-20T10:00:00Z".parse().unwrap()),
        smart_sending: Some(jiff::SignedDuration::from_hours(1)),
        utm: Default::default(),
        ab_test: None,
    };
    let shop = waymark_core::ids::ShopDomain::parse("demo.myshopify.com").unwrap();
    stack
        .store()
        .schedule(&shop, &campaign, stack.clock())
        .await
        .unwrap();
    // What is due before the send (the welcome series' waits) goes first.
    stack.tick("2026-12-20T09:59:00Z").await.unwrap();
    records.lock().unwrap().clear();
    mark(stack, records).await;
    stack.tick("2026-12-20T10:00:00Z").await.unwrap();
    let by = take(stack, records).await;
    if recipients == 1 {
        report(
            "a campaign to the `subscribers` segment, one recipient (timer: page read and handed out; fanout: the recipient decided and sent on the page (the email written claimed, then marked sent; the decision's run), page marked; process: the counts). The campaign's own writes (its saves, the page's mark) are shared by a page's 500 recipients in a real send",
            &by,
        );
        return;
    }
    report(
        &format!(
            "the same campaign to {recipients} subscribers (one page; their counts added in the send's window)"
        ),
        &by,
    );
    let (_, rcu, wcu) = totals(&by, None);
    let counters: f64 = by.values().map(|c| c.counter_wcu).sum();
    let n = f64::from(recipients);
    println!(
        "  per recipient: {:.1} WCU (of which counters {:.2}), {:.1} RCU",
        wcu / n,
        counters / n,
        rcu / n
    );
}

/// Contacts in the windowed measure: three people's activity is about
/// what `process`'s 5-minute window holds at a store of 10,000 contacts
/// (100,000 events a month: 12 in five minutes, with their emails).
const WINDOW_CONTACTS: u32 = 3;

/// `text` (a webhook or an SES event about Ana) as about person `n`: their
/// own customer id and address.
fn person(text: &str, n: u32) -> String {
    text.replace("ana.silva@example.com", &format!("ana{n}@example.com"))
        .replace(
            "7012345678901",
            &(7_012_345_678_901u64 + u64::from(n)).to_string(),
        )
}

/// The results' writes (counter items and receipts) and the facts they
/// count, for the same traffic counted two ways: each event's counts
/// added on their own (a window that closes after every event, which is
/// what a store with an event every few minutes gets), and the whole
/// traffic in one window.
async fn windows() {
    println!(
        "The results' counters per counted fact, for {WINDOW_CONTACTS} contacts' activity (each: signs up and is sent the welcome email, SES delivers it, a page view, a checkout and its update, then an order or an open of that email; then the tick that fires the checkouts' waits):"
    );
    for hold in [false, true] {
        let (mut stack, records) = recorded_stack().await;
        stack.runner.hold_windows(hold);
        records.lock().unwrap().clear();
        mark(&stack, &records).await;
        let mut events = 0;
        let t0: jiff::Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        for n in 0..WINDOW_CONTACTS {
            let at = |minute: i64| t0 + jiff::SignedDuration::from_mins(i64::from(n) + minute);
            let customer = person(CUSTOMER, n);
            stack
                .webhook("customers/create", &format!("c{n}"), &customer)
                .await
                .unwrap();
            let (message, journey) = newest_email(&stack).await.expect("the welcome email");
            let delivered = person(&delivery_event(&message, &journey, at(1)).to_string(), n);
            stack
                .ses_event(serde_json::from_str(&delivered).unwrap())
                .await
                .unwrap();
            let viewed = person(&product_view(&format!("w{n}"), at(2), n).to_string(), n)
                .replace("anon-ana", &format!("anon-{n}"));
            let (status, body) = stack
                .track(serde_json::from_str(&viewed).unwrap())
                .await
                .unwrap();
            assert_eq!(status, 200, "{body}");
            stack
                .webhook(
                    "checkouts/create",
                    &format!("k{n}"),
                    &person(&checkout(100 + n, at(3)), n),
                )
                .await
                .unwrap();
            stack
                .webhook(
                    "checkouts/update",
                    &format!("u{n}"),
                    &person(&checkout_updated(100 + n, at(3), at(4)), n),
                )
                .await
                .unwrap();
            if n % 2 == 0 {
                stack
                    .webhook(
                        "orders/create",
                        &format!("o{n}"),
                        &person(&order(100 + n, at(5)), n),
                    )
                    .await
                    .unwrap();
            } else {
                let opened = person(&open_event(&message, &journey, at(5)).to_string(), n);
                stack
                    .ses_event(serde_json::from_str(&opened).unwrap())
                    .await
                    .unwrap();
            }
            events += 6;
        }
        // The timers those events set: the abandoned checkout's wait.
        stack
            .tick(&(t0 + jiff::SignedDuration::from_mins(70)).to_string())
            .await
            .unwrap();
        events += 1;
        stack.runner.close_windows().await.unwrap();
        stack.runner.drain().await.unwrap();
        let by = take(&stack, &records).await;
        let (wcu, facts) = by.values().fold((0.0, 0.0), |(w, f), c| {
            (w + c.counter_wcu, f + c.counted_facts)
        });
        println!(
            "  {:<44} {wcu:>4.0} WCU for {facts:.0} facts ({events} events and their emails): {:.2} WCU per counted fact",
            if hold {
                "all of it in one window (5 minutes):"
            } else {
                "each event in a window of its own:"
            },
            wcu / facts.max(1.0)
        );
    }
}

/// Recipients in the measure of a campaign's per-recipient cost.
const CAMPAIGN_RECIPIENTS: u32 = 20;

/// A campaign to `n` subscribers, everything included (the campaign's own
/// writes shared among them, their counts added in the send's window), per
/// recipient.
async fn campaign_recipients(n: u32) {
    let (mut stack, records) = recorded_stack().await;
    for i in 0..n {
        stack
            .webhook("customers/create", &format!("c{i}"), &person(CUSTOMER, i))
            .await
            .unwrap();
    }
    stack.tick("2026-11-30T00:00:00Z").await.unwrap();
    records.lock().unwrap().clear();
    mark(&stack, &records).await;
    campaign_recipient(&mut stack, &records, n).await;
}

/// The sweep over a real (small) table: 150 more contacts whose last signs
/// of life are spread over 30 days (five a day); one day's sweep reads only
/// that day's crossings.
async fn sweep_on_moto(stack: &mut Stack) {
    let t0: jiff::Timestamp = "2026-10-01T00:00:00Z".parse().unwrap();
    let declined = CUSTOMER.replace("\"state\": \"subscribed\"", "\"state\": \"not_subscribed\"");
    for i in 0..150u64 {
        let at = t0 + jiff::SignedDuration::from_secs((i * 17_280) as i64);
        let body = declined
            .replace("7012345678901", &format!("{}", 8_000_000 + i))
            .replace("ana.silva@example.com", &format!("c{i}@example.com"))
            .replace("2026-11-23T04:57:40-05:00", &at.to_string());
        stack
            .webhook("customers/create", &format!("seed-{i}"), &body)
            .await
            .unwrap();
    }
    let contacts = stack.items_of("contact").await.unwrap();
    let swept = |summary: &waymark_local::runner::TickSummary| {
        summary
            .timer
            .iter()
            .find(|r| r.get("items_read").is_some())
            .cloned()
            .unwrap_or_default()
    };
    let catch_up = stack
        .runner
        .tick("2027-01-09T03:00:00Z".parse().unwrap())
        .await
        .unwrap();
    let day = stack
        .runner
        .tick("2027-01-10T03:00:00Z".parse().unwrap())
        .await
        .unwrap();
    let (a, b) = (swept(&catch_up), swept(&day));
    println!(
        "sweep on moto over {contacts} contacts: catching up {} days read {} index items ({} lapsed); the next day's run read {} ({} lapsed)",
        a["to_day"].as_i64().unwrap_or(0) - a["from_day"].as_i64().unwrap_or(0) + 1,
        a["items_read"],
        a["lapsed"],
        b["items_read"],
        b["lapsed"]
    );
}

/// The report's worst realistic case (issue 15): journeys, steps each.
const REPORT_JOURNEYS: usize = 20;
const REPORT_STEPS: usize = 8;

/// A busy day's counts on a journey's own row, each step's row and the
/// store's row.
const JOURNEY_ROW: [(&str, i64); 7] = [
    (field::ENTERED, 40),
    (field::COMPLETED, 30),
    ("exited:goal", 6),
    ("exited:unsubscribed", 1),
    (field::CONVERTED, 6),
    (field::ORDERS, 6),
    ("revenue:USD", 54_321),
];
const STEP_ROW: [(&str, i64); 8] = [
    (field::SENT, 120),
    (field::DELIVERED, 118),
    (field::OPENED, 50),
    (field::MACHINE_OPENED, 31),
    (field::CLICKED, 11),
    (field::MACHINE_CLICKED, 2),
    (field::BOUNCED, 2),
    (field::UNSUBSCRIBED, 1),
];
const STORE_ROW: [(&str, i64); 9] = [
    (field::STORE_ORDERS, 9),
    ("store_revenue:USD", 81_234),
    ("store_orders_in:USD", 9),
    (field::REPEAT_ORDERS, 3),
    (field::SUBSCRIBED, 12),
    (field::UNSUBSCRIBED, 2),
    (field::CHECKOUTS, 30),
    (field::ABANDONED, 21),
    (field::RECOVERED, 4),
];

/// Stream shards whose marks a busy counter item holds: a partition's
/// stream rolls to a new shard about every four hours, and an item keeps
/// the marks of the last 30 hours' (`store/tally.rs`). A table of several
/// partitions has that many per partition.
const REPORT_STREAM_SHARDS: i64 = 8;

/// What `waymark report --since 90d` reads over 20 journeys whose every
/// step counted something every day: the first day's counters are added
/// through the real adapter (`add_stream_counts`) from eight stream
/// shards, so each item carries the eight marks a busy day leaves; the
/// other 89 days are copies of those items, each under its own day (the
/// items `process` would write, without 100,000 updates on moto). Then
/// they are read back as the CLI reads them (`read_counts`, eventually
/// consistent queries, one a day and counter partition).
async fn report_reads(stack: &mut Stack, records: &Records) -> (u32, f64) {
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    use waymark_app::ports::Counters;
    use waymark_core::analytics::STORE;
    let store = stack.store();
    let client = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let shop = waymark_core::ids::ShopDomain::parse("report.myshopify.com").unwrap();
    let to: jiff::civil::Date = "2026-12-31".parse().unwrap();
    let from = to.checked_sub(jiff::Span::new().days(89)).unwrap();
    // One day's rows, as a counted record carries them: each stream shard
    // adds half a busy day (what four counter shards held before, in one).
    let mut rows = Vec::new();
    let half = |row: &[(&str, i64)]| -> Value {
        row.iter()
            .map(|(f, n)| {
                (
                    (*f).to_string(),
                    json!((n * 4 / REPORT_STREAM_SHARDS).max(1)),
                )
            })
            .collect::<serde_json::Map<String, Value>>()
            .into()
    };
    let key = |journey: &str, version: u32, step: &str| json!({"day": from.to_string(), "journey": journey, "version": version, "step": step});
    for j in 0..REPORT_JOURNEYS {
        let journey = format!("journey_{j:02}");
        rows.push(json!([key(&journey, 3, ""), half(&JOURNEY_ROW)]));
        for step in 0..REPORT_STEPS {
            rows.push(json!([
                key(&journey, 3, &format!("email_{step}")),
                half(&STEP_ROW)
            ]));
        }
    }
    rows.push(json!([key(STORE, 0, ""), half(&STORE_ROW)]));
    let day_start = from.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp();
    for k in 0..REPORT_STREAM_SHARDS {
        // From the day before's last two shards to the day's last one.
        let created = day_start + jiff::SignedDuration::from_hours(4 * (k - 2));
        let shard = format!("shardId-{:020}-{k:08x}", created.as_millisecond());
        let carried = json!({"shop": shop.as_str(), "seed": "report", "rows": rows});
        let record: waymark_aws::stream::StreamRecord = serde_json::from_value(json!({
            "eventName": "INSERT",
            "dynamodb": {"SequenceNumber": format!("{}", 1000 + k), "NewImage": {
                "t": {"S": "counted"}, "counts": {"S": carried.to_string()}}},
        }))
        .unwrap();
        let counted = waymark_aws::store::stream_counts(&record).unwrap().unwrap();
        store.add_stream_counts(&shard, &[counted]).await.unwrap();
    }
    let first_pk = waymark_aws::keys::counter(&shop, from, 0);
    let items = client
        .query()
        .table_name(&stack.table)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(first_pk.clone()))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert_eq!(items.len(), rows.len(), "one item a row");
    let marks = items[0].keys().filter(|k| k.starts_with("hw_")).count();
    assert_eq!(
        marks, REPORT_STREAM_SHARDS as usize,
        "every shard's mark kept"
    );
    let mut day = from.tomorrow().unwrap();
    while day <= to {
        let pk = waymark_aws::keys::counter(&shop, day, 0);
        for chunk in items.chunks(25) {
            let writes: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    let mut item = item.clone();
                    item.insert("PK".into(), AttributeValue::S(pk.clone()));
                    let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
                    WriteRequest::builder().put_request(put).build()
                })
                .collect();
            client
                .batch_write_item()
                .request_items(&stack.table, writes)
                .send()
                .await
                .unwrap();
        }
        day = day.tomorrow().unwrap();
    }
    records.lock().unwrap().clear();
    let counts = store.read_counts(&shop, from, to).await.unwrap();
    assert_eq!(
        counts.0.len(),
        90 * rows.len(),
        "every day's counters read back"
    );
    let taken: Vec<Record> = records.lock().unwrap().drain(..).collect();
    let by = cost(&taken, &HashMap::new(), &mut Index::default());
    let (requests, rcu, _) = totals(&by, None);
    (requests, rcu)
}
