//! An item's document (`doc`): its value as JSON, stored as a string when
//! short and deflated into a binary attribute when not. DynamoDB bills by
//! the kilobyte, and JSON profiles, runs and messages shrink four- to
//! eightfold, so every write, read and stream record of them costs that
//! much less. Documents written as strings (older items, short ones) are
//! read as before.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// JSON shorter than this stays a string: it fits its kilobyte anyway and
/// stays readable in the console.
pub const COMPRESS_FROM: usize = 512;
/// The first byte of a binary document: its encoding (raw DEFLATE of JSON).
/// Another encoding would take another byte.
const DEFLATE: u8 = 1;
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
    let mut bytes = Vec::with_capacity(json.len() / 4 + 1);
    bytes.push(DEFLATE);
    bytes.extend(miniz_oxide::deflate::compress_to_vec(&json, LEVEL));
    Ok(AttributeValue::B(Blob::new(bytes)))
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
        Some((&other, _)) => Err(DocError::Encoding(other)),
        None => Err(DocError::Encoding(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
    }
}
