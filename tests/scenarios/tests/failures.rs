//! Failure paths, with faults injected between the functions and the
//! emulator: nothing lost, nothing left half done.

use serde_json::json;
use std::sync::{Arc, OnceLock};
use waymark_scenarios::proxy::{Fault, Faults, Records, start_with_faults};
use waymark_scenarios::{CUSTOMER, Stack};

/// A stack whose DynamoDB calls pass through a proxy that injects `faults`.
async fn stack_with(faults: &Faults) -> Stack {
    let records: Records = Arc::default();
    let upstream: Arc<OnceLock<String>> = Arc::default();
    let via = start_with_faults(records, upstream.clone(), faults.clone()).await;
    Stack::start_via(|moto| {
        upstream.set(moto.to_string()).expect("set once");
        via.clone()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_cut_short_is_finished_when_it_is_redelivered() {
    let faults = Faults::default();
    let mut stack = stack_with(&faults).await;
    stack
        .webhook("customers/create", "wh-c1", CUSTOMER)
        .await
        .unwrap();
    // Thirty page views: her erasure takes more than one batch of deletes.
    let views: Vec<_> = (0..30)
        .map(|i| {
            json!({"type": "page_viewed", "id": format!("p{i}"), "anonymous_id": "anon-ana",
                   "at": format!("2026-11-23T11:{i:02}:00Z"), "email": "ana.silva@example.com",
                   "url": "https://demo-store.example/"})
        })
        .collect();
    let (status, body) = stack.track(json!(views)).await.unwrap();
    assert_eq!(status, 200, "{body}");
    // DynamoDB throttles the erasure after its first batch, long enough
    // for the SDK's own retries to give up: the first delivery fails, and
    // Lambda's retry (the local runner plays it) must finish the job.
    faults.arm(Fault {
        op: "BatchWriteItem".into(),
        pass: 1,
        fail: 3,
    });
    let redact = include_str!("../../../events/shopify/customers_redact.json");
    let (status, _) = stack
        .webhook("customers/redact", "wh-r1", redact)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let text = format!("{:?}", stack.items().await.unwrap());
    for needle in ["ana.silva", "7012345678901", "anon-ana", "Silva"] {
        assert!(!text.contains(needle), "`{needle}` is still stored: {text}");
    }
    assert_eq!(stack.items_of("contact").await.unwrap(), 0);
    assert_eq!(stack.items_of("erasure").await.unwrap(), 1, "one record");
}
