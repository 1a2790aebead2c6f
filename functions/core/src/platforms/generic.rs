//! The generic signed webhook, for any source without a dedicated parser.
//!
//! `POST /webhooks/generic` with `X-Vigie-Brand: <brand id>`, `X-Vigie-Signature:
//! t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body with the brand's secret>` and a body
//! `{"source": "trustpilot", "events": [{"type": "comment.created" | "comment.edited" |
//! "comment.deleted", "id", "thread_id", "parent_id"?, "author": {"id", "name"?,
//! "followers"?, "is_brand"?}, "text", "created_at"? (RFC 3339), "permalink"?}]}`.
//! See docs/webhooks.md.

use serde::Deserialize;

use super::{EventKind, Ignored, MalformedPayload, Parsed, PlatformEvent};
use crate::comment::{Author, Platform};
use crate::time::Timestamp;

#[derive(Deserialize)]
struct Delivery {
    source: String,
    events: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    thread_id: String,
    #[serde(default)]
    parent_id: Option<String>,
    author: GenericAuthor,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    permalink: Option<String>,
}

#[derive(Deserialize)]
struct GenericAuthor {
    id: String,
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
        let event: Event = match serde_json::from_value(raw) {
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
        if event.id.trim().is_empty() || event.thread_id.trim().is_empty() {
            parsed.ignored.push(ignore("empty id or thread_id".into()));
            continue;
        }
        if kind != EventKind::Deleted && event.text.as_deref().is_none_or(|t| t.trim().is_empty()) {
            parsed.ignored.push(ignore("no text".into()));
            continue;
        }
        parsed.events.push(PlatformEvent {
            platform: Platform::Generic,
            account_id: source.to_owned(),
            kind,
            external_id: event.id,
            thread_id: event.thread_id,
            parent_id: event.parent_id,
            author: Author {
                id: event.author.id,
                name: event.author.name,
                followers: event.author.followers,
            },
            text: event.text,
            created_at: event
                .created_at
                .as_deref()
                .and_then(Timestamp::parse_rfc3339),
            permalink: event.permalink,
            source: Some(source.to_owned()),
            from_account: event.author.is_brand,
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
    fn wrong_shapes_are_malformed() {
        assert!(parse(b"[]").is_err());
        assert!(parse(br#"{"source":"","events":[]}"#).is_err());
    }
}
