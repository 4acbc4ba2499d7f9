//! The contact's audience bookkeeping after each event or review: the score
//! (decay, then scoring rules), RFM scores, segment memberships, the lifecycle
//! stage, and the next time any of them can change by time alone
//! (`review_at`). Reads the catalog's rules; never touches runs.

use super::catalog::Catalog;
use super::condition::{Scope, all};
use super::dates::date_trigger_at;
use super::effect::Effect;
use crate::contact::Contact;
use crate::event::Event;
use jiff::Timestamp;

/// The contact's RFM scores at `at`, and when recency next drops.
pub(super) fn refresh_rfm(catalog: &Catalog, contact: &mut Contact, at: Timestamp) {
    let thresholds = &catalog.audience().rfm;
    contact.audience.rfm = crate::rfm::Rfm::with(contact, at, thresholds);
    contact.audience.rfm_changes_at = crate::rfm::Rfm::next_change_with(contact, at, thresholds);
}

/// The score decayed to `now` (halving every half-life), then the points of
/// every scoring rule the event matches.
pub(super) fn rescore(catalog: &Catalog, contact: &mut Contact, event: &Event) {
    let audience = catalog.audience();
    if let (Some(h), Some(from)) = (audience.half_life, contact.audience.score_at)
        && event.at > from
        && contact.audience.score != 0
    {
        let halves = event.at.duration_since(from).as_secs_f64() / h.as_secs_f64();
        // Under one point it is gone, so a decayed score reaches 0 (and
        // stops being reviewed) instead of resting at ±1.
        let decayed = contact.audience.score as f64 * 0.5f64.powf(halves);
        contact.audience.score = if decayed.abs() < 1.0 {
            0
        } else {
            decayed.round() as i64
        };
    }
    let kind = event.kind.name();
    let points: i64 = audience
        .scoring
        .iter()
        .filter(|r| r.event == kind)
        .filter(|r| {
            all(
                &r.conditions,
                Scope {
                    event: Some(&event.kind),
                    contact,
                    run: None,
                    now: event.at,
                },
            )
        })
        .map(|r| r.points)
        .sum();
    contact.audience.score = contact.audience.score.saturating_add(points);
    if contact.audience.score_at.is_none_or(|t| event.at > t) {
        contact.audience.score_at = Some(event.at);
    }
}

/// Re-evaluates the contact's segments after an event; returns the ids
/// entered and exited (membership lives on the contact, so this is a diff).
pub(super) fn update_segments(
    catalog: &Catalog,
    contact: &mut Contact,
    at: Timestamp,
    effects: &mut Vec<Effect>,
) -> (Vec<String>, Vec<String>) {
    let (mut entered, mut exited) = (Vec::new(), Vec::new());
    let mut members = 0;
    for seg in catalog.segments() {
        let scope = Scope {
            event: None,
            contact,
            run: None,
            now: at,
        };
        let member = all(&seg.conditions, scope);
        members += usize::from(member);
        let was = contact.audience.segments.contains(&seg.id);
        if member && !was {
            entered.push(seg.id.clone());
        } else if !member && was {
            exited.push(seg.id.clone());
        }
    }
    for s in &entered {
        contact.audience.segments.insert(s.clone());
        effects.push(Effect::Segment {
            segment: s.clone(),
            entered: true,
            at,
        });
    }
    for s in &exited {
        contact.audience.segments.remove(s);
        effects.push(Effect::Segment {
            segment: s.clone(),
            entered: false,
            at,
        });
    }
    // Segments no longer defined are forgotten (there are some if the
    // contact holds more than the defined ones it belongs to).
    if contact.audience.segments.len() != members {
        let known = |s: &String| catalog.segments().iter().any(|x| &x.id == s);
        contact.audience.segments.retain(known);
    }
    (entered, exited)
}

/// Applies the lifecycle rules (first match wins, none keeps the stage);
/// returns the new stage if it changed.
pub(super) fn restage(
    catalog: &Catalog,
    contact: &mut Contact,
    at: Timestamp,
    effects: &mut Vec<Effect>,
) -> Option<String> {
    let scope = Scope {
        event: None,
        contact,
        run: None,
        now: at,
    };
    let rules = &catalog.audience().lifecycle;
    let (rank, rule) = rules
        .iter()
        .enumerate()
        .find(|(_, r)| all(&r.conditions, scope))?;
    // A stage a journey set holds until a rule further along the lifecycle
    // (higher in the list: lapsed, advocate, loyal…) holds.
    let pinned = contact.audience.stage_by.is_some()
        && contact
            .audience
            .stage
            .as_deref()
            .and_then(|s| rules.iter().position(|r| r.stage == s))
            .is_some_and(|held| rank > held);
    if pinned {
        return None;
    }
    contact.audience.stage_by = None;
    if contact.audience.stage.as_deref() == Some(rule.stage.as_str()) {
        return None;
    }
    effects.push(Effect::Stage {
        from: contact.audience.stage.clone(),
        to: rule.stage.clone(),
        at,
    });
    contact.audience.stage = Some(rule.stage.clone());
    contact.audience.stage_at = Some(at);
    Some(rule.stage.clone())
}

/// The next instant a time-based rule about the contact can change by
/// itself: segment and lifecycle conditions, and the score's decay.
pub(super) fn next_review(
    catalog: &Catalog,
    contact: &Contact,
    now: Timestamp,
) -> Option<Timestamp> {
    let audience = catalog.audience();
    let rules = catalog
        .segments()
        .iter()
        .flat_map(|s| s.conditions.iter())
        .chain(audience.lifecycle.iter().flat_map(|r| r.conditions.iter()))
        .filter_map(|c| c.changes_after(contact, now));
    let decay = audience
        .half_life
        .filter(|_| contact.audience.score != 0)
        .and_then(|h| now.checked_add(h).ok());
    // A date trigger's instant still ahead (a coupon expiry less 2 days).
    let dates = catalog
        .current()
        .filter_map(|d| date_trigger_at(catalog, contact, &d.trigger))
        .filter_map(|(_, t)| (t > now).then_some(t));
    rules.chain(decay).chain(dates).min()
}
