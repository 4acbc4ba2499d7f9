//! The store subscriptions (contracts) a contact holds, as their facts
//! said; a bounded list where ended ones go first.

use super::Contact;
use crate::event::{Billing, Event, Subscription};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A subscription as the profile keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionState {
    pub contract_id: u64,
    pub status: SubscriptionStatus,
    pub interval: Option<crate::event::Cadence>,
    /// When its newest cycle was billed.
    pub billed_at: Option<Timestamp>,
    /// Cycles billed so far (as Waymark saw them).
    pub cycles: u32,
    /// Logical time of the newest contract fact applied.
    pub changed_at: Option<Timestamp>,
}

/// A contract's status, stored as Shopify's word. The set is the store's
/// (it may add one), so a word not named here is kept as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionStatus {
    Active,
    Paused,
    Cancelled,
    Expired,
    Failed,
    /// A status Waymark does not know. Built by `from`, so it never holds
    /// one of the words above.
    Other(String),
}

impl SubscriptionStatus {
    /// The word it is stored as (`active`, `paused`…).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Failed => "failed",
            Self::Other(word) => word,
        }
    }
}

impl From<&str> for SubscriptionStatus {
    fn from(word: &str) -> Self {
        match word {
            "active" => Self::Active,
            "paused" => Self::Paused,
            "cancelled" => Self::Cancelled,
            "expired" => Self::Expired,
            "failed" => Self::Failed,
            other => Self::Other(other.to_string()),
        }
    }
}

impl Serialize for SubscriptionStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SubscriptionStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        Ok(Self::from(word.as_str()))
    }
}

impl SubscriptionState {
    pub fn is_active(&self) -> bool {
        self.status == SubscriptionStatus::Active
    }
}

/// Subscriptions a contact remembers.
const SUBSCRIPTIONS_KEPT: usize = 10;

impl Contact {
    /// The subscription of this contract, created if new.
    fn subscription(&mut self, contract_id: u64) -> &mut SubscriptionState {
        let i = match self
            .commerce
            .subscriptions
            .iter()
            .position(|s| s.contract_id == contract_id)
        {
            Some(i) => i,
            None => {
                self.commerce.subscriptions.push(SubscriptionState {
                    contract_id,
                    status: SubscriptionStatus::Active,
                    interval: None,
                    billed_at: None,
                    cycles: 0,
                    changed_at: None,
                });
                if self.commerce.subscriptions.len() > SUBSCRIPTIONS_KEPT {
                    // The oldest ended one goes first, else the oldest.
                    let drop = self
                        .commerce
                        .subscriptions
                        .iter()
                        .position(|s| !s.is_active())
                        .unwrap_or(0);
                    let gone = self.commerce.subscriptions.remove(drop);
                    if !self.commerce.past_contracts.contains(&gone.contract_id) {
                        self.commerce.past_contracts.push(gone.contract_id);
                    }
                }
                self.commerce.subscriptions.len() - 1
            }
        };
        &mut self.commerce.subscriptions[i]
    }

    /// Whether any of the contact's subscriptions is active.
    pub fn subscribed_to_something(&self) -> bool {
        self.commerce
            .subscriptions
            .iter()
            .any(SubscriptionState::is_active)
    }

    /// Every contract the contact holds or held (each has a lookup).
    pub fn contract_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.commerce
            .subscriptions
            .iter()
            .map(|s| s.contract_id)
            .chain(self.commerce.past_contracts.iter().copied())
    }

    /// A contract fact: the newest one sets the status and interval.
    pub(super) fn apply_subscription_change(&mut self, s: &Subscription, event: &Event) {
        let sub = self.subscription(s.contract_id);
        if sub.changed_at.is_none_or(|t| event.at >= t) {
            sub.status = SubscriptionStatus::from(s.status.as_str());
            sub.interval = s.interval.or(sub.interval);
            sub.changed_at = Some(event.at);
        }
    }

    /// A billed cycle.
    pub(super) fn apply_billing(&mut self, b: &Billing, at: Timestamp) {
        let sub = self.subscription(b.contract_id);
        sub.cycles += 1;
        sub.billed_at = Some(sub.billed_at.map_or(at, |t| t.max(at)));
    }
}

#[cfg(test)]
mod tests {
    use super::SubscriptionStatus;

    #[test]
    fn a_status_is_stored_as_the_word_it_came_as() {
        for word in [
            "active",
            "paused",
            "cancelled",
            "expired",
            "failed",
            "stale",
        ] {
            let status = SubscriptionStatus::from(word);
            assert_eq!(status.as_str(), word);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{word}\""));
            assert_eq!(
                serde_json::from_str::<SubscriptionStatus>(&json).unwrap(),
                status
            );
        }
        assert_eq!(
            SubscriptionStatus::from("active"),
            SubscriptionStatus::Active
        );
        assert_eq!(
            SubscriptionStatus::from("stale"),
            SubscriptionStatus::Other("stale".into())
        );
    }
}
