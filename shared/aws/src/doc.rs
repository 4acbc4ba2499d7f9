//! An item's document (`doc`): its value as JSON, stored as a string when
//! short and deflated into a binary attribute when not. DynamoDB bills by
//! the kilobyte, and JSON profiles, runs and messages shrink four- to
//! eightfold, so every write, read and stream record of them costs that
//! much less. Documents written as strings (older items, short ones) are
//! read as before.
//!
//! Deflate starts from a preset dictionary (`doc_dictionary_1.txt`): the
//! shapes of the documents the table stores (an event, a message, a run,
//! the lists, a profile), with every value blanked. A document's field
//! names and punctuation then cost a few bytes each instead of their
//! first spelling, which is most of a small document: a profile's hot item
//! is about a quarter smaller, a run about half. The dictionary is part of
//! the stored format: it never changes; a better one would be encoding 3.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// JSON shorter than this stays a string: it fits its kilobyte anyway and
/// stays readable in the console.
pub const COMPRESS_FROM: usize = 512;
/// The first byte of a binary document: its encoding. Raw DEFLATE of the
/// JSON (written before the dictionary, still read)…
const DEFLATE: u8 = 1;
/// …and raw DEFLATE from the preset dictionary `DICTIONARY_1`.
const DEFLATE_DICTIONARY_1: u8 = 2;
/// Never edited: documents written with it are read with it.
static DICTIONARY_1: &[u8] = include_bytes!("doc_dictionary_1.txt");
/// A document never inflates past this (an item is at most 400 KB; JSON
/// deflates far less than 20×): a corrupt or hostile blob cannot exhaust
/// memory.
const MAX_INFLATED: usize = 8 * 1024 * 1024;
/// Fast and still close to the best ratio on JSON of this size.
const LEVEL: u8 = 4;

#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("not JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("a binary document of unknown encoding {0}")]
    Encoding(u8),
    #[error("a binary document that does not inflate: {0}")]
    Inflate(String),
    #[error("the document is neither a string nor binary")]
    Kind,
}

/// The attribute value a document is stored as.
pub fn encode<T: Serialize>(value: &T) -> Result<AttributeValue, serde_json::Error> {
    let json = serde_json::to_vec(value)?;
    if json.len() < COMPRESS_FROM {
        let text = String::from_utf8(json).expect("serde_json writes UTF-8");
        return Ok(AttributeValue::S(text));
    }
    Ok(AttributeValue::B(Blob::new(deflate(&json))))
}

/// The encoding byte and the JSON deflated from the dictionary.
fn deflate(json: &[u8]) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    let mut c = Compress::new(Compression::new(u32::from(LEVEL)), false);
    c.set_dictionary(DICTIONARY_1)
        .expect("a fresh raw stream takes a dictionary");
    let mut out = Vec::with_capacity(json.len() / 3 + 64);
    out.push(DEFLATE_DICTIONARY_1);
    loop {
        let read = usize::try_from(c.total_in()).unwrap_or(json.len());
        match c.compress_vec(&json[read..], &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return out,
            // Out of room: more, and go on.
            Ok(_) => out.reserve(out.capacity().max(256)),
            Err(e) => unreachable!("deflating from memory into memory cannot fail: {e}"),
        }
    }
}

/// JSON inflated from the dictionary, at most `MAX_INFLATED` bytes.
fn inflate(deflated: &[u8]) -> Result<Vec<u8>, DocError> {
    use flate2::{Decompress, FlushDecompress, Status};
    let mut d = Decompress::new(false);
    d.set_dictionary(DICTIONARY_1)
        .map_err(|e| DocError::Inflate(e.to_string()))?;
    let mut out = Vec::with_capacity(deflated.len() * 4 + 64);
    loop {
        let (read, written) = (d.total_in(), d.total_out());
        let at = usize::try_from(read).unwrap_or(deflated.len());
        let status = d
            .decompress_vec(&deflated[at..], &mut out, FlushDecompress::Finish)
            .map_err(|e| DocError::Inflate(e.to_string()))?;
        if out.len() > MAX_INFLATED {
            return Err(DocError::Inflate("larger than any item".into()));
        }
        if status == Status::StreamEnd {
            return Ok(out);
        }
        let progressed = d.total_in() != read || d.total_out() != written;
        if !progressed && out.len() < out.capacity() {
            return Err(DocError::Inflate("truncated".into()));
        }
        // Room for more, never past the limit (and one byte over it).
        let room = MAX_INFLATED + 1 - out.len();
        out.reserve_exact(out.capacity().max(256).min(room));
    }
}

/// A document from its attribute value (string or binary).
pub fn decode<T: DeserializeOwned>(value: &AttributeValue) -> Result<T, DocError> {
    match value {
        AttributeValue::S(text) => Ok(serde_json::from_str(text)?),
        AttributeValue::B(blob) => decode_binary(blob.as_ref()),
        _ => Err(DocError::Kind),
    }
}

/// A binary document's bytes (a stream record carries them base64-encoded).
pub fn decode_binary<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DocError> {
    match bytes.split_first() {
        Some((&DEFLATE, deflated)) => {
            let json = miniz_oxide::inflate::decompress_to_vec_with_limit(deflated, MAX_INFLATED)
                .map_err(|e| DocError::Inflate(format!("{:?}", e.status)))?;
            Ok(serde_json::from_slice(&json)?)
        }
        Some((&DEFLATE_DICTIONARY_1, deflated)) => Ok(serde_json::from_slice(&inflate(deflated)?)?),
        Some((&other, _)) => Err(DocError::Encoding(other)),
        None => Err(DocError::Encoding(0)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Varied numbers (xorshift), fixed from run to run: test data like
    /// real data, since repeated text would deflate too well.
    pub(crate) fn varied() -> impl FnMut() -> u64 {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Doc {
        name: String,
        days: Vec<u32>,
    }

    fn doc(days: u32) -> Doc {
        Doc {
            name: "Ana".into(),
            days: (0..days).collect(),
        }
    }

    #[test]
    fn short_documents_stay_strings_and_long_ones_are_deflated_and_read_back() {
        let short = encode(&doc(3)).unwrap();
        assert!(short.is_s());
        assert_eq!(decode::<Doc>(&short).unwrap(), doc(3));
        let long = encode(&doc(2000)).unwrap();
        let AttributeValue::B(blob) = &long else {
            panic!("a long document is binary: {long:?}");
        };
        let json = serde_json::to_vec(&doc(2000)).unwrap();
        assert!(blob.as_ref().len() * 2 < json.len(), "it is smaller");
        assert_eq!(decode::<Doc>(&long).unwrap(), doc(2000));
    }

    #[test]
    fn documents_written_as_json_strings_by_earlier_versions_are_read() {
        let old = AttributeValue::S(serde_json::to_string(&doc(500)).unwrap());
        assert_eq!(decode::<Doc>(&old).unwrap(), doc(500));
        // Deflated without the dictionary, as before it.
        let json = serde_json::to_vec(&doc(2000)).unwrap();
        let mut before = vec![DEFLATE];
        before.extend(miniz_oxide::deflate::compress_to_vec(&json, LEVEL));
        assert_eq!(decode_binary::<Doc>(&before).unwrap(), doc(2000));
    }

    /// The dictionary holds the shapes of stored documents: a profile's
    /// field names cost next to nothing.
    #[test]
    fn the_dictionary_makes_a_profile_smaller_than_deflate_alone() {
        let shop = waymark_core::ids::ShopDomain::parse("a-shop.myshopify.com").unwrap();
        let at: jiff::Timestamp = "2026-05-01T10:00:00Z".parse().unwrap();
        let mut c = waymark_core::contact::Contact::new(
            waymark_core::ids::ContactId::for_customer(42),
            shop,
            at,
        );
        c.identity.email = Some(waymark_core::ids::EmailAddress::parse("kim@example.org").unwrap());
        c.marketing.consent = Some(waymark_core::contact::Consent {
            subscribed: true,
            source: waymark_core::contact::ConsentSource::SignupForm,
            at,
        });
        for d in 0..20 {
            c.audience.activity.add(
                "page_viewed",
                at + jiff::SignedDuration::from_hours(24 * d),
                0,
            );
        }
        let json = serde_json::to_vec(&c).unwrap();
        let AttributeValue::B(blob) = encode(&c).unwrap() else {
            panic!("a profile is deflated");
        };
        let plain = miniz_oxide::deflate::compress_to_vec(&json, LEVEL).len() + 1;
        let with = blob.as_ref().len();
        assert!(
            with * 10 < plain * 9,
            "{with} B with the dictionary, {plain} B without"
        );
        let back: waymark_core::contact::Contact = decode(&AttributeValue::B(blob)).unwrap();
        assert_eq!(serde_json::to_vec(&back).unwrap(), json);
    }

    #[test]
    fn a_document_of_any_size_goes_through() {
        let mut random = varied();
        for n in [0usize, 1, 100, 5_000, 300_000] {
            let d = Doc {
                name: (0..n / 8).map(|_| format!("{:x}", random())).collect(),
                days: (0..n as u32 / 4).collect(),
            };
            let stored = encode(&d).unwrap();
            assert_eq!(decode::<Doc>(&stored).unwrap(), d, "{n}");
        }
    }

    #[test]
    fn corrupt_and_unknown_binary_documents_are_errors_not_panics() {
        assert!(matches!(
            decode_binary::<Doc>(&[9, 1, 2]),
            Err(DocError::Encoding(9))
        ));
        assert!(matches!(
            decode_binary::<Doc>(&[DEFLATE, 0xff, 0xff, 0xff]),
            Err(DocError::Inflate(_))
        ));
        assert!(matches!(
            decode_binary::<Doc>(&[DEFLATE_DICTIONARY_1, 0xff, 0xff, 0xff]),
            Err(DocError::Inflate(_))
        ));
        // Cut short: an error, not a loop.
        let AttributeValue::B(whole) = encode(&doc(2000)).unwrap() else {
            panic!("binary");
        };
        let cut = &whole.as_ref()[..whole.as_ref().len() / 2];
        assert!(matches!(
            decode_binary::<Doc>(cut),
            Err(DocError::Inflate(_))
        ));
        assert!(decode_binary::<Doc>(&[]).is_err());
        assert!(matches!(
            decode::<Doc>(&AttributeValue::N("1".into())),
            Err(DocError::Kind)
        ));
    }

    #[test]
    fn a_deflate_bomb_stops_at_the_limit() {
        let zeros = vec![b' '; MAX_INFLATED + 1024];
        let mut bomb = vec![DEFLATE];
        bomb.extend(miniz_oxide::deflate::compress_to_vec(&zeros, 6));
        assert!(matches!(
            decode_binary::<Doc>(&bomb),
            Err(DocError::Inflate(_))
        ));
        assert!(matches!(
            decode_binary::<Doc>(&deflate(&zeros)),
            Err(DocError::Inflate(_))
        ));
    }

    /// A profile after a year of heavy activity, every list at its bound
    /// (48 activity counters on each of 365 days, products, coupons,
    /// attributions, journey history, browsers and Shopify's 250 tags):
    /// what is stored stays far below DynamoDB's 400 KB item limit.
    #[test]
    fn a_profile_at_every_bound_stays_far_below_the_item_limit() {
        use std::sync::Arc;
        use waymark_core::contact::{Contact, Seen};
        use waymark_core::ids::{ContactId, ShopDomain};
        use waymark_core::money::Money;
        let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let day = |d: i64| t0 + jiff::SignedDuration::from_hours(24 * d);
        let shop = ShopDomain::parse("demo.myshopify.com").unwrap();
        let mut c = Contact::new(ContactId::for_customer(7), shop, t0);
        let mut random = varied();
        for d in 0..365 {
            for k in 0..60 {
                let key = format!("product_viewed:category-number-{k}");
                for _ in 0..=random() % 3 {
                    c.audience
                        .activity
                        .add(&key, day(d), (random() % 100_000) as i64);
                }
            }
        }
        assert_eq!(c.audience.activity.keys(), waymark_core::activity::MAX_KEYS);
        let mut long = |what: &str, n: usize| -> Option<Arc<str>> {
            let text: String = (0..n / 16).map(|_| format!("{:016x}", random())).collect();
            Some(Arc::from(
                format!("https://shop.example/{what}/{text}").as_str(),
            ))
        };
        for i in 0..200 {
            let seen = Seen {
                product_id: Some(i),
                title: long("title", 200),
                category: long("category", 60),
                price: Some(Money::parse("19.99", "EUR").unwrap()),
                url: long("products", 200),
                image: long("images", 200),
                at: day(i as i64),
            };
            c.commerce.viewed.push(seen.clone());
            c.commerce.bought.push(seen);
        }
        c.commerce
            .viewed
            .truncate(waymark_core::contact::VIEWED_KEPT);
        c.commerce.bought.truncate(50);
        for i in 0..400u32 {
            c.history.record(
                &format!("journey_{}", i % 40),
                &format!("order:{i}"),
                0,
                day(i64::from(i)),
            );
            c.identity
                .anonymous_ids
                .push(format!("anon-{:016x}{:016x}", random(), random()));
            c.audience
                .tags
                .insert(format!("shopify-tag-{:016x}{:016x}", random(), random()));
        }
        c.identity.anonymous_ids.truncate(50);
        while c.audience.tags.len() > 250 {
            let last = c.audience.tags.iter().next_back().cloned().unwrap();
            c.audience.tags.remove(&last);
        }
        c.audience.store_tags = c.audience.tags.clone();
        let json = serde_json::to_vec(&c).unwrap();
        let AttributeValue::B(blob) = encode(&c).unwrap() else {
            panic!("a large profile is deflated");
        };
        let stored = blob.as_ref().len();
        println!(
            "a profile at every bound: JSON {} bytes, stored {stored} bytes",
            json.len()
        );
        assert!(
            stored < 100 * 1024,
            "stored {stored} bytes (JSON {} bytes)",
            json.len()
        );
        assert_eq!(decode_binary::<Contact>(blob.as_ref()).unwrap(), c);
    }
}
