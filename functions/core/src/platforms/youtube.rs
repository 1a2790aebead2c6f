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

    fn read_page(&self, feed: &Feed, _: &PullKeys, resp: &HttpResponse) -> Result<Page, PageError> {
        if let Some(e) = google_error(resp) {
            return Err(e);
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
