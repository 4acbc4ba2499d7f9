//! Identifier newtypes that can only be built valid, so raw strings never
//! travel past the edge. Keys built from them can never mix two shops' data.

use serde::{Deserialize, Serialize};
use std::fmt;

pub use crate::recent_events::RecentEvents;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("shop domain `{0}` is not a valid host name (expected e.g. `example.myshopify.com`)")]
    Shop(String),
    #[error("`{0}` is not a valid email address")]
    Email(String),
    #[error("contact id `{0}` is not valid")]
    Contact(String),
}

/// A shop's canonical domain, e.g. `example.myshopify.com`, lower-cased.
/// Shared text: every contact, event and message of a shop holds the same
/// domain, so a copy is a reference count, not an allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ShopDomain(std::sync::Arc<str>);

impl ShopDomain {
    /// Accepts a DNS host name: labels of ASCII letters, digits and hyphens.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let domain = raw.trim().to_ascii_lowercase();
        let valid_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if domain.len() > 253 || !domain.contains('.') || !domain.split('.').all(valid_label) {
            return Err(IdError::Shop(raw.to_string()));
        }
        Ok(Self(domain.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ShopDomain {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ShopDomain> for String {
    fn from(value: ShopDomain) -> Self {
        value.0.to_string()
    }
}

impl fmt::Display for ShopDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `text.to_lowercase()`, borrowed when the text already is (no allocation
/// on the hot path, where it nearly always is).
pub fn lowercase(text: &str) -> std::borrow::Cow<'_, str> {
    let unchanged = |c: char| {
        let mut l = c.to_lowercase();
        l.next() == Some(c) && l.next().is_none()
    };
    if text.chars().all(unchanged) {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(text.to_lowercase())
    }
}

/// An email address, trimmed, with its domain lower-cased. Deliberately
/// permissive about the local part (what SES accepts), strict about shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let trimmed = raw.trim();
        let err = || IdError::Email(raw.to_string());
        let (local, domain) = trimmed.rsplit_once('@').ok_or_else(err)?;
        let bad_char = |c: char| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c);
        if local.is_empty()
            || local.len() > 64
            || local.chars().any(bad_char)
            || local.contains('@')
            || ShopDomain::parse(domain).is_err()
        {
            return Err(err());
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used to find a contact by email: the whole address
    /// lower-cased (borrowed when it already is).
    pub fn lookup_key(&self) -> std::borrow::Cow<'_, str> {
        lowercase(&self.0)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Waymark's id for one person in one shop. Derived deterministically from
/// the first identity seen (`cust-<id>` or `email-<hash>`), so redelivered
/// events resolve to the same contact without coordination.
///
/// Held inline (at most [`ContactId::MAX_LEN`] ASCII bytes): ids are copied
/// and compared on every event, and an inline id costs no allocation and
/// no pointer to follow.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContactId {
    len: u8,
    bytes: [u8; ContactId::MAX_LEN],
}

impl PartialEq for ContactId {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl Eq for ContactId {}

impl std::hash::Hash for ContactId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text().hash(state)
    }
}

impl PartialOrd for ContactId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ContactId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text().cmp(other.text())
    }
}

impl fmt::Debug for ContactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ContactId").field(&self.as_str()).finish()
    }
}

impl ContactId {
    /// The longest id.
    pub const MAX_LEN: usize = 64;

    /// From text the constructors made (short ASCII by construction).
    fn inline(text: &str) -> Self {
        debug_assert!(text.len() <= Self::MAX_LEN && text.is_ascii());
        let mut bytes = [0u8; Self::MAX_LEN];
        let len = text.len().min(Self::MAX_LEN);
        bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
        Self {
            len: len as u8,
            bytes,
        }
    }

    pub fn for_customer(customer_id: u64) -> Self {
        Self::inline(&format!("cust-{customer_id}"))
    }

    pub fn for_email(email: &EmailAddress) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(email.lookup_key().as_bytes());
        let hex: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
        Self::inline(&format!("email-{hex}"))
    }

    /// A storefront visitor known only by the browser's anonymous id.
    pub fn for_anonymous(anonymous_id: &str) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(anonymous_id.as_bytes());
        let hex: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
        Self::inline(&format!("anon-{hex}"))
    }

    /// Whether the contact is an anonymous visitor's (no identity yet).
    pub fn is_anonymous(&self) -> bool {
        self.as_str().starts_with("anon-")
    }

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self::inline(raw))
        } else {
            Err(IdError::Contact(raw.to_string()))
        }
    }

    /// The id's bytes (ASCII; byte order is text order).
    fn text(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.text()).unwrap_or_default()
    }
}

impl TryFrom<String> for ContactId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ContactId> for String {
    fn from(value: ContactId) -> Self {
        value.as_str().to_string()
    }
}

impl fmt::Display for ContactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stable id made of `parts`: the first 16 bytes of SHA-256 over them
/// (each NUL-terminated, so no two lists of parts run together), in hex.
pub(crate) fn hashed_id(parts: &[&str]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_domains_are_lowercased_and_checked() {
        assert_eq!(
            ShopDomain::parse("Demo.MyShopify.com").unwrap().as_str(),
            "demo.myshopify.com"
        );
        assert!(ShopDomain::parse("no_dots").is_err());
        assert!(ShopDomain::parse("bad..example.com").is_err());
        assert!(ShopDomain::parse("evil.com/../x").is_err());
    }

    #[test]
    fn emails_keep_local_part_and_lowercase_domain() {
        let e = EmailAddress::parse(" Ana.Silva@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Ana.Silva@example.com");
        assert_eq!(e.lookup_key(), "ana.silva@example.com");
        assert!(EmailAddress::parse("no-at-sign").is_err());
        assert!(EmailAddress::parse("a b@example.com").is_err());
        assert!(EmailAddress::parse("a@b@example.com").is_err());
        assert!(EmailAddress::parse("x@localhost").is_err());
    }

    #[test]
    fn contact_ids_are_deterministic() {
        let a = EmailAddress::parse("ana@example.com").unwrap();
        let b = EmailAddress::parse("ANA@example.com").unwrap();
        assert_eq!(ContactId::for_email(&a), ContactId::for_email(&b));
        assert_eq!(ContactId::for_customer(42).as_str(), "cust-42");
        assert!(ContactId::parse("x#y").is_err());
    }
}
