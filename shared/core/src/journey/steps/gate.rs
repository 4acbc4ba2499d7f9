//! The marketing send gate, written once for every step that reaches the
//! contact as marketing (an email, the coupon it shows): consent, the
//! journey's topic, then the send-time rules (frequency cap, quiet hours).
//! Decides only; the step records what it decided.

use super::{Ctx, Flow};
use crate::contact::Contact;
use crate::journey::catalog::Catalog;
use crate::journey::condition::{Scope, all};
use crate::journey::dates::local_zone;
use crate::journey::definition::Definition;
use crate::journey::effect::Effect;
use crate::journey::run::Run;
use jiff::Timestamp;

/// What the send-time rules say about a marketing email at `at`.
pub(super) enum Hold {
    None,
    Skip(&'static str),
    Until(Timestamp, &'static str),
}

/// What a marketing email (or the coupon it shows) may do at `at`: nothing
/// without consent or for a topic the contact left, else the send-time rules.
pub(super) fn marketing_hold(
    catalog: &Catalog,
    def: &Definition,
    contact: &Contact,
    at: Timestamp,
) -> Hold {
    if !contact.accepts_marketing() {
        Hold::Skip("no email marketing consent")
    } else if def
        .topic
        .as_ref()
        .is_some_and(|t| contact.marketing.topics_out.contains(t))
    {
        Hold::Skip("unsubscribed from this email topic")
    } else {
        hold(catalog, def, contact, at)
    }
}

/// A step held by the send-time rules: `true` while its time has not come
/// (the run stops here); at its time, clears the hold and moves the run's
/// logical time there, so the step runs again.
pub(super) fn still_held(run: &mut Run, now: Timestamp) -> bool {
    match run.wait_until {
        Some(due) if due > now => true,
        Some(due) => {
            run.wait_until = None;
            run.cursor = run.cursor.max(due);
            false
        }
        None => false,
    }
}

pub(super) fn held(
    run: &mut Run,
    step: &str,
    until: Timestamp,
    reason: &str,
    effects: &mut Vec<Effect>,
) {
    run.wait_until = Some(until);
    effects.push(Effect::Held {
        journey: run.journey.clone(),
        step: step.to_string(),
        until,
        reason: reason.into(),
    });
}

fn hold(catalog: &Catalog, def: &Definition, contact: &Contact, at: Timestamp) -> Hold {
    use crate::sending::{WhenCapped, capped_until, quiet_until};
    let rules = &def.sending;
    let mut until = None;
    if let Some(cap) = &rules.cap
        && let Some(free) = capped_until(cap, &contact.marketing.marketing_sent, at)
    {
        match rules.when_capped {
            WhenCapped::Skip => return Hold::Skip("frequency cap"),
            WhenCapped::Delay => until = Some((free, "frequency cap")),
        }
    }
    if let Some(q) = &rules.quiet_hours {
        let tz = local_zone(catalog, contact);
        let candidate = until.map_or(at, |(t, _)| t);
        if let Some(open) = quiet_until(q, candidate, &tz) {
            until = Some((open, "quiet hours"));
        }
    }
    until.map_or(Hold::None, |(t, why)| Hold::Until(t, why))
}

/// For a step the send-time rules held: where the run goes now (`Stop`
/// while the hold lasts, `Next` to take the step again at its time); `None`
/// if the step is not held.
pub(super) fn resume_held(cx: &mut Ctx<'_>) -> Option<Flow> {
    cx.run.wait_until?;
    Some(if still_held(cx.run, cx.now) {
        Flow::Stop
    } else {
        Flow::Next
    })
}

/// Whether the contact is in the journey's audience at `at`.
pub(super) fn in_audience(cx: &Ctx<'_>, at: Timestamp) -> bool {
    let scope = Scope {
        event: None,
        contact: &*cx.contact,
        run: Some(&*cx.run),
        now: at,
    };
    all(&cx.def.audience, scope)
}
