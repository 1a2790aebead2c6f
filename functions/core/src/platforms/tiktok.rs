//! TikTok (API for Business comment events). See docs/platforms.md for the sources.
//!
//! Deliveries carry `TikTok-Signature: t=<unix seconds>,s=<hex HMAC-SHA256(client secret,
//! "<t>." + raw body)>`; a timestamp further than the app's tolerance (300 s unless set)
//! is refused. No subscription check: the portal sends a test event.
//!
//! Envelope: `{"client_key", "event", "create_time", "user_openid", "content"}` where
//! `content` is a JSON string. `comment.update` content: `comment_id`, `video_id`,
//! `parent_comment_id` (`0` at the top), `comment_type`, `comment_action` (`insert`,
//! `delete`, `set_to_hidden`, `set_to_public`, `set_to_friends_only`),
//! `unique_identifier`, `username`, `display_name`, `text`, `create_time`, `owner` (the
//! video's owner wrote it), `user_id` (deprecated), ids as strings or bare JSON numbers
//! beyond 2^53, kept exact.

use serde::Deserialize;

use super::{
    AppKeys, EventKind, Id, Ignored, Inbound, MalformedPayload, Parsed, PlatformEvent, Source,
    unix_time,
};
use crate::comment::{Author, Platform};
use crate::signature::{SignatureError, sign_timestamped, verify_timestamped};
use crate::time::Timestamp;

pub struct TikTok;

pub const SIGNATURE_HEADER: &str = "tiktok-signature";

impl Source for TikTok {
    fn name(&self) -> &'static str {
        "tiktok"
    }

    fn platforms(&self) -> &'static [Platform] {
        &[Platform::TikTok]
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
            "s",
            &keys.secret,
            req.body,
            now,
            keys.tolerance_seconds,
        )
    }

    fn sign(&self, keys: &AppKeys, body: &[u8], at: Timestamp) -> Vec<(&'static str, String)> {
        vec![(
            SIGNATURE_HEADER,
            sign_timestamped("s", &keys.secret, body, at),
        )]
    }

    fn parse(&self, _platform: Platform, body: &[u8]) -> Result<Parsed, MalformedPayload> {
        parse(body)
    }

    /// A business account's open id (`user_openid`), e.g. `-000OXv3...`.
    fn check_account(&self, _platform: Platform, id: &str) -> Result<(), &'static str> {
        if id.is_empty() || id.len() > 128 || id.contains(char::is_whitespace) {
            Err("must be the account's open id (user_openid)")
        } else {
            Ok(())
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    event: String,
    user_openid: Id,
    #[serde(default)]
    create_time: Option<serde_json::Value>,
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct CommentEvent {
    comment_id: Id,
    video_id: Id,
    #[serde(default)]
    parent_comment_id: Option<Id>,
    #[serde(default)]
    comment_action: Option<String>,
    #[serde(default)]
    unique_identifier: Option<Id>,
    #[serde(default)]
    user_id: Option<Id>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    create_time: Option<serde_json::Value>,
    #[serde(default)]
    owner: bool,
}

pub fn parse(body: &[u8]) -> Result<Parsed, MalformedPayload> {
    let malformed = |reason: String| MalformedPayload {
        platform: Platform::TikTok,
        reason,
    };
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let mut parsed = Parsed::default();
    let mut ignore = |reason: String| {
        parsed.ignored.push(Ignored {
            platform: Platform::TikTok,
            reason,
        })
    };
    if envelope.event != "comment.update" {
        ignore(format!("event {:?}", envelope.event));
        return Ok(parsed);
    }
    let content = envelope
        .content
        .ok_or_else(|| malformed("comment.update without content".into()))?;
    let c: CommentEvent =
        serde_json::from_str(&content).map_err(|e| malformed(format!("content: {e}")))?;
    let kind = match c.comment_action.as_deref().unwrap_or("insert") {
        "insert" => EventKind::Created,
        "delete" => EventKind::Deleted,
        other => {
            ignore(format!("comment_action {other:?}"));
            return Ok(parsed);
        }
    };
    let text = c.text.filter(|t| !t.trim().is_empty());
    if kind == EventKind::Created && text.is_none() {
        // The event does not always carry the words; the comment list API does.
        ignore("comment without text".into());
        return Ok(parsed);
    }
    let author = c
        .unique_identifier
        .or(c.user_id)
        .map(|i| i.0)
        .or_else(|| c.username.clone())
        .unwrap_or_else(|| "unknown".into());
    parsed.events.push(PlatformEvent {
        platform: Platform::TikTok,
        account_id: envelope.user_openid.0,
        kind,
        external_id: c.comment_id.0,
        thread_id: c.video_id.0,
        parent_id: c.parent_comment_id.map(|p| p.0).filter(|p| p != "0"),
        author: Author {
            id: author,
            name: c.username.or(c.display_name),
            followers: None,
        },
        text,
        attachment: None,
        created_at: unix_time(c.create_time.as_ref()).or(unix_time(envelope.create_time.as_ref())),
        permalink: None,
        source: None,
        from_account: c.owner,
        private: false,
    });
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(content: &str) -> String {
        serde_json::json!({
            "client_key": "awx1", "event": "comment.update", "create_time": 1764086400,
            "user_openid": "-000OXv3Jb5RkQZ", "content": content,
        })
        .to_string()
    }

    #[test]
    fn comments_replies_and_deletes_with_exact_ids() {
        let created = delivery(
            r#"{"comment_id":7437000000000000001,"video_id":7436000000000000001,"parent_comment_id":0,
               "comment_type":"comment","comment_action":"insert","unique_identifier":"jeanne.d","username":"Jeanne",
               "text":"Toujours pas reçu 😡","create_time":1764086399,"owner":false}"#,
        );
        let p = parse(created.as_bytes()).unwrap();
        let e = &p.events[0];
        assert_eq!(e.external_id, "7437000000000000001");
        assert_eq!(e.thread_id, "7436000000000000001");
        assert_eq!(e.parent_id, None);
        assert_eq!(e.account_id, "-000OXv3Jb5RkQZ");
        assert_eq!(e.author.id, "jeanne.d");
        assert_eq!(e.text.as_deref(), Some("Toujours pas reçu 😡"));
        assert_eq!(e.created_at, Some(Timestamp::from_unix_seconds(1764086399)));
        assert!(!e.from_account);

        let reply = delivery(
            r#"{"comment_id":"7437000000000000002","video_id":"7436000000000000001","parent_comment_id":"7437000000000000001",
               "comment_action":"insert","text":"On s'en occupe !","owner":true}"#,
        );
        let e = &parse(reply.as_bytes()).unwrap().events[0];
        assert_eq!(e.parent_id.as_deref(), Some("7437000000000000001"));
        assert!(e.from_account);
        assert_eq!(e.author.id, "unknown");
        assert_eq!(e.created_at, Some(Timestamp::from_unix_seconds(1764086400)));

        let deleted = delivery(
            r#"{"comment_id":7437000000000000001,"video_id":7436000000000000001,"comment_action":"delete"}"#,
        );
        assert_eq!(
            parse(deleted.as_bytes()).unwrap().events[0].kind,
            EventKind::Deleted
        );
    }

    #[test]
    fn other_events_and_actions_are_counted_not_errors() {
        let hidden = delivery(
            r#"{"comment_id":1,"video_id":2,"comment_action":"set_to_hidden","text":"x"}"#,
        );
        let p = parse(hidden.as_bytes()).unwrap();
        assert!(p.events.is_empty());
        assert_eq!(p.ignored[0].reason, "comment_action \"set_to_hidden\"");
        let textless = delivery(r#"{"comment_id":1,"video_id":2,"comment_action":"insert"}"#);
        assert_eq!(
            parse(textless.as_bytes()).unwrap().ignored[0].reason,
            "comment without text"
        );
        let other = r#"{"client_key":"a","event":"authorization.removed","create_time":1,"user_openid":"u","content":"{}"}"#;
        assert_eq!(parse(other.as_bytes()).unwrap().ignored.len(), 1);
    }

    #[test]
    fn broken_envelopes_and_contents_are_malformed() {
        assert!(parse(b"{}").is_err());
        assert!(parse(delivery("not json").as_bytes()).is_err());
        assert!(parse(delivery(r#"{"comment_id":1}"#).as_bytes()).is_err());
        assert!(parse(br#"{"event":"comment.update","user_openid":"u","create_time":1}"#).is_err());
    }
}
