//! Branching steps: `if` (conditions on the contact, the run and the event
//! that started it) and `split` (weighted buckets, hashed from the run so the
//! same run always takes the same branch — never drawn at random).

use super::{Ctx, Flow, branch};
use crate::contact::Contact;
use crate::journey::condition::{Condition, Scope, all};
use crate::journey::definition::{Branch, Step};
use crate::journey::run::Run;
use sha2::Digest;

/// `if: [conditions]` then / else.
pub(super) fn if_(
    cx: &mut Ctx<'_>,
    conditions: &[Condition],
    then: Option<usize>,
    otherwise: Option<usize>,
) -> Flow {
    let at = cx.run.cursor;
    let scope = Scope {
        event: Some(&cx.run.trigger),
        contact: &*cx.contact,
        run: Some(&*cx.run),
        now: at,
    };
    let target = if all(conditions, scope) {
        then
    } else {
        otherwise
    };
    branch(cx.def, cx.run, target, at, cx.effects);
    Flow::Next
}

/// `split: [{name, weight, goto}]`.
pub(super) fn split(cx: &mut Ctx<'_>, step: &Step, branches: &[Branch]) -> Flow {
    let at = cx.run.cursor;
    let total: u32 = branches.iter().map(|b| b.weight).sum();
    let mut pick = bucket(cx.contact, cx.run, &step.id, total);
    let chosen = branches
        .iter()
        .find(|b| {
            if pick < b.weight {
                true
            } else {
                pick -= b.weight;
                false
            }
        })
        .unwrap_or(&branches[0]);
    cx.run.path.push(format!("{}={}", step.id, chosen.name));
    branch(cx.def, cx.run, chosen.target, at, cx.effects);
    Flow::Next
}

/// A split bucket in `0..total`, stable for this run and step.
fn bucket(contact: &Contact, run: &Run, step: &str, total: u32) -> u32 {
    let mut h = sha2::Sha256::new();
    for part in [
        contact.id.as_str(),
        &run.journey,
        &run.key,
        &run.entry.to_string(),
        step,
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % total.max(1)
}
