//! Campaigns (issue 16) on the local stack: scheduled sends to segments
//! through the timer's fan-out (pages through SQS to the `fanout` workers),
//! each contact's own consent, suppression, smart sending and local time,
//! one email per person, A/B tests decided by clicks, cancels, pages
//! delivered twice or unreadable. Real adapters on moto.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use waymark_app::ports::CampaignStore;
use waymark_core::campaign::{AbTest, Campaign, Metric, SendAt, Variant};
use waymark_core::ids::ShopDomain;
use waymark_scenarios::{CUSTOMER, ORDER, Stack};

fn shop() -> ShopDomain {
    ShopDomain::parse("demo.myshopify.com").unwrap()
}

/// A Shopify customer record: `subscribed` to email marketing or not, with
/// an address in `country`/`province` (which sets their zone).
fn customer(id: u64, email: &str, subscribed: bool, country: &str, province: &str) -> String {
    let mut c: Value = serde_json::from_str(CUSTOMER).unwrap();
    c["id"] = json!(id);
    c["email"] = json!(email);
    c["first_name"] = json!(email.split('@').next().unwrap());
    c["email_marketing_consent"]["state"] = json!(if subscribed {
        "subscribed"
    } else {
        "not_subscribed"
    });
    c["default_address"] = json!({"country_code": country, "province_code": province});
    c.to_string()
}

fn order_for(id: u64, customer: u64, email: &str) -> String {
    let mut o: Value = serde_json::from_str(ORDER).unwrap();
    o["id"] = json!(id);
    o["email"] = json!(email);
    o["contact_email"] = json!(email);
    o["customer"]["id"] = json!(customer);
    o["customer"]["email"] = json!(email);
    o["checkout_token"] = Value::Null;
    o.to_string()
}

fn campaign(id: &str, segments: &[&str], send_at: SendAt) -> Campaign {
    Campaign {
        id: id.into(),
        name: id.into(),
        segments: segments.iter().map(|s| s.to_string()).collect(),
        exclude: vec![],
        when: Default::default(),
        template: "nurture_bestsellers".into(),
        subject: Some("The December edit".into()),
        preheader: Some("Twelve picks for the cold".into()),
        topic: Some("news".into()),
        send_at,
        smart_sending: Some(jiff::SignedDuration::from_hours(1)),
        utm: BTreeMap::from([("campaign".to_string(), id.to_string())]),
        ab_test: None,
    }
}

async fn people(stack: &mut Stack, who: &[(u64, &str, bool, &str, &str)]) {
    for (id, email, subscribed, country, province) in who {
        stack
            .webhook(
                "customers/create",
                &format!("c-{id}"),
                &customer(*id, email, *subscribed, country, province),
            )
            .await
            .unwrap();
    }
}

async fn to_of(stack: &Stack, subject: &str) -> Vec<String> {
    let mut to: Vec<String> = stack
        .sent()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.subject == subject)
        .flat_map(|m| m.to)
        .collect();
    to.sort();
    to
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_campaign_mails_each_member_once_and_no_one_it_must_not() {
    let mut stack = Stack::start().await.unwrap();
    people(
        &mut stack,
        &[
            (101, "ana@example.com", true, "IE", ""),
            (102, "bob@example.com", false, "IE", ""),
            (103, "cara@example.com", true, "IE", ""),
            (104, "dan@example.com", true, "IE", ""),
        ],
    )
    .await;
    // Ana and Bob buy: first-time buyers. Ana is in both segments; Bob is
    // a buyer who never subscribed.
    for (order, cust, email) in [
        (9001, 101, "ana@example.com"),
        (9002, 102, "bob@example.com"),
    ] {
        stack
            .webhook(
                "orders/create",
                &format!("o-{order}"),
                &order_for(order, cust, email),
            )
            .await
            .unwrap();
    }
    // Cara's address bounces for good.
    let bounce = json!({
        "version": "0", "id": "b-1", "detail-type": "Email Bounced", "source": "aws.ses",
        "time": "2026-11-24T09:00:00Z",
        "detail": {
            "eventType": "Bounce",
            "mail": {"timestamp": "2026-11-24T09:00:00Z", "messageId": "x-1",
                     "destination": ["cara@example.com"],
                     "tags": {"waymark_shop": ["demo_myshopify_com"]}},
            "bounce": {"bounceType": "Permanent", "timestamp": "2026-11-24T09:00:00Z",
                       "bouncedRecipients": [{"emailAddress": "cara@example.com"}]}
        }
    });
    stack.ses_event(bounce).await.unwrap();

    let c = campaign(
        "december_edit",
        &["subscribers", "first_time_buyers"],
        SendAt::Instant("2026-12-20T10:00:00Z".parse().unwrap()),
    );
    let store = stack.store();
    assert!(store.schedule(&shop(), &c, stack.clock()).await.unwrap());
    stack.tick("2026-12-20T09:59:00Z").await.unwrap();
    assert!(
        to_of(&stack, "The December edit").await.is_empty(),
        "not before its time"
    );
    stack.tick("2026-12-20T10:00:00Z").await.unwrap();
    assert_eq!(
        to_of(&stack, "The December edit").await,
        vec!["ana@example.com", "dan@example.com"],
        "Ana once though in two segments; not Bob (no consent) nor Cara (bounced)"
    );
    let mail = stack
        .sent()
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.subject == "The December edit")
        .unwrap();
    assert!(
        mail.header("List-Unsubscribe").is_some(),
        "one-click unsubscribe"
    );
    assert_eq!(
        mail.html.matches("Twelve picks for the cold").count(),
        1,
        "the campaign's preheader, once: {}",
        mail.html
    );

    // Rescheduling a campaign under way is refused; the timer going over
    // it again records nothing new.
    stack.tick("2026-12-20T10:05:00Z").await.unwrap();
    assert_eq!(to_of(&stack, "The December edit").await.len(), 2);
    let status = waymark_app::campaigns::status(&store, &shop(), "december_edit")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status["phase"], "done", "{status:#}");
    assert_eq!(status["audience"], 4, "Ana, Bob, Cara, Dan: {status:#}");
    assert_eq!(status["overlaps"], 1, "Ana again: {status:#}");
    assert_eq!(status["sent"], 2, "{status:#}");
    assert_eq!(status["skipped"], 1, "{status:#}");
    assert_eq!(status["suppressed"], 1, "Cara, at send time: {status:#}");
    assert_eq!(
        status["skipped_by_reason"]["no email marketing consent"], 1,
        "{status:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_time_campaign_goes_out_in_waves_one_per_zone() {
    let mut stack = Stack::start().await.unwrap();
    people(
        &mut stack,
        &[
            (201, "dublin@example.com", true, "IE", ""),
            (202, "newyork@example.com", true, "US", "NY"),
            (203, "losangeles@example.com", true, "US", "CA"),
        ],
    )
    .await;
    let local: jiff::civil::DateTime = "2026-12-04T10:00".parse().unwrap();
    let c = campaign("local_ten", &["subscribers"], SendAt::Local(local));
    assert!(
        stack
            .store()
            .schedule(&shop(), &c, stack.clock())
            .await
            .unwrap()
    );
    let subject = "The December edit";
    // 10:00 in Dublin is 10:00 UTC; New York 15:00 UTC; Los Angeles 18:00.
    stack.tick("2026-12-03T20:00:00Z").await.unwrap();
    assert!(to_of(&stack, subject).await.is_empty(), "queued, held");
    stack.tick("2026-12-04T10:00:00Z").await.unwrap();
    assert_eq!(to_of(&stack, subject).await, vec!["dublin@example.com"]);
    stack.tick("2026-12-04T15:00:00Z").await.unwrap();
    assert_eq!(
        to_of(&stack, subject).await,
        vec!["dublin@example.com", "newyork@example.com"]
    );
    stack.tick("2026-12-04T18:00:00Z").await.unwrap();
    assert_eq!(to_of(&stack, subject).await.len(), 3);
}

/// A campaign at 10:00 local time, scheduled and ticked until Dublin's
/// 10:00 (10:00 UTC): its later zones' emails are held.
async fn sent_in_dublin(stack: &mut Stack, id: &str) -> Campaign {
    let local: jiff::civil::DateTime = "2026-12-04T10:00".parse().unwrap();
    let c = campaign(id, &["subscribers"], SendAt::Local(local));
    assert!(
        stack
            .store()
            .schedule(&shop(), &c, stack.clock())
            .await
            .unwrap()
    );
    stack.tick("2026-12-03T20:00:00Z").await.unwrap();
    stack.tick("2026-12-04T10:00:00Z").await.unwrap();
    c
}

/// A cancel stops what is still held for a later zone's time, and a second
/// schedule (the subject fixed) goes to those it stopped, at their time,
/// and not again to whoever the first one mailed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stops_the_local_time_waves_still_held_and_a_new_schedule_mails_them_once() {
    let mut stack = Stack::start().await.unwrap();
    people(
        &mut stack,
        &[
            (211, "dublin@example.com", true, "IE", ""),
            (212, "newyork@example.com", true, "US", "NY"),
            (213, "losangeles@example.com", true, "US", "CA"),
        ],
    )
    .await;
    let mut c = sent_in_dublin(&mut stack, "local_fix").await;
    let store = stack.store();
    assert_eq!(
        to_of(&stack, "The December edit").await,
        vec!["dublin@example.com"]
    );
    // Dublin has it; New York's and Los Angeles' wait for their 10:00. The
    // fan-out is done, but two emails have not gone: there is something to
    // cancel.
    let status = waymark_app::campaigns::status(&store, &shop(), "local_fix")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (&status["phase"], &status["queued"]),
        (&json!("done"), &json!(3))
    );
    assert!(
        waymark_app::campaigns::cancel(&store, &shop(), "local_fix")
            .await
            .unwrap()
    );
    stack.tick("2026-12-04T15:00:00Z").await.unwrap();
    stack.tick("2026-12-04T18:00:00Z").await.unwrap();
    assert_eq!(
        to_of(&stack, "The December edit").await,
        vec!["dublin@example.com"],
        "the held emails are stopped"
    );
    let status = waymark_app::campaigns::status(&store, &shop(), "local_fix")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (&status["phase"], &status["sent"], &status["stopped"]),
        (&json!("cancelled"), &json!(1), &json!(2)),
        "{status:#}"
    );
    // Scheduled again with the subject fixed, for the next day.
    c.subject = Some("The December edit, fixed".into());
    c.send_at = SendAt::Local("2026-12-05T10:00".parse().unwrap());
    assert!(store.schedule(&shop(), &c, stack.clock()).await.unwrap());
    for at in [
        "2026-12-04T20:00:00Z",
        "2026-12-05T10:00:00Z",
        "2026-12-05T15:00:00Z",
    ] {
        stack.tick(at).await.unwrap();
    }
    assert_eq!(
        to_of(&stack, "The December edit, fixed").await,
        vec!["newyork@example.com"],
        "New York at its 10:00; Dublin is not mailed twice"
    );
    stack.tick("2026-12-05T18:00:00Z").await.unwrap();
    assert_eq!(
        to_of(&stack, "The December edit, fixed").await,
        vec!["losangeles@example.com", "newyork@example.com"]
    );
    assert_eq!(to_of(&stack, "The December edit").await.len(), 1);
}

/// Scheduled again at once, the campaign decides a recipient whose email is
/// still held before dispatch has stopped it: the new email is written over
/// the held one and goes at its time, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_schedule_replaces_an_email_still_held_from_the_cancelled_one() {
    let mut stack = Stack::start().await.unwrap();
    people(
        &mut stack,
        &[
            (221, "dublin@example.com", true, "IE", ""),
            (222, "newyork@example.com", true, "US", "NY"),
        ],
    )
    .await;
    let mut c = sent_in_dublin(&mut stack, "local_now").await;
    let store = stack.store();
    assert!(
        waymark_app::campaigns::cancel(&store, &shop(), "local_now")
            .await
            .unwrap()
    );
    c.subject = Some("The December edit, fixed".into());
    assert!(store.schedule(&shop(), &c, stack.clock()).await.unwrap());
    // Its start (10:00 at UTC+14) has passed: it goes at once, and New
    // York's email, held until 15:00, is replaced before it went.
    stack.tick("2026-12-04T10:01:00Z").await.unwrap();
    stack.tick("2026-12-04T15:00:00Z").await.unwrap();
    assert_eq!(
        to_of(&stack, "The December edit").await,
        vec!["dublin@example.com"]
    );
    assert_eq!(
        to_of(&stack, "The December edit, fixed").await,
        vec!["newyork@example.com"]
    );
    let status = waymark_app::campaigns::status(&store, &shop(), "local_now")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (&status["sent"], &status["stopped"]),
        (&json!(2), &json!(0)),
        "{status:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_campaign_sends_nothing_more() {
    let mut stack = Stack::start().await.unwrap();
    people(&mut stack, &[(301, "eve@example.com", true, "IE", "")]).await;
    let c = campaign(
        "called_off",
        &["subscribers"],
        SendAt::Instant("2026-12-20T10:00:00Z".parse().unwrap()),
    );
    let store = stack.store();
    assert!(store.schedule(&shop(), &c, stack.clock()).await.unwrap());
    assert!(store.cancel(&shop(), "called_off").await.unwrap());
    assert!(
        !store.cancel(&shop(), "called_off").await.unwrap(),
        "nothing left to stop"
    );
    stack.tick("2026-12-20T10:00:00Z").await.unwrap();
    assert!(to_of(&stack, "The December edit").await.is_empty());
    // A cancelled campaign can be scheduled again.
    assert!(store.schedule(&shop(), &c, stack.clock()).await.unwrap());
    stack.tick("2026-12-20T10:01:00Z").await.unwrap();
    assert_eq!(
        to_of(&stack, "The December edit").await,
        vec!["eve@example.com"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_delivered_twice_mails_no_one_twice_and_an_unreadable_one_is_parked() {
    use waymark_app::ports::{CampaignPage, CampaignPhase, PageSend};
    use waymark_core::ids::ContactId;
    let mut stack = Stack::start().await.unwrap();
    people(
        &mut stack,
        &[
            (401, "fay@example.com", true, "IE", ""),
            (402, "gus@example.com", true, "IE", ""),
        ],
    )
    .await;
    let c = campaign(
        "twice",
        &["subscribers"],
        SendAt::Instant("2026-12-20T10:00:00Z".parse().unwrap()),
    );
    let store = stack.store();
    assert!(store.schedule(&shop(), &c, stack.clock()).await.unwrap());
    stack.tick("2026-12-20T10:00:00Z").await.unwrap();
    let everyone = vec!["fay@example.com", "gus@example.com"];
    assert_eq!(to_of(&stack, "The December edit").await, everyone);
    let r = store.campaign(&shop(), "twice").await.unwrap().unwrap();
    assert_eq!(r.state.phase, CampaignPhase::Done);
    assert_eq!((r.recorded(), r.worked.sending), ((2, 0), 1));
    // SQS delivers at least once: the same page comes again, and beside it
    // a message no worker can read.
    let page = CampaignPage {
        shop: shop(),
        campaign: "twice".into(),
        run: r.state.run(),
        wave: CampaignPhase::Sending,
        number: 0,
        at: "2026-12-20T10:00:00Z".parse().unwrap(),
        started_at: r.state.started_at.unwrap(),
        sends: [401, 402]
            .into_iter()
            .map(|id| PageSend {
                contact: ContactId::for_customer(id),
                variant: None,
            })
            .collect(),
    };
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let pages = stack.queue_url("CampaignPages").await.unwrap();
    for body in [serde_json::to_string(&page).unwrap(), "{\"not\": 1}".into()] {
        sqs.send_message()
            .queue_url(&pages)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    stack.tick("2026-12-20T10:01:00Z").await.unwrap();
    assert_eq!(to_of(&stack, "The December edit").await, everyone);
    let r = store.campaign(&shop(), "twice").await.unwrap().unwrap();
    assert_eq!((r.recorded(), r.worked.sending), ((2, 0), 1));
    // The unreadable one, after the queue's five deliveries, is parked.
    let parked = sqs
        .receive_message()
        .queue_url(stack.queue_url("CampaignPageFailures").await.unwrap())
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(
        parked
            .iter()
            .filter_map(|m| m.body.as_deref())
            .collect::<Vec<_>>(),
        ["{\"not\": 1}"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_still_queued_when_its_campaign_is_cancelled_mails_no_one_and_a_new_schedule_mails_each_once()
 {
    use waymark_app::ports::{CampaignPage, CampaignPhase, PageSend};
    use waymark_core::ids::ContactId;
    let mut stack = Stack::start().await.unwrap();
    people(&mut stack, &[(501, "hal@example.com", true, "IE", "")]).await;
    let c = campaign(
        "stopped",
        &["subscribers"],
        SendAt::Instant("2026-12-20T10:00:00Z".parse().unwrap()),
    );
    let store = stack.store();
    assert!(store.schedule(&shop(), &c, stack.clock()).await.unwrap());
    let r = store.campaign(&shop(), "stopped").await.unwrap().unwrap();
    // The send has begun: a page is in the queue, not yet worked, when the
    // store cancels.
    let page = CampaignPage {
        shop: shop(),
        campaign: "stopped".into(),
        run: r.state.run(),
        wave: CampaignPhase::Sending,
        number: 0,
        at: "2026-12-20T10:00:00Z".parse().unwrap(),
        started_at: "2026-12-20T10:00:00Z".parse().unwrap(),
        sends: vec![PageSend {
            contact: ContactId::for_customer(501),
            variant: None,
        }],
    };
    assert!(store.cancel(&shop(), "stopped").await.unwrap());
    aws_sdk_sqs::Client::new(&stack.sdk)
        .send_message()
        .queue_url(stack.queue_url("CampaignPages").await.unwrap())
        .message_body(serde_json::to_string(&page).unwrap())
        .send()
        .await
        .unwrap();
    stack.tick("2026-12-20T10:01:00Z").await.unwrap();
    assert!(to_of(&stack, "The December edit").await.is_empty());
    let r = store.campaign(&shop(), "stopped").await.unwrap().unwrap();
    assert_eq!(
        (r.state.phase, r.recorded()),
        (CampaignPhase::Cancelled, (0, 0))
    );
    // Scheduled again, a worker records hal's send, and the store cancels
    // before it is mailed; scheduled a third time with the subject fixed,
    // hal gets it once, and only as fixed (the second schedule's send,
    // still on the stream with its own copy of the campaign, is dropped).
    let later = |mins| stack.clock() + jiff::SignedDuration::from_mins(mins);
    assert!(store.schedule(&shop(), &c, later(1)).await.unwrap());
    let r = store.campaign(&shop(), "stopped").await.unwrap().unwrap();
    let worked = waymark_app::campaigns::work_page(
        &store,
        &CampaignPage {
            run: r.state.run(),
            ..page
        },
        later(1),
    )
    .await
    .unwrap();
    assert_eq!(worked.recorded, 1);
    assert!(store.cancel(&shop(), "stopped").await.unwrap());
    let fixed = Campaign {
        subject: Some("The December edit, corrected".into()),
        ..c.clone()
    };
    assert!(store.schedule(&shop(), &fixed, later(2)).await.unwrap());
    stack.tick("2026-12-20T10:05:00Z").await.unwrap();
    assert_eq!(
        to_of(&stack, "The December edit, corrected").await,
        vec!["hal@example.com"]
    );
    assert!(to_of(&stack, "The December edit").await.is_empty());
    let r = store.campaign(&shop(), "stopped").await.unwrap().unwrap();
    assert_eq!((r.state.phase, r.recorded()), (CampaignPhase::Done, (1, 0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ab_test_sends_the_winner_by_clicks_to_the_rest() {
    let mut stack = Stack::start().await.unwrap();
    let who: Vec<(u64, String)> = (0..12)
        .map(|i| (400 + i, format!("p{i}@example.com")))
        .collect();
    for (id, email) in &who {
        stack
            .webhook(
                "customers/create",
                &format!("c-{id}"),
                &customer(*id, email, true, "IE", ""),
            )
            .await
            .unwrap();
    }
    let mut c = campaign(
        "ab_edit",
        &["subscribers"],
        SendAt::Instant("2026-12-20T10:00:00Z".parse().unwrap()),
    );
    c.ab_test = Some(AbTest {
        variants: vec![
            Variant {
                name: "plain".into(),
                subject: Some("Subject A".into()),
                template: None,
            },
            Variant {
                name: "bold".into(),
                subject: Some("Subject B".into()),
                template: None,
            },
        ],
        test_share: 50,
        metric: Metric::Clicks,
        wait: jiff::SignedDuration::from_hours(4),
        min_sample: waymark_core::campaign::MIN_SAMPLE,
        if_undecided: waymark_core::campaign::IfUndecided::Best,
    });
    let store = stack.store();
    assert!(store.schedule(&shop(), &c, stack.clock()).await.unwrap());
    stack.tick("2026-12-20T10:00:00Z").await.unwrap();
    let tested_a = to_of(&stack, "Subject A").await;
    let tested_b = to_of(&stack, "Subject B").await;
    let tested = tested_a.len() + tested_b.len();
    assert!(
        tested > 0 && tested < who.len(),
        "a test share, not everyone: {tested}"
    );
    // Seeded clicks: every B recipient clicks, no A recipient does.
    let sent = stack.sent().await.unwrap();
    for m in sent.iter().filter(|m| m.subject == "Subject B") {
        let click = click_on(m, "bold", "2026-12-20T11:00:00Z", PERSON);
        stack.ses_event(click).await.unwrap();
    }
    // A company's link scanner follows every link of each A email: counted
    // apart, it does not make A the winner.
    for m in sent.iter().filter(|m| m.subject == "Subject A") {
        let scan = click_on(
            m,
            "plain",
            "2026-12-20T10:30:00Z",
            "Barracuda Sentinel (EE)",
        );
        stack.ses_event(scan).await.unwrap();
    }
    stack.tick("2026-12-20T13:59:00Z").await.unwrap();
    assert_eq!(
        to_of(&stack, "Subject A").await.len() + to_of(&stack, "Subject B").await.len(),
        tested,
        "the rest waits for the decision"
    );
    stack.tick("2026-12-20T14:00:00Z").await.unwrap();
    assert_eq!(
        to_of(&stack, "Subject A").await,
        tested_a,
        "A lost: no more A"
    );
    assert_eq!(
        to_of(&stack, "Subject A").await.len() + to_of(&stack, "Subject B").await.len(),
        who.len(),
        "everyone once"
    );
    let status = waymark_app::campaigns::status(&store, &shop(), "ab_edit")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status["ab_test"]["winner"], "bold", "{status:#}");
    // Six emails a variant: B leads, but a dozen people decide nothing; the
    // file's `if_undecided` (the default, `best`) sends the leader.
    let decision = &status["ab_test"]["decision"];
    assert_eq!(
        (&decision["result"], &decision["leader"]),
        (&json!("undecided"), &json!("bold")),
        "{status:#}"
    );
    assert!(
        decision["reason"]
            .as_str()
            .is_some_and(|r| r.contains("fewer than the 100 a decision needs")),
        "{status:#}"
    );
    assert_eq!(status["phase"], "done", "{status:#}");
    // The branches hold the test's share alone: the rest got B's email
    // (its `sent` has them) but are on no branch.
    let variant = |name: &str| variant_of(&status, name);
    assert_eq!(variant("plain")["tested"], tested_a.len(), "{status:#}");
    assert_eq!(variant("bold")["tested"], tested_b.len(), "{status:#}");
    assert_eq!(
        variant("bold")["sent"],
        who.len() - tested_a.len(),
        "{status:#}"
    );
    assert_eq!(variant("plain")["clicked"], 0, "the scanner's: {status:#}");
    assert_eq!(variant("bold")["clicked"], tested_b.len(), "{status:#}");

    // A B recipient who clicked orders the next day: the order is the
    // campaign's (its branch converts), once, in the results' counters.
    let buyer = &tested_b[0];
    let (id, _) = who.iter().find(|(_, e)| e == buyer).unwrap();
    let mut order: Value = serde_json::from_str(&order_for(6_500_000_000_001, *id, buyer)).unwrap();
    for at in ["created_at", "processed_at", "updated_at"] {
        order[at] = json!("2026-12-21T09:00:00Z");
    }
    let order = order.to_string();
    for _ in 0..2 {
        stack
            .webhook_at("orders/create", "wh-ab-o1", &order, "2026-12-21T09:00:00Z")
            .await
            .unwrap();
    }
    let status = waymark_app::campaigns::status(&store, &shop(), "ab_edit")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status["orders"], 1, "{status:#}");
    assert_eq!(status["converted"], 1, "{status:#}");
    assert_eq!(variant_of(&status, "bold")["converted"], 1, "{status:#}");
    assert_eq!(variant_of(&status, "plain")["converted"], 0, "{status:#}");
    use waymark_app::ports::Counters;
    let counts = store
        .read_counts(
            &shop(),
            "2026-12-20".parse().unwrap(),
            "2026-12-21".parse().unwrap(),
        )
        .await
        .unwrap();
    let report = waymark_core::analytics::report::build(
        &counts,
        Some("campaign-ab_edit"),
        waymark_core::analytics::report::By::Version,
    );
    let row = &report["journeys"][0];
    assert_eq!(row["orders"], 1, "{report:#}");
    assert_eq!(row["revenue"]["EUR"], "66.00", "{report:#}");
    assert_eq!(row["clicked"], tested_b.len(), "{report:#}");
    assert_eq!(row["machine_clicked"], tested_a.len(), "{report:#}");
    assert_eq!(report["store"]["attributed_orders"], 1, "{report:#}");
}

/// A person's browser.
const PERSON: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15";

/// SES's click on the A/B campaign's email `m` (its variant `step`) at
/// `at`, by `user_agent`.
fn click_on(
    m: &waymark_local::mailbox::SentEmail,
    step: &str,
    at: &str,
    user_agent: &str,
) -> Value {
    let header = m.header("X-Waymark-Message").unwrap();
    let message = header.split(';').next().unwrap().trim();
    json!({
        "version": "0", "id": format!("k-{at}-{message}"), "detail-type": "Email Clicked",
        "source": "aws.ses", "time": at,
        "detail": {
            "eventType": "Click",
            "mail": {"timestamp": "2026-12-20T10:00:01Z", "messageId": format!("ses-{message}"),
                     "destination": m.to.clone(),
                     "tags": {"waymark_shop": ["demo_myshopify_com"],
                              "waymark_message": [message],
                              "waymark_journey": ["campaign-ab_edit"],
                              "waymark_version": ["1"],
                              "waymark_step": [step]}},
            "click": {"timestamp": at, "link": "https://demo-store.example/",
                      "userAgent": user_agent}
        }
    })
}

fn variant_of(status: &Value, name: &str) -> Value {
    status["ab_test"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["variant"] == name)
        .cloned()
        .unwrap()
}

/// A recipient whose email can go at once is decided and mailed on the
/// campaign's page, without writing the contact: the decision's run is what
/// a later campaign's smart sending (and a journey's cap) counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_sent_from_its_page_counts_for_the_next_ones_smart_sending() {
    use waymark_app::ports::ContactStore;
    let mut stack = Stack::start().await.unwrap();
    people(
        &mut stack,
        &[
            (101, "ana@example.com", true, "IE", ""),
            (104, "dan@example.com", true, "IE", ""),
        ],
    )
    .await;
    let store = stack.store();
    let ana = waymark_core::ids::ContactId::for_customer(101);

    let first = campaign(
        "first",
        &["subscribers"],
        SendAt::Instant("2026-12-20T10:00:00Z".parse().unwrap()),
    );
    assert!(
        store
            .schedule(&shop(), &first, stack.clock())
            .await
            .unwrap()
    );
    stack.tick("2026-12-20T10:00:00Z").await.unwrap();
    assert_eq!(
        to_of(&stack, "The December edit").await,
        vec!["ana@example.com", "dan@example.com"]
    );
    let after = store.load_for_update(&shop(), &ana).await.unwrap().unwrap();
    let decided = after
        .runs
        .iter()
        .find(|r| r.run.journey == "campaign-first")
        .expect("the decision's run");
    assert!(
        matches!(&decided.run.trigger,
            waymark_core::event::EventKind::CampaignSend(s) if s.page.is_some()),
        "decided on its page, not from a recorded event: {:?}",
        decided.run.trigger
    );
    assert!(
        !after
            .contact
            .marketing
            .marketing_sent
            .contains(&decided.run.cursor),
        "the contact itself was not written for it"
    );

    // Half an hour later, with smart sending of 16 hours: both were mailed.
    let mut second = campaign(
        "second",
        &["subscribers"],
        SendAt::Instant("2026-12-20T10:30:00Z".parse().unwrap()),
    );
    second.subject = Some("A second letter".into());
    second.smart_sending = Some(jiff::SignedDuration::from_hours(16));
    assert!(
        store
            .schedule(&shop(), &second, stack.clock())
            .await
            .unwrap()
    );
    stack.tick("2026-12-20T10:30:00Z").await.unwrap();
    stack.tick("2026-12-20T10:35:00Z").await.unwrap();
    assert!(to_of(&stack, "A second letter").await.is_empty());
    let status = waymark_app::campaigns::status(&store, &shop(), "second")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status["phase"], "done", "{status:#}");
    assert_eq!(
        status["skipped_by_reason"]["smart sending"], 2,
        "{status:#}"
    );
    let first = waymark_app::campaigns::status(&store, &shop(), "first")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first["sent"], 2, "{first:#}");
}

/// A page's worker wrote a member's email claimed and stopped; the page,
/// delivered again with no sending time left, records the member's send
/// for `process`. `process` decides without writing the email again, and
/// the email goes once, through the timer and dispatch (counted as a
/// possible duplicate: its first attempt's outcome is unknown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_a_stopped_page_left_claimed_goes_once_when_the_page_records_instead() {
    use waymark_app::page_send::ViaEvents;
    use waymark_app::ports::{CampaignPage, CampaignPhase, Outbox, PageSend};
    use waymark_app::process::PageDecision;
    use waymark_core::campaign::Send;
    use waymark_core::event::{Event, EventKind, Source};
    use waymark_core::ids::ContactId;
    let mut stack = Stack::start().await.unwrap();
    people(&mut stack, &[(401, "fay@example.com", true, "IE", "")]).await;
    let c = campaign(
        "stopped",
        &["subscribers"],
        SendAt::Instant("2026-12-20T10:00:00Z".parse().unwrap()),
    );
    let store = stack.store();
    assert!(store.schedule(&shop(), &c, stack.clock()).await.unwrap());
    let r = store.campaign(&shop(), "stopped").await.unwrap().unwrap();
    let at: jiff::Timestamp = "2026-12-20T10:00:00Z".parse().unwrap();
    let page = CampaignPage {
        shop: shop(),
        campaign: "stopped".into(),
        run: r.state.run(),
        wave: CampaignPhase::Sending,
        number: 0,
        at,
        started_at: at,
        sends: vec![PageSend {
            contact: ContactId::for_customer(401),
            variant: None,
        }],
    };
    // What was due before (the welcome series' waits) goes first.
    stack.tick("2026-12-20T09:59:00Z").await.unwrap();
    // The first delivery: decided on the page, the email written claimed,
    // and then its worker stopped.
    let processor = process_fn::build(
        &stack.sdk,
        &stack.table,
        Some(waymark_scenarios::COUPON_SECRET),
    )
    .unwrap();
    let send = Send {
        campaign: "stopped".into(),
        contact: ContactId::for_customer(401),
        variant: None,
        started_at: at,
        run: Some(r.state.run()),
        def: Some(Box::new(c.clone())),
        page: Some("campaign-page/stopped/first".into()),
        earlier_unsent: false,
    };
    let event = Event {
        id: "first-delivery".into(),
        shop: shop(),
        at,
        source: Source {
            platform: "waymark".into(),
            topic: "campaign".into(),
            delivery_id: "campaign-page/stopped/first".into(),
        },
        kind: EventKind::CampaignSend(send),
    };
    let PageDecision::Send { message, .. } = processor.decide_on_page(&event).await.unwrap() else {
        panic!("an email now");
    };
    assert!(store.create_claimed(&message).await.unwrap().is_some());
    // Delivered again with no time left: the member is recorded as an event.
    let report =
        waymark_app::campaigns::work_page_with(&store, &ViaEvents, &page, at, at, &|| false)
            .await
            .unwrap();
    assert_eq!(report.recorded, 1);
    stack.tick("2026-12-20T10:00:00Z").await.unwrap();
    assert!(
        to_of(&stack, "The December edit").await.is_empty(),
        "not before the worker's claim has run out"
    );
    stack.tick("2026-12-20T10:16:00Z").await.unwrap();
    stack.tick("2026-12-20T10:17:00Z").await.unwrap();
    assert_eq!(
        to_of(&stack, "The December edit").await,
        vec!["fay@example.com"],
        "once"
    );
    let status = waymark_app::campaigns::status(&store, &shop(), "stopped")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status["sent"], 1, "{status:#}");
    assert_eq!(status["maybe_duplicated"], 1, "{status:#}");
}
