//! Link tokens: the sealed, expiring proof carried by every marketing email's
//! List-Unsubscribe URL and footer link, and by double opt-in confirmations.
//! A token is opaque (the shop and address inside are encrypted, so a URL in
//! a proxy log or a forwarded mail names no one), authenticated (without the
//! secret nobody can make or alter one), names the key that sealed it (two
//! secrets are valid during a rotation), and expires. Must never reveal
//! whether an address exists.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
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
    /// The email the link was in, when the token names it.
    pub via: Option<crate::event::MessageRef>,
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

/// The deployment's token secrets: the current one seals, it and the
/// previous one (during a rotation) open. Each is known by a key id derived
/// from the secret itself, so a rotation needs no id to be chosen.
#[derive(Clone)]
pub struct TokenKeys {
    keys: Vec<TokenKey>,
}

#[derive(Clone)]
struct TokenKey {
    id: String,
    secret: Vec<u8>,
    nonce_key: Vec<u8>,
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        write!(f, "TokenKeys({ids:?})")
    }
}

impl TokenKey {
    fn new(secret: &[u8]) -> Self {
        let digest = <Sha256 as sha2::Digest>::digest(secret);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
        derive.update(b"waymark-token-seal-v2");
        let key = derive.finalize().into_bytes();
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
        derive.update(b"waymark-token-nonce-v2");
        let nonce_key = derive.finalize().into_bytes().to_vec();
        Self {
            id,
            secret: secret.to_vec(),
            nonce_key,
            cipher: <ChaCha20Poly1305 as chacha20poly1305::KeyInit>::new(Key::from_slice(&key)),
        }
    }
}

impl TokenKeys {
    /// The current secret, and the previous one while links it sealed are
    /// still out there (at most `VALID_FOR` after the rotation).
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> Self {
        let mut keys = vec![TokenKey::new(current)];
        keys.extend(previous.filter(|p| *p != current).map(TokenKey::new));
        Self { keys }
    }

    /// The id of the key that seals new tokens (logged at start-up, so an
    /// operator can see a rotation happen).
    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }
}

fn mac(secret: &[u8], purpose: Purpose, payload: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts any key length");
    m.update(purpose.domain());
    m.update(payload);
    m.finalize().into_bytes().to_vec()
}

/// An unsubscribe token for `email` at `shop`, valid until `issued + VALID_FOR`.
pub fn sign(
    keys: &TokenKeys,
    shop: &ShopDomain,
    email: &EmailAddress,
    issued: Timestamp,
) -> String {
    sign_for(Purpose::Unsubscribe, keys, shop, email, issued)
}

/// The claims of a genuine, unexpired unsubscribe token.
pub fn verify(keys: &TokenKeys, token: &str, now: Timestamp) -> Option<Claims> {
    verify_for(Purpose::Unsubscribe, keys, token, now)
}

/// A sealed token for one purpose, valid for that purpose's time from
/// `issued`: `v2.<key id>.<nonce and ciphertext, base64url>`. The nonce is
/// derived from the plaintext (so the same claims seal to the same token and
/// no randomness is needed); the purpose is authenticated data.
pub fn sign_for(
    purpose: Purpose,
    keys: &TokenKeys,
    shop: &ShopDomain,
    email: &EmailAddress,
    issued: Timestamp,
) -> String {
    seal(purpose, keys, shop, email, issued, None)
}

/// An unsubscribe token that also names the email it is in (its journey,
/// version and step), so results can count unsubscribes per email.
pub fn sign_via(
    keys: &TokenKeys,
    shop: &ShopDomain,
    email: &EmailAddress,
    issued: Timestamp,
    via: &crate::event::MessageRef,
) -> String {
    seal(Purpose::Unsubscribe, keys, shop, email, issued, Some(via))
}

fn seal(
    purpose: Purpose,
    keys: &TokenKeys,
    shop: &ShopDomain,
    email: &EmailAddress,
    issued: Timestamp,
    via: Option<&crate::event::MessageRef>,
) -> String {
    let key = &keys.keys[0];
    let expires = issued
        .checked_add(purpose.valid_for())
        .unwrap_or(Timestamp::MAX);
    let mut plain = format!("{shop}\n{}\n{}", email.as_str(), expires.as_second());
    if let Some(v) = via {
        plain.push_str(&format!("\n{}\n{}\n{}", v.journey, v.version, v.step));
    }
    // The nonce comes from its own key (not the signature of the first
    // token format, which it would otherwise disclose part of).
    let mut nonce_mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&key.nonce_key).expect("HMAC takes any key");
    nonce_mac.update(purpose.domain());
    nonce_mac.update(plain.as_bytes());
    let nonce = nonce_mac.finalize().into_bytes();
    let nonce = Nonce::from_slice(&nonce[..12]);
    let sealed = key
        .cipher
        .encrypt(
            nonce,
            Payload {
                msg: plain.as_bytes(),
                aad: purpose.domain(),
            },
        )
        .expect("sealing a short message cannot fail");
    let mut bytes = nonce.to_vec();
    bytes.extend(sealed);
    format!("v2.{}.{}", key.id, B64.encode(bytes))
}

/// The claims of a genuine, unexpired token for `purpose`; `None` for
/// anything else. Also opens the signed (readable) tokens sent before
/// tokens were sealed, until they expire.
pub fn verify_for(
    purpose: Purpose,
    keys: &TokenKeys,
    token: &str,
    now: Timestamp,
) -> Option<Claims> {
    let token = token.trim();
    let plain = match token.strip_prefix("v2.") {
        Some(rest) => {
            let (id, sealed) = rest.split_once('.')?;
            let key = keys.keys.iter().find(|k| k.id == id)?;
            let bytes = B64.decode(sealed).ok()?;
            if bytes.len() < 12 {
                return None;
            }
            let (nonce, sealed) = bytes.split_at(12);
            key.cipher
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: purpose.domain(),
                    },
                )
                .ok()?
        }
        None => legacy_payload(purpose, keys, token)?,
    };
    let text = String::from_utf8(plain).ok()?;
    let mut parts = text.split('\n');
    let shop = ShopDomain::parse(parts.next()?).ok()?;
    let email = EmailAddress::parse(parts.next()?).ok()?;
    let expires = Timestamp::from_second(parts.next()?.parse().ok()?).ok()?;
    let via = match parts.next() {
        None => None,
        Some(journey) => Some(crate::event::MessageRef {
            journey: journey.to_string(),
            version: parts.next()?.parse().ok()?,
            step: parts.next()?.to_string(),
        }),
    };
    if parts.next().is_some() || now > expires {
        return None;
    }
    Some(Claims {
        shop,
        email,
        expires,
        via,
    })
}

/// A token of the first format (`<payload>.<signature>`, readable payload),
/// checked against every key; its payload if genuine.
fn legacy_payload(purpose: Purpose, keys: &TokenKeys, token: &str) -> Option<Vec<u8>> {
    let (payload_b64, sig_b64) = token.split_once('.')?;
    let payload = B64.decode(payload_b64).ok()?;
    let sig = B64.decode(sig_b64).ok()?;
    keys.keys.iter().find_map(|k| {
        let expected = mac(&k.secret, purpose, &payload);
        (sig.len() == expected.len() && bool::from(expected.ct_eq(&sig))).then(|| payload.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn keys(secret: &[u8]) -> TokenKeys {
        TokenKeys::new(secret, None)
    }

    #[test]
    fn a_token_can_name_its_email_and_still_names_no_one() {
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let email = EmailAddress::parse("ana@example.com").unwrap();
        let via = crate::event::MessageRef {
            journey: "welcome_series".into(),
            version: 3,
            step: "day_2".into(),
        };
        let token = sign_via(
            &keys(b"secret"),
            &shop,
            &email,
            t("2026-11-23T11:00:00Z"),
            &via,
        );
        assert!(!token.contains("welcome"), "{token}");
        let claims = verify(&keys(b"secret"), &token, t("2026-11-24T00:00:00Z")).unwrap();
        assert_eq!(claims.via, Some(via));
        assert_eq!(claims.email, email);
        let plain = sign(&keys(b"secret"), &shop, &email, t("2026-11-23T11:00:00Z"));
        assert_eq!(
            verify(&keys(b"secret"), &plain, t("2026-11-24T00:00:00Z"))
                .unwrap()
                .via,
            None
        );
    }

    #[test]
    fn a_token_names_no_one_in_the_clear() {
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let email = EmailAddress::parse("ana@example.com").unwrap();
        let token = sign(&keys(b"secret"), &shop, &email, t("2026-11-23T11:00:00Z"));
        assert!(token.starts_with("v2."), "{token}");
        let sealed = token.rsplit('.').next().unwrap();
        let bytes = B64.decode(sealed).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("ana") && !text.contains("demo"), "{text}");
        assert!(!token.contains("YW5h"), "no base64 of the address either");
    }

    #[test]
    fn during_a_rotation_old_and_new_links_work_then_the_old_secret_goes() {
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let email = EmailAddress::parse("ana@example.com").unwrap();
        let at = t("2026-11-23T11:00:00Z");
        let old = sign(&keys(b"old-secret"), &shop, &email, at);
        let rotating = TokenKeys::new(b"new-secret", Some(b"old-secret"));
        let new = sign(&rotating, &shop, &email, at);
        assert_ne!(
            old.split('.').nth(1),
            new.split('.').nth(1),
            "key ids differ"
        );
        assert!(verify(&rotating, &old, at).is_some());
        assert!(verify(&rotating, &new, at).is_some());
        let after = keys(b"new-secret");
        assert!(verify(&after, &old, at).is_none());
        assert!(verify(&after, &new, at).is_some());
    }

    #[test]
    fn links_sent_before_tokens_were_sealed_still_work_until_they_expire() {
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        // Expires 2027-02-21T11:00:00Z.
        let payload = "demo.myshopify.com\nana@example.com\n1803207600";
        let sig = mac(b"secret", Purpose::Unsubscribe, payload.as_bytes());
        let legacy = format!("{}.{}", B64.encode(payload), B64.encode(sig));
        let c = verify(&keys(b"secret"), &legacy, t("2026-12-01T00:00:00Z")).unwrap();
        assert_eq!((c.shop, c.email.as_str()), (shop, "ana@example.com"));
        assert!(verify(&keys(b"other"), &legacy, t("2026-12-01T00:00:00Z")).is_none());
        assert!(verify(&keys(b"secret"), &legacy, t("2027-03-01T00:00:00Z")).is_none());
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let email = EmailAddress::parse("ana@example.com").unwrap();
        let token = sign(&keys(b"secret"), &shop, &email, t("2026-11-23T11:00:00Z"));
        let claims = verify(&keys(b"secret"), &token, t("2027-01-01T00:00:00Z")).unwrap();
        assert_eq!((&claims.shop, &claims.email), (&shop, &email));
        assert!(
            verify(&keys(b"secret"), &token, t("2027-02-22T00:00:00Z")).is_none(),
            "expired"
        );
        assert!(
            verify(&keys(b"other"), &token, t("2026-11-24T00:00:00Z")).is_none(),
            "wrong key"
        );
        assert!(verify(&keys(b"secret"), "", t("2026-11-24T00:00:00Z")).is_none());
        assert!(
            verify_for(
                Purpose::Confirm,
                &keys(b"secret"),
                &token,
                t("2026-11-24T00:00:00Z")
            )
            .is_none(),
            "an unsubscribe token confirms nothing"
        );
        let confirm = sign_for(
            Purpose::Confirm,
            &keys(b"secret"),
            &shop,
            &email,
            t("2026-11-23T11:00:00Z"),
        );
        assert!(
            verify_for(
                Purpose::Confirm,
                &keys(b"secret"),
                &confirm,
                t("2026-11-30T10:00:00Z")
            )
            .is_some()
        );
        assert!(
            verify_for(
                Purpose::Confirm,
                &keys(b"secret"),
                &confirm,
                t("2026-12-01T00:00:00Z")
            )
            .is_none(),
            "a confirmation link lasts a week"
        );
        assert!(verify(&keys(b"secret"), &confirm, t("2026-11-24T00:00:00Z")).is_none());
        assert!(verify(&keys(b"secret"), "a.b", t("2026-11-24T00:00:00Z")).is_none());
    }

    proptest! {
        #[test]
        fn any_tampering_fails(flip in 0usize..200, bit in 0u8..8) {
            let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
            let email = EmailAddress::parse("ana@example.com").unwrap();
            let token = sign(&keys(b"secret"), &shop, &email, t("2026-11-23T11:00:00Z"));
            let mut bytes = token.into_bytes();
            let i = flip % bytes.len();
            bytes[i] ^= 1 << bit;
            if let Ok(tampered) = String::from_utf8(bytes) {
                // Some flips leave base64 decoding unchanged only in padding
                // bits; those must still decode to the very same claims.
                if let Some(c) = verify(&keys(b"secret"), &tampered, t("2026-11-24T00:00:00Z")) {
                    prop_assert_eq!(c.email.as_str(), "ana@example.com");
                    prop_assert_eq!(c.shop.as_str(), "demo.myshopify.com");
                }
            }
        }
    }
}
