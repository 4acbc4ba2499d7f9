//! The dates journeys wait for and trigger on (a coupon's expiry, a
//! `property.<key>` date, a subscription's next billing or mid-cycle), and the
//! zone local-time rules use. Reads the contact; never changes it.

use super::catalog::Catalog;
use super::definition::{DateRef, Trigger};
use super::run::Run;
use crate::contact::Contact;
use crate::event::EventKind;
use jiff::Timestamp;

/// The zone local-time rules use for a contact: theirs, else the shop's.
pub(super) fn local_zone(catalog: &Catalog, contact: &Contact) -> jiff::tz::TimeZone {
    contact
        .zone_name()
        .and_then(crate::sending::zone)
        .unwrap_or_else(|| catalog.time_zone().clone())
}

/// A date on the contact (or the run's subscription), if it has one.
pub(super) fn resolve_date(
    catalog: &Catalog,
    contact: &Contact,
    run: Option<&Run>,
    date: &DateRef,
) -> Option<Timestamp> {
    match date {
        DateRef::NextBilling | DateRef::MidCycle => {
            let (sub, billed) = run_subscription(contact, run)?;
            let next = sub.interval?.after(billed, &local_zone(catalog, contact))?;
            Some(match date {
                DateRef::MidCycle => billed.checked_add(billed.duration_until(next) / 2).ok()?,
                _ => next,
            })
        }
        DateRef::CouponExpiry(name) => contact
            .commerce
            .coupons
            .iter()
            .rev()
            .find(|c| &c.name == name)
            .map(|c| c.expires_at),
        DateRef::Property(key) => {
            let text = contact.audience.properties.get(key)?.as_str()?;
            text.parse::<Timestamp>().ok().or_else(|| {
                let day: jiff::civil::Date = text.parse().ok()?;
                day.to_zoned(local_zone(catalog, contact))
                    .ok()
                    .map(|z| z.timestamp())
            })
        }
    }
}

/// The subscription a run is about (the one whose billing started it, else
/// the contact's newest active one) and when its cycle was billed.
pub fn run_subscription<'c>(
    contact: &'c Contact,
    run: Option<&Run>,
) -> Option<(&'c crate::contact::SubscriptionState, Timestamp)> {
    if let Some(run) = run
        && let EventKind::SubscriptionBilled(b) = &run.trigger
    {
        let sub = contact
            .commerce
            .subscriptions
            .iter()
            .find(|s| s.contract_id == b.contract_id)?;
        return Some((sub, run.trigger_at));
    }
    let sub = contact
        .commerce
        .subscriptions
        .iter()
        .rev()
        .find(|s| s.is_active() && s.billed_at.is_some())?;
    Some((sub, sub.billed_at?))
}

/// For a `date_reached` trigger: the date and the instant (date + offset)
/// at which it fires.
pub(super) fn date_trigger_at(
    catalog: &Catalog,
    contact: &Contact,
    trigger: &Trigger,
) -> Option<(Timestamp, Timestamp)> {
    let (date, offset) = trigger.date.as_ref()?;
    let day = resolve_date(catalog, contact, None, date)?;
    Some((day, day.checked_add(*offset).ok()?))
}
