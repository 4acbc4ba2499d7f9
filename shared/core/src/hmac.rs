//! Shopify webhook signatures: HMAC-SHA256 over the raw body, base64, compared
//! in constant time. Must never parse or trust the body before this passes.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The base64 HMAC-SHA256 Shopify puts in `X-Shopify-Hmac-Sha256`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// True when `header` is the body's signature under `secret`. A missing,
/// malformed or wrong header is simply false; timing does not reveal which.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(header) = header else {
        return false;
    };
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(header.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    given.len() == expected.len() && bool::from(expected.as_slice().ct_eq(&given))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2, base64 of
        // 5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843.
        let sig = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(sig, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
        assert!(verify(b"Jefe", b"what do ya want for nothing?", Some(&sig)));
    }

    #[test]
    fn rejects_missing_malformed_and_wrong() {
        let body = br#"{"id":1}"#;
        assert!(!verify(b"k", body, None));
        assert!(!verify(b"k", body, Some("not base64!")));
        assert!(!verify(b"k", body, Some("")));
        assert!(!verify(b"k", body, Some(&sign(b"other", body))));
        assert!(verify(b"k", body, Some(&sign(b"k", body))));
    }

    proptest! {
        #[test]
        fn any_change_to_the_body_breaks_the_signature(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 0..256),
            flip in any::<usize>(),
        ) {
            let sig = sign(&secret, &body);
            prop_assert!(verify(&secret, &body, Some(&sig)));
            if !body.is_empty() {
                let mut tampered = body.clone();
                let i = flip % tampered.len();
                tampered[i] ^= 0x01;
                prop_assert!(!verify(&secret, &tampered, Some(&sig)));
            }
        }
    }
}
