//! The `coupon` step: a unique code for the contact, derived (HMAC under
//! `COUPON_SECRET`) from the run, so a redelivery gives the same code. Given
//! only when the journey's marketing email could reach the contact now: held
//! by quiet hours or the cap like that email, skipped without consent.

use super::gate::{Hold, held, in_audience, marketing_hold, resume_held};
use super::{Ctx, Flow, goto};
use crate::journey::definition::Step;
use crate::journey::effect::Effect;
use crate::outbox::OutboxMessage;

pub(super) fn give(cx: &mut Ctx<'_>, step: &Step, spec: &crate::coupon::Spec) -> Flow {
    if let Some(flow) = resume_held(cx) {
        return flow;
    }
    let at = cx.run.cursor;
    let decision = if in_audience(cx, at) {
        marketing_hold(cx.catalog, cx.def, cx.contact, at)
    } else {
        Hold::Skip("not in the journey's audience")
    };
    match decision {
        Hold::Until(until, reason) => {
            held(cx.run, &step.id, until, reason, cx.effects);
            return Flow::Next;
        }
        Hold::Skip(reason) => {
            cx.effects.push(Effect::Skipped {
                journey: cx.run.journey.clone(),
                step: step.id.clone(),
                reason: format!("no coupon: {reason}"),
            });
            goto(cx.def, cx.run, step.next);
            return Flow::Next;
        }
        Hold::None => {}
    }
    let (contact, run) = (&mut *cx.contact, &mut *cx.run);
    let mark = format!("emit:{}", step.id);
    let visit = run.path.iter().filter(|p| **p == mark).count();
    let key = format!("{}#{}", run.key, run.entry);
    let code = crate::coupon::code(
        cx.catalog.coupon_secret(),
        &spec.prefix,
        &[
            contact.shop.as_str(),
            contact.id.as_str(),
            &run.journey,
            &key,
            &format!("{}#{visit}", step.id),
        ],
    );
    let coupon = crate::coupon::Coupon {
        name: spec.name.clone(),
        code,
        discount: spec.discount.clone(),
        journey: run.journey.clone(),
        issued_at: at,
        expires_at: crate::coupon::expiry(at, spec.valid_for.0),
        used_at: None,
    };
    let data = serde_json::to_value(&coupon).unwrap_or_default();
    contact.give_coupon(coupon);
    let mut message = OutboxMessage::event(contact, run, &step.id, visit, "waymark.coupon_issued");
    message.params["coupon"] = data;
    cx.effects.push(Effect::Emit(Box::new(message)));
    run.path.push(mark);
    goto(cx.def, run, step.next);
    Flow::Next
}
