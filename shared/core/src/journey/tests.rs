//! The step function against the shipped abandoned-checkout journey.

use super::*;
use crate::contact::Contact;
use crate::event::{Checkout, Event, EventKind, LineItem, Order, Source};
use crate::ids::{ContactId, EmailAddress, ShopDomain};
use crate::money::Money;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

fn repo_files() -> Vec<ContentFile> {
    crate::repo_content::files(&crate::repo_content::root())
}

/// The shipped abandoned-checkout journey (all versions) and the templates.
fn catalog() -> Catalog {
    let files: Vec<ContentFile> = repo_files()
        .into_iter()
        .filter(|f| f.path.starts_with("templates/") || f.path.contains("abandoned_checkout"))
        .collect();
    Catalog::from_files(&files).unwrap()
}

fn t0() -> Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

fn mins(m: i64) -> Timestamp {
    t0().checked_add(SignedDuration::from_mins(m)).unwrap()
}

fn shop() -> ShopDomain {
    ShopDomain::parse("demo.myshopify.com").unwrap()
}

fn email() -> EmailAddress {
    EmailAddress::parse("ana@example.com").unwrap()
}

fn event(id: &str, at: Timestamp, kind: EventKind) -> Event {
    Event {
        id: id.into(),
        shop: shop(),
        at,
        source: Source {
            platform: "test".into(),
            topic: "test".into(),
            delivery_id: id.into(),
        },
        kind,
    }
}

fn checkout(at: Timestamp, items: u32, completed: bool) -> Event {
    let line_items = (0..items)
        .map(|i| LineItem {
            title: format!("Item {i}"),
            variant_title: None,
            quantity: 1,
            price: Money::parse("10.00", "EUR").unwrap(),
            product_id: Some(i.into()),
            variant_id: None,
            sku: None,
        })
        .collect();
    event(
        &format!("co-{}-{items}", at.as_second()),
        at,
        EventKind::CheckoutUpdated(Checkout {
            anonymous_id: None,
            token: "tok1".into(),
            customer_id: None,
            email: Some(email()),
            first_name: Some("Ana".into()),
            line_items,
            total: None,
            recovery_url: Some("https://demo.example/recover".into()),
            completed_at: completed.then_some(at),
            accepts_marketing: Some(true),
            country: None,
            province: None,
            locale: None,
        }),
    )
}

fn order(at: Timestamp, token: Option<&str>) -> Event {
    event(
        &format!("order-{}", at.as_second()),
        at,
        EventKind::OrderPlaced(Order {
            anonymous_id: None,
            order_id: 1,
            checkout_token: token.map(Into::into),
            customer_id: None,
            email: Some(email()),
            first_name: None,
            line_items: vec![],
            total: None,
            tracking: vec![],
            country: None,
            province: None,
            discount_codes: vec![],
            financial_status: Some("paid".into()),
        }),
    )
}

struct World {
    catalog: Catalog,
    contact: Contact,
    runs: Vec<Run>,
    emails: Vec<(Timestamp, String)>,
}

impl World {
    fn new() -> Self {
        Self {
            catalog: catalog(),
            contact: Contact::new(ContactId::for_email(&email()), shop(), t0()),
            runs: vec![],
            emails: vec![],
        }
    }

    fn take(&mut self, effects: Vec<Effect>) {
        for e in effects {
            if let Effect::Email(m) = e {
                self.emails.push((m.queued_at, m.id.clone()));
            }
        }
    }

    fn event(&mut self, e: &Event) {
        let fx = handle_event(&self.catalog, &mut self.contact, &mut self.runs, e);
        self.take(fx);
    }

    fn tick(&mut self, now: Timestamp) {
        let fx = handle_tick(&self.catalog, &mut self.contact, &mut self.runs, now);
        self.take(fx);
    }
}

#[test]
fn checkout_then_reminders_at_1h_24h_and_72h() {
    let mut w = World::new();
    w.event(&checkout(t0(), 2, false));
    assert_eq!(w.runs.len(), 1);
    assert_eq!(w.runs[0].wait_until, Some(mins(60)));
    w.tick(mins(59));
    assert!(w.emails.is_empty());
    w.tick(mins(61));
    assert_eq!(w.emails.len(), 1);
    assert_eq!(w.emails[0].0, mins(60), "sent at the wait's own time");
    w.tick(mins(120));
    assert_eq!(w.emails.len(), 1);
    // A late tick fires both remaining reminders, each at its own time.
    w.tick(mins(10 * 24 * 60));
    let times: Vec<_> = w.emails.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, vec![mins(60), mins(24 * 60), mins(72 * 60)]);
    assert_eq!(w.runs[0].status, RunStatus::Completed);
}

#[test]
fn a_new_checkout_within_14_days_of_the_last_entry_is_skipped() {
    let mut w = World::new();
    w.event(&checkout(t0(), 1, false));
    let mut other = checkout(mins(60 * 24), 1, false);
    if let EventKind::CheckoutUpdated(c) = &mut other.kind {
        c.token = "tok2".into();
    }
    w.event(&other);
    assert_eq!(w.runs.len(), 1, "cooling down");
    let mut later = checkout(mins(15 * 24 * 60), 1, false);
    if let EventKind::CheckoutUpdated(c) = &mut later.kind {
        c.token = "tok3".into();
    }
    w.event(&later);
    assert_eq!(w.runs.len(), 2);
}

#[test]
fn an_order_within_the_hour_converts_and_nothing_is_sent() {
    let mut w = World::new();
    w.event(&checkout(t0(), 1, false));
    w.event(&order(mins(30), Some("tok1")));
    assert_eq!(w.runs[0].status, RunStatus::Converted);
    assert_eq!(w.runs[0].wait_until, None);
    w.tick(mins(600));
    assert!(w.emails.is_empty());
}

#[test]
fn an_order_arriving_before_its_checkout_prevents_entry() {
    let mut w = World::new();
    w.event(&order(mins(30), Some("tok1")));
    w.event(&checkout(t0(), 1, false));
    assert!(w.runs.is_empty());
    w.tick(mins(600));
    assert!(w.emails.is_empty());
}

#[test]
fn an_update_restarts_the_hour_and_a_stale_one_does_not() {
    let mut w = World::new();
    w.event(&checkout(t0(), 1, false));
    w.event(&checkout(mins(20), 3, false));
    assert_eq!(w.runs[0].wait_until, Some(mins(80)));
    w.event(&checkout(mins(10), 2, false));
    assert_eq!(w.runs[0].wait_until, Some(mins(80)));
    assert_eq!(
        serde_json::to_value(&w.runs[0].trigger).unwrap()["data"]["line_items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    w.tick(mins(79));
    assert!(w.emails.is_empty());
    w.tick(mins(81));
    assert_eq!(w.emails.len(), 1);
}

#[test]
fn emptied_or_completed_checkouts_exit() {
    let mut w = World::new();
    w.event(&checkout(t0(), 1, false));
    w.event(&checkout(mins(5), 0, false));
    assert_eq!(w.runs[0].status, RunStatus::Exited);
    let mut w = World::new();
    w.event(&checkout(t0(), 1, false));
    w.event(&checkout(mins(5), 1, true));
    assert_eq!(w.runs[0].status, RunStatus::Exited);
    w.tick(mins(600));
    assert!(w.emails.is_empty());
}

#[test]
fn a_late_event_fires_due_waits_first() {
    // No tick ran, but an order at T+90m arrives: the reminder due at T+60m
    // is sent first, exactly as if the tick had been on time.
    let mut w = World::new();
    w.event(&checkout(t0(), 1, false));
    w.event(&order(mins(90), None));
    assert_eq!(w.emails, vec![(mins(60), w.emails[0].1.clone())]);
    assert_eq!(w.runs[0].status, RunStatus::Converted);
}

#[test]
fn checkouts_without_email_or_items_do_not_enter() {
    let mut w = World::new();
    w.event(&checkout(t0(), 0, false));
    assert!(w.runs.is_empty());
}

#[test]
fn validation_names_file_line_and_problem() {
    let mut files = repo_files();
    let with = |files: &mut Vec<ContentFile>, text: &str| {
        files.retain(|f| f.path != "journeys/broken.yaml");
        files.push(ContentFile {
            path: "journeys/broken.yaml".into(),
            text: text.into(),
        });
        let errors = Catalog::from_files(files).unwrap_err();
        errors.iter().map(|e| e.to_string()).collect::<Vec<_>>()
    };
    let head =
        "id: broken\nversion: 1\nname: Broken\ntrigger:\n  event: checkout_updated\nsteps:\n";
    let text = with(&mut files, &format!("{head}  - id: w\n    wait: -1h\n"));
    assert!(
        text.iter()
            .any(|e| e.starts_with("journeys/broken.yaml:8:") && e.contains("-1h")),
        "{text:?}"
    );
    // Stages are the lifecycle's (segments/_audience.yaml).
    let text = with(
        &mut files,
        "id: broken\nversion: 1\nname: Broken\ntrigger:\n  event: stage_changed\n  stage: champion\nsteps:\n  - id: mark\n    update: { stage: vip }\n",
    );
    assert!(
        text.iter().any(|e| e.starts_with("journeys/broken.yaml:6:")
            && e.contains("unknown lifecycle stage `champion`")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|e| e.starts_with("journeys/broken.yaml:9:")
            && e.contains("unknown lifecycle stage `vip`")
            && e.contains("loyal")),
        "{text:?}"
    );
    // Every semantic problem is reported, each at its line.
    let text = with(
        &mut files,
        &format!(
            "{head}  - id: w\n    wait: 1h\n  - id: e\n    email: nope\n  - id: x\n    exit: true\n  - id: lost\n    email: nope\n"
        ),
    );
    let has = |prefix: &str, what: &str| {
        text.iter()
            .any(|e| e.starts_with(prefix) && e.contains(what))
    };
    assert!(
        has("journeys/broken.yaml:10:", "unknown template `nope`"),
        "{text:?}"
    );
    assert!(
        has("journeys/broken.yaml:14:", "unknown template `nope`"),
        "{text:?}"
    );
    let text = with(
        &mut files,
        &format!(
            "{head}  - id: w\n    wait: 1h\n  - id: x\n    exit: true\n  - id: lost\n    email: abandoned_checkout_1\n"
        ),
    );
    assert!(
        text.iter()
            .any(|e| e.contains("step `lost` is unreachable")),
        "{text:?}"
    );
    let text = with(
        &mut files,
        &format!(
            "{head}  - id: ask\n    wait_for:\n      event: order_placed\n      timeout: 3d\n    then: end\n"
        ),
    );
    assert!(
        text.iter()
            .any(|e| e.starts_with("journeys/broken.yaml:8:") && e.contains("needs an `else:`")),
        "{text:?}"
    );
    let text = with(
        &mut files,
        &format!(
            "{head}  - id: a\n    if: [accepts_marketing]\n    then: b\n    else: end\n  - id: b\n    update: {{ score: 1 }}\n    next: a\n"
        ),
    );
    assert!(
        text.iter().any(|e| e.contains("loop with no `wait`")),
        "{text:?}"
    );
    let text = with(
        &mut files,
        &format!("{head}  - id: w\n    wait: 1h\n    next: nowhere\n"),
    );
    assert!(
        text.iter().any(|e| e.contains("unknown step `nowhere`")),
        "{text:?}"
    );
    files.pop();
    files.push(ContentFile {
        path: "journeys/typo.yaml".into(),
        text: "id: typo\nversion: 1\nname: T\ntrigger:\n  event: checkout_updated\n  requires: [has_email]\nsteps: []\n".into(),
    });
    let errors = Catalog::from_files(&files).unwrap_err();
    assert_eq!(errors[0].path, "journeys/typo.yaml");
    assert_eq!(errors[0].line, 6, "{}", errors[0]);
    assert!(errors[0].message.contains("requires"), "{}", errors[0]);
}

/// A cap counts sends a contact remembers: at most 32 of them, for 30 days.
#[test]
fn a_cap_longer_or_larger_than_a_contact_remembers_is_named_at_its_line() {
    let mut files: Vec<ContentFile> = repo_files()
        .into_iter()
        .filter(|f| f.path.starts_with("templates/"))
        .collect();
    for (cap, line, said) in [
        ("{ max: 40, per: 7d }", "max:", "`cap.max` is at most 32"),
        ("{ max: 2, per: 45d }", "per:", "`cap.per` is at most 30d"),
    ] {
        files.push(ContentFile {
            path: "journeys/capped.yaml".into(),
            text: format!(
                "id: capped\nversion: 1\nname: C\nsending:\n  cap: {cap}\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: hi\n    email: abandoned_checkout_1\n"
            ),
        });
        let errors = Catalog::from_files(&files).unwrap_err();
        assert_eq!(errors[0].path, "journeys/capped.yaml", "{line}");
        assert_eq!(errors[0].line, 5, "{}", errors[0]);
        assert!(errors[0].message.contains(said), "{}", errors[0]);
        files.pop();
    }
}

#[derive(Debug, Clone)]
enum Input {
    Checkout(i64, u32),
    Order(i64),
    Tick(i64),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        (0i64..300, 0u32..3).prop_map(|(m, n)| Input::Checkout(m, n)),
        (0i64..300).prop_map(Input::Order),
        (0i64..400).prop_map(Input::Tick),
    ]
}

proptest! {
    /// Whatever the order and repetition of deliveries, a run's step sends
    /// at most one email, and replaying every input again changes nothing.
    #[test]
    fn no_input_order_sends_a_step_twice(inputs in proptest::collection::vec(input(), 1..24)) {
        let mut w = World::new();
        let apply = |w: &mut World, i: &Input| match i {
            Input::Checkout(m, n) => w.event(&checkout(mins(*m), *n, false)),
            Input::Order(m) => w.event(&order(mins(*m), None)),
            Input::Tick(m) => w.tick(mins(*m)),
        };
        for i in &inputs { apply(&mut w, i); }
        let sent = w.emails.len();
        let mut ids: Vec<_> = w.emails.iter().map(|(_, id)| id.clone()).collect();
        ids.dedup();
        prop_assert_eq!(ids.len(), sent);
        prop_assert!(sent <= 1);
        // Redelivering every event (time may move on: an event's time says
        // the clock reached it) still never sends the step a second time.
        for i in &inputs {
            if !matches!(i, Input::Tick(_)) { apply(&mut w, i); }
        }
        prop_assert!(w.emails.len() <= 1);
    }
}

// ---- the language beyond the shipped journey ---------------------------------

fn customer(at: Timestamp, accepts: bool) -> Event {
    event(
        &format!("cust-{}-{accepts}", at.as_second()),
        at,
        EventKind::CustomerUpserted(crate::event::Customer {
            customer_id: 1,
            email: Some(email()),
            first_name: Some("Ana".into()),
            last_name: None,
            accepts_marketing: Some(accepts),
            country: None,
            province: None,
            tags: vec![],
            phone: None,
            opted_out: false,
        }),
    )
}

/// The repo's files under `dirs`, plus the given (path, text) files.
fn repo_files_and(dirs: &[&str], extra: &[(&str, &str)]) -> Vec<ContentFile> {
    let mut files: Vec<ContentFile> = repo_files()
        .into_iter()
        .filter(|f| dirs.iter().any(|d| f.path.starts_with(d)))
        .collect();
    files.extend(extra.iter().map(|(path, text)| ContentFile {
        path: path.to_string(),
        text: text.to_string(),
    }));
    files
}

/// A catalog of the repo's templates plus the given journey files.
fn catalog_with(journeys: &[(&str, &str)]) -> Catalog {
    let mut files: Vec<ContentFile> = repo_files()
        .into_iter()
        .filter(|f| f.path.starts_with("templates/"))
        .collect();
    for (path, text) in journeys {
        files.push(ContentFile {
            path: format!("journeys/{path}"),
            text: text.to_string(),
        });
    }
    Catalog::from_files(&files).unwrap_or_else(|e| panic!("{e:?}"))
}

fn world(catalog: Catalog) -> World {
    World {
        catalog,
        ..World::new()
    }
}

fn steps_sent(w: &World) -> Vec<String> {
    w.runs.iter().flat_map(|r| r.sent.clone()).collect()
}

const WAIT_FOR: &str = "id: follow_up\nversion: 1\nname: F\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: hello\n    email: abandoned_checkout_1\n  - id: ask\n    wait_for:\n      event: order_placed\n      timeout: 3d\n    then: thanks\n    else: nudge\n  - id: nudge\n    email: abandoned_checkout_1\n    next: end\n  - id: thanks\n    email: abandoned_checkout_1\n";

#[test]
fn wait_for_takes_the_event_branch_or_the_timeout_branch() {
    let mut w = world(catalog_with(&[("f.yaml", WAIT_FOR)]));
    w.event(&customer(t0(), true));
    w.event(&order(mins(60 * 24), None));
    assert_eq!(steps_sent(&w), vec!["hello", "thanks"]);

    let mut w = world(catalog_with(&[("f.yaml", WAIT_FOR)]));
    w.event(&customer(t0(), true));
    w.tick(mins(3 * 24 * 60 - 1));
    assert_eq!(steps_sent(&w), vec!["hello"]);
    w.tick(mins(3 * 24 * 60));
    assert_eq!(steps_sent(&w), vec!["hello", "nudge"]);
    assert_eq!(w.runs[0].status, RunStatus::Completed);
    assert_eq!(
        w.emails[1].0,
        mins(3 * 24 * 60),
        "sent at the timeout's own time"
    );
}

#[test]
fn splits_are_deterministic_and_follow_the_weights() {
    let split = "id: ab\nversion: 1\nname: AB\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: pick\n    split:\n      - { name: a, weight: 45, then: send_a }\n      - { name: b, weight: 45, then: send_b }\n      - { name: holdout, weight: 10, then: end }\n  - id: send_a\n    email: abandoned_checkout_1\n    next: end\n  - id: send_b\n    email: abandoned_checkout_1\n";
    let catalog = catalog_with(&[("ab.yaml", split)]);
    let mut counts = std::collections::BTreeMap::new();
    for i in 0..2000u64 {
        let mut contact = Contact::new(ContactId::for_customer(i), shop(), t0());
        let mut runs = vec![];
        handle_event(&catalog, &mut contact, &mut runs, &customer(t0(), true));
        let mut again = vec![];
        let mut c2 = Contact::new(ContactId::for_customer(i), shop(), t0());
        handle_event(&catalog, &mut c2, &mut again, &customer(t0(), true));
        assert_eq!(runs[0].path, again[0].path, "same contact, same branch");
        *counts.entry(runs[0].path[0].clone()).or_insert(0) += 1;
    }
    let share = |k: &str| counts[k] as f64 / 2000.0;
    assert!((share("pick=a") - 0.45).abs() < 0.05, "{counts:?}");
    assert!((share("pick=b") - 0.45).abs() < 0.05, "{counts:?}");
    assert!((share("pick=holdout") - 0.10).abs() < 0.04, "{counts:?}");
}

#[test]
fn updates_change_the_contact_and_conditions_read_them() {
    let j = "id: tagger\nversion: 1\nname: T\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: mark\n    update: { tag: [vip], score: 5, stage: loyal, set: { tier: gold } }\n  - id: check\n    if: [{ has_tag: vip }, { in_stage: loyal }, { property: { key: tier, equals: gold } }]\n    then: yes\n    else: end\n  - id: yes\n    email: abandoned_checkout_1\n";
    let mut w = world(catalog_with(&[("t.yaml", j)]));
    w.event(&customer(t0(), true));
    assert!(w.contact.audience.tags.contains("vip"));
    assert_eq!(w.contact.audience.score, 5);
    assert_eq!(w.contact.audience.stage.as_deref(), Some("loyal"));
    assert_eq!(steps_sent(&w), vec!["yes"]);
}

#[test]
fn reentry_rules_decide_whether_a_contact_starts_again() {
    let j = |reentry: &str| {
        format!(
            "id: again\nversion: 1\nname: A\ntrigger:\n  event: customer_upserted\n  reentry: {reentry}\nsteps:\n  - id: hi\n    email: abandoned_checkout_1\n"
        )
    };
    let entries = |reentry: &str| {
        let mut w = world(catalog_with(&[("a.yaml", &j(reentry))]));
        for day in [0, 1, 15, 16] {
            w.event(&customer(mins(day * 24 * 60), true));
        }
        w.runs.len()
    };
    assert_eq!(entries("once"), 1);
    assert_eq!(entries("always"), 4);
    assert_eq!(entries("{ every: 14d }"), 2);
}

/// Ended runs' items expire; the contact's history still holds their
/// entries, so re-entry and cooldowns decide the same as when every run was
/// kept.
#[test]
fn reentry_and_cooldown_hold_after_ended_runs_have_expired() {
    let j = |trigger: &str| {
        format!(
            "id: again\nversion: 1\nname: A\ntrigger:\n  event: customer_upserted\n{trigger}steps:\n  - id: hi\n    email: abandoned_checkout_1\n"
        )
    };
    let entries = |trigger: &str| {
        let mut w = world(catalog_with(&[("a.yaml", &j(trigger))]));
        let mut entered = 0;
        for day in [0, 1, 15, 16, 100] {
            let before = w.runs.len();
            w.event(&customer(mins(day * 24 * 60), true));
            entered += w.runs.len() - before;
            // The ended run's item expires before the next event.
            w.runs.retain(|r| r.is_active());
        }
        entered
    };
    assert_eq!(entries("  reentry: once\n"), 1);
    assert_eq!(entries("  reentry: always\n"), 5);
    assert_eq!(entries("  reentry: { every: 14d }\n"), 3);
    assert_eq!(
        entries("  reentry: always\n  cooldown: 20d\n"),
        2,
        "day 0, then day 100: the history's entries keep the cooldown"
    );
    let mut w = world(catalog_with(&[("a.yaml", &j("  reentry: always\n"))]));
    w.event(&customer(t0(), true));
    w.runs.retain(|r| r.is_active());
    w.event(&customer(mins(60), true));
    assert_eq!(w.runs[0].entry, 1, "entries keep counting from the history");
}

#[test]
fn an_ended_run_expires_45_days_after_it_ends_and_a_campaigns_after_90() {
    let mut w = world(catalog_with(&[(
        "a.yaml",
        "id: once\nversion: 1\nname: O\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: hi\n    email: abandoned_checkout_1\n",
    )]));
    w.event(&customer(t0(), true));
    let run = &w.runs[0];
    assert!(!run.is_active());
    let ended = run.ended_at.unwrap();
    assert_eq!(
        run.expires_at(),
        Some(ended + crate::history::ENDED_RUN_KEPT)
    );
    assert!(!run.expired_by(ended + jiff::SignedDuration::from_hours(24 * 44)));
    assert!(run.expired_by(ended + jiff::SignedDuration::from_hours(24 * 45)));
    let mut campaign = run.clone();
    campaign.journey = "campaign-weekly".into();
    assert_eq!(
        campaign.expires_at(),
        Some(ended + crate::campaign::RUN_KEPT)
    );
    assert!(
        !campaign.expired_by(ended + crate::campaign::RUN_KEPT),
        "left to its TTL"
    );
    let mut active = run.clone();
    active.status = RunStatus::Active;
    assert_eq!(active.expires_at(), None);
    // A journey's run that sent nothing has nothing to keep it for.
    let mut silent = run.clone();
    silent.sent.clear();
    assert_eq!(silent.expires_at(), Some(ended));
    assert!(silent.expired_by(ended));
    assert!(!silent.kept_for_messages());
    assert!(run.kept_for_messages() && !active.kept_for_messages());
    // One that published a message (an `emit` or `coupon` step) is kept
    // like one that mailed: erasure finds that message through it.
    let mut published = silent.clone();
    published.path.push("emit:tell_sales".into());
    assert_eq!(
        published.expires_at(),
        Some(ended + crate::history::ENDED_RUN_KEPT)
    );
    assert!(published.kept_for_messages());
    campaign.sent.clear();
    assert_eq!(
        campaign.expires_at(),
        Some(ended + crate::campaign::RUN_KEPT),
        "a campaign's decision is kept whatever it sent"
    );
    assert!(!campaign.kept_for_messages(), "loaded with the contact");
}

#[test]
fn suppression_keeps_one_journey_out_while_another_runs() {
    let high = "id: high\nversion: 1\nname: H\ntrigger:\n  event: checkout_updated\n  when: [has_line_items]\nsteps:\n  - id: w\n    wait: 1d\n";
    let low = "id: low\nversion: 1\nname: L\nsuppressed_by: [high]\ntrigger:\n  event: customer_upserted\n  reentry: always\nsteps:\n  - id: w\n    wait: 2d\n  - id: hi\n    email: abandoned_checkout_1\n";
    let mut w = world(catalog_with(&[("high.yaml", high), ("low.yaml", low)]));
    w.event(&customer(t0(), true));
    assert!(w.runs.iter().any(|r| r.journey == "low" && r.is_active()));
    w.event(&checkout(mins(10), 1, false));
    let low_run = w.runs.iter().find(|r| r.journey == "low").unwrap();
    assert_eq!(low_run.status, RunStatus::Exited);
    assert_eq!(low_run.end_reason.as_deref(), Some("suppressed by `high`"));
    w.event(&customer(mins(20), true));
    assert_eq!(
        w.runs.iter().filter(|r| r.journey == "low").count(),
        1,
        "not while high runs"
    );
}

#[test]
fn the_audience_is_checked_at_entry_and_before_every_email() {
    let j = "id: news\nversion: 1\nname: N\naudience: [accepts_marketing]\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: w\n    wait: 1d\n  - id: hi\n    email: abandoned_checkout_1\n";
    let mut w = world(catalog_with(&[("n.yaml", j)]));
    w.event(&customer(t0(), false));
    assert!(w.runs.is_empty());
    let mut w = world(catalog_with(&[("n.yaml", j)]));
    w.event(&customer(t0(), true));
    w.event(&customer(mins(60), false));
    w.tick(mins(2 * 24 * 60));
    assert!(w.emails.is_empty());
    assert_eq!(
        w.runs[0].end_reason.as_deref(),
        Some("left the journey's audience")
    );
}

#[test]
fn runs_keep_their_version_and_retirement_finishes_or_exits_them() {
    let v1 = "id: series\nversion: 1\nname: S\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: w\n    wait: 1d\n  - id: one\n    email: abandoned_checkout_1\n";
    let v2 = "id: series\nversion: 2\nname: S\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: w\n    wait: 2d\n  - id: two\n    email: abandoned_checkout_1\n";
    let mut w = world(catalog_with(&[("series.yaml", v1)]));
    w.event(&customer(t0(), true));
    // A deploy brings v2; the running contact stays on v1.
    w.catalog = catalog_with(&[("archive/series.v1.yaml", v1), ("series.yaml", v2)]);
    w.tick(mins(24 * 60));
    assert_eq!(steps_sent(&w), vec!["one"]);

    for (how, sends) in [("finish", 1), ("exit", 0)] {
        let retired = format!("id: series\nversion: 2\nname: S\nretired: {how}\n");
        let mut w = world(catalog_with(&[("series.yaml", v1)]));
        w.event(&customer(t0(), true));
        w.catalog = catalog_with(&[("archive/series.v1.yaml", v1), ("series.yaml", &retired)]);
        w.tick(mins(24 * 60));
        assert_eq!(w.emails.len(), sends, "retired: {how}");
        w.event(&customer(mins(3 * 24 * 60), true));
        assert_eq!(w.runs.len(), 1, "no new entries into a retired journey");
    }
}

#[test]
fn graphs_show_every_step_and_branch() {
    let catalog = catalog_with(&[("f.yaml", WAIT_FOR)]);
    let d = catalog.latest("follow_up").unwrap();
    let m = graph::mermaid(d);
    assert!(m.starts_with("flowchart TD\n"));
    assert!(
        m.contains("s1[/\"ask: wait up to 3d for order_placed\"/]"),
        "{m}"
    );
    assert!(m.contains("s1 -- \"order_placed\" --> s3"), "{m}");
    assert!(m.contains("s1 -- \"timeout\" --> s2"), "{m}");
    assert!(m.contains("s2 --> done"), "{m}");
    let g = graph::dot(d);
    assert!(g.contains("s1 -> s3 [label=\"order_placed\"]"), "{g}");
}

#[test]
fn marketing_email_needs_consent_and_an_opt_out_stops_the_next_one() {
    let mut w = World::new();
    let mut no_box = checkout(t0(), 1, false);
    if let EventKind::CheckoutUpdated(c) = &mut no_box.kind {
        c.accepts_marketing = Some(false);
    }
    w.event(&no_box);
    w.tick(mins(61));
    assert!(w.emails.is_empty(), "no consent, no reminder");

    let mut w = World::new();
    w.event(&checkout(t0(), 1, false));
    w.tick(mins(61));
    assert_eq!(w.emails.len(), 1);
    w.event(&event(
        "unsub",
        mins(90),
        EventKind::ConsentChanged(crate::event::ConsentChange {
            email: email(),
            subscribed: false,
            source: "unsubscribe".into(),
            topics: vec![],
            via: None,
        }),
    ));
    assert_eq!(
        w.contact.marketing.consent.as_ref().unwrap().source,
        crate::contact::ConsentSource::Unsubscribe
    );
    w.tick(mins(10 * 24 * 60));
    assert_eq!(w.emails.len(), 1, "nothing after the unsubscribe");
}

#[test]
fn the_cap_skips_a_second_marketing_email_in_16_hours_or_delays_it() {
    let first = "id: first\nversion: 1\nname: F\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: hi\n    email: abandoned_checkout_1\n";
    let second = |policy: &str| {
        format!(
            "id: second\nversion: 1\nname: S\nsending: {{ when_capped: {policy} }}\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: w\n    wait: 2h\n  - id: again\n    email: abandoned_checkout_1\n  - id: receipt\n    email: abandoned_checkout_1\n    transactional: true\n"
        )
    };
    let mut w = world(catalog_with(&[
        ("first.yaml", first),
        ("second.yaml", &second("skip")),
    ]));
    w.event(&customer(t0(), true));
    w.tick(mins(3 * 24 * 60));
    let times: Vec<_> = w.emails.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        times,
        vec![t0(), mins(120)],
        "the capped marketing email is skipped; the transactional one goes"
    );
    assert_eq!(steps_sent(&w), vec!["hi", "receipt"]);

    let mut w = world(catalog_with(&[
        ("first.yaml", first),
        ("second.yaml", &second("delay")),
    ]));
    w.event(&customer(t0(), true));
    w.tick(mins(3 * 24 * 60));
    let times: Vec<_> = w.emails.iter().map(|(t, _)| *t).collect();
    // The window frees at 02:00, inside quiet hours: it goes at 08:00.
    assert_eq!(
        times,
        vec![t0(), mins(22 * 60), mins(22 * 60)],
        "delayed, then past quiet hours"
    );
}

#[test]
fn quiet_hours_hold_a_3am_email_until_8am_in_the_contacts_zone() {
    let mut w = World::new();
    // 02:30 in Tokyo; the reminder would go at 03:30 Tokyo time.
    let mut c = checkout("2026-11-23T17:30:00Z".parse().unwrap(), 1, false);
    if let EventKind::CheckoutUpdated(co) = &mut c.kind {
        co.country = Some("JP".into());
    }
    w.event(&c);
    w.tick("2026-11-23T18:31:00Z".parse().unwrap());
    assert!(w.emails.is_empty(), "held");
    w.tick("2026-11-23T23:00:00Z".parse().unwrap());
    assert_eq!(
        w.emails[0].0.to_string(),
        "2026-11-23T23:00:00Z",
        "08:00 in Tokyo"
    );
}

#[test]
fn wait_until_goes_to_the_next_allowed_local_time() {
    let j = "id: morning\nversion: 1\nname: M\ntrigger:\n  event: customer_upserted\nsending: { quiet_hours: off }\nsteps:\n  - id: next_weekday_10\n    wait_until: { time: \"10:00\", days: [mon, tue, wed, thu, fri] }\n  - id: hi\n    email: abandoned_checkout_1\n";
    let mut w = world(catalog_with(&[("m.yaml", j)]));
    // Saturday 2026-11-28, noon UTC (the catalog's zone: no _defaults here).
    let saturday: Timestamp = "2026-11-28T12:00:00Z".parse().unwrap();
    w.event(&customer(saturday, true));
    assert_eq!(
        w.runs[0].wait_until.unwrap().to_string(),
        "2026-11-30T10:00:00Z",
        "Monday 10:00"
    );
    // In Tokyo (a `time_zone` property), 10:00 local is 01:00Z.
    let mut w = world(catalog_with(&[("m.yaml", j)]));
    w.contact
        .audience
        .properties
        .insert("time_zone".into(), serde_json::json!("Asia/Tokyo"));
    w.event(&customer(saturday, true));
    assert_eq!(
        w.runs[0].wait_until.unwrap().to_string(),
        "2026-11-30T01:00:00Z"
    );
    w.tick("2026-12-01T00:00:00Z".parse().unwrap());
    assert_eq!(w.emails[0].0.to_string(), "2026-11-30T01:00:00Z");

    let bad = "id: bad\nversion: 1\nname: B\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: w\n    wait_until: { time: \"25:00\", days: [someday] }\n";
    let mut files = repo_files();
    files.push(ContentFile {
        path: "journeys/bad.yaml".into(),
        text: bad.into(),
    });
    let text: Vec<String> = Catalog::from_files(&files)
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert!(
        text.iter()
            .any(|e| e.contains("`25:00` is not a time of day")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|e| e.contains("`someday` is not a weekday")),
        "{text:?}"
    );
}

#[test]
fn emit_steps_queue_one_event_per_visit() {
    let j = "id: handoff\nversion: 1\nname: H\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: tell_sales\n    emit: sales_handoff\n";
    let catalog = catalog_with(&[("h.yaml", j)]);
    let mut contact = Contact::new(ContactId::for_customer(1), shop(), t0());
    let mut runs = vec![];
    let fx = handle_event(&catalog, &mut contact, &mut runs, &customer(t0(), true));
    let emitted: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Emit(m) => Some(m.channel.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        emitted,
        vec![crate::outbox::Channel::Event {
            detail_type: "sales_handoff".into()
        }]
    );
}

// ---- coupons, dates and clicks ------------------------------------------------

const COUPON: &str = "id: welcome\nversion: 1\nname: W\ntrigger:\n  event: customer_upserted\ngoals:\n  - event: order_placed\nsteps:\n  - id: give\n    coupon: { name: welcome, prefix: WELCOME, discount: 10%, valid_for: 14d }\n  - id: hello\n    email: welcome_1\n  - id: before_expiry\n    wait_until_date: { date: coupon.welcome.expires_at, before: 2d }\n  - id: unused\n    if: [{ coupon_unused: welcome }]\n    else: end\n  - id: remind\n    email: welcome_coupon_reminder\n";

fn order_with_code(at: Timestamp, code: &str) -> Event {
    let mut e = order(at, None);
    if let EventKind::OrderPlaced(o) = &mut e.kind {
        o.discount_codes = vec![code.to_lowercase()];
    }
    e
}

#[test]
fn a_coupon_step_gives_a_unique_code_renders_it_and_tells_the_store() {
    let catalog = catalog_with(&[("w.yaml", COUPON)]).with_coupon_secret(b"secret-1");
    let mut contact = Contact::new(ContactId::for_customer(1), shop(), t0());
    let mut runs = vec![];
    let fx = handle_event(&catalog, &mut contact, &mut runs, &customer(t0(), true));
    let code = contact.commerce.coupons[0].code.clone();
    assert!(code.starts_with("WELCOME-"), "{code}");
    assert_eq!(contact.commerce.coupons[0].expires_at, mins(14 * 24 * 60));
    let issued: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Emit(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].params["coupon"]["code"], code.as_str());
    let email = fx
        .iter()
        .find_map(|e| match e {
            Effect::Email(m) => Some(m),
            _ => None,
        })
        .unwrap();
    assert_eq!(email.params["coupons"]["welcome"]["code"], code.as_str());
    let rendered = crate::email::Renderer::for_catalog(&catalog)
        .render("welcome_1", &email.params)
        .unwrap();
    assert!(rendered.text.contains(&code), "{}", rendered.text);
    assert!(
        rendered.text.contains("7 December 2026"),
        "{}",
        rendered.text
    );

    // The same contact and run under the same secret: the same code; under
    // another secret (or for another contact), another.
    let mut again = Contact::new(ContactId::for_customer(1), shop(), t0());
    handle_event(&catalog, &mut again, &mut vec![], &customer(t0(), true));
    assert_eq!(again.commerce.coupons[0].code, code);
    let other = catalog_with(&[("w.yaml", COUPON)]).with_coupon_secret(b"secret-2");
    let mut c2 = Contact::new(ContactId::for_customer(1), shop(), t0());
    handle_event(&other, &mut c2, &mut vec![], &customer(t0(), true));
    assert_ne!(c2.commerce.coupons[0].code, code);
    let mut c3 = Contact::new(ContactId::for_customer(2), shop(), t0());
    handle_event(&catalog, &mut c3, &mut vec![], &customer(t0(), true));
    assert_ne!(c3.commerce.coupons[0].code, code);
}

#[test]
fn the_reminder_goes_two_days_before_expiry_only_if_the_code_is_unused() {
    let catalog = catalog_with(&[("w.yaml", COUPON)]);
    let mut w = world(catalog.clone());
    w.event(&customer(t0(), true));
    assert_eq!(w.runs[0].wait_until, Some(mins(12 * 24 * 60)));
    w.tick(mins(12 * 24 * 60 - 1));
    assert_eq!(steps_sent(&w), vec!["hello"]);
    w.tick(mins(12 * 24 * 60));
    assert_eq!(steps_sent(&w), vec!["hello", "remind"]);

    // Used in an order (without the goal: a journey where ordering goes on).
    let no_goal = COUPON.replace("goals:\n  - event: order_placed\n", "");
    let mut w = world(catalog_with(&[("w.yaml", &no_goal)]));
    w.event(&customer(t0(), true));
    let code = w.contact.commerce.coupons[0].code.clone();
    w.event(&order_with_code(mins(60), &code));
    assert_eq!(w.contact.commerce.coupons[0].used_at, Some(mins(60)));
    w.tick(mins(20 * 24 * 60));
    assert_eq!(steps_sent(&w), vec!["hello"], "a used code is not reminded");
    assert_eq!(w.runs[0].status, RunStatus::Completed);
}

#[test]
fn a_date_trigger_starts_a_run_at_the_offset_once_per_date() {
    let j = "id: renewal\nversion: 1\nname: R\ntrigger:\n  event: date_reached\n  date: property.renews_at\n  before: 3d\nsteps:\n  - id: heads_up\n    email: abandoned_checkout_1\n";
    let setter = "id: setter\nversion: 1\nname: S\ntrigger:\n  event: customer_upserted\n  reentry: always\nsteps:\n  - id: set\n    update: { set: { renews_at: \"2026-12-10T09:00:00Z\" } }\n";
    let mut w = world(catalog_with(&[("r.yaml", j), ("s.yaml", setter)]));
    w.event(&customer(t0(), true));
    // The update step sets the date; the contact is due for a review at
    // 3 days before it.
    let due: Timestamp = "2026-12-07T09:00:00Z".parse().unwrap();
    assert_eq!(w.contact.schedule.review_at, Some(due));
    w.tick(due.checked_sub(SignedDuration::from_secs(1)).unwrap());
    assert!(w.emails.is_empty());
    w.tick(due);
    assert_eq!(steps_sent(&w), vec!["heads_up"]);
    // Later events and ticks do not start it again for the same date.
    w.event(&customer(
        due.checked_add(SignedDuration::from_hours(1)).unwrap(),
        true,
    ));
    w.tick(due.checked_add(SignedDuration::from_hours(48)).unwrap());
    assert_eq!(steps_sent(&w), vec!["heads_up"]);
    assert_eq!(w.runs.iter().filter(|r| r.journey == "renewal").count(), 1);

    // A date long past (beyond the grace) starts nothing.
    let mut w = world(catalog_with(&[("r.yaml", j)]));
    w.contact
        .audience
        .properties
        .insert("renews_at".into(), "2026-01-01".into());
    w.event(&customer(t0(), true));
    assert!(w.runs.is_empty());
}

#[test]
fn date_problems_are_reported_with_the_file() {
    let bad = "id: renewal\nversion: 1\nname: R\ntrigger:\n  event: date_reached\n  date: renews_at\nsteps:\n  - id: wait\n    wait_until_date: { date: coupon.x.expires_at, before: 1d, after: 1d }\n  - id: give\n    coupon: { name: Bad-Name, prefix: lower, discount: 10%, valid_for: 1d }\n";
    let mut files: Vec<ContentFile> = repo_files()
        .into_iter()
        .filter(|f| f.path.starts_with("templates/"))
        .collect();
    files.push(ContentFile {
        path: "journeys/renewal.yaml".into(),
        text: bad.into(),
    });
    let errors = Catalog::from_files(&files).unwrap_err();
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let all = text.join("\n");
    assert!(all.contains("`renews_at` is not a date"), "{all}");
    assert!(all.contains("not both"), "{all}");
    assert!(all.contains("coupon `prefix`"), "{all}");
    assert!(all.contains("coupon `name`"), "{all}");
    assert!(
        text.iter().all(|t| t.starts_with("journeys/renewal.yaml:")),
        "{all}"
    );
}

#[test]
fn clicked_reads_which_link_of_which_step_was_clicked() {
    // (Transactional, so the frequency cap does not skip the second.)
    let j = "id: ebook\nversion: 1\nname: E\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: offer\n    email: abandoned_checkout_1\n    transactional: true\n  - id: other\n    email: abandoned_checkout_1\n    transactional: true\n  - id: window\n    wait: 3d\n  - id: did_they\n    if: [{ clicked: { step: offer, link: ebook } }]\n    then: thanks\n    else: end\n  - id: thanks\n    email: abandoned_checkout_1\n";
    let catalog = catalog_with(&[("e.yaml", j)]);
    let click_by = |w: &mut World, step: usize, link: &str, at: Timestamp, machine: bool| {
        let message =
            crate::outbox::OutboxMessage::steps_of_run(&w.contact.shop, &w.contact.id, &w.runs[0])
                [step]
                .0
                .clone();
        w.event(&event(
            &format!("click-{step}-{link}"),
            at,
            EventKind::EmailClicked(crate::event::Engagement {
                email: email(),
                message: Some(message),
                journey: Some("ebook".into()),
                link: Some(link.into()),
                machine,
            }),
        ));
    };
    let click =
        |w: &mut World, step: usize, link: &str, at: Timestamp| click_by(w, step, link, at, false);
    // A link scanner's visit to the right link is not a click.
    let mut w = world(catalog.clone());
    w.event(&customer(t0(), true));
    click_by(&mut w, 0, "https://shop.example/ebook", mins(10), true);
    assert!(w.runs[0].clicks[0].machine);
    w.tick(mins(4 * 24 * 60));
    assert_eq!(steps_sent(&w), vec!["offer", "other"]);

    // The e-book link in the other email does not count; in the offer it does.
    let mut w = world(catalog.clone());
    w.event(&customer(t0(), true));
    click(&mut w, 1, "https://shop.example/ebook", mins(10));
    w.tick(mins(4 * 24 * 60));
    assert_eq!(steps_sent(&w), vec!["offer", "other"]);

    let mut w = world(catalog.clone());
    w.event(&customer(t0(), true));
    click(&mut w, 0, "https://shop.example/blog", mins(10));
    click(&mut w, 0, "https://shop.example/ebook", mins(20));
    assert_eq!(w.runs[0].clicks.len(), 2);
    assert_eq!(w.runs[0].clicks[1].step, "offer");
    w.tick(mins(4 * 24 * 60));
    assert_eq!(steps_sent(&w), vec!["offer", "other", "thanks"]);

    // Opens are remembered per message too, and are not clicks.
    let opened = j
        .replace("clicked: { step: offer, link: ebook }", "opened: other")
        .replace("id: ebook", "id: opens");
    let mut w = world(catalog_with(&[("o.yaml", &opened)]));
    w.event(&customer(t0(), true));
    let message =
        crate::outbox::OutboxMessage::steps_of_run(&w.contact.shop, &w.contact.id, &w.runs[0])[1]
            .0
            .clone();
    w.event(&event(
        "open-1",
        mins(5),
        EventKind::EmailOpened(crate::event::Engagement {
            email: email(),
            message: Some(message),
            journey: Some("opens".into()),
            link: None,
            machine: true,
        }),
    ));
    // A privacy proxy's open counts for `opened` (an Apple Mail reader
    // would otherwise never have opened anything).
    assert!(w.runs[0].clicks[0].open && w.runs[0].clicks[0].machine);
    // A person's open after the proxy's is kept (it can earn an order); a
    // further open of the same message is not (clicks would be pushed out).
    let again =
        crate::outbox::OutboxMessage::steps_of_run(&w.contact.shop, &w.contact.id, &w.runs[0])[1]
            .0
            .clone();
    w.event(&event(
        "open-2",
        mins(6),
        EventKind::EmailOpened(crate::event::Engagement {
            email: email(),
            message: Some(again.clone()),
            journey: Some("opens".into()),
            link: None,
            machine: false,
        }),
    ));
    assert_eq!(w.runs[0].clicks.len(), 2);
    assert!(!w.runs[0].clicks[1].machine);
    w.event(&event(
        "open-3",
        mins(7),
        EventKind::EmailOpened(crate::event::Engagement {
            email: email(),
            message: Some(again),
            journey: Some("opens".into()),
            link: None,
            machine: false,
        }),
    ));
    assert_eq!(w.runs[0].clicks.len(), 2);
    w.tick(mins(4 * 24 * 60));
    assert_eq!(steps_sent(&w), vec!["offer", "other", "thanks"]);
}

#[test]
fn rfm_thresholds_are_the_stores_and_kept_on_the_contact() {
    let catalog = |audience: &str| {
        let mut files: Vec<ContentFile> = repo_files()
            .into_iter()
            .filter(|f| f.path.starts_with("templates/"))
            .collect();
        files.push(ContentFile {
            path: "segments/_audience.yaml".into(),
            text: audience.into(),
        });
        files.push(ContentFile {
            path: "segments/loyal.yaml".into(),
            text: "id: loyal\nname: Loyal\nwhen:\n  - rfm: loyal\n".into(),
        });
        Catalog::from_files(&files).unwrap_or_else(|e| panic!("{e:?}"))
    };
    let two_orders = |catalog: Catalog| {
        let mut w = world(catalog);
        let mut first = order(t0(), None);
        let mut second = order(mins(60), None);
        for (e, id) in [(&mut first, 1), (&mut second, 2)] {
            if let EventKind::OrderPlaced(o) = &mut e.kind {
                o.order_id = id;
                o.total = Some(Money::parse("600.00", "EUR").unwrap());
            }
        }
        w.event(&first);
        w.event(&second);
        w
    };
    // Defaults: two orders score frequency 2, not loyal.
    let w = two_orders(catalog("inactive_after: 90d\n"));
    assert_eq!(w.contact.audience.rfm.map(|r| (r.r, r.f)), Some((5, 2)));
    assert!(!w.contact.audience.segments.contains("loyal"));
    // A store where two orders is frequent.
    let w = two_orders(catalog(
        "rfm:\n  recency_days: [30, 90, 180, 365]\n  frequency: [1, 2, 3, 4]\n  monetary: [50, 150, 300, 750]\n",
    ));
    assert_eq!(w.contact.audience.rfm.map(|r| (r.r, r.f)), Some((5, 3)));
    assert!(w.contact.audience.segments.contains("loyal"));
    // Recency falls 31 days after the last order: a review is due then.
    assert_eq!(
        w.contact.audience.rfm_changes_at,
        Some(mins(60 + 31 * 24 * 60)),
        "the day after the 30-day boundary"
    );
    // Thresholds that do not ascend are refused, with the file.
    let mut files: Vec<ContentFile> = vec![ContentFile {
        path: "segments/_audience.yaml".into(),
        text: "rfm:\n  frequency: [3, 2, 4, 5]\n".into(),
    }];
    files.extend(
        repo_files()
            .into_iter()
            .filter(|f| f.path.starts_with("templates/")),
    );
    let errors = Catalog::from_files(&files).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.to_string().starts_with("segments/_audience.yaml:1")
                && e.to_string().contains("frequency")),
        "{errors:?}"
    );
}

#[test]
fn a_coupon_waits_out_quiet_hours_with_its_email_and_needs_consent() {
    // Given at 23:00 Dublin time: the code and its email both wait for 08:00.
    let j = "id: late\nversion: 1\nname: L\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: night\n    wait: 13h\n  - id: give\n    coupon: { name: rescue, prefix: CART, discount: 10%, valid_for: 12h }\n  - id: tell\n    email: abandoned_checkout_3\n";
    let mut w = world(catalog_with(&[("l.yaml", j)]));
    w.event(&customer(t0(), true)); // 10:00Z; the wait ends 23:00Z
    w.tick(mins(13 * 60));
    assert!(
        w.contact.commerce.coupons.is_empty(),
        "held, not given at night"
    );
    let morning: Timestamp = "2026-11-24T08:00:00Z".parse().unwrap();
    w.tick(morning);
    assert_eq!(w.contact.commerce.coupons[0].issued_at, morning);
    assert_eq!(
        w.contact.commerce.coupons[0].expires_at,
        morning + SignedDuration::from_hours(12)
    );
    assert_eq!(w.emails.last().map(|e| e.0), Some(morning));
    // Without consent: no code (and no email).
    let mut w = world(catalog_with(&[("l.yaml", j)]));
    w.event(&customer(t0(), false));
    w.tick(morning);
    assert!(w.contact.commerce.coupons.is_empty());
    assert!(w.emails.is_empty());
}

#[test]
fn a_date_set_during_a_tick_is_watched_and_late_dates_can_end_a_run() {
    // The coupon is given after a wait (in a tick); its reminder journey
    // starts two days before it expires.
    let giver = "id: giver\nversion: 1\nname: G\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: pause\n    wait: 1d\n  - id: give\n    coupon: { name: promo, prefix: PROMO, discount: 10%, valid_for: 7d }\n";
    let reminder = "id: remind\nversion: 1\nname: R\ntrigger:\n  event: date_reached\n  date: coupon.promo.expires_at\n  before: 2d\nsteps:\n  - id: mail\n    email: abandoned_checkout_1\n";
    let mut w = world(catalog_with(&[("g.yaml", giver), ("r.yaml", reminder)]));
    w.event(&customer(t0(), true));
    w.tick(mins(24 * 60));
    assert_eq!(w.contact.commerce.coupons.len(), 1);
    let due = mins((24 + 5 * 24) * 60);
    assert_eq!(
        w.contact.schedule.review_at,
        Some(due),
        "the tick scheduled the review"
    );
    w.tick(due);
    assert!(w.runs.iter().any(|r| r.journey == "remind"));

    // `late: end`: a past date ends the run instead of mailing late.
    let late = "id: late\nversion: 1\nname: L\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: wait\n    wait_until_date: { date: property.deadline, late: end }\n  - id: mail\n    email: abandoned_checkout_1\n";
    let mut w = world(catalog_with(&[("l.yaml", late)]));
    w.contact
        .audience
        .properties
        .insert("deadline".into(), "2026-01-01T00:00:00Z".into());
    w.event(&customer(t0(), true));
    assert_eq!(w.runs[0].status, RunStatus::Exited);
    assert!(w.emails.is_empty());
}

#[test]
fn contracts_beyond_those_kept_are_remembered_for_erasure() {
    let mut c = Contact::new(ContactId::for_customer(1), shop(), t0());
    for k in 0..12u64 {
        c.apply(&event(
            &format!("sub-{k}"),
            mins(k as i64),
            EventKind::SubscriptionChanged(crate::event::Subscription {
                contract_id: 100 + k,
                customer_id: Some(1),
                status: "cancelled".into(),
                interval: None,
                origin_order_id: None,
            }),
        ));
    }
    assert_eq!(c.commerce.subscriptions.len(), 10);
    let mut all: Vec<u64> = c
        .commerce
        .subscriptions
        .iter()
        .map(|s| s.contract_id)
        .chain(c.commerce.past_contracts.iter().copied())
        .collect();
    all.sort();
    assert_eq!(all, (100..112).collect::<Vec<_>>());
}

#[test]
fn a_stage_a_journey_set_holds_until_the_contact_moves_further_along() {
    let j = "id: promoter\nversion: 1\nname: P\ntrigger:\n  event: customer_upserted\nsteps:\n  - id: mark\n    update: { stage: loyal }\n";
    let files = repo_files_and(&["templates/", "segments/"], &[("journeys/p.yaml", j)]);
    let mut w = world(Catalog::from_files(&files).unwrap());
    w.event(&customer(t0(), true));
    assert_eq!(w.contact.audience.stage.as_deref(), Some("loyal"));
    assert_eq!(w.contact.audience.stage_by.as_deref(), Some("promoter"));
    // The rules alone would say "awareness" (no orders, few views): the
    // journey's stage holds through later events.
    w.event(&event(
        "view",
        mins(24 * 60),
        EventKind::Site(crate::event::SiteEvent {
            action: crate::event::SiteAction::PageViewed,
            anonymous_id: None,
            customer_id: None,
            email: Some(email()),
            url: None,
            page_type: Some("pricing".into()),
            product: None,
            query: None,
            topic: None,
            accepts_marketing: None,
            double_opt_in: false,
            name: None,
            first_name: None,
            time_zone: None,
            locale: None,
            properties: Default::default(),
        }),
    ));
    assert_eq!(w.contact.audience.stage.as_deref(), Some("loyal"));
    // Lapsing is further along the list: the rules take over again.
    w.tick(mins(120 * 24 * 60));
    assert_eq!(w.contact.audience.stage.as_deref(), Some("lapsed"));
    assert_eq!(w.contact.audience.stage_by, None);
}

#[test]
fn a_wait_ending_as_recency_drops_reads_the_new_scores() {
    let j = "id: recent\nversion: 1\nname: R\ntrigger:\n  event: order_placed\nsteps:\n  - id: w\n    wait: 40d\n  - id: check\n    if: [{ rfm_at_least: { r: 5 } }]\n    then: still_recent\n    else: gone_quiet\n  - id: still_recent\n    email: abandoned_checkout_1\n    next: end\n  - id: gone_quiet\n    email: abandoned_checkout_1\n";
    let audience = "rfm:\n  recency_days: [30, 90, 180, 365]\n  frequency: [1, 2, 3, 4]\n  monetary: [50, 150, 300, 750]\n";
    let files = repo_files_and(
        &["templates/"],
        &[
            ("segments/_audience.yaml", audience),
            ("journeys/r.yaml", j),
        ],
    );
    let mut w = world(Catalog::from_files(&files).unwrap());
    w.event(&customer(t0(), true));
    w.event(&order(t0(), None));
    assert_eq!(w.contact.audience.rfm.map(|r| r.r), Some(5));
    // One tick, 40 days on: the recency drop (day 31) and the wait's end
    // fall in it; the branch sees recency 4, not the order-day score.
    w.tick(mins(40 * 24 * 60));
    assert_eq!(w.contact.audience.rfm.map(|r| r.r), Some(4));
    assert_eq!(steps_sent(&w), vec!["gone_quiet"]);
}

/// A storefront event for the contact's address (anyone can send one).
fn site_form(id: &str, at: Timestamp, first_name: Option<&str>) -> Event {
    event(
        id,
        at,
        EventKind::Site(crate::event::SiteEvent {
            action: crate::event::SiteAction::FormSubmitted,
            anonymous_id: None,
            customer_id: None,
            email: Some(email()),
            url: None,
            page_type: None,
            product: None,
            query: None,
            topic: None,
            accepts_marketing: Some(true),
            double_opt_in: false,
            name: None,
            first_name: first_name.map(String::from),
            time_zone: None,
            locale: None,
            properties: Default::default(),
        }),
    )
}

#[test]
fn a_shopify_opt_out_is_lifted_only_by_a_confirmed_link_never_by_a_form() {
    let mut w = World::new();
    w.event(&customer(t0(), true));
    assert!(w.contact.accepts_marketing());
    // Shopify says she unsubscribed (her own choice, in the store's admin).
    let mut out = customer(mins(60), false);
    if let EventKind::CustomerUpserted(c) = &mut out.kind {
        c.opted_out = true;
    }
    out.id = "cust-opt-out".into();
    w.event(&out);
    assert!(!w.contact.accepts_marketing());
    // Anyone can type her address into a signup form: it only asks.
    w.event(&site_form("form-1", mins(120), None));
    assert!(!w.contact.accepts_marketing(), "a form re-subscribed her");
    assert_eq!(w.contact.marketing.opt_in_pending_at, Some(mins(120)));
}

#[test]
fn never_subscribed_is_not_an_opt_out_a_form_subscribes() {
    let mut w = World::new();
    w.event(&customer(t0(), false));
    w.event(&site_form("form-1", mins(60), None));
    assert!(w.contact.accepts_marketing());
}

#[test]
fn storefront_input_never_renames_a_customer() {
    let mut w = World::new();
    w.event(&customer(t0(), true));
    assert_eq!(w.contact.identity.first_name.as_deref(), Some("Ana"));
    w.event(&site_form("form-1", mins(60), Some("Mallory")));
    assert_eq!(w.contact.identity.first_name.as_deref(), Some("Ana"));
    // A signup nobody has named yet takes the name the form gives.
    let mut lead = World::new();
    lead.event(&site_form("form-1", mins(60), Some("Lee")));
    assert_eq!(lead.contact.identity.first_name.as_deref(), Some("Lee"));
    lead.event(&site_form("form-2", mins(90), Some("Mallory")));
    assert_eq!(lead.contact.identity.first_name.as_deref(), Some("Lee"));
}

#[test]
fn a_tag_removed_in_the_store_leaves_the_profile_and_journey_tags_stay() {
    let mut w = World::new();
    let mut tagged = customer(t0(), true);
    if let EventKind::CustomerUpserted(c) = &mut tagged.kind {
        c.tags = vec!["vip".into(), "wholesale".into()];
    }
    w.event(&tagged);
    w.contact.audience.tags.insert("quiz_done".into()); // set by a journey's update step
    let mut untagged = customer(mins(60), true);
    if let EventKind::CustomerUpserted(c) = &mut untagged.kind {
        c.tags = vec!["vip".into()];
    }
    untagged.id = "cust-untag".into();
    w.event(&untagged);
    let tags: Vec<&str> = w.contact.audience.tags.iter().map(String::as_str).collect();
    assert_eq!(tags, vec!["quiz_done", "vip"]);
}

/// A shipped content file with one stretch of it replaced by hostile text.
fn mangled(files: &[ContentFile], pick: usize, at: usize, junk: &str) -> Vec<ContentFile> {
    let mut out = files.to_vec();
    let i = pick % out.len();
    let text = &out[i].text;
    let mut cut = at % (text.len() + 1);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut end = (cut + junk.len()).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out[i].text = format!("{}{junk}{}", &text[..cut], &text[end..]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Journeys, segments, `_audience.yaml`, defaults and templates edited
    /// into nonsense give errors (with a file and a line), never a panic.
    #[test]
    fn mangled_content_is_an_error_never_a_panic(
        pick in 0usize..1000,
        at in 0usize..4000,
        junk in "[ -~\\n\\t:{}\\[\\]%|-]{0,40}",
    ) {
        static FILES: std::sync::OnceLock<Vec<ContentFile>> = std::sync::OnceLock::new();
        let files = FILES.get_or_init(repo_files);
        if let Err(errors) = Catalog::from_files(&mangled(files, pick, at, &junk)) {
            prop_assert!(errors.iter().all(|e| !e.path.is_empty()));
        }
    }
}

#[test]
fn attribution_windows_stay_within_the_time_ended_runs_are_kept() {
    let defaults = |window: &str| {
        Catalog::from_files(&[ContentFile {
            path: "journeys/_defaults.yaml".into(),
            text: format!("attribution:\n  click_window: {window}\n"),
        }])
    };
    assert!(defaults("30d").is_ok());
    let errors = defaults("60d").unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "journeys/_defaults.yaml");
    assert_eq!(errors[0].line, 2);
    assert!(errors[0].message.contains("click_window"), "{errors:?}");
}

/// The repository's templates and segments, for campaign tests.
fn campaign_catalog() -> Catalog {
    let files = repo_files_and(&["templates/", "segments/"], &[]);
    Catalog::from_files(&files).unwrap_or_else(|e| panic!("{e:?}"))
}

/// `campaigns/<id>.yaml` with `text`, checked against `catalog`.
fn campaign_def(catalog: &Catalog, id: &str, text: &str) -> crate::campaign::Campaign {
    crate::campaign::parse(
        &ContentFile {
            path: format!("campaigns/{id}.yaml"),
            text: text.into(),
        },
        catalog,
    )
    .unwrap_or_else(|e| panic!("{e:?}"))
}

/// `def`'s send of schedule `run` to the world's contact, recorded at `at`.
fn campaign_send(
    w: &World,
    def: &crate::campaign::Campaign,
    run: i64,
    variant: Option<&str>,
    at: Timestamp,
) -> Event {
    let kind = EventKind::CampaignSend(crate::campaign::Send {
        campaign: def.id.clone(),
        contact: w.contact.id.clone(),
        variant: variant.map(Into::into),
        started_at: at,
        run: Some(run),
        def: Some(Box::new(def.clone())),
        earlier_unsent: false,
        page: None,
    });
    event(&format!("send-{run}-{}", at.as_second()), at, kind)
}

/// A recipient skipped by a schedule that was then cancelled is decided
/// again by the next schedule (consent given in between) and enters its
/// results again; one whose email was queued is never queued twice, and a
/// schedule's send delivered again does nothing.
#[test]
fn a_campaign_scheduled_again_decides_anew_whom_it_skipped_but_never_queues_twice() {
    let catalog = campaign_catalog();
    let def = campaign_def(
        &catalog,
        "news",
        "id: news\naudience:\n  segments: [engaged]\ntemplate: nurture_bestsellers\nsubject: News\nsend_at: 2026-11-23T10:00:00Z\n",
    );
    let mut w = world(catalog.clone());
    let send = |w: &World, schedule: i64, at: Timestamp| campaign_send(w, &def, schedule, None, at);
    let news = crate::campaign::journey("news");
    let decisions = |w: &World| -> Vec<(RunStatus, Option<String>)> {
        w.runs
            .iter()
            .filter(|r| r.journey == news)
            .map(|r| (r.status, r.end_reason.clone()))
            .collect()
    };
    let tally = |w: &World, before: &[Run]| {
        crate::analytics::processed(
            &crate::analytics::ProcessedFacts {
                at: t0(),
                event: None,
                zone: &jiff::tz::TimeZone::UTC,
                windows: &Default::default(),
                runs_before: before,
                runs_after: &w.runs,
                subscribed_before: true,
                topics_out_before: &Default::default(),
            },
            &mut w.contact.clone(),
        )
    };
    let entered = |counts: &crate::analytics::Counts| -> i64 {
        counts
            .0
            .iter()
            .filter(|(k, _)| k.journey == news && k.step.is_empty())
            .filter_map(|(_, f)| f.get(crate::analytics::field::ENTERED))
            .sum()
    };

    // The first schedule: no consent yet, skipped.
    w.event(&customer(t0(), false));
    w.event(&send(&w, 1, mins(1)));
    let no_consent = Some("no email marketing consent".to_string());
    assert_eq!(decisions(&w), [(RunStatus::Exited, no_consent.clone())]);
    // Consent, then the same schedule's send again: still skipped.
    w.event(&customer(mins(2), true));
    w.event(&send(&w, 1, mins(3)));
    assert_eq!(decisions(&w), [(RunStatus::Exited, no_consent)]);
    assert!(w.emails.is_empty());
    // The campaign scheduled again: decided anew, in the same run item.
    let before = w.runs.clone();
    w.event(&send(&w, 2, mins(4)));
    assert_eq!(decisions(&w), [(RunStatus::Completed, None)]);
    assert_eq!(w.emails.len(), 1);
    assert_eq!(
        entered(&tally(&w, &before)),
        1,
        "it enters the results again"
    );
    // A third schedule, or the second's send again: never a second email.
    let before = w.runs.clone();
    w.event(&send(&w, 3, mins(5)));
    w.event(&send(&w, 2, mins(6)));
    assert_eq!(decisions(&w), [(RunStatus::Completed, None)]);
    assert_eq!(w.emails.len(), 1);
    assert_eq!(entered(&tally(&w, &before)), 0);
}

/// A cancel that stopped a recipient's email before it went (process reads
/// that from the outbox: `earlier_unsent`) lets the next schedule decide
/// them again: the stopped send no longer counts for smart sending, and the
/// new email, with the same id, may be written over the stopped one. An
/// email that went is never replaced.
#[test]
fn a_campaign_email_stopped_by_a_cancel_is_decided_again_by_the_next_schedule() {
    let catalog = campaign_catalog();
    let def = campaign_def(
        &catalog,
        "news",
        "id: news\naudience:\n  segments: [engaged]\ntemplate: nurture_bestsellers\nsubject: News\nsend_at: 2026-11-23T10:00:00Z\nsmart_sending: 16h\n",
    );
    let mut w = world(catalog.clone());
    w.event(&customer(t0(), true));
    w.event(&campaign_send(&w, &def, 1, None, mins(1)));
    assert_eq!(w.emails.len(), 1);
    let first = w.emails[0].1.clone();
    assert_eq!(w.contact.marketing.marketing_sent.len(), 1);
    let again = |w: &World, unsent: bool| {
        let mut e = campaign_send(w, &def, 2, None, mins(30));
        if let EventKind::CampaignSend(s) = &mut e.kind {
            assert_eq!(
                crate::journey::earlier_email(&w.contact, &w.runs, s),
                Some(first.clone()),
                "process is told which email to look up"
            );
            s.earlier_unsent = unsent;
        }
        e
    };
    // Its email went (or may have): the next schedule leaves them alone.
    let (mut contact, mut runs) = (w.contact.clone(), w.runs.clone());
    let sent = handle_event(&catalog, &mut contact, &mut runs, &again(&w, false));
    assert!(!sent.iter().any(|e| matches!(e, Effect::Email(_))));
    // Its email was stopped: decided again, not skipped by smart sending
    // for a send that never happened, and written over the stopped one.
    let queued_before = w.contact.marketing.marketing_sent.clone();
    let e = again(&w, true);
    let effects = handle_event(&catalog, &mut w.contact, &mut w.runs, &e);
    let emails: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Email(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(emails.len(), 1, "{effects:?}");
    assert_eq!(emails[0].id, first);
    assert!(emails[0].replaces_unsent);
    assert_eq!(emails[0].params["campaign"]["schedule"], 2);
    assert_eq!(w.contact.marketing.marketing_sent.len(), 1);
    assert_ne!(w.contact.marketing.marketing_sent, queued_before);
    // Once decided by this schedule, its sends delivered again do nothing.
    let e = campaign_send(&w, &def, 2, None, mins(40));
    let EventKind::CampaignSend(s) = &e.kind else {
        unreachable!()
    };
    assert_eq!(crate::journey::earlier_email(&w.contact, &w.runs, s), None);
}

/// A campaign's audience condition is read on the contact when its send is
/// decided: a member of the segment who does not meet it is skipped, with
/// the reason; one who does is mailed.
#[test]
fn a_campaign_mails_only_the_members_who_meet_its_audience_condition() {
    let catalog = campaign_catalog();
    let def = campaign_def(
        &catalog,
        "buyers",
        "id: buyers\naudience:\n  segments: [engaged]\n  when:\n    - orders_at_least: 1\ntemplate: nurture_bestsellers\nsubject: News\nsend_at: 2026-11-23T10:00:00Z\n",
    );
    assert_eq!(def.when.conditions().len(), 1);
    let send = |w: &World, at: Timestamp| campaign_send(w, &def, 1, None, at);
    let decided = |w: &World| -> Vec<(RunStatus, Option<String>)> {
        w.runs
            .iter()
            .filter(|r| r.journey == "campaign-buyers")
            .map(|r| (r.status, r.end_reason.clone()))
            .collect()
    };
    // Subscribed, no order yet: skipped, and says why.
    let mut w = world(catalog.clone());
    w.event(&customer(t0(), true));
    w.event(&send(&w, mins(1)));
    assert_eq!(
        decided(&w),
        [(
            RunStatus::Exited,
            Some("audience condition not met".to_string())
        )]
    );
    assert!(w.emails.is_empty());
    // Subscribed with an order: mailed.
    let mut w = world(catalog);
    w.event(&customer(t0(), true));
    w.event(&order(mins(1), None));
    let before = w.emails.len();
    w.event(&send(&w, mins(2)));
    assert_eq!(decided(&w), [(RunStatus::Completed, None)]);
    assert_eq!(w.emails.len(), before + 1);
}

#[test]
fn index_times_move_only_earlier_and_the_early_review_changes_nothing_but_the_next_one() {
    let catalog = Catalog::from_files(&repo_files()).unwrap();
    let mut w = world(catalog.clone());
    let day = |d: i64| mins(d * 24 * 60);
    let nth_order = |d: i64| {
        let mut e = order(day(d), None);
        if let EventKind::OrderPlaced(o) = &mut e.kind {
            o.order_id = 100 + d as u64;
        }
        e
    };
    w.event(&customer(t0(), true));
    w.event(&nth_order(0));
    let kept = w.contact.schedule.clone();
    let (review, idle) = (kept.review_at.unwrap(), kept.idle_at.unwrap());
    // An order a day for ten days: each would put both times later (the
    // score's decay, the inactivity threshold); neither index key moves.
    for d in 1..=10 {
        w.event(&nth_order(d));
        assert_eq!(w.contact.schedule, kept, "day {d}");
    }
    let needed = super::audience::next_review(&catalog, &w.contact, day(10)).unwrap();
    assert!(needed > review, "{needed} after {review}");
    let threshold = w
        .contact
        .idle_threshold(catalog.audience().inactive_after)
        .unwrap();
    assert!(threshold > idle && threshold == day(10) + SignedDuration::from_hours(90 * 24));

    // The review comes early: it changes no segment or stage and moves on
    // to the time the contact needs now.
    let (segments, stage) = (
        w.contact.audience.segments.clone(),
        w.contact.audience.stage.clone(),
    );
    let just_before = review.checked_sub(SignedDuration::from_secs(1)).unwrap();
    w.tick(just_before);
    assert_eq!(w.contact.schedule, kept, "nothing is due before it");
    w.tick(review);
    assert_eq!(w.contact.audience.segments, segments);
    assert_eq!(w.contact.audience.stage, stage);
    let next = super::audience::next_review(&catalog, &w.contact, review);
    assert_eq!(w.contact.schedule.review_at, next);
    assert!(next.is_some_and(|n| n > review));

    // An earlier time needed moves the key at once: a kept time is never
    // later than needed.
    let mut s = w.contact.schedule.clone();
    let sooner = review + SignedDuration::from_hours(1);
    s.settle(Some(sooner), Some(sooner), review);
    assert_eq!((s.review_at, s.idle_at), (Some(sooner), Some(sooner)));
    // A time that has passed is replaced, and none needed is none.
    s.settle(
        None,
        Some(threshold),
        sooner + SignedDuration::from_hours(1),
    );
    assert_eq!((s.review_at, s.idle_at), (None, Some(threshold)));
}

/// The store-wide counts one step of `w` adds (an event, or a tick at `at`).
fn store_counts(
    w: &mut World,
    e: Option<&Event>,
    at: Timestamp,
) -> std::collections::BTreeMap<String, i64> {
    let before = w.runs.clone();
    match e {
        Some(e) => w.event(e),
        None => w.tick(at),
    }
    let zone = jiff::tz::TimeZone::UTC;
    let windows = crate::analytics::attribution::Windows::default();
    let facts = crate::analytics::ProcessedFacts {
        at,
        event: e.map(|e| &e.kind),
        zone: &zone,
        windows: &windows,
        runs_before: &before,
        runs_after: &w.runs,
        subscribed_before: true,
        topics_out_before: &Default::default(),
    };
    crate::analytics::processed(&facts, &mut w.contact)
        .0
        .into_iter()
        .filter(|(k, _)| k.journey == crate::analytics::STORE)
        .flat_map(|(_, f)| f)
        .collect()
}

#[test]
fn a_checkout_is_abandoned_when_its_reminder_goes_and_recovered_only_after_it() {
    use crate::analytics::field;
    // Ordered inside the first hour: followed, never abandoned, not a recovery.
    let mut w = World::new();
    let c = store_counts(&mut w, Some(&checkout(t0(), 2, false)), t0());
    assert_eq!(c.get(field::CHECKOUTS), Some(&1));
    let c = store_counts(&mut w, Some(&order(mins(30), Some("tok1"))), mins(30));
    assert_eq!(c.get(field::STORE_ORDERS), Some(&1));
    assert_eq!(c.get(field::RECOVERED), None, "{c:?}");
    assert_eq!(c.get(field::ABANDONED), None, "{c:?}");

    // Reminded at 1 h, then ordered: abandoned once (not again at the
    // second reminder), then recovered.
    let mut w = World::new();
    store_counts(&mut w, Some(&checkout(t0(), 2, false)), t0());
    let c = store_counts(&mut w, None, mins(61));
    assert_eq!(c.get(field::ABANDONED), Some(&1), "{c:?}");
    let c = store_counts(&mut w, None, mins(24 * 60 + 1));
    assert_eq!(c.get(field::ABANDONED), None, "{c:?}");
    let c = store_counts(
        &mut w,
        Some(&order(mins(25 * 60), Some("tok1"))),
        mins(25 * 60),
    );
    assert_eq!(c.get(field::RECOVERED), Some(&1), "{c:?}");
}

#[test]
fn leaving_a_topic_through_an_email_counts_as_that_emails_unsubscribe_once() {
    use crate::analytics::{Counts, field};
    let mut w = World::new();
    w.event(&customer(t0(), true));
    let out_of_news = event(
        "topic-out",
        mins(5),
        EventKind::ConsentChanged(crate::event::ConsentChange {
            email: email(),
            subscribed: false,
            source: "unsubscribe_link".into(),
            topics: vec!["newsletter".into()],
            via: Some(crate::event::MessageRef {
                journey: "campaign-december".into(),
                version: 1,
                step: "email".into(),
            }),
        }),
    );
    let unsubscribed = |w: &mut World| -> i64 {
        let before = w.contact.marketing.topics_out.clone();
        w.event(&out_of_news);
        let counts: Counts = crate::analytics::processed(
            &crate::analytics::ProcessedFacts {
                at: mins(5),
                event: Some(&out_of_news.kind),
                zone: &jiff::tz::TimeZone::UTC,
                windows: &Default::default(),
                runs_before: &[],
                runs_after: &[],
                subscribed_before: true,
                topics_out_before: &before,
            },
            &mut w.contact,
        );
        counts
            .0
            .iter()
            .filter(|(k, _)| k.journey == "campaign-december" && k.step == "email")
            .filter_map(|(_, f)| f.get(field::UNSUBSCRIBED))
            .sum()
    };
    assert_eq!(unsubscribed(&mut w), 1);
    assert!(w.contact.accepts_marketing(), "still on the list");
    assert_eq!(unsubscribed(&mut w), 0, "already out of that topic");
}

/// A campaign has no goal: a recipient's first order credited to it is the
/// conversion its results and its A/B branch count (a second order is not
/// a second conversion), and cancelling every credited order takes it back.
#[test]
fn a_campaign_recipient_converts_once_on_their_first_attributed_order() {
    use crate::analytics::{Counts, field};
    let mut w = World::new();
    w.event(&customer(t0(), true));
    let mut run = Run::new(
        "campaign-launch".into(),
        1,
        "contact".into(),
        0,
        EventKind::ShopRedacted,
        mins(1),
    );
    run.status = RunStatus::Completed;
    run.sent = vec!["b".into()];
    run.path = vec!["variant=b".into()];
    run.clicks = vec![crate::journey::Click {
        step: "b".into(),
        link: Some("https://demo-store.example/".into()),
        at: mins(10),
        open: false,
        machine: false,
    }];
    let runs = vec![run];
    let order_event = |id: u64, cancelled: bool, at: Timestamp| {
        let EventKind::OrderPlaced(mut o) = order(at, None).kind else {
            unreachable!()
        };
        o.order_id = id;
        let kind = if cancelled {
            EventKind::OrderCancelled(o)
        } else {
            EventKind::OrderPlaced(o)
        };
        event(&format!("o-{id}-{cancelled}"), at, kind)
    };
    let converted = |w: &mut World, e: &Event| -> (i64, i64, i64) {
        let counts: Counts = crate::analytics::processed(
            &crate::analytics::ProcessedFacts {
                at: e.at,
                event: Some(&e.kind),
                zone: &jiff::tz::TimeZone::UTC,
                windows: &Default::default(),
                runs_before: &runs,
                runs_after: &runs,
                subscribed_before: true,
                topics_out_before: &Default::default(),
            },
            &mut w.contact,
        );
        let at = |step: &str| -> i64 {
            counts
                .0
                .iter()
                .filter(|(k, _)| k.journey == "campaign-launch" && k.step == step)
                .filter_map(|(_, f)| f.get(field::CONVERTED))
                .sum()
        };
        (at(""), at("variant=b"), at("b"))
    };
    assert_eq!(
        converted(&mut w, &order_event(1, false, mins(60))),
        (1, 1, 0)
    );
    assert_eq!(
        converted(&mut w, &order_event(2, false, mins(90))),
        (0, 0, 0)
    );
    assert_eq!(
        converted(&mut w, &order_event(1, true, mins(120))),
        (0, 0, 0)
    );
    assert_eq!(
        converted(&mut w, &order_event(2, true, mins(150))),
        (-1, -1, 0)
    );
}

/// Cancelling an order lowers the store's orders; its revenue comes back
/// by the refund the platform sends with it, unless it was never paid:
/// then the cancellation takes the revenue back itself.
#[test]
fn an_unpaid_cancelled_order_takes_its_revenue_back_a_paid_one_waits_for_its_refund() {
    use crate::analytics::field;
    let mut w = World::new();
    w.event(&customer(t0(), true));
    let cancelled = |w: &mut World, status: &str| -> (i64, i64) {
        let EventKind::OrderPlaced(mut o) = order(mins(60), None).kind else {
            unreachable!()
        };
        o.financial_status = Some(status.into());
        o.total = Some(crate::money::Money {
            amount_minor: 6_600,
            currency: crate::money::Currency::parse("EUR").unwrap(),
        });
        let e = event(
            &format!("cancel-{status}"),
            mins(60),
            EventKind::OrderCancelled(o),
        );
        let c = store_counts(w, Some(&e), e.at);
        let get = |name: &str| c.get(name).copied().unwrap_or(0);
        (
            get(field::STORE_ORDERS),
            get(&format!("{}EUR", field::STORE_REVENUE)),
        )
    };
    let (orders, revenue) = cancelled(&mut w, "paid");
    assert_eq!((orders, revenue), (-1, 0));
    assert_eq!(cancelled(&mut w, "voided"), (-1, -6_600));
    assert_eq!(cancelled(&mut w, "pending"), (-1, -6_600));
}

/// The rest of an A/B test get the winner on no branch, so the test's
/// branches compare equal random shares; a test recipient is on theirs.
#[test]
fn only_the_test_share_of_a_campaign_is_on_an_ab_branch() {
    let catalog = campaign_catalog();
    let def = |share: &str| {
        campaign_def(
            &catalog,
            "ab",
            &format!(
                "id: ab\naudience:\n  segments: [engaged]\ntemplate: nurture_bestsellers\nsend_at: 2026-11-23T10:00:00Z\nab_test:\n  variants:\n    - {{name: a, subject: A}}\n    - {{name: b, subject: B}}\n  test_share: {share}\n  wait: 4h\n"
            ),
        )
    };
    for (share, group) in [
        ("100%", crate::campaign::Group::Test(0)),
        ("2%", crate::campaign::Group::Rest),
    ] {
        let c = def(share);
        let mut w = world(catalog.clone());
        w.event(&customer(t0(), true));
        let is_test = matches!(
            c.group(w.contact.id.as_str()),
            crate::campaign::Group::Test(_)
        );
        assert_eq!(
            is_test,
            matches!(group, crate::campaign::Group::Test(_)),
            "{share}"
        );
        w.event(&campaign_send(&w, &c, 1, Some("b"), mins(1)));
        let run = w.runs.iter().find(|r| r.journey == "campaign-ab").unwrap();
        assert_eq!(run.sent, ["b"], "{share}");
        let want: Vec<String> = if is_test {
            vec!["variant=b".into()]
        } else {
            vec![]
        };
        assert_eq!(run.path, want, "{share}");
    }
}

proptest! {
    /// A windowed count says truly when time alone can change it: never
    /// before (sampled hour by hour), and at that instant it has.
    #[test]
    fn a_count_changes_by_time_only_when_it_says(
        days in proptest::collection::vec((0i64..40, 1u32..4), 0..25),
        at_least in proptest::option::of(0u32..12),
        at_most in proptest::option::of(0u32..12),
        window_days in 1i64..31,
        now_hour in 0i64..24,
    ) {
        let day0: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
        let now = day0 + SignedDuration::from_hours(24 * 40 + now_hour);
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let mut c = Contact::new(ContactId::for_customer(1), shop, day0);
        for (d, n) in &days {
            for _ in 0..*n {
                c.audience
                    .activity
                    .add("product_viewed", day0 + SignedDuration::from_hours(24 * d + 5), 0);
            }
        }
        let rule = Condition::Count(condition::CountRule {
            event: "product_viewed".into(),
            detail: None,
            within: Some(crate::time::Duration(SignedDuration::from_hours(24 * window_days))),
            at_least,
            at_most,
            sum_at_least: None,
            key: crate::activity::key("product_viewed", None),
        });
        let holds = |t: Timestamp| rule.holds(condition::Scope { event: None, contact: &c, run: None, now: t });
        let before = holds(now);
        let next = rule.changes_after(&c, now);
        let horizon = now + SignedDuration::from_hours(24 * 35);
        let mut t = now;
        while t < next.unwrap_or(horizon).min(horizon) {
            prop_assert_eq!(holds(t), before, "changed at {} before {:?}", t, next);
            t += SignedDuration::from_hours(1);
        }
        if let Some(next) = next {
            prop_assert!(next > now);
            prop_assert_ne!(holds(next), before, "unchanged at {}", next);
        }
    }
}
