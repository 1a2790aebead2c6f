//! Reddit, read on a schedule: Reddit has no comment webhooks. See docs/platforms.md for
//! the sources.
//!
//! `GET https://oauth.reddit.com/r/<subreddit>/comments?limit=100&raw_json=1[&after=<fullname>]`,
//! newest first: a `Listing`, `{"kind": "Listing", "data": {"after", "children": [{"kind":
//! "t1", "data": {"id", "name", "body", "author", "author_fullname", "created_utc",
//! "edited", "link_id", "parent_id", "permalink", "subreddit"}}]}}`. A removed or deleted
//! comment keeps its place with `[removed]` or `[deleted]` as its body. Every client names
//! itself in `User-Agent`; tokens come from the refresh grant at
//! `https://www.reddit.com/api/v1/access_token` with the app's id and secret in HTTP Basic
//! authentication; limits are announced in `x-ratelimit-remaining` and `x-ratelimit-reset`
//! (seconds) and enforced with 429.

use base64::Engine;
use serde::Deserialize;

use super::{EventKind, PlatformEvent, unix_time};
use crate::comment::{Author, Platform};
use crate::poll::{Feed, HttpRequest, HttpResponse, Page, PageError, Pull, PullKeys, json_page};

pub struct Reddit;

super::polled_source!(Reddit, "reddit", Platform::Reddit, subreddit);

/// A subreddit: `r/<name>`, 2-21 letters, digits or `_`.
fn subreddit(id: &str) -> Result<(), &'static str> {
    let ok = id.strip_prefix("r/").is_some_and(|n| {
        (2..=21).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if ok {
        Ok(())
    } else {
        Err("must be a subreddit, r/<name>")
    }
}

#[derive(Deserialize)]
struct Listing {
    kind: String,
    data: ListingData,
}

#[derive(Deserialize)]
struct ListingData {
    #[serde(default)]
    after: Option<String>,
    children: Vec<Thing>,
}

#[derive(Deserialize)]
struct Thing {
    kind: String,
    data: serde_json::Value,
}

#[derive(Deserialize)]
struct RedditComment {
    id: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    author_fullname: Option<String>,
    #[serde(default)]
    created_utc: Option<f64>,
    /// `false`, or when it was edited (seconds).
    #[serde(default)]
    edited: serde_json::Value,
    link_id: String,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    permalink: Option<String>,
}

impl Pull for Reddit {
    fn check_keys(&self, p: &crate::config::PullConfig) -> Vec<(&'static str, &'static str)> {
        let mut out = crate::poll::oauth_keys(p);
        if p.username.as_deref().is_none_or(|u| u.trim().is_empty()) {
            out.push((
                "username",
                "the Reddit account vigie reads as (its comments are the brand's own)",
            ));
        }
        if p.user_agent.as_deref().is_none_or(|u| u.trim().is_empty()) {
            out.push((
                "user_agent",
                "Reddit asks every client to name itself, <platform>:<app id>:<version> (by /u/<user>)",
            ));
        }
        out
    }

    fn repairs(&self, _: Platform) -> bool {
        false
    }

    fn api_url(&self) -> &'static str {
        "https://oauth.reddit.com"
    }

    fn token_url(&self) -> Option<&'static str> {
        Some("https://www.reddit.com/api/v1/access_token")
    }

    fn page_request(
        &self,
        api: &str,
        feed: &Feed,
        _: &PullKeys,
        page: Option<&str>,
    ) -> HttpRequest {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("limit", "100").append_pair("raw_json", "1");
        if let Some(after) = page {
            q.append_pair("after", after);
        }
        HttpRequest::get(format!(
            "{}/{}/comments?{}",
            api.trim_end_matches('/'),
            feed.account,
            q.finish()
        ))
    }

    fn read_page(
        &self,
        feed: &Feed,
        keys: &PullKeys,
        _: Option<&str>,
        resp: &HttpResponse,
    ) -> Result<Page, PageError> {
        if let Some(e) = PageError::of_status(resp) {
            return Err(e);
        }
        // Out of requests for this window: read this page, then wait for the reset.
        let remaining = resp
            .header("x-ratelimit-remaining")
            .and_then(|v| v.trim().parse::<f64>().ok());
        let listing: Listing = json_page(resp)?;
        if listing.kind != "Listing" {
            return Err(PageError::Malformed(format!(
                "a {} where a Listing was expected",
                listing.kind
            )));
        }
        let mut page = Page {
            next: listing.data.after.filter(|a| !a.is_empty()),
            ..Default::default()
        };
        for thing in listing.data.children {
            if thing.kind != "t1" {
                page.ignored.push(super::Ignored {
                    platform: Platform::Reddit,
                    reason: format!("{} in a comment listing", thing.kind),
                });
                continue;
            }
            let c: RedditComment = serde_json::from_value(thing.data)
                .map_err(|e| PageError::Malformed(format!("comment: {e}")))?;
            let event = comment_event(feed, keys, c);
            page.push(event);
        }
        if remaining.is_some_and(|r| r < 1.0) {
            // the page's comments are kept; older pages and the next read wait for the reset
            page.next = None;
            page.wait_seconds = Some(
                resp.header("x-ratelimit-reset")
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .map_or(600, |s| s.ceil() as i64),
            );
        }
        Ok(page)
    }

    /// Reddit wants the app's credentials in HTTP Basic authentication.
    fn token_request(&self, url: &str, keys: &PullKeys) -> Option<HttpRequest> {
        let refresh = keys.refresh_token.clone()?;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            keys.client_id.as_deref().unwrap_or_default(),
            keys.client_secret.as_deref().unwrap_or_default()
        ));
        Some(
            HttpRequest::post_form(
                url,
                vec![
                    ("grant_type".into(), "refresh_token".into()),
                    ("refresh_token".into(), refresh),
                ],
            )
            .header("authorization", format!("Basic {basic}")),
        )
    }
}

fn comment_event(feed: &Feed, keys: &PullKeys, c: RedditComment) -> PlatformEvent {
    let body = c.body.unwrap_or_default();
    let removed = matches!(body.trim(), "[deleted]" | "[removed]");
    let author = c.author.filter(|a| a != "[deleted]");
    let own = author
        .as_deref()
        .zip(keys.username.as_deref())
        .is_some_and(|(a, me)| a.eq_ignore_ascii_case(me.trim_start_matches("u/")));
    let edited = !matches!(
        c.edited,
        serde_json::Value::Bool(false) | serde_json::Value::Null
    );
    let created = c
        .created_utc
        .and_then(|s| unix_time(Some(&serde_json::Value::from(s as i64))));
    PlatformEvent {
        platform: Platform::Reddit,
        account_id: feed.account.clone(),
        kind: if removed {
            EventKind::Deleted
        } else if edited {
            EventKind::Edited
        } else {
            EventKind::Created
        },
        external_id: format!("t1_{}", c.id),
        parent_id: c.parent_id.filter(|p| p.starts_with("t1_")),
        thread_id: c.link_id,
        author: Author {
            id: c
                .author_fullname
                .or_else(|| author.clone())
                .unwrap_or_else(|| "[deleted]".into()),
            name: author,
            followers: None,
        },
        text: (!removed).then_some(body).filter(|t| !t.trim().is_empty()),
        attachment: None,
        created_at: created,
        permalink: c.permalink.map(|p| format!("https://www.reddit.com{p}")),
        source: None,
        from_account: own,
        private: false,
    }
}
