//! The `emit` step: an event for the store's bus (an ads or SMS system
//! following the same contact), sent through the outbox like an email, with
//! an id derived from the run, step and visit.

use super::{Ctx, Flow, goto};
use crate::journey::definition::Step;
use crate::journey::effect::Effect;
use crate::outbox::OutboxMessage;

pub(super) fn emit(cx: &mut Ctx<'_>, step: &Step, detail_type: &str) -> Flow {
    let mark = format!("emit:{}", step.id);
    let visit = cx.run.path.iter().filter(|p| **p == mark).count();
    let message = OutboxMessage::event(cx.contact, cx.run, &step.id, visit, detail_type);
    cx.effects.push(Effect::Emit(Box::new(message)));
    cx.run.path.push(mark);
    goto(cx.def, cx.run, step.next);
    Flow::Next
}
