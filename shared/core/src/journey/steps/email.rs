//! The `email` step: queues one outbox message per visit (its id derived
//! from the run and step, so a redelivery queues nothing new). Marketing mail
//! passes the send gate (consent, topic, cap, quiet hours) and the journey's
//! audience; transactional mail (order updates) only needs an address.

use super::gate::{Hold, held, in_audience, marketing_hold, resume_held};
use super::{Ctx, Flow, end, goto};
use crate::journey::definition::Step;
use crate::journey::effect::Effect;
use crate::journey::run::RunStatus;
use crate::outbox::OutboxMessage;

pub(super) fn queue(cx: &mut Ctx<'_>, step: &Step, template: &str, transactional: bool) -> Flow {
    // A held message (quiet hours, frequency cap) waits like a wait step,
    // then this step runs again at its new time.
    if let Some(flow) = resume_held(cx) {
        return flow;
    }
    let at = cx.run.cursor;
    if !in_audience(cx, at) {
        let reason = "left the journey's audience";
        end(cx.run, RunStatus::Exited, reason, at, cx.effects);
        return Flow::Stop;
    }
    let marketing = !transactional;
    let decision = if marketing {
        marketing_hold(cx.catalog, cx.def, cx.contact, at)
    } else {
        Hold::None
    };
    let skipped = |reason: &str| Effect::Skipped {
        journey: cx.run.journey.clone(),
        step: step.id.clone(),
        reason: reason.into(),
    };
    match decision {
        Hold::Until(until, reason) => {
            held(cx.run, &step.id, until, reason, cx.effects);
            return Flow::Next;
        }
        Hold::Skip(reason) => {
            let effect = skipped(reason);
            cx.effects.push(effect);
        }
        Hold::None => {
            let (contact, run) = (&mut *cx.contact, &mut *cx.run);
            let visit = run.sent.iter().filter(|s| **s == step.id).count();
            match OutboxMessage::for_step(contact, run, &step.id, visit, template, transactional) {
                Some(mut message) => {
                    if marketing {
                        message.topic = cx.def.topic.clone();
                    }
                    cx.effects.push(Effect::Email(Box::new(message)));
                    run.sent.push(step.id.clone());
                    if marketing {
                        contact.marketing_queued(at);
                    }
                }
                None => {
                    let effect = Effect::Skipped {
                        journey: run.journey.clone(),
                        step: step.id.clone(),
                        reason: "contact has no email address".into(),
                    };
                    cx.effects.push(effect);
                }
            }
        }
    }
    goto(cx.def, cx.run, step.next);
    Flow::Next
}
