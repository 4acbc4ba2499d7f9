//! The abandoned-checkout journey end to end: signed webhooks into ingest,
//! the stream into process, ticks into timer, the outbox into dispatch, and
//! SES (the emulator) holding what was sent. Checkout time T = 10:00Z.

use waymark_scenarios::{CHECKOUT, ORDER, Stack, checkout_at};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_at_t_no_email_at_t_59_one_email_at_t_61_listing_its_items() {
    let mut stack = Stack::start().await.unwrap();
    let (status, body) = stack
        .webhook("checkouts/create", "wh-1", CHECKOUT)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "accepted");

    stack.tick("2026-11-23T10:59:00Z").await.unwrap();
    assert!(
        stack
            .sent_by("abandoned_checkout")
            .await
            .unwrap()
            .is_empty(),
        "nothing before the hour"
    );

    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    let sent = stack.sent_by("abandoned_checkout").await.unwrap();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let email = &sent[0];
    assert_eq!(email.to, vec!["ana.silva@example.com"]);
    assert_eq!(email.subject, "Ana, you left something in your cart");
    assert!(
        email.text.contains("1 × Merino Beanie (Charcoal) — €29.00"),
        "{}",
        email.text
    );
    assert!(
        email.text.contains("2 × Trail Socks (3-pack) (M) — €18.50"),
        "{}",
        email.text
    );
    assert!(email.text.contains("Total: €66.00"), "{}", email.text);
    assert!(
        email.text.contains("Demo Store · 1 Harbour Road, Dublin"),
        "the shop's name and address sign marketing mail: {}",
        email.text
    );
    assert!(email.html.contains("Merino Beanie") && email.html.contains("recover?key="));
    assert!(
        email.html.contains("display:none") && email.html.contains("2 items waiting for you"),
        "the preheader: {}",
        email.html
    );
    assert!(
        email
            .header("X-Waymark-Message")
            .unwrap()
            .contains("journey=abandoned_checkout")
    );

    stack.tick("2026-11-23T13:00:00Z").await.unwrap();
    assert_eq!(
        stack.sent_by("abandoned_checkout").await.unwrap().len(),
        1,
        "still exactly one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_webhook_three_times_sends_one_email() {
    let mut stack = Stack::start().await.unwrap();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, body) = stack
            .webhook("checkouts/create", "wh-dup", CHECKOUT)
            .await
            .unwrap();
        statuses.push((status, body["status"].as_str().unwrap().to_string()));
    }
    // The same checkout state under another delivery id (create + update).
    let (status, body) = stack
        .webhook("checkouts/update", "wh-other", CHECKOUT)
        .await
        .unwrap();
    statuses.push((status, body["status"].as_str().unwrap().to_string()));
    assert_eq!(
        statuses,
        vec![
            (200, "accepted".into()),
            (200, "duplicate".into()),
            (200, "duplicate".into()),
            (200, "duplicate".into())
        ]
    );
    assert_eq!(stack.items_of("event").await.unwrap(), 1);
    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    stack.tick("2026-11-23T11:02:00Z").await.unwrap();
    // A webhook redelivered hours later changes nothing.
    stack
        .webhook("checkouts/update", "wh-dup", CHECKOUT)
        .await
        .unwrap();
    stack.tick("2026-11-23T15:00:00Z").await.unwrap();
    assert_eq!(stack.sent_by("abandoned_checkout").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_at_t_30_means_no_email_ever() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("checkouts/create", "wh-c", CHECKOUT)
        .await
        .unwrap();
    stack.tick("2026-11-23T10:15:00Z").await.unwrap();
    let (status, _) = stack.webhook("orders/create", "wh-o", ORDER).await.unwrap();
    assert_eq!(status, 200);
    for now in [
        "2026-11-23T11:01:00Z",
        "2026-11-24T10:00:00Z",
        "2026-11-30T10:00:00Z",
    ] {
        stack.tick(now).await.unwrap();
    }
    assert!(
        stack
            .sent_by("abandoned_checkout")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_update_before_the_hour_moves_the_reminder_once() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("checkouts/create", "wh-1", CHECKOUT)
        .await
        .unwrap();
    // The customer comes back at 10:20 and changes the cart.
    let updated =
        checkout_at("2026-11-23T05:20:00-05:00").replace("\"quantity\": 2", "\"quantity\": 3");
    stack
        .webhook("checkouts/update", "wh-2", &updated)
        .await
        .unwrap();
    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    assert!(
        stack
            .sent_by("abandoned_checkout")
            .await
            .unwrap()
            .is_empty(),
        "the hour counts from 10:20"
    );
    // A stale update (10:10) arriving late moves nothing.
    stack
        .webhook(
            "checkouts/update",
            "wh-3",
            &checkout_at("2026-11-23T05:10:00-05:00"),
        )
        .await
        .unwrap();
    stack.tick("2026-11-23T11:21:00Z").await.unwrap();
    let sent = stack.sent_by("abandoned_checkout").await.unwrap();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].text.contains("3 × Trail Socks"),
        "the newest cart: {}",
        sent[0].text
    );
    stack.tick("2026-11-23T12:30:00Z").await.unwrap();
    assert_eq!(stack.sent_by("abandoned_checkout").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_or_missing_hmac_is_401_and_nothing_is_stored() {
    let mut stack = Stack::start().await.unwrap();
    let forged = waymark_core::hmac::sign(b"not-the-secret", CHECKOUT.as_bytes());
    let (status, body) = stack
        .post("checkouts/create", "wh-1", CHECKOUT, Some(forged))
        .await
        .unwrap();
    assert_eq!(status, 401, "{body}");
    let (status, _) = stack
        .post("checkouts/create", "wh-2", CHECKOUT, None)
        .await
        .unwrap();
    assert_eq!(status, 401);
    let (status, _) = stack
        .post("checkouts/create", "wh-3", CHECKOUT, Some("garbage".into()))
        .await
        .unwrap();
    assert_eq!(status, 401);
    assert!(stack.items().await.unwrap().is_empty(), "nothing stored");
    stack.tick("2026-11-23T12:00:00Z").await.unwrap();
    assert!(
        stack
            .sent_by("abandoned_checkout")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400_naming_the_problem_and_the_delivery_is_kept() {
    let mut stack = Stack::start().await.unwrap();
    let (status, body) = stack
        .webhook("checkouts/create", "wh-1", "{\"token\": ")
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("not valid JSON"),
        "{body}"
    );
    let (status, body) = stack
        .webhook("orders/create", "wh-2", r#"{"email": "a@example.com"}"#)
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("missing field `id`"),
        "{body}"
    );
    assert_eq!(
        stack.items_of("rejected").await.unwrap(),
        2,
        "kept for inspection"
    );
    assert_eq!(stack.items_of("event").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_topics_are_acknowledged_and_ignored() {
    let mut stack = Stack::start().await.unwrap();
    let (status, body) = stack
        .webhook("products/update", "wh-1", r#"{"id": 1}"#)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ignored");
    assert!(stack.items().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_ses_refuses_is_parked_with_its_error_not_dropped() {
    let mut stack = Stack::with(waymark_scenarios::Options {
        verify_sender: false,
    })
    .await
    .unwrap();
    stack
        .webhook("checkouts/create", "wh-1", CHECKOUT)
        .await
        .unwrap();
    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    assert!(
        stack
            .sent_by("abandoned_checkout")
            .await
            .unwrap()
            .is_empty()
    );
    let store = waymark_aws::store::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        &stack.table,
    );
    let parked = waymark_aws::store::outbox_by_status(&store, "parked")
        .await
        .unwrap();
    assert_eq!(parked.len(), 1);
    let error = parked[0].1.as_deref().unwrap();
    assert!(error.contains("MessageRejected"), "{error}");
    assert_eq!(parked[0].0.to().unwrap().as_str(), "ana.silva@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_fails_in_transit_is_retried_at_the_next_due_tick() {
    let mut stack = Stack::start().await.unwrap();
    // SES unreachable: every send fails as a network error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let broken = stack
        .dispatch_via(&format!("http://{closed}"))
        .await
        .unwrap();
    let working = std::mem::replace(&mut stack.runner.invoker_mut().dispatch, broken);

    stack
        .webhook("checkouts/create", "wh-1", CHECKOUT)
        .await
        .unwrap();
    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    let store = waymark_aws::store::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        &stack.table,
    );
    let waiting = waymark_aws::store::outbox_by_status(&store, "retry")
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1, "kept for a retry, not dropped");
    assert!(
        stack
            .sent_by("abandoned_checkout")
            .await
            .unwrap()
            .is_empty()
    );

    // SES is back. The first retry is a minute after the failed attempt
    // (counted from its invocation's deadline, 11:02), not from the
    // message's own time (11:00), which a late send would have spent.
    stack.runner.invoker_mut().dispatch = working;
    stack.tick("2026-11-23T11:02:30Z").await.unwrap();
    assert!(
        stack
            .sent_by("abandoned_checkout")
            .await
            .unwrap()
            .is_empty(),
        "not before its retry time"
    );
    stack.tick("2026-11-23T11:03:00Z").await.unwrap();
    let sent = stack.sent_by("abandoned_checkout").await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, vec!["ana.silva@example.com"]);
    assert!(
        waymark_aws::store::outbox_by_status(&store, "retry")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_reminders_at_1h_24h_and_72h_then_nothing() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("checkouts/create", "wh-1", CHECKOUT)
        .await
        .unwrap();
    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    stack.tick("2026-11-24T09:59:00Z").await.unwrap();
    assert_eq!(stack.sent_by("abandoned_checkout").await.unwrap().len(), 1);
    stack.tick("2026-11-24T10:01:00Z").await.unwrap();
    stack.tick("2026-11-26T10:01:00Z").await.unwrap();
    stack.tick("2026-12-31T00:00:00Z").await.unwrap();
    let sent = stack.sent().await.unwrap();
    let subjects: Vec<&str> = sent.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(
        subjects,
        vec![
            "Ana, you left something in your cart",
            "Still thinking it over, Ana?",
            "Last call for your cart (€66.00)"
        ]
    );
    // Only the last carries a code, valid 12 hours.
    assert!(!sent[0].text.contains("CART-") && !sent[1].text.contains("CART-"));
    assert!(
        sent[2].text.contains("10% off with the code CART-"),
        "{}",
        sent[2].text
    );
    assert!(sent[2].text.contains("for the next 12 hours"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_after_the_first_reminder_stops_the_rest() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("checkouts/create", "wh-1", CHECKOUT)
        .await
        .unwrap();
    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    let order = ORDER.replace("2026-11-23T05:30:00-05:00", "2026-11-23T08:00:00-05:00");
    stack
        .webhook("orders/create", "wh-o", &order)
        .await
        .unwrap();
    stack.tick("2026-12-31T00:00:00Z").await.unwrap();
    assert_eq!(stack.sent_by("abandoned_checkout").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_french_speaking_customer_gets_the_french_variant() {
    let mut stack = Stack::start().await.unwrap();
    let french = CHECKOUT.replace(
        "\"customer_locale\": \"en-IE\"",
        "\"customer_locale\": \"fr-FR\"",
    );
    stack
        .webhook("checkouts/create", "wh-fr", &french)
        .await
        .unwrap();
    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    let sent = stack.sent_by("abandoned_checkout").await.unwrap();
    assert_eq!(
        sent[0].subject,
        "Ana, vous avez oublié quelque chose dans votre panier"
    );
    assert!(
        sent[0].text.contains("Total : 66,00\u{a0}€"),
        "{}",
        sent[0].text
    );
}
