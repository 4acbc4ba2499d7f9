//! Who is the same person: the rule that lets one contact fold another in
//! (a merge), and which of the other's runs go with it. Pure; the processor
//! loads both contacts and commits what this decides.

use crate::contact::Contact;
use crate::event::{Event, EventKind};
use crate::journey::Run;

/// Runs a merge moves over at most: one transaction carries the merge
/// (DynamoDB takes 100 actions).
pub const MAX_MOVED_RUNS: usize = 40;

/// Whether `other` is another contact of the person `contact` is: an
/// anonymous visitor who has now identified, or an email-only profile (a
/// signup, a guest checkout) when the shop's customer record itself (a
/// signed `customers/create|update`) says this contact's customer has that
/// address. Only the account's own record counts: an address typed into a
/// checkout or an order by a logged-in customer (a gift, a colleague's)
/// proves nothing. Two customers are never merged, and nothing
/// unauthenticated (the storefront's `/track`) can fold one address's
/// profile into a customer.
pub fn same_person(contact: &Contact, other: &Contact, event: &Event) -> bool {
    if other.is_anonymous() {
        return true;
    }
    let identity = event.kind.identity();
    let same_address = match (&identity.email, &other.identity.email) {
        (Some(a), Some(b)) => a.lookup_key() == b.lookup_key(),
        _ => false,
    };
    other.identity.customer_id.is_none()
        && event.source.platform == "shopify"
        && matches!(event.kind, EventKind::CustomerUpserted(_))
        && identity.customer_id.is_some()
        && identity.customer_id == contact.identity.customer_id
        && same_address
}

/// Which of the merged contact's runs (`theirs`) move over: for each
/// journey and key the contact is not in (`own`), its active runs and its
/// newest ended one (so a welcome series goes on where it was, and re-entry
/// rules still see the last time). Beyond [`MAX_MOVED_RUNS`], the running
/// runs come first, then the most recently ended; older ended runs stay
/// behind and go with the merged profile (a guest with a hundred orders, a
/// run per order, merges instead of failing every retry).
pub fn runs_to_move(own: &[Run], theirs: &[&Run]) -> Vec<Run> {
    let same = |a: &Run, b: &Run| a.journey == b.journey && a.key == b.key;
    let mut moving: Vec<Run> = theirs
        .iter()
        .filter(|r| {
            let newest_ended = !r.is_active()
                && !theirs
                    .iter()
                    .any(|x| same(x, r) && !x.is_active() && x.entry > r.entry);
            !own.iter().any(|x| same(x, r)) && (r.is_active() || newest_ended)
        })
        .map(|r| (*r).clone())
        .collect();
    if moving.len() > MAX_MOVED_RUNS {
        moving.sort_by_key(|r| (!r.is_active(), std::cmp::Reverse(r.ended_at)));
        moving.truncate(MAX_MOVED_RUNS);
    }
    moving
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::RunStatus;

    fn run(journey: &str, key: &str, entry: u32, active: bool, ended_day: i64) -> Run {
        let at: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let ended = at + jiff::SignedDuration::from_hours(24 * ended_day);
        serde_json::from_value(serde_json::json!({
            "journey": journey, "version": 1, "key": key, "entry": entry,
            "status": if active { "active" } else { "completed" }, "step": 0,
            "wait_until": null, "entered_at": at, "trigger_at": at, "cursor": at,
            "ended_at": if active { None } else { Some(ended) }, "end_reason": null,
            "trigger": {"type": "reviewed"},
        }))
        .unwrap()
    }

    #[test]
    fn a_guest_with_a_hundred_orders_moves_its_running_and_newest_runs() {
        let mut theirs: Vec<Run> = (0..100)
            .map(|i| run("post_purchase", &format!("order:{i}"), 0, false, i))
            .collect();
        theirs.push(run("welcome", "contact", 0, true, 0));
        theirs.push(run("browse", "contact", 0, false, 1));
        theirs.push(run("browse", "contact", 1, false, 2));
        let own = vec![run("vip", "contact", 0, true, 0)];
        let refs: Vec<&Run> = theirs.iter().collect();
        let moving = runs_to_move(&own, &refs);
        assert_eq!(moving.len(), MAX_MOVED_RUNS);
        assert!(
            moving
                .iter()
                .any(|r| r.journey == "welcome" && r.is_active())
        );
        assert!(
            moving.iter().any(|r| r.key == "order:99"),
            "the newest ended runs come next"
        );
        assert!(!moving.iter().any(|r| r.key == "order:0"));
        let browse: Vec<u32> = moving
            .iter()
            .filter(|r| r.journey == "browse")
            .map(|r| r.entry)
            .collect();
        assert!(browse.is_empty() || browse == [1], "only the newest entry");
        assert!(moving.iter().all(|r| r.status != RunStatus::Exited));
    }

    #[test]
    fn a_journey_the_contact_is_in_keeps_its_own_run() {
        let theirs = [run("vip", "contact", 0, true, 0)];
        let own = vec![run("vip", "contact", 0, true, 0)];
        let refs: Vec<&Run> = theirs.iter().collect();
        assert!(runs_to_move(&own, &refs).is_empty());
    }
}
