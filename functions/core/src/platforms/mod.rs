//! What each platform means, one module per platform: its subscription check, how it signs
//! a delivery's raw bytes, how its payloads read as canonical events and which of them the
//! brand's own account wrote. Everything else (brands, apps, storage, queues) is shared.
//!
//! A [`Source`] is one platform module; [`source`] finds the one serving a platform.
//! Adding a platform is a module here, its `apps` entry in the configuration and its
//! fixtures under `tests/fixtures/webhooks/<platform>/`.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::comment::{Attachment, Author, Platform};
use crate::signature::SignatureError;
use crate::time::Timestamp;

/// A webhook request as a platform module reads it, whatever served it: header names in
/// lower case, the query string's pairs decoded, the body's bytes untouched.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inbound<'a> {
    pub headers: &'a [(&'a str, &'a str)],
    pub query: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl<'a> Inbound<'a> {
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    pub fn query(&self, name: &str) -> Option<&'a str> {
        self.query.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// The secrets of one platform app, resolved: what signs its deliveries and answers its
/// subscription checks.
#[derive(Clone)]
pub struct AppKeys {
    /// Meta's app secret, X's consumer secret, LinkedIn's and TikTok's client secret, the
    /// generic webhook's brand secret.
    pub secret: Vec<u8>,
    /// Meta's verify token.
    pub verify_token: Option<String>,
    /// How old a signed timestamp may be (TikTok, generic).
    pub tolerance_seconds: i64,
    /// What checks a Pub/Sub push's token (Google).
    pub push: Option<std::sync::Arc<google::PushAuth>>,
}

impl AppKeys {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            secret: secret.into(),
            verify_token: None,
            tolerance_seconds: DEFAULT_TOLERANCE_SECONDS,
            push: None,
        }
    }

    pub fn with_verify_token(mut self, token: impl Into<String>) -> Self {
        self.verify_token = Some(token.into());
        self
    }
}

impl std::fmt::Debug for AppKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppKeys").finish_non_exhaustive()
    }
}

/// How far a signed timestamp may be from now when the app does not say.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

/// The answer to a subscription check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub fn text(body: impl Into<String>) -> Self {
        Self {
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    pub fn json(value: &serde_json::Value) -> Self {
        Self {
            content_type: "application/json",
            body: value.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("hub.mode must be subscribe")]
    Mode,
    #[error("the verify token does not match")]
    Token,
    #[error("the {0} query parameter is missing")]
    Missing(&'static str),
    #[error("{0} has no subscription check")]
    Unsupported(Platform),
    #[error("{0} webhooks are not configured")]
    NotConfigured(Platform),
    #[error("several {0} apps are configured: name one in the path, /webhooks/{0}/<app>")]
    Ambiguous(Platform),
    #[error("no app of this platform is named {0:?}")]
    UnknownApp(String),
}

/// One platform's webhook rules. Implementations hold no state: the app's keys come in.
pub trait Source: Send + Sync {
    /// The name of its apps' `platform` in the configuration (`meta` for Facebook and
    /// Instagram, which one Meta app serves).
    fn name(&self) -> &'static str;
    /// The platforms whose webhooks it reads.
    fn platforms(&self) -> &'static [Platform];
    /// Whether the platform sends webhooks at all (YouTube and Reddit are only polled).
    fn pushes(&self) -> bool {
        true
    }
    /// Whether the platform checks a subscription with a GET first.
    fn has_handshake(&self) -> bool {
        false
    }
    /// Answers the platform's subscription check, when it [has one](Self::has_handshake).
    fn handshake(&self, keys: &AppKeys, req: &Inbound<'_>) -> Result<Reply, HandshakeError> {
        let _ = (keys, req);
        Err(HandshakeError::Unsupported(self.platforms()[0]))
    }
    /// Whether a handshake names the app it is for (Meta's verify token does): then each
    /// app may be tried in turn; otherwise the path must name the app when there are several.
    fn handshake_identifies_app(&self) -> bool {
        false
    }
    /// Authenticates a delivery on its raw bytes, in constant time.
    fn verify(
        &self,
        keys: &AppKeys,
        req: &Inbound<'_>,
        now: Timestamp,
    ) -> Result<(), SignatureError>;
    /// The headers the platform would send with this body: the sender's side, for replays,
    /// fixtures and tests.
    fn sign(&self, keys: &AppKeys, body: &[u8], at: Timestamp) -> Vec<(&'static str, String)>;
    /// Reads a delivery into canonical events. Only a body that is not this platform's at
    /// all is an error; what vigie does not handle is ignored and counted.
    fn parse(&self, platform: Platform, body: &[u8]) -> Result<Parsed, MalformedPayload>;
    /// Checks an account id a brand claims on `platform` in the configuration.
    fn check_account(&self, platform: Platform, id: &str) -> Result<(), &'static str> {
        let _ = platform;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            Err("must be the platform's numeric id")
        } else {
            Ok(())
        }
    }
}

/// The `Source` of a platform vigie only reads on a schedule: it sends no webhooks, so
/// nothing of a delivery verifies or parses; only its account ids are checked.
macro_rules! polled_source {
    ($ty:ident, $name:literal, $platform:expr, $check:expr) => {
        impl $crate::platforms::Source for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn platforms(&self) -> &'static [$crate::comment::Platform] {
                &[$platform]
            }

            fn pushes(&self) -> bool {
                false
            }

            fn verify(
                &self,
                _: &$crate::platforms::AppKeys,
                _: &$crate::platforms::Inbound<'_>,
                _: $crate::time::Timestamp,
            ) -> Result<(), $crate::signature::SignatureError> {
                Err($crate::signature::SignatureError::Missing("signature"))
            }

            fn sign(
                &self,
                _: &$crate::platforms::AppKeys,
                _: &[u8],
                _: $crate::time::Timestamp,
            ) -> Vec<(&'static str, String)> {
                Vec::new()
            }

            fn parse(
                &self,
                platform: $crate::comment::Platform,
                _: &[u8],
            ) -> Result<$crate::platforms::Parsed, $crate::platforms::MalformedPayload> {
                Err($crate::platforms::MalformedPayload {
                    platform,
                    reason: format!("{platform} has no webhooks: its comments are polled"),
                })
            }

            fn check_account(
                &self,
                _: $crate::comment::Platform,
                id: &str,
            ) -> Result<(), &'static str> {
                $check(id)
            }
        }
    };
}
pub(crate) use polled_source;

pub mod generic;
pub mod google;
pub mod linkedin;
pub mod meta;
pub mod reddit;
pub mod tiktok;
pub mod x;
pub mod youtube;

impl std::fmt::Debug for dyn Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every platform module.
pub const SOURCES: [&dyn Source; 8] = [
    &meta::Meta,
    &x::X,
    &linkedin::LinkedIn,
    &tiktok::TikTok,
    &google::Google,
    &youtube::YouTube,
    &reddit::Reddit,
    &generic::Generic,
];

/// The module that reads a platform's webhooks.
pub fn source(platform: Platform) -> &'static dyn Source {
    SOURCES
        .into_iter()
        .find(|s| s.platforms().contains(&platform))
        .expect("every platform has its module")
}

/// The module whose apps are named `name` in the configuration.
pub fn source_named(name: &str) -> Option<&'static dyn Source> {
    SOURCES.into_iter().find(|s| s.name() == name)
}

/// The thread a private conversation with `user` is kept under, apart from posts and media.
pub fn conversation(user: &str) -> String {
    format!("dm:{user}")
}

/// Parses a unix time in seconds, as a number or a string of digits, or an RFC 3339 time.
pub(crate) fn unix_time(v: Option<&serde_json::Value>) -> Option<Timestamp> {
    use serde_json::Value;
    match v? {
        Value::Number(n) => n.as_i64().and_then(Timestamp::checked_unix_seconds),
        Value::String(s) => s
            .parse::<i64>()
            .ok()
            .and_then(Timestamp::checked_unix_seconds)
            .or_else(|| Timestamp::parse_rfc3339(s)),
        _ => None,
    }
}

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
    /// A private message (a conversation with the brand), not a public comment.
    pub private: bool,
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
    /// Comments the delivery names without their words (an Instagram mention, a TikTok
    /// comment event without text): the poll function reads them.
    pub reads: Vec<ReadLater>,
}

/// A comment to read from the platform's API by id: a page of the platform module's
/// read side ([`Pull`](crate::poll::Pull)), asked by the account it was delivered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadLater {
    pub platform: Platform,
    pub account_id: String,
    pub page: String,
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
