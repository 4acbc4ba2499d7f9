//! Results (issue 15): a known timeline — a send, its delivery, opens
//! (a person's, a repeat, a machine's), a click, an order inside the
//! attribution window, a partial refund, an order outside the window —
//! gives exact counts and revenue, through the real adapters on moto.

use serde_json::{Value, json};
use waymark_app::ports::Counters;
use waymark_core::analytics::report::{By, build};
use waymark_core::ids::ShopDomain;
use waymark_scenarios::{CHECKOUT, ORDER, Stack};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15";

/// The shipped abandoned-checkout journey's version (what dispatch tags).
fn version() -> u32 {
    include_str!("../../../journeys/abandoned_checkout.yaml")
        .lines()
        .find_map(|l| l.strip_prefix("version:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// An SES event for the one email the stack sent, as EventBridge delivers
/// it, with the tags dispatch sets.
fn ses(kind: &str, message: &str, step: &str, at: &str, user_agent: &str) -> Value {
    let mut detail = json!({
        "eventType": kind,
        "mail": {
            "timestamp": "2026-11-23T11:01:02.000Z",
            "messageId": format!("ses-{message}"),
            "destination": ["ana.silva@example.com"],
            "tags": {
                "waymark_shop": ["demo_myshopify_com"],
                "waymark_message": [message],
                "waymark_journey": ["abandoned_checkout"],
                "waymark_version": [version().to_string()],
                "waymark_step": [step],
            }
        }
    });
    let field = match kind {
        "Delivery" => json!({"timestamp": at, "recipients": ["ana.silva@example.com"]}),
        "Open" => json!({"timestamp": at, "userAgent": user_agent, "ipAddress": "203.0.113.7"}),
        _ => json!({
            "timestamp": at,
            "userAgent": user_agent,
            "link": "https://demo-store.example/products/scarf",
            "ipAddress": "203.0.113.7"
        }),
    };
    detail[kind.to_lowercase()] = field;
    json!({
        "version": "0",
        "id": format!("{kind}-{at}"),
        "detail-type": format!("Email {kind}"),
        "source": "aws.ses",
        "time": at,
        "detail": detail,
    })
}

fn order(id: u64, created_at: &str) -> String {
    let mut o: Value = serde_json::from_str(ORDER).unwrap();
    o["id"] = json!(id);
    o["name"] = json!(format!("#{id}"));
    o["created_at"] = json!(created_at);
    o["processed_at"] = json!(created_at);
    o["updated_at"] = json!(created_at);
    o.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_timeline_gives_exact_counts_and_revenue() {
    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("checkouts/create", "wh-1", CHECKOUT)
        .await
        .unwrap();
    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    let sent = stack.sent().await.unwrap();
    assert_eq!(sent.len(), 1);
    let header = sent[0].header("X-Waymark-Message").unwrap().to_string();
    let message = header.split(';').next().unwrap().trim().to_string();
    let step = header.split("step=").nth(1).unwrap().trim().to_string();

    for (kind, at, ua) in [
        ("Delivery", "2026-11-23T11:01:05Z", ""),
        ("Open", "2026-11-23T11:20:00Z", IPHONE),
        // The same person opening again, and EventBridge redelivering it.
        ("Open", "2026-11-23T12:00:00Z", IPHONE),
        ("Open", "2026-11-23T12:00:00Z", IPHONE),
        ("Click", "2026-11-23T12:01:00Z", IPHONE),
    ] {
        stack
            .ses_event(ses(kind, &message, &step, at, ua))
            .await
            .unwrap();
    }
    // A privacy proxy's fetch: counted apart.
    stack
        .ses_event(ses(
            "Open",
            &message,
            &step,
            "2026-11-23T13:00:00Z",
            "Mozilla/5.0",
        ))
        .await
        .unwrap();

    // Inside the 5-day click window: attributed. Its checkout was followed
    // up, so it is also a recovered checkout.
    let first = order(6_123_456_789_012, "2026-11-23T12:30:00Z");
    stack
        .webhook_at("orders/create", "wh-o1", &first, "2026-11-23T12:30:00Z")
        .await
        .unwrap();
    // Redelivered: counted once.
    stack
        .webhook_at("orders/create", "wh-o1", &first, "2026-11-23T12:30:00Z")
        .await
        .unwrap();
    // 28.00 of its 66.00 goes back.
    let refund = include_str!("../../../events/shopify/refunds_create.json");
    stack
        .webhook_at("refunds/create", "wh-r1", refund, "2026-11-30T12:00:00Z")
        .await
        .unwrap();
    // Past every window: the store's, not the journey's.
    let late = order(6_123_456_789_099, "2026-12-20T10:00:00Z");
    stack
        .webhook_at("orders/create", "wh-o2", &late, "2026-12-20T10:00:00Z")
        .await
        .unwrap();

    let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
    let counts = stack
        .store()
        .read_counts(
            &shop,
            jiff::civil::date(2026, 11, 1),
            jiff::civil::date(2026, 12, 31),
        )
        .await
        .unwrap();
    let report = build(&counts, None, By::Version);
    let journeys = report["journeys"].as_array().unwrap();
    let ac = journeys
        .iter()
        .find(|j| j["journey"] == "abandoned_checkout")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(ac["version"], version(), "{report:#}");
    assert_eq!(ac["entered"], 1, "{ac:#}");
    assert_eq!(ac["sent"], 1, "{ac:#}");
    assert_eq!(ac["delivered"], 1, "{ac:#}");
    assert_eq!(ac["opened"], 1, "unique per message: {ac:#}");
    assert_eq!(ac["machine_opened"], 1, "{ac:#}");
    assert_eq!(ac["clicked"], 1, "{ac:#}");
    assert_eq!(ac["bounced"], 0);
    assert_eq!(
        ac["converted"], 1,
        "the order is the journey's goal: {ac:#}"
    );
    assert_eq!(ac["orders"], 1, "{ac:#}");
    assert_eq!(
        ac["revenue"],
        json!({"EUR": "38.00"}),
        "66.00 less 28.00: {ac:#}"
    );
    let s = ac["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == step.as_str())
        .unwrap();
    assert_eq!(
        (s["sent"].clone(), s["clicked"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(s["revenue"], json!({"EUR": "38.00"}));
    let store = &report["store"];
    assert_eq!(store["orders"], 2, "{store:#}");
    assert_eq!(
        store["revenue"],
        json!({"EUR": "104.00"}),
        "132.00 less 28.00: {store:#}"
    );
    assert_eq!(store["attributed_orders"], 1);
    assert_eq!(store["attributed_revenue"], json!({"EUR": "38.00"}));
    assert_eq!(store["repeat_purchase_rate"], 0.5, "{store:#}");
    assert_eq!(store["checkouts_abandoned"], 1, "{store:#}");
    assert_eq!(store["checkouts_recovered"], 1, "{store:#}");
    // Other journeys the order started earned nothing.
    for j in journeys
        .iter()
        .filter(|j| j["journey"] != "abandoned_checkout")
    {
        assert_eq!(j["orders"], 0, "{j:#}");
        assert_eq!(j["revenue"], json!({}), "{j:#}");
    }
}
