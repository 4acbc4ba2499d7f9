//! Entry admission: which journeys an event starts for the contact, and why
//! not the others (already in, re-entry, cooldown, audience, suppression by a
//! higher-priority journey, goal already met). One run per journey and key.

use super::catalog::Catalog;
use super::condition::{Scope, all};
use super::dates::date_trigger_at;
use super::definition::{DATE_REACHED, Definition, Reentry, STAGE_CHANGED, SUBSCRIBED};
use super::effect::Effect;
use super::run::{Run, RunStatus, run_key};
use super::steps::{advance, end};
use crate::contact::Contact;
use crate::event::Event;

/// How late a date trigger may still fire (the timer was down, the contact
/// was reviewed late); older instants are let go.
const DATE_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 7);

/// What the event (and what it changed) fired besides its own name.
pub(super) struct Fired<'a> {
    pub entered: &'a [String],
    pub exited: &'a [String],
    /// The contact gained marketing consent.
    pub subscribed: bool,
    /// The lifecycle rules moved the contact to this stage.
    pub staged: Option<&'a str>,
}

/// Starts every current journey the event triggers, unless the contact is
/// already in it (same key), may not re-enter yet, is cooling down, is
/// outside its audience, is in a journey that suppresses it, or already met
/// its goal.
pub(super) fn admit(
    catalog: &Catalog,
    contact: &mut Contact,
    runs: &mut Vec<Run>,
    event: &Event,
    fired: &Fired<'_>,
    effects: &mut Vec<Effect>,
) {
    for def in catalog.current() {
        admit_one(catalog, contact, runs, event, def, fired, effects);
    }
}

fn admit_one(
    catalog: &Catalog,
    contact: &mut Contact,
    runs: &mut Vec<Run>,
    event: &Event,
    def: &Definition,
    fired: &Fired<'_>,
    effects: &mut Vec<Effect>,
) {
    let Some(key) = triggered_key(catalog, contact, event, def, fired) else {
        return;
    };
    let Some(entry) = next_entry(contact, runs, def, &key, event.at) else {
        return;
    };
    if let Some(reason) = refusal(contact, runs, event, def, &key) {
        effects.push(Effect::NotEntered {
            journey: def.id.clone(),
            reason,
        });
        return;
    }
    // Journeys this one suppresses leave as it starts.
    for other in runs.iter_mut().filter(|r| r.is_active()) {
        let suppressed = catalog
            .version(&other.journey, other.version)
            .is_some_and(|d| d.suppressed_by.contains(&def.id));
        if suppressed {
            end(
                other,
                RunStatus::Exited,
                &format!("suppressed by `{}`", def.id),
                event.at,
                effects,
            );
        }
    }
    let mut run = Run::start(def, key.clone(), entry, event);
    effects.push(Effect::Entered {
        journey: def.id.clone(),
        key,
        at: event.at,
    });
    contact
        .history
        .record(&run.journey, &run.key, run.entry, run.entered_at);
    advance(catalog, contact, &mut run, event.at, effects);
    runs.push(run);
}

/// The run key, when the event (or what it changed) triggers the journey
/// and its trigger conditions hold.
fn triggered_key(
    catalog: &Catalog,
    contact: &Contact,
    event: &Event,
    def: &Definition,
    fired: &Fired<'_>,
) -> Option<String> {
    let scope = entry_scope(event, contact);
    // A date trigger's run is keyed on the date: one run per date value.
    let date_key = (def.trigger.event == DATE_REACHED)
        .then(|| date_trigger_at(catalog, contact, &def.trigger))
        .flatten()
        .filter(|(_, t)| *t <= event.at && t.checked_add(DATE_GRACE).is_ok_and(|g| event.at < g))
        .map(|(day, _)| format!("date:{day}"));
    let triggered = match (def.trigger.event.as_str(), &def.trigger.segment) {
        (DATE_REACHED, _) => date_key.is_some(),
        ("segment_entered", Some(seg)) => fired.entered.contains(seg),
        ("segment_exited", Some(seg)) => fired.exited.contains(seg),
        (SUBSCRIBED, _) => fired.subscribed,
        (STAGE_CHANGED, _) => fired
            .staged
            .is_some_and(|to| def.trigger.stage.as_deref().is_none_or(|want| want == to)),
        (name, _) => name == event.kind.name(),
    };
    if !triggered || !all(&def.trigger.conditions, scope) {
        return None;
    }
    date_key.or_else(|| run_key(def, event))
}

/// The entry number a new run of this journey and key would have; none
/// while one runs or when re-entry does not allow another yet.
fn next_entry(
    contact: &Contact,
    runs: &[Run],
    def: &Definition,
    key: &str,
    now: jiff::Timestamp,
) -> Option<u32> {
    let latest = runs
        .iter()
        .filter(|r| r.journey == def.id && r.key == key)
        .max_by_key(|r| r.entry);
    if latest.is_some_and(|r| r.is_active()) {
        return None;
    }
    // The newest entry that ended: a run still kept, or one whose item has
    // expired and that only the contact's history remembers.
    let ended = latest
        .map(|r| (r.entry, r.entered_at))
        .into_iter()
        .chain(
            contact
                .history
                .latest(&def.id, key)
                .map(|e| (e.entry, e.at)),
        )
        .max_by_key(|(entry, _)| *entry);
    let Some((entry, entered_at)) = ended else {
        return Some(0);
    };
    let again = match def.trigger.reentry {
        Reentry::Once => false,
        Reentry::Always => true,
        Reentry::Every(d) => entered_at.checked_add(d).is_ok_and(|t| t <= now),
    };
    again.then_some(entry + 1)
}

/// Why the contact may not enter now, if it may not: cooling down, outside
/// the audience, suppressed by a journey it is in, or the goal already met.
fn refusal(
    contact: &Contact,
    runs: &[Run],
    event: &Event,
    def: &Definition,
    key: &str,
) -> Option<String> {
    let scope = entry_scope(event, contact);
    if let Some(cooldown) = def.trigger.cooldown
        && (runs.iter().any(|r| {
            r.journey == def.id
                && r.entered_at
                    .checked_add(cooldown)
                    .is_ok_and(|t| t > event.at)
        }) || event
            .at
            .checked_sub(cooldown)
            .is_ok_and(|since| contact.history.entered_after(&def.id, since)))
    {
        return Some("cooling down: entered this journey recently".into());
    }
    if !all(&def.audience, scope) {
        return Some("not in the journey's audience".into());
    }
    if let Some(by) = def
        .suppressed_by
        .iter()
        .find(|other| runs.iter().any(|r| r.is_active() && &r.journey == *other))
    {
        return Some(format!("suppressed: the contact is in `{by}`"));
    }
    // An order at or after this (late) event already met the goal: a
    // checkout webhook arriving after its order starts nothing.
    let kind = event.kind.name();
    let ordered_goal =
        kind != "order_placed" && def.goals.iter().any(|g| g.event == "order_placed");
    if ordered_goal
        && (contact.commerce.ordered_checkouts.iter().any(|c| c == key)
            || contact.ordered_since(event.at))
    {
        return Some("goal already reached: an order at or after this event".into());
    }
    None
}

/// What entry conditions read: the event and the contact, no run yet.
fn entry_scope<'a>(event: &'a Event, contact: &'a Contact) -> Scope<'a> {
    Scope {
        event: Some(&event.kind),
        contact,
        run: None,
        now: event.at,
    }
}
