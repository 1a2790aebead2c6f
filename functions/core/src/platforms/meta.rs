//! Meta webhooks: Facebook Page `feed` changes (comments) and Instagram `comments`.
//!
//! Facebook: `{"object":"page","entry":[{"id":PAGE,"time":T,"changes":[{"field":"feed",
//! "value":{"item":"comment","verb":"add|edited|remove","comment_id","post_id","parent_id",
//! "from":{"id","name"},"message","photo"|"video","created_time","post":{"permalink_url"}}}]}]}`;
//! a comment that is only a photo has no `message` but a `photo` URL (`video` for videos
//! and GIFs). Instagram: `{"object":"instagram","entry":[{"id":IG_ACCOUNT,"time":T,
//! "changes":[{"field":"comments","value":{"id","text","from":{"id","username",
//! "self_ig_scoped_id"},"media":{"id"},"parent_id"}}]}]}`; Meta adds `self_ig_scoped_id`
//! when the professional account itself wrote the comment.
//!
//! Direct messages (Messenger, Instagram): `entry[].messaging[]` with `sender.id`,
//! `recipient.id`, `timestamp` (ms) and `message` {`mid`, `text`, `attachments`,
//! `is_echo` for the brand's own, `is_deleted` when unsent} or `message_edit` {`mid`,
//! `text`}; kept as private messages, threaded by the other party.
//!
//! Ids arrive as strings or numbers; both are kept as exact strings ([`Id`]). Each entry
//! and each change is read on its own, so one odd change is ignored, not the delivery.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{
    AppKeys, EventKind, HandshakeError, Id, Ignored, Inbound, MalformedPayload, Parsed,
    PlatformEvent, Reply, Source, unix_time,
};
use crate::comment::{Attachment, AttachmentKind, Author, Platform};
use crate::signature::{SignatureError, hmac_sha256_hex, verify_hex};
use crate::time::Timestamp;

/// Facebook Pages and Instagram professional accounts, through one Meta app's webhooks.
pub struct Meta;

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>`.
/// Meta escapes `/`, `@`, `%`, `<` and non-ASCII characters in the bytes it signs, so only
/// the raw bytes verify, never a re-serialised body.
pub fn verify_signature(
    header: Option<&str>,
    app_secret: &[u8],
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing(SIGNATURE_HEADER))?;
    let hex_sig = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed(SIGNATURE_HEADER))?;
    verify_hex(app_secret, &[body], hex_sig, SIGNATURE_HEADER)
}

/// The header value Meta computes.
pub fn signature(app_secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hmac_sha256_hex(app_secret, &[body]))
}

impl Source for Meta {
    fn name(&self) -> &'static str {
        "meta"
    }

    fn platforms(&self) -> &'static [Platform] {
        &[Platform::Facebook, Platform::Instagram]
    }

    fn has_handshake(&self) -> bool {
        true
    }

    /// `GET ?hub.mode=subscribe&hub.verify_token=<token>&hub.challenge=<c>`: echo `c`.
    fn handshake(&self, keys: &AppKeys, req: &Inbound<'_>) -> Result<Reply, HandshakeError> {
        let expected = keys
            .verify_token
            .as_deref()
            .ok_or(HandshakeError::NotConfigured(Platform::Facebook))?;
        if req.query("hub.mode") != Some("subscribe") {
            return Err(HandshakeError::Mode);
        }
        let token = req.query("hub.verify_token").unwrap_or_default();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            token.as_bytes(),
            expected.as_bytes(),
        )) {
            return Err(HandshakeError::Token);
        }
        Ok(Reply::text(req.query("hub.challenge").unwrap_or_default()))
    }

    fn handshake_identifies_app(&self) -> bool {
        true
    }

    fn verify(
        &self,
        keys: &AppKeys,
        req: &Inbound<'_>,
        _now: Timestamp,
    ) -> Result<(), SignatureError> {
        verify_signature(req.header(SIGNATURE_HEADER), &keys.secret, req.body)
    }

    fn sign(&self, keys: &AppKeys, body: &[u8], _at: Timestamp) -> Vec<(&'static str, String)> {
        vec![(SIGNATURE_HEADER, signature(&keys.secret, body))]
    }

    fn parse(&self, platform: Platform, body: &[u8]) -> Result<Parsed, MalformedPayload> {
        parse(platform, body)
    }
}

#[derive(Deserialize)]
struct Delivery<'a> {
    object: String,
    #[serde(borrow)]
    entry: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    id: Id,
    #[serde(default)]
    time: Option<Value>,
    #[serde(default, borrow)]
    changes: Vec<&'a RawValue>,
    /// Messenger and Instagram direct messages.
    #[serde(default, borrow)]
    messaging: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Messaging {
    sender: Party,
    recipient: Party,
    #[serde(default)]
    timestamp: Option<Value>,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    message_edit: Option<MessageEdit>,
}

#[derive(Deserialize)]
struct Party {
    id: Id,
}

#[derive(Deserialize)]
struct Message {
    mid: Id,
    #[serde(default)]
    text: Option<String>,
    /// Sent by the page or account itself (Meta echoes it back).
    #[serde(default)]
    is_echo: bool,
    /// Instagram: the sender unsent it.
    #[serde(default)]
    is_deleted: bool,
    #[serde(default)]
    attachments: Vec<MessageAttachment>,
    #[serde(default)]
    sticker_id: Option<Value>,
}

#[derive(Deserialize)]
struct MessageAttachment {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    payload: Option<AttachmentPayload>,
}

#[derive(Deserialize)]
struct AttachmentPayload {
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct MessageEdit {
    mid: Id,
    #[serde(default)]
    text: Option<String>,
}

/// One `messaging` item: a message, an echo of the brand's own, an edit or an unsend;
/// reads, deliveries, reactions and postbacks are not messages.
fn message_event(
    platform: Platform,
    account: &str,
    raw: &RawValue,
) -> Result<PlatformEvent, String> {
    let m: Messaging = serde_json::from_str(raw.get()).map_err(|e| format!("messaging: {e}"))?;
    let created_at = unix_millis(m.timestamp.as_ref());
    let own_side = m.sender.id.0 == account;
    let (kind, id, text, attachment, echo) = match (m.message, m.message_edit) {
        (Some(msg), _) => {
            let attachment = msg
                .attachments
                .into_iter()
                .next()
                .map(|a| Attachment {
                    kind: match a.kind.as_deref() {
                        Some("image") => AttachmentKind::Photo,
                        Some("video") | Some("animated_image") => AttachmentKind::Video,
                        Some("fallback") | Some("share") | Some("story_mention") => {
                            AttachmentKind::Link
                        }
                        _ => AttachmentKind::Unknown,
                    },
                    url: a.payload.and_then(|p| p.url),
                })
                .or_else(|| {
                    msg.sticker_id.as_ref().map(|_| Attachment {
                        kind: AttachmentKind::Sticker,
                        url: None,
                    })
                });
            let kind = if msg.is_deleted {
                EventKind::Deleted
            } else {
                EventKind::Created
            };
            (kind, msg.mid.0, msg.text, attachment, msg.is_echo)
        }
        (None, Some(edit)) => (EventKind::Edited, edit.mid.0, edit.text, None, false),
        (None, None) => return Err("messaging event that is not a message".into()),
    };
    let text = text.filter(|t| !t.trim().is_empty());
    if kind != EventKind::Deleted && text.is_none() && attachment.is_none() {
        return Err("message with neither text nor attachment".into());
    }
    let own = echo || own_side;
    let user = if own {
        &m.recipient.id.0
    } else {
        &m.sender.id.0
    };
    Ok(PlatformEvent {
        platform,
        account_id: account.to_owned(),
        kind,
        external_id: id,
        thread_id: super::conversation(user),
        parent_id: None,
        author: Author {
            id: m.sender.id.0.clone(),
            name: None,
            followers: None,
        },
        text,
        attachment,
        created_at,
        permalink: None,
        source: None,
        from_account: own,
        private: true,
    })
}

/// Milliseconds since the epoch, as a number or a string of digits.
fn unix_millis(v: Option<&Value>) -> Option<Timestamp> {
    let ms = match v? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    Some(Timestamp(ms)).filter(|t| (Timestamp::MIN..=Timestamp::MAX).contains(t))
}

#[derive(Deserialize)]
struct Change<'a> {
    field: String,
    #[serde(default, borrow)]
    value: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct Sender {
    #[serde(default)]
    id: Option<Id>,
    /// Facebook.
    #[serde(default)]
    name: Option<String>,
    /// Instagram.
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    self_ig_scoped_id: Option<Id>,
}

#[derive(Deserialize)]
struct FacebookComment {
    #[serde(default)]
    item: Option<String>,
    #[serde(default)]
    verb: Option<String>,
    #[serde(default)]
    comment_id: Option<Id>,
    #[serde(default)]
    post_id: Option<Id>,
    #[serde(default)]
    parent_id: Option<Id>,
    #[serde(default)]
    from: Option<Sender>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    photo: Option<String>,
    #[serde(default)]
    video: Option<String>,
    #[serde(default)]
    created_time: Option<Value>,
    #[serde(default)]
    post: Option<Post>,
}

#[derive(Deserialize)]
struct Post {
    #[serde(default)]
    permalink_url: Option<String>,
}

#[derive(Deserialize)]
struct InstagramComment {
    #[serde(default)]
    id: Option<Id>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    from: Option<Sender>,
    #[serde(default)]
    media: Option<Media>,
    #[serde(default)]
    parent_id: Option<Id>,
}

#[derive(Deserialize)]
struct Media {
    #[serde(default)]
    id: Option<Id>,
}

/// Parses a delivery's bytes. Only a body that is not a Meta delivery at all is an error;
/// changes vigie does not handle (likes, posts, unknown fields, incomplete values) are ignored.
pub fn parse(platform: Platform, body: &[u8]) -> Result<Parsed, MalformedPayload> {
    let malformed = |reason: String| MalformedPayload { platform, reason };
    let delivery: Delivery = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let expected = match platform {
        Platform::Facebook => "page",
        Platform::Instagram => "instagram",
        _ => return Err(malformed("not a Meta platform".into())),
    };
    if delivery.object != expected {
        return Err(malformed(format!(
            "object is {:?}, expected {expected:?}",
            delivery.object
        )));
    }
    let mut parsed = Parsed::default();
    let mut ignore = |reason: String| parsed.ignored.push(Ignored { platform, reason });
    let mut events = Vec::new();
    let mut reads = Vec::new();
    for (i, raw) in delivery.entry.into_iter().enumerate() {
        let entry: Entry = match serde_json::from_str(raw.get()) {
            Ok(e) => e,
            Err(e) => {
                ignore(format!("entry {i}: {e}"));
                continue;
            }
        };
        let account = entry.id.0;
        let entry_time = unix_time(entry.time.as_ref());
        for raw in entry.changes {
            let change = match serde_json::from_str::<Change>(raw.get()) {
                Ok(c) => c,
                Err(e) => {
                    ignore(format!("change: {e}"));
                    continue;
                }
            };
            if platform == Platform::Instagram && change.field == "mentions" {
                // ids only: the poll function reads the words
                match mention(&account, &change) {
                    Ok(read) => reads.push(read),
                    Err(reason) => ignore(reason),
                }
                continue;
            }
            let outcome = match platform {
                Platform::Facebook => facebook_change(&account, &change, entry_time),
                _ => instagram_change(&account, &change, entry_time),
            };
            match outcome {
                Ok(event) => events.push(event),
                Err(reason) => ignore(reason),
            }
        }
        for raw in entry.messaging {
            match message_event(platform, &account, raw) {
                Ok(event) => events.push(event),
                Err(reason) => ignore(reason),
            }
        }
    }
    parsed.events = events;
    parsed.reads = reads;
    Ok(parsed)
}

/// An Instagram `mentions` change: `{"media_id", "comment_id"}` for a comment that
/// mentions the account, `{"media_id"}` alone for a caption. Read by id later:
/// `mention:<comment id>` or `mention-media:<media id>`.
fn mention(account: &str, change: &Change<'_>) -> Result<super::ReadLater, String> {
    #[derive(Deserialize)]
    struct Mention {
        #[serde(default)]
        media_id: Option<Id>,
        #[serde(default)]
        comment_id: Option<Id>,
    }
    let v: Mention = value(change)?;
    let digits = |id: &Id| !id.0.is_empty() && id.0.bytes().all(|b| b.is_ascii_digit());
    if v.comment_id.iter().chain(&v.media_id).any(|id| !digits(id)) {
        return Err("mention with an id that is not a number".into());
    }
    let page = match (v.comment_id, v.media_id) {
        (Some(c), _) => format!("{MENTION}{}", c.0),
        (None, Some(m)) => format!("{MENTION_MEDIA}{}", m.0),
        (None, None) => return Err("mention without comment_id or media_id".into()),
    };
    Ok(super::ReadLater {
        platform: Platform::Instagram,
        account_id: account.to_owned(),
        page,
    })
}

/// The read-side pages of Instagram mentions.
const MENTION: &str = "mention:";
const MENTION_MEDIA: &str = "mention-media:";

fn value<'a, T: Deserialize<'a>>(change: &Change<'a>) -> Result<T, String> {
    let raw = change.value.ok_or("change without value")?;
    serde_json::from_str(raw.get()).map_err(|e| format!("{} value: {e}", change.field))
}

fn facebook_change(
    page: &str,
    change: &Change<'_>,
    entry_time: Option<Timestamp>,
) -> Result<PlatformEvent, String> {
    if change.field != "feed" {
        return Err(format!("field {}", change.field));
    }
    let v: FacebookComment = value(change)?;
    let item = v.item.unwrap_or_default();
    if item != "comment" {
        return Err(format!("feed item {item:?}"));
    }
    let verb = v.verb.unwrap_or_default();
    let kind = match verb.as_str() {
        "add" => EventKind::Created,
        "edited" => EventKind::Edited,
        "remove" => EventKind::Deleted,
        other => return Err(format!("comment verb {other:?}")),
    };
    let comment_id = v.comment_id.ok_or("comment without comment_id")?.0;
    let post_id = v.post_id.ok_or("comment without post_id")?.0;
    let from = v.from.unwrap_or_default();
    let text = v.message.filter(|m| !m.trim().is_empty());
    let attachment = match (v.photo, v.video) {
        (Some(url), _) => Some(Attachment {
            kind: AttachmentKind::Photo,
            url: Some(url),
        }),
        (None, Some(url)) => Some(Attachment {
            kind: AttachmentKind::Video,
            url: Some(url),
        }),
        // A sticker or a media Meta does not describe: still a comment to answer.
        (None, None) if text.is_none() && kind != EventKind::Deleted => Some(Attachment {
            kind: AttachmentKind::Unknown,
            url: None,
        }),
        (None, None) => None,
    };
    let parent = v.parent_id.map(|p| p.0).filter(|p| *p != post_id);
    let author_id = from.id.map(|i| i.0);
    Ok(PlatformEvent {
        platform: Platform::Facebook,
        account_id: page.to_owned(),
        kind,
        external_id: comment_id,
        thread_id: post_id,
        parent_id: parent,
        from_account: author_id.as_deref() == Some(page),
        private: false,
        author: Author {
            // Meta omits `from` for some users; the comment is still the brand's to answer.
            id: author_id.unwrap_or_else(|| "unknown".into()),
            name: from.name,
            followers: None,
        },
        text,
        attachment,
        created_at: unix_time(v.created_time.as_ref()).or(entry_time),
        permalink: v.post.and_then(|p| p.permalink_url),
        source: None,
    })
}

fn instagram_change(
    account: &str,
    change: &Change<'_>,
    entry_time: Option<Timestamp>,
) -> Result<PlatformEvent, String> {
    if change.field != "comments" && change.field != "live_comments" {
        return Err(format!("field {}", change.field));
    }
    let v: InstagramComment = value(change)?;
    let comment_id = v.id.ok_or("comment without id")?.0;
    let media = v
        .media
        .and_then(|m| m.id)
        .ok_or("comment without media id")?
        .0;
    let body = v
        .text
        .filter(|t| !t.trim().is_empty())
        .ok_or("comment without text")?;
    let from = v.from.unwrap_or_default();
    let author_id = from.id.map(|i| i.0);
    // The account's own comments carry `self_ig_scoped_id`, and their `from.id` is not
    // always the entry's account id.
    let own = from.self_ig_scoped_id.is_some() || author_id.as_deref() == Some(account);
    Ok(PlatformEvent {
        platform: Platform::Instagram,
        account_id: account.to_owned(),
        kind: EventKind::Created,
        external_id: comment_id,
        thread_id: media,
        parent_id: v.parent_id.map(|p| p.0),
        author: Author {
            id: author_id.unwrap_or_else(|| "unknown".into()),
            name: from.username,
            followers: None,
        },
        text: Some(body),
        attachment: None,
        created_at: entry_time,
        permalink: None,
        source: None,
        from_account: own,
        private: false,
    })
}

/// The Graph API version gap repair reads.
pub const GRAPH_VERSION: &str = "v23.0";

/// Gap repair: the Graph API's recent posts (Facebook) or media (Instagram) of the account,
/// each with its newest comments, in one request per run:
/// `GET /<version>/<page>/feed?fields=id,permalink_url,comments.filter(stream)
/// .order(reverse_chronological).limit(50){id,message,from,created_time,parent{id}}&limit=25`
/// and `GET /<version>/<ig account>/media?fields=id,permalink,comments.limit(50){id,text,
/// timestamp,username,from,parent_id,replies{...}}&limit=25`. Times are
/// `2026-12-01T10:00:00+0000`. Errors: `{"error": {"message", "type", "code",
/// "error_subcode"}}`; codes 4, 17, 32, 613 and 80001-80014 are rate limits, 190 an
/// expired or revoked token. The token is a long-lived one (a system user's) that does not
/// refresh. Only the 25 newest posts are read: a lost webhook on an older post is not repaired.
impl crate::poll::Pull for Meta {
    fn repairs(&self, _: Platform) -> bool {
        true
    }

    fn check_keys(&self, p: &crate::config::PullConfig) -> Vec<(&'static str, &'static str)> {
        crate::poll::static_token_keys(
            p,
            "gap repair reads with a system user's token",
            "Meta's token does not refresh: give its access_token",
        )
    }

    fn api_url(&self) -> &'static str {
        "https://graph.facebook.com"
    }

    fn page_request(
        &self,
        api: &str,
        feed: &crate::poll::Feed,
        _: &crate::poll::PullKeys,
        page: Option<&str>,
    ) -> crate::poll::HttpRequest {
        if let Some(field) = page.and_then(mention_field) {
            let mut q = form_urlencoded::Serializer::new(String::new());
            q.append_pair("fields", &field);
            return crate::poll::HttpRequest::get(format!(
                "{}/{GRAPH_VERSION}/{}?{}",
                api.trim_end_matches('/'),
                feed.account,
                q.finish()
            ));
        }
        let (edge, fields) = match feed.platform {
            Platform::Instagram => (
                "media",
                "id,permalink,comments.limit(50){id,text,timestamp,username,from,parent_id,\
                 replies{id,text,timestamp,username,from,parent_id}}",
            ),
            _ => (
                "feed",
                "id,permalink_url,comments.filter(stream).order(reverse_chronological).limit(50)\
                 {id,message,from,created_time,parent{id}}",
            ),
        };
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("fields", fields).append_pair("limit", "25");
        crate::poll::HttpRequest::get(format!(
            "{}/{GRAPH_VERSION}/{}/{edge}?{}",
            api.trim_end_matches('/'),
            feed.account,
            q.finish()
        ))
    }

    fn read_page(
        &self,
        feed: &crate::poll::Feed,
        _: &crate::poll::PullKeys,
        page: Option<&str>,
        resp: &crate::poll::HttpResponse,
    ) -> Result<crate::poll::Page, crate::poll::PageError> {
        use crate::poll::{Page, PageError};
        if resp.status != 200 {
            let generic = PageError::of_status(resp)
                .unwrap_or_else(|| PageError::Failed(format!("HTTP {}", resp.status)));
            let Ok(e) = serde_json::from_slice::<GraphErrorBody>(&resp.body) else {
                return Err(generic);
            };
            let m = format!("code {}: {}", e.error.code, e.error.message);
            return Err(match e.error.code {
                4 | 17 | 32 | 613 | 80001..=80014 => PageError::RateLimited {
                    retry_after: resp.retry_after(),
                    reason: m,
                },
                190 => PageError::Unauthorized(m),
                _ => PageError::Failed(m),
            });
        }
        if page.is_some_and(|p| mention_field(p).is_some()) {
            return read_mention(feed, resp);
        }
        let list: GraphList = crate::poll::json_page(resp)?;
        let mut page = Page::default();
        for post in list.data {
            let post_id = post.id.0;
            let comments = post.comments.map(|c| c.data).unwrap_or_default();
            for c in comments {
                let replies = c
                    .replies
                    .as_ref()
                    .map(|r| r.data.clone())
                    .unwrap_or_default();
                for c in std::iter::once(c).chain(replies) {
                    let event = graph_comment(
                        feed,
                        &post_id,
                        post.permalink_url.as_deref().or(post.permalink.as_deref()),
                        c,
                    );
                    page.push(event);
                }
            }
        }
        // one page a run, and no cursor stop: posts are ordered by their own time, not
        // their comments'
        page.oldest = None;
        Ok(page)
    }
}

/// The field that reads a mention by id: `mentioned_comment.comment_id(<id>){...}` for a
/// comment, `mentioned_media.media_id(<id>){...}` for a caption.
fn mention_field(page: &str) -> Option<String> {
    if let Some(id) = page.strip_prefix(MENTION) {
        Some(format!(
            "mentioned_comment.comment_id({id}){{id,text,timestamp,media{{id,permalink}}}}"
        ))
    } else {
        page.strip_prefix(MENTION_MEDIA).map(|id| {
            format!("mentioned_media.media_id({id}){{id,caption,media_type,timestamp,username}}")
        })
    }
}

/// A mention read by id: `{"mentioned_comment": {"id", "text", "timestamp", "media":
/// {"id", "permalink"}}, "id": <account>}` (the commenter is not given), or
/// `{"mentioned_media": {"id", "caption", "media_type", "timestamp", "username"}}` (the
/// caption without its `@`). The comment is on another account's media; the media is
/// another account's post. Either is answered where it is.
fn read_mention(
    feed: &crate::poll::Feed,
    resp: &crate::poll::HttpResponse,
) -> Result<crate::poll::Page, crate::poll::PageError> {
    #[derive(Deserialize)]
    struct Mentioned {
        #[serde(default)]
        mentioned_comment: Option<GraphComment>,
        #[serde(default)]
        mentioned_media: Option<MentionedMedia>,
    }
    #[derive(Deserialize)]
    struct MentionedMedia {
        id: Id,
        #[serde(default)]
        caption: Option<String>,
        #[serde(default)]
        timestamp: Option<String>,
        #[serde(default)]
        permalink: Option<String>,
        #[serde(default)]
        username: Option<String>,
    }
    let m: Mentioned = crate::poll::json_page(resp)?;
    let mut page = crate::poll::Page::default();
    if let Some(c) = m.mentioned_comment {
        let media = c.media.clone().ok_or_else(|| {
            crate::poll::PageError::Malformed("mentioned comment without its media".into())
        })?;
        let mut event = graph_comment(feed, &media.id.0, media.permalink.as_deref(), c);
        // what a mention says is the point: without words it is nothing to answer
        event.attachment = None;
        event.source = Some("mention".into());
        page.push(event);
    } else if let Some(m) = m.mentioned_media {
        let id = m.id.0;
        page.push(PlatformEvent {
            platform: feed.platform,
            account_id: feed.account.clone(),
            kind: EventKind::Created,
            external_id: format!("media:{id}"),
            thread_id: id,
            parent_id: None,
            from_account: false,
            private: false,
            author: Author {
                id: m.username.clone().unwrap_or_else(|| "unknown".into()),
                name: m.username,
                followers: None,
            },
            text: m.caption.filter(|t| !t.trim().is_empty()),
            attachment: None,
            created_at: m.timestamp.as_deref().and_then(graph_time),
            permalink: m.permalink,
            source: Some("caption mention".into()),
        });
    } else {
        return Err(crate::poll::PageError::Malformed(
            "neither mentioned_comment nor mentioned_media".into(),
        ));
    }
    // read by id: no cursor applies
    page.oldest = None;
    page.newest = None;
    Ok(page)
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
}

#[derive(Deserialize)]
struct GraphList {
    data: Vec<GraphPost>,
}

#[derive(Deserialize)]
struct GraphPost {
    id: Id,
    #[serde(default)]
    permalink_url: Option<String>,
    #[serde(default)]
    permalink: Option<String>,
    #[serde(default)]
    comments: Option<GraphComments>,
}

#[derive(Deserialize, Clone)]
struct GraphComments {
    #[serde(default)]
    data: Vec<GraphComment>,
}

#[derive(Deserialize, Clone)]
struct GraphComment {
    id: Id,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    from: Option<GraphFrom>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    created_time: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    parent: Option<GraphRef>,
    #[serde(default)]
    parent_id: Option<Id>,
    #[serde(default)]
    replies: Option<GraphComments>,
    /// A mentioned comment's media.
    #[serde(default)]
    media: Option<GraphMedia>,
}

#[derive(Deserialize, Clone)]
struct GraphMedia {
    id: Id,
    #[serde(default)]
    permalink: Option<String>,
}

#[derive(Deserialize, Clone)]
struct GraphFrom {
    #[serde(default)]
    id: Option<Id>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Deserialize, Clone)]
struct GraphRef {
    id: Id,
}

/// A Graph API time, `2026-12-01T10:00:00+0000` (the offset without a colon).
pub fn graph_time(s: &str) -> Option<Timestamp> {
    Timestamp::parse_rfc3339(s).or_else(|| {
        let (head, offset) = s.split_at(s.len().checked_sub(5)?);
        let sign = offset.as_bytes()[0];
        if (sign == b'+' || sign == b'-') && offset[1..].bytes().all(|b| b.is_ascii_digit()) {
            Timestamp::parse_rfc3339(&format!("{head}{}:{}", &offset[..3], &offset[3..]))
        } else {
            None
        }
    })
}

fn graph_comment(
    feed: &crate::poll::Feed,
    post: &str,
    permalink: Option<&str>,
    c: GraphComment,
) -> PlatformEvent {
    let from = c.from.unwrap_or(GraphFrom {
        id: None,
        name: None,
        username: None,
    });
    let author_id = from.id.map(|i| i.0);
    let text = c.message.or(c.text).filter(|t| !t.trim().is_empty());
    let parent = c
        .parent
        .map(|p| p.id.0)
        .or(c.parent_id.map(|p| p.0))
        .filter(|p| p != post);
    PlatformEvent {
        platform: feed.platform,
        account_id: feed.account.clone(),
        kind: EventKind::Created,
        external_id: c.id.0,
        thread_id: post.to_owned(),
        parent_id: parent,
        from_account: author_id.as_deref() == Some(feed.account.as_str()),
        private: false,
        author: Author {
            id: author_id.unwrap_or_else(|| "unknown".into()),
            name: from.name.or(from.username).or(c.username),
            followers: None,
        },
        // a comment that is only a photo or a sticker: still one to answer, as its webhook says
        attachment: text.is_none().then_some(Attachment {
            kind: AttachmentKind::Unknown,
            url: None,
        }),
        text,
        created_at: c
            .created_time
            .or(c.timestamp)
            .as_deref()
            .and_then(graph_time),
        permalink: permalink.map(str::to_owned),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FB: &str = r#"{"object":"page","entry":[{"id":"1001","time":1764086400,"changes":[
      {"field":"feed","value":{"from":{"id":"77","name":"Jeanne"},"post":{"id":"1001_5","permalink_url":"https://www.facebook.com/1001/posts/5"},
       "message":"Toujours pas reçu ma commande \ud83d\ude21","post_id":"1001_5","comment_id":"5_900","created_time":1764086399,
       "item":"comment","parent_id":"1001_5","verb":"add"}},
      {"field":"feed","value":{"item":"reaction","verb":"add","post_id":"1001_5","reaction_type":"like"}},
      {"field":"feed","value":{"item":"comment","verb":"remove","post_id":"1001_5","comment_id":"5_901","parent_id":"5_900","from":{"id":"78"}}}
    ]}]}"#;

    #[test]
    fn facebook_comments_edits_and_deletes() {
        let parsed = parse(Platform::Facebook, FB.as_bytes()).unwrap();
        assert_eq!(parsed.events.len(), 2);
        let e = &parsed.events[0];
        assert_eq!(e.kind, EventKind::Created);
        assert_eq!(e.account_id, "1001");
        assert_eq!(e.external_id, "5_900");
        assert_eq!(e.thread_id, "1001_5");
        assert_eq!(e.parent_id, None);
        assert_eq!(e.text.as_deref(), Some("Toujours pas reçu ma commande 😡"));
        assert_eq!(e.author.name.as_deref(), Some("Jeanne"));
        assert_eq!(e.created_at, Some(Timestamp::from_unix_seconds(1764086399)));
        assert_eq!(
            e.permalink.as_deref(),
            Some("https://www.facebook.com/1001/posts/5")
        );
        let d = &parsed.events[1];
        assert_eq!(d.kind, EventKind::Deleted);
        assert_eq!(d.parent_id.as_deref(), Some("5_900"));
        assert_eq!(parsed.ignored.len(), 1);
        assert!(parsed.ignored[0].reason.contains("reaction"));
    }

    #[test]
    fn instagram_comments_with_numeric_ids_stay_exact() {
        let body = r#"{"object":"instagram","entry":[{"id":17841400000000001,"time":1764086400,"changes":[{"field":"comments",
          "value":{"from":{"id":"2321","username":"lea.b"},"media":{"id":18000000000000001,"media_product_type":"FEED"},
          "id":"17865799348089039","text":"J'adore ❤️"}}]}]}"#;
        let parsed = parse(Platform::Instagram, body.as_bytes()).unwrap();
        let e = &parsed.events[0];
        assert_eq!(e.account_id, "17841400000000001");
        assert_eq!(e.thread_id, "18000000000000001");
        assert_eq!(e.author.name.as_deref(), Some("lea.b"));
        assert_eq!(e.created_at, Some(Timestamp::from_unix_seconds(1764086400)));
    }

    #[test]
    fn a_photo_comment_without_message_is_kept_with_its_photo() {
        let body = r#"{"object":"page","entry":[{"id":"1001","time":1764086400,"changes":[
          {"field":"feed","value":{"from":{"id":"77","name":"Jeanne"},"post":{"id":"1001_5","permalink_url":"https://www.facebook.com/1001/posts/5"},
           "photo":"https://scontent.xx.fbcdn.net/v/t39/colis.jpg","post_id":"1001_5","comment_id":"5_910","created_time":1764086399,
           "item":"comment","parent_id":"1001_5","verb":"add"}},
          {"field":"feed","value":{"from":{"id":"78"},"video":"https://video.xx.fbcdn.net/v/reaction.mp4","post_id":"1001_5",
           "comment_id":"5_911","item":"comment","parent_id":"1001_5","verb":"add","message":"  "}},
          {"field":"feed","value":{"from":{"id":"79"},"post_id":"1001_5","comment_id":"5_912","item":"comment","verb":"add"}}
        ]}]}"#;
        let parsed = parse(Platform::Facebook, body.as_bytes()).unwrap();
        assert!(parsed.ignored.is_empty(), "{:?}", parsed.ignored);
        let kinds: Vec<_> = parsed
            .events
            .iter()
            .map(|e| {
                assert_eq!(e.text, None);
                let a = e.attachment.as_ref().unwrap();
                (a.kind, a.url.as_deref())
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (
                    AttachmentKind::Photo,
                    Some("https://scontent.xx.fbcdn.net/v/t39/colis.jpg")
                ),
                (
                    AttachmentKind::Video,
                    Some("https://video.xx.fbcdn.net/v/reaction.mp4")
                ),
                (AttachmentKind::Unknown, None),
            ]
        );
    }

    #[test]
    fn instagram_comments_by_the_account_itself_are_its_own() {
        let body = r#"{"object":"instagram","entry":[{"id":"17841400000000001","time":1764086400,"changes":[
          {"field":"comments","value":{"from":{"id":"9912345","username":"acme","self_ig_scoped_id":"9912345"},
           "media":{"id":"18000000000000001"},"id":"17865799348089040","parent_id":"17865799348089039","text":"Merci Léa !"}},
          {"field":"comments","value":{"from":{"id":"2321","username":"lea.b"},
           "media":{"id":"18000000000000001"},"id":"17865799348089041","text":"Toujours rien"}}
        ]}]}"#;
        let parsed = parse(Platform::Instagram, body.as_bytes()).unwrap();
        assert!(parsed.events[0].from_account);
        assert!(!parsed.events[1].from_account);
    }

    #[test]
    fn ids_beyond_u64_stay_distinct_and_odd_changes_are_ignored_alone() {
        let body = r#"{"object":"page","entry":[{"id":1001,"changes":[
          {"field":"feed","value":{"item":"comment","verb":"add","message":"un","post_id":36893488147419103232,"comment_id":36893488147419103233}},
          {"field":"feed","value":{"item":"comment","verb":"add","message":"deux","post_id":36893488147419103232,"comment_id":36893488147419103234}},
          {"field":"feed","value":{"item":"comment","verb":"add","message":"trois","post_id":"1001_5","comment_id":1.5}},
          {"field":"feed","value":{"item":"comment","verb":"add","message":["not","text"],"post_id":"1001_5","comment_id":"5_3"}}
        ]},{"id":2.5,"changes":[]}]}"#;
        let parsed = parse(Platform::Facebook, body.as_bytes()).unwrap();
        let ids: Vec<_> = parsed
            .events
            .iter()
            .map(|e| e.external_id.as_str())
            .collect();
        assert_eq!(ids, ["36893488147419103233", "36893488147419103234"]);
        assert_eq!(parsed.events[0].thread_id, "36893488147419103232");
        assert_eq!(parsed.events[0].account_id, "1001");
        assert_eq!(parsed.ignored.len(), 3, "{:?}", parsed.ignored);
        assert!(
            parsed
                .ignored
                .iter()
                .any(|i| i.reason.starts_with("entry 1"))
        );
    }

    #[test]
    fn not_a_meta_delivery_is_malformed() {
        assert!(parse(Platform::Facebook, b"not json").is_err());
        assert!(parse(Platform::Facebook, br#"{"object":"instagram","entry":[]}"#).is_err());
        assert!(parse(Platform::Instagram, br#"{"entry":[]}"#).is_err());
        assert!(
            parse(Platform::Facebook, br#"{"object":"page","entry":[]}"#)
                .unwrap()
                .events
                .is_empty()
        );
    }
}
