//! The built-in journeys beyond abandoned checkout, end to end on the local
//! stack: signed webhooks in, ticks for time, SES (the emulator) out.
//! Ana signs up at 09:57:40Z with marketing consent; her order is at 10:30Z.

use waymark_scenarios::{CUSTOMER, ORDER, Stack};

const FULFILLED: &str = include_str!("../../../events/shopify/orders_fulfilled.json");

async fn subjects(stack: &Stack) -> Vec<String> {
    stack
        .sent()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.subject)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn welcome_series_sends_at_once_then_day_2_day_5_and_the_coupon_reminder() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    assert_eq!(
        subjects(&stack).await,
        vec!["Welcome, Ana!"],
        "at once, no tick needed"
    );
    stack.tick("2026-11-25T09:57:00Z").await.unwrap();
    assert_eq!(subjects(&stack).await.len(), 1, "day 2 is not up yet");
    stack.tick("2026-11-25T09:58:00Z").await.unwrap();
    stack.tick("2026-11-28T10:00:00Z").await.unwrap();
    stack.tick("2027-01-31T00:00:00Z").await.unwrap();
    assert_eq!(
        subjects(&stack).await,
        vec![
            "Welcome, Ana!",
            "How we work: shipping, returns and help",
            "What everyone is buying this week",
            // Two days before the 14-day code expires, still unused.
            "Your 10% welcome code expires on 7 December 2026",
        ]
    );
    // One code: in the welcome, in the reminder, and told to the store.
    let sent = stack.sent().await.unwrap();
    let code = sent[0]
        .text
        .split_whitespace()
        .find(|w| w.starts_with("WELCOME-"))
        .expect("the welcome carries a code")
        .to_string();
    assert!(sent[3].text.contains(&code), "{}", sent[3].text);
    assert!(sent[3].html.contains(&code));
    let issued: Vec<_> = stack
        .published_with_data()
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, t, _)| t == "waymark.coupon_issued")
        .collect();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].2["coupon"]["code"], code.as_str());
    assert_eq!(issued[0].2["coupon"]["discount"], "10%");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_welcome_code_used_in_an_order_converts_and_gets_no_reminder() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    let welcome = &stack.sent().await.unwrap()[0];
    let code = welcome
        .text
        .split_whitespace()
        .find(|w| w.starts_with("WELCOME-"))
        .unwrap()
        .to_string();
    let mut order: serde_json::Value = serde_json::from_str(ORDER).unwrap();
    order["discount_codes"] =
        serde_json::json!([{"code": code, "amount": "6.60", "type": "percentage"}]);
    stack
        .webhook("orders/create", "wh-o", &order.to_string())
        .await
        .unwrap();
    stack.tick("2027-01-31T00:00:00Z").await.unwrap();
    let subjects = subjects(&stack).await;
    assert!(
        !subjects.iter().any(|s| s.contains("welcome code expires")),
        "{subjects:?}"
    );
    let store = stack.store();
    let shop = waymark_core::ids::ShopDomain::parse("demo.myshopify.com").unwrap();
    let state = waymark_app::ports::ContactStore::load_for_update(
        &store,
        &shop,
        &waymark_core::ids::ContactId::for_customer(7_012_345_678_901),
    )
    .await
    .unwrap()
    .expect("Ana's contact");
    assert_eq!(state.contact.commerce.coupons.len(), 1);
    assert_eq!(state.contact.commerce.coupons[0].code, code);
    assert!(
        state.contact.commerce.coupons[0].used_at.is_some(),
        "the order spent it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_consent_no_welcome() {
    let mut stack = Stack::start().await.unwrap();
    let declined = CUSTOMER.replace("\"state\": \"subscribed\"", "\"state\": \"not_subscribed\"");
    stack
        .webhook("customers/create", "wh-c", &declined)
        .await
        .unwrap();
    stack.tick("2026-12-31T00:00:00Z").await.unwrap();
    assert!(subjects(&stack).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_order_ends_the_welcome_and_starts_the_order_follow_up() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    stack.webhook("orders/create", "wh-o", ORDER).await.unwrap();
    assert_eq!(
        subjects(&stack).await,
        vec!["Welcome, Ana!", "Thank you for your order, Ana"]
    );
    let thanks = &stack.sent().await.unwrap()[1];
    assert!(
        thanks
            .text
            .contains("2 × Trail Socks (3-pack) (M) — 18.50 EUR"),
        "{}",
        thanks.text
    );
    stack
        .webhook("orders/fulfilled", "wh-f", FULFILLED)
        .await
        .unwrap();
    let shipped = stack.sent().await.unwrap().pop().unwrap();
    assert_eq!(shipped.subject, "Your order is on its way");
    assert!(
        shipped.text.contains(
            "An Post: CE123456789IE — track it at https://track.example.com/CE123456789IE"
        ),
        "{}",
        shipped.text
    );
    // Fulfilled 2026-11-25T14:12Z; the review request comes 7 days later.
    stack.tick("2026-12-02T14:11:00Z").await.unwrap();
    assert_eq!(subjects(&stack).await.len(), 3);
    stack.tick("2026-12-02T14:13:00Z").await.unwrap();
    let all = subjects(&stack).await;
    assert_eq!(all.last().unwrap(), "How did we do, Ana?");
    assert!(
        !all.iter().any(|s| s.starts_with("How we work")),
        "no more welcome: {all:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_order_gets_no_shipping_or_review_email() {
    let mut stack = Stack::start().await.unwrap();
    stack.webhook("orders/create", "wh-o", ORDER).await.unwrap();
    let cancelled = ORDER.replace(
        "\"cancelled_at\": null",
        "\"cancelled_at\": \"2026-11-23T12:00:00Z\"",
    );
    stack
        .webhook("orders/cancelled", "wh-x", &cancelled)
        .await
        .unwrap();
    stack
        .webhook("orders/fulfilled", "wh-f", FULFILLED)
        .await
        .unwrap();
    stack.tick("2027-01-31T00:00:00Z").await.unwrap();
    assert_eq!(
        subjects(&stack).await,
        vec!["Thank you for your order, Ana"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_sell_offers_the_complement_14_days_after_the_first_order() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    stack.webhook("orders/create", "wh-o", ORDER).await.unwrap();
    stack.tick("2026-12-07T10:29:00Z").await.unwrap();
    assert!(!subjects(&stack).await.iter().any(|s| s.contains("scarf")));
    stack.tick("2026-12-07T10:31:00Z").await.unwrap();
    let offers: Vec<String> = subjects(&stack)
        .await
        .into_iter()
        .filter(|s| s.contains("scarf") || s.contains("bestsellers"))
        .collect();
    assert_eq!(
        offers,
        vec!["The scarf that goes with your beanie"],
        "bought A → offer B"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_order_before_the_cross_sell_converts_it() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    stack.webhook("orders/create", "wh-o", ORDER).await.unwrap();
    let second = ORDER
        .replace("6123456789012", "6123456789999")
        .replace("2026-11-23T05:30:00-05:00", "2026-11-30T05:30:00-05:00");
    stack
        .webhook("orders/create", "wh-o2", &second)
        .await
        .unwrap();
    stack.tick("2027-01-31T00:00:00Z").await.unwrap();
    assert!(
        !subjects(&stack)
            .await
            .iter()
            .any(|s| s.contains("scarf") || s.contains("bestsellers"))
    );
}

const CHECKOUT: &str = waymark_scenarios::CHECKOUT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketing_mail_carries_one_click_unsubscribe_and_it_stops_the_next_email() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("checkouts/create", "wh-1", CHECKOUT)
        .await
        .unwrap();
    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    let first = stack.sent().await.unwrap().pop().unwrap();
    let header = first.header("List-Unsubscribe").unwrap().to_string();
    assert_eq!(
        first.header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    let url = header
        .split(['<', '>'])
        .find(|p| p.starts_with("http"))
        .unwrap_or_else(|| panic!("{header}"))
        .to_string();
    assert!(
        url.starts_with("http://127.0.0.1:9000/lambda-url/preferences/unsubscribe?t="),
        "{url}"
    );
    assert!(
        !header.contains("mailto:"),
        "no mailbox reads it here: not advertised: {header}"
    );
    assert!(
        first.text.contains(&format!("Unsubscribe: {url}")),
        "footer link: {}",
        first.text
    );

    // The mail client's one-click POST, as RFC 8058 describes it.
    let (status, body) = stack.preferences("POST", &url).await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("You are unsubscribed"));
    stack.tick("2026-12-31T00:00:00Z").await.unwrap();
    assert_eq!(
        stack.sent().await.unwrap().len(),
        1,
        "no reminder after the unsubscribe"
    );

    // Order updates still go: they are transactional.
    stack.webhook("orders/create", "wh-o", ORDER).await.unwrap();
    assert_eq!(
        subjects(&stack).await.last().unwrap(),
        "Thank you for your order, Ana"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_link_changes_nothing_and_answers_like_any_other() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("checkouts/create", "wh-1", CHECKOUT)
        .await
        .unwrap();
    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    let url = stack.sent().await.unwrap()[0].unsubscribe_url().unwrap();
    // Point the token at another address: the signature no longer matches.
    let tampered = url.replacen("?t=", "?t=Y", 1);
    let forged = stack.preferences("POST", &tampered).await.unwrap();
    // A genuine token for an address Waymark has never seen.
    let shop = waymark_core::ids::ShopDomain::parse(waymark_scenarios::SHOP).unwrap();
    let stranger = waymark_core::ids::EmailAddress::parse("nobody@example.com").unwrap();
    let token = waymark_core::unsubscribe::sign(
        &waymark_scenarios::token_keys(),
        &shop,
        &stranger,
        "2026-11-23T11:00:00Z".parse().unwrap(),
    );
    let unknown = stack
        .preferences(
            "POST",
            &format!(
                "{}/unsubscribe?t={token}",
                waymark_scenarios::PREFERENCES_URL
            ),
        )
        .await
        .unwrap();
    assert_eq!(forged, unknown, "the same answer: nothing about who exists");
    // Ana is still subscribed: the next reminder goes.
    stack.tick("2026-11-24T10:01:00Z").await.unwrap();
    assert_eq!(stack.sent().await.unwrap().len(), 2);
    // And the confirmation page alone (a scanner following the link) changes nothing.
    let (status, page) = stack.preferences("GET", &url).await.unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("<form method=\"post\""));
    stack.tick("2026-11-26T10:01:00Z").await.unwrap();
    assert_eq!(stack.sent().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsubscribe_link_expires_90_days_after_its_email_whatever_the_date_today() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("checkouts/create", "wh-1", CHECKOUT)
        .await
        .unwrap();
    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    let url = stack.sent().await.unwrap()[0].unsubscribe_url().unwrap();
    let shop = waymark_core::ids::ShopDomain::parse(waymark_scenarios::SHOP).unwrap();
    let ana = waymark_core::ids::EmailAddress::parse("ana.silva@example.com").unwrap();
    use waymark_app::ports::Suppressions;
    // 91 days after the email (the reminders went meanwhile): the link no
    // longer works, and the answer says nothing about why.
    stack.tick("2027-02-22T11:02:00Z").await.unwrap();
    let (status, _) = stack.preferences("POST", &url).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        stack.store().suppression(&shop, &ana).await.unwrap(),
        None,
        "an expired link records nothing"
    );
    // The same link, 89 days after its email, in a second stack, works.
    let mut early = Stack::start().await.unwrap();
    early
        .webhook("checkouts/create", "wh-1", CHECKOUT)
        .await
        .unwrap();
    early.tick("2026-11-23T11:01:00Z").await.unwrap();
    let url = early.sent().await.unwrap()[0].unsubscribe_url().unwrap();
    early.tick("2027-02-20T11:00:00Z").await.unwrap();
    early.preferences("POST", &url).await.unwrap();
    assert_eq!(
        early.store().suppression(&shop, &ana).await.unwrap(),
        Some(waymark_app::ports::SuppressionReason::Unsubscribed)
    );
}

fn ses_sample(name: &str) -> serde_json::Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_bounce_suppresses_the_address_for_every_journey() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("checkouts/create", "wh-1", CHECKOUT)
        .await
        .unwrap();
    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    let out = stack
        .ses_event(ses_sample("feedback-bounce.json"))
        .await
        .unwrap();
    assert!(out.contains("Suppressed(1)"), "{out}");
    stack.tick("2026-12-31T00:00:00Z").await.unwrap();
    // Not even transactional mail goes to a dead address.
    stack.webhook("orders/create", "wh-o", ORDER).await.unwrap();
    assert_eq!(
        stack.sent().await.unwrap().len(),
        1,
        "only the mail before the bounce"
    );
    let store = waymark_aws::store::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        &stack.table,
    );
    let skipped = waymark_aws::store::outbox_by_status(&store, "skipped")
        .await
        .unwrap();
    assert_eq!(
        skipped.len(),
        3,
        "reminders 2 and 3 and the thank-you: kept, marked, not sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_suppresses_and_unsubscribes() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    stack
        .webhook("checkouts/create", "wh-1", CHECKOUT)
        .await
        .unwrap();
    stack
        .ses_event(ses_sample("feedback-complaint.json"))
        .await
        .unwrap();
    stack.tick("2026-12-31T00:00:00Z").await.unwrap();
    assert_eq!(
        subjects(&stack).await,
        vec!["Welcome, Ana!"],
        "nothing after the complaint"
    );
    let state = waymark_app::ports::ContactStore::load_for_update(
        &waymark_aws::store::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&stack.sdk),
            &stack.table,
        ),
        &waymark_core::ids::ShopDomain::parse(waymark_scenarios::SHOP).unwrap(),
        &waymark_core::ids::ContactId::for_customer(7012345678901),
    )
    .await
    .unwrap()
    .unwrap();
    let consent = state.contact.marketing.consent.unwrap();
    assert!(!consent.subscribed);
    assert_eq!(consent.source.as_str(), "complaint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_and_clicks_keep_engagement_current_and_mail_from_elsewhere_is_ignored() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    stack
        .ses_event(ses_sample("feedback-open.json"))
        .await
        .unwrap();
    stack
        .ses_event(ses_sample("feedback-click.json"))
        .await
        .unwrap();
    let store = waymark_aws::store::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        &stack.table,
    );
    let state = waymark_app::ports::ContactStore::load_for_update(
        &store,
        &waymark_core::ids::ShopDomain::parse(waymark_scenarios::SHOP).unwrap(),
        &waymark_core::ids::ContactId::for_customer(7012345678901),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        state.contact.audience.last_engaged_at.unwrap().to_string(),
        "2026-11-23T11:20:31Z",
        "the click, the newest engagement"
    );
    let mut foreign = ses_sample("feedback-bounce.json");
    foreign["detail"]["mail"]["tags"] = serde_json::json!({});
    let out = stack.ses_event(foreign).await.unwrap();
    assert!(out.starts_with("ignored"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_move_a_night_time_reminder_to_the_morning_in_the_contacts_zone() {
    let mut stack = Stack::start().await.unwrap();
    // A customer in Tokyo leaves a checkout at 02:30 local (17:30Z).
    let tokyo = CHECKOUT
        .replace("\"country_code\": \"IE\"", "\"country_code\": \"JP\"")
        .replace("2026-11-23T05:00:00-05:00", "2026-11-23T17:30:00Z");
    stack
        .webhook("checkouts/create", "wh-jp", &tokyo)
        .await
        .unwrap();
    stack.tick("2026-11-23T18:31:00Z").await.unwrap();
    assert!(
        stack.sent().await.unwrap().is_empty(),
        "03:30 in Tokyo: held"
    );
    stack.tick("2026-11-23T22:59:00Z").await.unwrap();
    assert!(stack.sent().await.unwrap().is_empty());
    stack.tick("2026-11-23T23:01:00Z").await.unwrap();
    assert_eq!(stack.sent().await.unwrap().len(), 1, "08:00 in Tokyo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_order_enters_vip_membership_is_countable_and_a_fourth_brings_the_offer() {
    use waymark_app::ports::Segments;
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", CUSTOMER)
        .await
        .unwrap();
    let order = |n: u32| {
        ORDER
            .replace("6123456789012", &format!("61234567890{n:02}"))
            .replace(
                "2026-11-23T05:30:00-05:00",
                &format!("2026-12-{:02}T05:30:00-05:00", n * 5),
            )
    };
    let store = waymark_aws::store::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        &stack.table,
    );
    let shop = waymark_core::ids::ShopDomain::parse(waymark_scenarios::SHOP).unwrap();
    for n in 1..=2 {
        stack
            .webhook("orders/create", &format!("wh-o{n}"), &order(n))
            .await
            .unwrap();
    }
    assert_eq!(store.count(&shop, "vip").await.unwrap(), 0);
    assert_eq!(
        store.count(&shop, "first_time_buyers").await.unwrap(),
        0,
        "left it at the second order"
    );
    stack
        .webhook("orders/create", "wh-o3", &order(3))
        .await
        .unwrap();
    assert_eq!(store.count(&shop, "vip").await.unwrap(), 1);
    let members = store.members(&shop, "vip").await.unwrap();
    assert_eq!(
        members[0].email.as_ref().unwrap().as_str(),
        "ana.silva@example.com"
    );
    assert!(
        subjects(&stack)
            .await
            .contains(&"You are one of our best customers, Ana".to_string())
    );

    stack
        .webhook("orders/create", "wh-o4", &order(4))
        .await
        .unwrap();
    stack.tick("2026-12-21T10:31:00Z").await.unwrap();
    assert_eq!(
        subjects(&stack).await.last().unwrap(),
        "A little something for our VIPs"
    );
}

fn click_on(link: &str) -> serde_json::Value {
    let mut click = ses_sample("feedback-click.json");
    click["detail"]["click"]["link"] = link.into();
    click
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ebook_flow_splits_on_the_click() {
    let ebook = CUSTOMER.replace("\"tags\": \"\"", "\"tags\": \"ebook, newsletter\"");
    // Clicked: the introduction two days after the click.
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", &ebook)
        .await
        .unwrap();
    assert_eq!(
        subjects(&stack).await,
        vec!["Your e-book: The Knitwear Care Guide"],
        "the welcome series steps aside"
    );
    stack
        .ses_event(click_on(
            "https://demo.myshopify.com/pages/ebook/knitwear-care-guide.pdf",
        ))
        .await
        .unwrap();
    stack.tick("2026-11-25T11:20:00Z").await.unwrap();
    assert_eq!(subjects(&stack).await.len(), 1);
    stack.tick("2026-11-25T11:21:00Z").await.unwrap();
    assert_eq!(
        subjects(&stack).await.last().unwrap(),
        "Who makes your knitwear"
    );

    // No click: the reminder after three days, and nothing more.
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c", &ebook)
        .await
        .unwrap();
    stack.tick("2026-12-31T00:00:00Z").await.unwrap();
    assert_eq!(
        subjects(&stack).await,
        vec![
            "Your e-book: The Knitwear Care Guide",
            "Your e-book is still waiting"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rsvp_click_puts_the_contact_in_the_attendees_segment() {
    use waymark_app::ports::Segments;
    let mut stack = Stack::start().await.unwrap();
    let invited = CUSTOMER.replace("\"tags\": \"\"", "\"tags\": \"event_invite\"");
    stack
        .webhook("customers/create", "wh-c", &invited)
        .await
        .unwrap();
    assert!(
        subjects(&stack)
            .await
            .contains(&"You are invited: our winter open studio".to_string())
    );
    let store = waymark_aws::store::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        &stack.table,
    );
    let shop = waymark_core::ids::ShopDomain::parse(waymark_scenarios::SHOP).unwrap();
    // A click on another link changes nothing.
    stack
        .ses_event(click_on("https://demo.myshopify.com/collections/all"))
        .await
        .unwrap();
    assert_eq!(store.count(&shop, "event_attendees").await.unwrap(), 0);
    let mut rsvp = click_on("https://demo.myshopify.com/pages/rsvp?event=open-studio");
    rsvp["detail"]["click"]["timestamp"] = "2026-11-23T11:25:00.000Z".into();
    rsvp["time"] = "2026-11-23T11:25:00Z".into();
    stack.ses_event(rsvp).await.unwrap();
    assert_eq!(store.count(&shop, "event_attendees").await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vip_journey_publishes_an_audience_event_through_the_outbox() {
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
    let vip: Vec<_> = stack
        .published()
        .await
        .unwrap()
        .into_iter()
        .filter(|(journey, _)| journey != "welcome_series")
        .collect();
    assert_eq!(
        vip,
        vec![("vip".to_string(), "waymark.vip_entered".to_string())],
        "published once, to EventBridge (moto)"
    );
}
