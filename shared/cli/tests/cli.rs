//! The `waymark` command as an author uses it.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::stack_with_table;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn waymark(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_waymark"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `waymark args` reaching `table` on `moto` through `AWS_ENDPOINT_URL`.
fn waymark_on(
    moto: &waymark_local::moto::Moto,
    table: &str,
    args: &[&str],
) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_waymark"))
        .args(args)
        .current_dir(root())
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("TABLE_NAME", table)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn validate_passes_on_the_shipped_content_and_names_file_line_and_problem() {
    let (ok, out, err) = waymark(&["journeys", "validate"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("ok: "), "{out}");

    let dir = std::env::temp_dir().join(format!("waymark-validate-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("journeys")).unwrap();
    std::fs::write(
        dir.join("journeys/bad.yaml"),
        "id: bad\nversion: 1\nname: Bad\ntrigger:\n  event: checkout_updated\nsteps:\n  - id: e\n    email: missing_template\n",
    )
    .unwrap();
    let (ok, _, err) = waymark(&["journeys", "validate", "--root", dir.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!ok);
    assert!(
        err.contains("journeys/bad.yaml:8:12: journey `bad` v1, step `e`: unknown template `missing_template`"),
        "{err}"
    );
}

#[test]
fn graph_prints_a_mermaid_flowchart() {
    let (ok, out, err) = waymark(&["journeys", "graph", "abandoned_checkout"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("flowchart TD"), "{out}");
    assert!(out.contains("wait 1h from the trigger"), "{out}");
    let (ok, out, _) = waymark(&["journeys", "graph", "abandoned_checkout", "--format", "dot"]);
    assert!(ok && out.starts_with("digraph"), "{out}");
}

#[test]
fn simulate_prints_the_timeline() {
    let (ok, out, err) = waymark(&[
        "journeys",
        "simulate",
        "abandoned_checkout",
        "--events",
        "events/timelines/abandoned_checkout.jsonl",
    ]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let ana_email = lines
        .iter()
        .find(|l| l.contains("email reminder_1"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        ana_email.starts_with("2026-11-23T11:20:00Z  ana.silva@example.com"),
        "{out}"
    );
    assert!(
        ana_email.contains("“Ana, you left something in your cart”"),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("2026-11-23T10:40:00Z  ben@example.com")
                && l.contains("converted")),
        "{out}"
    );
    let ana: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains("ana.silva@example.com") && l.contains(" email "))
        .map(|l| &l[..20])
        .collect();
    assert_eq!(
        ana,
        vec![
            "2026-11-23T11:20:00Z",
            "2026-11-24T10:20:00Z",
            "2026-11-26T10:20:00Z"
        ],
        "the reminders count from her last touch: {out}"
    );
    assert!(!out.contains("ben@example.com  email"), "{out}");
}

#[test]
fn templates_check_renders_everything_and_names_the_broken_line() {
    let (ok, out, err) = waymark(&["templates", "check"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("ok: "), "{out}");

    let dir = std::env::temp_dir().join(format!("waymark-templates-{}", std::process::id()));
    for sub in [
        "journeys",
        "templates/abandoned_checkout_1",
        "events/shopify",
    ] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for f in [
        "checkouts_create.json",
        "orders_create.json",
        "customers_create.json",
        "orders_fulfilled.json",
        "subscription_contracts_create.json",
        "subscription_billing_attempts_success.json",
    ] {
        std::fs::copy(
            root().join("events/shopify").join(f),
            dir.join("events/shopify").join(f),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("journeys/j.yaml"),
        "id: j\nversion: 1\nname: J\ntrigger:\n  event: checkout_updated\nsteps:\n  - id: e\n    email: abandoned_checkout_1\n",
    )
    .unwrap();
    let t = dir.join("templates/abandoned_checkout_1");
    std::fs::write(t.join("subject.txt"), "Hi {{ contact.first_name }}\n").unwrap();
    std::fs::write(
        t.join("body.txt"),
        "Your cart:\n{{ checkout.totl | money }}\n",
    )
    .unwrap();
    std::fs::write(t.join("body.html"), "<p>{{ contact.email }}</p>\n").unwrap();
    let (ok, _, err) = waymark(&["templates", "check", "--root", dir.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!ok);
    assert!(
        err.contains("templates/abandoned_checkout_1/body.txt:2"),
        "{err}"
    );
}

#[test]
fn templates_preview_writes_html_and_text() {
    let out = std::env::temp_dir().join(format!("waymark-preview-{}", std::process::id()));
    let (ok, stdout, err) = waymark(&[
        "templates",
        "preview",
        "order_shipped",
        "--event",
        "events/shopify/orders_fulfilled.json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        stdout.starts_with("Subject: Your order is on its way"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(out.join("order_shipped.txt")).unwrap();
    assert!(
        text.contains("https://track.example.com/CE123456789IE"),
        "{text}"
    );
    assert!(out.join("order_shipped.html").exists());
    std::fs::remove_dir_all(&out).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_count_and_export_read_the_membership_items() {
    use waymark_app::ports::{Commit, ContactStore};
    let (moto, sdk) = stack_with_table("cli-segments").await;
    let store =
        waymark_aws::store::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), "cli-segments");
    let shop = waymark_core::ids::ShopDomain::parse("demo.myshopify.com").unwrap();
    let mut contact = waymark_core::contact::Contact::new(
        waymark_core::ids::ContactId::for_customer(7),
        shop,
        "2026-11-23T10:00:00Z".parse().unwrap(),
    );
    contact.identity.email =
        Some(waymark_core::ids::EmailAddress::parse("ana@example.com").unwrap());
    contact.marketing.consent = Some(waymark_core::contact::Consent {
        subscribed: true,
        source: "customers/create".into(),
        at: "2026-11-23T10:00:00Z".parse().unwrap(),
    });
    // Bo is in the segment too, but never agreed to marketing.
    let mut bo = waymark_core::contact::Contact::new(
        waymark_core::ids::ContactId::for_customer(8),
        contact.shop.clone(),
        "2026-11-23T10:00:00Z".parse().unwrap(),
    );
    bo.identity.email = Some(waymark_core::ids::EmailAddress::parse("=bo@example.com").unwrap());
    for contact in [contact, bo] {
        store
            .commit(Commit {
                contact,
                expected_version: 0,
                recent_events: Default::default(),
                runs: vec![],
                outbox: vec![],
                identities: Default::default(),
                segments_entered: vec!["vip".into()],
                segments_exited: vec![],
                absorbed: None,
                counts: Default::default(),
                expired: Vec::new(),
            })
            .await
            .unwrap();
    }
    let run = |args: &[&str]| {
        let (ok, out, err) = waymark_on(&moto, "cli-segments", args);
        assert!(ok, "{err}");
        out
    };
    assert_eq!(run(&["segments", "count", "vip"]), "2\n");
    assert_eq!(run(&["segments", "count", "first_time_buyers"]), "0\n");
    assert_eq!(
        run(&["segments", "export", "vip"]),
        "email,contact_id\nana@example.com,cust-7\n",
        "Bo never opted in: left out"
    );
    // Everyone, on request; a cell a spreadsheet would run is neutralised.
    let all = run(&["segments", "export", "vip", "--all"]);
    assert!(all.contains("ana@example.com,cust-7\n"), "{all}");
    assert!(all.contains("'=bo@example.com,cust-8\n"), "{all}");
}

/// `campaigns schedule`, `status` and `cancel` through `AWS_ENDPOINT_URL`:
/// a cancelled campaign may be scheduled again, a done one may not, and the
/// refusal says what to do instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaigns_schedule_status_and_cancel_and_a_done_campaign_needs_a_new_id() {
    use waymark_app::ports::{CampaignPhase, CampaignStore};
    let (moto, sdk) = stack_with_table("cli-campaigns").await;
    let run = |args: &[&str]| waymark_on(&moto, "cli-campaigns", args);
    let id = "weekly_newsletter";
    let (ok, out, err) = run(&["campaigns", "status", id]);
    assert!(
        !ok && err.contains("no campaign `weekly_newsletter`"),
        "{out}{err}"
    );
    let (ok, out, err) = run(&["campaigns", "schedule", id]);
    assert!(
        ok && out.starts_with("scheduled `weekly_newsletter`"),
        "{out}{err}"
    );
    let (ok, out, _) = run(&["campaigns", "status", id]);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(ok);
    assert_eq!(status["phase"], "scheduled", "{status}");
    let (ok, out, err) = run(&["campaigns", "cancel", id]);
    assert!(ok && out.contains("cancelled"), "{out}{err}");
    let (ok, _, err) = run(&["campaigns", "cancel", id]);
    assert!(!ok && err.contains("nothing to cancel"), "{err}");
    // Cancelled: it may go again.
    let (ok, _, err) = run(&["campaigns", "schedule", id]);
    assert!(ok, "{err}");
    // Once its fan-out is done, the same id is refused, and told why.
    let store =
        waymark_aws::store::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), "cli-campaigns");
    let shop = waymark_core::ids::ShopDomain::parse("demo.myshopify.com").unwrap();
    let record = store.campaign(&shop, id).await.unwrap().unwrap();
    let mut state = record.state.clone();
    state.phase = CampaignPhase::Done;
    assert!(
        store
            .save_campaign(&shop, id, &state, record.version, None)
            .await
            .unwrap()
    );
    let (ok, _, err) = run(&["campaigns", "schedule", id]);
    assert!(!ok, "a done campaign was scheduled again");
    assert!(
        err.contains("was sent already: a new send needs a new id")
            && err.contains("weekly_newsletter_2"),
        "{err}"
    );
    let (ok, _, err) = run(&["campaigns", "cancel", id]);
    assert!(!ok && err.contains("nothing to cancel"), "{err}");
}
