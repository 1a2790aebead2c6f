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
        if valid_id(&c.video_id.0) && valid_id(&c.comment_id.0) {
            parsed.reads.push(super::ReadLater {
                platform: Platform::TikTok,
                account_id: envelope.user_openid.0,
                page: format!("comment {} {}", c.video_id.0, c.comment_id.0),
            });
        } else {
            ignore("comment without text".into());
        }
        return Ok(parsed);
    }
    let author = author(c.unique_identifier, c.user_id, c.username, c.display_name);
    parsed.events.push(PlatformEvent {
        platform: Platform::TikTok,
        account_id: envelope.user_openid.0,
        kind,
        external_id: c.comment_id.0,
        thread_id: c.video_id.0,
        parent_id: parent(c.parent_comment_id),
        author,
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

/// The API for Business base path.
const API: &str = "/open_api/v1.3";

/// How many of the account's videos gap repair re-reads, the newest first.
const VIDEOS: usize = 10;

/// Gap repair and the reads of comments whose event had no words: the account's newest
/// videos (`GET /open_api/v1.3/business/video/list/?business_id=<open id>&fields=
/// ["item_id","create_time","share_url"]&max_count=10`, answer `{"code": 0, "data":
/// {"videos": [{"item_id", "create_time", "share_url"}], "has_more", "cursor"}}`), then
/// each one's comments, the newest first with up to three replies each (`GET
/// /business/comment/list/?business_id=&video_id=&include_replies=true&sort_field=
/// create_time&sort_order=desc&max_count=30[&cursor=]`, answer `{"data": {"comments":
/// [{"comment_id", "video_id", "unique_identifier", "user_id", "username",
/// "display_name", "text", "create_time", "parent_comment_id", "owner", "status",
/// "reply_list": [...]}], "has_more", "cursor"}}`); a comment by id with `comment_ids=
/// ["<id>"]`. Header `Access-Token`. Every answer is `{"code", "message", "request_id",
/// "data"}`, `code` 0 when it went well; 40100 is the rate limit, 40102 and 40105 an
/// expired or invalid token. Tokens come from `POST /tt_user/oauth2/refresh_token/` with
/// a JSON body (`client_id`, `client_secret`, `grant_type`, `refresh_token`), answered in
/// the same envelope.
impl crate::poll::Pull for TikTok {
    fn repairs(&self, _: Platform) -> bool {
        true
    }

    fn api_url(&self) -> &'static str {
        "https://business-api.tiktok.com"
    }

    fn token_url(&self) -> Option<&'static str> {
        Some("https://business-api.tiktok.com/open_api/v1.3/tt_user/oauth2/refresh_token/")
    }

    /// The webhooks bring comments; their re-read every quarter of an hour is enough, and
    /// a comment an event named without text is still read at the next run.
    fn every_seconds(&self) -> i64 {
        900
    }

    fn authorize(&self, req: crate::poll::HttpRequest, token: &str) -> crate::poll::HttpRequest {
        req.header("access-token", token)
    }

    fn token_request(
        &self,
        url: &str,
        keys: &crate::poll::PullKeys,
    ) -> Option<crate::poll::HttpRequest> {
        Some(crate::poll::HttpRequest::post_json(
            url,
            &serde_json::json!({
                "client_id": keys.client_id,
                "client_secret": keys.client_secret,
                "grant_type": "refresh_token",
                "refresh_token": keys.refresh_token.as_ref()?,
            }),
        ))
    }

    fn read_token(
        &self,
        resp: &crate::poll::HttpResponse,
    ) -> Result<(String, Option<i64>), crate::poll::PageError> {
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
            #[serde(default)]
            expires_in: Option<i64>,
        }
        let token: Token = answer(resp).map_err(|e| match e {
            crate::poll::PageError::Failed(m) | crate::poll::PageError::Unauthorized(m) => {
                crate::poll::PageError::Unauthorized(format!(
                    "refresh refused, authorize again ({m})"
                ))
            }
            e => e,
        })?;
        Ok((token.access_token, token.expires_in))
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
        q.append_pair("business_id", &feed.account);
        let url = match page.and_then(CommentsPage::parse) {
            Some(c) => {
                q.append_pair("video_id", c.video)
                    .append_pair("include_replies", "true")
                    .append_pair("status", "ALL");
                match c.comment {
                    Some(id) => {
                        q.append_pair("comment_ids", &format!("[\"{id}\"]"));
                    }
                    None => {
                        q.append_pair("sort_field", "create_time")
                            .append_pair("sort_order", "desc")
                            .append_pair("max_count", "30");
                        if c.cursor != "0" {
                            q.append_pair("cursor", c.cursor);
                        }
                    }
                }
                format!("{api}{API}/business/comment/list/?{}", q.finish())
            }
            None => {
                q.append_pair("fields", r#"["item_id","create_time","share_url"]"#)
                    .append_pair("max_count", &VIDEOS.to_string());
                format!("{api}{API}/business/video/list/?{}", q.finish())
            }
        };
        crate::poll::HttpRequest::get(url)
    }

    fn read_page(
        &self,
        feed: &crate::poll::Feed,
        _: &crate::poll::PullKeys,
        asked: Option<&str>,
        resp: &crate::poll::HttpResponse,
    ) -> Result<crate::poll::Page, crate::poll::PageError> {
        let mut page = crate::poll::Page::default();
        let Some(asked) = asked.and_then(CommentsPage::parse) else {
            let list: VideoList = answer(resp)?;
            for v in list.videos.into_iter().take(VIDEOS) {
                if valid_id(&v.item_id.0) {
                    page.then.push(crate::poll::Further::page(format!(
                        "comments {} 0",
                        v.item_id.0
                    )));
                }
            }
            return Ok(page);
        };
        let list: CommentList = answer(resp)?;
        for c in list.comments {
            let replies = c.reply_list.clone();
            for c in std::iter::once(c).chain(replies) {
                page.push(api_comment(feed, asked.video, c));
            }
        }
        if asked.comment.is_some() {
            // a read by id: no cursor applies
            page.oldest = None;
            page.newest = None;
        } else if list.has_more
            && let Some(cursor) = list.cursor.filter(|c| valid_id(&c.0))
        {
            page.next = Some(format!("comments {} {}", asked.video, cursor.0));
        }
        Ok(page)
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit())
}

/// `comments <video id> <cursor>` (a page of a video's comments) or
/// `comment <video id> <comment id>` (one comment, read by id).
struct CommentsPage<'a> {
    video: &'a str,
    cursor: &'a str,
    comment: Option<&'a str>,
}

impl<'a> CommentsPage<'a> {
    fn parse(page: &'a str) -> Option<Self> {
        let (by_id, rest) = match page.split_once(' ')? {
            ("comments", rest) => (false, rest),
            ("comment", rest) => (true, rest),
            _ => return None,
        };
        let (video, second) = rest.split_once(' ')?;
        if !valid_id(video) || !valid_id(second) {
            return None;
        }
        Some(if by_id {
            Self {
                video,
                cursor: "0",
                comment: Some(second),
            }
        } else {
            Self {
                video,
                cursor: second,
                comment: None,
            }
        })
    }
}

/// The answer's `data`, or why the API refused.
fn answer<T: serde::de::DeserializeOwned>(
    resp: &crate::poll::HttpResponse,
) -> Result<T, crate::poll::PageError> {
    use crate::poll::PageError;
    #[derive(Deserialize)]
    struct Envelope<T> {
        code: i64,
        #[serde(default)]
        message: String,
        data: Option<T>,
    }
    let http = PageError::of_status(resp);
    let envelope: Envelope<T> = match serde_json::from_slice(&resp.body) {
        Ok(e) => e,
        Err(e) => return Err(http.unwrap_or(PageError::Malformed(e.to_string()))),
    };
    let m = format!("code {}: {}", envelope.code, envelope.message);
    match envelope.code {
        0 => match (http, envelope.data) {
            (Some(e), _) => Err(e),
            (None, Some(data)) => Ok(data),
            (None, None) => Err(PageError::Malformed("an answer without data".into())),
        },
        40100 => Err(PageError::RateLimited {
            retry_after: resp.retry_after(),
            reason: m,
        }),
        40102 | 40104 | 40105 => Err(PageError::Unauthorized(m)),
        _ => Err(PageError::Failed(m)),
    }
}

#[derive(Deserialize)]
struct VideoList {
    #[serde(default)]
    videos: Vec<Video>,
}

#[derive(Deserialize)]
struct Video {
    item_id: Id,
}

#[derive(Deserialize)]
struct CommentList {
    #[serde(default)]
    comments: Vec<ApiComment>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    cursor: Option<Id>,
}

#[derive(Deserialize, Clone)]
struct ApiComment {
    comment_id: Id,
    #[serde(default)]
    video_id: Option<Id>,
    #[serde(default)]
    parent_comment_id: Option<Id>,
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
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    reply_list: Vec<ApiComment>,
}

/// The author of a comment, in the webhook event or the API's list: the stable
/// `unique_identifier`, else the deprecated `user_id`, else the user name.
fn author(
    unique_identifier: Option<Id>,
    user_id: Option<Id>,
    username: Option<String>,
    display_name: Option<String>,
) -> Author {
    Author {
        id: unique_identifier
            .or(user_id)
            .map(|i| i.0)
            .or_else(|| username.clone())
            .unwrap_or_else(|| "unknown".into()),
        name: username.or(display_name),
        followers: None,
    }
}

/// A reply's parent; `0` names none (a top-level comment).
fn parent(id: Option<Id>) -> Option<String> {
    id.map(|p| p.0).filter(|p| p != "0")
}

/// A comment of the list, as its webhook event gives it.
fn api_comment(feed: &crate::poll::Feed, video: &str, c: ApiComment) -> PlatformEvent {
    PlatformEvent {
        platform: Platform::TikTok,
        account_id: feed.account.clone(),
        // hidden by the account: gone from the public page
        kind: if c.status.as_deref() == Some("HIDDEN") {
            EventKind::Deleted
        } else {
            EventKind::Created
        },
        external_id: c.comment_id.0,
        thread_id: c.video_id.map(|v| v.0).unwrap_or_else(|| video.to_owned()),
        parent_id: parent(c.parent_comment_id),
        author: author(c.unique_identifier, c.user_id, c.username, c.display_name),
        text: c.text.filter(|t| !t.trim().is_empty()),
        attachment: None,
        created_at: unix_time(c.create_time.as_ref()),
        permalink: None,
        source: None,
        from_account: c.owner,
        private: false,
    }
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
        let p = parse(textless.as_bytes()).unwrap();
        assert!(p.events.is_empty() && p.ignored.is_empty());
        assert_eq!(
            p.reads,
            [super::super::ReadLater {
                platform: Platform::TikTok,
                account_id: "-000OXv3Jb5RkQZ".into(),
                page: "comment 2 1".into(),
            }]
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
