//! The JSON bodies of items (comments, drafts, reviews, audit records, brand content), as
//! stored: deflated into a binary `body` when that is smaller, which is nearly always.
//! DynamoDB charges writes by the kilobyte of the whole item, and of each condition check
//! in a transaction: on the cost bench (tests/cost.rs) a triaged comment's item is 1.5 KB,
//! 2.6 KB with its body as text.
//!
//! A string `body` is read as plain JSON: items written before bodies were deflated, and
//! bodies too small to gain from it.

use std::borrow::Cow;
use std::io::{Read, Write};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use vigie_core::ports::StoreError;

/// No body inflates past this: DynamoDB keeps items of 400 KB at most, and JSON deflates
/// by at most about 1:20 here; beyond, the item is corrupt (or hostile).
const MAX_INFLATED: u64 = 16 * 1024 * 1024;

/// The attribute that stores `json`: deflated if that is smaller, else the text.
pub(crate) fn encode(json: String) -> AttributeValue {
    let mut z = DeflateEncoder::new(Vec::with_capacity(json.len() / 2), Compression::best());
    let deflated = z.write_all(json.as_bytes()).and_then(|()| z.finish());
    match deflated {
        Ok(z) if z.len() < json.len() => AttributeValue::B(Blob::new(z)),
        _ => AttributeValue::S(json),
    }
}

/// The JSON text of a stored body (`what` names the item in errors).
pub(crate) fn decode<'a>(
    value: Option<&'a AttributeValue>,
    what: &str,
) -> Result<Cow<'a, str>, StoreError> {
    let corrupt = |why: &str| StoreError::Corrupt(format!("{what}: {why}"));
    match value {
        Some(AttributeValue::S(text)) => Ok(Cow::Borrowed(text)),
        Some(AttributeValue::B(z)) => {
            let mut text = String::new();
            DeflateDecoder::new(z.as_ref())
                .take(MAX_INFLATED + 1)
                .read_to_string(&mut text)
                .map_err(|e| corrupt(&format!("body does not inflate: {e}")))?;
            if text.len() as u64 > MAX_INFLATED {
                return Err(corrupt("body inflates past 16 MB"));
            }
            Ok(Cow::Owned(text))
        }
        _ => Err(corrupt("item without body")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_json_body_is_kept_deflated_and_read_back_whole() {
        let json = serde_json::json!({
            "text": "Ma commande n'est toujours pas arrivée 😡",
            "signals": (0..10).map(|i| serde_json::json!({"signal": "churn", "probability": i as f32 / 7.0, "threshold": 0.35})).collect::<Vec<_>>(),
        })
        .to_string();
        let stored = encode(json.clone());
        let AttributeValue::B(z) = &stored else {
            panic!("not deflated: {stored:?}")
        };
        assert!(
            z.as_ref().len() * 2 < json.len(),
            "{} B of {}",
            z.as_ref().len(),
            json.len()
        );
        assert_eq!(decode(Some(&stored), "comment").unwrap(), json);
    }

    #[test]
    fn a_body_too_small_to_gain_stays_text_and_text_bodies_still_read() {
        let stored = encode("{}".into());
        assert_eq!(stored, AttributeValue::S("{}".into()));
        assert_eq!(decode(Some(&stored), "comment").unwrap(), "{}");
    }

    #[test]
    fn what_does_not_inflate_is_corrupt_not_a_panic() {
        for bad in [
            Some(AttributeValue::B(Blob::new(vec![0xff, 0x00, 0x13]))),
            Some(AttributeValue::N("1".into())),
            None,
        ] {
            assert!(matches!(
                decode(bad.as_ref(), "comment"),
                Err(StoreError::Corrupt(_))
            ));
        }
    }

    #[test]
    fn a_bomb_is_refused() {
        let stored = encode("0".repeat((MAX_INFLATED + 10) as usize));
        let AttributeValue::B(z) = &stored else {
            panic!("not deflated")
        };
        assert!(z.as_ref().len() < 400 * 1024, "it fits in an item");
        assert!(matches!(
            decode(Some(&stored), "comment"),
            Err(StoreError::Corrupt(_))
        ));
    }

    proptest! {
        #[test]
        fn any_text_round_trips(text in ".{0,2000}") {
            let stored = encode(text.clone());
            prop_assert_eq!(decode(Some(&stored), "comment").unwrap(), text);
        }

        #[test]
        fn any_bytes_decode_to_text_or_corrupt(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(Some(&AttributeValue::B(Blob::new(bytes))), "comment");
        }
    }
}
