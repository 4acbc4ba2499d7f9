//! `process`'s tumbling window driven by hand: stream records that carry
//! counts, one batch of a window, and what the counters then hold.

use serde_json::{Value, json};

/// The stream shard the batches name.
pub const SHARD: &str = "shardId-00000001700000000000-aaaaaaaa";

/// A stream record (sequence number `seq`) carrying one open of the welcome
/// email on 2026-11-23, as a `counted` receipt's insert.
pub fn counted_record(seq: &str) -> Value {
    let carried = json!({
        "shop": "demo.myshopify.com",
        "seed": format!("opened#m{seq}"),
        "rows": [[{"day": "2026-11-23", "journey": "welcome", "version": 2, "step": "w1"}, {"opened": 1}]],
    });
    json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": seq, "NewImage": {
        "t": {"S": "counted"}, "counts": {"S": carried.to_string()}}}})
}

/// An event insert whose document no build can read: `process` fails the
/// batch from it.
pub fn unreadable_event(seq: &str) -> Value {
    json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": seq,
        "NewImage": {"t": {"S": "event"}, "doc": {"S": "not an event"}}}})
}

/// `process` invoked with one batch of its window (`last`: the window's
/// last invocation): its answer, or the error it failed with.
pub async fn batch(
    process: &process_fn::Service,
    records: Vec<Value>,
    state: Value,
    last: bool,
) -> Result<Value, String> {
    use lambda_runtime::{Context, LambdaEvent};
    let batch = serde_json::from_value(json!({
        "Records": records,
        "shardId": SHARD,
        "window": {"start": "2026-11-23T10:00:00Z", "end": "2026-11-23T10:05:00Z"},
        "state": state,
        "isFinalInvokeForWindow": last,
        "isWindowTerminatedEarly": false,
    }))
    .map_err(|e| e.to_string())?;
    process_fn::handle(process, LambdaEvent::new(batch, Context::default()))
        .await
        .map(|out| serde_json::to_value(out).unwrap_or_default())
        .map_err(|e| e.to_string())
}

/// The welcome email's opens counted on 2026-11-23.
pub async fn opened(store: &waymark_aws::store::DynamoStore) -> i64 {
    use waymark_app::ports::Counters;
    let day = jiff::civil::date(2026, 11, 23);
    let shop = waymark_core::ids::ShopDomain::parse("demo.myshopify.com").expect("a shop");
    let read = store
        .read_counts(&shop, day, day)
        .await
        .expect("counts read");
    read.0
        .get(&waymark_core::analytics::Key::new(day, "welcome", 2, "w1"))
        .map_or(0, |f| f[waymark_core::analytics::field::OPENED])
}
