//! Unsubscribe tokens: the signed, expiring proof carried by every marketing
//! email's List-Unsubscribe URL and footer link. A token names a shop and an
//! address; without the secret nobody can make one, and a tampered or expired
//! token verifies as nothing. Must never reveal whether an address exists.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::ids::{EmailAddress, ShopDomain};

/// How long a link in an email keeps working (laws ask for at least 30 days).
pub const VALID_FOR: SignedDuration = SignedDuration::from_hours(24 * 90);

/// What a valid token proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub shop: ShopDomain,
    pub email: EmailAddress,
    pub expires: Timestamp,
}

/// What a token is for: one purpose's token never verifies for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The List-Unsubscribe URL and the footer's preference link.
    Unsubscribe,
    /// A double opt-in's confirmation link.
    Confirm,
}

impl Purpose {
    fn domain(self) -> &'static [u8] {
        match self {
            Self::Unsubscribe => b"waymark-unsubscribe-v1\0",
            Self::Confirm => b"waymark-confirm-v1\0",
        }
    }

    /// How long a link keeps working: an unsubscribe link at least the 30
    /// days laws ask for, a confirmation a week.
    pub fn valid_for(self) -> SignedDuration {
        match self {
            Self::Unsubscribe => VALID_FOR,
            Self::Confirm => SignedDuration::from_hours(24 * 7),
        }
    }
}

fn mac(secret: &[u8], purpose: Purpose, payload: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    m.update(purpose.domain());
    m.update(payload);
    m.finalize().into_bytes().to_vec()
}

/// A token for `email` at `shop`, valid until `issued + VALID_FOR`.
pub fn sign(secret: &[u8], shop: &ShopDomain, email: &EmailAddress, issued: Timestamp) -> String {
    sign_for(Purpose::Unsubscribe, secret, shop, email, issued)
}

/// The claims of a genuine, unexpired unsubscribe token.
pub fn verify(secret: &[u8], token: &str, now: Timestamp) -> Option<Claims> {
    verify_for(Purpose::Unsubscribe, secret, token, now)
}

/// A token for one purpose, valid for that purpose's time from `issued`.
pub fn sign_for(
    purpose: Purpose,
    secret: &[u8],
    shop: &ShopDomain,
    email: &EmailAddress,
    issued: Timestamp,
) -> String {
    let expires = issued
        .checked_add(purpose.valid_for())
        .unwrap_or(Timestamp::MAX);
    let payload = format!("{shop}\n{}\n{}", email.as_str(), expires.as_second());
    format!(
        "{}.{}",
        B64.encode(&payload),
        B64.encode(mac(secret, purpose, payload.as_bytes()))
    )
}

/// The claims of a genuine, unexpired token for `purpose`; `None` for
/// anything else.
pub fn verify_for(purpose: Purpose, secret: &[u8], token: &str, now: Timestamp) -> Option<Claims> {
    let (payload_b64, sig_b64) = token.trim().split_once('.')?;
    let payload = B64.decode(payload_b64).ok()?;
    let sig = B64.decode(sig_b64).ok()?;
    let expected = mac(secret, purpose, &payload);
    if sig.len() != expected.len() || !bool::from(expected.ct_eq(&sig)) {
        return None;
    }
    let text = String::from_utf8(payload).ok()?;
    let mut parts = text.split('\n');
    let shop = ShopDomain::parse(parts.next()?).ok()?;
    let email = EmailAddress::parse(parts.next()?).ok()?;
    let expires = Timestamp::from_second(parts.next()?.parse().ok()?).ok()?;
    if parts.next().is_some() || now > expires {
        return None;
    }
    Some(Claims {
        shop,
        email,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let email = EmailAddress::parse("ana@example.com").unwrap();
        let token = sign(b"secret", &shop, &email, t("2026-11-23T11:00:00Z"));
        let claims = verify(b"secret", &token, t("2027-01-01T00:00:00Z")).unwrap();
        assert_eq!((&claims.shop, &claims.email), (&shop, &email));
        assert!(
            verify(b"secret", &token, t("2027-02-22T00:00:00Z")).is_none(),
            "expired"
        );
        assert!(
            verify(b"other", &token, t("2026-11-24T00:00:00Z")).is_none(),
            "wrong key"
        );
        assert!(verify(b"secret", "", t("2026-11-24T00:00:00Z")).is_none());
        assert!(
            verify_for(
                Purpose::Confirm,
                b"secret",
                &token,
                t("2026-11-24T00:00:00Z")
            )
            .is_none(),
            "an unsubscribe token confirms nothing"
        );
        let confirm = sign_for(
            Purpose::Confirm,
            b"secret",
            &shop,
            &email,
            t("2026-11-23T11:00:00Z"),
        );
        assert!(
            verify_for(
                Purpose::Confirm,
                b"secret",
                &confirm,
                t("2026-11-30T10:00:00Z")
            )
            .is_some()
        );
        assert!(
            verify_for(
                Purpose::Confirm,
                b"secret",
                &confirm,
                t("2026-12-01T00:00:00Z")
            )
            .is_none(),
            "a confirmation link lasts a week"
        );
        assert!(verify(b"secret", &confirm, t("2026-11-24T00:00:00Z")).is_none());
        assert!(verify(b"secret", "a.b", t("2026-11-24T00:00:00Z")).is_none());
    }

    proptest! {
        #[test]
        fn any_tampering_fails(flip in 0usize..200, bit in 0u8..8) {
            let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
            let email = EmailAddress::parse("ana@example.com").unwrap();
            let token = sign(b"secret", &shop, &email, t("2026-11-23T11:00:00Z"));
            let mut bytes = token.into_bytes();
            let i = flip % bytes.len();
            bytes[i] ^= 1 << bit;
            if let Ok(tampered) = String::from_utf8(bytes) {
                // Some flips leave base64 decoding unchanged only in padding
                // bits; those must still decode to the very same claims.
                if let Some(c) = verify(b"secret", &tampered, t("2026-11-24T00:00:00Z")) {
                    prop_assert_eq!(c.email.as_str(), "ana@example.com");
                    prop_assert_eq!(c.shop.as_str(), "demo.myshopify.com");
                }
            }
        }
    }
}
