use super::*;
use crate::event::EventKind;
use proptest::prelude::*;

const CHECKOUT: &str = include_str!("../../../../events/shopify/checkouts_create.json");
const ORDER: &str = include_str!("../../../../events/shopify/orders_create.json");
const CUSTOMER: &str = include_str!("../../../../events/shopify/customers_create.json");

fn shop() -> ShopDomain {
    ShopDomain::parse("demo.myshopify.com").unwrap()
}

fn delivery<'a>(shop: &'a ShopDomain, topic: &str, body: &'a [u8]) -> Delivery<'a> {
    Delivery {
        shop,
        topic: Topic::parse(topic).unwrap(),
        webhook_id: "wh-1",
        triggered_at: None,
        body,
    }
}

#[test]
fn checkout_becomes_checkout_updated_at_its_updated_at() {
    let shop = shop();
    let e = parse(&delivery(&shop, "checkouts/create", CHECKOUT.as_bytes())).unwrap();
    assert_eq!(e.at.to_string(), "2026-11-23T10:00:00Z");
    let EventKind::CheckoutUpdated(c) = &e.kind else {
        panic!("expected a checkout, got {:?}", e.kind)
    };
    assert_eq!(c.token, "c1a9e3b2d4f60718293a4b5c6d7e8f90");
    assert_eq!(c.email.as_ref().unwrap().as_str(), "ana.silva@example.com");
    assert_eq!(c.customer_id, Some(7012345678901));
    assert_eq!(c.line_items.len(), 2);
    assert_eq!(c.line_items[1].quantity, 2);
    assert_eq!(c.line_items[1].price.amount_minor, 1850);
    assert_eq!(c.total.as_ref().unwrap().to_string(), "66.00 EUR");
    assert!(c.recovery_url.as_deref().unwrap().contains("/recover"));
}

#[test]
fn create_and_update_of_the_same_checkout_state_share_an_event_id() {
    let shop = shop();
    let a = parse(&delivery(&shop, "checkouts/create", CHECKOUT.as_bytes())).unwrap();
    let mut b = delivery(&shop, "checkouts/update", CHECKOUT.as_bytes());
    b.webhook_id = "wh-2";
    let b = parse(&b).unwrap();
    assert_eq!(a.id, b.id);
    let newer = CHECKOUT.replace("2026-11-23T05:00:00-05:00", "2026-11-23T05:10:00-05:00");
    let c = parse(&delivery(&shop, "checkouts/update", newer.as_bytes())).unwrap();
    assert_ne!(a.id, c.id);
}

#[test]
fn orders_and_customers_parse() {
    let shop = shop();
    let o = parse(&delivery(&shop, "orders/create", ORDER.as_bytes())).unwrap();
    assert_eq!(o.at.to_string(), "2026-11-23T10:30:00Z");
    let EventKind::OrderPlaced(order) = &o.kind else {
        panic!("expected an order")
    };
    assert_eq!(
        order.checkout_token.as_deref(),
        Some("c1a9e3b2d4f60718293a4b5c6d7e8f90")
    );
    assert!(order.discount_codes.is_empty());
    assert_eq!(order.financial_status.as_deref(), Some("paid"));
    assert!(!order.unpaid());
    let mut with_code: serde_json::Value = serde_json::from_str(ORDER).unwrap();
    with_code["discount_codes"] =
        serde_json::json!([{"code": " WELCOME-ABC ", "amount": "6.60", "type": "percentage"}]);
    let o = parse(&delivery(
        &shop,
        "orders/create",
        with_code.to_string().as_bytes(),
    ))
    .unwrap();
    let EventKind::OrderPlaced(order) = &o.kind else {
        panic!("expected an order")
    };
    assert_eq!(order.discount_codes, vec!["WELCOME-ABC".to_string()]);
    let c = parse(&delivery(&shop, "customers/create", CUSTOMER.as_bytes())).unwrap();
    let EventKind::CustomerUpserted(cust) = &c.kind else {
        panic!("expected a customer")
    };
    assert_eq!(cust.accepts_marketing, Some(true));
    assert_eq!(cust.first_name.as_deref(), Some("Ana"));
}

#[test]
fn time_falls_back_to_the_triggered_at_header() {
    let shop = shop();
    let body = br#"{"token":"t1","email":"a@example.com","line_items":[]}"#;
    let mut d = delivery(&shop, "checkouts/update", body);
    assert!(
        parse(&d)
            .unwrap_err()
            .to_string()
            .contains("X-Shopify-Triggered-At")
    );
    d.triggered_at = Some("2026-11-23T10:00:00Z".parse().unwrap());
    assert_eq!(parse(&d).unwrap().at.to_string(), "2026-11-23T10:00:00Z");
}

#[test]
fn errors_name_the_problem() {
    let shop = shop();
    let err = parse(&delivery(&shop, "checkouts/update", b"{not json")).unwrap_err();
    assert!(matches!(err, PayloadError::Json(_)), "{err}");
    let err = parse(&delivery(
        &shop,
        "orders/create",
        br#"{"email":"a@example.com"}"#,
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("orders/create") && err.contains("`id`"),
        "{err}"
    );
    let err = parse(&delivery(&shop, "checkouts/update", b"[1,2]"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("JSON object"), "{err}");
    let bad_price = CHECKOUT.replace("\"price\": \"29.00\"", "\"price\": \"twenty\"");
    let err = parse(&delivery(&shop, "checkouts/update", bad_price.as_bytes()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line_items[0].price"), "{err}");
    let anonymous = br#"{"token":"t","updated_at":"2026-11-23T10:00:00Z","line_items":[]}"#;
    let err = parse(&delivery(&shop, "checkouts/update", anonymous))
        .unwrap_err()
        .to_string();
    assert!(err.contains("neither a customer id nor an email"), "{err}");
}

#[test]
fn unknown_topics_are_not_parsed() {
    assert!(Topic::parse("products/update").is_none());
    assert_eq!(
        Topic::parse("orders/paid").map(Topic::as_str),
        Some("orders/paid")
    );
}

proptest! {
    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let shop = shop();
        for topic in ["checkouts/update", "orders/create", "customers/update"] {
            let _ = parse(&delivery(&shop, topic, &body));
        }
    }

    #[test]
    fn arbitrary_json_values_never_panic(s in "\\PC{0,200}") {
        let shop = shop();
        let body = serde_json::json!({"token": s, "id": 1, "email": s, "line_items": [{"title": s, "quantity": 1, "price": s}]}).to_string();
        for topic in ["checkouts/update", "orders/create", "customers/update"] {
            let _ = parse(&delivery(&shop, topic, body.as_bytes()));
        }
    }
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../events/shopify/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn with_time<'a>(shop: &'a ShopDomain, topic: &str, body: &'a [u8]) -> Delivery<'a> {
    Delivery {
        triggered_at: Some("2026-12-01T00:00:00Z".parse().unwrap()),
        ..delivery(shop, topic, body)
    }
}

#[test]
fn fulfilments_refunds_and_privacy_topics_parse() {
    let shop = shop();
    let body = sample("fulfillments_create.json");
    let e = parse(&delivery(&shop, "fulfillments/create", &body)).unwrap();
    let EventKind::ShipmentUpdated(s) = &e.kind else {
        panic!("{:?}", e.kind)
    };
    assert_eq!(
        (s.order_id, s.shipment_status.as_deref()),
        (6123456789012, Some("in_transit"))
    );
    assert_eq!(
        s.tracking[0].url.as_deref(),
        Some("https://track.example.com/CE123456789IE")
    );
    assert_eq!(e.kind.identity().order_id, Some(6123456789012));
    let updated = sample("fulfillments_update.json");
    let u = parse(&delivery(&shop, "fulfillments/update", &updated)).unwrap();
    assert_ne!(u.id, e.id, "a newer version of the shipment is a new fact");

    let body = sample("refunds_create.json");
    let e = parse(&delivery(&shop, "refunds/create", &body)).unwrap();
    let EventKind::OrderRefunded(r) = &e.kind else {
        panic!("{:?}", e.kind)
    };
    assert_eq!(r.amount.as_ref().unwrap().to_string(), "28.00 EUR");

    let body = sample("customers_delete.json");
    let e = parse(&with_time(&shop, "customers/delete", &body)).unwrap();
    assert!(
        matches!(&e.kind, EventKind::CustomerDeleted(p) if p.customer_id == Some(7012345678901))
    );

    let body = sample("customers_redact.json");
    let e = parse(&with_time(&shop, "customers/redact", &body)).unwrap();
    let EventKind::CustomerRedacted(r) = &e.kind else {
        panic!("{:?}", e.kind)
    };
    assert_eq!(r.orders, vec![6123456789012]);
    assert_eq!(r.email.as_ref().unwrap().as_str(), "ana.silva@example.com");

    let body = sample("customers_data_request.json");
    let e = parse(&with_time(&shop, "customers/data_request", &body)).unwrap();
    assert!(
        matches!(&e.kind, EventKind::DataRequested(r) if r.request_id.as_deref() == Some("9999"))
    );

    let body = sample("shop_redact.json");
    let e = parse(&with_time(&shop, "shop/redact", &body)).unwrap();
    assert_eq!(e.kind, EventKind::ShopRedacted);
    // Without a time anywhere, a privacy request is refused, not guessed.
    assert!(parse(&delivery(&shop, "shop/redact", &body)).is_err());
    // Another shop's request sent with this shop's headers is refused.
    let other = ShopDomain::parse("other.myshopify.com").unwrap();
    let err = parse(&with_time(&other, "shop/redact", &body)).unwrap_err();
    assert!(
        err.to_string().contains("is not the shop that sent it"),
        "{err}"
    );
}

#[test]
fn subscription_contracts_and_billings_parse() {
    let shop = shop();
    let contract = include_str!("../../../../events/shopify/subscription_contracts_create.json");
    let mut d = delivery(&shop, "subscription_contracts/create", contract.as_bytes());
    d.triggered_at = Some("2026-11-23T10:40:00Z".parse().unwrap());
    let e = parse(&d).unwrap();
    assert_eq!(e.at.to_string(), "2026-11-23T10:40:00Z");
    let EventKind::SubscriptionChanged(s) = &e.kind else {
        panic!("expected a subscription")
    };
    assert_eq!(
        (s.contract_id, s.customer_id),
        (8812345601, Some(7012345678901))
    );
    assert_eq!(s.status, "active");
    assert_eq!(
        s.interval,
        Some(crate::event::Cadence::parse("MONTH", 1).unwrap())
    );
    // A pause without a status field takes the topic's word.
    let bare = br#"{"id": 8812345601, "customer_id": 7012345678901}"#;
    let mut d = delivery(&shop, "subscription_contracts/pause", bare);
    d.triggered_at = Some("2026-12-05T09:00:00Z".parse().unwrap());
    let EventKind::SubscriptionChanged(s) = parse(&d).unwrap().kind else {
        panic!("expected a subscription")
    };
    assert_eq!(s.status, "paused");

    let billed =
        include_str!("../../../../events/shopify/subscription_billing_attempts_success.json");
    let mut d = delivery(
        &shop,
        "subscription_billing_attempts/success",
        billed.as_bytes(),
    );
    d.triggered_at = Some("2026-12-01T08:00:00Z".parse().unwrap());
    let e = parse(&d).unwrap();
    assert_eq!(e.kind.name(), "subscription_billed");
    assert_eq!(e.kind.order_id(), Some(6123456789101));
    assert_eq!(e.kind.identity().contract_id, Some(8812345601));
    // Billings carry no time: without the header there is none to use.
    let d = delivery(
        &shop,
        "subscription_billing_attempts/success",
        billed.as_bytes(),
    );
    assert!(parse(&d).is_err());
}

#[test]
fn cadences_step_in_calendar_terms() {
    use crate::event::Cadence;
    let utc = jiff::tz::TimeZone::UTC;
    let at: jiff::Timestamp = "2027-01-31T08:00:00Z".parse().unwrap();
    let monthly = Cadence::parse("month", 1).unwrap();
    assert_eq!(
        monthly.after(at, &utc).unwrap().to_string(),
        "2027-02-28T08:00:00Z"
    );
    let fortnightly = Cadence::parse("WEEK", 2).unwrap();
    assert_eq!(
        fortnightly.after(at, &utc).unwrap().to_string(),
        "2027-02-14T08:00:00Z"
    );
    assert!(Cadence::parse("fortnight", 1).is_err());
    assert!(Cadence::parse("day", 0).is_err());
}
