//! Every DynamoDB call a function makes is allowed by its policy in
//! `infra/template.yaml`. moto does not enforce IAM, so this test records the
//! calls (each function's SDK carries its name as the app name) through a
//! proxy while a broad run of the product plays out — webhooks of every
//! kind, storefront events, ticks and the daily sweep, emails sent, the
//! preference page, a double opt-in, SES feedback, privacy requests — and
//! checks each call against the function's `Policies`: the action (the
//! actions inside a transaction one by one), and the index for queries; and
//! that each DynamoDB action a policy grants is one its function uses.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};
use waymark_local::template::Template;
use waymark_scenarios::proxy::{Record, Records, start};
use waymark_scenarios::{CHECKOUT, CUSTOMER, ORDER, Stack};

fn sample(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../events/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Each function's allowed DynamoDB actions, the resources named, and the
/// partition keys it may touch (`dynamodb:LeadingKeys` patterns; none: any).
struct Policy {
    actions: BTreeSet<String>,
    resources: Vec<String>,
    leading_keys: Vec<String>,
    /// Per statement, as IAM evaluates them: (actions, LeadingKeys).
    statements: Vec<(BTreeSet<String>, Vec<String>)>,
}

impl Policy {
    /// Whether some statement allows `action` on partition `pk`.
    fn allows(&self, action: &str, pk: Option<&str>) -> bool {
        self.statements.iter().any(|(actions, keys)| {
            actions.contains(action)
                && (keys.is_empty() || pk.is_some_and(|pk| keys.iter().any(|p| like(p, pk))))
        })
    }
}

fn policies() -> BTreeMap<String, Policy> {
    let t = Template::load(&Template::default_path()).unwrap();
    let mut out = BTreeMap::new();
    for (name, r) in t.root["Resources"].as_object().unwrap() {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let function = name.trim_end_matches("Function").to_lowercase();
        let mut policy = Policy {
            actions: BTreeSet::new(),
            resources: Vec::new(),
            leading_keys: Vec::new(),
            statements: Vec::new(),
        };
        for p in r["Properties"]["Policies"].as_array().into_iter().flatten() {
            for s in p["Statement"].as_array().into_iter().flatten() {
                let list = |v: &Value| match v {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                let mut actions = BTreeSet::new();
                for a in list(&s["Action"]) {
                    actions.extend(a.as_str().map(str::to_string));
                }
                policy.actions.extend(actions.iter().cloned());
                for r in list(&s["Resource"]) {
                    policy.resources.push(r.to_string());
                }
                let keys = &s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
                let mut leading = Vec::new();
                for k in list(keys) {
                    leading.extend(k.as_str().map(str::to_string));
                }
                policy.leading_keys.extend(leading.iter().cloned());
                policy.statements.push((actions, leading));
            }
        }
        out.insert(function, policy);
    }
    out
}

/// The IAM actions one recorded request needs.
fn needed(r: &Record) -> Vec<String> {
    match r.op.as_str() {
        "TransactWriteItems" => r.request["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_object()?.keys().next().cloned())
            .map(|kind| match kind.as_str() {
                "Put" => "dynamodb:PutItem".to_string(),
                "Update" => "dynamodb:UpdateItem".to_string(),
                "Delete" => "dynamodb:DeleteItem".to_string(),
                "ConditionCheck" => "dynamodb:ConditionCheckItem".to_string(),
                other => format!("dynamodb:{other}"),
            })
            .collect(),
        "TransactGetItems" => vec!["dynamodb:GetItem".into()],
        op => vec![format!("dynamodb:{op}")],
    }
}

/// The partition keys one recorded request writes or reads by key.
fn partition_keys(r: &Record) -> Vec<String> {
    let pk = |v: &Value| v["PK"]["S"].as_str().map(str::to_string);
    let one = |req: &Value| pk(&req["Item"]).or_else(|| pk(&req["Key"]));
    match r.op.as_str() {
        "TransactWriteItems" => r.request["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_object()?.values().next().and_then(one))
            .collect(),
        _ => one(&r.request).into_iter().collect(),
    }
}

/// `*` matches any run of characters (IAM's `StringLike`).
fn like(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(text) = text.strip_prefix(head) else {
                return false;
            };
            (0..=text.len()).any(|i| text.is_char_boundary(i) && like(rest, &text[i..]))
        }
    }
}

fn check(
    records: &[Record],
    policies: &BTreeMap<String, Policy>,
) -> (Vec<String>, BTreeSet<String>) {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for r in records {
        let Some(app) = r.app() else {
            continue; // the test's own reads
        };
        seen.insert(app.to_string());
        let Some(policy) = policies.get(app) else {
            problems.push(format!("{app}: no function of that name in the template"));
            continue;
        };
        let actions = needed(r);
        let keys = partition_keys(r);
        for (i, action) in actions.iter().enumerate() {
            // A transaction's items pair up with their keys; any other
            // call has one action and (at most) one key.
            let pk = keys.get(i).or(keys.first()).map(String::as_str);
            if !policy.actions.contains(action) {
                problems.push(format!("{app} calls {} but may not: {action}", r.op));
            } else if !policy.allows(action, pk) {
                problems.push(format!(
                    "{app} {} touches `{}`, outside its LeadingKeys",
                    r.op,
                    pk.unwrap_or("(no key)")
                ));
            }
        }
        if let Some(index) = r.request["IndexName"].as_str()
            && !policy
                .resources
                .iter()
                .any(|x| x.contains(&format!("/index/{index}")) || x.contains("/index/*"))
        {
            problems.push(format!(
                "{app} queries index `{index}` its policy does not name"
            ));
        }
    }
    problems.sort();
    problems.dedup();
    (problems, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dynamodb_call_a_function_makes_is_in_its_policy() {
    let records: Records = Arc::default();
    let upstream: Arc<OnceLock<String>> = Arc::default();
    let via = start(records.clone(), upstream.clone()).await;
    let mut stack = Stack::start_via(|moto| {
        upstream.set(moto.to_string()).expect("set once");
        via.clone()
    })
    .await
    .unwrap();

    // Webhooks of every kind, storefront events, time.
    stack
        .webhook("customers/create", "c1", CUSTOMER)
        .await
        .unwrap();
    stack
        .webhook("checkouts/create", "k1", CHECKOUT)
        .await
        .unwrap();
    // A guest's checkout, no consent to marketing: its run mails no one and
    // ends at a firing of the timer, which deletes it rather than keep it.
    let mut guest: serde_json::Value = serde_json::from_str(CHECKOUT).unwrap();
    guest["id"] = json!(35471023456790u64);
    guest["token"] = json!("0f0e0d0c0b0a09080706050403020100");
    guest["email"] = json!("sam.guest@example.com");
    guest["buyer_accepts_marketing"] = json!(false);
    guest["customer"] = serde_json::Value::Null;
    stack
        .webhook("checkouts/create", "k2", &guest.to_string())
        .await
        .unwrap();
    stack
        .track(json!([
            {"type": "page_viewed", "id": "p1", "anonymous_id": "anon-1",
             "email": "ana.silva@example.com", "page_type": "pricing", "at": "2026-11-23T10:10:00Z"},
            {"type": "form_submitted", "id": "f1", "anonymous_id": "anon-2",
             "email": "lee@example.com", "accepts_marketing": true, "double_opt_in": true,
             "at": "2026-11-23T10:11:00Z"},
            // A visitor who never comes back: forgotten by the sweep.
            {"type": "page_viewed", "id": "p3", "anonymous_id": "anon-3",
             "at": "2026-11-23T10:12:00Z"}
        ]))
        .await
        .unwrap();
    stack.tick("2026-11-23T11:01:00Z").await.unwrap();
    stack.webhook("orders/create", "o1", ORDER).await.unwrap();
    for (topic, file) in [
        ("fulfillments/update", "shopify/fulfillments_update.json"),
        ("refunds/create", "shopify/refunds_create.json"),
        (
            "subscription_contracts/create",
            "shopify/subscription_contracts_create.json",
        ),
        (
            "subscription_billing_attempts/success",
            "shopify/subscription_billing_attempts_success.json",
        ),
    ] {
        stack.webhook(topic, topic, &sample(file)).await.unwrap();
    }
    // The preference page: one topic, then everything; a double opt-in.
    let sent = stack.sent().await.unwrap();
    let link = sent
        .iter()
        .find_map(|m| m.unsubscribe_url())
        .expect("a marketing email");
    stack
        .preferences_with("POST", &link, "topic=news")
        .await
        .unwrap();
    stack.preferences("POST", &link).await.unwrap();
    let confirm = sent
        .iter()
        .flat_map(|m| m.text.split_whitespace())
        .find(|w| w.contains("/preferences/confirm?t="))
        .expect("the confirmation link")
        .to_string();
    stack.preferences_with("POST", &confirm, "").await.unwrap();
    // SES feedback.
    for f in [
        "feedback-open.json",
        "feedback-click.json",
        "feedback-bounce.json",
        "feedback-complaint.json",
    ] {
        let event: Value = serde_json::from_str(&sample(f)).unwrap();
        stack.ses_event(event).await.unwrap();
    }
    // A second order after the bounce: its thank-you is suppressed at
    // dispatch, and that is counted beside a marker of its own.
    let second = ORDER
        .replace("6123456789012", "6123456789013")
        .replace("\"#1042\"", "\"#1043\"")
        .replace(
            "c1a9e3b2d4f60718293a4b5c6d7e8f90",
            "c1a9e3b2d4f60718293a4b5c6d7e8f91",
        );
    stack.webhook("orders/create", "o2", &second).await.unwrap();
    let skipped = waymark_aws::store::outbox_by_status(&stack.store(), "skipped")
        .await
        .unwrap();
    assert!(
        skipped.iter().any(|(m, _)| m.journey == "order_follow_up"),
        "the bounced address gets no thank-you: {skipped:?}"
    );
    // A campaign to the subscribers, sent by the first tick below.
    {
        use waymark_app::ports::CampaignStore;
        use waymark_core::campaign::{Campaign, SendAt};
        let c = Campaign {
            id: "iam".into(),
            name: "IAM".into(),
            segments: vec!["subscribers".into()],
            exclude: vec![],
            when: Default::default(),
            template: "nurture_bestsellers".into(),
            subject: None,
            preheader: None,
            topic: None,
            send_at: SendAt::Instant("2026-12-01T03:00:00Z".parse().unwrap()),
            smart_sending: Some(jiff::SignedDuration::from_hours(1)),
            utm: Default::default(),
            ab_test: None,
        };
        let shop = waymark_core::ids::ShopDomain::parse("demo.myshopify.com").unwrap();
        assert!(
            stack
                .store()
                .schedule(&shop, &c, stack.clock())
                .await
                .unwrap()
        );
    }
    // Time: waits, retries, the daily sweep (lapse, then sunset).
    stack.tick("2026-12-01T03:01:00Z").await.unwrap();
    // Held by the quiet hours (03:00 in Dublin) until 08:00.
    stack.tick("2026-12-01T08:01:00Z").await.unwrap();
    assert!(
        stack
            .sent()
            .await
            .unwrap()
            .iter()
            .any(|m| m.subject == "This season's bestsellers"),
        "the campaign went out (its calls are checked too)"
    );
    stack.tick("2027-03-15T03:01:00Z").await.unwrap();
    stack.tick("2027-04-15T03:01:00Z").await.unwrap();
    // Privacy.
    for (topic, file) in [
        (
            "customers/data_request",
            "shopify/customers_data_request.json",
        ),
        ("customers/redact", "shopify/customers_redact.json"),
        ("customers/delete", "shopify/customers_delete.json"),
        ("shop/redact", "shopify/shop_redact.json"),
    ] {
        stack.webhook(topic, topic, &sample(file)).await.unwrap();
    }

    let taken: Vec<Record> = records.lock().unwrap().clone();
    let (problems, seen) = check(&taken, &policies());
    assert!(
        problems.is_empty(),
        "calls outside the template's policies:\n{}",
        problems.join("\n")
    );
    let all: BTreeSet<String> = [
        "ingest",
        "process",
        "timer",
        "fanout",
        "sweep",
        "dispatch",
        "preferences",
        "feedback",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(seen, all, "every function was exercised");
    // And nothing is granted that no call uses.
    let mut used: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for r in &taken {
        if let Some(app) = r.app() {
            used.entry(app).or_default().extend(needed(r));
        }
    }
    let policies = policies();
    let unused: Vec<String> = all
        .iter()
        .flat_map(|app| {
            let used = used.get(app.as_str()).cloned().unwrap_or_default();
            policies[app]
                .actions
                .iter()
                .filter(move |a| a.starts_with("dynamodb:") && !used.contains(*a))
                .map(move |a| format!("{app} may {a} but never does"))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        unused.is_empty(),
        "granted and unused:\n{}",
        unused.join("\n")
    );
}

#[test]
fn a_call_outside_the_policy_is_reported() {
    let policies = policies();
    let record = |op: &str, request: Value, app: &str| Record {
        op: op.into(),
        request,
        response: Value::Null,
        agent: format!("aws-sdk-rust/1 app/{app}"),
    };
    let (problems, _) = check(
        &[
            record("Scan", json!({}), "ingest"),
            record(
                "TransactWriteItems",
                json!({"TransactItems": [{"Delete": {}}]}),
                "ingest",
            ),
            record("Query", json!({"IndexName": "idle"}), "timer"),
            // The public endpoint writing a contact, or a suppression.
            record(
                "PutItem",
                json!({"Item": {"PK": {"S": "S#demo.myshopify.com#C#cust-7"}}}),
                "ingest",
            ),
            record(
                "TransactWriteItems",
                json!({"TransactItems": [{"Put": {"Item": {"PK": {"S": "S#demo.myshopify.com#SUP#ab"}}}}]}),
                "ingest",
            ),
            // A receipt: no longer written (the event names its delivery).
            record(
                "PutItem",
                json!({"Item": {"PK": {"S": "S#demo.myshopify.com#W#wh-1"}}}),
                "ingest",
            ),
            // What it may write.
            record(
                "PutItem",
                json!({"Item": {"PK": {"S": "S#demo.myshopify.com#E#wh-1"}}}),
                "ingest",
            ),
        ],
        &policies,
    );
    assert_eq!(problems.len(), 6, "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("#W#wh-1")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("S#demo.myshopify.com#C#cust-7") && p.contains("LeadingKeys")),
        "{problems:?}"
    );
}

/// The timer is invoked once per due shard every minute, each with the
/// minute's own instant: together the schedules cover every shard once.
#[test]
fn the_timer_is_scheduled_once_per_due_shard() {
    let t = Template::load(&Template::default_path()).unwrap();
    let timer = t
        .functions()
        .unwrap()
        .into_iter()
        .find(|f| f.binary == "timer")
        .unwrap();
    let mut shards = Vec::new();
    for source in timer.sources {
        let waymark_local::template::Source::Schedule { expression, input } = source else {
            continue;
        };
        assert_eq!(expression, "rate(1 minute)");
        let input = input.expect("a scheduler input");
        let input: Value = serde_json::from_str(
            &input.replace("<aws.scheduler.scheduled-time>", "2026-11-23T11:00:00Z"),
        )
        .unwrap();
        assert_eq!(input["time"], "2026-11-23T11:00:00Z");
        shards.push(input["shard"].as_u64().unwrap());
    }
    shards.sort();
    let expected: Vec<u64> = (0..u64::from(waymark_app::ports::DUE_SHARDS)).collect();
    assert_eq!(shards, expected);
}
