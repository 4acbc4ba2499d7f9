//! Unique coupon codes. A journey's `coupon` step issues one per run: the code
//! is an HMAC of the run under the shop's coupon secret, so a redelivery
//! issues the same code and nobody can guess another contact's. The contact
//! remembers what it was given; an order that uses the code marks it used.
//! The store learns of each code through the `waymark.coupon_issued` event
//! (its connector creates the discount in Shopify).

use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Coupons a contact remembers (the newest).
pub const KEPT: usize = 20;

/// Crockford's base32: no I, L, O or U, so a code read aloud or typed from
/// a phone survives.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters of randomness after the prefix: 10 × 5 = 50 bits.
const CODE_CHARS: usize = 10;

/// What a `coupon` step issues (the file form is the same).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The name templates and conditions use (`coupons.welcome.code`).
    pub name: String,
    /// Upper-case letters and digits before the dash (`WELCOME`).
    pub prefix: String,
    /// What the discount is, as the store's connector and the email state it
    /// (`10%`, `5.00`, `free_shipping`).
    pub discount: String,
    /// How long the code is valid from issue.
    pub valid_for: crate::time::Duration,
}

/// A coupon given to a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    pub name: String,
    pub code: String,
    pub discount: String,
    pub journey: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    #[serde(default)]
    pub used_at: Option<Timestamp>,
}

impl Coupon {
    /// Neither used nor expired at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.used_at.is_none() && now < self.expires_at
    }
}

/// The code for one issue: `PREFIX-` and ten base32 characters of
/// HMAC-SHA256(secret, the run's parts).
pub fn code(secret: &[u8], prefix: &str, parts: &[&str]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(b"waymark-coupon\0");
    for p in parts {
        mac.update(p.as_bytes());
        mac.update(&[0]);
    }
    let digest = mac.finalize().into_bytes();
    let mut bits = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    let mut out = String::with_capacity(prefix.len() + 1 + CODE_CHARS);
    out.push_str(prefix);
    out.push('-');
    for _ in 0..CODE_CHARS {
        out.push(ALPHABET[(bits >> 59) as usize] as char);
        bits <<= 5;
    }
    out
}

/// A prefix is 1–20 upper-case ASCII letters or digits.
pub fn valid_prefix(prefix: &str) -> bool {
    (1..=20).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The expiry of a coupon issued at `at`.
pub fn expiry(at: Timestamp, valid_for: SignedDuration) -> Timestamp {
    at.checked_add(valid_for).unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_per_run_and_differ_between_runs_and_secrets() {
        let a = code(b"k1", "WELCOME", &["c1", "welcome", "contact#0", "coupon"]);
        assert_eq!(
            a,
            code(b"k1", "WELCOME", &["c1", "welcome", "contact#0", "coupon"])
        );
        assert!(a.starts_with("WELCOME-") && a.len() == "WELCOME-".len() + CODE_CHARS);
        assert!(a["WELCOME-".len()..].bytes().all(|b| ALPHABET.contains(&b)));
        assert_ne!(
            a,
            code(b"k1", "WELCOME", &["c1", "welcome", "contact#1", "coupon"])
        );
        assert_ne!(
            a,
            code(b"k2", "WELCOME", &["c1", "welcome", "contact#0", "coupon"])
        );
        // Parts are separated: ("ab", "c") and ("a", "bc") differ.
        assert_ne!(code(b"k", "X", &["ab", "c"]), code(b"k", "X", &["a", "bc"]));
    }

    #[test]
    fn open_until_used_or_expired() {
        let t: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let mut c = Coupon {
            name: "welcome".into(),
            code: "WELCOME-X".into(),
            discount: "10%".into(),
            journey: "welcome_series".into(),
            issued_at: t,
            expires_at: expiry(t, SignedDuration::from_hours(24)),
            used_at: None,
        };
        assert!(c.is_open(t));
        assert!(!c.is_open(c.expires_at));
        c.used_at = Some(t);
        assert!(!c.is_open(t));
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(valid_prefix("WELCOME10"));
        assert!(!valid_prefix(""));
        assert!(!valid_prefix("welcome"));
        assert!(!valid_prefix("WEL-COME"));
    }
}
