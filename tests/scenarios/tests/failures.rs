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

/// The order fixture as a guest's order number `i` (no customer account).
fn guest_order(i: u64) -> String {
    let mut order: serde_json::Value = serde_json::from_str(waymark_scenarios::ORDER).unwrap();
    let id = 6_200_000_000_000 + i;
    order["id"] = json!(id);
    order["admin_graphql_api_id"] = json!(format!("gid://shopify/Order/{id}"));
    order["name"] = json!(format!("#G{i}"));
    order["checkout_token"] = json!(format!("guest-checkout-{i}"));
    order["cart_token"] = json!(null);
    order["customer"] = json!(null);
    order["created_at"] = json!(format!("2026-11-23T{:02}:{:02}:00Z", 6 + i / 60, i % 60));
    order["updated_at"] = order["created_at"].clone();
    order.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_with_more_orders_than_a_transaction_holds_merges_into_the_customer() {
    let mut stack = Stack::start().await.unwrap();
    // Ana's account, under her work address.
    let work = CUSTOMER.replace("ana.silva@example.com", "ana@work.example");
    stack
        .webhook("customers/create", "wh-c0", &work)
        .await
        .unwrap();
    // A guest buys 105 times under her own address (one order follow-up
    // run per order).
    for i in 0..105 {
        let (status, body) = stack
            .webhook("orders/create", &format!("wh-g{i}"), &guest_order(i))
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
    }
    stack.tick("2026-11-23T09:00:00Z").await.unwrap();
    assert_eq!(
        stack.items_of("contact").await.unwrap(),
        2,
        "account and guest"
    );
    // The shop's customer record gives the account that address: the two
    // become one, within DynamoDB's 100 actions a transaction.
    let update = CUSTOMER.replace("2026-11-23T04:57:40-05:00", "2026-11-23T05:30:00-05:00");
    let (status, _) = stack
        .webhook("customers/update", "wh-c1", &update)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let shop = waymark_core::ids::ShopDomain::parse(waymark_scenarios::SHOP).unwrap();
    use waymark_app::ports::ContactStore;
    let by_account = waymark_core::event::Identity {
        customer_id: Some(7012345678901),
        ..Default::default()
    };
    let store = stack.store();
    let ana = store
        .find(&shop, &by_account)
        .await
        .unwrap()
        .contact
        .expect("Ana's account");
    let state = store
        .load_for_update(&shop, &ana)
        .await
        .unwrap()
        .expect("Ana's contact");
    assert_eq!(
        state.contact.commerce.order_count, 105,
        "the guest's orders are hers"
    );
    assert_eq!(state.contact.identity.merged_from.len(), 1, "merged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_erasure_cut_into_pieces_resumes_where_it_stopped() {
    use waymark_app::ports::{Privacy, StoreErrorKind};
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c1", CUSTOMER)
        .await
        .unwrap();
    let views: Vec<_> = (0..20)
        .map(|i| {
            json!({"type": "page_viewed", "id": format!("p{i}"), "anonymous_id": format!("anon-{i}"),
                   "at": "2026-11-23T11:00:00Z", "url": "https://demo-store.example/"})
        })
        .collect();
    stack.track(json!(views)).await.unwrap();
    let before = stack.items().await.unwrap().len();
    assert!(before > 40, "{before} items");
    // No time at all per delivery, five items a page: every delivery does
    // one page, and says the erasure goes on.
    let store = stack
        .store()
        .with_shop_erasure_budget(std::time::Duration::ZERO, 5);
    let shop = waymark_core::ids::ShopDomain::parse(waymark_scenarios::SHOP).unwrap();
    let at: jiff::Timestamp = "2026-11-24T00:00:00Z".parse().unwrap();
    let mut deliveries = 0;
    let erased = loop {
        deliveries += 1;
        assert!(deliveries < 100, "never finishes");
        match store.erase_shop(&shop, at).await {
            Ok(n) => break n,
            Err(e) => assert_eq!(e.kind(), StoreErrorKind::Unfinished, "{e}"),
        }
    };
    assert!(deliveries > 2, "it was cut into pieces: {deliveries}");
    let left = stack.items().await.unwrap();
    let types: Vec<&str> = left
        .iter()
        .filter_map(|i| i.get("t").and_then(|v| v.as_s().ok()).map(String::as_str))
        .collect();
    assert_eq!(types, vec!["erasure"], "only the record is left");
    assert_eq!(
        erased as usize, before,
        "every item counted once, across the pieces"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_whose_work_list_outgrows_one_item_still_resumes() {
    let faults = Faults::default();
    let mut stack = stack_with(&faults).await;
    stack
        .webhook("customers/create", "wh-c1", CUSTOMER)
        .await
        .unwrap();
    // A request naming 10,000 orders: a work list of about 450 KB, more than
    // one item can hold (400 KB); it takes five pages.
    let mut redact: serde_json::Value = serde_json::from_str(include_str!(
        "../../../events/shopify/customers_redact.json"
    ))
    .unwrap();
    redact["orders_to_redact"] = json!(
        (0..10_000u64)
            .map(|i| 6_300_000_000_000 + i)
            .collect::<Vec<_>>()
    );
    faults.arm(Fault {
        op: "BatchWriteItem".into(),
        pass: 2,
        fail: 3,
    });
    let (status, _) = stack
        .webhook("customers/redact", "wh-r1", &redact.to_string())
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(stack.items_of("contact").await.unwrap(), 0);
    assert_eq!(
        stack.items_of("erasing").await.unwrap(),
        0,
        "work list gone"
    );
    assert_eq!(stack.items_of("erasure").await.unwrap(), 1);
    let text = format!("{:?}", stack.items().await.unwrap());
    assert!(!text.contains("ana.silva"), "{text}");
}

/// Counting that fails in passing loses nothing and counts nothing twice:
/// a batch that must add before it answers (here: one of its events cannot
/// be read) hands back the state it came with and fails from its first
/// record, so the whole batch comes again; the window's last invocation
/// tries again in place, and fails only once those tries are spent, for
/// Lambda to repeat it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_whose_counting_is_throttled_counts_each_record_once() {
    use waymark_scenarios::window::{batch, counted_record, opened, unreadable_event};
    let faults = Faults::default();
    let stack = stack_with(&faults).await;
    let process = process_fn::build(
        &stack.sdk,
        &stack.table,
        Some(waymark_scenarios::COUPON_SECRET),
    )
    .unwrap();
    let store = stack.store();
    // Every counter write throttled past the SDK's retries, `tries` times.
    let throttle = |tries: usize| {
        faults.arm(Fault {
            op: "UpdateItem".into(),
            pass: 0,
            fail: 3 * tries,
        })
    };

    // Held from an earlier batch of the window.
    let held = batch(&process, vec![counted_record("100")], json!({}), false)
        .await
        .unwrap();
    assert_eq!(opened(&store).await, 0);
    // The batch fails on its event and must add before it answers; adding
    // is throttled.
    throttle(1);
    let records = vec![counted_record("200"), unreadable_event("201")];
    let answer = batch(&process, records.clone(), held["state"].clone(), false)
        .await
        .unwrap();
    assert_eq!(
        answer["batchItemFailures"][0]["itemIdentifier"], "200",
        "the whole batch comes again"
    );
    assert_eq!(
        answer["state"], held["state"],
        "with the state it came with"
    );
    assert_eq!(opened(&store).await, 0, "nothing added");
    // Again, with the throttle gone: both records added once; the event
    // still fails, from itself now.
    let answer = batch(&process, records, answer["state"].clone(), false)
        .await
        .unwrap();
    assert_eq!(answer["batchItemFailures"][0]["itemIdentifier"], "201");
    assert_eq!(answer["state"], json!({}));
    assert_eq!(opened(&store).await, 2);
    // Whichever state Lambda carries to the retry from the failed event,
    // this answer's (nothing) or the one it came with (record 100, added
    // since): the counter's mark keeps what was added from counting twice.
    let retried = batch(
        &process,
        vec![unreadable_event("201")],
        held["state"].clone(),
        true,
    )
    .await
    .unwrap();
    assert_eq!(retried["batchItemFailures"][0]["itemIdentifier"], "201");
    assert_eq!(opened(&store).await, 2, "record 100 not counted again");

    // The window's last invocation: a throttle that outlasts one try is
    // tried again in place, and the window is added once.
    let held = batch(&process, vec![counted_record("300")], json!({}), false)
        .await
        .unwrap();
    throttle(2);
    let closed = batch(
        &process,
        vec![counted_record("301")],
        held["state"].clone(),
        true,
    )
    .await
    .unwrap();
    assert_eq!(closed["state"], json!({}));
    assert_eq!(opened(&store).await, 4);
    // One that outlasts every try fails the invocation, which Lambda
    // repeats with the same state: counted then, once.
    let held = batch(&process, vec![counted_record("400")], json!({}), false)
        .await
        .unwrap();
    throttle(5);
    let failed = batch(&process, vec![], held["state"].clone(), true).await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(opened(&store).await, 4, "nothing added");
    batch(&process, vec![], held["state"].clone(), true)
        .await
        .unwrap();
    assert_eq!(opened(&store).await, 5);
}

/// A lookup that leads to a contact costs one eventually consistent read;
/// one that leads nowhere is read again, strongly, before anyone takes it
/// for a new person (an eventually consistent miss may only be late).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_is_read_eventually_consistent_and_a_miss_again_strongly() {
    use waymark_app::ports::ContactStore;
    use waymark_core::event::Identity;
    let records: Records = Arc::default();
    let upstream: Arc<OnceLock<String>> = Arc::default();
    let via = start_with_faults(records.clone(), upstream.clone(), Faults::default()).await;
    let mut stack = Stack::start_via(|moto| {
        upstream.set(moto.to_string()).expect("set once");
        via.clone()
    })
    .await
    .unwrap();
    stack
        .webhook("customers/create", "wh-c1", CUSTOMER)
        .await
        .unwrap();
    let shop = waymark_core::ids::ShopDomain::parse(waymark_scenarios::SHOP).unwrap();
    let store = stack.store();
    // Each GetItem of a lookup: whether it was strongly consistent.
    let reads = |identity: Identity| {
        let (records, store, shop) = (records.clone(), &store, &shop);
        async move {
            records.lock().unwrap().clear();
            let found = store.find(shop, &identity).await.unwrap().contact;
            let strong: Vec<bool> = records
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.op == "GetItem")
                .map(|r| r.request["ConsistentRead"].as_bool() == Some(true))
                .collect();
            (found, strong)
        }
    };
    let (ana, strong) = reads(Identity {
        customer_id: Some(7012345678901),
        ..Default::default()
    })
    .await;
    assert!(ana.is_some(), "Ana's account leads to her");
    assert_eq!(strong, [false], "one eventually consistent read");
    let stranger = waymark_core::ids::EmailAddress::parse("nobody@example.com").unwrap();
    let (nobody, strong) = reads(Identity {
        email: Some(stranger),
        ..Default::default()
    })
    .await;
    assert_eq!(nobody, None);
    assert_eq!(strong, [false, true], "a miss is read again strongly");
}
