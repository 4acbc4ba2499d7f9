//! One recipient of a campaign: the send gate a journey email passes
//! (consent, the campaign's topic, smart sending, quiet hours), then one
//! message at the recipient's time. The decision is kept as a run of the
//! campaign's journey (ended at once: `completed` when queued, `exited` with
//! the reason when skipped), so a redelivered send does nothing, opens and
//! clicks find their email, orders are attributed, and the results count
//! sends and skips by reason like any journey's.

use super::catalog::Catalog;
use super::dates::local_zone;
use super::effect::Effect;
use super::run::{Run, RunStatus};
use crate::campaign::{Send, journey};
use crate::contact::Contact;
use crate::event::EventKind;
use crate::outbox::OutboxMessage;
use jiff::Timestamp;

pub(super) fn plan(
    catalog: &Catalog,
    contact: &mut Contact,
    runs: &mut Vec<Run>,
    send: &Send,
    at: Timestamp,
    effects: &mut Vec<Effect>,
) {
    let Some(c) = send.def.as_deref() else {
        return;
    };
    let name = journey(&c.id);
    let earlier = runs.iter().position(|r| r.journey == name);
    if earlier.is_some_and(|i| !decided_again(&runs[i], send)) {
        return; // already decided (a redelivery, an overlapping segment)
    }
    // An email queued by a cancelled schedule and never sent: its send no
    // longer counts against the cap, and this decision's email replaces it.
    let replaces = earlier.is_some_and(|i| runs[i].status == RunStatus::Completed);
    if let Some(i) = earlier.filter(|_| replaces) {
        contact.marketing_unqueued(runs[i].cursor);
    }
    let (step, subject, template) = c.email(send.variant.as_deref());
    let zone = local_zone(catalog, contact);
    let rest = c.group(send.contact.as_str()) == crate::campaign::Group::Rest;
    let mut due = c.due_for(&zone, send.started_at.max(at), rest);
    let mut run = decision_run(&name, send, at, due, rest);
    let skip = skip_reason(c, contact, catalog, at, due);
    if let Some(reason) = skip {
        effects.push(Effect::Skipped {
            journey: name,
            step,
            reason: reason.clone(),
        });
        run.status = RunStatus::Exited;
        run.ended_at = Some(at);
        run.end_reason = Some(reason);
        keep(runs, earlier, run);
        return;
    }
    if let Some(q) = &catalog.sending().quiet_hours
        && let Some(open) = crate::sending::quiet_until(q, due, &zone)
    {
        due = open;
        run.cursor = due;
    }
    let Some(mut message) = OutboxMessage::for_step(contact, &run, &step, 0, &template, false)
    else {
        return;
    };
    message.topic = c.topic.clone();
    message.not_before = (due > at).then_some(due);
    message.replaces_unsent = replaces;
    if let Some(obj) = message.params.as_object_mut() {
        obj.insert(
            "campaign".into(),
            serde_json::json!({
                "id": c.id,
                "name": c.name,
                "subject": subject,
                "preheader": c.preheader,
                "utm": c.utm,
                "schedule": send.run,
            }),
        );
    }
    effects.push(Effect::Email(Box::new(message)));
    contact.marketing_queued(due);
    run.sent.push(step);
    run.status = RunStatus::Completed;
    run.ended_at = Some(at);
    keep(runs, earlier, run);
}

/// Notes on the contact, for the frequency cap and smart sending, the
/// campaign emails sent straight from a page (`Send::page`): those are
/// decided without writing the contact, and their runs are what says they
/// went. Each is noted once and only while a cap can count it; the
/// contact's next commit keeps it. Noted by time: a time is noted as many
/// times as such runs name it (two campaigns sent at the same instant are
/// two sends).
pub fn note_direct_sends(contact: &mut Contact, runs: &[Run], now: Timestamp) {
    let horizon = now.checked_sub(crate::sending::REMEMBERED_FOR).ok();
    let mut sent: std::collections::BTreeMap<Timestamp, usize> = Default::default();
    for run in runs {
        let EventKind::CampaignSend(send) = &run.trigger else {
            continue;
        };
        if send.page.is_some()
            && run.status == RunStatus::Completed
            && horizon.is_none_or(|h| run.cursor > h)
        {
            *sent.entry(run.cursor).or_default() += 1;
        }
    }
    for (at, n) in sent {
        let noted = contact
            .marketing
            .marketing_sent
            .iter()
            .filter(|t| **t == at)
            .count();
        for _ in noted..n {
            contact.marketing_queued(at);
        }
    }
}

/// Whether a recipient with an `earlier` decision is decided again by
/// `send`: only one decided by another schedule of the campaign (cancelled
/// and scheduled again) who was skipped, whose reason may have passed, or
/// whose email the cancel stopped before it went (`earlier_unsent`, which
/// process reads from the outbox). An email sent is never sent twice, and a
/// send of the same schedule is a redelivery or an overlapping segment.
fn decided_again(earlier: &Run, send: &Send) -> bool {
    let another = send.run.is_some() && schedule_of(earlier) != send.run;
    another
        && match earlier.status {
            RunStatus::Exited => true,
            RunStatus::Completed => send.earlier_unsent,
            _ => false,
        }
}

fn schedule_of(run: &Run) -> Option<i64> {
    match &run.trigger {
        EventKind::CampaignSend(s) => s.run,
        _ => None,
    }
}

/// The email `send`'s recipient was queued by another schedule of the
/// campaign, if any: process reads whether it went before it decides
/// (see [`Send::earlier_unsent`]).
pub fn earlier_email(contact: &Contact, runs: &[Run], send: &Send) -> Option<String> {
    let c = send.def.as_deref()?;
    let name = journey(&c.id);
    let earlier = runs.iter().find(|r| r.journey == name)?;
    (earlier.status == RunStatus::Completed
        && send.run.is_some()
        && schedule_of(earlier) != send.run)
        .then(|| OutboxMessage::ids_of_run(&contact.shop, &contact.id, earlier))?
        .into_iter()
        .next()
}

/// The decision in place of the `earlier` one (the same run item, written
/// over), or beside the others.
fn keep(runs: &mut Vec<Run>, earlier: Option<usize>, run: Run) {
    match earlier {
        Some(i) => runs[i] = run,
        None => runs.push(run),
    }
}

/// The recipient's decision, as a run of the campaign's journey. A test
/// recipient's variant is its path, so results count each branch of the
/// A/B test; the rest (`rest`), who get the winner after the decision, are
/// on no branch: the test's comparison stays between equal random shares.
fn decision_run(name: &str, send: &Send, at: Timestamp, due: Timestamp, rest: bool) -> Run {
    let trigger = EventKind::CampaignSend(Send {
        def: None,
        ..send.clone()
    });
    Run {
        cursor: due,
        path: send
            .variant
            .iter()
            .filter(|_| !rest)
            .map(|v| crate::campaign::branch(v))
            .collect(),
        ..Run::new(name.to_string(), 1, "contact".into(), 0, trigger, at)
    }
}

/// Why the recipient gets nothing, if so: an excluded segment, the
/// audience's contact condition not met (at the decision), no consent,
/// the campaign's topic left, no address, or smart sending (marketing mail
/// within the campaign's window, else the journeys' cap).
fn skip_reason(
    c: &crate::campaign::Campaign,
    contact: &Contact,
    catalog: &Catalog,
    at: Timestamp,
    due: Timestamp,
) -> Option<String> {
    let cap = c
        .smart_sending
        .map(|per| crate::sending::Cap { max: 1, per })
        .or(catalog.sending().cap);
    if let Some(s) = c
        .exclude
        .iter()
        .find(|s| contact.audience.segments.contains(*s))
    {
        Some(format!("in excluded segment {s}"))
    } else if !c.when.hold(contact, at) {
        Some("audience condition not met".into())
    } else if !contact.accepts_marketing() {
        Some("no email marketing consent".into())
    } else if c
        .topic
        .as_ref()
        .is_some_and(|t| contact.marketing.topics_out.contains(t))
    {
        Some("unsubscribed from this email topic".into())
    } else if contact.identity.email.is_none() {
        Some("contact has no email address".into())
    } else if cap.is_some_and(|cap| {
        crate::sending::capped_until(&cap, &contact.marketing.marketing_sent, due).is_some()
    }) {
        Some("smart sending".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ContactId, ShopDomain};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// A campaign's decided run: sent (`Completed`) or skipped, decided on
    /// a page (`page`) or by `process`.
    fn decided(campaign: &str, sent_at: &str, page: Option<&str>, sent: bool) -> Run {
        let send = Send {
            campaign: campaign.into(),
            contact: ContactId::for_customer(7),
            variant: None,
            started_at: at(sent_at),
            run: Some(1),
            def: None,
            page: page.map(str::to_string),
            earlier_unsent: false,
        };
        let mut run = Run::new(
            crate::campaign::journey(campaign),
            1,
            "contact".into(),
            0,
            EventKind::CampaignSend(send),
            at(sent_at),
        );
        run.cursor = at(sent_at);
        run.status = if sent {
            RunStatus::Completed
        } else {
            RunStatus::Exited
        };
        run
    }

    #[test]
    fn sends_decided_on_a_page_are_noted_once_each_while_a_cap_counts_them() {
        let mut c = Contact::new(
            ContactId::for_customer(7),
            ShopDomain::parse("demo.myshopify.com").unwrap(),
            at("2026-11-01T00:00:00Z"),
        );
        let runs = vec![
            // Two campaigns sent at the same instant: two sends.
            decided("a", "2026-12-20T10:00:00Z", Some("p/a/1"), true),
            decided("b", "2026-12-20T10:00:00Z", Some("p/b/1"), true),
            // Skipped: nothing sent.
            decided("c", "2026-12-20T11:00:00Z", Some("p/c/1"), false),
            // Decided by process from its event: the contact noted it then.
            decided("d", "2026-12-20T12:00:00Z", None, true),
            // Too old for any cap.
            decided("e", "2026-10-01T10:00:00Z", Some("p/e/1"), true),
        ];
        let now = at("2026-12-21T09:00:00Z");
        note_direct_sends(&mut c, &runs, now);
        let ten = at("2026-12-20T10:00:00Z");
        assert_eq!(c.marketing.marketing_sent, vec![ten, ten]);
        // Noted once: every load notes them again, and nothing doubles.
        note_direct_sends(&mut c, &runs, now);
        assert_eq!(c.marketing.marketing_sent, vec![ten, ten]);
    }
}
