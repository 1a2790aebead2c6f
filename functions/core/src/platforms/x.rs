//! X (Account Activity API): replies and mentions of the subscribed account, and their
//! deletes. See docs/platforms.md for the sources.
//!
//! Subscription check: `GET ?crc_token=<t>` answered with `{"response_token":
//! "sha256=<base64 HMAC-SHA256(consumer secret, t)>"}`. Deliveries carry
//! `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256(consumer secret, raw body)>`.
//!
//! Body: `{"for_user_id": ACCOUNT, "tweet_create_events": [tweet...],
//! "tweet_delete_events": [{"status": {"id", "user_id"}, "timestamp_ms"}]}` and other
//! activity (`favorite_events`, `follow_events`, `direct_message_events`...), acknowledged
//! and counted. A tweet is v1.1-shaped: `id_str`, `text` or, when `truncated`,
//! `extended_tweet.full_text`, `user` {`id_str`, `screen_name`, `name`,
//! `followers_count`}, `in_reply_to_status_id_str`, `timestamp_ms`, `created_at`
//! (`Mon May 19 14:01:46 +0000 2025`), `retweeted_status` for a retweet.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    AppKeys, EventKind, HandshakeError, Id, Ignored, Inbound, MalformedPayload, Parsed,
    PlatformEvent, Reply, Source,
};
use crate::comment::{Author, Platform};
use crate::signature::{SignatureError, hmac_sha256_base64, verify_base64};
use crate::time::Timestamp;

pub struct X;

pub const SIGNATURE_HEADER: &str = "x-twitter-webhooks-signature";

/// The activity kinds a delivery may carry besides tweets: acknowledged, counted.
const OTHER_ACTIVITY: [&str; 10] = [
    "favorite_events",
    "follow_events",
    "unfollow_events",
    "block_events",
    "unblock_events",
    "mute_events",
    "unmute_events",
    "user_event",
    "direct_message_indicate_typing_events",
    "direct_message_mark_read_events",
];

impl Source for X {
    fn name(&self) -> &'static str {
        "x"
    }

    fn platforms(&self) -> &'static [Platform] {
        &[Platform::X]
    }

    fn has_handshake(&self) -> bool {
        true
    }

    fn handshake(&self, keys: &AppKeys, req: &Inbound<'_>) -> Result<Reply, HandshakeError> {
        let token = req
            .query("crc_token")
            .ok_or(HandshakeError::Missing("crc_token"))?;
        Ok(Reply::json(&serde_json::json!({
            "response_token": format!("sha256={}", hmac_sha256_base64(&keys.secret, &[token.as_bytes()])),
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
            .ok_or(SignatureError::Missing(SIGNATURE_HEADER))?;
        let b64 = header
            .strip_prefix("sha256=")
            .ok_or(SignatureError::Malformed(SIGNATURE_HEADER))?;
        verify_base64(&keys.secret, &[req.body], b64, SIGNATURE_HEADER)
    }

    fn sign(&self, keys: &AppKeys, body: &[u8], _at: Timestamp) -> Vec<(&'static str, String)> {
        vec![(
            SIGNATURE_HEADER,
            format!("sha256={}", hmac_sha256_base64(&keys.secret, &[body])),
        )]
    }

    fn parse(&self, _platform: Platform, body: &[u8]) -> Result<Parsed, MalformedPayload> {
        parse(body)
    }
}

#[derive(Deserialize)]
struct Tweet {
    id_str: Id,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    full_text: Option<String>,
    #[serde(default)]
    truncated: bool,
    #[serde(default)]
    extended_tweet: Option<Extended>,
    user: User,
    #[serde(default)]
    in_reply_to_status_id_str: Option<Id>,
    #[serde(default)]
    timestamp_ms: Option<Id>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    retweeted_status: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Extended {
    #[serde(default)]
    full_text: Option<String>,
}

#[derive(Deserialize)]
struct User {
    id_str: Id,
    #[serde(default)]
    screen_name: Option<String>,
    #[serde(default)]
    followers_count: Option<u64>,
}

#[derive(Deserialize)]
struct Delete {
    status: DeletedStatus,
}

#[derive(Deserialize)]
struct DeletedStatus {
    id: Id,
    #[serde(default)]
    user_id: Option<Id>,
}

#[derive(Deserialize)]
struct DirectMessage {
    #[serde(rename = "type")]
    kind: String,
    id: Id,
    #[serde(default)]
    created_timestamp: Option<Id>,
    message_create: MessageCreate,
}

#[derive(Deserialize)]
struct MessageCreate {
    sender_id: Id,
    target: Target,
    #[serde(default)]
    message_data: Option<MessageData>,
}

#[derive(Deserialize)]
struct Target {
    recipient_id: Id,
}

#[derive(Deserialize)]
struct MessageData {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct DmUser {
    #[serde(default)]
    screen_name: Option<String>,
    #[serde(default)]
    followers_count: Option<u64>,
}

/// `Mon May 19 14:01:46 +0000 2025`.
fn classic_time(s: &str) -> Option<Timestamp> {
    let format = time::macros::format_description!(
        "[weekday repr:short] [month repr:short] [day] [hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute] [year]"
    );
    let t = time::OffsetDateTime::parse(s, format).ok()?;
    Timestamp::checked_unix_seconds(t.unix_timestamp())
}

fn millis(id: Option<&Id>) -> Option<Timestamp> {
    let ms: i64 = id?.0.parse().ok()?;
    Some(Timestamp(ms)).filter(|t| (Timestamp::MIN..=Timestamp::MAX).contains(t))
}

pub fn parse(body: &[u8]) -> Result<Parsed, MalformedPayload> {
    let malformed = |reason: String| MalformedPayload {
        platform: Platform::X,
        reason,
    };
    // Read key by key: the ids inside need their raw text (`Id`), which flattening loses.
    let mut top: std::collections::BTreeMap<String, &RawValue> =
        serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let account = top
        .remove("for_user_id")
        .ok_or_else(|| malformed("for_user_id is missing".into()))
        .and_then(|raw| {
            serde_json::from_str::<Id>(raw.get())
                .map_err(|e| malformed(format!("for_user_id: {e}")))
        })?
        .0;
    let mut list = |name: &str| -> Result<Vec<&RawValue>, MalformedPayload> {
        match top.remove(name) {
            None => Ok(Vec::new()),
            Some(raw) => {
                serde_json::from_str(raw.get()).map_err(|e| malformed(format!("{name}: {e}")))
            }
        }
    };
    let creates = list("tweet_create_events")?;
    let deletes = list("tweet_delete_events")?;
    let messages = list("direct_message_events")?;
    let users: std::collections::BTreeMap<String, DmUser> = match top.remove("users") {
        Some(raw) => serde_json::from_str(raw.get()).unwrap_or_default(),
        None => Default::default(),
    };
    let mut parsed = Parsed::default();
    let ignore = |reason: String| Ignored {
        platform: Platform::X,
        reason,
    };
    for (i, raw) in creates.into_iter().enumerate() {
        let tweet: Tweet = match serde_json::from_str::<Tweet>(raw.get()) {
            Ok(t) if t.retweeted_status.is_some() => {
                parsed.ignored.push(ignore(format!("tweet {i}: a retweet")));
                continue;
            }
            Ok(t) => t,
            Err(e) => {
                parsed.ignored.push(ignore(format!("tweet {i}: {e}")));
                continue;
            }
        };
        let text = match (&tweet.extended_tweet, tweet.truncated) {
            (Some(Extended { full_text: Some(t) }), _) => Some(t.clone()),
            _ => tweet.full_text.clone().or(tweet.text.clone()),
        }
        .filter(|t| !t.trim().is_empty());
        let Some(text) = text else {
            parsed
                .ignored
                .push(ignore(format!("tweet {i}: without text")));
            continue;
        };
        let id = tweet.id_str.0;
        let author = tweet.user.id_str.0;
        parsed.events.push(PlatformEvent {
            platform: Platform::X,
            account_id: account.clone(),
            kind: EventKind::Created,
            thread_id: tweet
                .in_reply_to_status_id_str
                .map(|p| p.0)
                .unwrap_or_else(|| id.clone()),
            parent_id: None,
            from_account: author == account,
            private: false,
            permalink: tweet
                .user
                .screen_name
                .as_deref()
                .map(|n| format!("https://x.com/{n}/status/{id}")),
            external_id: id,
            author: Author {
                id: author,
                name: tweet.user.screen_name,
                followers: tweet.user.followers_count,
            },
            text: Some(text),
            attachment: None,
            created_at: millis(tweet.timestamp_ms.as_ref())
                .or_else(|| tweet.created_at.as_deref().and_then(classic_time)),
            source: None,
        });
    }
    for (i, raw) in deletes.into_iter().enumerate() {
        match serde_json::from_str::<Delete>(raw.get()) {
            Ok(d) => parsed.events.push(PlatformEvent {
                platform: Platform::X,
                account_id: account.clone(),
                kind: EventKind::Deleted,
                thread_id: d.status.id.0.clone(),
                parent_id: None,
                from_account: d.status.user_id.is_some_and(|u| u.0 == account),
                private: false,
                external_id: d.status.id.0,
                author: Author {
                    id: "unknown".into(),
                    name: None,
                    followers: None,
                },
                text: None,
                attachment: None,
                created_at: None,
                permalink: None,
                source: None,
            }),
            Err(e) => parsed.ignored.push(ignore(format!("delete {i}: {e}"))),
        }
    }
    for (i, raw) in messages.into_iter().enumerate() {
        let dm = match serde_json::from_str::<DirectMessage>(raw.get()) {
            Ok(dm) if dm.kind == "message_create" => dm,
            Ok(dm) => {
                parsed
                    .ignored
                    .push(ignore(format!("direct message {i}: type {:?}", dm.kind)));
                continue;
            }
            Err(e) => {
                parsed
                    .ignored
                    .push(ignore(format!("direct message {i}: {e}")));
                continue;
            }
        };
        let Some(text) = dm
            .message_create
            .message_data
            .and_then(|d| d.text)
            .filter(|t| !t.trim().is_empty())
        else {
            parsed
                .ignored
                .push(ignore(format!("direct message {i}: without text")));
            continue;
        };
        let sender = dm.message_create.sender_id.0;
        let own = sender == account;
        let user = if own {
            dm.message_create.target.recipient_id.0
        } else {
            sender.clone()
        };
        let profile = users.get(&sender);
        parsed.events.push(PlatformEvent {
            platform: Platform::X,
            account_id: account.clone(),
            kind: EventKind::Created,
            external_id: dm.id.0,
            thread_id: super::conversation(&user),
            parent_id: None,
            author: Author {
                id: sender,
                name: profile.and_then(|p| p.screen_name.clone()),
                followers: profile.and_then(|p| p.followers_count),
            },
            text: Some(text),
            attachment: None,
            created_at: millis(dm.created_timestamp.as_ref()),
            permalink: None,
            source: None,
            from_account: own,
            private: true,
        });
    }
    // A companion of the messages (the apps that sent them), not activity.
    top.remove("apps");
    for (kind, raw) in top {
        let count = serde_json::from_str::<Vec<&RawValue>>(raw.get()).map_or(1, |v| v.len());
        let reason = if OTHER_ACTIVITY.contains(&kind.as_str()) {
            kind.to_owned()
        } else {
            format!("unknown activity {kind:?}")
        };
        for _ in 0..count {
            parsed.ignored.push(ignore(reason.clone()));
        }
    }
    Ok(parsed)
}

/// Gap repair: the account's mention timeline of the X API v2, newest first,
/// `GET /2/users/<id>/mentions?max_results=100&tweet.fields=created_at,author_id,
/// conversation_id,referenced_tweets,note_tweet&expansions=author_id&user.fields=username,
/// name,public_metrics[&pagination_token=]`: `{"data": [{"id", "text", "author_id",
/// "created_at", "conversation_id", "referenced_tweets": [{"type": "replied_to", "id"}],
/// "note_tweet": {"text"}}], "includes": {"users": [{"id", "username", "name",
/// "public_metrics": {"followers_count"}}]}, "meta": {"result_count", "newest_id",
/// "oldest_id", "next_token"}}` (no `data` when there is nothing). The token is the
/// app's bearer token (app-only), which does not expire. Limits: 429 with
/// `x-rate-limit-reset` (epoch seconds); `x-rate-limit-remaining: 0` on a page says the
/// window is spent. Errors: `{"title", "detail", "status"}`. The mention timeline needs a
/// paid access level.
impl crate::poll::Pull for X {
    fn repairs(&self, _: Platform) -> bool {
        true
    }

    fn check_keys(&self, p: &crate::config::PullConfig) -> Vec<(&'static str, &'static str)> {
        crate::poll::static_token_keys(
            p,
            "gap repair reads with the app's bearer token",
            "the app's bearer token does not refresh: give it as access_token",
        )
    }

    fn api_url(&self) -> &'static str {
        "https://api.x.com"
    }

    fn page_request(
        &self,
        api: &str,
        feed: &crate::poll::Feed,
        _: &crate::poll::PullKeys,
        page: Option<&str>,
    ) -> crate::poll::HttpRequest {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("max_results", "100")
            .append_pair(
                "tweet.fields",
                "created_at,author_id,conversation_id,referenced_tweets,note_tweet",
            )
            .append_pair("expansions", "author_id")
            .append_pair("user.fields", "username,name,public_metrics");
        if let Some(p) = page {
            q.append_pair("pagination_token", p);
        }
        crate::poll::HttpRequest::get(format!(
            "{}/2/users/{}/mentions?{}",
            api.trim_end_matches('/'),
            feed.account,
            q.finish()
        ))
    }

    fn read_page(
        &self,
        feed: &crate::poll::Feed,
        _: &crate::poll::PullKeys,
        _: Option<&str>,
        resp: &crate::poll::HttpResponse,
    ) -> Result<crate::poll::Page, crate::poll::PageError> {
        use crate::poll::{Page, PageError};
        let until_reset = || resp.seconds_until("x-rate-limit-reset");
        if let Some(e) = PageError::of_status(resp) {
            let detail = serde_json::from_slice::<V2Problem>(&resp.body)
                .ok()
                .map(|p| format!("HTTP {}: {} {}", resp.status, p.title, p.detail));
            return Err(match e.told(detail) {
                PageError::RateLimited {
                    retry_after,
                    reason,
                } => PageError::RateLimited {
                    retry_after: retry_after.or_else(until_reset),
                    reason,
                },
                e => e,
            });
        }
        let timeline: Mentions = crate::poll::json_page(resp)?;
        let users = timeline.includes.map(|i| i.users).unwrap_or_default();
        let mut page = Page {
            next: timeline.meta.and_then(|m| m.next_token),
            wait_seconds: (resp.header("x-rate-limit-remaining").map(str::trim) == Some("0"))
                .then(until_reset)
                .flatten(),
            ..Default::default()
        };
        for t in timeline.data {
            let user = users.iter().find(|u| Some(&u.id) == t.author_id.as_ref());
            let replied_to = t
                .referenced_tweets
                .iter()
                .find(|r| r.kind == "replied_to")
                .map(|r| r.id.0.clone());
            let id = t.id.0;
            let author = t.author_id.map(|a| a.0);
            let text = t.note_tweet.and_then(|n| n.text).or(t.text);
            let screen_name = user.and_then(|u| u.username.clone());
            page.push(PlatformEvent {
                platform: Platform::X,
                account_id: feed.account.clone(),
                kind: EventKind::Created,
                // as the webhook threads it: under the tweet it answers, or its own
                thread_id: replied_to.unwrap_or_else(|| id.clone()),
                parent_id: None,
                from_account: author.as_deref() == Some(feed.account.as_str()),
                private: false,
                permalink: screen_name
                    .as_deref()
                    .map(|n| format!("https://x.com/{n}/status/{id}")),
                external_id: id,
                author: Author {
                    id: author.unwrap_or_else(|| "unknown".into()),
                    name: screen_name,
                    followers: user
                        .and_then(|u| u.public_metrics.as_ref())
                        .and_then(|m| m.followers_count),
                },
                text: text.filter(|t| !t.trim().is_empty()),
                attachment: None,
                created_at: t.created_at.as_deref().and_then(Timestamp::parse_rfc3339),
                source: None,
            });
        }
        Ok(page)
    }
}

#[derive(Deserialize)]
struct V2Problem {
    #[serde(default)]
    title: String,
    #[serde(default)]
    detail: String,
}

#[derive(Deserialize)]
struct Mentions {
    #[serde(default)]
    data: Vec<V2Tweet>,
    #[serde(default)]
    includes: Option<V2Includes>,
    #[serde(default)]
    meta: Option<V2Meta>,
}

#[derive(Deserialize)]
struct V2Tweet {
    id: Id,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    author_id: Option<Id>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    referenced_tweets: Vec<V2Reference>,
    #[serde(default)]
    note_tweet: Option<V2Note>,
}

#[derive(Deserialize)]
struct V2Reference {
    #[serde(rename = "type")]
    kind: String,
    id: Id,
}

#[derive(Deserialize)]
struct V2Note {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct V2Includes {
    #[serde(default)]
    users: Vec<V2User>,
}

#[derive(Deserialize)]
struct V2User {
    id: Id,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    public_metrics: Option<V2Metrics>,
}

#[derive(Deserialize)]
struct V2Metrics {
    #[serde(default)]
    followers_count: Option<u64>,
}

#[derive(Deserialize)]
struct V2Meta {
    #[serde(default)]
    next_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_answers_with_the_base64_hmac_of_the_token() {
        // A vector computed with Python's hmac module: the consumer secret signs the token.
        let keys = AppKeys::new(b"consumer-secret".to_vec());
        let query = [("crc_token", "9b4507b3-9040-4669-9ec4-7d2a3b2d8c3e")];
        let reply = X
            .handshake(
                &keys,
                &Inbound {
                    query: &query,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(reply.content_type, "application/json");
        let v: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(
            v["response_token"],
            format!(
                "sha256={}",
                hmac_sha256_base64(b"consumer-secret", &[query[0].1.as_bytes()])
            )
        );
        assert_eq!(
            X.handshake(&keys, &Inbound::default()),
            Err(HandshakeError::Missing("crc_token"))
        );
    }

    #[test]
    fn times_read_from_milliseconds_or_the_classic_format() {
        assert_eq!(
            classic_time("Mon May 19 14:01:46 +0000 2025"),
            Timestamp::parse_rfc3339("2025-05-19T14:01:46Z")
        );
        assert_eq!(
            classic_time("Mon May 19 16:01:46 +0200 2025"),
            Timestamp::parse_rfc3339("2025-05-19T14:01:46Z")
        );
        assert_eq!(classic_time("2025-05-19"), None);
    }

    #[test]
    fn replies_mentions_deletes_and_the_rest() {
        let body = r#"{"for_user_id":"2244994945","tweet_create_events":[
          {"id_str":"1925000000000000001","text":"@acme colis jamais arrivé","truncated":false,
           "user":{"id_str":"77","screen_name":"jeanne","followers_count":1200},
           "in_reply_to_status_id_str":"1924999999999999999","timestamp_ms":"1747663306000"},
          {"id_str":"1925000000000000002","text":"@acme Merci pour…","truncated":true,
           "extended_tweet":{"full_text":"@acme Merci pour votre réponse, tout est réglé !"},
           "user":{"id_str":"78","screen_name":"leo"},"created_at":"Mon May 19 14:01:46 +0000 2025"},
          {"id_str":"1925000000000000003","text":"Bonjour Jeanne, on regarde.","user":{"id_str":"2244994945","screen_name":"acme"},
           "in_reply_to_status_id_str":"1925000000000000001"},
          {"id_str":"1925000000000000004","text":"RT @acme: soldes","user":{"id_str":"79"},"retweeted_status":{"id_str":"1"}}
        ],"tweet_delete_events":[{"status":{"id":"1925000000000000001","user_id":"77"},"timestamp_ms":"1747663406000"}],
        "favorite_events":[{"id":"a"},{"id":"b"}],"user_event":{"revoke":{}}}"#;
        let p = parse(body.as_bytes()).unwrap();
        let ids: Vec<_> = p
            .events
            .iter()
            .map(|e| (e.external_id.as_str(), e.kind, e.from_account))
            .collect();
        assert_eq!(
            ids,
            [
                ("1925000000000000001", EventKind::Created, false),
                ("1925000000000000002", EventKind::Created, false),
                ("1925000000000000003", EventKind::Created, true),
                ("1925000000000000001", EventKind::Deleted, false),
            ]
        );
        let reply = &p.events[0];
        assert_eq!(reply.account_id, "2244994945");
        assert_eq!(reply.thread_id, "1924999999999999999");
        assert_eq!(reply.author.followers, Some(1200));
        assert_eq!(reply.created_at, Some(Timestamp(1_747_663_306_000)));
        assert_eq!(
            reply.permalink.as_deref(),
            Some("https://x.com/jeanne/status/1925000000000000001")
        );
        let long = &p.events[1];
        assert_eq!(
            long.text.as_deref(),
            Some("@acme Merci pour votre réponse, tout est réglé !")
        );
        assert_eq!(long.thread_id, "1925000000000000002");
        assert_eq!(
            long.created_at,
            Timestamp::parse_rfc3339("2025-05-19T14:01:46Z")
        );
        let reasons: Vec<_> = p.ignored.iter().map(|i| i.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "tweet 3: a retweet",
                "favorite_events",
                "favorite_events",
                "user_event"
            ]
        );
    }

    #[test]
    fn a_body_without_the_subscribed_account_is_malformed() {
        assert!(parse(br#"{"tweet_create_events":[]}"#).is_err());
        assert!(parse(b"[1]").is_err());
        assert!(parse(br#"{"for_user_id":"1"}"#).unwrap().events.is_empty());
    }
}
