//! The built-in journeys that stand on the audience (site events, scores,
//! segments, lifecycle stages), end to end on the local stack: storefront
//! events through `POST /track` and webhooks in, ticks for time, SES out.

use serde_json::{Value, json};
use waymark_scenarios::{CUSTOMER, ORDER, Stack};

async fn subjects_of(stack: &Stack, journey: &str) -> Vec<String> {
    stack
        .sent_by(journey)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.subject)
        .collect()
}

fn page(id: &str, at: &str, page_type: &str) -> Value {
    json!({"type": "page_viewed", "id": id, "anonymous_id": "anon-ana", "at": at,
           "email": "ana.silva@example.com", "page_type": page_type})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intent_pages_add_score_and_past_the_threshold_bring_an_offer_and_a_handoff() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    // Two pricing views: score 10, under the threshold of 15.
    stack
        .track(json!([
            page("p1", "2026-11-24T12:00:00Z", "pricing"),
            page("p2", "2026-11-24T12:01:00Z", "pricing")
        ]))
        .await
        .unwrap();
    assert!(subjects_of(&stack, "intent_page").await.is_empty());
    // A blog view scores nothing; the onboarding guide makes 15.
    stack
        .track(json!([
            page("p3", "2026-11-24T12:02:00Z", "blog"),
            page("p4", "2026-11-24T12:03:00Z", "onboarding")
        ]))
        .await
        .unwrap();
    assert_eq!(
        subjects_of(&stack, "intent_page").await,
        vec!["Can we help you get started?"]
    );
    // More views within 30 days: no second offer.
    stack
        .track(json!([page("p5", "2026-11-25T12:00:00Z", "pricing")]))
        .await
        .unwrap();
    assert_eq!(subjects_of(&stack, "intent_page").await.len(), 1);
    let handoffs = stack
        .published()
        .await
        .unwrap()
        .iter()
        .filter(|(_, detail_type)| detail_type == "waymark.sales_handoff")
        .count();
    assert_eq!(handoffs, 1, "the sales hand-off went to EventBridge once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signup_with_a_topic_gets_three_pieces_two_days_apart() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .track(json!([{"type": "form_submitted", "id": "f1", "anonymous_id": "anon-kim",
                       "at": "2026-11-23T12:00:00Z", "email": "kim@example.com", "first_name": "Kim",
                       "topic": "Knitting", "accepts_marketing": true}]))
        .await
        .unwrap();
    assert_eq!(
        subjects_of(&stack, "content_nurture").await,
        vec!["Knitting: where to start"]
    );
    stack.tick("2026-11-25T11:59:00Z").await.unwrap();
    assert_eq!(subjects_of(&stack, "content_nurture").await.len(), 1);
    stack.tick("2026-11-25T12:00:00Z").await.unwrap();
    stack.tick("2026-11-27T12:00:00Z").await.unwrap();
    let sent = stack.sent_by("content_nurture").await.unwrap();
    let subjects: Vec<&str> = sent.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(
        subjects,
        vec![
            "Knitting: where to start",
            "More on knitting",
            "Last in the series: knitting"
        ]
    );
    assert!(
        sent[0].text.contains("Choosing your first merino yarn"),
        "{}",
        sent[0].text
    );
    assert!(
        sent[2].text.contains("Webinar: fixing dropped stitches"),
        "{}",
        sent[2].text
    );
}

fn view(id: &str, at: &str, product: u64) -> Value {
    json!({"type": "product_viewed", "id": id, "anonymous_id": "anon-lee", "at": at,
           "email": "lee@example.com",
           "product": {"id": product, "title": format!("Product {product}"), "category": "Scarves",
                       "price": "39.90", "currency": "EUR"}})
}

/// Lee's signup form (with marketing consent), optionally double opt-in.
fn lee_signs_up(id: &str, at: &str, double_opt_in: bool) -> Value {
    json!([{"type": "form_submitted", "id": id, "anonymous_id": "anon-lee", "at": at,
            "email": "lee@example.com", "accepts_marketing": true, "double_opt_in": double_opt_in}])
}

/// Lee signs up and views three products: "prospects ready to buy".
async fn lee_becomes_a_prospect(stack: &mut Stack) {
    stack
        .track(lee_signs_up("f1", "2026-11-23T12:00:00Z", false))
        .await
        .unwrap();
    stack
        .track(json!([
            view("v1", "2026-11-23T12:01:00Z", 1),
            view("v2", "2026-11-23T12:02:00Z", 2),
            view("v3", "2026-11-23T12:03:00Z", 3)
        ]))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prospect_gets_five_emails_on_days_0_3_7_10_and_20() {
    let mut stack = Stack::start().await.unwrap();
    // Three product views in a week: "prospects ready to buy".
    lee_becomes_a_prospect(&mut stack).await;
    // Day 0 is the day after entry (the browse-abandonment email goes first).
    for day in [
        "2026-11-24T12:03:00Z",
        "2026-11-27T12:03:00Z",
        "2026-12-01T12:03:00Z",
        "2026-12-04T12:03:00Z",
    ] {
        stack.tick(day).await.unwrap();
    }
    assert_eq!(subjects_of(&stack, "five_email_nurture").await.len(), 4);
    stack.tick("2026-12-14T12:02:00Z").await.unwrap();
    assert_eq!(
        subjects_of(&stack, "five_email_nurture").await.len(),
        4,
        "day 20 is not up yet"
    );
    stack.tick("2026-12-14T12:03:00Z").await.unwrap();
    assert_eq!(
        subjects_of(&stack, "five_email_nurture").await,
        vec![
            "Welcome — here is where to find us",
            "This season's bestsellers",
            "Our most-read articles",
            "Picked for you",
            "Early notice: our seasonal sale"
        ]
    );
    // The signup's welcome went at once, so the same afternoon's browse
    // reminder was capped (one marketing email in 16 hours): skipped.
    assert_eq!(
        subjects_of(&stack, "welcome_series")
            .await
            .first()
            .map(String::as_str),
        Some("Welcome!")
    );
    assert!(subjects_of(&stack, "browse_abandonment").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumable_brings_a_reorder_reminder_at_its_interval() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    stack.webhook("orders/create", "wh-o", ORDER).await.unwrap();
    // Ordered 2026-11-23T10:30Z; the trail socks' interval is 60 days.
    stack.tick("2027-01-22T10:29:00Z").await.unwrap();
    assert!(subjects_of(&stack, "replenishment").await.is_empty());
    stack.tick("2027-01-22T10:31:00Z").await.unwrap();
    assert_eq!(
        subjects_of(&stack, "replenishment").await,
        vec!["Time for fresh trail socks?"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorder_before_the_interval_ends_the_reminder() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    stack.webhook("orders/create", "wh-o", ORDER).await.unwrap();
    let reorder = ORDER
        .replace("6123456789012", "6123456789099")
        .replace("2026-11-23T05:30:00-05:00", "2027-01-10T05:30:00-05:00")
        .replace("8123456789013", "8123456789777");
    stack
        .webhook("orders/create", "wh-o2", &reorder)
        .await
        .unwrap();
    stack.tick("2027-03-31T10:31:00Z").await.unwrap();
    assert!(subjects_of(&stack, "replenishment").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decision_stage_nudges_then_a_purchase_moves_to_evaluation() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    // A cart add: the lifecycle rules move Ana to "decision".
    stack
        .track(
            json!([{"type": "added_to_cart", "id": "c1", "anonymous_id": "anon-ana",
                       "email": "ana.silva@example.com", "at": "2026-11-23T12:00:00Z",
                       "product": {"id": 7001, "title": "Merino scarf", "category": "Scarves",
                                   "price": "39.90", "currency": "EUR"}}]),
        )
        .await
        .unwrap();
    stack.tick("2026-11-24T11:59:00Z").await.unwrap();
    assert!(
        subjects_of(&stack, "decision_stage").await.is_empty(),
        "a day to decide first"
    );
    stack.tick("2026-11-24T12:00:00Z").await.unwrap();
    assert_eq!(
        subjects_of(&stack, "decision_stage").await,
        vec!["Still deciding, Ana? Here is 10% off"]
    );
    // Her own code, valid 7 days (not a shared one).
    let nudge = &stack.sent_by("decision_stage").await.unwrap()[0];
    assert!(
        nudge.text.contains("with the code DECIDE-"),
        "{}",
        nudge.text
    );
    assert!(
        nudge.text.contains("valid until 1 December 2026"),
        "{}",
        nudge.text
    );
    let later = ORDER.replace("2026-11-23T05:30:00-05:00", "2026-11-25T09:00:00-00:00");
    stack
        .webhook("orders/create", "wh-o", &later)
        .await
        .unwrap();
    stack.tick("2026-11-28T09:01:00Z").await.unwrap();
    assert_eq!(
        subjects_of(&stack, "decision_stage").await,
        vec![
            "Still deciding, Ana? Here is 10% off",
            "How is your order? And what goes with it"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signup_form_starts_the_welcome_series() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .track(
            json!([{"type": "form_submitted", "id": "f1", "anonymous_id": "anon-mo",
                       "at": "2026-11-23T12:00:00Z", "email": "mo@example.com", "first_name": "Mo",
                       "accepts_marketing": true}]),
        )
        .await
        .unwrap();
    assert_eq!(
        subjects_of(&stack, "welcome_series").await,
        vec!["Welcome, Mo!"]
    );
    // Subscribing again changes nothing: one welcome.
    stack
        .track(json!([{"type": "form_submitted", "id": "f2", "anonymous_id": "anon-mo",
                       "at": "2026-11-23T12:05:00Z", "email": "mo@example.com", "accepts_marketing": true}]))
        .await
        .unwrap();
    assert_eq!(subjects_of(&stack, "welcome_series").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_opt_in_gets_the_cart_reminder_not_a_welcome_on_top() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("checkouts/create", "wh-k", waymark_scenarios::CHECKOUT)
        .await
        .unwrap();
    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    assert!(subjects_of(&stack, "welcome_series").await.is_empty());
    assert_eq!(subjects_of(&stack, "abandoned_checkout").await.len(), 1);
}

const CONTRACT: &str = include_str!("../../../events/shopify/subscription_contracts_create.json");
const BILLED: &str =
    include_str!("../../../events/shopify/subscription_billing_attempts_success.json");
const DELIVERED: &str = include_str!("../../../events/shopify/fulfillments_update.json");

/// A billing attempt for cycle `n` (its own id and order).
fn billing(n: u64) -> String {
    BILLED
        .replace("5512345601", &format!("55123456{n:02}"))
        .replace("6123456789101", &format!("61234567891{n:02}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subscription_cycle_gets_an_on_delivery_and_a_mid_cycle_email_until_paused() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    stack
        .webhook_at(
            "subscription_contracts/create",
            "wh-sc",
            CONTRACT,
            "2026-11-23T10:40:00Z",
        )
        .await
        .unwrap();
    // Cycle 1, billed on 1 December (monthly: the next billing is 1 January).
    stack
        .webhook_at(
            "subscription_billing_attempts/success",
            "wh-b1",
            &billing(1),
            "2026-12-01T08:00:00Z",
        )
        .await
        .unwrap();
    assert!(subjects_of(&stack, "subscription_cycle").await.is_empty());
    // The carrier reports the cycle's order delivered on 4 December.
    let delivered = DELIVERED
        .replace("6123456789012", "6123456789101")
        .replace("2026-11-26T14:02:00", "2026-12-04T14:02:00");
    stack
        .webhook("fulfillments/update", "wh-f1", &delivered)
        .await
        .unwrap();
    assert_eq!(
        subjects_of(&stack, "subscription_cycle").await,
        vec!["Your box #1 has arrived, Ana"]
    );
    // Half-way between 1 December 08:00 and 1 January 08:00: 16 December 20:00.
    stack.tick("2026-12-16T19:59:00Z").await.unwrap();
    assert_eq!(subjects_of(&stack, "subscription_cycle").await.len(), 1);
    stack.tick("2026-12-16T20:01:00Z").await.unwrap();
    assert_eq!(
        subjects_of(&stack, "subscription_cycle").await,
        vec![
            "Your box #1 has arrived, Ana",
            "Half-way to your next box: skip, swap or add something"
        ]
    );
    // Cycle 2 is billed, no delivery is reported, and the subscription is
    // paused before mid-cycle: nothing more.
    stack
        .webhook_at(
            "subscription_billing_attempts/success",
            "wh-b2",
            &billing(2),
            "2027-01-01T08:00:00Z",
        )
        .await
        .unwrap();
    let paused = CONTRACT
        .replace("\"status\": \"active\"", "\"status\": \"paused\"")
        .replace("\"revision_id\": \"1\"", "\"revision_id\": \"2\"");
    stack
        .webhook_at(
            "subscription_contracts/pause",
            "wh-sp",
            &paused,
            "2027-01-05T09:00:00Z",
        )
        .await
        .unwrap();
    stack.tick("2027-02-15T00:00:00Z").await.unwrap();
    assert_eq!(
        subjects_of(&stack, "subscription_cycle").await.len(),
        2,
        "a paused subscription gets no mid-cycle email"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_billing_for_an_unknown_contract_stores_nothing_for_anyone() {
    let mut stack = Stack::start().await.unwrap();
    let (status, _) = stack
        .webhook_at(
            "subscription_billing_attempts/success",
            "wh-b1",
            &billing(1),
            "2026-12-01T08:00:00Z",
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "acknowledged: Shopify must not retry it");
    stack.tick("2027-01-31T00:00:00Z").await.unwrap();
    assert!(stack.sent().await.unwrap().is_empty());
    assert!(
        stack.items_of("contact").await.unwrap() == 0,
        "no contact made from a contract id alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_one_topic_stops_its_journeys_and_keeps_the_rest() {
    let mut stack = Stack::start().await.unwrap();
    lee_becomes_a_prospect(&mut stack).await;
    stack.tick("2026-11-24T12:03:00Z").await.unwrap();
    let nurture = stack.sent_by("five_email_nurture").await.unwrap();
    assert_eq!(nurture.len(), 1, "day 0 of the nurture (topic `news`)");
    let link = nurture[0].unsubscribe_url().unwrap();
    // The page offers the topics; it changes nothing by itself.
    let (status, page) = stack.preferences_with("GET", &link, "").await.unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("value=\"news\"") && page.contains("New arrivals and stories"));
    let (status, page) = stack
        .preferences_with("POST", &link, "topic=news")
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("New arrivals and stories"), "{page}");
    let welcome_before = stack.sent_by("welcome_series").await.unwrap().len();
    stack.tick("2026-12-31T00:00:00Z").await.unwrap();
    assert_eq!(
        stack.sent_by("five_email_nurture").await.unwrap().len(),
        1,
        "no more `news`"
    );
    assert!(
        stack.sent_by("welcome_series").await.unwrap().len() > welcome_before,
        "the welcome series (no topic) goes on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_opt_in_form_subscribes_only_once_the_link_is_confirmed() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .track(lee_signs_up("f1", "2026-11-23T12:00:00Z", true))
        .await
        .unwrap();
    let sent = stack.sent().await.unwrap();
    let subjects: Vec<&str> = sent.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(
        subjects,
        vec!["Please confirm your subscription to Demo Store"],
        "no welcome before the confirmation"
    );
    assert!(
        sent[0].header("List-Unsubscribe").is_none(),
        "transactional"
    );
    let link = sent[0]
        .text
        .split_whitespace()
        .find(|w| w.contains("/preferences/confirm?t="))
        .expect("the confirmation link")
        .to_string();
    // Following the link (a mail scanner does) shows a button, nothing more.
    let (status, page) = stack.preferences_with("GET", &link, "").await.unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("Yes, subscribe me"));
    stack.tick("2026-11-23T12:30:00Z").await.unwrap();
    assert_eq!(stack.sent().await.unwrap().len(), 1);
    // A forged token changes nothing and answers the same.
    let forged = link.replacen("?t=", "?t=Y", 1);
    let (_, forged_page) = stack.preferences_with("POST", &forged, "").await.unwrap();
    assert_eq!(stack.sent().await.unwrap().len(), 1);
    let (status, page) = stack.preferences_with("POST", &link, "").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(page, forged_page);
    let subjects: Vec<String> = stack
        .sent()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert_eq!(
        subjects,
        vec![
            "Please confirm your subscription to Demo Store".to_string(),
            "Welcome!".to_string()
        ],
        "confirmed: subscribed, and the welcome starts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_opt_in_lifts_an_earlier_unsubscribe_an_unconfirmed_form_does_not() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .track(lee_signs_up("f1", "2026-11-23T12:00:00Z", false))
        .await
        .unwrap();
    let welcome = stack.sent().await.unwrap();
    let link = welcome[0].unsubscribe_url().unwrap();
    stack.preferences("POST", &link).await.unwrap();
    let store = stack.store();
    let shop = waymark_core::ids::ShopDomain::parse("demo.myshopify.com").unwrap();
    let lee = waymark_core::ids::EmailAddress::parse("lee@example.com").unwrap();
    use waymark_app::ports::{SuppressionReason, Suppressions};
    assert_eq!(
        store.suppression(&shop, &lee).await.unwrap(),
        Some(SuppressionReason::Unsubscribed)
    );
    // A form (anyone can type an address) does not lift it: it asks for a
    // confirmation, as a double opt-in form does.
    stack
        .track(lee_signs_up("f2", "2026-11-30T12:00:00Z", false))
        .await
        .unwrap();
    assert_eq!(
        store.suppression(&shop, &lee).await.unwrap(),
        Some(SuppressionReason::Unsubscribed)
    );
    let confirm = stack
        .sent()
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.subject.starts_with("Please confirm"))
        .expect("a confirmation, which an unsubscribe does not stop (transactional)");
    let link = confirm
        .text
        .split_whitespace()
        .find(|w| w.contains("/preferences/confirm?t="))
        .unwrap()
        .to_string();
    stack.preferences_with("POST", &link, "").await.unwrap();
    assert_eq!(
        store.suppression(&shop, &lee).await.unwrap(),
        None,
        "lifted"
    );
    let state = waymark_app::ports::ContactStore::load_for_update(
        &store,
        &shop,
        &waymark_core::ids::ContactId::for_email(&lee),
    )
    .await
    .unwrap()
    .expect("Lee's contact");
    assert!(state.contact.accepts_marketing());
    assert_eq!(
        state
            .contact
            .marketing
            .consent
            .as_ref()
            .map(|c| c.source.as_str()),
        Some("double_opt_in")
    );
}
