//! LinkedIn (organization social action notifications). See docs/platforms.md.
//!
//! Validation: `GET ?challengeCode=<c>` answered within 3 s with
//! `{"challengeCode": c, "challengeResponse": hex(HMAC-SHA256(client secret, c))}`.
//!
//! `X-LI-Signature`: the documentation says the value "is the HMACSHA256 hash of the
//! JSON-encoded string representation of the POST body prefixed by `hmacsha256=`" and that
//! one must "compute the signature on the POST body prefixed by `hmacsha256=`". Taken
//! literally: hex(HMAC-SHA256(client secret, "hmacsha256=" + raw body)), a bare hex
//! value; that is what [`LinkedIn::sign`] writes. A value that itself starts with
//! `hmacsha256=` can only be the other reading of the first sentence (the header value
//! prefixed), so it is checked as `hmacsha256=` + hex(HMAC-SHA256(client secret, raw
//! body)). Each form has one construction: no value is tried twice.
//!
//! Body: `{"type", "notifications": [{"notificationId", "organizationalEntity":
//! "urn:li:organization:N", "action", "sourcePost", "generatedActivity",
//! "decoratedGeneratedActivity": {"comment": {"entity", "owner", "text"}}, "actor",
//! "lastModifiedAt"}]}`, ten at most, retried for hours: duplicates are absorbed by the
//! comment's key. A comment is named `urn:li:comment:(urn:li:activity:N,M)` in one field
//! and `urn:li:comment:(activity:N,M)` in another: both become the first, its one id.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    AppKeys, EventKind, HandshakeError, Id, Ignored, Inbound, MalformedPayload, Parsed,
    PlatformEvent, Reply, Source,
};
use crate::comment::{Author, Platform};
use crate::signature::{SignatureError, hmac_sha256_hex, verify_hex};
use crate::time::Timestamp;

pub struct LinkedIn;

pub const SIGNATURE_HEADER: &str = "x-li-signature";
const PREFIX: &str = "hmacsha256=";

impl Source for LinkedIn {
    fn name(&self) -> &'static str {
        "linkedin"
    }

    fn platforms(&self) -> &'static [Platform] {
        &[Platform::LinkedIn]
    }

    fn has_handshake(&self) -> bool {
        true
    }

    fn handshake(&self, keys: &AppKeys, req: &Inbound<'_>) -> Result<Reply, HandshakeError> {
        let code = req
            .query("challengeCode")
            .ok_or(HandshakeError::Missing("challengeCode"))?;
        Ok(Reply::json(&serde_json::json!({
            "challengeCode": code,
            "challengeResponse": hmac_sha256_hex(&keys.secret, &[code.as_bytes()]),
        })))
    }

    fn verify(
        &self,
        keys: &AppKeys,
        req: &Inbound<'_>,
        _now: Timestamp,
    ) -> Result<(), SignatureError> {
        let header = req
            .header(SIGNATURE_HEADER)
            .ok_or(SignatureError::Missing(SIGNATURE_HEADER))?
            .trim();
        match header.strip_prefix(PREFIX) {
            Some(hex) => verify_hex(&keys.secret, &[req.body], hex, SIGNATURE_HEADER),
            None => verify_hex(
                &keys.secret,
                &[PREFIX.as_bytes(), req.body],
                header,
                SIGNATURE_HEADER,
            ),
        }
    }

    fn sign(&self, keys: &AppKeys, body: &[u8], _at: Timestamp) -> Vec<(&'static str, String)> {
        vec![(
            SIGNATURE_HEADER,
            hmac_sha256_hex(&keys.secret, &[PREFIX.as_bytes(), body]),
        )]
    }

    fn parse(&self, _platform: Platform, body: &[u8]) -> Result<Parsed, MalformedPayload> {
        parse(body)
    }
}

#[derive(Deserialize)]
struct Delivery<'a> {
    #[serde(borrow)]
    notifications: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    action: String,
    organizational_entity: String,
    #[serde(default)]
    source_post: Option<String>,
    #[serde(default)]
    generated_activity: Option<String>,
    #[serde(default)]
    decorated_generated_activity: Option<Decorated>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    last_modified_at: Option<Id>,
}

#[derive(Deserialize)]
struct Decorated {
    #[serde(default)]
    comment: Option<DecoratedComment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DecoratedComment {
    #[serde(default)]
    entity: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    parent_comment: Option<String>,
}

/// `urn:li:comment:(urn:li:activity:N,M)` for either spelling of a comment's URN; `None`
/// for what is not a comment URN.
pub fn canonical_comment(urn: &str) -> Option<String> {
    let inner = urn
        .trim()
        .strip_prefix("urn:li:comment:(")?
        .strip_suffix(')')?;
    let (object, id) = inner.rsplit_once(',')?;
    let object = object.trim();
    let object = object.strip_prefix("urn:li:").unwrap_or(object);
    let (kind, number) = object.split_once(':')?;
    let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let id = id.trim();
    if kind.is_empty()
        || !kind.bytes().all(|b| b.is_ascii_alphabetic())
        || !valid(number)
        || !valid(id)
    {
        return None;
    }
    Some(format!("urn:li:comment:(urn:li:{kind}:{number},{id})"))
}

fn organization_id(urn: &str) -> Option<&str> {
    urn.strip_prefix("urn:li:organization:")
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

pub fn parse(body: &[u8]) -> Result<Parsed, MalformedPayload> {
    let malformed = |reason: String| MalformedPayload {
        platform: Platform::LinkedIn,
        reason,
    };
    let delivery: Delivery = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let mut parsed = Parsed::default();
    for (i, raw) in delivery.notifications.into_iter().enumerate() {
        match notification(raw) {
            Ok(e) => parsed.events.push(e),
            Err(reason) => parsed.ignored.push(Ignored {
                platform: Platform::LinkedIn,
                reason: format!("notification {i}: {reason}"),
            }),
        }
    }
    Ok(parsed)
}

fn notification(raw: &RawValue) -> Result<PlatformEvent, String> {
    let n: Notification = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
    let kind = match n.action.as_str() {
        "COMMENT" | "ADMIN_COMMENT" => EventKind::Created,
        "COMMENT_EDIT" => EventKind::Edited,
        "COMMENT_DELETE" => EventKind::Deleted,
        other => return Err(format!("action {other}")),
    };
    let org = organization_id(&n.organizational_entity)
        .ok_or_else(|| format!("organizationalEntity {:?}", n.organizational_entity))?
        .to_owned();
    let comment = n.decorated_generated_activity.and_then(|d| d.comment);
    let id = n
        .generated_activity
        .as_deref()
        .and_then(canonical_comment)
        .or_else(|| {
            comment
                .as_ref()
                .and_then(|c| c.entity.as_deref())
                .and_then(canonical_comment)
        })
        .ok_or("no comment URN")?;
    let (owner, text, parent) = match comment {
        Some(c) => (c.owner, c.text, c.parent_comment),
        None => (None, None, None),
    };
    let text = text.filter(|t| !t.trim().is_empty());
    if kind != EventKind::Deleted && text.is_none() {
        return Err("comment without text".into());
    }
    let author = owner.or(n.actor).unwrap_or_else(|| "unknown".into());
    let own = n.action == "ADMIN_COMMENT" || organization_id(&author) == Some(org.as_str());
    Ok(PlatformEvent {
        platform: Platform::LinkedIn,
        account_id: org,
        kind,
        thread_id: n.source_post.unwrap_or_else(|| id.clone()),
        parent_id: parent.as_deref().and_then(canonical_comment),
        external_id: id,
        author: Author {
            id: author,
            name: None,
            followers: None,
        },
        text,
        attachment: None,
        created_at: n
            .last_modified_at
            .and_then(|ms| ms.0.parse::<i64>().ok())
            .map(Timestamp)
            .filter(|t| (Timestamp::MIN..=Timestamp::MAX).contains(t)),
        permalink: None,
        source: None,
        from_account: own,
        private: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_a_comment_urn_are_one_id() {
        let long = "urn:li:comment:(urn:li:activity:7100000000000000001,7100000000000000002)";
        assert_eq!(canonical_comment(long).as_deref(), Some(long));
        assert_eq!(
            canonical_comment("urn:li:comment:(activity:7100000000000000001,7100000000000000002)")
                .as_deref(),
            Some(long)
        );
        assert_eq!(
            canonical_comment("urn:li:comment:(urn:li:ugcPost:7,8)").as_deref(),
            Some("urn:li:comment:(urn:li:ugcPost:7,8)")
        );
        for bad in [
            "urn:li:share:1",
            "urn:li:comment:(activity:1)",
            "urn:li:comment:(activity:x,2)",
            "urn:li:comment:(:1,2)",
            "urn:li:comment:(activity:1,2",
        ] {
            assert_eq!(canonical_comment(bad), None, "{bad}");
        }
    }

    #[test]
    fn challenge_and_both_signature_readings() {
        let keys = AppKeys::new(b"client-secret".to_vec());
        let query = [("challengeCode", "890e4665-4dfe-4ab1-b689-ed553bceeed0")];
        let reply = LinkedIn
            .handshake(
                &keys,
                &Inbound {
                    query: &query,
                    ..Default::default()
                },
            )
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(v["challengeCode"], query[0].1);
        assert_eq!(
            v["challengeResponse"],
            hmac_sha256_hex(b"client-secret", &[query[0].1.as_bytes()])
        );
        let body = br#"{"notifications":[]}"#;
        let check = |value: &str| {
            let headers = [(SIGNATURE_HEADER, value)];
            LinkedIn.verify(
                &keys,
                &Inbound {
                    headers: &headers,
                    body,
                    ..Default::default()
                },
                Timestamp(0),
            )
        };
        let literal = hmac_sha256_hex(b"client-secret", &[b"hmacsha256=", body]);
        assert_eq!(LinkedIn.sign(&keys, body, Timestamp(0))[0].1, literal);
        assert_eq!(check(&literal), Ok(()));
        let prefixed = format!("hmacsha256={}", hmac_sha256_hex(b"client-secret", &[body]));
        assert_eq!(check(&prefixed), Ok(()));
        // Each form has one construction: the body's plain HMAC is not a bare value.
        assert_eq!(
            check(&hmac_sha256_hex(b"client-secret", &[body])),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(&format!("hmacsha256={literal}")),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn comments_edits_deletes_and_the_organizations_own() {
        let body = r#"{"type":"ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS","notifications":[
          {"notificationId":1001,"organizationalEntity":"urn:li:organization:2414183","action":"COMMENT",
           "sourcePost":"urn:li:share:7099999999999999999","actor":"urn:li:person:a1",
           "generatedActivity":"urn:li:comment:(urn:li:activity:7100000000000000001,7100000000000000002)",
           "decoratedGeneratedActivity":{"comment":{"entity":"urn:li:comment:(activity:7100000000000000001,7100000000000000002)",
             "owner":"urn:li:person:a1","text":"Quand ouvrez-vous à Lyon ?"}},"lastModifiedAt":1764086400000},
          {"notificationId":1002,"organizationalEntity":"urn:li:organization:2414183","action":"COMMENT_EDIT",
           "sourcePost":"urn:li:share:7099999999999999999",
           "decoratedGeneratedActivity":{"comment":{"entity":"urn:li:comment:(activity:7100000000000000001,7100000000000000002)",
             "owner":"urn:li:person:a1","text":"Quand ouvrez-vous à Lyon ? Merci"}}},
          {"notificationId":1003,"organizationalEntity":"urn:li:organization:2414183","action":"ADMIN_COMMENT",
           "sourcePost":"urn:li:share:7099999999999999999",
           "generatedActivity":"urn:li:comment:(urn:li:activity:7100000000000000001,7100000000000000003)",
           "decoratedGeneratedActivity":{"comment":{"owner":"urn:li:organization:2414183","text":"En mars !",
             "parentComment":"urn:li:comment:(activity:7100000000000000001,7100000000000000002)"}}},
          {"notificationId":1004,"organizationalEntity":"urn:li:organization:2414183","action":"COMMENT_DELETE",
           "generatedActivity":"urn:li:comment:(activity:7100000000000000001,7100000000000000002)"},
          {"notificationId":1005,"organizationalEntity":"urn:li:organization:2414183","action":"LIKE"}
        ]}"#;
        let p = parse(body.as_bytes()).unwrap();
        let long = "urn:li:comment:(urn:li:activity:7100000000000000001,7100000000000000002)";
        let got: Vec<_> = p
            .events
            .iter()
            .map(|e| (e.kind, e.external_id.as_str(), e.from_account))
            .collect();
        assert_eq!(
            got,
            [
                (EventKind::Created, long, false),
                (EventKind::Edited, long, false),
                (
                    EventKind::Created,
                    "urn:li:comment:(urn:li:activity:7100000000000000001,7100000000000000003)",
                    true
                ),
                (EventKind::Deleted, long, false),
            ]
        );
        assert_eq!(p.events[0].account_id, "2414183");
        assert_eq!(p.events[0].thread_id, "urn:li:share:7099999999999999999");
        assert_eq!(p.events[0].created_at, Some(Timestamp(1_764_086_400_000)));
        assert_eq!(p.events[2].parent_id.as_deref(), Some(long));
        assert_eq!(p.ignored.len(), 1);
        assert_eq!(p.ignored[0].reason, "notification 4: action LIKE");
        assert!(parse(b"{}").is_err());
    }
}
