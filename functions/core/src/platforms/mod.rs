//! Platform payloads to platform events: parsing only, before brands are known.

pub mod generic;
pub mod meta;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::comment::{Attachment, Author, Platform};
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Edited,
    Deleted,
}

/// One comment event as a platform reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformEvent {
    pub platform: Platform,
    /// The brand's account the event is about (Facebook page id, Instagram account id);
    /// for the generic webhook, the source name.
    pub account_id: String,
    pub kind: EventKind,
    pub external_id: String,
    pub thread_id: String,
    pub parent_id: Option<String>,
    pub author: Author,
    /// The comment's words, when it has any (a photo-only comment has none).
    pub text: Option<String>,
    /// A photo, video or sticker the comment carries.
    pub attachment: Option<Attachment>,
    pub created_at: Option<Timestamp>,
    pub permalink: Option<String>,
    pub source: Option<String>,
    /// Written by the brand's own account (a reply of the page, of the Instagram account...).
    pub from_account: bool,
}

/// A change in a delivery that is not a comment event vigie handles; acknowledged and counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub platform: Platform,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub events: Vec<PlatformEvent>,
    pub ignored: Vec<Ignored>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {platform} payload: {reason}")]
pub struct MalformedPayload {
    pub platform: Platform,
    pub reason: String,
}

/// A platform id kept exactly as sent, whether a JSON string or a JSON integer of any size:
/// the integer's digits are read from the raw text, never through a float, so two ids
/// beyond 2^64 that differ stay different.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = <&RawValue>::deserialize(d)?.get();
        let id = if raw.starts_with('"') {
            serde_json::from_str::<String>(raw).map_err(D::Error::custom)?
        } else {
            let digits = raw.strip_prefix('-').unwrap_or(raw);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(D::Error::custom(format!(
                    "an id must be a string or an integer, not {raw}"
                )));
            }
            raw.to_owned()
        };
        if id.trim().is_empty() {
            return Err(D::Error::custom("an id must not be empty"));
        }
        Ok(Id(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Row {
        id: Id,
        #[serde(default)]
        parent: Option<Id>,
    }

    fn id(json: &str) -> Result<String, serde_json::Error> {
        serde_json::from_str::<Row>(json).map(|r| r.id.0)
    }

    #[test]
    fn ids_keep_every_digit_whatever_their_json_type() {
        assert_eq!(
            id(r#"{"id":"17841400000000001"}"#).unwrap(),
            "17841400000000001"
        );
        assert_eq!(
            id(r#"{"id":18446744073709551617}"#).unwrap(),
            "18446744073709551617"
        );
        assert_eq!(
            id(r#"{"id":18446744073709551618}"#).unwrap(),
            "18446744073709551618"
        );
        assert_eq!(
            id(r#"{"id": 123456789012345678901234567890 }"#).unwrap(),
            "123456789012345678901234567890"
        );
        assert_eq!(id(r#"{"id":"5_\u0039"}"#).unwrap(), "5_9");
        let none: Row = serde_json::from_str(r#"{"id":1,"parent":null}"#).unwrap();
        assert_eq!(none.parent, None);
        for bad in [
            r#"{"id":1.5}"#,
            r#"{"id":1e20}"#,
            r#"{"id":" "}"#,
            r#"{"id":true}"#,
            r#"{"id":{}}"#,
        ] {
            assert!(id(bad).is_err(), "{bad}");
        }
    }
}
