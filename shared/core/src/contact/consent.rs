//! Email marketing consent: the newest fact wins, an opt-out is remembered,
//! and topic-level choices leave the overall consent alone.

use super::Contact;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One consent fact: opted in or out, where, and when (logical time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub subscribed: bool,
    /// e.g. `customers/create`, `checkouts/update`, `unsubscribe`, `complaint`.
    pub source: String,
    pub at: Timestamp,
}

impl Contact {
    /// True when the newest consent fact is an opt-in.
    pub fn accepts_marketing(&self) -> bool {
        self.marketing
            .consent
            .as_ref()
            .is_some_and(|c| c.subscribed)
    }

    /// Not subscribed now, and the person opted out at some point (any
    /// source): an unconfirmed form must not subscribe them again.
    pub fn opted_out(&self) -> bool {
        let by_source = self.marketing.consent.as_ref().is_some_and(|c| {
            !c.subscribed && matches!(c.source.as_str(), "unsubscribe" | "complaint")
        });
        !self.accepts_marketing() && (self.marketing.opted_out_at.is_some() || by_source)
    }

    /// Keeps the newer of the recorded and the given consent facts.
    pub(super) fn record_consent(&mut self, subscribed: bool, source: &str, at: Timestamp) {
        if self.marketing.consent.as_ref().is_none_or(|c| at >= c.at) {
            self.marketing.consent = Some(Consent {
                subscribed,
                source: source.to_string(),
                at,
            });
        }
    }

    /// Withdraws marketing consent (a journey's sunset), unless a newer
    /// fact says otherwise.
    pub fn withdraw_consent(&mut self, source: &str, at: Timestamp) {
        self.record_consent(false, source, at);
        self.marketing.opted_out_at = self.marketing.opted_out_at.max(Some(at));
    }

    pub(super) fn apply_consent(&mut self, c: &crate::event::ConsentChange, at: Timestamp) {
        if !c.topics.is_empty() {
            // A topic-level choice leaves the overall consent alone.
            for t in &c.topics {
                if c.subscribed {
                    self.marketing.topics_out.remove(t);
                } else {
                    self.marketing.topics_out.insert(t.clone());
                }
            }
            return;
        }
        self.record_consent(c.subscribed, &c.source, at);
        if !c.subscribed {
            self.marketing.opted_out_at = self.marketing.opted_out_at.max(Some(at));
        }
        if c.subscribed && self.accepts_marketing() {
            // A confirmed opt-in is to everything.
            self.marketing.opt_in_pending_at = None;
            if c.source == crate::event::DOUBLE_OPT_IN {
                self.marketing.topics_out.clear();
            }
        }
    }
}
