//! YouTube (Data API v3), read on a schedule: YouTube has no comment webhooks. See
//! docs/platforms.md for the sources.
//!
//! `GET /youtube/v3/commentThreads?part=snippet,replies&allThreadsRelatedToChannelId=<channel>
//! &order=time&maxResults=100&textFormat=plainText[&pageToken=]`, newest thread first:
//! `{"nextPageToken", "items": [{"id", "snippet": {"channelId", "videoId",
//! "topLevelComment": {"id", "snippet": {...}}, "totalReplyCount"}, "replies": {"comments":
//! [{"id", "snippet": {..., "parentId"}}]}}]}`. A comment's snippet: `authorDisplayName`,
//! `authorChannelId.value`, `textOriginal` (`textDisplay` may be HTML), `publishedAt`,
//! `updatedAt`, `videoId`, `parentId`, `moderationStatus`. Errors: `{"error": {"code",
//! "message", "errors": [{"reason"}]}}`, quota and rate limits as 403 `quotaExceeded` /
//! `rateLimitExceeded` or 429, an expired token as 401. Tokens come from Google's OAuth
//! refresh grant.
//!
//! A thread gives a few of its replies only: when `totalReplyCount` is more, the rest are
//! read in the same run with `GET /youtube/v3/comments?part=snippet&parentId=<thread>
//! &maxResults=100&textFormat=plainText[&pageToken=]` (`{"nextPageToken", "items":
//! [comment]}`, oldest first).

use serde::Deserialize;

use super::{EventKind, PlatformEvent, unix_time};
use crate::comment::{Author, Platform};
use crate::poll::{Feed, HttpRequest, HttpResponse, Page, PageError, Pull, PullKeys, json_page};

pub struct YouTube;

super::polled_source!(YouTube, "youtube", Platform::YouTube, channel_id);

/// A channel id: `UC` and 22 characters of base64url.
fn channel_id(id: &str) -> Result<(), &'static str> {
    let ok = id.len() == 24
        && id.starts_with("UC")
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err("must be a channel id, UC and 22 letters, digits, - or _")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Threads {
    #[serde(default)]
    next_page_token: Option<String>,
    items: Vec<Thread>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplyList {
    #[serde(default)]
    next_page_token: Option<String>,
    items: Vec<YtComment>,
}

#[derive(Deserialize)]
struct Thread {
    snippet: ThreadSnippet,
    #[serde(default)]
    replies: Option<Replies>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreadSnippet {
    #[serde(default)]
    video_id: Option<String>,
    top_level_comment: YtComment,
    #[serde(default)]
    total_reply_count: u64,
}

#[derive(Deserialize)]
struct Replies {
    #[serde(default)]
    comments: Vec<YtComment>,
}

#[derive(Deserialize)]
struct YtComment {
    id: String,
    snippet: CommentSnippet,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentSnippet {
    #[serde(default)]
    author_display_name: Option<String>,
    #[serde(default)]
    author_channel_id: Option<ChannelRef>,
    #[serde(default)]
    text_original: Option<String>,
    #[serde(default)]
    text_display: Option<String>,
    #[serde(default)]
    published_at: Option<serde_json::Value>,
    #[serde(default)]
    updated_at: Option<serde_json::Value>,
    #[serde(default)]
    video_id: Option<String>,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    moderation_status: Option<String>,
}

#[derive(Deserialize)]
struct ChannelRef {
    value: String,
}

#[derive(Deserialize)]
struct ApiError {
    error: ApiErrorBody,
}

#[derive(Deserialize)]
struct ApiErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<ApiErrorItem>,
}

#[derive(Deserialize)]
struct ApiErrorItem {
    #[serde(default)]
    reason: String,
}

/// A Google API's refusal read: quota and rate limits, expired tokens (YouTube and
/// Business Profile share the error shape).
pub(crate) fn google_error(resp: &HttpResponse) -> Option<PageError> {
    let generic = PageError::of_status(resp)?;
    let Ok(e) = serde_json::from_slice::<ApiError>(&resp.body) else {
        return Some(generic);
    };
    let reason = e
        .error
        .errors
        .first()
        .map(|i| i.reason.as_str())
        .unwrap_or("");
    Some(match reason {
        "quotaExceeded" | "rateLimitExceeded" | "userRateLimitExceeded" | "dailyLimitExceeded" => {
            PageError::RateLimited {
                retry_after: resp.retry_after(),
                reason: format!("{reason}: {}", e.error.message),
            }
        }
        "authError" | "expired" => PageError::Unauthorized(e.error.message),
        _ => generic,
    })
}

impl Pull for YouTube {
    fn repairs(&self, _: Platform) -> bool {
        false
    }

    fn api_url(&self) -> &'static str {
        "https://www.googleapis.com"
    }

    fn token_url(&self) -> Option<&'static str> {
        Some("https://oauth2.googleapis.com/token")
    }

    fn page_request(
        &self,
        api: &str,
        feed: &Feed,
        _: &PullKeys,
        page: Option<&str>,
    ) -> HttpRequest {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(r) = page.and_then(RepliesPage::parse) {
            q.append_pair("part", "snippet")
                .append_pair("parentId", r.parent)
                .append_pair("maxResults", "100")
                .append_pair("textFormat", "plainText");
            if let Some(p) = r.token {
                q.append_pair("pageToken", p);
            }
            return HttpRequest::get(format!(
                "{}/youtube/v3/comments?{}",
                api.trim_end_matches('/'),
                q.finish()
            ));
        }
        q.append_pair("part", "snippet,replies")
            .append_pair("allThreadsRelatedToChannelId", &feed.account)
            .append_pair("order", "time")
            .append_pair("maxResults", "100")
            .append_pair("textFormat", "plainText");
        if let Some(p) = page {
            q.append_pair("pageToken", p);
        }
        HttpRequest::get(format!(
            "{}/youtube/v3/commentThreads?{}",
            api.trim_end_matches('/'),
            q.finish()
        ))
    }

    fn read_page(
        &self,
        feed: &Feed,
        _: &PullKeys,
        asked: Option<&str>,
        resp: &HttpResponse,
    ) -> Result<Page, PageError> {
        if let Some(e) = google_error(resp) {
            return Err(e);
        }
        if let Some(r) = asked.and_then(RepliesPage::parse) {
            let list: ReplyList = json_page(resp)?;
            let mut page = Page {
                next: list
                    .next_page_token
                    .filter(|t| !t.is_empty())
                    .map(|t| r.with_token(&t)),
                ..Default::default()
            };
            for c in list.items {
                let parent = c.snippet.parent_id.clone().or(Some(r.parent.to_owned()));
                page.push(comment_event(feed, r.video, parent, c));
            }
            // a thread's replies come oldest first: no cursor stop
            page.oldest = None;
            return Ok(page);
        }
        let threads: Threads = json_page(resp)?;
        let mut page = Page {
            next: threads.next_page_token.filter(|t| !t.is_empty()),
            ..Default::default()
        };
        for t in threads.items {
            let video = t.snippet.video_id.clone();
            let top_id = t.snippet.top_level_comment.id.clone();
            let replies = t.replies.map(|r| r.comments).unwrap_or_default();
            // the thread gives a few replies only: the rest by the thread's replies
            if t.snippet.total_reply_count > replies.len() as u64
                && let Some(v) = &video
            {
                page.then.push(crate::poll::Further::page(
                    RepliesPage {
                        video: v,
                        parent: &top_id,
                        token: None,
                    }
                    .to_string(),
                ));
            }
            for c in std::iter::once(t.snippet.top_level_comment).chain(replies) {
                let Some(video) = c.snippet.video_id.clone().or_else(|| video.clone()) else {
                    page.ignored.push(super::Ignored {
                        platform: Platform::YouTube,
                        reason: "comment on the channel, not on a video".into(),
                    });
                    continue;
                };
                let parent = c
                    .snippet
                    .parent_id
                    .clone()
                    .or_else(|| (c.id != top_id).then(|| top_id.clone()));
                let event = comment_event(feed, &video, parent, c);
                page.push(event);
            }
        }
        Ok(page)
    }
}

/// The page of a thread's replies (`comments.list?parentId=`): `replies:<video>:<parent>`
/// and `:<page token>` after the first.
struct RepliesPage<'a> {
    video: &'a str,
    parent: &'a str,
    token: Option<&'a str>,
}

impl<'a> RepliesPage<'a> {
    fn parse(page: &'a str) -> Option<Self> {
        let mut parts = page.strip_prefix("replies:")?.splitn(3, ':');
        let video = parts.next().filter(|v| !v.is_empty())?;
        let parent = parts.next().filter(|p| !p.is_empty())?;
        Some(Self {
            video,
            parent,
            token: parts.next(),
        })
    }

    fn with_token(&self, token: &str) -> String {
        format!("replies:{}:{}:{token}", self.video, self.parent)
    }
}

impl std::fmt::Display for RepliesPage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "replies:{}:{}", self.video, self.parent)?;
        if let Some(t) = self.token {
            write!(f, ":{t}")?;
        }
        Ok(())
    }
}

fn comment_event(feed: &Feed, video: &str, parent: Option<String>, c: YtComment) -> PlatformEvent {
    let s = c.snippet;
    let published = unix_time(s.published_at.as_ref());
    let updated = unix_time(s.updated_at.as_ref());
    let author_id = s.author_channel_id.map(|a| a.value);
    let own = author_id.as_deref() == Some(feed.account.as_str());
    // Held for review or rejected by the channel's moderation: gone from the public page.
    let removed = matches!(s.moderation_status.as_deref(), Some("rejected"));
    PlatformEvent {
        platform: Platform::YouTube,
        account_id: feed.account.clone(),
        kind: if removed {
            EventKind::Deleted
        } else if updated.is_some_and(|u| published.is_some_and(|p| u > p)) {
            EventKind::Edited
        } else {
            EventKind::Created
        },
        permalink: Some(format!(
            "https://www.youtube.com/watch?v={video}&lc={}",
            c.id
        )),
        external_id: c.id,
        thread_id: video.to_owned(),
        parent_id: parent,
        author: Author {
            id: author_id.unwrap_or_else(|| "unknown".into()),
            name: s.author_display_name,
            followers: None,
        },
        text: s
            .text_original
            .or(s.text_display)
            .filter(|t| !t.trim().is_empty()),
        attachment: None,
        created_at: published,
        source: None,
        from_account: own,
        private: false,
    }
}
