//! The `update` step: tags, properties, score, the lifecycle stage a journey
//! sets (held until the lifecycle rules move the contact further along) and
//! a journey-made unsubscribe (sunset). Changes the contact only.

use super::{Ctx, Flow, goto};
use crate::journey::definition::{Step, Update};
use crate::journey::effect::Effect;

pub(super) fn update(cx: &mut Ctx<'_>, step: &Step, u: &Update) -> Flow {
    let at = cx.run.cursor;
    let contact = &mut *cx.contact;
    for t in &u.tag {
        contact.audience.tags.insert(t.clone());
    }
    for t in &u.untag {
        contact.audience.tags.remove(t);
    }
    for (k, v) in &u.set {
        contact.audience.properties.insert(k.clone(), v.clone());
    }
    contact.audience.score += u.score;
    if let Some(stage) = &u.stage {
        if contact.audience.stage.as_ref() != Some(stage) {
            cx.effects.push(Effect::Stage {
                from: contact.audience.stage.clone(),
                to: stage.clone(),
                at,
            });
            contact.audience.stage = Some(stage.clone());
            contact.audience.stage_at = Some(at);
        }
        contact.audience.stage_by = Some(cx.run.journey.clone());
    }
    if let Some(source) = &u.unsubscribe {
        contact.withdraw_consent(source, at);
    }
    cx.effects.push(Effect::Updated {
        journey: cx.run.journey.clone(),
        step: step.id.clone(),
        at,
    });
    goto(cx.def, cx.run, step.next);
    Flow::Next
}
