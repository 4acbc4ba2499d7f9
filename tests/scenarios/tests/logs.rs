//! Logs outlive an erasure (nothing deletes one person's lines from
//! CloudWatch), so they must never hold personal data. A broad run of the
//! product with every function's logs captured: not one address, name,
//! phone number or coupon code of the people it used may appear.

use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use waymark_scenarios::{CHECKOUT, CUSTOMER, ORDER, Stack};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn sample(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../events/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_reaches_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .init();

    let mut stack = Stack::start().await.unwrap();
    stack
        .webhook("customers/create", "wh-c1", CUSTOMER)
        .await
        .unwrap();
    stack
        .webhook("checkouts/create", "wh-k1", CHECKOUT)
        .await
        .unwrap();
    for t in [
        "2026-11-23T11:01:00Z",
        "2026-11-24T10:01:00Z",
        "2026-11-25T12:00:00Z",
    ] {
        stack.tick(t).await.unwrap();
    }
    // A storefront signup, a bad batch that quotes an address back, a
    // webhook whose payload is refused.
    stack
        .track(
            json!([{"type": "form_submitted", "id": "f1", "anonymous_id": "anon-lee",
            "at": "2026-11-25T12:00:00Z", "email": "lee.marvin@example.com", "first_name": "Leeroy",
            "accepts_marketing": true}]),
        )
        .await
        .unwrap();
    stack
        .track(
            json!([{"type": "form_submitted", "id": "f2", "at": "2026-11-25T12:00:00Z",
            "email": "lee.marvin@example.com", "colour": "red"}]),
        )
        .await
        .unwrap();
    stack
        .webhook(
            "orders/create",
            "wh-bad",
            r#"{"id": "ana.silva@example.com"}"#,
        )
        .await
        .unwrap();
    stack
        .webhook("orders/create", "wh-o1", ORDER)
        .await
        .unwrap();
    stack.tick("2026-11-27T12:00:00Z").await.unwrap();
    // Feedback, an unsubscribe, a data request and an erasure.
    stack
        .ses_event(serde_json::from_str(&sample("feedback-open.json")).unwrap())
        .await
        .unwrap();
    if let Some(url) = stack
        .sent()
        .await
        .unwrap()
        .iter()
        .find_map(|m| m.unsubscribe_url())
    {
        stack.preferences("POST", &url).await.unwrap();
    }
    stack
        .webhook(
            "customers/data_request",
            "wh-d1",
            &sample("shopify/customers_data_request.json"),
        )
        .await
        .unwrap();
    stack
        .webhook(
            "customers/redact",
            "wh-r1",
            &sample("shopify/customers_redact.json"),
        )
        .await
        .unwrap();
    assert!(!stack.sent().await.unwrap().is_empty(), "the run sent mail");

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("message queued"), "the logs were captured");
    for needle in [
        "ana.silva@example.com",
        "Silva",
        "+353851234567",
        "lee.marvin",
        "Leeroy",
        "WELCOME-",
        "CART-",
    ] {
        assert!(!logs.contains(needle), "`{needle}` is in the logs:\n{logs}");
    }
}
