//! Email marketing consent: the newest fact wins, an opt-out is remembered,
//! and topic-level choices leave the overall consent alone.

use super::Contact;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One consent fact: opted in or out, where, and when (logical time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub subscribed: bool,
    pub source: ConsentSource,
    pub at: Timestamp,
}

/// Where a consent fact came from. Stored as its word; the set is open (a
/// webhook's topic, a journey's own word for a sunset), so a word Waymark
/// does not name itself is kept as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentSource {
    /// The person's unsubscribe link or preference page.
    Unsubscribe,
    /// A spam complaint (SES feedback).
    Complaint,
    /// A storefront signup form without double opt-in.
    SignupForm,
    /// The confirmation link of a double opt-in.
    DoubleOptIn,
    /// Any other word: a webhook topic (`customers/create`,
    /// `checkouts/update`) or a journey's (`sunset`). Built by `from`, so
    /// it never holds one of the words above.
    Other(String),
}

impl ConsentSource {
    /// The word it is stored and logged as.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Unsubscribe => "unsubscribe",
            Self::Complaint => "complaint",
            Self::SignupForm => "signup_form",
            Self::DoubleOptIn => crate::event::DOUBLE_OPT_IN,
            Self::Other(word) => word,
        }
    }
}

impl From<&str> for ConsentSource {
    fn from(word: &str) -> Self {
        match word {
            "unsubscribe" => Self::Unsubscribe,
            "complaint" => Self::Complaint,
            "signup_form" => Self::SignupForm,
            crate::event::DOUBLE_OPT_IN => Self::DoubleOptIn,
            other => Self::Other(other.to_string()),
        }
    }
}

impl Serialize for ConsentSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ConsentSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        Ok(Self::from(word.as_str()))
    }
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
            !c.subscribed
                && matches!(
                    c.source,
                    ConsentSource::Unsubscribe | ConsentSource::Complaint
                )
        });
        !self.accepts_marketing() && (self.marketing.opted_out_at.is_some() || by_source)
    }

    /// Keeps the newer of the recorded and the given consent facts.
    pub(super) fn record_consent(&mut self, subscribed: bool, source: &str, at: Timestamp) {
        if self.marketing.consent.as_ref().is_none_or(|c| at >= c.at) {
            self.marketing.consent = Some(Consent {
                subscribed,
                source: ConsentSource::from(source),
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

#[cfg(test)]
mod tests {
    use super::ConsentSource;

    #[test]
    fn a_source_is_stored_as_the_word_it_came_as() {
        for word in [
            "unsubscribe",
            "complaint",
            "signup_form",
            "double_opt_in",
            "customers/create",
            "sunset",
        ] {
            let source = ConsentSource::from(word);
            assert_eq!(source.as_str(), word);
            let json = serde_json::to_string(&source).unwrap();
            assert_eq!(json, format!("\"{word}\""));
            assert_eq!(
                serde_json::from_str::<ConsentSource>(&json).unwrap(),
                source
            );
        }
        assert_eq!(ConsentSource::from("complaint"), ConsentSource::Complaint);
        assert_eq!(
            ConsentSource::from("checkouts/update"),
            ConsentSource::Other("checkouts/update".into())
        );
    }
}
