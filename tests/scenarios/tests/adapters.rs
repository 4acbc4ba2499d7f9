//! Contract tests of the DynamoDB and SES adapters against the emulator,
//! through the real SDK: idempotent recording, optimistic concurrency, the
//! sparse due index (Waymark's scheduler: timers are data) and the outbox's
//! claim / retry / park lifecycle.

use jiff::Timestamp;
use waymark_app::memory::MemoryStore;
use waymark_app::ports::{
    Allowances, CampaignStore, Commit, CommitError, ContactStore, Counters, Due, DueIndex, Erasure,
    IdleIndex, Inbox, Mailer, Member, Outbox, Privacy, Receipt, Recorded, Rejected, Segments,
    SuppressionReason, SuppressionState, Suppressions, VersionedRun,
};
use waymark_aws::ses::SesMailer;
use waymark_aws::store::DynamoStore;
use waymark_core::contact::Contact;
use waymark_core::event::Identity;
use waymark_core::ids::{ContactId, EmailAddress, ShopDomain};
use waymark_core::journey::{Run, RunStatus};
use waymark_core::outbox::{OutboxMessage, SendFailure};
use waymark_core::shopify::{self, Delivery, Topic};
use waymark_scenarios::{CHECKOUT, Stack};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn shop() -> ShopDomain {
    ShopDomain::parse("demo.myshopify.com").unwrap()
}

fn store(stack: &Stack) -> DynamoStore {
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&stack.sdk), &stack.table)
}

/// What makes counts readable: the memory twin counts at once; a DynamoDB
/// table's counts are added off its stream (by `process` in production;
/// here by the adapter's `add_stream_counts` over the whole stream from its
/// start, every time, which also shows that a record comes to count once
/// however often it is delivered).
trait Settle {
    async fn settle(&self);
}

struct AtOnce;

impl Settle for AtOnce {
    async fn settle(&self) {}
}

struct OffTheStream<'a>(&'a Stack);

impl Settle for OffTheStream<'_> {
    async fn settle(&self) {
        let stack = self.0;
        let arn = aws_sdk_dynamodb::Client::new(&stack.sdk)
            .describe_table()
            .table_name(&stack.table)
            .send()
            .await
            .unwrap()
            .table
            .and_then(|t| t.latest_stream_arn)
            .expect("the table has a stream");
        let streams = aws_sdk_dynamodbstreams::Client::new(&stack.sdk);
        let shards = streams
            .describe_stream()
            .stream_arn(&arn)
            .send()
            .await
            .unwrap()
            .stream_description
            .and_then(|d| d.shards)
            .unwrap_or_default();
        for shard in shards {
            let id = shard.shard_id.expect("a shard id");
            let mut iterator = streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(&id)
                .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
                .send()
                .await
                .unwrap()
                .shard_iterator;
            let mut counted = Vec::new();
            while let Some(it) = iterator.take() {
                let out = streams
                    .get_records()
                    .shard_iterator(it)
                    .send()
                    .await
                    .unwrap();
                let records = out.records.unwrap_or_default();
                if records.is_empty() {
                    break;
                }
                for r in &records {
                    let record: waymark_aws::stream::StreamRecord =
                        serde_json::from_value(waymark_local::runner::lambda_record(r, &arn))
                            .unwrap();
                    counted.extend(waymark_aws::store::stream_counts(&record).unwrap());
                }
                iterator = out.next_shard_iterator;
            }
            store(stack).add_stream_counts(&id, &counted).await.unwrap();
        }
    }
}

fn receipt(id: &str) -> Receipt {
    Receipt {
        shop: shop(),
        delivery_id: id.into(),
        platform_event_id: Some(format!("evt-{id}")),
        topic: "checkouts/create".into(),
        received_at: Some(at("2026-11-23T10:00:00Z")),
    }
}

fn contact() -> Contact {
    let mut c = Contact::new(
        ContactId::for_customer(7),
        shop(),
        at("2026-11-23T10:00:00Z"),
    );
    c.identity.email = Some(EmailAddress::parse("ana@example.com").unwrap());
    c.identity.customer_id = Some(7);
    c
}

fn run(wait_until: Option<&str>) -> Run {
    Run {
        journey: "abandoned_checkout".into(),
        version: 1,
        key: "tok".into(),
        entry: 0,
        status: RunStatus::Active,
        step: 0,
        wait_until: wait_until.map(at),
        entered_at: at("2026-11-23T10:00:00Z"),
        trigger_at: at("2026-11-23T10:00:00Z"),
        cursor: at("2026-11-23T10:00:00Z"),
        ended_at: None,
        end_reason: None,
        trigger: waymark_core::event::EventKind::CustomerUpserted(waymark_core::event::Customer {
            customer_id: 7,
            email: None,
            first_name: None,
            last_name: None,
            accepts_marketing: None,
            country: None,
            province: None,
            tags: vec![],
            phone: None,
            opted_out: false,
        }),
        matched: None,
        sent: vec![],
        path: vec![],
        clicks: vec![],
    }
}

fn message(c: &Contact, step: &str) -> OutboxMessage {
    OutboxMessage {
        id: format!("msg-{step}"),
        shop: shop(),
        contact: c.id.clone(),
        journey: "abandoned_checkout".into(),
        version: 1,
        run_key: "tok".into(),
        step: step.into(),
        queued_at: at("2026-11-23T11:00:00Z"),
        params: serde_json::json!({}),
        topic: None,
        not_before: None,
        replaces_unsent: false,
        channel: waymark_core::outbox::Channel::Email {
            to: c.identity.email.clone().unwrap(),
            template: "abandoned_checkout_1".into(),
            transactional: false,
        },
    }
}

fn commit(
    c: &Contact,
    expected: u64,
    runs: Vec<VersionedRun>,
    outbox: Vec<OutboxMessage>,
) -> Commit {
    Commit {
        contact: c.clone(),
        expected_version: expected,
        recent_events: {
            let mut r = waymark_core::ids::RecentEvents::default();
            r.push("e1", jiff::Timestamp::UNIX_EPOCH);
            r
        },
        runs,
        outbox,
        identities: Identity {
            customer_id: c.identity.customer_id,
            email: c.identity.email.clone(),
            ..Identity::default()
        },
        segments_entered: vec![],
        segments_exited: vec![],
        absorbed: None,
        counts: Default::default(),
        expired: Vec::new(),
    }
}

/// The contract every storage adapter honours, run over DynamoDB (on moto)
/// and over the in-memory twin.
async fn inbox_contract<S: Inbox>(s: &S) {
    let shop = shop();
    let delivered = |webhook_id| {
        shopify::parse(&Delivery {
            shop: &shop,
            topic: Topic::CheckoutsCreate,
            webhook_id,
            triggered_at: None,
            body: CHECKOUT.as_bytes(),
        })
        .unwrap()
    };
    let event = delivered("wh-1");
    assert_eq!(
        s.record(&receipt("wh-1"), &event).await.unwrap(),
        Recorded::New
    );
    // The same delivery again, then the same fact by another delivery.
    assert_eq!(
        s.record(&receipt("wh-1"), &event).await.unwrap(),
        Recorded::Again
    );
    assert_eq!(
        s.record(&receipt("wh-2"), &delivered("wh-2"))
            .await
            .unwrap(),
        Recorded::Duplicate
    );
    s.reject(&Rejected {
        receipt: receipt("wh-3"),
        error: "body is not valid JSON".into(),
        body: b"{oops".to_vec(),
    })
    .await
    .unwrap();
}

async fn contacts_contract<S: ContactStore + Outbox>(s: &S) {
    let c = contact();
    let email_only = Identity {
        email: c.identity.email.clone(),
        ..Identity::default()
    };
    let unknown = s.find(&shop(), &email_only).await.unwrap();
    assert_eq!(unknown.contact, None);
    assert_eq!(unknown.unmapped, email_only);
    s.commit(commit(
        &c,
        0,
        vec![VersionedRun {
            run: run(None),
            version: 0,
        }],
        vec![],
    ))
    .await
    .unwrap();
    assert_eq!(
        s.find(&shop(), &email_only).await.unwrap().contact,
        Some(c.id.clone())
    );
    let new_email = EmailAddress::parse("ana.new@example.com").unwrap();
    let both = Identity {
        customer_id: Some(7),
        email: Some(new_email.clone()),
        ..Identity::default()
    };
    let found = s.find(&shop(), &both).await.unwrap();
    assert_eq!(found.contact, Some(c.id.clone()), "found by customer id");
    assert_eq!(
        found.unmapped,
        Identity {
            email: Some(new_email),
            ..Identity::default()
        },
        "the new email is still to be claimed"
    );
    let other_shop = ShopDomain::parse("other.myshopify.com").unwrap();
    assert_eq!(
        s.find(&other_shop, &email_only).await.unwrap().contact,
        None,
        "shops never mix"
    );

    let state = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(state.version, 1);
    assert!(state.recent_events.contains("e1") && state.recent_events.len() == 1);
    assert_eq!(state.runs.len(), 1);
    assert_eq!(state.runs[0].version, 1);
    // A writer that read before this commit loses, whole.
    let stale = s.commit(commit(&c, 0, vec![], vec![])).await;
    assert!(matches!(stale, Err(CommitError::Conflict)), "{stale:?}");
    // A profile-only commit (one item, no transaction) checks its version too.
    let ahead = s.commit(commit(&c, 5, vec![], vec![])).await;
    assert!(matches!(ahead, Err(CommitError::Conflict)), "{ahead:?}");
    let stale_run = s
        .commit(commit(
            &c,
            1,
            vec![VersionedRun {
                run: run(None),
                version: 0,
            }],
            vec![message(&c, "x")],
        ))
        .await;
    assert!(
        matches!(stale_run, Err(CommitError::Conflict)),
        "{stale_run:?}"
    );
    // Nothing of it is left: not the profile, the run or the message.
    let after = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(after.version, 1, "nothing written");
    assert_eq!(
        after
            .runs
            .iter()
            .map(|r| (r.version, &r.run))
            .collect::<Vec<_>>(),
        state
            .runs
            .iter()
            .map(|r| (r.version, &r.run))
            .collect::<Vec<_>>(),
        "the run as it was"
    );
    assert!(
        s.claim(&s.key(&message(&c, "x")), at("2026-11-23T12:00:00Z"))
            .await
            .unwrap()
            .is_none(),
        "its message was not written"
    );
    s.commit(commit(&c, 1, vec![], vec![])).await.unwrap();
    // An expired run is deleted with the commit that names it.
    let mut expiring = commit(&c, 2, vec![], vec![]);
    expiring.expired = vec![("abandoned_checkout".into(), "tok".into(), 0)];
    s.commit(expiring).await.unwrap();
    let state = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert!(state.runs.is_empty(), "{:?}", state.runs);
    assert_eq!(state.version, 3);
}

/// A journey's ended run kept for its messages (`Run::kept_for_messages`)
/// is left out of `load_active`, which most events use, and read by
/// `load_for_update`; a commit after either leaves it as it is, changes it
/// (an open noted) or deletes it once it has expired, and a writer that
/// read it before a change loses.
async fn kept_runs_contract<S: ContactStore>(s: &S) {
    let c = contact();
    let mut going = run(Some("2026-11-24T10:00:00Z"));
    going.sent = vec!["w1".into()];
    let mut waits = run(Some("2026-11-30T10:00:00Z"));
    waits.journey = "browse_abandonment".into();
    s.commit(commit(
        &c,
        0,
        vec![
            VersionedRun {
                run: going.clone(),
                version: 0,
            },
            VersionedRun {
                run: waits.clone(),
                version: 0,
            },
        ],
        vec![],
    ))
    .await
    .unwrap();
    let journeys = |state: &waymark_app::ports::ContactState| {
        let mut j: Vec<String> = state.runs.iter().map(|r| r.run.journey.clone()).collect();
        j.sort();
        j
    };
    let active = s.load_active(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(
        journeys(&active),
        ["abandoned_checkout", "browse_abandonment"]
    );
    // The checkout's run ends, having mailed: kept, out of the way.
    let mut ended = going.clone();
    ended.status = RunStatus::Completed;
    ended.wait_until = None;
    ended.ended_at = Some(at("2026-11-24T10:00:00Z"));
    s.commit(commit(
        &c,
        1,
        vec![VersionedRun {
            run: ended.clone(),
            version: 1,
        }],
        vec![],
    ))
    .await
    .unwrap();
    let active = s.load_active(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(active.version, 2);
    assert_eq!(journeys(&active), ["browse_abandonment"], "not loaded");
    let all = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(journeys(&all), ["abandoned_checkout", "browse_abandonment"]);
    let kept = all
        .runs
        .iter()
        .find(|r| r.run.journey == "abandoned_checkout")
        .unwrap();
    assert_eq!((&kept.run, kept.version), (&ended, 2));
    // A commit after the ordinary load leaves it as it is.
    let active = s.load_active(&shop(), &c.id).await.unwrap().unwrap();
    s.commit(commit(&c, active.version, vec![], vec![]))
        .await
        .unwrap();
    // An open of its email is noted on it (loaded whole).
    let all = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(journeys(&all), ["abandoned_checkout", "browse_abandonment"]);
    let mut opened = ended.clone();
    opened.clicks.push(waymark_core::journey::Click {
        step: "w1".into(),
        link: None,
        at: at("2026-11-25T10:00:00Z"),
        open: true,
        machine: false,
    });
    // One that read it at the version before loses, whole.
    let stale = s
        .commit(commit(
            &c,
            all.version,
            vec![VersionedRun {
                run: opened.clone(),
                version: 1,
            }],
            vec![],
        ))
        .await;
    assert!(matches!(stale, Err(CommitError::Conflict)), "{stale:?}");
    s.commit(commit(
        &c,
        all.version,
        vec![VersionedRun {
            run: opened.clone(),
            version: 2,
        }],
        vec![],
    ))
    .await
    .unwrap();
    let all = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    let kept = all
        .runs
        .iter()
        .find(|r| r.run.journey == "abandoned_checkout")
        .unwrap();
    assert_eq!((&kept.run, kept.version), (&opened, 3));
    // A run that starts and ends in one commit, having mailed, is kept
    // out of the way at once.
    let mut at_once = ended.clone();
    at_once.journey = "order_follow_up".into();
    s.commit(commit(
        &c,
        all.version,
        vec![VersionedRun {
            run: at_once,
            version: 0,
        }],
        vec![],
    ))
    .await
    .unwrap();
    let active = s.load_active(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(journeys(&active), ["browse_abandonment"]);
    // Expired, it is deleted by a commit that loaded it.
    let all = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(all.runs.len(), 3);
    let mut gone = commit(&c, all.version, vec![], vec![]);
    gone.expired = vec![("abandoned_checkout".into(), "tok".into(), 0)];
    s.commit(gone).await.unwrap();
    let all = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(journeys(&all), ["browse_abandonment", "order_follow_up"]);
}

/// A merge: the merged profile leaves a tombstone (conditional on its
/// version); its address and contract lead to the survivor, but a lookup
/// that already leads to a third contact is never taken.
async fn merge_contract<S: ContactStore>(s: &S) {
    let email = |a: &str| EmailAddress::parse(a).unwrap();
    let by_email = |a: &str| Identity {
        email: Some(email(a)),
        ..Identity::default()
    };
    let mut ana = Contact::new(
        ContactId::for_customer(1),
        shop(),
        at("2026-11-23T10:00:00Z"),
    );
    ana.identity.customer_id = Some(1);
    ana.identity.email = Some(email("ana.work@example.com"));
    s.commit(commit(&ana, 0, vec![], vec![])).await.unwrap();
    let mut lead = Contact::new(
        ContactId::for_email(&email("ana@example.com")),
        shop(),
        at("2026-11-23T09:00:00Z"),
    );
    lead.identity.email = Some(email("ana@example.com"));
    let mut c = commit(&lead, 0, vec![], vec![]);
    c.identities.contract_id = Some(55);
    s.commit(c).await.unwrap();
    let mut bo = Contact::new(
        ContactId::for_customer(2),
        shop(),
        at("2026-11-23T10:00:00Z"),
    );
    bo.identity.customer_id = Some(2);
    bo.identity.email = Some(email("bo@example.com"));
    s.commit(commit(&bo, 0, vec![], vec![])).await.unwrap();

    let merge = |version: u64| {
        let mut c = commit(&ana, 1, vec![], vec![]);
        c.absorbed = Some(waymark_app::ports::Absorbed {
            id: lead.id.clone(),
            version,
            tombstone: Some(lead.tombstone(&ana.id)),
            // Bo's address slipped in: his lookup must stay his.
            emails: vec![email("ana@example.com"), email("bo@example.com")],
            contracts: vec![55],
            anonymous_ids: vec![],
            segments: vec![],
            runs: vec![],
        });
        c
    };
    assert!(
        matches!(s.commit(merge(7)).await, Err(CommitError::Conflict)),
        "a stale version of the merged profile conflicts"
    );
    s.commit(merge(1)).await.unwrap();
    let find = |i: Identity| async move { s.find(&shop(), &i).await.unwrap().contact };
    assert_eq!(
        find(by_email("ana@example.com")).await,
        Some(ana.id.clone())
    );
    let contract = Identity {
        contract_id: Some(55),
        ..Identity::default()
    };
    assert_eq!(find(contract).await, Some(ana.id.clone()));
    assert_eq!(find(by_email("bo@example.com")).await, Some(bo.id.clone()));
    let left = s.load_for_update(&shop(), &lead.id).await.unwrap().unwrap();
    assert_eq!(left.contact.identity.merged_into, Some(ana.id.clone()));
    assert_eq!(left.contact.identity.email, None);
    assert_eq!(left.version, 2);

    // A long-subscribed profile with more runs than one transaction can
    // retire (DynamoDB: 100 actions): merged all the same, none left.
    let mut old_lead = Contact::new(
        ContactId::for_email(&email("ana.old@example.com")),
        shop(),
        at("2026-01-01T00:00:00Z"),
    );
    old_lead.identity.email = Some(email("ana.old@example.com"));
    let entries: Vec<Run> = (0..120)
        .map(|entry| Run {
            entry,
            status: RunStatus::Completed,
            ..run(None)
        })
        .collect();
    for (i, batch) in entries.chunks(40).enumerate() {
        let runs = batch
            .iter()
            .map(|r| VersionedRun {
                run: r.clone(),
                version: 0,
            })
            .collect();
        s.commit(commit(&old_lead, i as u64, runs, vec![]))
            .await
            .unwrap();
    }
    let stored = s
        .load_for_update(&shop(), &old_lead.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.runs.len(), 120);
    let mut c = commit(&ana, 2, vec![], vec![]);
    c.absorbed = Some(waymark_app::ports::Absorbed {
        id: old_lead.id.clone(),
        version: stored.version,
        tombstone: Some(old_lead.tombstone(&ana.id)),
        emails: vec![email("ana.old@example.com")],
        contracts: vec![],
        anonymous_ids: vec![],
        segments: vec![],
        runs: entries
            .iter()
            .map(|r| (r.journey.clone(), r.key.clone(), r.entry))
            .collect(),
    });
    s.commit(c).await.unwrap();
    let left = s
        .load_for_update(&shop(), &old_lead.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left.contact.identity.merged_into, Some(ana.id.clone()));
    assert!(left.runs.is_empty(), "{} runs left", left.runs.len());
    assert_eq!(
        find(by_email("ana.old@example.com")).await,
        Some(ana.id.clone())
    );
}

async fn due_contract<S: ContactStore + DueIndex + Outbox>(s: &S) {
    let c = contact();
    s.commit(commit(
        &c,
        0,
        vec![VersionedRun {
            run: run(Some("2026-11-23T11:00:00Z")),
            version: 0,
        }],
        vec![],
    ))
    .await
    .unwrap();
    assert!(s.due(at("2026-11-23T10:59:59Z")).await.unwrap().is_empty());
    assert_eq!(
        s.due(at("2026-11-23T11:00:00Z")).await.unwrap(),
        vec![Due::Contact {
            shop: shop(),
            id: c.id.clone()
        }]
    );
    // The run ends (a goal): it leaves the index.
    let mut ended = run(None);
    ended.status = RunStatus::Converted;
    s.commit(commit(
        &c,
        1,
        vec![VersionedRun {
            run: ended,
            version: 1,
        }],
        vec![],
    ))
    .await
    .unwrap();
    assert!(s.due(at("2026-11-24T00:00:00Z")).await.unwrap().is_empty());

    // Order: a message (a retry, an expired claim) before any contact, then
    // contacts earliest due first, whatever their keys say.
    let mut late = Contact::new(
        ContactId::for_customer(1),
        shop(),
        at("2026-11-23T10:00:00Z"),
    );
    late.identity.customer_id = Some(1);
    late.identity.email = Some(EmailAddress::parse("late@example.com").unwrap());
    let mut early = Contact::new(
        ContactId::for_customer(9),
        shop(),
        at("2026-11-23T10:00:00Z"),
    );
    early.identity.customer_id = Some(9);
    for (c, due) in [
        (&late, "2026-11-25T00:05:00Z"),
        (&early, "2026-11-25T00:01:00Z"),
    ] {
        s.commit(commit(
            c,
            0,
            vec![VersionedRun {
                run: run(Some(due)),
                version: 0,
            }],
            vec![],
        ))
        .await
        .unwrap();
    }
    let m = message(&late, "order_probe");
    s.commit(commit(&late, 1, vec![], vec![m.clone()]))
        .await
        .unwrap();
    let claimed = s
        .claim(&s.key(&m), at("2026-11-25T00:09:00Z"))
        .await
        .unwrap()
        .unwrap();
    s.retry_at(&claimed, at("2026-11-25T00:09:00Z"), "Throttling", false)
        .await
        .unwrap();
    let contact_of = |c: &Contact| Due::Contact {
        shop: shop(),
        id: c.id.clone(),
    };
    assert_eq!(
        s.due(at("2026-11-25T00:10:00Z")).await.unwrap(),
        vec![
            Due::Message { id: s.key(&m) },
            contact_of(&early),
            contact_of(&late)
        ]
    );

    // The shards split what is due: each item in exactly one, each shard in
    // due order, and a dozen contacts land in more than one shard.
    for customer in 100..112 {
        let mut c = Contact::new(
            ContactId::for_customer(customer),
            shop(),
            at("2026-11-23T10:00:00Z"),
        );
        c.identity.customer_id = Some(customer);
        s.commit(commit(
            &c,
            0,
            vec![VersionedRun {
                run: run(Some("2026-11-25T00:03:00Z")),
                version: 0,
            }],
            vec![],
        ))
        .await
        .unwrap();
    }
    let now = at("2026-11-25T00:10:00Z");
    let all = s.due(now).await.unwrap();
    assert_eq!(all.len(), 15);
    let mut split = Vec::new();
    let mut used = 0;
    for shard in 0..waymark_app::ports::DUE_SHARDS {
        let part = s.due_in(now, shard).await.unwrap();
        let in_order: Vec<_> = all.iter().filter(|d| part.contains(d)).cloned().collect();
        assert_eq!(part, in_order, "shard {shard} is in due order");
        used += usize::from(!part.is_empty());
        split.extend(part);
    }
    assert!(used > 1, "a dozen contacts all in one shard");
    split.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(split, expected, "every due item in exactly one shard");
}

async fn outbox_contract<S: ContactStore + DueIndex + Outbox + Counters>(
    s: &S,
    settle: &impl Settle,
) {
    let c = contact();
    let m = message(&c, "reminder_1");
    s.commit(commit(&c, 0, vec![], vec![m.clone()]))
        .await
        .unwrap();
    let id = s.key(&m);

    let first = s
        .claim(&id, at("2026-11-23T11:15:00Z"))
        .await
        .unwrap()
        .expect("queued message is claimable");
    assert_eq!(first.attempt, 1);
    assert_eq!(first.message, m);
    assert!(!first.unsure, "a first attempt");
    assert!(
        s.claim(&id, at("2026-11-23T11:15:00Z"))
            .await
            .unwrap()
            .is_none(),
        "a claimed message is not claimed twice"
    );

    s.retry_at(&first, at("2026-11-23T11:01:00Z"), "Throttling", false)
        .await
        .unwrap();
    assert!(
        s.claim(&id, at("2026-11-23T11:15:00Z"))
            .await
            .unwrap()
            .is_none(),
        "waiting for its retry time"
    );
    assert!(s.due(at("2026-11-23T11:00:30Z")).await.unwrap().is_empty());
    assert_eq!(
        s.due(at("2026-11-23T11:01:00Z")).await.unwrap(),
        vec![Due::Message { id: id.clone() }]
    );
    s.requeue(&id, at("2026-11-23T11:00:30Z")).await.unwrap();
    assert!(
        s.claim(&id, at("2026-11-23T11:15:00Z"))
            .await
            .unwrap()
            .is_none(),
        "requeue before the retry time does nothing"
    );
    s.requeue(&id, at("2026-11-23T11:01:00Z")).await.unwrap();
    let second = s
        .claim(&id, at("2026-11-23T11:15:00Z"))
        .await
        .unwrap()
        .expect("requeued");
    assert_eq!(second.attempt, 2);
    assert!(
        !second.unsure,
        "the first attempt was throttled: known unsent"
    );
    assert!(
        s.park(&first, "late").await.is_err(),
        "a stale attempt cannot settle the message"
    );
    s.park(&second, "MessageRejected: address blocked")
        .await
        .unwrap();
    assert!(
        s.claim(&id, at("2026-11-23T11:15:00Z"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.due(at("2027-01-01T00:00:00Z")).await.unwrap().is_empty(),
        "parked is out of the index"
    );

    // A message whose stream record was lost (never claimed) is handed to
    // dispatch again 15 minutes after its time, and checked again after.
    let m3 = message(&c, "reminder_3");
    s.commit(commit(&c, 1, vec![], vec![m3.clone()]))
        .await
        .unwrap();
    let id3 = s.key(&m3);
    let due3 = |due: Vec<Due>| due.contains(&Due::Message { id: id3.clone() });
    assert!(!due3(s.due(at("2026-11-23T11:14:00Z")).await.unwrap()));
    assert!(due3(s.due(at("2026-11-23T11:15:00Z")).await.unwrap()));
    s.requeue(&id3, at("2026-11-23T11:15:00Z")).await.unwrap();
    assert!(
        !due3(s.due(at("2026-11-23T11:20:00Z")).await.unwrap()),
        "handed on; next check 15 minutes later"
    );
    assert!(due3(s.due(at("2026-11-23T11:30:00Z")).await.unwrap()));
    let lost = s.claim(&id3, at("2026-11-23T11:31:00Z")).await.unwrap();
    assert!(lost.is_some(), "still queued, and claimable");
    s.mark_sent(
        &id3,
        "provider-3",
        at("2026-12-23T11:31:00Z"),
        &Default::default(),
    )
    .await
    .unwrap();
    assert!(!due3(s.due(at("2027-01-01T00:00:00Z")).await.unwrap()));

    // A claim whose function died mid-send is requeued once its lease passes.
    let m2 = message(&c, "reminder_2");
    s.commit(commit(&c, 2, vec![], vec![m2.clone()]))
        .await
        .unwrap();
    let id2 = s.key(&m2);
    let claimed = s
        .claim(&id2, at("2026-11-23T11:15:00Z"))
        .await
        .unwrap()
        .unwrap();
    s.requeue(&id2, at("2026-11-23T11:05:00Z")).await.unwrap();
    assert!(
        s.claim(&id2, at("2026-11-23T11:15:00Z"))
            .await
            .unwrap()
            .is_none(),
        "lease still running"
    );
    s.requeue(&id2, at("2026-11-23T11:15:00Z")).await.unwrap();
    let again = s
        .claim(&id2, at("2026-11-23T11:15:00Z"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.attempt, claimed.attempt + 1);
    assert!(
        again.unsure,
        "the attempt before was never settled: it may have sent"
    );
    // An attempt with an unknown outcome makes the next one unsure too;
    // one that settles leaves the message sure again.
    s.retry_at(&again, at("2026-11-23T11:16:00Z"), "InternalFailure", true)
        .await
        .unwrap();
    s.requeue(&id2, at("2026-11-23T11:16:00Z")).await.unwrap();
    let after_unknown = s
        .claim(&id2, at("2026-11-23T11:30:00Z"))
        .await
        .unwrap()
        .unwrap();
    assert!(after_unknown.unsure);
    s.retry_at(
        &after_unknown,
        at("2026-11-23T11:31:00Z"),
        "Throttling",
        false,
    )
    .await
    .unwrap();
    s.requeue(&id2, at("2026-11-23T11:31:00Z")).await.unwrap();
    let after_throttle = s
        .claim(&id2, at("2026-11-23T11:45:00Z"))
        .await
        .unwrap()
        .unwrap();
    assert!(!after_throttle.unsure, "a throttled attempt sent nothing");
    // The send is counted with its mark, once, however often it is marked.
    use waymark_core::analytics::{Counts, Key, field};
    let day = jiff::civil::date(2026, 11, 23);
    let key = Key::new(day, "welcome", 2, "");
    let mut sent = Counts::default();
    sent.add_message(&key, Some("reminder_2"), field::SENT, 1);
    for (time, counted) in [(1, true), (2, false)] {
        assert_eq!(
            s.mark_sent(
                &id2,
                &format!("provider-{time}"),
                at("2026-12-23T11:15:00Z"),
                &sent
            )
            .await
            .unwrap(),
            counted
        );
    }
    settle.settle().await;
    let read = s.read_counts(&shop(), day, day).await.unwrap();
    let step = Key::new(day, "welcome", 2, "reminder_2");
    assert_eq!(read.0[&step][field::SENT], 1, "{read:?}");
    assert!(
        s.claim(&id2, at("2026-11-23T11:15:00Z"))
            .await
            .unwrap()
            .is_none(),
        "sent is final"
    );

    // A claim leaves a due time already past its lease where it is (queued
    // at 11:00, due again at 11:15 if its stream record is lost), and moves
    // an earlier one to the lease: a crashed sender's message is due again
    // no sooner than its lease, and no index key moves in the common case.
    let due_ids = |now: &'static str| async move {
        s.due(at(now))
            .await
            .unwrap()
            .into_iter()
            .filter_map(|d| match d {
                Due::Message { id } => Some(id),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let early = message(&c, "reminder_5");
    let late = message(&c, "reminder_6");
    let state = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    s.commit(commit(
        &state.contact,
        state.version,
        vec![],
        vec![early.clone(), late.clone()],
    ))
    .await
    .unwrap();
    let (early, late) = (s.key(&early), s.key(&late));
    s.claim(&early, at("2026-11-23T11:05:00Z"))
        .await
        .unwrap()
        .unwrap();
    s.claim(&late, at("2026-11-23T11:30:00Z"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !due_ids("2026-11-23T11:14:59Z").await.contains(&early),
        "not due at its lease"
    );
    assert!(due_ids("2026-11-23T11:15:00Z").await.contains(&early));
    assert!(
        !due_ids("2026-11-23T11:29:59Z").await.contains(&late),
        "its lease holds"
    );
    assert!(due_ids("2026-11-23T11:30:00Z").await.contains(&late));
}

/// The suppression list: read before every send, never downgraded.
async fn suppressions_contract<S: Suppressions>(s: &S) {
    let ana = EmailAddress::parse("ana@example.com").unwrap();
    let t = at("2026-11-23T10:00:00Z");
    assert_eq!(s.suppression(&shop(), &ana).await.unwrap(), None);
    assert_eq!(
        s.suppression_state(&shop(), &ana).await.unwrap(),
        SuppressionState::default()
    );
    s.suppress(&shop(), &ana, SuppressionReason::Unsubscribed, t)
        .await
        .unwrap();
    let loud = EmailAddress::parse("ANA@Example.com").unwrap();
    assert_eq!(
        s.suppression(&shop(), &loud).await.unwrap(),
        Some(SuppressionReason::Unsubscribed),
        "one entry per address, whatever its case"
    );
    let state = s.suppression_state(&shop(), &ana).await.unwrap();
    assert!(state.blocks(false, None).is_some() && state.blocks(true, None).is_none());
    // A bounce is stronger; an unsubscribe after it does not weaken it, and
    // a confirmed opt-in lifts only an unsubscribe.
    s.suppress(&shop(), &ana, SuppressionReason::HardBounce, t)
        .await
        .unwrap();
    s.suppress(&shop(), &ana, SuppressionReason::Unsubscribed, t)
        .await
        .unwrap();
    s.lift_unsubscribe(&shop(), &ana, t).await.unwrap();
    assert_eq!(
        s.suppression(&shop(), &ana).await.unwrap(),
        Some(SuppressionReason::HardBounce)
    );
    let bo = EmailAddress::parse("bo@example.com").unwrap();
    s.suppress_topics(&shop(), &bo, &["news".into()], t)
        .await
        .unwrap();
    let state = s.suppression_state(&shop(), &bo).await.unwrap();
    assert_eq!(state.reason, None);
    assert!(state.blocks(false, Some("news")).is_some());
    assert!(state.blocks(false, Some("offers")).is_none());
    s.suppress(&shop(), &bo, SuppressionReason::Unsubscribed, t)
        .await
        .unwrap();
    s.lift_unsubscribe(&shop(), &bo, t).await.unwrap();
    assert_eq!(
        s.suppression_state(&shop(), &bo).await.unwrap(),
        SuppressionState::default()
    );
    let other = ShopDomain::parse("other.myshopify.com").unwrap();
    assert_eq!(s.suppression(&other, &ana).await.unwrap(), None, "per shop");
}

/// Segment membership follows the commits.
async fn segments_contract<S: ContactStore + Segments>(s: &S) {
    let c = contact();
    let mut joining = commit(&c, 0, vec![], vec![]);
    joining.segments_entered = vec!["vip".into()];
    s.commit(joining).await.unwrap();
    assert_eq!(s.count(&shop(), "vip").await.unwrap(), 1);
    assert_eq!(
        s.members(&shop(), "vip").await.unwrap(),
        vec![Member {
            contact: c.id.clone(),
            email: c.identity.email.clone()
        }]
    );
    assert_eq!(s.count(&shop(), "first_time_buyers").await.unwrap(), 0);
    let mut leaving = commit(&c, 1, vec![], vec![]);
    leaving.segments_exited = vec!["vip".into()];
    s.commit(leaving).await.unwrap();
    assert_eq!(s.count(&shop(), "vip").await.unwrap(), 0);
    assert!(s.members(&shop(), "vip").await.unwrap().is_empty());
}

/// The results counters: a fact counts once, whatever its redeliveries;
/// counts from commits and from counted facts add up, per day.
async fn counters_contract<S: ContactStore + Counters>(s: &S, settle: &impl Settle) {
    use waymark_core::analytics::{Counts, Key, field};
    let day = jiff::civil::date(2026, 11, 23);
    let key = Key::new(day, "welcome", 2, "w1");
    let mut counts = Counts::default();
    counts.add(&key, field::OPENED, 1);
    counts.add(&key, "revenue:EUR", 1250);
    let t = at("2026-11-23T10:00:00Z");
    assert!(
        s.count_once(&shop(), "opened#m1", t, &counts)
            .await
            .unwrap()
    );
    assert!(
        !s.count_once(&shop(), "opened#m1", t, &counts)
            .await
            .unwrap(),
        "once"
    );
    let c = contact();
    let mut with = commit(&c, 0, vec![], vec![]);
    with.counts = counts.clone();
    s.commit(with).await.unwrap();
    let mut other_day = Counts::default();
    other_day.add(
        &Key::new(day.tomorrow().unwrap(), "welcome", 2, "w1"),
        field::OPENED,
        5,
    );
    assert!(
        s.count_once(&shop(), "opened#m2", t, &other_day)
            .await
            .unwrap()
    );
    // Twice: on DynamoDB the whole stream is counted again, and nothing is
    // added twice.
    settle.settle().await;
    settle.settle().await;
    let read = s.read_counts(&shop(), day, day).await.unwrap();
    assert_eq!(read.0.len(), 1, "{read:?}");
    assert_eq!(read.0[&key][field::OPENED], 2);
    assert_eq!(read.0[&key]["revenue:EUR"], 2500);
    let both = s
        .read_counts(&shop(), day, day.tomorrow().unwrap())
        .await
        .unwrap();
    assert_eq!(both.0.len(), 2);
}

/// What a campaign page writes when it decides and sends a recipient
/// itself: the email created already claimed (in no due index, taken by no
/// claim, created once), handed to the timer only when its sender may have
/// stopped (then claimed as `unsure`), and the decision's run put once,
/// counting once.
async fn page_send_contract<S: ContactStore + DueIndex + Outbox + Counters>(
    s: &S,
    settle: &impl Settle,
) {
    use waymark_core::analytics::{Counts, Key, field};
    let c = contact();
    s.commit(commit(&c, 0, vec![], vec![])).await.unwrap();
    let m = message(&c, "news");
    let id = s.key(&m);
    let lease = at("2026-11-23T11:02:00Z");
    let created = s.create_claimed(&m).await.unwrap().expect("a new message");
    assert_eq!((created.attempt, created.unsure), (1, false));
    assert_eq!(created.message, m);
    assert!(
        s.create_claimed(&m).await.unwrap().is_none(),
        "created once"
    );
    assert!(
        s.claim(&id, at("2026-11-23T11:15:00Z"))
            .await
            .unwrap()
            .is_none(),
        "its sender holds it"
    );
    assert!(
        s.due(at("2027-01-01T00:00:00Z")).await.unwrap().is_empty(),
        "in no due index"
    );
    // Its sender stopped: handed to the timer at the given time, once.
    s.watch(&shop(), &m.id, lease).await.unwrap();
    s.watch(&shop(), &m.id, at("2026-11-23T12:00:00Z"))
        .await
        .unwrap();
    assert!(s.due(at("2026-11-23T11:01:00Z")).await.unwrap().is_empty());
    assert_eq!(
        s.due(lease).await.unwrap(),
        vec![Due::Message { id: id.clone() }]
    );
    s.requeue(&id, lease).await.unwrap();
    let again = s
        .claim(&id, at("2026-11-23T11:20:00Z"))
        .await
        .unwrap()
        .expect("requeued");
    assert_eq!(again.attempt, 2);
    assert!(again.unsure, "the first attempt may have sent it");
    assert!(
        s.mark_sent(&id, "ses-1", at("2026-12-23T11:00:00Z"), &Counts::default())
            .await
            .unwrap()
    );
    s.watch(&shop(), &m.id, at("2026-11-23T13:00:00Z"))
        .await
        .unwrap();
    assert!(
        s.due(at("2027-01-01T00:00:00Z")).await.unwrap().is_empty(),
        "a settled message is never handed on"
    );

    // The decision's run: put once, loaded with the contact, counted once.
    let day = jiff::civil::date(2026, 11, 23);
    let key = Key::new(day, "campaign-news", 1, "");
    let mut counts = Counts::default();
    counts.add(&key, field::ENTERED, 1);
    let mut decided = run(None);
    decided.journey = "campaign-news".into();
    decided.status = RunStatus::Completed;
    decided.ended_at = Some(at("2026-11-23T11:00:00Z"));
    assert!(
        s.put_decision(&shop(), &c.id, &decided, &counts)
            .await
            .unwrap()
    );
    assert!(
        !s.put_decision(&shop(), &c.id, &decided, &counts)
            .await
            .unwrap(),
        "once"
    );
    let loaded = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(loaded.version, 1, "the contact is not written");
    assert!(loaded.runs.iter().any(|r| r.run == decided));
    settle.settle().await;
    settle.settle().await;
    let read = s.read_counts(&shop(), day, day).await.unwrap();
    assert_eq!(read.0[&key][field::ENTERED], 1);
}

/// Allowances: takes add up to the maximum and never past it; a take that
/// does not fit takes nothing; each window and each name counts apart.
async fn allowances_contract<S: Allowances + Sync>(s: &S) {
    use waymark_core::ratelimit::{Allowance, Take};
    let per_hour = Allowance::parse("5/1h").unwrap();
    let t = at("2026-11-23T10:15:00Z");
    let take = |name: &str, n, when| Take::new(&shop(), name.to_string(), &per_hour, n, when);
    assert!(s.take(&take("form-key:k", 3, t)).await.unwrap());
    assert!(
        !s.take(&take("form-key:k", 3, t)).await.unwrap(),
        "3 + 3 would pass 5"
    );
    // Eight more asking for one each: exactly two get one. (Sequential:
    // DynamoDB applies a conditional update atomically per item, which is
    // what keeps racing instances within the maximum; the emulator does not
    // promise that under concurrent requests, so racing it would test moto.)
    let one = take("form-key:k", 1, t);
    let mut won = 0;
    for _ in 0..8 {
        won += usize::from(s.take(&one).await.unwrap());
    }
    assert_eq!(won, 2);
    assert!(!s.take(&take("form-key:k", 1, t)).await.unwrap());
    assert!(
        s.take(&take("form-key:other", 5, t)).await.unwrap(),
        "names count apart"
    );
    let next_hour = at("2026-11-23T11:00:00Z");
    assert!(
        s.take(&take("form-key:k", 5, next_hour)).await.unwrap(),
        "a new window"
    );
    assert!(
        !s.take(&take(
            "form-key:k",
            6,
            next_hour + jiff::SignedDuration::from_hours(1)
        ))
        .await
        .unwrap(),
        "more than the maximum never fits"
    );
}

/// Scheduled campaigns: one schedule at a time, saves conditional on the
/// version (a cancel wins), the due index, member pages that cover a
/// segment exactly once, and the workers' page marks.
async fn campaigns_contract<S: ContactStore + CampaignStore + DueIndex>(s: &S) {
    use waymark_app::ports::CampaignPhase;
    use waymark_core::campaign::{Campaign, SendAt};
    let c = Campaign {
        id: "news".into(),
        name: "News".into(),
        segments: vec!["vip".into()],
        exclude: vec![],
        when: Default::default(),
        template: "welcome_1".into(),
        subject: None,
        preheader: None,
        topic: None,
        send_at: SendAt::Instant(at("2026-12-01T10:00:00Z")),
        smart_sending: None,
        utm: Default::default(),
        ab_test: None,
    };
    assert!(
        s.schedule(&shop(), &c, at("2026-11-30T00:00:00Z"))
            .await
            .unwrap()
    );
    let is_due = |due: &[Due]| {
        due.contains(&Due::Campaign {
            shop: shop(),
            id: "news".into(),
        })
    };
    assert!(!is_due(&s.due(at("2026-12-01T09:59:00Z")).await.unwrap()));
    assert!(is_due(&s.due(at("2026-12-01T10:00:00Z")).await.unwrap()));
    let r = s.campaign(&shop(), "news").await.unwrap().unwrap();
    assert_eq!(
        (r.campaign.clone(), r.state.phase),
        (c.clone(), CampaignPhase::Scheduled)
    );
    let mut sending = r.state.clone();
    sending.phase = CampaignPhase::Sending;
    sending.after = Some("C#x".into());
    assert!(
        s.save_campaign(&shop(), "news", &sending, r.version, None)
            .await
            .unwrap()
    );
    assert!(
        !s.save_campaign(&shop(), "news", &sending, r.version, None)
            .await
            .unwrap(),
        "stale version"
    );
    assert!(
        !is_due(&s.due(at("2026-12-02T00:00:00Z")).await.unwrap()),
        "not due: none given"
    );
    assert!(
        !s.schedule(&shop(), &c, at("2026-12-01T10:01:00Z"))
            .await
            .unwrap(),
        "under way"
    );
    let r = s.campaign(&shop(), "news").await.unwrap().unwrap();
    assert_eq!(r.state, sending);
    assert!(s.cancel(&shop(), "news").await.unwrap());
    let r2 = s.campaign(&shop(), "news").await.unwrap().unwrap();
    assert_eq!(r2.state.phase, CampaignPhase::Cancelled);
    assert!(
        !s.save_campaign(&shop(), "news", &sending, r2.version, None)
            .await
            .unwrap(),
        "a cancel wins"
    );
    assert!(
        s.schedule(&shop(), &c, at("2026-12-01T11:00:00Z"))
            .await
            .unwrap(),
        "again after a cancel"
    );
    // Five members, read two at a time: each once, in pages.
    for i in 0..5u64 {
        let mut m = contact();
        m.id = ContactId::for_customer(100 + i);
        m.identity.customer_id = Some(100 + i);
        let mut joining = commit(&m, 0, vec![], vec![]);
        joining.segments_entered = vec!["vip".into()];
        s.commit(joining).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..5 {
        let (page, next) = s
            .member_page(&shop(), "vip", after.as_deref(), 2)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.into_iter().map(|m| m.contact));
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (5, 5), "{seen:?}");
    // The workers' marks: each page counted once, per wave, for its run.
    let r = s.campaign(&shop(), "news").await.unwrap().unwrap();
    assert_eq!(r.worked, Default::default());
    let page = |wave, number| waymark_app::ports::CampaignPage {
        shop: shop(),
        campaign: "news".into(),
        run: r.state.run(),
        wave,
        number,
        at: at("2026-12-01T11:00:00Z"),
        started_at: at("2026-12-01T11:00:00Z"),
        sends: vec![],
    };
    assert!(
        s.page_done(&page(CampaignPhase::Testing, 0), 3, 1)
            .await
            .unwrap()
    );
    assert!(
        s.page_done(&page(CampaignPhase::Sending, 0), 5, 0)
            .await
            .unwrap()
    );
    assert!(
        s.page_done(&page(CampaignPhase::Sending, 1), 2, 2)
            .await
            .unwrap()
    );
    assert!(
        !s.page_done(&page(CampaignPhase::Sending, 1), 2, 2)
            .await
            .unwrap(),
        "a page delivered again is not counted again"
    );
    let mut stale = page(CampaignPhase::Sending, 2);
    stale.run -= 1;
    assert!(
        !s.page_done(&stale, 9, 9).await.unwrap(),
        "a page of an earlier run"
    );
    let r = s.campaign(&shop(), "news").await.unwrap().unwrap();
    assert_eq!(
        r.worked,
        waymark_app::ports::Worked {
            testing: 1,
            sending: 2,
            recorded: 10,
            overlaps: 3,
        }
    );
    assert_eq!(r.recorded(), (10, 3));
    // Scheduled again: the new run starts from nothing.
    assert!(s.cancel(&shop(), "news").await.unwrap());
    assert!(
        s.schedule(&shop(), &c, at("2026-12-02T11:00:00Z"))
            .await
            .unwrap()
    );
    let r = s.campaign(&shop(), "news").await.unwrap().unwrap();
    assert_eq!(r.worked, Default::default());
    assert!(
        !s.page_done(&page(CampaignPhase::Sending, 0), 5, 0)
            .await
            .unwrap(),
        "the first run's page"
    );
    // Once done, the same id is not sent again (a new send is a new id).
    let r = s.campaign(&shop(), "news").await.unwrap().unwrap();
    let mut done = r.state.clone();
    done.phase = CampaignPhase::Done;
    assert!(
        s.save_campaign(&shop(), "news", &done, r.version, None)
            .await
            .unwrap()
    );
    assert!(
        !s.schedule(&shop(), &c, at("2026-12-03T11:00:00Z"))
            .await
            .unwrap(),
        "done: refused"
    );
    let r = s.campaign(&shop(), "news").await.unwrap().unwrap();
    assert_eq!(r.state.phase, CampaignPhase::Done);
    // A done campaign whose emails still wait can be cancelled (the app
    // checks they wait), once.
    assert!(
        !s.cancel(&shop(), "news").await.unwrap(),
        "done: not by cancel"
    );
    assert!(s.cancel_done(&shop(), "news").await.unwrap());
    let r = s.campaign(&shop(), "news").await.unwrap().unwrap();
    assert_eq!(r.state.phase, CampaignPhase::Cancelled);
    assert!(!s.cancel_done(&shop(), "news").await.unwrap());
}

/// A campaign email never tried (held, queued) or stopped by its cancel at
/// its first claim is unsent, and only such an email is written over by a
/// message that says it replaces one; an email being sent is in flight;
/// one sent, or stopped after an earlier attempt (it may have gone), never
/// is written over.
async fn unsent_contract<S: ContactStore + Outbox + CampaignStore>(s: &S) {
    use waymark_app::ports::EmailFate;
    let mut c = contact();
    c.id = ContactId::for_customer(900);
    c.identity.customer_id = Some(900);
    let mut held = message(&c, "news");
    held.not_before = Some(at("2026-11-24T15:00:00Z"));
    s.commit(commit(&c, 0, vec![], vec![held.clone()]))
        .await
        .unwrap();
    let fate = |id: &str| {
        let id = id.to_string();
        async move { s.email_fate(&shop(), &id).await.unwrap() }
    };
    assert_eq!(fate(&held.id).await, EmailFate::Unsent, "held");
    assert_eq!(fate("msg-none").await, EmailFate::Settled);
    let mut again = held.clone();
    again.not_before = None;
    let plain = s.commit(commit(&c, 1, vec![], vec![again.clone()])).await;
    assert!(matches!(plain, Err(CommitError::Conflict)), "{plain:?}");
    again.replaces_unsent = true;
    s.commit(commit(&c, 1, vec![], vec![again.clone()]))
        .await
        .unwrap();
    assert_eq!(fate(&held.id).await, EmailFate::Unsent, "queued");
    let id = s.key(&again);
    let claimed = s
        .claim(&id, at("2026-11-23T11:15:00Z"))
        .await
        .unwrap()
        .expect("queued, so claimable");
    assert_eq!(fate(&held.id).await, EmailFate::Sending);
    let over = s.commit(commit(&c, 2, vec![], vec![again.clone()])).await;
    assert!(matches!(over, Err(CommitError::Conflict)), "{over:?}");
    s.skip(&claimed, waymark_core::campaign::STOPPED)
        .await
        .unwrap();
    assert_eq!(fate(&held.id).await, EmailFate::Unsent, "stopped at once");
    s.commit(commit(&c, 2, vec![], vec![again.clone()]))
        .await
        .unwrap();
    // Tried, its outcome unknown, then stopped: it may have gone.
    let first = s
        .claim(&id, at("2026-11-23T11:15:00Z"))
        .await
        .unwrap()
        .expect("written over: queued again");
    s.retry_at(&first, at("2026-11-23T11:01:00Z"), "timeout", true)
        .await
        .unwrap();
    assert_eq!(fate(&held.id).await, EmailFate::Settled, "retrying");
    s.requeue(&id, at("2026-11-23T11:01:00Z")).await.unwrap();
    let second = s
        .claim(&id, at("2026-11-23T11:15:00Z"))
        .await
        .unwrap()
        .expect("requeued");
    s.skip(&second, waymark_core::campaign::STOPPED)
        .await
        .unwrap();
    assert_eq!(
        fate(&held.id).await,
        EmailFate::Settled,
        "stopped after a try"
    );
    let tried = s.commit(commit(&c, 3, vec![], vec![again.clone()])).await;
    assert!(matches!(tried, Err(CommitError::Conflict)), "{tried:?}");
}

/// An email sent is never written over by a later schedule's.
async fn sent_is_never_replaced<S: ContactStore + Outbox + CampaignStore>(s: &S) {
    use waymark_app::ports::EmailFate;
    let mut c = contact();
    c.id = ContactId::for_customer(901);
    c.identity.customer_id = Some(901);
    let m = message(&c, "news_sent");
    s.commit(commit(&c, 0, vec![], vec![m.clone()]))
        .await
        .unwrap();
    let id = s.key(&m);
    s.claim(&id, at("2026-11-23T11:15:00Z"))
        .await
        .unwrap()
        .expect("queued");
    assert!(
        s.mark_sent(
            &id,
            "ses-1",
            at("2026-12-30T00:00:00Z"),
            &Default::default()
        )
        .await
        .unwrap()
    );
    assert_eq!(
        s.email_fate(&shop(), &m.id).await.unwrap(),
        EmailFate::Settled
    );
    let mut again = m.clone();
    again.replaces_unsent = true;
    let sent = s.commit(commit(&c, 1, vec![], vec![again])).await;
    assert!(matches!(sent, Err(CommitError::Conflict)), "{sent:?}");
}

/// The inactivity index: a contact sits under the day its threshold falls
/// on, and moves when it wakes up.
async fn idle_contract<S: ContactStore + IdleIndex>(s: &S) {
    assert_eq!(s.sweep_cursor().await.unwrap(), None);
    s.set_sweep_cursor(20_500).await.unwrap();
    assert_eq!(s.sweep_cursor().await.unwrap(), Some(20_500));
    let day = |t: &str| (at(t).as_second() / 86_400) as i32;
    let mut c = contact();
    c.schedule.idle_at = Some(at("2027-02-21T10:00:00Z"));
    s.commit(commit(&c, 0, vec![], vec![])).await.unwrap();
    let feb21 = day("2027-02-21T00:00:00Z");
    let found = s.idle_between(feb21, feb21).await.unwrap();
    assert_eq!(found.contacts, vec![(shop(), c.id.clone())]);
    assert!(
        s.idle_between(feb21 + 1, feb21 + 30)
            .await
            .unwrap()
            .contacts
            .is_empty()
    );
    // A sign of life moves it to a later day.
    c.schedule.idle_at = Some(at("2027-03-01T10:00:00Z"));
    s.commit(commit(&c, 1, vec![], vec![])).await.unwrap();
    assert!(
        s.idle_between(feb21, feb21)
            .await
            .unwrap()
            .contacts
            .is_empty()
    );
    let mar1 = day("2027-03-01T00:00:00Z");
    assert_eq!(s.idle_between(feb21, mar1).await.unwrap().contacts.len(), 1);
    // Lapsed: out of the index.
    c.schedule.idle_at = None;
    s.commit(commit(&c, 2, vec![], vec![])).await.unwrap();
    assert!(
        s.idle_between(feb21, mar1)
            .await
            .unwrap()
            .contacts
            .is_empty()
    );
}

/// An erasure leaves nothing of the person: profile, lookups, memberships.
async fn privacy_contract<S: ContactStore + Segments + Privacy>(s: &S) {
    let c = contact();
    let mut joining = commit(&c, 0, vec![], vec![]);
    joining.segments_entered = vec!["vip".into()];
    joining.identities = Identity {
        customer_id: c.identity.customer_id,
        email: c.identity.email.clone(),
        ..Default::default()
    };
    s.commit(joining).await.unwrap();
    let by_email = Identity {
        email: c.identity.email.clone(),
        ..Default::default()
    };
    assert_eq!(
        s.find(&shop(), &by_email).await.unwrap().contact,
        Some(c.id.clone())
    );
    let erasure = Erasure {
        shop: shop(),
        contact: Some(c.id.clone()),
        merged: vec![],
        customer_id: c.identity.customer_id,
        emails: c.identity.email.iter().cloned().collect(),
        orders: vec![],
        contracts: vec![],
        anonymous_ids: vec![],
        segments: vec!["vip".into()],
        messages: vec![],
        events: vec![],
        reason: "customers/redact".into(),
        request: Some("r-1".into()),
        at: at("2026-11-24T00:00:00Z"),
        proof: true,
    };
    assert!(
        s.erase(&erasure).await.unwrap() >= 3,
        "contact, lookups, membership"
    );
    assert!(s.load_for_update(&shop(), &c.id).await.unwrap().is_none());
    assert_eq!(s.find(&shop(), &by_email).await.unwrap().contact, None);
    assert_eq!(s.count(&shop(), "vip").await.unwrap(), 0);
    // Again (a redelivery): nothing left to delete, no error.
    s.erase(&erasure).await.unwrap();

    // A visitor known only by a browser is forgotten the same way, with no
    // record kept.
    let visitor = Contact::new(
        ContactId::for_anonymous("browser-1"),
        shop(),
        at("2026-11-23T10:00:00Z"),
    );
    let mut seen = commit(&visitor, 0, vec![], vec![]);
    seen.identities = Identity {
        anonymous_id: Some("browser-1".into()),
        ..Default::default()
    };
    s.commit(seen.clone()).await.unwrap();
    assert_eq!(
        s.find(&shop(), &seen.identities).await.unwrap().contact,
        Some(visitor.id.clone())
    );
    let forget = Erasure {
        contact: Some(visitor.id.clone()),
        customer_id: None,
        emails: vec![],
        anonymous_ids: vec!["browser-1".into()],
        segments: vec![],
        reason: "anonymous/expired".into(),
        request: None,
        proof: false,
        ..erasure
    };
    assert!(s.erase(&forget).await.unwrap() >= 2, "contact and lookup");
    assert!(
        s.load_for_update(&shop(), &visitor.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.find(&shop(), &seen.identities).await.unwrap().contact,
        None
    );
}

/// A deployment upgraded in place: items written before documents were
/// deflated hold them as JSON strings, and are read as they are; the next
/// commit writes the new layout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_adapter_reads_documents_written_as_json_strings() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = Stack::start().await.unwrap();
    let s = store(&stack);
    let mut c = contact();
    c.identity.first_name = Some("Ana".into());
    s.commit(commit(
        &c,
        0,
        vec![VersionedRun {
            run: run(Some("2026-11-24T10:00:00Z")),
            version: 0,
        }],
        vec![],
    ))
    .await
    .unwrap();
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let items = stack.items().await.unwrap();
    let mut rewritten = 0;
    for item in items {
        let t = item.get("t").and_then(|v| v.as_s().ok()).cloned();
        if !matches!(t.as_deref(), Some("contact" | "run")) {
            continue;
        }
        // `items()` shows every document as its JSON string: put them back
        // that way, as earlier versions wrote them.
        assert!(item.get("doc").is_some_and(AttributeValue::is_s));
        ddb.put_item()
            .table_name(&stack.table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
        rewritten += 1;
    }
    assert_eq!(rewritten, 2, "the profile and the run");
    let state = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(state.contact.identity.first_name.as_deref(), Some("Ana"));
    assert_eq!(state.runs.len(), 1);
    assert_eq!(state.runs[0].run.journey, "abandoned_checkout");
    s.commit(commit(&state.contact, state.version, vec![], vec![]))
        .await
        .unwrap();
    assert_eq!(
        s.load_for_update(&shop(), &c.id)
            .await
            .unwrap()
            .unwrap()
            .version,
        state.version + 1
    );
}

/// The sort keys of the contact's items, with whether each still carries
/// a `mark` (a put replaces the whole item, so a rewritten one has none).
async fn contact_items(stack: &Stack) -> Vec<(String, bool)> {
    let mut found: Vec<(String, bool)> = stack
        .items()
        .await
        .unwrap()
        .into_iter()
        .filter(|i| {
            i.get("PK")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|pk| pk.contains("#C#"))
        })
        .map(|i| {
            (
                i.get("SK")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default(),
                i.contains_key("mark"),
            )
        })
        .collect();
    found.sort();
    found
}

/// Ended runs kept for their messages that were written before they moved
/// out of the ordinary load's way (at `R#…`, as the release before wrote
/// them) are still read by every load, and go where they belong with the
/// commit that next changes them: found where the load read them, or,
/// when the adapter has no record of that load, cleared from both places.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_ended_runs_written_before_move_when_next_changed() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = Stack::start().await.unwrap();
    let s = store(&stack);
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let c = contact();
    s.commit(commit(&c, 0, vec![], vec![])).await.unwrap();
    let pk = format!("S#{}#C#{}", shop(), c.id.as_str());
    let ended = |entry: u32| {
        let mut r = run(None);
        r.entry = entry;
        r.sent = vec!["w1".into()];
        r.status = RunStatus::Completed;
        r.ended_at = Some(at("2026-11-24T10:00:00Z"));
        r
    };
    for entry in [0, 1] {
        ddb.put_item()
            .table_name(&stack.table)
            .item("PK", AttributeValue::S(pk.clone()))
            .item(
                "SK",
                AttributeValue::S(format!("R#abandoned_checkout#tok#{entry}")),
            )
            .item("t", AttributeValue::S("run".into()))
            .item("ver", AttributeValue::N("1".into()))
            .item("status", AttributeValue::S("completed".into()))
            .item(
                "doc",
                AttributeValue::S(serde_json::to_string(&ended(entry)).unwrap()),
            )
            .send()
            .await
            .unwrap();
    }
    let active = s.load_active(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(
        active.runs.len(),
        2,
        "where they were, every load reads them"
    );
    let opened = |entry: u32| {
        let mut r = ended(entry);
        r.clicks.push(waymark_core::journey::Click {
            step: "w1".into(),
            link: None,
            at: at("2026-11-25T10:00:00Z"),
            open: true,
            machine: false,
        });
        VersionedRun { run: r, version: 1 }
    };
    // Changed after a load this adapter remembers.
    s.commit(commit(&c, active.version, vec![opened(0)], vec![]))
        .await
        .unwrap();
    // Changed by an adapter with no record of the load (another instance).
    let version = active.version + 1;
    store(&stack)
        .commit(commit(&c, version, vec![opened(1)], vec![]))
        .await
        .unwrap();
    let sks: Vec<String> = contact_items(&stack)
        .await
        .into_iter()
        .map(|(sk, _)| sk)
        .filter(|sk| !sk.starts_with('C'))
        .collect();
    assert_eq!(
        sks,
        ["S#abandoned_checkout#tok#0", "S#abandoned_checkout#tok#1"]
    );
    assert!(
        s.load_active(&shop(), &c.id)
            .await
            .unwrap()
            .unwrap()
            .runs
            .is_empty()
    );
    let all = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(
        all.runs,
        vec![
            VersionedRun {
                run: opened(0).run,
                version: 2
            },
            VersionedRun {
                run: opened(1).run,
                version: 2
            },
        ]
    );
}

/// The idle index's key is the day alone now; a contact written before,
/// under `<day>#<its key>`, is still found on its day until its next commit
/// moves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_idle_keys_written_before_are_still_swept() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = Stack::start().await.unwrap();
    let s = store(&stack);
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let c = contact();
    s.commit(commit(&c, 0, vec![], vec![])).await.unwrap();
    let pk = format!("S#{}#C#{}", shop(), c.id.as_str());
    let (shard, day) = waymark_aws::keys::idle(20_870, &pk);
    assert_eq!(day, "020870");
    ddb.update_item()
        .table_name(&stack.table)
        .key("PK", AttributeValue::S(pk.clone()))
        .key("SK", AttributeValue::S("C".into()))
        .update_expression("SET idle_shard = :s, idle_key = :k")
        .expression_attribute_values(":s", AttributeValue::S(shard))
        .expression_attribute_values(":k", AttributeValue::S(format!("{day}#{pk}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.idle_between(20_870, 20_870).await.unwrap().contacts,
        vec![(shop(), c.id.clone())]
    );
    assert!(
        s.idle_between(20_871, 20_900)
            .await
            .unwrap()
            .contacts
            .is_empty()
    );
    assert!(
        s.idle_between(20_800, 20_869)
            .await
            .unwrap()
            .contacts
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_adapter_writes_only_the_profile_parts_an_event_changed() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = Stack::start().await.unwrap();
    let s = store(&stack);
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    // A profile as the release before the split wrote it: one whole item,
    // 100 days of browsing and a journey's history in its document.
    let day0 = at("2026-06-01T10:00:00Z");
    let day = |d: i64| day0 + jiff::SignedDuration::from_hours(24 * d);
    let mut c = contact();
    for d in 0..100 {
        c.audience.activity.add("page_viewed", day(d), 0);
    }
    c.history.record("welcome", "once", 0, day(1));
    let pk = format!("S#{}#C#{}", shop(), c.id.as_str());
    let whole = serde_json::json!({"contact": c, "recent_events": []});
    ddb.put_item()
        .table_name(&stack.table)
        .item("PK", AttributeValue::S(pk.clone()))
        .item("SK", AttributeValue::S("C".into()))
        .item("t", AttributeValue::S("contact".into()))
        .item("ver", AttributeValue::N("4".into()))
        .item("doc", AttributeValue::S(whole.to_string()))
        .send()
        .await
        .unwrap();
    let views = |state: &waymark_app::ports::ContactState, now| {
        state
            .contact
            .audience
            .activity
            .total("page_viewed", None, now)
            .0
    };
    let state = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!((state.version, views(&state, day(100))), (4, 100));
    // Its next commit moves the older blocks and the lists into parts.
    let mut next = state.contact.clone();
    next.audience.activity.add("page_viewed", day(100), 0);
    s.commit(commit(&next, 4, vec![], vec![])).await.unwrap();
    let items = contact_items(&stack).await;
    let parts: Vec<&String> = items
        .iter()
        .map(|(sk, _)| sk)
        .filter(|sk| sk.starts_with("C#"))
        .collect();
    assert!(parts.iter().any(|sk| *sk == "C#L"), "{items:?}");
    assert!(parts.iter().any(|sk| *sk == "C#A"), "{items:?}");
    // Mark every item, then a page view on the newest day: only the hot
    // item is written.
    for (sk, _) in &items {
        ddb.update_item()
            .table_name(&stack.table)
            .key("PK", AttributeValue::S(pk.clone()))
            .key("SK", AttributeValue::S(sk.clone()))
            .update_expression("SET mark = :m")
            .expression_attribute_values(":m", AttributeValue::N("1".into()))
            .send()
            .await
            .unwrap();
    }
    let state = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!((state.version, views(&state, day(101))), (5, 101));
    assert_eq!(state.contact.history.len(), 1);
    let mut next = state.contact.clone();
    next.audience.activity.add("page_viewed", day(100), 0);
    s.commit(commit(&next, 5, vec![], vec![])).await.unwrap();
    let after = contact_items(&stack).await;
    assert!(
        after.iter().all(|(sk, marked)| *marked != (sk == "C")),
        "{after:?}"
    );
    // A late event rewrites its block; a year later the old blocks are
    // gone with the days they held.
    let state = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(views(&state, day(101)), 102);
    let mut next = state.contact.clone();
    next.audience.activity.add("page_viewed", day(2), 0);
    s.commit(commit(&next, 6, vec![], vec![])).await.unwrap();
    let rewritten: Vec<(String, bool)> = contact_items(&stack)
        .await
        .into_iter()
        .filter(|(_, marked)| !marked)
        .collect();
    assert_eq!(
        rewritten.len(),
        2,
        "the hot item and the older blocks': {rewritten:?}"
    );
    let state = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    let mut next = state.contact.clone();
    next.audience.activity.add("page_viewed", day(600), 0);
    s.commit(commit(&next, 7, vec![], vec![])).await.unwrap();
    let state = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(views(&state, day(600)), 1);
    let left = contact_items(&stack).await;
    assert_eq!(
        left.iter().filter(|(sk, _)| sk.starts_with("C#A")).count(),
        0,
        "{left:?}"
    );
}

/// Each older block of event ids in a slot of its own, past the ordinary
/// load: that load lists them and leaves them; a whole load reads them; a
/// commit after an ordinary load writes only a block it made, into the
/// first slot no listed block holds (over a block dropped, unread).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_event_ids_are_an_item_per_block_that_an_ordinary_load_leaves() {
    let stack = Stack::start().await.unwrap();
    let s = store(&stack);
    let c = contact();
    let t0 = at("2026-11-01T10:00:00Z");
    let fact = |i: i64| format!("{i:032x}");
    let mut recent = waymark_core::ids::RecentEvents::default();
    for i in 0..40 {
        recent.push(&fact(i), t0 + jiff::SignedDuration::from_mins(i));
    }
    let mut first = commit(&c, 0, vec![], vec![]);
    first.recent_events = recent.clone();
    s.commit(first).await.unwrap();
    let blocks = |items: Vec<(String, bool)>| -> Vec<String> {
        items
            .into_iter()
            .map(|(sk, _)| sk)
            .filter(|sk| sk.starts_with("T#E#"))
            .collect()
    };
    let before = blocks(contact_items(&stack).await);
    assert_eq!(before.len(), 3, "{before:?}");
    let state = s.load_active(&shop(), &c.id).await.unwrap().unwrap();
    assert!(!state.recent_events.is_whole());
    assert_eq!(state.recent_events.knows(&fact(2), t0), None);
    assert_eq!(state.recent_events.knows(&fact(39), t0), Some(true));
    let whole = s.load_whole(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!(whole.recent_events, recent);
    // After an ordinary load: a new block is written, the others stay.
    let state = s.load_active(&shop(), &c.id).await.unwrap().unwrap();
    let mut next = commit(&c, state.version, vec![], vec![]);
    next.recent_events = state.recent_events.clone();
    for i in 40..53 {
        next.recent_events
            .push(&fact(i), t0 + jiff::SignedDuration::from_hours(1));
    }
    s.commit(next).await.unwrap();
    let after = blocks(contact_items(&stack).await);
    assert_eq!(after.len(), 4, "{after:?}");
    assert!(before.iter().all(|b| after.contains(b)));
    let whole = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert!(whole.recent_events.is_whole() && whole.recent_events.contains(&fact(2)));
    // Eleven days on, a block more: the old ones are dropped, and the new
    // one is written over the first, though this load did not read it.
    let state = s.load_active(&shop(), &c.id).await.unwrap().unwrap();
    let mut later = commit(&c, state.version, vec![], vec![]);
    later.recent_events = state.recent_events.clone();
    for i in 60..73 {
        later
            .recent_events
            .push(&fact(i), t0 + jiff::SignedDuration::from_hours(24 * 11));
    }
    s.commit(later).await.unwrap();
    let left = blocks(contact_items(&stack).await);
    assert_eq!(left, after, "no slot more");
    let whole = s.load_for_update(&shop(), &c.id).await.unwrap().unwrap();
    assert!(!whole.recent_events.contains(&fact(2)));
    assert!(whole.recent_events.contains(&fact(60)));
}

/// The layout before the older blocks were folded: each block in an item
/// of its own (`C#A#<block>`). It loads as it was; the next commit folds
/// the blocks into `C#A` and deletes their items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_activity_blocks_in_items_of_their_own_are_folded_by_the_next_commit() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use waymark_core::activity::{BLOCK_DAYS, block_of, day_of};
    let stack = Stack::start().await.unwrap();
    let s = store(&stack);
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let day0 = at("2026-06-01T10:00:00Z");
    let day = |d: i64| day0 + jiff::SignedDuration::from_hours(24 * d);
    let newest_block = block_of(day_of(day(99)));
    // The hot item holds the newest block's days, each older block its own.
    let mut c = contact();
    let mut blocks: std::collections::BTreeMap<i32, Vec<serde_json::Value>> = Default::default();
    for d in 0..100 {
        let n = day_of(day(d));
        if block_of(n) == newest_block {
            c.audience.activity.add("page_viewed", day(d), 0);
        } else {
            blocks
                .entry(block_of(n))
                .or_default()
                .push(serde_json::json!({"d": n, "n": 1}));
        }
    }
    assert!(blocks.len() >= 3 && i64::from(BLOCK_DAYS) < 100);
    let pk = format!("S#{}#C#{}", shop(), c.id.as_str());
    let put = |sk: String, doc: serde_json::Value, t: &'static str| {
        ddb.put_item()
            .table_name(&stack.table)
            .item("PK", AttributeValue::S(pk.clone()))
            .item("SK", AttributeValue::S(sk))
            .item("t", AttributeValue::S(t.into()))
            .item("ver", AttributeValue::N("4".into()))
            .item("doc", AttributeValue::S(doc.to_string()))
            .send()
    };
    put(
        "C".into(),
        serde_json::json!({"contact": c, "recent_events": []}),
        "contact",
    )
    .await
    .unwrap();
    for (block, days) in &blocks {
        put(
            format!("C#A#{block:06}"),
            serde_json::json!({ "page_viewed": days }),
            "part",
        )
        .await
        .unwrap();
    }
    let views = |state: &waymark_app::ports::ContactState| {
        state
            .contact
            .audience
            .activity
            .total("page_viewed", None, day(100))
            .0
    };
    let state = s.load_active(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!((state.version, views(&state)), (4, 100));
    let mut next = state.contact.clone();
    next.audience.activity.add("page_viewed", day(99), 0);
    s.commit(commit(&next, 4, vec![], vec![])).await.unwrap();
    let items: Vec<String> = contact_items(&stack)
        .await
        .into_iter()
        .map(|(sk, _)| sk)
        .collect();
    assert!(items.iter().any(|sk| sk == "C#A"), "{items:?}");
    assert!(!items.iter().any(|sk| sk.starts_with("C#A#")), "{items:?}");
    let state = s.load_active(&shop(), &c.id).await.unwrap().unwrap();
    assert_eq!((state.version, views(&state)), (5, 101));
}

// The DynamoDB adapter's contracts, in four tests of a stack or two each:
// all of them in one test's future outgrew a test thread's stack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_adapter_honours_the_contract() {
    let stack = Stack::start().await.unwrap();
    let s = store(&stack);
    inbox_contract(&s).await;
    assert_eq!(stack.items_of("event").await.unwrap(), 1);
    assert_eq!(stack.items_of("rejected").await.unwrap(), 1);
    contacts_contract(&s).await;
    let stack = Stack::start().await.unwrap();
    merge_contract(&store(&stack)).await;
    let stack = Stack::start().await.unwrap();
    kept_runs_contract(&store(&stack)).await;
    assert!(
        contact_items(&stack)
            .await
            .iter()
            .any(|(sk, _)| sk.starts_with(waymark_aws::keys::KEPT_RUNS)),
        "an ended run kept for its messages lies past the contact's other items"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_adapter_honours_the_due_and_outbox_contracts() {
    let stack = Stack::start().await.unwrap();
    due_contract(&store(&stack)).await;
    let stack = Stack::start().await.unwrap();
    page_send_contract(&store(&stack), &OffTheStream(&stack)).await;
    let stack = Stack::start().await.unwrap();
    let s = store(&stack);
    outbox_contract(&s, &OffTheStream(&stack)).await;
    let parked = waymark_aws::store::outbox_by_status(&s, "parked")
        .await
        .unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(
        parked[0].1.as_deref(),
        Some("MessageRejected: address blocked")
    );
    // Settled messages expire (30 days after their time); queued ones never.
    for item in stack.items().await.unwrap() {
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        if text("t").as_deref() != Some("outbox") {
            continue;
        }
        let st = text("st").unwrap_or_default();
        let ttl = item.get("ttl").and_then(|v| v.as_n().ok()).cloned();
        match st.as_str() {
            "sent" | "parked" | "skipped" => {
                let ttl: i64 = ttl.expect("a settled message expires").parse().unwrap();
                assert!(ttl > at("2026-12-20T00:00:00Z").as_second(), "{st}: {ttl}");
                assert!(ttl < at("2027-01-31T00:00:00Z").as_second(), "{st}: {ttl}");
            }
            _ => assert!(ttl.is_none(), "{st} must not expire"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_adapter_honours_the_audience_and_privacy_contracts() {
    let stack = Stack::start().await.unwrap();
    suppressions_contract(&store(&stack)).await;
    segments_contract(&store(&stack)).await;
    let stack = Stack::start().await.unwrap();
    idle_contract(&store(&stack)).await;
    let stack = Stack::start().await.unwrap();
    privacy_contract(&store(&stack)).await;
    assert_eq!(
        stack.items_of("erasure").await.unwrap(),
        1,
        "the person's erasure is recorded, the forgotten visitor's is not"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_adapter_honours_the_counters_campaigns_and_allowances_contracts() {
    let stack = Stack::start().await.unwrap();
    counters_contract(&store(&stack), &OffTheStream(&stack)).await;
    campaigns_contract(&store(&stack)).await;
    unsent_contract(&store(&stack)).await;
    sent_is_never_replaced(&store(&stack)).await;
    allowances_contract(&store(&stack)).await;
    let mut marks = 0;
    for item in stack.items().await.unwrap() {
        if item
            .get("t")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            == Some("allowance")
        {
            let ttl: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
            assert!(
                ttl <= at("2026-11-23T13:00:00Z").as_second(),
                "forgotten after its window: {ttl}"
            );
        }
        // A fact's "counted" mark outlives a late second open (weeks), and
        // still expires.
        if item
            .get("t")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            == Some("counted")
        {
            marks += 1;
            let ttl: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
            assert!(
                ttl >= at("2027-02-20T00:00:00Z").as_second()
                    && ttl <= at("2027-03-01T00:00:00Z").as_second(),
                "kept 90 days: {ttl}"
            );
        }
    }
    assert!(marks > 0, "the counted facts left their marks");
}

#[tokio::test]
async fn memory_twin_honours_the_contract() {
    let s = MemoryStore::default();
    inbox_contract(&s).await;
    assert_eq!(s.take_new_events().len(), 1);
    assert_eq!(s.rejected().len(), 1);
    contacts_contract(&s).await;
    merge_contract(&MemoryStore::default()).await;
    kept_runs_contract(&MemoryStore::default()).await;
    due_contract(&MemoryStore::default()).await;
    outbox_contract(&MemoryStore::default(), &AtOnce).await;
    page_send_contract(&MemoryStore::default(), &AtOnce).await;
    suppressions_contract(&MemoryStore::default()).await;
    segments_contract(&MemoryStore::default()).await;
    idle_contract(&MemoryStore::default()).await;
    privacy_contract(&MemoryStore::default()).await;
    counters_contract(&MemoryStore::default(), &AtOnce).await;
    campaigns_contract(&MemoryStore::default()).await;
    unsent_contract(&MemoryStore::default()).await;
    sent_is_never_replaced(&MemoryStore::default()).await;
    allowances_contract(&MemoryStore::default()).await;
}

/// Secrets come from SSM SecureString parameters, decrypted; a parameter
/// that is empty or stored in plain text is an error naming it (never a
/// fallback to something else), and the error shows no value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_read_from_ssm_securestrings_only() {
    use aws_sdk_ssm::types::ParameterType;
    use waymark_aws::config::resolve_secret;
    let stack = Stack::start().await.unwrap();
    let ssm = aws_sdk_ssm::Client::new(&stack.sdk);
    for (name, kind, value) in [
        (
            "/waymark/test/webhook",
            ParameterType::SecureString,
            "s3cr3t-webhook",
        ),
        ("/waymark/test/plain", ParameterType::String, "s3cr3t-plain"),
    ] {
        ssm.put_parameter()
            .name(name)
            .r#type(kind)
            .value(value)
            .send()
            .await
            .unwrap();
    }
    let read = |p: &'static str| resolve_secret(&ssm, "SHOPIFY_WEBHOOK_SECRET", p);
    assert_eq!(
        read("/waymark/test/webhook").await.unwrap().as_deref(),
        Some("s3cr3t-webhook")
    );
    let plain = read("/waymark/test/plain").await.unwrap_err().to_string();
    assert!(
        plain.contains("SHOPIFY_WEBHOOK_SECRET_PARAMETER `/waymark/test/plain`")
            && plain.contains("not a SecureString")
            && !plain.contains("s3cr3t"),
        "{plain}"
    );
    assert_eq!(
        read("/waymark/test/none").await.unwrap(),
        None,
        "no such parameter: not set (an optional secret; a required one is refused by its caller)"
    );
    ssm.put_parameter()
        .name("/waymark/test/blank")
        .r#type(ParameterType::SecureString)
        .value(" ")
        .send()
        .await
        .unwrap();
    let blank = read("/waymark/test/blank").await.unwrap_err().to_string();
    assert!(blank.ends_with("is empty"), "{blank}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_sends_raw_mime_whole_and_refusals_are_permanent() {
    let stack = Stack::start().await.unwrap();
    let mailer = SesMailer::new(aws_sdk_sesv2::Client::new(&stack.sdk), None);
    let raw = format!(
        "From: Demo <{from}>\r\nTo: ana@example.com\r\nSubject: Hello\r\nList-Unsubscribe: <https://example.com/u>\r\nContent-Type: text/plain\r\n\r\nHi\r\n",
        from = stack.sender
    );
    let id = mailer
        .send(
            &stack.sender,
            "ana@example.com",
            raw.into_bytes(),
            &[("waymark_shop", "demo_myshopify_com".into())],
        )
        .await
        .unwrap();
    assert!(!id.is_empty());
    let sent = stack.sent().await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].header("List-Unsubscribe"),
        Some("<https://example.com/u>")
    );

    let refused = mailer
        .send(
            "nobody@unverified.example",
            "ana@example.com",
            b"Subject: x\r\n\r\nx".to_vec(),
            &[],
        )
        .await;
    assert!(
        matches!(&refused, Err(SendFailure::Permanent(e)) if e.contains("MessageRejected")),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_sends_are_paced_to_the_send_rate() {
    let stack = Stack::start().await.unwrap();
    let client = aws_sdk_sesv2::Client::new(&stack.sdk);
    // moto reports a quota; without one the default applies.
    let rate = SesMailer::account_rate(&client).await;
    assert!(rate.is_none_or(|r| r > 0.0), "{rate:?}");
    // 4 a second, bursts of 4: the 12th send cannot go before 2 s.
    let mailer = SesMailer::new(client, None).with_rate(4.0);
    let start = std::time::Instant::now();
    for i in 0..12 {
        let raw = format!(
            "From: <{from}>\r\nTo: p{i}@example.com\r\nSubject: {i}\r\n\r\nx\r\n",
            from = stack.sender
        );
        mailer
            .send(
                &stack.sender,
                &format!("p{i}@example.com"),
                raw.into_bytes(),
                &[],
            )
            .await
            .unwrap();
    }
    assert!(
        start.elapsed() >= std::time::Duration::from_millis(1900),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(stack.sent().await.unwrap().len(), 12, "paced, none dropped");
}

/// Counting off the stream on DynamoDB: a record counts once per counter
/// item however often it comes, and an item keeps the marks of the shards
/// whose records can still come (not those of shards created more than 30
/// hours before the one it is counting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_counts_each_stream_record_once_and_forgets_expired_shards() {
    use waymark_core::analytics::field;
    let stack = Stack::start().await.unwrap();
    let s = store(&stack);
    let record = |seq: &str| {
        let carried = serde_json::json!({
            "shop": "demo.myshopify.com",
            "seed": "opened#m1",
            "rows": [[{"day": "2026-11-23", "journey": "welcome", "version": 2, "step": "w1"}, {"opened": 1}]],
        });
        let r: waymark_aws::stream::StreamRecord = serde_json::from_value(serde_json::json!({
            "eventName": "INSERT",
            "dynamodb": {"SequenceNumber": seq, "NewImage": {
                "t": {"S": "counted"}, "counts": {"S": carried.to_string()}}},
        }))
        .unwrap();
        waymark_aws::store::stream_counts(&r).unwrap().unwrap()
    };
    let opened = || async {
        let day = jiff::civil::date(2026, 11, 23);
        let read = s.read_counts(&shop(), day, day).await.unwrap();
        read.0[&waymark_core::analytics::Key::new(day, "welcome", 2, "w1")][field::OPENED]
    };
    let marks = || async {
        let items = stack.items().await.unwrap();
        let mut m: Vec<String> = items
            .iter()
            .filter(|i| {
                i.get("t").and_then(|v| v.as_s().ok()).map(String::as_str) == Some("counter")
            })
            .flat_map(|i| i.keys().filter(|k| k.starts_with("hw_")).cloned())
            .collect();
        m.sort();
        m
    };
    let a = "shardId-00000001700000000000-aaaaaaaa";
    let b = "shardId-00000001700200000000-bbbbbbbb"; // 55 hours later
    let c = "shardId-00000001700203600000-cccccccc"; // an hour after b
    s.add_stream_counts(a, &[record("100")]).await.unwrap();
    s.add_stream_counts(a, &[record("100")]).await.unwrap();
    assert_eq!(opened().await, 1, "once, delivered twice");
    s.add_stream_counts(b, &[record("7"), record("9")])
        .await
        .unwrap();
    s.add_stream_counts(b, &[record("9"), record("12")])
        .await
        .unwrap();
    assert_eq!(opened().await, 4, "7, 9 and 12 from b, 9 once");
    assert_eq!(
        marks().await,
        vec![waymark_aws::keys::stream_mark(b)],
        "a's expired"
    );
    s.add_stream_counts(c, &[record("1")]).await.unwrap();
    assert_eq!(opened().await, 5);
    assert_eq!(marks().await.len(), 2, "b's records may still come");
}

/// `process` gathers a window's counts in its state and adds them when the
/// window closes, one write per counter item: a batch that comes again,
/// or a last invocation repeated, adds nothing twice, and a batch that
/// fails adds what the window holds before it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_adds_a_windows_counts_when_it_closes_each_record_once() {
    use serde_json::json;
    use waymark_scenarios::window::{batch, counted_record, opened, unreadable_event};
    let stack = Stack::start().await.unwrap();
    let s = store(&stack);
    let process = process_fn::build(
        &stack.sdk,
        &stack.table,
        Some(waymark_scenarios::COUPON_SECRET),
    )
    .unwrap();
    let invoke = |records, state, last| {
        let process = &process;
        async move { batch(process, records, state, last).await.unwrap() }
    };
    let counter_items = || async { stack.items_of("counter").await.unwrap() };

    let first = invoke(vec![counted_record("100")], json!({}), false).await;
    assert_eq!(opened(&s).await, 0, "held in the window");
    assert_ne!(first["state"], json!({}));
    let second = invoke(
        vec![counted_record("101"), counted_record("102")],
        first["state"].clone(),
        false,
    )
    .await;
    // The same batch again, with the state its answer carried.
    let again = invoke(
        vec![counted_record("101"), counted_record("102")],
        second["state"].clone(),
        false,
    )
    .await;
    assert_eq!(again["state"], second["state"], "a record held once");
    assert_eq!(
        counter_items().await,
        0,
        "nothing written before the window closes"
    );
    let last = invoke(vec![], again["state"].clone(), true).await;
    assert_eq!(opened(&s).await, 3);
    assert_eq!(last["state"], json!({}));
    assert_eq!(
        counter_items().await,
        1,
        "one item, written when the window closed"
    );
    // The last invocation again (its answer lost): nothing twice.
    invoke(vec![], again["state"].clone(), true).await;
    assert_eq!(opened(&s).await, 3);

    // A batch that fails on its second record has added the first when it
    // answers: that record does not come again.
    let failed = invoke(
        vec![counted_record("200"), unreadable_event("201")],
        json!({}),
        false,
    )
    .await;
    assert_eq!(failed["batchItemFailures"][0]["itemIdentifier"], "201");
    assert_eq!(failed["state"], json!({}));
    assert_eq!(opened(&s).await, 4);
}

/// A counting failure that cannot pass (here: a mapping without its
/// window, so no shard) is logged and the batch's events go on; nothing is
/// held for a window that will never close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_goes_on_when_counting_cannot_pass() {
    use lambda_runtime::{Context, LambdaEvent};
    use serde_json::json;
    let stack = Stack::start().await.unwrap();
    let process = process_fn::build(
        &stack.sdk,
        &stack.table,
        Some(waymark_scenarios::COUPON_SECRET),
    )
    .unwrap();
    let carried = json!({
        "shop": "demo.myshopify.com",
        "seed": "opened#m1",
        "rows": [[{"day": "2026-11-23", "journey": "welcome", "version": 2, "step": "w1"}, {"opened": 1}]],
    });
    let batch = serde_json::from_value(json!({"Records": [
        {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "100", "NewImage": {
            "t": {"S": "counted"}, "counts": {"S": carried.to_string()}}}}
    ]}))
    .unwrap();
    let out = process_fn::handle(&process, LambdaEvent::new(batch, Context::default()))
        .await
        .unwrap();
    let out = serde_json::to_value(out).unwrap();
    assert_eq!(
        out["batchItemFailures"],
        json!([]),
        "not retried: it would fail every time"
    );
    assert_eq!(out["state"], json!({}), "nothing held");
    assert_eq!(stack.items_of("counter").await.unwrap(), 0);
}

/// A window whose state would pass 256 KB adds what it holds at once (Lambda
/// ends a window at 1 MB of state) and goes on holding what comes after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_adds_a_window_early_when_its_state_grows_too_big() {
    use serde_json::json;
    use waymark_aws::store::PendingCounts;
    use waymark_scenarios::window::{batch, counted_record, opened};
    let stack = Stack::start().await.unwrap();
    let s = store(&stack);
    let process = process_fn::build(
        &stack.sdk,
        &stack.table,
        Some(waymark_scenarios::COUPON_SECRET),
    )
    .unwrap();
    let records = |seqs: std::ops::Range<usize>| {
        seqs.map(|seq| counted_record(&seq.to_string()))
            .collect::<Vec<_>>()
    };

    // Well under the bound: held.
    let small = batch(&process, records(1000..1010), json!({}), false)
        .await
        .unwrap();
    assert_eq!(opened(&s).await, 0);
    let held: std::collections::HashMap<String, String> =
        serde_json::from_value(small["state"].clone()).unwrap();
    assert!(PendingCounts::size(&held) < PendingCounts::FULL);
    // A batch that takes it past the bound: all of it added, nothing held.
    let big = batch(&process, records(2000..4000), small["state"].clone(), false)
        .await
        .unwrap();
    assert_eq!(big["batchItemFailures"], json!([]));
    assert_eq!(big["state"], json!({}));
    assert_eq!(opened(&s).await, 2010);
    assert_eq!(stack.items_of("counter").await.unwrap(), 1);
    // The window goes on, holding again.
    let next = batch(&process, records(5000..5001), big["state"].clone(), false)
        .await
        .unwrap();
    assert_ne!(next["state"], json!({}));
    assert_eq!(opened(&s).await, 2010);
}

/// A query is not a snapshot of a transaction: a load may see a commit's
/// profile and not yet a part the same commit wrote. The profile names the
/// parts its commit wrote (each carries the commit's version) and deleted,
/// so such a load is read again, and never builds the contact from a part
/// older than its profile (whose next commit would write that part back
/// over the newer one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_a_commit_seen_in_part_is_read_again() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = Stack::start().await.unwrap();
    let s = store(&stack);
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let mut c = contact();
    c.audience.tags.insert("first".into());
    s.commit(commit(&c, 0, vec![], vec![])).await.unwrap();
    let pk = format!("S#{}#C#{}", shop(), c.id.as_str());
    let lists = || async {
        ddb.get_item()
            .table_name(&stack.table)
            .key("PK", AttributeValue::S(pk.clone()))
            .key("SK", AttributeValue::S("C#L".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap()
    };
    let first = lists().await;
    assert_eq!(first.get("ver"), Some(&AttributeValue::N("1".into())));
    let loaded = s.load_active(&shop(), &c.id).await.unwrap().unwrap();
    c.audience.tags.insert("second".into());
    s.commit(commit(&c, loaded.version, vec![], vec![]))
        .await
        .unwrap();
    assert_eq!(
        lists().await.get("ver"),
        Some(&AttributeValue::N("2".into()))
    );
    // As a read that came between the profile's write and its part's: the
    // part as the first commit left it.
    ddb.put_item()
        .table_name(&stack.table)
        .set_item(Some(first))
        .send()
        .await
        .unwrap();
    let err = s.load_active(&shop(), &c.id).await.unwrap_err();
    assert!(err.to_string().contains("C#L"), "{err}");
    assert!(s.load_for_update(&shop(), &c.id).await.is_err());
    // A commit that changes no part names none: the load takes what it
    // reads.
    ddb.update_item()
        .table_name(&stack.table)
        .key("PK", AttributeValue::S(pk.clone()))
        .key("SK", AttributeValue::S("C#L".into()))
        .update_expression("SET ver = :v")
        .expression_attribute_values(":v", AttributeValue::N("2".into()))
        .send()
        .await
        .unwrap();
    let now = s.load_active(&shop(), &c.id).await.unwrap().unwrap();
    assert!(now.contact.audience.tags.contains("first"));
    s.commit(commit(&now.contact, now.version, vec![], vec![]))
        .await
        .unwrap();
    let profile = ddb
        .get_item()
        .table_name(&stack.table)
        .key("PK", AttributeValue::S(pk.clone()))
        .key("SK", AttributeValue::S("C".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(!profile.contains_key("pw"), "{profile:?}");
    // A part the commit deleted and that a load still sees is caught too:
    // the tags gone, the lists part goes.
    let mut bare = now.contact.clone();
    bare.audience.tags.clear();
    let loaded = s.load_active(&shop(), &c.id).await.unwrap().unwrap();
    s.commit(commit(&bare, loaded.version, vec![], vec![]))
        .await
        .unwrap();
    let gone = s.load_active(&shop(), &c.id).await.unwrap().unwrap();
    assert!(gone.contact.audience.tags.is_empty());
    ddb.put_item()
        .table_name(&stack.table)
        .set_item(Some(lists_at(&pk, 2)))
        .send()
        .await
        .unwrap();
    let err = s.load_active(&shop(), &c.id).await.unwrap_err();
    assert!(err.to_string().contains("C#L"), "{err}");
}

/// A lists part with nothing in it, at `version`.
fn lists_at(
    pk: &str,
    version: u64,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    use aws_sdk_dynamodb::types::AttributeValue;
    std::collections::HashMap::from([
        ("PK".to_string(), AttributeValue::S(pk.to_string())),
        ("SK".to_string(), AttributeValue::S("C#L".into())),
        ("t".to_string(), AttributeValue::S("part".into())),
        ("ver".to_string(), AttributeValue::N(version.to_string())),
        (
            "doc".to_string(),
            AttributeValue::S("{\"tags\":[\"first\"]}".into()),
        ),
    ])
}
