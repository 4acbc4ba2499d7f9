//! The facts' export to S3 (issue 15), on the local stack: the `export`
//! function takes the table's stream and puts rows to Firehose, which moto
//! writes to the facts bucket. Athena itself is not emulated; what is checked
//! is what lands in S3: the rows, their fields, and that no one is named.

use serde_json::Value;
use waymark_scenarios::{CHECKOUT, CUSTOMER, ORDER, Stack};

/// Every JSON line under `prefix` in the stack's facts bucket (S3's REST
/// API straight, without an SDK for one test).
async fn rows(stack: &Stack, prefix: &str) -> (Vec<Value>, String) {
    let base = format!(
        "{}/{}",
        stack.moto.endpoint.trim_end_matches('/'),
        stack.names.bucket("FactsBucket")
    );
    let http = reqwest::Client::new();
    let listing = http
        .get(format!("{base}?list-type=2&prefix={prefix}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let keys: Vec<&str> = listing
        .split("<Key>")
        .skip(1)
        .filter_map(|k| k.split("</Key>").next())
        .collect();
    assert!(!keys.is_empty(), "nothing under {prefix}: {listing}");
    let mut text = String::new();
    for key in keys {
        // The prefix keeps Firehose's `!{timestamp:…}` as moto writes it.
        let path: String = key
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        // moto answers an anonymous GetObject 403; it reads the key id from
        // the header and checks no signature.
        let resp = http
            .get(format!("{base}/{path}"))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
            )
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{key}: {}", resp.status());
        let body = resp.text().await.unwrap();
        text.push_str(&body);
    }
    let rows = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (rows, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_land_in_s3_as_json_lines_without_the_person() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "c1", CUSTOMER)
        .await
        .unwrap();
    stack
        .webhook("checkouts/create", "k1", CHECKOUT)
        .await
        .unwrap();
    stack.webhook("orders/create", "o1", ORDER).await.unwrap();
    stack.tick("2026-11-23T12:00:00Z").await.unwrap();

    let (events, text) = rows(&stack, "events/").await;
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    for kind in ["customer_upserted", "checkout_updated", "order_placed"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}: {text}");
    }
    let order = events.iter().find(|e| e["kind"] == "order_placed").unwrap();
    assert!(order["order_id"].as_u64().is_some(), "{order}");
    assert!(order["value"].as_str().is_some(), "{order}");
    assert!(order["currency"].as_str().is_some(), "{order}");
    assert!(!order["products"].as_array().unwrap().is_empty(), "{order}");
    for personal in ["ana.silva@example.com", "Ana", "Silva"] {
        assert!(!text.contains(personal), "`{personal}` exported: {text}");
    }

    let (counters, text) = rows(&stack, "counters/").await;
    // The newest row of each counter holds its totals (what the README's
    // Athena query does): the store's orders and revenue add up.
    let mut newest: std::collections::BTreeMap<String, &Value> = Default::default();
    for c in &counters {
        let key = format!(
            "{}|{}|{}|{}|{}",
            c["day"], c["shard"], c["journey"], c["version"], c["step"]
        );
        let seq = c["seq"].as_str().unwrap();
        if newest
            .get(&key)
            .is_none_or(|n| n["seq"].as_str().unwrap() < seq)
        {
            newest.insert(key, c);
        }
    }
    let store = |field: &str| -> i64 {
        newest
            .values()
            .filter(|c| c["journey"] == "_store" && c["shop"] == "demo.myshopify.com")
            .filter_map(|c| c["counts"][field].as_i64())
            .sum()
    };
    assert_eq!(store("store_orders"), 1, "{text}");
    assert!(store("store_revenue:EUR") > 0, "{text}");
    assert!(
        counters
            .iter()
            .all(|c| c["seq"].as_str().unwrap().len() == 40),
        "sequence numbers padded to sort as text"
    );
    assert!(!text.contains("ana.silva"), "{text}");
}
