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

/// The API version gap repair asks for (`LinkedIn-Version`, kept for a year after release).
pub const API_VERSION: &str = "202610";

/// How many of the organization's posts gap repair re-reads, the last modified first.
const POSTS: usize = 10;

/// Gap repair: the organization's posts, the last modified first (`GET /rest/posts?
/// author=<urn:li:organization:N>&q=author&count=10&sortBy=LAST_MODIFIED`, answer
/// `{"elements": [{"id": "urn:li:share:N" | "urn:li:ugcPost:N", "lastModifiedAt"}],
/// "paging"}`), then each one's comments (`GET /rest/socialActions/<post urn>/comments?
/// start=&count=100`, answer `{"elements": [{"id", "$URN" | "commentUrn", "actor",
/// "object", "message": {"text"}, "created": {"time"}, "lastModified": {"time"},
/// "parentComment", "commentsSummary": {"totalFirstLevelComments"}}], "paging": {"start",
/// "count", "total"}}`), and the replies of a recent comment that has some (the same call
/// on the comment's URN). Headers `LinkedIn-Version` and `X-Restli-Protocol-Version: 2.0.0`.
/// Tokens come from the refresh grant (`https://www.linkedin.com/oauth/v2/accessToken`,
/// client id and secret in the form). Errors: `{"status", "serviceErrorCode", "message"}`,
/// 401 for an expired or revoked token, 429 for the daily limits. The order of comments is
/// not documented: a post's comments are read whole (100 a page) at each listing.
impl crate::poll::Pull for LinkedIn {
    fn repairs(&self, _: Platform) -> bool {
        true
    }

    fn api_url(&self) -> &'static str {
        "https://api.linkedin.com"
    }

    /// A run reads a dozen pages or so, and the development tier allows 500 calls a day
    /// per app: listed once an hour.
    fn every_seconds(&self) -> i64 {
        3600
    }

    fn token_url(&self) -> Option<&'static str> {
        Some("https://www.linkedin.com/oauth/v2/accessToken")
    }

    fn page_request(
        &self,
        api: &str,
        feed: &crate::poll::Feed,
        _: &crate::poll::PullKeys,
        page: Option<&str>,
    ) -> crate::poll::HttpRequest {
        let api = api.trim_end_matches('/');
        let mut q = form_urlencoded::Serializer::new(String::new());
        let url = match page.and_then(CommentsPage::parse) {
            Some(c) => {
                q.append_pair("start", &c.start.to_string())
                    .append_pair("count", "100");
                format!(
                    "{api}/rest/socialActions/{}/comments?{}",
                    form_urlencoded::byte_serialize(c.of().as_bytes()).collect::<String>(),
                    q.finish()
                )
            }
            None => {
                // `author` before `q`: the finder refuses the other order
                q.append_pair("author", &format!("urn:li:organization:{}", feed.account))
                    .append_pair("q", "author")
                    .append_pair("count", &POSTS.to_string())
                    .append_pair("sortBy", "LAST_MODIFIED");
                format!("{api}/rest/posts?{}", q.finish())
            }
        };
        crate::poll::HttpRequest::get(url)
            .header("linkedin-version", API_VERSION)
            .header("x-restli-protocol-version", "2.0.0")
    }

    fn read_page(
        &self,
        feed: &crate::poll::Feed,
        _: &crate::poll::PullKeys,
        asked: Option<&str>,
        resp: &crate::poll::HttpResponse,
    ) -> Result<crate::poll::Page, crate::poll::PageError> {
        use crate::poll::{Page, PageError};
        if let Some(e) = PageError::of_status(resp) {
            let m = serde_json::from_slice::<ApiError>(&resp.body)
                .ok()
                .map(|e| {
                    format!(
                        "HTTP {}: {} ({})",
                        resp.status, e.message, e.service_error_code
                    )
                });
            return Err(e.told(m));
        }
        let mut page = Page::default();
        let Some(asked) = asked.and_then(CommentsPage::parse) else {
            let posts: Elements<PostRef> = crate::poll::json_page(resp)?;
            for post in posts.elements.iter().take(POSTS) {
                if post.id.starts_with("urn:li:") && !post.id.contains(char::is_whitespace) {
                    page.then.push(crate::poll::Further::page(
                        CommentsPage {
                            start: 0,
                            post: &post.id,
                            comment: None,
                        }
                        .to_string(),
                    ));
                }
            }
            return Ok(page);
        };
        let list: Elements<ApiComment> = crate::poll::json_page(resp)?;
        let count = list.elements.len();
        for c in list.elements {
            let id = [c.urn.as_deref(), c.comment_urn.as_deref()]
                .into_iter()
                .flatten()
                .find_map(canonical_comment);
            let Some(id) = id else {
                page.ignored.push(Ignored {
                    platform: Platform::LinkedIn,
                    reason: "comment without a comment URN".into(),
                });
                continue;
            };
            let created = c.created.and_then(|t| t.time).map(Timestamp);
            let modified = c.last_modified.and_then(|t| t.time).map(Timestamp);
            // the replies of recent comments only (the poller drops those older than the
            // cursor less the backfill): replies come soon, and each read is one of the
            // day's few calls
            if c.comments_summary
                .as_ref()
                .is_some_and(|s| s.total_first_level_comments > 0)
                && asked.comment.is_none()
            {
                page.then.push(crate::poll::Further {
                    page: format!("comments 0 {} {id}", asked.post),
                    replies_of: Some(created.or(modified).unwrap_or(Timestamp::MIN)),
                });
            }
            let actor = c.actor.unwrap_or_else(|| "unknown".into());
            let parent = c
                .parent_comment
                .as_deref()
                .and_then(canonical_comment)
                .or_else(|| asked.comment.map(str::to_owned));
            page.push(PlatformEvent {
                platform: Platform::LinkedIn,
                account_id: feed.account.clone(),
                kind: if modified.is_some_and(|m| created.is_some_and(|c| m > c)) {
                    EventKind::Edited
                } else {
                    EventKind::Created
                },
                from_account: organization_id(&actor) == Some(feed.account.as_str()),
                external_id: id,
                // as the webhook threads it: under the post
                thread_id: asked.post.to_owned(),
                parent_id: parent,
                private: false,
                author: Author {
                    id: actor,
                    name: None,
                    followers: None,
                },
                text: c
                    .message
                    .and_then(|m| m.text)
                    .filter(|t| !t.trim().is_empty()),
                attachment: None,
                created_at: created.filter(|t| (Timestamp::MIN..=Timestamp::MAX).contains(t)),
                permalink: None,
                source: None,
            });
        }
        let total = list.paging.as_ref().and_then(|p| p.total);
        let next = asked.start + count;
        if count > 0 && total.is_none_or(|t| next < t) && count >= 100 {
            page.next = Some(
                CommentsPage {
                    start: next,
                    ..asked
                }
                .to_string(),
            );
        }
        // comments in no documented order: no cursor stop
        page.oldest = None;
        Ok(page)
    }
}

/// A page of the comments on a post, or of the replies to one of its comments:
/// `comments <start> <post urn>[ <comment urn>]` (URNs hold no spaces).
#[derive(Clone, Copy)]
struct CommentsPage<'a> {
    start: usize,
    post: &'a str,
    comment: Option<&'a str>,
}

impl<'a> CommentsPage<'a> {
    fn parse(page: &'a str) -> Option<Self> {
        let mut parts = page.strip_prefix("comments ")?.split(' ');
        let start = parts.next()?.parse().ok()?;
        let post = parts.next().filter(|p| p.starts_with("urn:li:"))?;
        let comment = parts.next();
        if parts.next().is_some() || comment.is_some_and(|c| canonical_comment(c).is_none()) {
            return None;
        }
        Some(Self {
            start,
            post,
            comment,
        })
    }

    /// What the comments are on.
    fn of(&self) -> &'a str {
        self.comment.unwrap_or(self.post)
    }
}

impl std::fmt::Display for CommentsPage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "comments {} {}", self.start, self.post)?;
        if let Some(c) = self.comment {
            write!(f, " {c}")?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    service_error_code: i64,
}

#[derive(Deserialize)]
struct Elements<T> {
    elements: Vec<T>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    total: Option<usize>,
}

#[derive(Deserialize)]
struct PostRef {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiComment {
    #[serde(rename = "$URN", default)]
    urn: Option<String>,
    #[serde(default)]
    comment_urn: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    message: Option<ApiText>,
    #[serde(default)]
    created: Option<ApiTime>,
    #[serde(default)]
    last_modified: Option<ApiTime>,
    #[serde(default)]
    parent_comment: Option<String>,
    #[serde(default)]
    comments_summary: Option<Summary>,
}

#[derive(Deserialize)]
struct ApiText {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct ApiTime {
    #[serde(default)]
    time: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    #[serde(default)]
    total_first_level_comments: u64,
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
