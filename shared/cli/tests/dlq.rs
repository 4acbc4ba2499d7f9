//! `waymark dlq list|redrive` against the emulator: a parked message, a
//! failed stream batch (its event never applied), a failed SES event and a
//! parked campaign page go through again; nothing is redriven twice.

use std::process::Command;

mod common;
use waymark_app::ports::{Commit, ContactStore, Inbox, Outbox, Receipt, Suppressions};
use waymark_core::contact::Contact;
use waymark_core::ids::{ContactId, EmailAddress, ShopDomain};

const TABLE: &str = "cli-dlq";

fn at(t: &str) -> jiff::Timestamp {
    t.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_failed_is_listed_and_goes_through_again() {
    let (moto, sdk) = common::stack_with_table(TABLE).await;
    let store = waymark_aws::store::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), TABLE);
    let shop = ShopDomain::parse("demo.myshopify.com").unwrap();

    // 1. A parked message.
    let mut ana = Contact::new(
        ContactId::for_customer(7),
        shop.clone(),
        at("2026-11-23T10:00:00Z"),
    );
    ana.identity.email = Some(EmailAddress::parse("ana@example.com").unwrap());
    let message = waymark_core::outbox::OutboxMessage {
        id: "m-parked".into(),
        shop: shop.clone(),
        contact: ana.id.clone(),
        journey: "welcome_series".into(),
        version: 1,
        run_key: "contact".into(),
        step: "welcome_1".into(),
        queued_at: at("2026-11-23T10:00:00Z"),
        params: serde_json::json!({}),
        topic: None,
        not_before: None,
        replaces_unsent: false,
        channel: waymark_core::outbox::Channel::Email {
            to: EmailAddress::parse("ana@example.com").unwrap(),
            template: "welcome_1".into(),
            transactional: false,
        },
    };
    store
        .commit(Commit {
            contact: ana,
            expected_version: 0,
            recent_events: Default::default(),
            runs: vec![],
            outbox: vec![message.clone()],
            identities: Default::default(),
            segments_entered: vec![],
            segments_exited: vec![],
            absorbed: None,
            counts: Default::default(),
            expired: Vec::new(),
        })
        .await
        .unwrap();
    let key = store.key(&message);
    let claimed = store
        .claim(&key, at("2026-11-23T10:02:00Z"))
        .await
        .unwrap()
        .unwrap();
    store
        .park(&claimed, "MessageRejected: sending paused")
        .await
        .unwrap();

    // 2. An event recorded, whose stream batch `process` gave up on.
    let body = include_str!("../../../events/shopify/customers_create.json")
        .replace("7012345678901", "9001")
        .replace("ana.silva@example.com", "lee@example.com");
    let delivery = waymark_core::shopify::Delivery {
        shop: &shop,
        topic: waymark_core::shopify::Topic::parse("customers/create").unwrap(),
        webhook_id: "w-lee",
        triggered_at: None,
        body: body.as_bytes(),
    };
    let event = waymark_core::shopify::parse(&delivery).unwrap();
    let receipt = Receipt {
        shop: shop.clone(),
        delivery_id: "w-lee".into(),
        platform_event_id: None,
        topic: "customers/create".into(),
        received_at: Some(event.at),
    };
    store.record(&receipt, &event).await.unwrap();
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let arn = waymark_local::resources::stream_arn(&sdk, TABLE)
        .await
        .unwrap();
    let shards = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap();
    let mut place = None;
    for shard in shards.stream_description.unwrap().shards.unwrap() {
        let id = shard.shard_id.unwrap();
        let it = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&id)
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        let records = streams
            .get_records()
            .shard_iterator(it)
            .send()
            .await
            .unwrap();
        for r in records.records.unwrap_or_default() {
            let d = r.dynamodb.unwrap();
            let is_event = d
                .new_image
                .as_ref()
                .and_then(|i| i.get("t"))
                .and_then(|v| v.as_s().ok())
                .is_some_and(|t| t == "event");
            if is_event {
                place = Some((id.clone(), d.sequence_number.unwrap()));
            }
        }
    }
    let (shard, seq) = place.expect("the event's stream record");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = |name: &'static str| {
        let sqs = sqs.clone();
        async move {
            sqs.get_queue_url()
                .queue_name(name)
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap()
        }
    };
    let stream_failures = url("StreamFailures").await;
    sqs.send_message()
        .queue_url(&stream_failures)
        .message_body(
            serde_json::json!({
                "requestContext": {"functionArn": "arn:aws:lambda:us-east-1:000000000000:function:process",
                                   "condition": "RetryAttemptsExhausted"},
                "DDBStreamBatchInfo": {"shardId": shard, "startSequenceNumber": seq,
                                       "endSequenceNumber": seq, "batchSize": 1, "streamArn": arn}
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();

    // 3. An SES complaint `feedback` gave up on.
    let complaint = include_str!("../../../events/feedback-complaint.json");
    let feedback_failures = url("FeedbackFailures").await;
    sqs.send_message()
        .queue_url(&feedback_failures)
        .message_body(complaint)
        .send()
        .await
        .unwrap();

    // 4. A campaign page the workers gave up on.
    let page = waymark_app::ports::CampaignPage {
        shop: shop.clone(),
        campaign: "news".into(),
        run: 1,
        wave: waymark_app::ports::CampaignPhase::Sending,
        number: 3,
        at: at("2026-11-23T10:00:00Z"),
        started_at: at("2026-11-23T10:00:00Z"),
        sends: vec![waymark_app::ports::PageSend {
            contact: ContactId::for_customer(7),
            variant: None,
        }],
    };
    let page_failures = url("CampaignPageFailures").await;
    sqs.send_message()
        .queue_url(&page_failures)
        .message_body(serde_json::to_string(&page).unwrap())
        .send()
        .await
        .unwrap();

    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_waymark"))
            .args(args)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("TABLE_NAME", TABLE)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, listed, err) = run(&["dlq", "list"]);
    assert!(ok, "{err}");
    let lines: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{listed}");
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "parked" && l["message"] == "m-parked"),
        "{listed}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "stream" && l["function"] == "process"),
        "{listed}"
    );
    assert!(lines.iter().any(|l| l["kind"] == "feedback"), "{listed}");
    assert!(
        lines.iter().any(|l| l["kind"] == "campaign_page"
            && l["campaign"] == "news"
            && l["page"] == 3
            && l["members"] == 1),
        "{listed}"
    );
    assert!(
        !listed.contains("ana.silva@example.com"),
        "no addresses: {listed}"
    );
    // Listing consumed nothing.
    let (_, again, _) = run(&["dlq", "list"]);
    assert_eq!(again.lines().count(), 4, "{again}");

    let (ok, out, err) = run(&["dlq", "redrive"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains(r#"{"kind":"parked","redriven":1}"#), "{out}");
    assert!(out.contains(r#""kind":"stream","redriven":1"#), "{out}");
    assert!(out.contains(r#""kind":"feedback","redriven":1"#), "{out}");
    assert!(
        out.contains(r#""kind":"campaign_page","redriven":1"#),
        "{out}"
    );
    // The page is back in the workers' queue, as it was.
    let back = sqs
        .receive_message()
        .queue_url(url("CampaignPages").await)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let back: Vec<waymark_app::ports::CampaignPage> = back
        .iter()
        .map(|m| serde_json::from_str(m.body.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(back, vec![page]);
    // The parked message is queued again, attempts from zero.
    let again = store
        .claim(&key, at("2026-11-24T10:00:00Z"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.attempt, 1);
    // The event was applied: Lee is a contact now.
    assert!(
        store
            .load_for_update(&shop, &ContactId::for_customer(9001))
            .await
            .unwrap()
            .is_some(),
        "the failed batch's event went through process"
    );
    // The complaint suppressed its address.
    let complained = EmailAddress::parse("ana.silva@example.com").unwrap();
    assert!(
        store
            .suppression(&shop, &complained)
            .await
            .unwrap()
            .is_some()
    );
    // Nothing is left, and a second redrive does nothing.
    let (_, left, _) = run(&["dlq", "list"]);
    assert!(left.is_empty(), "{left}");
    let (ok, out, _) = run(&["dlq", "redrive"]);
    assert!(ok);
    assert!(out.contains(r#"{"kind":"parked","redriven":0}"#), "{out}");
}
