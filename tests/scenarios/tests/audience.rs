//! Issue 5 end to end on the local stack: storefront events through
//! `POST /track`, anonymous visitors merged on identification, the
//! fulfilment and refund topics found by order, privacy requests, the
//! sweep's win-back and sunset, and time-based segment membership.

use serde_json::{Value, json};
use waymark_scenarios::{CUSTOMER, ORDER, Stack};

fn shopify(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../events/shopify/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn view(id: &str, anon: &str, at: &str, product: u64, title: &str) -> Value {
    json!({"type": "product_viewed", "id": id, "anonymous_id": anon, "at": at,
           "product": {"id": product, "title": title, "category": "Scarves",
                       "price": "39.90", "currency": "EUR",
                       "url": format!("https://demo-store.example/products/{product}")}})
}

fn store(stack: &Stack) -> waymark_aws::store::DynamoStore {
    waymark_aws::store::DynamoStore::new(aws_sdk_dynamodb::Client::new(&stack.sdk), &stack.table)
}

async fn contact_doc(stack: &Stack, email: &str) -> Value {
    use waymark_app::ports::ContactStore;
    let shop = waymark_core::ids::ShopDomain::parse(waymark_scenarios::SHOP).unwrap();
    let identity = waymark_core::event::Identity {
        email: Some(waymark_core::ids::EmailAddress::parse(email).unwrap()),
        ..Default::default()
    };
    let s = store(stack);
    let id = s
        .find(&shop, &identity)
        .await
        .unwrap()
        .contact
        .expect("contact found");
    let state = s.load_for_update(&shop, &id).await.unwrap().unwrap();
    serde_json::to_value(&state.contact).unwrap()
}

/// Every attribute value of every item, as text, for "nothing is left" checks.
async fn table_text(stack: &Stack) -> String {
    format!("{:?}", stack.items().await.unwrap())
}

/// Sends the fixture's `customers/redact` (Ana: customer, address, order).
async fn redact_ana(stack: &mut Stack) {
    let (status, _) = stack
        .webhook(
            "customers/redact",
            "wh-x",
            &shopify("customers_redact.json"),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
}

fn assert_gone(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(!text.contains(needle), "`{needle}` is still stored: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_visitor_is_merged_on_signup_and_gets_browse_abandonment() {
    let mut stack = Stack::start().await.unwrap();
    let (status, body) = stack
        .track(json!([
            view(
                "v1",
                "anon-7f3e",
                "2026-11-23T09:00:00Z",
                7001,
                "Merino scarf"
            ),
            view(
                "v2",
                "anon-7f3e",
                "2026-11-23T09:02:00Z",
                7002,
                "Alpine scarf"
            ),
        ]))
        .await
        .unwrap();
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (200, Some(2)),
        "{body}"
    );
    // The visitor signs up (email, consent) from the same browser.
    let (status, _) = stack
        .track(
            json!([{"type": "form_submitted", "id": "f1", "anonymous_id": "anon-7f3e",
                       "at": "2026-11-23T09:05:00Z", "email": "rita@example.com",
                       "first_name": "Rita", "accepts_marketing": true}]),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let rita = contact_doc(&stack, "rita@example.com").await;
    assert_eq!(rita["viewed"].as_array().unwrap().len(), 2, "{rita}");
    assert_eq!(rita["anonymous_ids"], json!(["anon-7f3e"]));
    assert_eq!(rita["consent"]["source"], "signup_form");
    // Merged: one contact, not an anonymous one and an identified one.
    assert_eq!(stack.items_of("contact").await.unwrap(), 1);

    // Signing up brought the welcome at once.
    assert_eq!(stack.sent_by("welcome_series").await.unwrap().len(), 1);
    // Identified now, a view the next morning starts browse abandonment
    // (≥ 2 views within a day); no cart within 4 hours → one email listing
    // what was viewed (past the welcome's 16-hour cap).
    stack
        .track(json!([view(
            "v3",
            "anon-7f3e",
            "2026-11-24T09:10:00Z",
            7001,
            "Merino scarf"
        )]))
        .await
        .unwrap();
    stack.tick("2026-11-24T13:09:00Z").await.unwrap();
    assert!(
        stack
            .sent_by("browse_abandonment")
            .await
            .unwrap()
            .is_empty(),
        "not before 4h"
    );
    stack.tick("2026-11-24T13:11:00Z").await.unwrap();
    let sent = stack.sent_by("browse_abandonment").await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, vec!["rita@example.com".to_string()]);
    assert!(
        sent[0].text.contains("Merino scarf") && sent[0].text.contains("Alpine scarf"),
        "{}",
        sent[0].text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_within_four_hours_means_no_browse_email() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    let who = |e: Value| {
        let mut e = e;
        e["email"] = json!("ana.silva@example.com");
        e
    };
    stack
        .track(json!([
            who(view(
                "v1",
                "anon-a",
                "2026-11-24T09:00:00Z",
                7001,
                "Merino scarf"
            )),
            who(view(
                "v2",
                "anon-a",
                "2026-11-24T09:01:00Z",
                7002,
                "Alpine scarf"
            )),
        ]))
        .await
        .unwrap();
    stack
        .track(json!([who(
            json!({"type": "added_to_cart", "id": "c1", "anonymous_id": "anon-a",
            "at": "2026-11-24T10:00:00Z", "product": {"id": 7001, "title": "Merino scarf"}})
        )]))
        .await
        .unwrap();
    stack.tick("2026-11-24T20:00:00Z").await.unwrap();
    assert!(
        stack
            .sent_by("browse_abandonment")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_refuses_bad_keys_origins_and_events_and_stores_nothing() {
    let mut stack = Stack::start().await.unwrap();
    let before = stack.items().await.unwrap().len();
    let (status, body) = stack
        .track(json!([{"type": "page_viewed", "id": "p1"}]))
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap()
            .contains("batch[0].anonymous_id"),
        "{body}"
    );
    let req = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/track")
        .header("origin", "https://evil.example")
        .body(lambda_http::Body::from(
            json!({"key": waymark_scenarios::TRACK_KEY, "batch": [{"type": "page_viewed", "id": "p2", "anonymous_id": "a"}]}).to_string(),
        ))
        .unwrap();
    let resp = ingest_fn::handle(&stack.ingest, req).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(stack.items().await.unwrap().len(), before, "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipments_and_refunds_find_the_contact_by_order() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    stack.webhook("orders/create", "wh-o", ORDER).await.unwrap();
    // The fulfilment names the order (and here the email); the shipping
    // email carries its tracking link.
    let (status, _) = stack
        .webhook(
            "fulfillments/create",
            "wh-f",
            &shopify("fulfillments_create.json"),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let shipped: Vec<_> = stack
        .sent_by("order_follow_up")
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.subject.contains("on its way"))
        .collect();
    assert_eq!(shipped.len(), 1);
    assert!(
        shipped[0]
            .text
            .contains("https://track.example.com/CE123456789IE")
    );
    // Delivered two days later: the review request follows at once.
    stack
        .webhook(
            "fulfillments/update",
            "wh-f2",
            &shopify("fulfillments_update.json"),
        )
        .await
        .unwrap();
    let review = stack
        .sent_by("order_follow_up")
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.subject.to_lowercase().contains("review") || m.subject.contains("How did"))
        .count();
    assert_eq!(review, 1, "review request on delivery");
    // A refund names only the order id: it lowers the spend.
    stack
        .webhook("refunds/create", "wh-r", &shopify("refunds_create.json"))
        .await
        .unwrap();
    let ana = contact_doc(&stack, "ana.silva@example.com").await;
    assert_eq!(
        ana["total_spent"]["amount_minor"], 3800,
        "66.00 − 28.00: {}",
        ana["total_spent"]
    );
    assert_eq!(ana["order_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_redact_erases_the_person_everywhere() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    stack
        .webhook("checkouts/create", "wh-k", waymark_scenarios::CHECKOUT)
        .await
        .unwrap();
    stack.webhook("orders/create", "wh-o", ORDER).await.unwrap();
    stack
        .track(
            json!([{"type": "page_viewed", "id": "p1", "anonymous_id": "anon-ana",
                       "email": "ana.silva@example.com", "at": "2026-11-23T11:00:00Z"}]),
        )
        .await
        .unwrap();
    // A subscription (its contract lookup names her too) and its first cycle.
    stack
        .webhook(
            "subscription_contracts/create",
            "wh-sc",
            &shopify("subscription_contracts_create.json"),
        )
        .await
        .unwrap();
    stack
        .webhook(
            "subscription_billing_attempts/success",
            "wh-sb",
            &shopify("subscription_billing_attempts_success.json"),
        )
        .await
        .unwrap();
    assert!(table_text(&stack).await.contains("contract:8812345601"));
    // A data request first: its export (the whole profile) must go too.
    stack
        .webhook(
            "customers/data_request",
            "wh-d",
            &shopify("customers_data_request.json"),
        )
        .await
        .unwrap();
    let before = table_text(&stack).await;
    assert!(before.contains("ana.silva@example.com"));
    assert!(before.contains("WELCOME-"), "her welcome code is stored");
    redact_ana(&mut stack).await;
    let text = table_text(&stack).await.to_lowercase();
    assert_gone(
        &text,
        &[
            "ana.silva",
            "7012345678901",
            "6123456789012",
            "anon-ana",
            "silva",
            "8812345601",
            // Her welcome code.
            "welcome-",
        ],
    );
    assert_eq!(
        stack.items_of("erasure").await.unwrap(),
        1,
        "the erasure is recorded"
    );
    // Later mail for her goes nowhere: her runs and messages are gone.
    stack.tick("2026-12-31T00:00:00Z").await.unwrap();
    let after = stack.sent().await.unwrap().len();
    stack.tick("2027-01-31T00:00:00Z").await.unwrap();
    assert_eq!(stack.sent().await.unwrap().len(), after);
}

/// A busy week leaves more stored events than the contact's hot item keeps
/// ids of: the older ids are kept beside it, and the erasure finds them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_after_a_busy_week_leaves_none_of_her_events() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    for day in 0..4 {
        let views: Vec<Value> = (0..30)
            .map(|i| {
                json!({"type": "page_viewed", "id": format!("p{day}-{i}"),
                       "anonymous_id": "anon-ana", "email": "ana.silva@example.com",
                       "at": format!("2026-11-2{}T1{}:{:02}:00Z", day + 3, i / 10, i % 10)})
            })
            .collect();
        stack.track(Value::Array(views)).await.unwrap();
    }
    let events = stack.items_of("event").await.unwrap();
    assert!(events > 100, "{events} events stored");
    let c = contact_doc(&stack, "ana.silva@example.com").await;
    assert!(c["activity"]["page_viewed"].is_array(), "{c}");
    redact_ana(&mut stack).await;
    assert_eq!(
        stack.items_of("event").await.unwrap(),
        0,
        "every event went"
    );
    assert_gone(&table_text(&stack).await.to_lowercase(), &["anon-ana"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_request_publishes_the_persons_data_and_delete_removes_the_contact() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    stack.webhook("orders/create", "wh-o", ORDER).await.unwrap();
    stack
        .webhook(
            "customers/data_request",
            "wh-d",
            &shopify("customers_data_request.json"),
        )
        .await
        .unwrap();
    let sent = waymark_aws::store::outbox_by_status(&store(&stack), "sent")
        .await
        .unwrap();
    let export = sent
        .iter()
        .find(|(m, _)| m.journey == "privacy")
        .map(|(m, _)| m)
        .expect("the export went to the bus");
    assert_eq!(export.params["contact"]["email"], "ana.silva@example.com");
    assert_eq!(export.params["contact"]["order_count"], 1);
    assert!(
        export.params["journeys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["journey"] == "order_follow_up")
    );

    stack
        .webhook(
            "customers/delete",
            "wh-del",
            &shopify("customers_delete.json"),
        )
        .await
        .unwrap();
    assert_eq!(stack.items_of("contact").await.unwrap(), 0);
    assert_eq!(stack.items_of("run").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_redact_erases_the_whole_shop() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    stack.webhook("orders/create", "wh-o", ORDER).await.unwrap();
    stack
        .webhook("shop/redact", "wh-s", &shopify("shop_redact.json"))
        .await
        .unwrap();
    let left: Vec<String> = stack
        .items()
        .await
        .unwrap()
        .iter()
        .filter_map(|i| i.get("t").and_then(|v| v.as_s().ok()).cloned())
        .filter(|t| t != "erasure" && t != "cursor")
        .collect();
    // The shop/redact delivery's own event remains until its TTL (it
    // arrived to ask for this); nothing of any customer does.
    assert!(left.iter().all(|t| t == "event"), "{left:?}");
    assert!(!table_text(&stack).await.contains("ana.silva@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_wins_back_or_sunsets_the_silent() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    stack.tick("2026-11-24T00:00:00Z").await.unwrap();
    // Last sign of life: signup on 2026-11-23. Threshold: 90 days → 2027-02-21.
    // The daily sweep (03:00 UTC) of 2027-02-22 lapses her; the win-back
    // offer waits for the end of quiet hours in Dublin (08:00).
    stack.tick("2027-02-21T12:00:00Z").await.unwrap();
    stack.tick("2027-02-22T03:00:00Z").await.unwrap();
    assert!(
        stack.sent_by("win_back").await.unwrap().is_empty(),
        "03:00 in Dublin: held"
    );
    stack.tick("2027-02-22T08:01:00Z").await.unwrap();
    let offer = stack.sent_by("win_back").await.unwrap();
    assert_eq!(
        offer.len(),
        1,
        "{:?}",
        offer.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    // 14 silent days later: sunset. Consent withdrawn, recorded as such.
    stack.tick("2027-03-09T03:00:00Z").await.unwrap();
    let ana = contact_doc(&stack, "ana.silva@example.com").await;
    assert_eq!(ana["consent"]["subscribed"], false, "{}", ana["consent"]);
    assert_eq!(ana["consent"]["source"], "sunset");
    // Never mailed marketing again: a year of ticks sends nothing more.
    let before = stack.sent().await.unwrap().len();
    stack.tick("2027-06-01T03:00:00Z").await.unwrap();
    stack.tick("2028-03-01T03:00:00Z").await.unwrap();
    assert_eq!(stack.sent().await.unwrap().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_after_the_offer_brings_the_contact_back() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    stack.tick("2026-11-24T00:00:00Z").await.unwrap();
    stack.tick("2027-02-22T03:00:00Z").await.unwrap();
    stack.tick("2027-02-22T08:01:00Z").await.unwrap();
    assert_eq!(stack.sent_by("win_back").await.unwrap().len(), 1);
    // She visits the store again before the 14 days are up.
    stack
        .track(
            json!([{"type": "page_viewed", "id": "back", "anonymous_id": "anon-b",
                       "email": "ana.silva@example.com", "at": "2027-02-25T10:00:00Z"}]),
        )
        .await
        .unwrap();
    stack.tick("2027-03-15T03:00:00Z").await.unwrap();
    let ana = contact_doc(&stack, "ana.silva@example.com").await;
    assert_eq!(
        ana["consent"]["subscribed"], true,
        "not sunset: {}",
        ana["consent"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vip_membership_follows_a_365_day_window_without_any_event() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    for n in 1..=3u32 {
        let order = ORDER
            .replace("6123456789012", &format!("61234567890{n:02}"))
            .replace(
                "2026-11-23T05:30:00-05:00",
                &format!("2026-12-{:02}T05:30:00-05:00", n * 5),
            );
        stack
            .webhook("orders/create", &format!("wh-o{n}"), &order)
            .await
            .unwrap();
    }
    use waymark_app::ports::Segments;
    let shop = waymark_core::ids::ShopDomain::parse(waymark_scenarios::SHOP).unwrap();
    let s = store(&stack);
    assert_eq!(s.count(&shop, "vip").await.unwrap(), 1);
    assert_eq!(
        s.count(&shop, "rfm_loyal").await.unwrap() + s.count(&shop, "rfm_champions").await.unwrap(),
        1
    );
    // The first order leaves the 365-day window on 2027-12-06: the contact's
    // review, due then in the timer's index, takes her out of VIP.
    stack.tick("2027-12-05T12:00:00Z").await.unwrap();
    assert_eq!(s.count(&shop, "vip").await.unwrap(), 1);
    stack.tick("2027-12-06T00:01:00Z").await.unwrap();
    assert_eq!(s.count(&shop, "vip").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_carrying_the_snippets_cart_attribute_merges_the_browsing() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .track(json!([view(
            "v1",
            "anon-cart",
            "2026-11-23T09:00:00Z",
            7001,
            "Merino scarf"
        )]))
        .await
        .unwrap();
    // The snippet set the cart attribute `waymark_aid`; Shopify's checkout
    // webhook carries it in `note_attributes`.
    let checkout = waymark_scenarios::CHECKOUT.replace(
        "\"note_attributes\": []",
        "\"note_attributes\": [{\"name\": \"waymark_aid\", \"value\": \"anon-cart\"}]",
    );
    assert_ne!(checkout, waymark_scenarios::CHECKOUT);
    let (status, _) = stack
        .webhook("checkouts/create", "wh-k", &checkout)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let ana = contact_doc(&stack, "ana.silva@example.com").await;
    assert_eq!(ana["viewed"][0]["title"], "Merino scarf", "{ana}");
    assert_eq!(ana["anonymous_ids"], json!(["anon-cart"]));
    assert_eq!(stack.items_of("contact").await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_cannot_take_over_or_unsubscribe_someone_else() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    // A forged event naming Ana's customer id with another address, and a
    // form that says "no" to marketing for her address.
    stack
        .track(json!([
            {"type": "identified", "id": "x1", "anonymous_id": "anon-evil", "customer_id": 7012345678901u64,
             "email": "attacker@example.net", "at": "2026-11-23T11:00:00Z"},
            {"type": "form_submitted", "id": "x2", "anonymous_id": "anon-evil",
             "email": "ana.silva@example.com", "accepts_marketing": false, "at": "2026-11-23T11:01:00Z"}
        ]))
        .await
        .unwrap();
    let ana = contact_doc(&stack, "ana.silva@example.com").await;
    assert_eq!(ana["email"], "ana.silva@example.com", "{ana}");
    assert_eq!(ana["consent"]["subscribed"], true, "{}", ana["consent"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_browser_never_folds_one_customer_into_another() {
    let mut stack = Stack::start().await.unwrap();
    // Rita signs up on the family laptop; later Ana checks out on it.
    stack
        .track(json!([{"type": "form_submitted", "id": "f1", "anonymous_id": "anon-laptop",
                       "at": "2026-11-23T09:00:00Z", "email": "rita@example.com", "accepts_marketing": true}]))
        .await
        .unwrap();
    let checkout = waymark_scenarios::CHECKOUT.replace(
        "\"note_attributes\": []",
        "\"note_attributes\": [{\"name\": \"waymark_aid\", \"value\": \"anon-laptop\"}]",
    );
    stack
        .webhook("checkouts/create", "wh-k", &checkout)
        .await
        .unwrap();
    let rita = contact_doc(&stack, "rita@example.com").await;
    let ana = contact_doc(&stack, "ana.silva@example.com").await;
    assert_eq!(rita["email"], "rita@example.com");
    assert_eq!(ana["email"], "ana.silva@example.com");
    assert_ne!(rita["id"], ana["id"], "two people, two contacts");
    assert_eq!(stack.items_of("contact").await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_only_profile_is_merged_when_the_customer_takes_its_address() {
    let mut stack = Stack::start().await.unwrap();
    // Ana has a customer account under her work address, not subscribed.
    let created = CUSTOMER
        .replace("ana.silva@example.com", "ana.work@example.com")
        .replace("\"state\": \"subscribed\"", "\"state\": \"not_subscribed\"");
    stack
        .webhook("customers/create", "wh-c", &created)
        .await
        .unwrap();
    // Later she signs up on the storefront with her own address: a second
    // profile (nothing yet says it is the customer's), with its welcome.
    let signup = |id: &str, anon: &str, email: &str| {
        json!([{"type": "form_submitted", "id": id, "anonymous_id": anon,
                "at": "2026-11-23T11:00:00Z", "email": email, "accepts_marketing": true}])
    };
    stack
        .track(signup("f1", "anon-ana", "ana.silva@example.com"))
        .await
        .unwrap();
    let lead = contact_doc(&stack, "ana.silva@example.com").await;
    assert!(lead["id"].as_str().unwrap().starts_with("email-"), "{lead}");
    assert_eq!(stack.sent_by("welcome_series").await.unwrap().len(), 1);
    // Another reader signs up too; a storefront event cannot claim her for
    // Ana's customer account (only the shop's signed webhooks can).
    stack
        .track(signup("f2", "anon-mia", "mia@example.com"))
        .await
        .unwrap();
    stack
        .track(
            json!([{"type": "page_viewed", "id": "p1", "customer_id": 7012345678901u64,
                    "email": "mia@example.com", "at": "2026-11-23T11:30:00Z"}]),
        )
        .await
        .unwrap();
    let mia = contact_doc(&stack, "mia@example.com").await;
    assert!(mia["id"].as_str().unwrap().starts_with("email-"), "{mia}");

    // The shop says the customer's address is now her own: one person.
    let updated = CUSTOMER.replace(
        "\"updated_at\": \"2026-11-23T04:57:40-05:00\"",
        "\"updated_at\": \"2026-11-23T07:00:00-05:00\"",
    );
    let (status, _) = stack
        .webhook("customers/update", "wh-u", &updated)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let ana = contact_doc(&stack, "ana.silva@example.com").await;
    assert_eq!(ana["id"], "cust-7012345678901", "{ana}");
    assert_eq!(
        contact_doc(&stack, "ana.work@example.com").await["id"],
        ana["id"]
    );
    assert_eq!(ana["merged_from"][0]["contact"], lead["id"]);
    assert_eq!(ana["consent"]["subscribed"], true, "{ana}");
    assert_eq!(ana["past_emails"], json!(["ana.work@example.com"]));
    assert_eq!(ana["anonymous_ids"], json!(["anon-ana"]));
    // Her browser's events go to the merged contact too.
    stack
        .track(
            json!([{"type": "page_viewed", "id": "p2", "anonymous_id": "anon-ana",
                    "at": "2026-11-23T12:30:00Z", "page_type": "pricing"}]),
        )
        .await
        .unwrap();
    assert!(
        contact_doc(&stack, "ana.silva@example.com").await["last_visit_at"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-11-23T12:30")),
    );
    // The welcome series goes on where it was, once, to her address.
    stack.tick("2026-11-26T12:00:00Z").await.unwrap();
    stack.tick("2026-11-29T12:00:00Z").await.unwrap();
    let ana_mail = vec!["ana.silva@example.com".to_string()];
    let subjects: Vec<_> = stack
        .sent_by("welcome_series")
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.to == ana_mail)
        .map(|m| m.subject)
        .collect();
    assert_eq!(
        subjects,
        [
            "Welcome!",
            "How we work: shipping, returns and help",
            "What everyone is buying this week"
        ],
        "each step once, in order"
    );
    assert!(
        stack
            .sent()
            .await
            .unwrap()
            .iter()
            .all(|m| !m.to.contains(&"ana.work@example.com".to_string())),
        "nothing to her work address"
    );

    // Erasing her erases both profiles, the merged one's leftover too.
    redact_ana(&mut stack).await;
    // Mia's items stay (her page view names the customer id someone typed).
    let text: String = stack
        .items()
        .await
        .unwrap()
        .iter()
        .map(|item| format!("{item:?}").to_lowercase())
        .filter(|item| !item.contains("mia@example.com"))
        .collect();
    assert_gone(
        &text,
        &[
            "ana.silva",
            "ana.work",
            "7012345678901",
            "anon-ana",
            lead["id"].as_str().unwrap(),
        ],
    );
    assert_eq!(stack.items_of("contact").await.unwrap(), 1, "only Mia");
}
