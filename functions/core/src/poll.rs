//! The scheduled reads: platforms without usable webhooks (YouTube, Reddit), the follow-up
//! read of Google reviews, and gap repair, a re-read of the recent comments of push
//! platforms (Facebook, Instagram) so that a webhook the platform lost is still caught.
//!
//! Each platform module says how to ask for a page of a feed and how to read the answer
//! ([`Pull`]); the [`Poller`] does the rest for all of them: OAuth refresh, a stored cursor
//! per feed, backoff on rate limits and quota errors, and the same idempotent intake as the
//! webhooks, which absorbs what was already delivered.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::comment::{BrandId, Platform};
use crate::config::Brands;
use crate::events::{GapRepaired, InternalEvent, PollFailed};
use crate::intake::{Intake, IntakeError, IntakeReport};
use crate::platforms::{EventKind, Ignored, PlatformEvent};
use crate::ports::{CommentRead, CommentWrite, QueueSend, RawArchive, StoreError};
use crate::secrets::Secrets;
use crate::time::Timestamp;

/// An HTTP request to a platform's API, as the platform module builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// An `application/x-www-form-urlencoded` body (token requests).
    pub form: Vec<(String, String)>,
    /// A JSON body instead (TikTok's token requests).
    pub json: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl HttpRequest {
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: Method::Get,
            url: url.into(),
            headers: Vec::new(),
            form: Vec::new(),
            json: None,
        }
    }

    pub fn post_form(url: impl Into<String>, form: Vec<(String, String)>) -> Self {
        Self {
            method: Method::Post,
            url: url.into(),
            headers: Vec::new(),
            form,
            json: None,
        }
    }

    pub fn post_json(url: impl Into<String>, body: &serde_json::Value) -> Self {
        Self {
            method: Method::Post,
            url: url.into(),
            headers: Vec::new(),
            form: Vec::new(),
            json: Some(body.to_string()),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// A platform API's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// When the server answered (its `Date` header, RFC 9110's IMF-fixdate,
    /// `Mon, 07 Dec 2026 05:45:36 GMT`).
    pub fn date(&self) -> Option<Timestamp> {
        let format = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        let t = time::PrimitiveDateTime::parse(self.header("date")?.trim(), &format).ok()?;
        Timestamp::checked_unix_seconds(t.assume_utc().unix_timestamp())
    }

    /// Seconds from the answer to the epoch-seconds time in header `name` (a rate limit's
    /// reset), at least one.
    pub fn seconds_until(&self, name: &str) -> Option<i64> {
        let at: i64 = self.header(name)?.trim().parse().ok()?;
        let now = self.date().unwrap_or_else(Timestamp::now).millis() / 1000;
        Some((at - now).max(1))
    }

    /// `Retry-After` in seconds, when it is a number of seconds.
    pub fn retry_after(&self) -> Option<i64> {
        self.header("retry-after")?.trim().parse().ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// Sends requests to the platforms' APIs (an HTTPS client in the adapters).
#[async_trait]
pub trait HttpClient: Send + Sync {
    async fn send(&self, req: &HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// One thing read on a schedule: a brand's account on a platform, through one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    pub brand: BrandId,
    pub platform: Platform,
    /// The account as the configuration names it (channel id, `r/<subreddit>`, location
    /// name, page or Instagram account id).
    pub account: String,
    pub app: String,
}

impl Feed {
    /// The feed's key in the store.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.app, self.platform, self.account)
    }
}

/// What the store keeps of a feed between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedState {
    /// The newest comment time read so far: the next run reads back to it (with an overlap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// No read before this time (rate limit, quota, a failure backing off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_until: Option<Timestamp>,
    /// Failed runs in a row.
    #[serde(default)]
    pub failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Successful runs.
    #[serde(default)]
    pub runs: u64,
    /// Gap repair: comments it stored that the webhooks had not delivered, in all.
    #[serde(default)]
    pub missed: u64,
    /// The feed's listing is not read again before this time (a platform read at its own
    /// pace); the reads webhooks ask for still are, at every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paced_until: Option<Timestamp>,
    /// Pages the last run had no room for (its page limit), read first by the next one,
    /// each back to the cursor it was read for: a burst of comments is read over several
    /// runs, not cut.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resume: Vec<Resume>,
}

/// A page of a feed still to read, and the time its chain reads back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub page: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

/// Where a webhook asks for a read: the platform told of a comment without its words (an
/// Instagram mention, a TikTok comment event without text), which the poll function's
/// next run reads by id.
#[async_trait]
pub trait ReadRequests: Send + Sync {
    /// Asks the next run to read `page` of `feed`. Asking twice for the same page is one
    /// request.
    async fn request_read(&self, feed: &str, page: &str, at: Timestamp) -> Result<(), StoreError>;
}

/// The store of feed states, and of the reads webhooks asked for.
#[async_trait]
pub trait PollStore: ReadRequests {
    async fn feed_state(&self, feed: &str) -> Result<Option<FeedState>, StoreError>;
    async fn put_feed_state(&self, feed: &str, state: &FeedState) -> Result<(), StoreError>;
    /// The reads asked for `feed`, oldest first, at most `limit`.
    async fn requested_reads(&self, feed: &str, limit: usize) -> Result<Vec<String>, StoreError>;
    /// A requested read is done (or given up).
    async fn done_read(&self, feed: &str, page: &str) -> Result<(), StoreError>;
}

/// An app's API credentials, resolved.
#[derive(Clone, Default)]
pub struct PullKeys {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    /// A token that does not expire (Meta's system user token), or the first one to use.
    pub access_token: Option<String>,
    /// The account vigie reads as (Reddit): what it wrote is the brand's own.
    pub username: Option<String>,
    /// Where the API and the token endpoint are, when not the platform's own (a proxy, tests).
    pub api_url: Option<String>,
    pub token_url: Option<String>,
    /// Reddit asks every client to name itself.
    pub user_agent: Option<String>,
}

impl std::fmt::Debug for PullKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullKeys")
            .field("client_id", &self.client_id)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// One page of a feed, read.
#[derive(Debug, Default)]
pub struct Page {
    pub events: Vec<PlatformEvent>,
    pub ignored: Vec<Ignored>,
    /// What asks for the next (older) page.
    pub next: Option<String>,
    /// The oldest and newest item times on the page (newest first pages stop at the cursor).
    pub oldest: Option<Timestamp>,
    pub newest: Option<Timestamp>,
    /// The API's window of requests is spent: no read of the feed for this many seconds.
    pub wait_seconds: Option<i64>,
    /// Further pages this one asks for in the same run (the comments of each post a
    /// listing names, the rest of a thread's replies), each read back to the same cursor.
    pub then: Vec<Further>,
}

/// A further page a page asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Further {
    pub page: String,
    /// The time of the comment whose replies it reads, when it reads replies: a comment
    /// older than the cursor less the backfill window is not read for replies again.
    pub replies_of: Option<Timestamp>,
}

impl Further {
    pub fn page(page: impl Into<String>) -> Self {
        Self {
            page: page.into(),
            replies_of: None,
        }
    }
}

impl Page {
    /// Keeps an event read from a page, or counts it as ignored when it lacks what a
    /// comment needs (an id, a thread, words or an attachment unless it is a delete).
    pub fn push(&mut self, event: PlatformEvent) {
        self.saw(event.created_at);
        let reason = if event.external_id.trim().is_empty() {
            Some("comment without id")
        } else if event.thread_id.trim().is_empty() {
            Some("comment without thread")
        } else if event.kind != EventKind::Deleted
            && event.text.as_deref().is_none_or(|t| t.trim().is_empty())
            && event.attachment.is_none()
        {
            Some("comment without text")
        } else {
            None
        };
        match reason {
            Some(reason) => self.ignored.push(Ignored {
                platform: event.platform,
                reason: reason.into(),
            }),
            None => self.events.push(event),
        }
    }

    pub fn saw(&mut self, at: Option<Timestamp>) {
        if let Some(t) = at {
            self.oldest = Some(self.oldest.map_or(t, |o| o.min(t)));
            self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
        }
    }
}

/// Why a page could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// Too many requests, or the day's quota spent: wait (seconds, when the API says).
    #[error("rate limited: {reason}")]
    RateLimited {
        retry_after: Option<i64>,
        reason: String,
    },
    /// The token is expired or revoked.
    #[error("the token was refused: {0}")]
    Unauthorized(String),
    /// Not a page of this API.
    #[error("malformed page: {0}")]
    Malformed(String),
    /// What the page is of is gone (404, 410): a post deleted since the listing named it,
    /// a comment no longer readable.
    #[error("gone: {0}")]
    Gone(String),
    /// Any other refusal or a server error.
    #[error("{0}")]
    Failed(String),
}

impl PageError {
    /// The same refusal in the API's own words (its error body), when it gave them: the
    /// kind and any wait stay; what is malformed or gone keeps the status's excerpt.
    pub fn told(self, detail: Option<String>) -> Self {
        let Some(d) = detail else { return self };
        match self {
            PageError::RateLimited { retry_after, .. } => PageError::RateLimited {
                retry_after,
                reason: d,
            },
            PageError::Unauthorized(_) => PageError::Unauthorized(d),
            PageError::Failed(_) => PageError::Failed(d),
            e => e,
        }
    }

    /// The answer to a status every API gives the same meaning (429, 401, 5xx), when it is one.
    pub fn of_status(resp: &HttpResponse) -> Option<Self> {
        let excerpt = || {
            let text = String::from_utf8_lossy(&resp.body);
            let t: String = text.chars().take(200).collect();
            format!("HTTP {}: {t}", resp.status)
        };
        match resp.status {
            200..=299 => None,
            429 => Some(PageError::RateLimited {
                retry_after: resp.retry_after(),
                reason: excerpt(),
            }),
            401 => Some(PageError::Unauthorized(excerpt())),
            404 | 410 => Some(PageError::Gone(excerpt())),
            _ => Some(PageError::Failed(excerpt())),
        }
    }
}

/// A platform's read side: how to ask for a page of a feed and how to read the answer.
/// Implementations hold no state; the poller adds the bearer token.
/// The same module's [`Source`](crate::platforms::Source) gives its name in the
/// configuration and the platforms whose feeds it reads.
pub trait Pull: crate::platforms::Source {
    /// Whether the platform's comments come by webhook first: then a read is gap repair,
    /// and what it stores is what the webhooks missed.
    fn repairs(&self, platform: Platform) -> bool;
    /// The API's base URL.
    fn api_url(&self) -> &'static str;
    /// The least time between two listings of a feed, for APIs whose daily allowance a
    /// read every few minutes would spend (0: every run). Reads by id are not held back.
    fn every_seconds(&self) -> i64 {
        0
    }
    /// The OAuth token endpoint, for platforms whose tokens expire.
    fn token_url(&self) -> Option<&'static str> {
        None
    }
    /// The request for a page of the feed: the first one (`page` None) or the one `page`
    /// names (a page token or cursor the previous page gave, one of its
    /// [`then`](Page::then) pages, or a read a webhook asked for).
    fn page_request(
        &self,
        api: &str,
        feed: &Feed,
        keys: &PullKeys,
        page: Option<&str>,
    ) -> HttpRequest;
    /// Reads an answer to [`page_request`](Self::page_request) for the same `page`.
    fn read_page(
        &self,
        feed: &Feed,
        keys: &PullKeys,
        page: Option<&str>,
        resp: &HttpResponse,
    ) -> Result<Page, PageError>;
    /// What `[apps.<name>.pull]` lacks or should not hold, as `(field, why)`: an OAuth
    /// app's client and refresh token by default.
    fn check_keys(&self, p: &crate::config::PullConfig) -> Vec<(&'static str, &'static str)> {
        oauth_keys(p)
    }
    /// A page request with the access token: `Authorization: Bearer` by default.
    fn authorize(&self, req: HttpRequest, token: &str) -> HttpRequest {
        req.header("authorization", format!("Bearer {token}"))
    }
    /// Reads the token endpoint's answer: the access token and its lifetime in seconds
    /// (RFC 6749 §5.1 by default).
    fn read_token(&self, resp: &HttpResponse) -> Result<(String, Option<i64>), PageError> {
        let answer: TokenAnswer = serde_json::from_slice(&resp.body)
            .map_err(|e| PageError::Malformed(format!("token answer: {e}")))?;
        Ok((answer.access_token, answer.expires_in))
    }
    /// The refresh-token grant (RFC 6749 §6), credentials in the form by default.
    fn token_request(&self, url: &str, keys: &PullKeys) -> Option<HttpRequest> {
        let refresh = keys.refresh_token.clone()?;
        let mut form = vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("refresh_token".to_owned(), refresh),
        ];
        form.extend(keys.client_id.clone().map(|c| ("client_id".to_owned(), c)));
        form.extend(
            keys.client_secret
                .clone()
                .map(|c| ("client_secret".to_owned(), c)),
        );
        Some(HttpRequest::post_form(url, form))
    }
}

/// An OAuth app's keys: its client id and secret and a refresh token.
pub fn oauth_keys(p: &crate::config::PullConfig) -> Vec<(&'static str, &'static str)> {
    [
        ("client_id", p.client_id.is_some()),
        ("client_secret", p.client_secret.is_some()),
        ("refresh_token", p.refresh_token.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| !set)
    .map(|(name, _)| {
        (
            name,
            "an OAuth app needs its client id, client secret and refresh token",
        )
    })
    .collect()
}

/// A token that does not refresh (Meta's system user token, X's bearer token): the token,
/// and nothing that would suggest it refreshes.
pub fn static_token_keys(
    p: &crate::config::PullConfig,
    token: &'static str,
    no_refresh: &'static str,
) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if p.access_token.is_none() {
        out.push(("access_token", token));
    }
    for (name, set) in [
        ("client_secret", p.client_secret.is_some()),
        ("refresh_token", p.refresh_token.is_some()),
    ] {
        if set {
            out.push((name, no_refresh));
        }
    }
    out
}

impl std::fmt::Debug for dyn Pull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every platform module with a read side.
pub const PULLS: [&dyn Pull; 7] = [
    &crate::platforms::meta::Meta,
    &crate::platforms::google::Google,
    &crate::platforms::youtube::YouTube,
    &crate::platforms::reddit::Reddit,
    &crate::platforms::x::X,
    &crate::platforms::linkedin::LinkedIn,
    &crate::platforms::tiktok::TikTok,
];

/// The read side of the module named `name` in the configuration.
pub fn pull_named(name: &str) -> Option<&'static dyn Pull> {
    PULLS.into_iter().find(|p| p.name() == name)
}

/// A token endpoint's answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

/// How the poller reads.
#[derive(Debug, Clone, Copy)]
pub struct PollSettings {
    /// How far back a feed read for the first time goes.
    pub backfill_minutes: i64,
    /// How far behind its cursor a feed is read again (late and edited comments).
    pub overlap_minutes: i64,
    /// Pages per feed and run at most; what a run has no room for, the next one reads.
    pub max_pages: usize,
    /// The first backoff after a failure, doubled at each failure in a row.
    pub backoff_seconds: i64,
    pub max_backoff_seconds: i64,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self {
            backfill_minutes: 24 * 60,
            overlap_minutes: 10,
            max_pages: 25,
            backoff_seconds: 60,
            max_backoff_seconds: 3600,
        }
    }
}

/// What one feed's read did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeedReport {
    pub feed: String,
    pub pages: usize,
    pub intake: IntakeReport,
    /// Gap repair: comments stored that the webhooks had not delivered.
    pub missed: usize,
    /// The read was not tried: the feed is backing off.
    pub skipped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a run did, feed by feed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PollReport {
    pub feeds: Vec<FeedReport>,
}

impl PollReport {
    pub fn stored(&self) -> usize {
        self.feeds.iter().map(|f| f.intake.stored).sum()
    }
    pub fn missed(&self) -> usize {
        self.feeds.iter().map(|f| f.missed).sum()
    }
    pub fn failed(&self) -> usize {
        self.feeds.iter().filter(|f| f.error.is_some()).count()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Intake(#[from] IntakeError),
}

/// Every feed of the configuration: each account of a brand on a platform with a read
/// side, through the brand's app of that platform when the app has API credentials.
pub fn feeds(brands: &Brands, secrets: &Secrets) -> Vec<Feed> {
    let mut out = Vec::new();
    for brand in brands.iter() {
        for (platform, account) in brands.accounts_of(&brand.id) {
            if !PULLS.iter().any(|p| p.platforms().contains(&platform)) {
                continue;
            }
            let source = crate::platforms::source(platform);
            let Some(app) = brands.app_of(&brand.id, source) else {
                continue;
            };
            if secrets.pull.contains_key(app) {
                out.push(Feed {
                    brand: brand.id.clone(),
                    platform,
                    account,
                    app: app.to_owned(),
                });
            }
        }
    }
    out
}

/// Reads every feed; one per process, its access tokens kept between runs.
pub struct Poller<'a, S, Q, H> {
    pub brands: &'a Brands,
    pub secrets: &'a Secrets,
    pub store: &'a S,
    pub queue: &'a Q,
    pub http: &'a H,
    pub settings: PollSettings,
    pub tokens: &'a Tokens,
}

/// Access tokens by app, with their expiry: kept across runs of a warm process.
#[derive(Default)]
pub struct Tokens(Mutex<HashMap<String, (String, Option<Timestamp>)>>);

impl Tokens {
    fn get(&self, app: &str, now: Timestamp) -> Option<String> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // a minute early: a token about to expire is refreshed before it is refused
        map.get(app)
            .filter(|(_, exp)| exp.is_none_or(|e| e.millis() > now.millis() + 60_000))
            .map(|(t, _)| t.clone())
    }
    fn put(&self, app: &str, token: String, expires: Option<Timestamp>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(app.to_owned(), (token, expires));
    }
    fn forget(&self, app: &str) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(app);
    }
}

impl<S, Q, H> Poller<'_, S, Q, H>
where
    S: CommentWrite + CommentRead + RawArchive + PollStore,
    Q: QueueSend,
    H: HttpClient,
{
    /// Reads every feed whose backoff is over. A feed's failure is in its report and its
    /// state; only a store or queue failure stops the run.
    pub async fn run(&self, now: Timestamp) -> Result<PollReport, PollError> {
        let mut report = PollReport::default();
        for feed in feeds(self.brands, self.secrets) {
            report.feeds.push(self.run_feed(&feed, now).await?);
        }
        Ok(report)
    }

    /// Reads one feed and records its state.
    pub async fn run_feed(&self, feed: &Feed, now: Timestamp) -> Result<FeedReport, PollError> {
        let key = feed.key();
        let mut state = self.store.feed_state(&key).await?.unwrap_or_default();
        let mut report = FeedReport {
            feed: key.clone(),
            ..Default::default()
        };
        if state.backoff_until.is_some_and(|t| t > now) {
            report.skipped = true;
            return Ok(report);
        }
        let pull = self.pull_of(feed);
        let outcome = self.read(feed, pull, &state, now, &mut report).await;
        state.last_run = Some(now);
        match outcome {
            Ok(Read {
                newest,
                wait,
                left,
                listed,
                by_id,
            }) => {
                state.resume = left;
                if pull.repairs(feed.platform) && state.runs > 0 {
                    // The first run is the baseline: what predates it was never a webhook's.
                    report.missed = report.intake.stored.saturating_sub(by_id);
                    state.missed += report.missed as u64;
                    if report.missed > 0 {
                        GapRepaired {
                            feed: &key,
                            platform: feed.platform,
                            missed: report.missed,
                        }
                        .emit();
                    }
                }
                state.since = match (state.since, newest) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b).or(Some(now)),
                };
                state.runs += 1;
                state.failures = 0;
                // a spent window of requests: the next read waits for its reset
                state.backoff_until = wait
                    .map(|s| now.plus_millis(s.clamp(0, self.settings.max_backoff_seconds) * 1000));
                // a platform with a small daily allowance is listed at its own pace
                let pace = pull.every_seconds();
                if listed && pace > 0 {
                    state.paced_until = Some(now.plus_millis(pace * 1000));
                }
                state.last_error = None;
            }
            Err(e) => {
                state.failures = state.failures.saturating_add(1);
                let doubled = self
                    .settings
                    .backoff_seconds
                    .saturating_mul(1i64 << (state.failures - 1).min(20));
                let wait = match &e {
                    FeedError::Page(PageError::RateLimited {
                        retry_after: Some(s),
                        ..
                    }) => (*s).max(doubled),
                    _ => doubled,
                }
                .min(self.settings.max_backoff_seconds);
                state.backoff_until = Some(now.plus_millis(wait * 1000));
                let message = e.to_string();
                PollFailed {
                    feed: &key,
                    platform: feed.platform,
                    failures: state.failures,
                    backoff_seconds: wait,
                    error: &message,
                }
                .emit();
                if let FeedError::Stop(e) = e {
                    // what was read is stored; the state says where the next run resumes
                    self.store.put_feed_state(&key, &state).await?;
                    return Err(e);
                }
                state.last_error = Some(message.clone());
                report.error = Some(message);
            }
        }
        self.store.put_feed_state(&key, &state).await?;
        Ok(report)
    }

    fn pull_of(&self, feed: &Feed) -> &'static dyn Pull {
        PULLS
            .into_iter()
            .find(|p| p.platforms().contains(&feed.platform))
            .expect("feeds come from modules with a read side")
    }

    /// Reads what webhooks asked for, then the feed's pages back to its cursor, then what
    /// the last run had no room for; returns the newest item time seen, how long the API
    /// asked to wait before the next read, and the pages left for the next run.
    async fn read(
        &self,
        feed: &Feed,
        pull: &dyn Pull,
        state: &FeedState,
        now: Timestamp,
        report: &mut FeedReport,
    ) -> Result<Read, FeedError> {
        let keys = self
            .secrets
            .pull
            .get(&feed.app)
            .ok_or_else(|| FeedError::Page(PageError::Failed("no credentials".into())))?;
        let since = match state.since {
            Some(s) => s.plus_millis(-self.settings.overlap_minutes * 60_000),
            None => now.plus_millis(-self.settings.backfill_minutes * 60_000),
        };
        let api = keys.api_url.as_deref().unwrap_or(pull.api_url());
        let intake = Intake {
            brands: self.brands,
            secrets: self.secrets,
            store: self.store,
            queue: self.queue,
        };
        let key = feed.key();
        let requested = self
            .store
            .requested_reads(&key, self.settings.max_pages)
            .await
            .map_err(|e| FeedError::Stop(e.into()))?;
        // depth first: a chain's next page before the pages its listing named
        let mut queue: VecDeque<Todo> = requested
            .into_iter()
            .map(|page| Todo {
                page: Some(page),
                until: None,
                requested: true,
            })
            .collect();
        let paced = state.paced_until.is_some_and(|t| t > now);
        if !paced {
            queue.push_back(Todo {
                page: None,
                until: Some(since),
                requested: false,
            });
        }
        queue.extend(state.resume.iter().map(|r| Todo {
            page: Some(r.page.clone()),
            until: r.until,
            requested: false,
        }));
        let mut read = Read::default();
        // a page named twice (left over by the last run and named again by this one's
        // listing) is read once
        let mut done: HashSet<Option<String>> = HashSet::new();
        while let Some(todo) = queue.pop_front() {
            if done.contains(&todo.page) {
                continue;
            }
            if report.pages >= self.settings.max_pages {
                read.left = std::iter::once(todo)
                    .chain(queue)
                    .filter(|t| !t.requested)
                    .filter_map(|t| {
                        Some(Resume {
                            page: t.page?,
                            until: t.until,
                        })
                    })
                    .collect();
                break;
            }
            let got = self
                .page(feed, pull, keys, api, todo.page.as_deref(), now)
                .await;
            report.pages += 1;
            read.listed |= todo.page.is_none();
            done.insert(todo.page.clone());
            let page = match got {
                Ok(page) => page,
                // a post or comment gone since it was named, or a requested read the API
                // does not answer: given up, not retried forever
                Err(FeedError::Page(e @ PageError::Gone(_))) if todo.page.is_some() => {
                    let page = todo.page.as_deref().unwrap_or_default();
                    let reason = format!("page {page}: {e}");
                    crate::events::EventIgnored {
                        platform: feed.platform,
                        reason: &reason,
                    }
                    .emit();
                    report.intake.ignored += 1;
                    if todo.requested {
                        self.store
                            .done_read(&key, page)
                            .await
                            .map_err(|e| FeedError::Stop(e.into()))?;
                    }
                    continue;
                }
                Err(FeedError::Page(e @ (PageError::Failed(_) | PageError::Malformed(_))))
                    if todo.requested =>
                {
                    let page = todo.page.as_deref().unwrap_or_default();
                    let reason = format!("requested read {page}: {e}");
                    crate::events::EventIgnored {
                        platform: feed.platform,
                        reason: &reason,
                    }
                    .emit();
                    report.intake.ignored += 1;
                    self.store
                        .done_read(&key, page)
                        .await
                        .map_err(|e| FeedError::Stop(e.into()))?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let fresh: Vec<PlatformEvent> = page
                .events
                .into_iter()
                // after the first read, an edit or a delete of an older comment still
                // applies (to a stored one); the first read takes nothing older than backfill
                .filter(|e| {
                    (state.since.is_some() && e.kind != EventKind::Created)
                        || todo
                            .until
                            .is_none_or(|u| e.created_at.is_none_or(|t| t >= u))
                })
                .collect();
            let got = intake
                .ingest(&feed.brand, feed.platform, fresh, page.ignored, now)
                .await
                .map_err(|e| FeedError::Stop(e.into()))?;
            report.intake.add(&got);
            if todo.requested {
                read.by_id += got.stored;
                self.store
                    .done_read(&key, todo.page.as_deref().unwrap_or_default())
                    .await
                    .map_err(|e| FeedError::Stop(e.into()))?;
            } else {
                read.newest = match (read.newest, page.newest) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
            read.wait = page.wait_seconds.or(read.wait);
            let until = todo.until;
            let stale = |t: Timestamp| {
                until.is_some_and(|u| t < u.plus_millis(-self.settings.backfill_minutes * 60_000))
            };
            queue.extend(
                page.then
                    .into_iter()
                    .filter(|f| !f.replies_of.is_some_and(stale))
                    .map(|f| Todo {
                        page: Some(f.page),
                        until,
                        requested: todo.requested,
                    }),
            );
            let reached = match (page.oldest, until) {
                (Some(o), Some(u)) => o < u,
                _ => false,
            };
            if let Some(next) = page.next.filter(|_| !reached) {
                queue.push_front(Todo {
                    page: Some(next),
                    until,
                    requested: todo.requested,
                });
            }
        }
        Ok(read)
    }

    /// One page, with a token refreshed once if the API refuses the one it had.
    async fn page(
        &self,
        feed: &Feed,
        pull: &dyn Pull,
        keys: &PullKeys,
        api: &str,
        page: Option<&str>,
        now: Timestamp,
    ) -> Result<Page, FeedError> {
        let mut refreshed = false;
        loop {
            let token = match self.tokens.get(&feed.app, now) {
                Some(t) => Some(t),
                None => self.refresh(feed, pull, keys, now).await?,
            };
            let mut req = pull.page_request(api, feed, keys, page);
            if let Some(t) = &token {
                req = pull.authorize(req, t);
            }
            if let Some(ua) = &keys.user_agent {
                req = req.header("user-agent", ua.clone());
            }
            let resp = self
                .http
                .send(&req)
                .await
                .map_err(|e| FeedError::Page(PageError::Failed(e.0)))?;
            match pull.read_page(feed, keys, page, &resp) {
                Err(PageError::Unauthorized(_))
                    if !refreshed && pull.token_request("", keys).is_some() =>
                {
                    self.tokens.forget(&feed.app);
                    refreshed = true;
                }
                other => return other.map_err(FeedError::Page),
            }
        }
    }

    /// A new access token from the refresh token, or the configured one.
    async fn refresh(
        &self,
        feed: &Feed,
        pull: &dyn Pull,
        keys: &PullKeys,
        now: Timestamp,
    ) -> Result<Option<String>, FeedError> {
        let url = keys.token_url.as_deref().or(pull.token_url());
        let req = url.and_then(|u| pull.token_request(u, keys));
        let Some(req) = req else {
            return Ok(keys.access_token.clone());
        };
        let resp = self
            .http
            .send(&req)
            .await
            .map_err(|e| FeedError::Page(PageError::Failed(e.0)))?;
        if let Some(e) = PageError::of_status(&resp) {
            return Err(FeedError::Page(match e {
                // a refused refresh token (400 invalid_grant) needs a person: authorize again
                PageError::Failed(m) if (400..500).contains(&resp.status) => {
                    PageError::Unauthorized(format!("refresh refused, authorize again ({m})"))
                }
                e => e,
            }));
        }
        let (token, expires_in) = pull.read_token(&resp).map_err(FeedError::Page)?;
        let expires = expires_in.map(|s| now.plus_millis(s.saturating_mul(1000)));
        self.tokens.put(&feed.app, token.clone(), expires);
        Ok(Some(token))
    }
}

/// A page to read in this run.
struct Todo {
    page: Option<String>,
    until: Option<Timestamp>,
    /// A read a webhook asked for: done once read (or refused).
    requested: bool,
}

/// What a feed's read gave.
#[derive(Default)]
struct Read {
    newest: Option<Timestamp>,
    wait: Option<i64>,
    left: Vec<Resume>,
    /// The feed's own listing was read (not only reads by id or pages left over).
    listed: bool,
    /// Comments stored by the reads webhooks asked for: delivered, only without words.
    by_id: usize,
}

#[derive(Debug, thiserror::Error)]
enum FeedError {
    #[error(transparent)]
    Page(PageError),
    /// The store or queue failed: the run stops, the message is retried.
    #[error(transparent)]
    Stop(PollError),
}

/// Reads a JSON page, or says it is malformed.
pub fn json_page<T: serde::de::DeserializeOwned>(resp: &HttpResponse) -> Result<T, PageError> {
    serde_json::from_slice(&resp.body).map_err(|e| PageError::Malformed(e.to_string()))
}
