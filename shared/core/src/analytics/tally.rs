//! The counts one processed event adds: journey entries, ends, goals and
//! split branches from the runs it changed; orders and revenue, attributed
//! and store-wide; list growth. Pure: the processor commits the counts with
//! the event's other writes, so a replayed event adds nothing.

use super::attribution::{self, ATTRIBUTED_KEPT, Attributed, Windows};
use super::{Counts, Key, STORE, day, field};
use crate::contact::Contact;
use crate::event::{EventKind, Order};
use crate::journey::{Run, RunStatus};
use crate::money::Money;

/// What the processor knows about one event's effect.
pub struct ProcessedFacts<'a> {
    /// When it happened: the event's time, or the tick's.
    pub at: jiff::Timestamp,
    /// The event (`None` for a tick).
    pub event: Option<&'a EventKind>,
    pub zone: &'a jiff::tz::TimeZone,
    pub windows: &'a Windows,
    /// The runs as loaded and as they are now (same order; new ones last).
    /// A run written over in place by a new one (a campaign's recipient
    /// decided again by a later schedule) enters anew: told apart by its
    /// entry time.
    pub runs_before: &'a [Run],
    pub runs_after: &'a [Run],
    /// Whether the contact was subscribed before.
    pub subscribed_before: bool,
    /// The topics it had opted out of before.
    pub topics_out_before: &'a std::collections::BTreeSet<String>,
}

/// The counts of one processed event; records an attributed order (or
/// takes a cancelled or refunded one back) on `contact`.
pub fn processed(facts: &ProcessedFacts<'_>, contact: &mut Contact) -> Counts {
    let mut counts = Counts::default();
    runs(facts, &mut counts);
    orders(facts, contact, &mut counts);
    let today = day(facts.at, facts.zone);
    let store = Key::new(today, STORE, 0, "");
    let subscribed = contact
        .marketing
        .consent
        .as_ref()
        .is_some_and(|c| c.subscribed);
    match (facts.subscribed_before, subscribed) {
        (false, true) => counts.add(&store, field::SUBSCRIBED, 1),
        (true, false) => {
            counts.add(&store, field::UNSUBSCRIBED, 1);
            if let Some(EventKind::ConsentChanged(c)) = facts.event
                && let Some(via) = &c.via
            {
                let key = Key::new(today, &via.journey, via.version, "");
                counts.add_message(&key, Some(&via.step), field::UNSUBSCRIBED, 1);
            }
        }
        // Out of a topic through an email's link (the list is kept): that
        // email's unsubscribe, once per topic.
        (true, true) => {
            if let Some(EventKind::ConsentChanged(c)) = facts.event
                && !c.subscribed
                && let Some(via) = &c.via
                && c.topics
                    .iter()
                    .any(|t| !facts.topics_out_before.contains(t))
            {
                let key = Key::new(today, &via.journey, via.version, "");
                counts.add_message(&key, Some(&via.step), field::UNSUBSCRIBED, 1);
            }
        }
        _ => {}
    }
    counts
}

fn runs(facts: &ProcessedFacts<'_>, counts: &mut Counts) {
    for (i, run) in facts.runs_after.iter().enumerate() {
        let before = facts
            .runs_before
            .get(i)
            .filter(|b| b.entered_at == run.entered_at);
        let journey = |at| Key::new(day(at, facts.zone), &run.journey, run.version, "");
        if before.is_none() {
            counts.add(&journey(run.entered_at), field::ENTERED, 1);
            if run.key != "contact" && matches!(facts.event, Some(EventKind::CheckoutUpdated(_))) {
                let store = Key::new(day(run.entered_at, facts.zone), STORE, 0, "");
                counts.add(&store, field::CHECKOUTS, 1);
            }
        }
        let followed_checkout =
            run.key != "contact" && matches!(run.trigger, EventKind::CheckoutUpdated(_));
        if followed_checkout && before.is_none_or(|b| b.sent.is_empty()) && !run.sent.is_empty() {
            let store = Key::new(day(facts.at, facts.zone), STORE, 0, "");
            counts.add(&store, field::ABANDONED, 1);
        }
        let known = before.map_or(0, |b| b.path.len());
        for branch in run.path.iter().skip(known) {
            let key = Key {
                step: branch.clone(),
                ..journey(run.cursor)
            };
            counts.add(&key, field::ENTERED, 1);
        }
        let was_active = before.is_none_or(Run::is_active);
        if was_active && !run.is_active() {
            let at = run.ended_at.unwrap_or(facts.at);
            let key = journey(at);
            match run.status {
                RunStatus::Active => {}
                RunStatus::Completed => counts.add(&key, field::COMPLETED, 1),
                RunStatus::Exited => {
                    counts.add(&key, field::EXITED, 1);
                    let reason = run.end_reason.as_deref().unwrap_or("unknown");
                    counts.add(&key, &format!("{}{reason}", field::EXITED_BY), 1);
                }
                RunStatus::Converted => {
                    counts.add(&key, field::CONVERTED, 1);
                    for branch in &run.path {
                        let b = Key {
                            step: branch.clone(),
                            ..key.clone()
                        };
                        counts.add(&b, field::CONVERTED, 1);
                    }
                }
            }
        }
    }
}

/// The keys an attributed order counts under: the journey, the step whose
/// email earned it, and the run's split branches.
fn earned_keys(a: &Attributed, day: jiff::civil::Date) -> Vec<Key> {
    let t = &a.touch;
    let mut keys = vec![
        Key::new(day, &t.journey, t.version, ""),
        Key::new(day, &t.journey, t.version, &t.step),
    ];
    keys.extend(
        t.path
            .iter()
            .map(|b| Key::new(day, &t.journey, t.version, b)),
    );
    keys
}

fn orders(facts: &ProcessedFacts<'_>, contact: &mut Contact, counts: &mut Counts) {
    let today = day(facts.at, facts.zone);
    let store = Key::new(today, STORE, 0, "");
    match facts.event {
        Some(EventKind::OrderPlaced(o)) => {
            count_store_order(facts, contact, counts, &store, o);
            attribute_order(facts, contact, counts, today, o);
        }
        Some(EventKind::OrderCancelled(o)) => {
            counts.add(&store, field::STORE_ORDERS, -1);
            if let Some(total) = &o.total {
                let f = format!("{}{}", field::STORE_ORDERS_IN, total.currency);
                counts.add(&store, &f, -1);
                // A paid order's money comes back by the refund the
                // platform sends with the cancellation (counted there);
                // an unpaid one's never came in.
                if o.unpaid() {
                    let f = format!("{}{}", field::STORE_REVENUE, total.currency);
                    counts.add(&store, &f, -total.amount_minor);
                }
            }
            take_back_cancelled(contact, counts, today, o.order_id);
        }
        Some(EventKind::OrderRefunded(r)) => {
            let Some(amount) = &r.amount else { return };
            let f = format!("{}{}", field::STORE_REVENUE, amount.currency);
            counts.add(&store, &f, -amount.amount_minor);
            take_back_refunded(contact, counts, today, r.order_id, amount);
        }
        _ => {}
    }
}

/// A placed order's store-wide counts: orders, revenue, repeats, and a
/// recovery when it completes a checkout a run was following.
fn count_store_order(
    facts: &ProcessedFacts<'_>,
    contact: &Contact,
    counts: &mut Counts,
    store: &Key,
    o: &Order,
) {
    counts.add(store, field::STORE_ORDERS, 1);
    if let Some(total) = &o.total {
        let f = format!("{}{}", field::STORE_REVENUE, total.currency);
        counts.add(store, &f, total.amount_minor);
        let f = format!("{}{}", field::STORE_ORDERS_IN, total.currency);
        counts.add(store, &f, 1);
    }
    if contact.commerce.order_count > 1 {
        counts.add(store, field::REPEAT_ORDERS, 1);
    }
    // Recovered: the checkout was abandoned (its reminder went) and its run
    // was still on. An order inside the first wait was never abandoned.
    if let Some(token) = &o.checkout_token
        && facts
            .runs_before
            .iter()
            .any(|r| &r.key == token && r.is_active() && !r.sent.is_empty())
    {
        counts.add(store, field::RECOVERED, 1);
    }
}

/// Credits a placed order (once) to the email that earned it, if any, and
/// records that on the contact so a cancel or refund can take it back.
fn attribute_order(
    facts: &ProcessedFacts<'_>,
    contact: &mut Contact,
    counts: &mut Counts,
    today: jiff::civil::Date,
    o: &Order,
) {
    if contact
        .commerce
        .attributed
        .iter()
        .any(|a| a.order_id == o.order_id)
    {
        return;
    }
    let Some(touch) = attribution::touch(facts.runs_after, facts.at, facts.windows) else {
        return;
    };
    let (currency, amount) = o.total.as_ref().map_or((String::new(), 0), |m| {
        (m.currency.to_string(), m.amount_minor)
    });
    let a = Attributed {
        order_id: o.order_id,
        touch,
        currency,
        remaining: amount,
    };
    for key in earned_keys(&a, today) {
        counts.add(&key, field::ORDERS, 1);
        if !a.currency.is_empty() {
            counts.add(&key, &format!("{}{}", field::REVENUE, a.currency), amount);
        }
    }
    if campaign_conversion(contact, &a.touch.journey) {
        count_conversion(counts, &a, today, 1);
    }
    contact.commerce.attributed.push(a);
    let excess = contact
        .commerce
        .attributed
        .len()
        .saturating_sub(ATTRIBUTED_KEPT);
    contact.commerce.attributed.drain(..excess);
}

/// Whether an order attributed to `journey` converts its recipient: a
/// campaign has no goal, so its first attributed order from a recipient
/// (none of theirs is credited to it yet) is the conversion its results and
/// A/B branches count. A journey converts by its goal instead.
fn campaign_conversion(contact: &Contact, journey: &str) -> bool {
    crate::campaign::is_campaign(journey)
        && !contact
            .commerce
            .attributed
            .iter()
            .any(|x| x.touch.journey == journey)
}

/// A campaign recipient's conversion (`n` = 1) or its taking back (-1), on
/// the campaign and its A/B branch, as a journey's goal counts.
fn count_conversion(counts: &mut Counts, a: &Attributed, day: jiff::civil::Date, n: i64) {
    for key in earned_keys(a, day)
        .into_iter()
        .filter(|k| k.step != a.touch.step)
    {
        counts.add(&key, field::CONVERTED, n);
    }
}

/// Takes a cancelled order, and what is left of its revenue, back from
/// the email it was credited to (and a campaign's conversion with it when
/// no other order of the recipient's is credited to the campaign).
fn take_back_cancelled(
    contact: &mut Contact,
    counts: &mut Counts,
    today: jiff::civil::Date,
    order_id: u64,
) {
    let Some(a) = contact
        .commerce
        .attributed
        .iter_mut()
        .find(|a| a.order_id == order_id)
    else {
        return;
    };
    let taken = std::mem::take(&mut a.remaining);
    let a = a.clone();
    contact
        .commerce
        .attributed
        .retain(|x| x.order_id != order_id);
    if campaign_conversion(contact, &a.touch.journey) {
        count_conversion(counts, &a, today, -1);
    }
    for key in earned_keys(&a, today) {
        counts.add(&key, field::ORDERS, -1);
        if !a.currency.is_empty() {
            counts.add(&key, &format!("{}{}", field::REVENUE, a.currency), -taken);
        }
    }
}

/// Takes a refund (at most what is left of the order's revenue) back from
/// the email the order was credited to.
fn take_back_refunded(
    contact: &mut Contact,
    counts: &mut Counts,
    today: jiff::civil::Date,
    order_id: u64,
    amount: &Money,
) {
    let Some(a) = contact
        .commerce
        .attributed
        .iter_mut()
        .find(|a| a.order_id == order_id && a.currency == amount.currency.as_str())
    else {
        return;
    };
    let taken = amount.amount_minor.clamp(0, a.remaining);
    a.remaining -= taken;
    let a = a.clone();
    for key in earned_keys(&a, today) {
        counts.add(&key, &format!("{}{}", field::REVENUE, a.currency), -taken);
    }
}
