//! The trust boundaries, attacked from outside: what an anonymous storefront
//! request, a replayed webhook or a stale delivery can and cannot change.

use serde_json::json;
use waymark_scenarios::{CUSTOMER, Stack};

/// A signed-up customer (marketing consent) whose name the store knows.
async fn ana_is_a_customer(stack: &mut Stack) {
    let (status, _) = stack
        .webhook("customers/create", "wh-c1", CUSTOMER)
        .await
        .unwrap();
    assert_eq!(status, 200);
}

fn form(id: &str, first_name: &str) -> serde_json::Value {
    json!([{"type": "form_submitted", "id": id, "anonymous_id": "anon-x", "at": "2026-11-23T12:00:00Z",
            "email": "ana.silva@example.com", "first_name": first_name, "accepts_marketing": true}])
}

async fn first_name(stack: &Stack) -> Option<String> {
    let shop = waymark_core::ids::ShopDomain::parse(waymark_scenarios::SHOP).unwrap();
    let ana = waymark_core::ids::ContactId::for_customer(7012345678901);
    waymark_app::ports::ContactStore::load_for_update(&stack.store(), &shop, &ana)
        .await
        .unwrap()
        .and_then(|s| s.contact.identity.first_name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storefront_form_cannot_put_a_link_in_a_customers_name_nor_rename_her() {
    let mut stack = Stack::start().await.unwrap();
    ana_is_a_customer(&mut stack).await;
    let items_before = stack.items().await.unwrap().len();
    let (status, body) = stack
        .track(form(
            "f1",
            "URGENT: verify your card at https://evil.example/login",
        ))
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("first_name: plain text only"),
        "{body}"
    );
    assert_eq!(
        stack.items().await.unwrap().len(),
        items_before,
        "nothing stored"
    );
    let (status, _) = stack.track(form("f2", "Mallory")).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(first_name(&stack).await.as_deref(), Some("Ana"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storefront_event_cannot_link_outside_the_store() {
    let mut stack = Stack::start().await.unwrap();
    let (status, body) = stack
        .track(
            json!([{"type": "product_viewed", "id": "v1", "anonymous_id": "anon-x",
            "at": "2026-11-23T12:00:00Z", "email": "lee@example.com",
            "product": {"id": 1, "title": "Scarf", "url": "https://evil.example/scarf"}}]),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("product.url: links must stay"),
        "{body}"
    );
    assert_eq!(stack.items_of("contact").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_record_replayed_as_shop_redact_erases_nothing() {
    let mut stack = Stack::start().await.unwrap();
    ana_is_a_customer(&mut stack).await;
    // The signed body of customers/create, with the (unsigned) topic header
    // changed: the signature still verifies.
    let (status, body) = stack
        .webhook("shop/redact", "wh-replay", CUSTOMER)
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("shop_domain"), "{body}");
    let (status, body) = stack
        .webhook("customers/delete", "wh-replay-2", CUSTOMER)
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        stack.items_of("contact").await.unwrap(),
        1,
        "Ana is still there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_erasure_is_refused_and_a_fresh_one_goes_through() {
    let mut stack = Stack::start().await.unwrap();
    ana_is_a_customer(&mut stack).await;
    let redact = include_str!("../../../events/shopify/customers_redact.json");
    stack.advance_to("2026-11-27T10:00:00Z".parse().unwrap());
    // Triggered four days before it arrives: Shopify would have given up.
    let (status, body) = stack
        .webhook_at("customers/redact", "wh-r1", redact, "2026-11-23T10:00:00Z")
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("X-Shopify-Triggered-At"),
        "{body}"
    );
    assert_eq!(stack.items_of("contact").await.unwrap(), 1);
    let (status, _) = stack
        .webhook_at("customers/redact", "wh-r2", redact, "2026-11-27T09:00:00Z")
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(stack.items_of("contact").await.unwrap(), 0, "erased");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_never_resubscribes_someone_who_unsubscribed_in_shopify() {
    let mut stack = Stack::start().await.unwrap();
    ana_is_a_customer(&mut stack).await;
    // She unsubscribes in the store (Shopify's own consent record).
    let unsubscribed = CUSTOMER
        .replace("2026-11-23T04:57:40-05:00", "2026-11-23T05:30:00-05:00")
        .replace("\"state\": \"subscribed\"", "\"state\": \"unsubscribed\"");
    assert_ne!(
        unsubscribed,
        CUSTOMER.replace("2026-11-23T04:57:40-05:00", "2026-11-23T05:30:00-05:00")
    );
    stack
        .webhook("customers/update", "wh-c2", &unsubscribed)
        .await
        .unwrap();
    let before: Vec<String> = stack
        .sent()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.subject)
        .collect();
    // Someone types her address into a signup form.
    stack.track(form("f1", "Ana")).await.unwrap();
    stack.tick("2026-11-26T12:00:00Z").await.unwrap();
    let after: Vec<String> = stack
        .sent()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.subject)
        .collect();
    let new: Vec<&String> = after.iter().skip(before.len()).collect();
    assert!(
        new.iter().all(|s| s.starts_with("Please confirm")),
        "only a confirmation may go: {new:?}"
    );
    assert!(!new.is_empty(), "the confirmation asks her");
}
