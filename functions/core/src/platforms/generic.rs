//! The generic signed webhook, for any source without a dedicated parser.
//!
//! `POST /webhooks/generic` with `X-Vigie-Brand: <brand id>`, `X-Vigie-Signature:
//! t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body with the brand's secret>` and a body
//! `{"source": "trustpilot", "events": [{"type": "comment.created" | "comment.edited" |
//! "comment.deleted", "id", "thread_id", "parent_id"?, "author": {"id", "name"?,
//! "followers"?, "is_brand"?}, "text"?, "attachment"? {"kind", "url"?}, "created_at"?
//! (RFC 3339), "permalink"?}]}`; a created or edited event needs a text, an attachment or
//! both. Ids may be strings or integers (kept exact). See docs/webhooks.md.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    AppKeys, EventKind, Id, Ignored, Inbound, MalformedPayload, Parsed, PlatformEvent, Source,
};
use crate::comment::{Attachment, Author, Platform};
use crate::signature::{SignatureError, sign_timestamped, verify_timestamped};
use crate::time::Timestamp;

/// Any other source, signed with a brand's own secret; `X-Vigie-Brand` names the brand,
/// whose secret is the app's key.
pub struct Generic;

pub const SIGNATURE_HEADER: &str = "x-vigie-signature";
pub const BRAND_HEADER: &str = "x-vigie-brand";

/// The header value a sender of the generic webhook computes.
pub fn signature(secret: &[u8], body: &[u8], at: Timestamp) -> String {
    sign_timestamped("v1", secret, body, at)
}

impl Source for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn platforms(&self) -> &'static [Platform] {
        &[Platform::Generic]
    }

    fn verify(
        &self,
        keys: &AppKeys,
        req: &Inbound<'_>,
        now: Timestamp,
    ) -> Result<(), SignatureError> {
        verify_timestamped(
            req.header(SIGNATURE_HEADER),
            SIGNATURE_HEADER,
            "v1",
            &keys.secret,
            req.body,
            now,
            keys.tolerance_seconds,
        )
    }

    fn sign(&self, keys: &AppKeys, body: &[u8], at: Timestamp) -> Vec<(&'static str, String)> {
        vec![(SIGNATURE_HEADER, signature(&keys.secret, body, at))]
    }

    fn parse(&self, _platform: Platform, body: &[u8]) -> Result<Parsed, MalformedPayload> {
        parse(body)
    }

    /// A generic source's name (`trustpilot`).
    fn check_account(&self, _platform: Platform, id: &str) -> Result<(), &'static str> {
        if id.trim().is_empty() || id.len() > 64 {
            Err("must be 1-64 characters")
        } else {
            Ok(())
        }
    }
}

#[derive(Deserialize)]
struct Delivery<'a> {
    source: String,
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    id: Id,
    thread_id: Id,
    #[serde(default)]
    parent_id: Option<Id>,
    author: GenericAuthor,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    attachment: Option<Attachment>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    permalink: Option<String>,
}

#[derive(Deserialize)]
struct GenericAuthor {
    id: Id,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    followers: Option<u64>,
    /// The brand's own account wrote it (a reply): stored, never classified.
    #[serde(default)]
    is_brand: bool,
}

pub fn parse(body: &[u8]) -> Result<Parsed, MalformedPayload> {
    let malformed = |reason: String| MalformedPayload {
        platform: Platform::Generic,
        reason,
    };
    let delivery: Delivery = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let source = delivery.source.trim();
    if source.is_empty() || source.len() > 64 {
        return Err(malformed("source must be 1-64 characters".into()));
    }
    let mut parsed = Parsed::default();
    for (i, raw) in delivery.events.into_iter().enumerate() {
        let ignore = |reason: String| Ignored {
            platform: Platform::Generic,
            reason: format!("event {i}: {reason}"),
        };
        let event: Event = match serde_json::from_str(raw.get()) {
            Ok(e) => e,
            Err(e) => {
                parsed.ignored.push(ignore(e.to_string()));
                continue;
            }
        };
        let kind = match event.kind.as_str() {
            "comment.created" => EventKind::Created,
            "comment.edited" => EventKind::Edited,
            "comment.deleted" => EventKind::Deleted,
            other => {
                parsed.ignored.push(ignore(format!("type {other:?}")));
                continue;
            }
        };
        let text = event.text.filter(|t| !t.trim().is_empty());
        if kind != EventKind::Deleted && text.is_none() && event.attachment.is_none() {
            parsed
                .ignored
                .push(ignore("neither text nor attachment".into()));
            continue;
        }
        parsed.events.push(PlatformEvent {
            platform: Platform::Generic,
            account_id: source.to_owned(),
            kind,
            external_id: event.id.0,
            thread_id: event.thread_id.0,
            parent_id: event.parent_id.map(|p| p.0),
            author: Author {
                id: event.author.id.0,
                name: event.author.name,
                followers: event.author.followers,
            },
            text,
            attachment: event.attachment,
            created_at: event
                .created_at
                .as_deref()
                .and_then(Timestamp::parse_rfc3339),
            permalink: event.permalink,
            source: Some(source.to_owned()),
            from_account: event.author.is_brand,
            private: false,
        });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_and_ignores_unknown_ones() {
        let body = r#"{"source":"trustpilot","events":[
          {"type":"comment.created","id":"r1","thread_id":"shop","author":{"id":"u1","name":"Ana","followers":1200},
           "text":"Service lamentable","created_at":"2026-11-25T10:00:00Z"},
          {"type":"comment.liked","id":"r2","thread_id":"shop","author":{"id":"u2"}},
          {"type":"comment.created","id":"r3","thread_id":"shop","author":{"id":"u3"},"text":"  "}
        ]}"#;
        let parsed = parse(body.as_bytes()).unwrap();
        assert_eq!(parsed.events.len(), 1);
        assert_eq!(parsed.events[0].source.as_deref(), Some("trustpilot"));
        assert_eq!(parsed.events[0].author.followers, Some(1200));
        assert_eq!(parsed.ignored.len(), 2);
    }

    #[test]
    fn attachments_and_numeric_ids_come_through() {
        let body = r#"{"source":"trustpilot","events":[
          {"type":"comment.created","id":18446744073709551617,"thread_id":"shop","author":{"id":42},
           "attachment":{"kind":"photo","url":"https://cdn.example/p.jpg"}},
          {"type":"comment.created","id":18446744073709551618,"thread_id":"shop","author":{"id":42},"text":"deux"},
          {"type":"comment.created","id":"","thread_id":"shop","author":{"id":"u"},"text":"sans id"}
        ]}"#;
        let parsed = parse(body.as_bytes()).unwrap();
        assert_eq!(parsed.events.len(), 2, "{:?}", parsed.ignored);
        assert_eq!(parsed.events[0].external_id, "18446744073709551617");
        assert_eq!(parsed.events[1].external_id, "18446744073709551618");
        assert_eq!(parsed.events[0].author.id, "42");
        assert_eq!(parsed.events[0].text, None);
        assert_eq!(
            parsed.events[0].attachment.as_ref().unwrap().kind,
            crate::comment::AttachmentKind::Photo
        );
        assert_eq!(parsed.ignored.len(), 1);
    }

    #[test]
    fn wrong_shapes_are_malformed() {
        assert!(parse(b"[]").is_err());
        assert!(parse(br#"{"source":"","events":[]}"#).is_err());
    }
}
