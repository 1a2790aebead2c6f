//! The poll function against a local HTTP server that answers as the platforms' APIs do:
//! recorded-shape pages (tests/fixtures/pull), pagination, deleted items, rate limits and
//! quota errors, expired tokens, malformed pages, and gap repair of a lost webhook.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use vigie_core::comment::{CommentKey, CommentState};
use vigie_core::config::Brands;
use vigie_core::intake::{Intake, IntakeReport, WebhookRequest};
use vigie_core::platforms::{self, AppKeys, Inbound};
use vigie_core::poll::{FeedReport, FeedState, PollReport, PollStore, PullKeys};
use vigie_core::ports::{CommentRead, QueueReceive};
use vigie_core::secrets::Secrets;
use vigie_core::{BrandId, Platform, Timestamp};
use vigie_poll::{Polling, ReqwestClient};
use vigie_sqlite::{Database, SqliteQueue, SqliteStore};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/pull");

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{path}")).unwrap()
}

/// One scripted answer.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn ok(body: String) -> Answer {
    Answer {
        status: 200,
        headers: vec![],
        body,
    }
}

fn status(status: u16, body: &str) -> Answer {
    Answer {
        status,
        headers: vec![],
        body: body.to_owned(),
    }
}

fn token(t: &str) -> Answer {
    ok(format!(
        r#"{{"access_token":"{t}","expires_in":3599,"scope":"https://www.googleapis.com/auth/youtube.force-ssl","token_type":"Bearer"}}"#
    ))
}

/// A request the server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    authorization: Option<String>,
    user_agent: Option<String>,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A route's pattern and the answers it gives in turn.
type Routes = Vec<(String, VecDeque<Answer>)>;

/// Answers by route: the first route whose pattern the path and query contain; each
/// route's answers are given in turn, the last one again and again.
#[derive(Clone, Default)]
struct Api {
    routes: Arc<Mutex<Routes>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Api {
    fn route(&self, pattern: &str, answers: Vec<Answer>) -> &Self {
        self.routes
            .lock()
            .unwrap()
            .insert(0, (pattern.to_owned(), answers.into()));
        self
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn seen_matching(&self, pattern: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.uri.contains(pattern))
            .collect()
    }

    async fn serve(&self) -> String {
        async fn answer(
            State(api): State<Api>,
            method: Method,
            OriginalUri(uri): OriginalUri,
            headers: HeaderMap,
            body: Bytes,
        ) -> impl IntoResponse {
            let h = |n: &str| {
                headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let uri = uri.to_string();
            api.seen.lock().unwrap().push(Seen {
                method: method.to_string(),
                uri: uri.clone(),
                authorization: h("authorization"),
                user_agent: h("user-agent"),
                headers: headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
                    .collect(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            let decoded = form_decode(&uri);
            let mut routes = api.routes.lock().unwrap();
            let found = routes
                .iter_mut()
                .find(|(p, _)| decoded.contains(p.as_str()))
                .map(|(_, answers)| {
                    if answers.len() > 1 {
                        answers.pop_front().unwrap()
                    } else {
                        answers.front().cloned().unwrap()
                    }
                });
            let a = found.unwrap_or_else(|| status(404, r#"{"error":"no such route"}"#));
            let mut resp = (
                StatusCode::from_u16(a.status).unwrap(),
                [("content-type", "application/json; charset=UTF-8")],
                a.body,
            )
                .into_response();
            for (n, v) in a.headers {
                resp.headers_mut().insert(n, v.parse().unwrap());
            }
            resp
        }
        let app = Router::new().fallback(answer).with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }
}

fn form_decode(uri: &str) -> String {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let pairs: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

const CONFIG: &str = r#"
[meta]
app_secret = { env = "UNUSED_IN_TESTS" }
verify_token = { env = "UNUSED_IN_TESTS" }

[apps.acme-youtube]
platform = "youtube"
[apps.acme-youtube.pull]
client_id = "1234.apps.googleusercontent.com"
client_secret = { env = "UNUSED_IN_TESTS" }
refresh_token = { env = "UNUSED_IN_TESTS" }

[apps.acme-reddit]
platform = "reddit"
[apps.acme-reddit.pull]
client_id = "p-jcoLKBynTLew"
client_secret = { env = "UNUSED_IN_TESTS" }
refresh_token = { env = "UNUSED_IN_TESTS" }
username = "Acme_Officiel"
user_agent = "web:fr.acme.vigie:1.0 (by /u/Acme_Officiel)"

[apps.acme-google]
platform = "google"
[apps.acme-google.pull]
client_id = "1234.apps.googleusercontent.com"
client_secret = { env = "UNUSED_IN_TESTS" }
refresh_token = { env = "UNUSED_IN_TESTS" }

[apps.acme-x]
platform = "x"
[apps.acme-x.pull]
access_token = { env = "UNUSED_IN_TESTS" }

[apps.acme-linkedin]
platform = "linkedin"
[apps.acme-linkedin.pull]
client_id = "86abcdefgh1234"
client_secret = { env = "UNUSED_IN_TESTS" }
refresh_token = { env = "UNUSED_IN_TESTS" }

[apps.acme-tiktok]
platform = "tiktok"
secret = { env = "UNUSED_IN_TESTS" }
[apps.acme-tiktok.pull]
client_id = "awx1tiktokclient"
client_secret = { env = "UNUSED_IN_TESTS" }
refresh_token = { env = "UNUSED_IN_TESTS" }

[[brands]]
id = "acme"
name = "Acme"
facebook_page_ids = ["100000000000001"]
instagram_account_ids = ["17841400000000001"]
accounts = { youtube = ["UCacmeAcmeAcmeAcmeAcme00"], reddit = ["r/acme"], google = ["accounts/106324156478320432151/locations/5874012345678901234"], x = ["1000000001"], linkedin = ["2414183"], tiktok = ["-000OXv3Jb5RkQZ"] }
"#;

/// TikTok's client secret in these tests (its webhook names comments to read).
const TIKTOK_SECRET: &[u8] = b"tiktok-client-secret";

/// Meta's app secret in these tests (the webhook that gap repair backs up).
const META_SECRET: &[u8] = b"meta-app-secret";

struct World {
    api: Api,
    polling: Polling<SqliteStore, SqliteQueue, ReqwestClient>,
    queue: SqliteQueue,
}

/// Noon on 2026-12-01, the fixtures' day.
/// The report of the one feed whose name contains `name`.
fn feed<'a>(report: &'a PollReport, name: &str) -> &'a FeedReport {
    report.feeds.iter().find(|f| f.feed.contains(name)).unwrap()
}

fn noon() -> Timestamp {
    Timestamp::parse_rfc3339("2026-12-01T12:00:00Z").unwrap()
}

fn at(t: Timestamp, seconds: i64) -> Timestamp {
    t.plus_millis(seconds * 1000)
}

/// The apps of `only` get credentials (the others are not read), all pointed at the server.
async fn world(only: &[&str]) -> World {
    let api = Api::default();
    let base = api.serve().await;
    let brands = Brands::parse("brands.toml".as_ref(), CONFIG).unwrap();
    let mut secrets = Secrets::default()
        .with_app("meta", AppKeys::new(META_SECRET).with_verify_token("t"))
        .with_app("acme-tiktok", AppKeys::new(TIKTOK_SECRET));
    for app in only {
        // Meta's system user token and X's bearer token do not refresh
        let fixed = ["meta", "acme-x"].contains(app);
        let keys = PullKeys {
            client_id: Some(format!("{app}-client")),
            client_secret: (!fixed).then(|| format!("{app}-client-secret")),
            refresh_token: (!fixed).then(|| format!("{app}-refresh-token")),
            access_token: fixed.then(|| format!("{app}-static-token")),
            username: (*app == "acme-reddit").then(|| "Acme_Officiel".to_owned()),
            user_agent: (*app == "acme-reddit")
                .then(|| "web:fr.acme.vigie:1.0 (by /u/Acme_Officiel)".to_owned()),
            api_url: Some(base.clone()),
            token_url: Some(format!("{base}/token/{app}")),
        };
        secrets = secrets.with_pull(*app, keys);
    }
    let db = Database::in_memory().unwrap();
    let queue = db.queue("classify", 5);
    World {
        api,
        polling: Polling::new(
            brands,
            secrets,
            db.store(),
            queue.clone(),
            ReqwestClient::new(),
        ),
        queue,
    }
}

impl World {
    async fn comment(&self, platform: Platform, id: &str) -> Option<vigie_core::Comment> {
        let key =
            CommentKey::new(BrandId::parse("acme").unwrap(), platform, id.to_owned()).unwrap();
        self.polling.store.get(&key).await.unwrap()
    }

    async fn state(&self, feed: &str) -> FeedState {
        self.polling
            .store
            .feed_state(feed)
            .await
            .unwrap()
            .unwrap_or_default()
    }

    async fn queued(&self) -> usize {
        self.queue.receive(100, 60).await.unwrap().len()
    }
}

const YT_FEED: &str = "acme-youtube/youtube/UCacmeAcmeAcmeAcmeAcme00";
const REDDIT_FEED: &str = "acme-reddit/reddit/r/acme";

#[tokio::test]
async fn youtube_pages_are_read_back_to_the_cursor_with_a_refreshed_token() {
    let w = world(&["acme-youtube"]).await;
    w.api
        .route("/token/acme-youtube", vec![token("ya29.first")])
        .route(
            "/youtube/v3/commentThreads",
            vec![ok(fixture("youtube/threads-1.json"))],
        )
        .route(
            "pageToken=QURTSl9pMlB0ZkVrLXdJ",
            vec![ok(fixture("youtube/threads-2.json"))],
        );

    let s = w.polling.run(noon()).await.unwrap();
    assert_eq!(s.feeds, 1, "only the app with credentials is read");
    let feed = &s.report.feeds[0];
    assert_eq!(feed.feed, YT_FEED);
    assert_eq!(feed.pages, 2);
    assert_eq!(feed.error, None);
    // 0001, 0002 (edited, new to vigie) and 0004; the channel's own reply is kept as its own;
    // 0003 was rejected by the channel's moderation; 0005 is older than the first read's
    // 24 hours
    assert_eq!(feed.intake.stored, 3, "{feed:?}");
    assert_eq!(feed.intake.own, 1);
    assert_eq!(feed.missed, 0, "YouTube is not gap repair");
    assert_eq!(w.queued().await, 3);

    let c = w
        .comment(Platform::YouTube, "UgzT3hread0001")
        .await
        .unwrap();
    assert_eq!(
        c.text.as_ref().unwrap().as_str(),
        "Ma commande n'est toujours pas arrivée 😡 #SAV"
    );
    assert_eq!(c.thread_id, "dQw4w9WgXcQ");
    assert_eq!(c.author.name.as_deref(), Some("@jeanne-d"));
    assert_eq!(
        c.permalink.as_deref(),
        Some("https://www.youtube.com/watch?v=dQw4w9WgXcQ&lc=UgzT3hread0001")
    );
    assert_eq!(
        c.created_at,
        Timestamp::parse_rfc3339("2026-12-01T09:40:00Z").unwrap()
    );
    let reply = w
        .comment(Platform::YouTube, "UgzT3hread0001.9xReply0001")
        .await
        .unwrap();
    assert_eq!(reply.state, CommentState::OwnReply);
    assert_eq!(reply.parent_id.as_deref(), Some("UgzT3hread0001"));
    assert!(
        w.comment(Platform::YouTube, "UgzT3hread0003")
            .await
            .is_none()
    );
    assert!(
        w.comment(Platform::YouTube, "UgzT3hread0005")
            .await
            .is_none()
    );
    let edited = w
        .comment(Platform::YouTube, "UgzT3hread0002")
        .await
        .unwrap();
    assert!(edited.text.unwrap().as_str().ends_with("(édité)"));
    assert!(
        w.comment(Platform::YouTube, "UgzT3hread0004")
            .await
            .is_some()
    );

    let seen = w.api.seen();
    let token_calls = w.api.seen_matching("/token/");
    assert_eq!(token_calls.len(), 1);
    assert_eq!(token_calls[0].method, "POST");
    for part in [
        "grant_type=refresh_token",
        "refresh_token=acme-youtube-refresh-token",
        "client_id=acme-youtube-client",
        "client_secret=acme-youtube-client-secret",
    ] {
        assert!(
            token_calls[0].body.contains(part),
            "{}",
            token_calls[0].body
        );
    }
    let pages: Vec<_> = seen
        .iter()
        .filter(|s| s.uri.contains("commentThreads"))
        .collect();
    assert_eq!(pages.len(), 2);
    for p in &pages {
        assert_eq!(p.authorization.as_deref(), Some("Bearer ya29.first"));
        let q = form_decode(&p.uri);
        for part in [
            "allThreadsRelatedToChannelId=UCacmeAcmeAcmeAcmeAcme00",
            "order=time",
            "part=snippet,replies",
            "textFormat=plainText",
        ] {
            assert!(q.contains(part), "{q}");
        }
    }
    assert!(!pages[0].uri.contains("pageToken"));

    let state = w.state(YT_FEED).await;
    assert_eq!(
        state.since,
        Some(Timestamp::parse_rfc3339("2026-12-01T09:45:00Z").unwrap()),
        "the newest comment read"
    );
    assert_eq!(
        (state.runs, state.failures, state.backoff_until),
        (1, 0, None)
    );

    // Five minutes later: the same pages again, all duplicates; the token is still good,
    // and the first page reaches back past the cursor, so page 2 is not asked for again.
    let s = w.polling.run(at(noon(), 300)).await.unwrap();
    let feed = &s.report.feeds[0];
    assert_eq!((feed.intake.stored, feed.pages), (0, 1), "{feed:?}");
    assert_eq!(feed.intake.duplicates, 3);
    assert_eq!(w.queued().await, 0);
    assert_eq!(w.api.seen_matching("/token/").len(), 1);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_page_asked_again() {
    let w = world(&["acme-youtube"]).await;
    w.api
        .route("/token/acme-youtube", vec![token("ya29.old"), token("ya29.new")])
        .route(
            "/youtube/v3/commentThreads",
            vec![
                status(401, r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","errors":[{"reason":"authError"}],"status":"UNAUTHENTICATED"}}"#),
                ok(fixture("youtube/threads-2.json")),
            ],
        );
    let s = w.polling.run(noon()).await.unwrap();
    let feed = &s.report.feeds[0];
    assert_eq!(feed.error, None, "{feed:?}");
    assert_eq!(feed.intake.stored, 1);
    let pages = w.api.seen_matching("commentThreads");
    assert_eq!(
        pages
            .iter()
            .map(|p| p.authorization.clone().unwrap())
            .collect::<Vec<_>>(),
        ["Bearer ya29.old", "Bearer ya29.new"]
    );
    assert_eq!(w.api.seen_matching("/token/").len(), 2);
}

#[tokio::test]
async fn a_refused_refresh_token_backs_off_and_asks_for_a_new_authorization() {
    let w = world(&["acme-youtube"]).await;
    w.api.route(
        "/token/acme-youtube",
        vec![status(
            400,
            r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
        )],
    );
    let s = w.polling.run(noon()).await.unwrap();
    let error = s.report.feeds[0].error.clone().unwrap();
    assert!(error.contains("authorize again"), "{error}");
    assert_eq!(s.failed, 1);
    let state = w.state(YT_FEED).await;
    assert_eq!(state.failures, 1);
    assert_eq!(state.backoff_until, Some(at(noon(), 60)));
    assert_eq!(state.last_error.as_deref(), Some(error.as_str()));
    assert!(w.api.seen_matching("commentThreads").is_empty());

    // backing off: not even the token endpoint is asked
    let s = w.polling.run(at(noon(), 30)).await.unwrap();
    assert!(s.report.feeds[0].skipped);
    assert_eq!(w.api.seen().len(), 1);
    // then tried again, and refused again: twice the wait
    let s = w.polling.run(at(noon(), 61)).await.unwrap();
    assert!(s.report.feeds[0].error.is_some());
    assert_eq!(
        w.state(YT_FEED).await.backoff_until,
        Some(at(noon(), 61 + 120))
    );
}

#[tokio::test]
async fn rate_limits_and_quota_errors_back_off_then_reading_resumes() {
    let w = world(&["acme-youtube", "acme-reddit"]).await;
    w.api
        .route("/token/", vec![token("t")])
        .route(
            "/youtube/v3/commentThreads",
            vec![
                status(403, &fixture("youtube/quota.json")),
                status(403, &fixture("youtube/quota.json")),
                ok(fixture("youtube/threads-2.json")),
            ],
        )
        .route(
            "/r/acme/comments",
            vec![
                Answer {
                    status: 429,
                    headers: vec![("retry-after", "600".into())],
                    body: "Too Many Requests".into(),
                },
                ok(fixture("reddit/comments.json")),
            ],
        );
    let s = w.polling.run(noon()).await.unwrap();
    assert_eq!(s.failed, 2);
    for f in &s.report.feeds {
        assert!(
            f.error.as_deref().unwrap().starts_with("rate limited"),
            "{f:?}"
        );
    }
    assert!(
        s.report
            .feeds
            .iter()
            .any(|f| f.error.as_deref().unwrap().contains("quotaExceeded"))
    );
    // Reddit said how long; YouTube's quota did not: the first backoff
    assert_eq!(
        w.state(REDDIT_FEED).await.backoff_until,
        Some(at(noon(), 600))
    );
    assert_eq!(w.state(YT_FEED).await.backoff_until, Some(at(noon(), 60)));

    // YouTube again after a minute: still over quota, waits twice as long; Reddit waits
    let s = w.polling.run(at(noon(), 61)).await.unwrap();
    let by = |name: &str| feed(&s.report, name).clone();
    assert!(by("reddit").skipped);
    assert!(by("youtube").error.is_some());
    assert_eq!(w.state(YT_FEED).await.failures, 2);
    assert_eq!(
        w.state(YT_FEED).await.backoff_until,
        Some(at(noon(), 61 + 120))
    );

    // after both waits, both read
    let s = w.polling.run(at(noon(), 601)).await.unwrap();
    assert_eq!(s.failed, 0, "{:?}", s.report);
    assert!(s.stored > 0);
    for feed in [YT_FEED, REDDIT_FEED] {
        let state = w.state(feed).await;
        assert_eq!(
            (state.failures, state.backoff_until, state.last_error),
            (0, None, None)
        );
    }
    // every Reddit call names the client and carries the token
    for r in w.api.seen_matching("/r/acme/") {
        assert_eq!(
            r.user_agent.as_deref(),
            Some("web:fr.acme.vigie:1.0 (by /u/Acme_Officiel)")
        );
        assert_eq!(r.authorization.as_deref(), Some("Bearer t"));
    }
    // Reddit's token request authenticates the app with HTTP Basic
    let reddit_token = w.api.seen_matching("/token/acme-reddit");
    assert_eq!(
        reddit_token[0].authorization.as_deref(),
        Some("Basic YWNtZS1yZWRkaXQtY2xpZW50OmFjbWUtcmVkZGl0LWNsaWVudC1zZWNyZXQ=")
    );
}

#[tokio::test]
async fn a_spent_reddit_window_keeps_the_page_and_waits_for_its_reset() {
    let w = world(&["acme-reddit"]).await;
    w.api.route("/token/", vec![token("t")]).route(
        "/r/acme/comments",
        vec![Answer {
            status: 200,
            headers: vec![
                ("x-ratelimit-used", "100".into()),
                ("x-ratelimit-remaining", "0.0".into()),
                ("x-ratelimit-reset", "212".into()),
            ],
            body: fixture("reddit/comments.json"),
        }],
    );
    let s = w.polling.run(noon()).await.unwrap();
    let f = &s.report.feeds[0];
    assert_eq!(
        (f.error.clone(), f.pages, f.intake.stored),
        (None, 1, 2),
        "{f:?}"
    );
    let state = w.state(REDDIT_FEED).await;
    assert_eq!(state.backoff_until, Some(at(noon(), 212)));
    assert_eq!(state.failures, 0, "a spent window is not a failure");
    assert!(w.polling.run(at(noon(), 200)).await.unwrap().report.feeds[0].skipped);
    assert_eq!(w.api.seen_matching("/r/acme/").len(), 1);
}

#[tokio::test]
async fn reddit_deletes_removals_edits_and_the_brands_own_comments() {
    let w = world(&["acme-reddit"]).await;
    // an hour earlier, m8x0004 was still up
    let alive = fixture("reddit/comments.json")
        .replace(r#""body": "[removed]""#, r#""body": "Arnaque !!! Fuyez""#);
    let listing_end = |s: String| s.replace(r#""after": "t1_m8x0005""#, r#""after": null"#);
    w.api.route("/token/", vec![token("t")]).route(
        "/r/acme/comments",
        vec![
            ok(listing_end(alive)),
            ok(listing_end(fixture("reddit/comments.json"))),
        ],
    );
    let s = w.polling.run(noon()).await.unwrap();
    let f = &s.report.feeds[0];
    // m8x0001, m8x0004 and m8x0005 (edited, new to vigie); the brand's reply is its own; the
    // deleted m8x0003 was never seen; the link is skipped
    assert_eq!(
        (f.intake.stored, f.intake.own, f.intake.ignored),
        (3, 1, 2),
        "{f:?}"
    );
    let first = w.comment(Platform::Reddit, "t1_m8x0001").await.unwrap();
    assert_eq!(first.thread_id, "t3_1h3abcd");
    assert_eq!(first.parent_id, None);
    assert_eq!(first.author.name.as_deref(), Some("camille_92"));
    assert_eq!(
        first.permalink.as_deref(),
        Some("https://www.reddit.com/r/acme/comments/1h3abcd/retour_produit/m8x0001/")
    );
    let own = w.comment(Platform::Reddit, "t1_m8x0002").await.unwrap();
    assert_eq!(own.state, CommentState::OwnReply);
    assert_eq!(own.parent_id.as_deref(), Some("t1_m8x0001"));

    let s = w.polling.run(at(noon(), 300)).await.unwrap();
    let f = &s.report.feeds[0];
    assert_eq!(f.intake.deleted, 1, "{f:?}");
    assert_eq!(
        w.comment(Platform::Reddit, "t1_m8x0004")
            .await
            .unwrap()
            .state,
        CommentState::Deleted
    );
}

#[tokio::test]
async fn a_malformed_page_stops_the_feed_keeps_what_was_read_and_is_read_again() {
    let w = world(&["acme-youtube"]).await;
    w.api
        .route("/token/", vec![token("t")])
        .route(
            "/youtube/v3/commentThreads",
            vec![ok(fixture("youtube/threads-1.json"))],
        )
        .route(
            "pageToken=QURTSl9pMlB0ZkVrLXdJ",
            vec![
                ok("<html><body>502 Bad Gateway</body></html>".into()),
                status(503, "upstream connect error"),
                ok(fixture("youtube/threads-2.json")),
            ],
        );
    let s = w.polling.run(noon()).await.unwrap();
    let f = &s.report.feeds[0];
    assert!(
        f.error.as_deref().unwrap().starts_with("malformed page"),
        "{f:?}"
    );
    assert_eq!(f.intake.stored, 2, "page 1 is kept");
    assert_eq!(
        w.state(YT_FEED).await.since,
        None,
        "the cursor waits for the whole read"
    );

    let s = w.polling.run(at(noon(), 61)).await.unwrap();
    assert!(
        s.report.feeds[0]
            .error
            .as_deref()
            .unwrap()
            .contains("HTTP 503")
    );

    let s = w.polling.run(at(noon(), 61 + 121)).await.unwrap();
    let f = &s.report.feeds[0];
    assert_eq!(f.error, None);
    // page 1 again (two comments and the channel's reply), then page 2's new one
    assert_eq!((f.intake.stored, f.intake.duplicates), (1, 3), "{f:?}");
    assert!(
        w.comment(Platform::YouTube, "UgzT3hread0004")
            .await
            .is_some()
    );
}

#[tokio::test]
async fn a_server_that_cannot_be_reached_is_a_failure_the_feed_backs_off_from() {
    let w = world(&[]).await;
    // an address nothing listens on
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut secrets = w.polling.secrets.clone();
    secrets.pull.insert(
        "acme-google".into(),
        PullKeys {
            client_id: Some("c".into()),
            client_secret: Some("s".into()),
            refresh_token: Some("r".into()),
            api_url: Some(format!("http://{closed}")),
            token_url: Some(format!("http://{closed}/token")),
            ..Default::default()
        },
    );
    let polling = Polling::new(
        w.polling.brands.clone(),
        secrets,
        w.polling.store.clone(),
        w.queue.clone(),
        ReqwestClient::new(),
    );
    let s = polling.run(noon()).await.unwrap();
    assert_eq!(s.failed, 1);
    let state = polling
        .store
        .feed_state(
            "acme-google/google/accounts/106324156478320432151/locations/5874012345678901234",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.failures, 1);
    assert!(state.last_error.unwrap().contains("127.0.0.1"));
}

#[tokio::test]
async fn google_reviews_are_read_with_their_rating_and_updates() {
    let w = world(&["acme-google"]).await;
    w.api
        .route("/token/", vec![token("t")])
        .route("/reviews", vec![ok(fixture("google/reviews.json"))]);
    let s = w.polling.run(noon()).await.unwrap();
    let f = &s.report.feeds[0];
    assert_eq!(f.error, None);
    assert_eq!((f.intake.stored, f.intake.ignored), (2, 1), "{f:?}");
    let req = &w.api.seen_matching("/reviews")[0];
    assert!(form_decode(&req.uri).contains(
        "/v4/accounts/106324156478320432151/locations/5874012345678901234/reviews?pageSize=50&orderBy=updateTime desc"
    ), "{}", req.uri);
    let name = "accounts/106324156478320432151/locations/5874012345678901234/reviews/AbFvOqnXyZ001";
    let r = w.comment(Platform::Google, name).await.unwrap();
    assert_eq!(r.source.as_deref(), Some("1-star review"));
    assert_eq!(r.author.name.as_deref(), Some("Martine Roux"));
    let updated = w
        .comment(
            Platform::Google,
            "accounts/106324156478320432151/locations/5874012345678901234/reviews/AbFvOqnXyZ003",
        )
        .await
        .unwrap();
    assert_eq!(
        updated.created_at,
        Timestamp::parse_rfc3339("2026-11-30T12:00:00Z").unwrap()
    );
}

#[tokio::test]
async fn gap_repair_stores_and_counts_the_comments_webhooks_did_not_deliver() {
    let w = world(&["meta"]).await;
    let empty = r#"{"data":[{"id":"100000000000001_5001","comments":{"data":[]}}],"paging":{}}"#;
    w.api
        .route(
            "/100000000000001/feed",
            vec![ok(empty.into()), ok(fixture("facebook/feed.json"))],
        )
        .route(
            "/17841400000000001/media",
            vec![ok(fixture("instagram/media.json"))],
        );

    // The first run, at 09:55, is the baseline: nothing it finds counts as missed.
    let s = w.polling.run(at(noon(), -7500)).await.unwrap();
    assert_eq!(s.feeds, 2);
    let ig = feed(&s.report, "instagram");
    assert_eq!(
        (ig.intake.stored, ig.intake.own, ig.missed),
        (1, 1, 0),
        "{ig:?}"
    );

    // The webhook delivers comment 7001; 7003's delivery is lost.
    let body = r#"{"object":"page","entry":[{"id":"100000000000001","time":1796119200,"changes":[{"field":"feed","value":{"from":{"id":"6100000000001","name":"In\u00e8s Laurent"},"post_id":"100000000000001_5001","comment_id":"5001_7001","created_time":1796119200,"item":"comment","parent_id":"100000000000001_5001","verb":"add","message":"Colis perdu depuis 10 jours, n\u00b0 48213"}}]}]}"#;
    let delivered = deliver(&w, Platform::Facebook, META_SECRET, body).await;
    assert_eq!(delivered.stored, 1);

    let s = w.polling.run(at(noon(), 600)).await.unwrap();
    let fb = feed(&s.report, "facebook");
    assert_eq!(fb.feed, "meta/facebook/100000000000001");
    // 7001 came by webhook; 7002 is the page's own reply; 7003 was missed
    assert_eq!(
        (
            fb.intake.duplicates,
            fb.intake.own,
            fb.intake.stored,
            fb.missed
        ),
        (1, 1, 1, 1),
        "{fb:?}"
    );
    assert_eq!(s.missed, 1);
    let repaired = w.comment(Platform::Facebook, "5001_7003").await.unwrap();
    assert_eq!(repaired.thread_id, "100000000000001_5001");
    assert_eq!(repaired.parent_id, None);
    assert_eq!(
        repaired.text.unwrap().as_str(),
        "Et sinon, quelqu'un répond au téléphone chez vous ? 😠"
    );
    assert_eq!(
        repaired.created_at,
        Timestamp::parse_rfc3339("2026-12-01T10:20:00Z").unwrap()
    );
    let own = w.comment(Platform::Facebook, "5001_7002").await.unwrap();
    assert_eq!(own.parent_id.as_deref(), Some("5001_7001"));
    assert_eq!(w.state("meta/facebook/100000000000001").await.missed, 1);
    // the system user's token, no refresh
    for r in w.api.seen_matching("/v23.0/") {
        assert_eq!(r.authorization.as_deref(), Some("Bearer meta-static-token"));
    }
    assert!(w.api.seen_matching("/token/").is_empty());
}

#[tokio::test]
async fn an_expired_meta_token_is_reported_not_refreshed() {
    let w = world(&["meta"]).await;
    w.api.route(
        "/v23.0/",
        vec![status(400, &fixture("facebook/expired.json"))],
    );
    let s = w.polling.run(noon()).await.unwrap();
    assert_eq!(s.failed, 2);
    let e = s.report.feeds[0].error.clone().unwrap();
    assert!(e.starts_with("the token was refused: code 190"), "{e}");
    assert!(w.api.seen_matching("/token/").is_empty());
}

/// Delivers a signed webhook body through intake, as the webhook function does.
async fn deliver(w: &World, platform: Platform, secret: &[u8], body: &str) -> IntakeReport {
    let headers = platforms::source(platform).sign(&AppKeys::new(secret), body.as_bytes(), noon());
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let intake = Intake {
        brands: &w.polling.brands,
        secrets: &w.polling.secrets,
        store: &w.polling.store,
        queue: &w.polling.queue,
    };
    intake
        .receive(
            WebhookRequest {
                platform,
                app: None,
                inbound: Inbound {
                    headers: &headers,
                    query: &[],
                    body: body.as_bytes(),
                },
            },
            noon(),
        )
        .await
        .unwrap()
}

const X_FEED: &str = "acme-x/x/1000000001";

#[tokio::test]
async fn x_mentions_are_read_back_to_the_cursor_and_a_spent_window_waits() {
    let w = world(&["acme-x"]).await;
    w.api
        .route(
            "/2/users/1000000001/mentions",
            vec![
                ok(fixture("x/mentions-2.json")),
                ok(fixture("x/mentions-1.json")),
            ],
        )
        .route(
            "pagination_token=7140dibdnow9c7btw3z2vwioavpvutgzrzm9icis4ndix",
            vec![ok(fixture("x/mentions-2.json"))],
        );

    // The baseline: the older page only (its last mention is beyond the 24 hours).
    let s = w.polling.run(noon()).await.unwrap();
    let feed = &s.report.feeds[0];
    assert_eq!(feed.feed, X_FEED);
    assert_eq!(
        (feed.pages, feed.intake.stored, feed.missed),
        (1, 1, 0),
        "{feed:?}"
    );
    assert!(
        w.comment(Platform::X, "1994000000000000009")
            .await
            .is_none()
    );

    // Later: three new mentions on the first page, the second page reaches the cursor.
    let s = w.polling.run(at(noon(), 300)).await.unwrap();
    let feed = &s.report.feeds[0];
    assert_eq!(feed.pages, 2, "{feed:?}");
    assert_eq!(
        (feed.intake.stored, feed.intake.own, feed.intake.duplicates),
        (2, 1, 1),
        "{feed:?}"
    );
    assert_eq!(feed.missed, 2, "what no webhook brought");
    let long = w.comment(Platform::X, "1995000000000000003").await.unwrap();
    assert!(
        long.text
            .as_ref()
            .unwrap()
            .as_str()
            .ends_with("trois semaines sans nouvelles c'est trop."),
        "a long post is read whole (note_tweet)"
    );
    assert_eq!(long.thread_id, "1995000000000000003");
    assert_eq!(long.author.name.as_deref(), Some("marc_l"));
    assert_eq!(long.author.followers, Some(48210));
    let reply = w.comment(Platform::X, "1995000000000000004").await.unwrap();
    assert_eq!(
        reply.thread_id, "1995000000000000001",
        "threaded as the webhook does"
    );
    assert_eq!(
        reply.permalink.as_deref(),
        Some("https://x.com/jeanne_d/status/1995000000000000004")
    );
    assert_eq!(
        w.comment(Platform::X, "1995000000000000002")
            .await
            .unwrap()
            .state,
        CommentState::OwnReply
    );
    for r in w.api.seen_matching("/mentions") {
        assert_eq!(
            r.authorization.as_deref(),
            Some("Bearer acme-x-static-token")
        );
        let q = form_decode(&r.uri);
        for part in [
            "max_results=100",
            "note_tweet",
            "expansions=author_id",
            "public_metrics",
        ] {
            assert!(q.contains(part), "{q}");
        }
    }

    // The window is spent: 429 with its reset time; the feed waits for it.
    let reset = Timestamp::now().millis() / 1000 + 900;
    w.api.route(
        "/2/users/1000000001/mentions",
        vec![Answer {
            status: 429,
            headers: vec![("x-rate-limit-reset", reset.to_string())],
            body: fixture("x/too-many-requests.json"),
        }],
    );
    let then = at(noon(), 600);
    let s = w.polling.run(then).await.unwrap();
    let e = s.report.feeds[0].error.clone().unwrap();
    assert!(e.contains("Too Many Requests"), "{e}");
    let wait = (w.state(X_FEED).await.backoff_until.unwrap().millis() - then.millis()) / 1000;
    assert!((890..=900).contains(&wait), "waits for the reset: {wait} s");
}

const LINKEDIN_FEED: &str = "acme-linkedin/linkedin/2414183";

#[tokio::test]
async fn linkedin_recent_posts_their_comments_and_replies_once_an_hour() {
    let w = world(&["acme-linkedin"]).await;
    w.api
        .route("/token/acme-linkedin", vec![token("AQV-linkedin-1")])
        .route("/rest/posts?", vec![ok(fixture("linkedin/posts.json"))])
        .route(
            "/rest/socialActions/urn%3Ali%3Ashare%3A7400000000000000001/comments",
            vec![ok(fixture("linkedin/comments-share.json"))],
        )
        // deleted since the listing named it
        .route(
            "/rest/socialActions/urn%3Ali%3AugcPost%3A7400000000000000002/comments",
            vec![status(
                404,
                r#"{"status":404,"serviceErrorCode":100,"message":"Not Found"}"#,
            )],
        )
        .route(
            "/rest/socialActions/urn%3Ali%3Acomment%3A%28urn%3Ali%3Aactivity%3A7400000000000000009%2C7400000000000000011%29/comments",
            vec![ok(fixture("linkedin/replies.json"))],
        );
    let s = w.polling.run(noon()).await.unwrap();
    let feed = &s.report.feeds[0];
    assert_eq!(feed.feed, LINKEDIN_FEED);
    assert_eq!(feed.error, None, "{feed:?}");
    // the listing, two posts' comments, one comment's replies
    assert_eq!(feed.pages, 4, "{feed:?}");
    // 011 and 012 (edited); the organization's reply is its own; 013 predates the 24
    // hours; the deleted post is counted, not a failure
    assert_eq!(
        (feed.intake.stored, feed.intake.own, feed.intake.ignored),
        (2, 1, 1),
        "{feed:?}"
    );
    let long = "urn:li:comment:(urn:li:activity:7400000000000000009,7400000000000000011)";
    let c = w.comment(Platform::LinkedIn, long).await.unwrap();
    assert_eq!(
        c.thread_id, "urn:li:share:7400000000000000001",
        "as the webhook threads it"
    );
    assert_eq!(c.author.id, "urn:li:person:zLqTygBP8S");
    assert_eq!(
        c.created_at,
        Timestamp::parse_rfc3339("2026-12-01T10:40:00Z").unwrap()
    );
    let reply = w
        .comment(
            Platform::LinkedIn,
            "urn:li:comment:(urn:li:activity:7400000000000000009,7400000000000000014)",
        )
        .await
        .unwrap();
    assert_eq!(reply.state, CommentState::OwnReply);
    assert_eq!(reply.parent_id.as_deref(), Some(long));
    for r in w.api.seen_matching("/rest/") {
        assert_eq!(r.authorization.as_deref(), Some("Bearer AQV-linkedin-1"));
        assert_eq!(r.header("linkedin-version"), Some("202610"));
        assert_eq!(r.header("x-restli-protocol-version"), Some("2.0.0"));
    }
    let listing = form_decode(&w.api.seen_matching("/rest/posts")[0].uri);
    assert!(
        listing
            .contains("author=urn:li:organization:2414183&q=author&count=10&sortBy=LAST_MODIFIED"),
        "{listing}"
    );
    // the development tier's 500 calls a day: the next listing is an hour later
    let s = w.polling.run(at(noon(), 300)).await.unwrap();
    assert_eq!(s.report.feeds[0].pages, 0, "{:?}", s.report.feeds[0]);
    assert_eq!(
        w.state(LINKEDIN_FEED).await.paced_until,
        Some(at(noon(), 3600))
    );
    // an hour later
    let s = w.polling.run(at(noon(), 3600)).await.unwrap();
    assert_eq!(s.report.feeds[0].pages, 4);
    assert_eq!(
        s.report.feeds[0].intake.duplicates, 2,
        "{:?}",
        s.report.feeds[0]
    );
}

const TIKTOK_FEED: &str = "acme-tiktok/tiktok/-000OXv3Jb5RkQZ";

#[tokio::test]
async fn tiktok_comments_without_words_are_read_by_id_and_videos_are_repaired() {
    let w = world(&["acme-tiktok"]).await;
    let empty = r#"{"code":0,"message":"OK","request_id":"1","data":{"comments":[],"has_more":false,"cursor":0}}"#;
    w.api
        .route("/token/acme-tiktok", vec![ok(fixture("tiktok/token.json"))])
        .route(
            "/business/video/list/",
            vec![ok(fixture("tiktok/videos.json"))],
        )
        .route(
            "video_id=7436000000000000001&include_replies=true",
            vec![ok(fixture("tiktok/comments-1.json"))],
        )
        .route(
            "video_id=7436000000000000002&include_replies=true",
            vec![ok(empty.to_owned())],
        )
        .route("cursor=2", vec![ok(fixture("tiktok/comments-2.json"))])
        .route(
            r#"comment_ids=["7437000000000000009"]"#,
            vec![ok(fixture("tiktok/comment-by-id.json"))],
        );

    // The event names the comment without its words: a read is asked for, nothing stored.
    let content = r#"{"comment_id":7437000000000000009,"video_id":7436000000000000002,"parent_comment_id":0,"comment_type":"comment","comment_action":"insert","create_time":1796126000,"owner":false}"#;
    let body = serde_json::json!({
        "client_key": "awx1tiktokclient", "event": "comment.update", "create_time": 1796126001,
        "user_openid": "-000OXv3Jb5RkQZ", "content": content,
    })
    .to_string();
    let got = deliver(&w, Platform::TikTok, TIKTOK_SECRET, &body).await;
    assert_eq!(
        (got.read_later, got.stored, got.ignored),
        (1, 0, 0),
        "{got:?}"
    );
    assert_eq!(
        w.polling
            .store
            .requested_reads(TIKTOK_FEED, 10)
            .await
            .unwrap(),
        ["comment 7436000000000000002 7437000000000000009"]
    );
    // delivered twice (TikTok retries): still one read
    deliver(&w, Platform::TikTok, TIKTOK_SECRET, &body).await;
    assert_eq!(
        w.polling
            .store
            .requested_reads(TIKTOK_FEED, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    let s = w.polling.run(noon()).await.unwrap();
    let feed = &s.report.feeds[0];
    assert_eq!(feed.feed, TIKTOK_FEED);
    assert_eq!(feed.error, None, "{feed:?}");
    // the read by id, the listing, video 1's two pages, video 2's one
    assert_eq!(feed.pages, 5, "{feed:?}");
    // 009 (read by id) and 003; the account's own reply 004; 002 hidden (a delete of a
    // comment vigie never had); 001 predates the 24 hours
    assert_eq!((feed.intake.stored, feed.intake.own), (2, 1), "{feed:?}");
    let read = w
        .comment(Platform::TikTok, "7437000000000000009")
        .await
        .unwrap();
    assert_eq!(
        read.text.unwrap().as_str(),
        "Livraison en Belgique possible ?"
    );
    assert_eq!(read.thread_id, "7436000000000000002");
    assert!(
        w.polling
            .store
            .requested_reads(TIKTOK_FEED, 10)
            .await
            .unwrap()
            .is_empty(),
        "the read is done"
    );
    let reply = w
        .comment(Platform::TikTok, "7437000000000000004")
        .await
        .unwrap();
    assert_eq!(reply.state, CommentState::OwnReply);
    assert_eq!(reply.parent_id.as_deref(), Some("7437000000000000003"));
    assert!(
        w.comment(Platform::TikTok, "7437000000000000001")
            .await
            .is_none()
    );
    // the token from TikTok's own grant (a JSON body), sent as Access-Token
    let grant = &w.api.seen_matching("/token/acme-tiktok")[0];
    let grant: serde_json::Value = serde_json::from_str(&grant.body).unwrap();
    assert_eq!(grant["grant_type"], "refresh_token");
    assert_eq!(grant["refresh_token"], "acme-tiktok-refresh-token");
    for r in w.api.seen_matching("/open_api/v1.3/business/") {
        assert_eq!(r.header("access-token"), Some("act.example0001"));
        assert!(r.uri.contains("business_id=-000OXv3Jb5RkQZ"), "{}", r.uri);
    }

    // An expired token in the envelope (HTTP 200): refreshed once, the page asked again.
    w.api.route(
        "/business/video/list/",
        vec![
            ok(fixture("tiktok/expired.json")),
            ok(fixture("tiktok/videos.json")),
        ],
    );
    // (TikTok is listed every quarter of an hour: at 5 minutes, nothing to read)
    let s = w.polling.run(at(noon(), 300)).await.unwrap();
    assert_eq!(s.report.feeds[0].pages, 0);
    let s = w.polling.run(at(noon(), 900)).await.unwrap();
    assert_eq!(s.report.feeds[0].error, None, "{:?}", s.report.feeds[0]);
    assert_eq!(w.api.seen_matching("/token/acme-tiktok").len(), 2);
}

#[tokio::test]
async fn instagram_mentions_are_read_by_id() {
    let w = world(&["meta"]).await;
    w.api
        .route("/feed?", vec![ok(fixture("facebook/feed.json"))])
        .route("/media?", vec![ok(fixture("instagram/media.json"))])
        .route(
            "fields=mentioned_comment.comment_id(17900000000000001)",
            vec![ok(fixture("instagram/mention-comment.json"))],
        )
        .route(
            "fields=mentioned_media.media_id(18000000000000009)",
            vec![ok(fixture("instagram/mention-media.json"))],
        )
        .route(
            "fields=mentioned_comment.comment_id(17900000000000002)",
            vec![status(
                400,
                r#"{"error":{"message":"Unsupported get request. Object with ID '17900000000000002' does not exist","type":"GraphMethodException","code":100,"error_subcode":33,"fbtrace_id":"A1b2"}}"#,
            )],
        );
    let body = r#"{"object":"instagram","entry":[{"id":"17841400000000001","time":1796125200,"changes":[{"field":"mentions","value":{"media_id":"17895695668004550","comment_id":"17900000000000001"}},{"field":"mentions","value":{"media_id":"18000000000000009"}},{"field":"mentions","value":{"media_id":"17895695668004551","comment_id":"17900000000000002"}},{"field":"mentions","value":{"media_id":"1) {id}","comment_id":"x"}}]}]}"#;
    let got = deliver(&w, Platform::Instagram, META_SECRET, body).await;
    assert_eq!(
        (got.read_later, got.ignored, got.stored),
        (3, 1, 0),
        "{got:?}"
    );

    let s = w.polling.run(noon()).await.unwrap();
    let ig = feed(&s.report, "instagram");
    assert_eq!(ig.error, None, "{ig:?}");
    // the comment mention, the caption mention and the media's own comment; the deleted
    // comment is given up
    assert_eq!((ig.intake.stored, ig.intake.ignored), (3, 1), "{ig:?}");
    let c = w
        .comment(Platform::Instagram, "17900000000000001")
        .await
        .unwrap();
    assert!(c.text.unwrap().as_str().contains("ma commande est bloquée"));
    assert_eq!(c.thread_id, "17895695668004550");
    assert_eq!(c.source.as_deref(), Some("mention"));
    assert_eq!(
        c.permalink.as_deref(),
        Some("https://www.instagram.com/p/CkX46fTsGVE/")
    );
    let post = w
        .comment(Platform::Instagram, "media:18000000000000009")
        .await
        .unwrap();
    assert_eq!(post.author.name.as_deref(), Some("lou.styles"));
    assert_eq!(post.source.as_deref(), Some("caption mention"));
    assert!(
        w.polling
            .store
            .requested_reads("meta/instagram/17841400000000001", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // the next run does not read them again
    let before = w.api.seen_matching("mentioned_").len();
    w.polling.run(at(noon(), 300)).await.unwrap();
    assert_eq!(w.api.seen_matching("mentioned_").len(), before);

    // a mention after the baseline: delivered by its webhook, so not missed by one
    w.api.route(
        "fields=mentioned_comment.comment_id(17900000000000003)",
        vec![ok(r#"{"mentioned_comment":{"timestamp":"2026-12-01T12:08:00+0000","text":"@acme.fr toujours rien reçu…","id":"17900000000000003","media":{"id":"17895695668004552"}},"id":"17841400000000001"}"#.to_owned())],
    );
    let body = r#"{"object":"instagram","entry":[{"id":"17841400000000001","time":1796127000,"changes":[{"field":"mentions","value":{"media_id":"17895695668004552","comment_id":"17900000000000003"}}]}]}"#;
    assert_eq!(
        deliver(&w, Platform::Instagram, META_SECRET, body)
            .await
            .read_later,
        1
    );
    let s = w.polling.run(at(noon(), 600)).await.unwrap();
    let ig = feed(&s.report, "instagram");
    assert_eq!((ig.intake.stored, ig.missed), (1, 0), "{ig:?}");
}

#[tokio::test]
async fn youtube_threads_with_more_replies_than_given_are_read_whole() {
    let w = world(&["acme-youtube"]).await;
    w.api
        .route("/token/acme-youtube", vec![token("ya29.first")])
        .route(
            "/youtube/v3/commentThreads",
            vec![ok(fixture("youtube/threads-busy.json"))],
        )
        .route(
            "/youtube/v3/comments?part=snippet&parentId=UgzT3hread0010",
            vec![ok(fixture("youtube/replies.json"))],
        );
    let s = w.polling.run(noon()).await.unwrap();
    let feed = &s.report.feeds[0];
    assert_eq!(feed.pages, 2, "{feed:?}");
    // the thread, its reply given inline (again in the list: a duplicate), two more
    // replies, one of them the channel's own
    assert_eq!(
        (feed.intake.stored, feed.intake.own, feed.intake.duplicates),
        (3, 1, 1),
        "{feed:?}"
    );
    let r = w
        .comment(Platform::YouTube, "UgzT3hread0010.9xReply0001")
        .await
        .unwrap();
    assert_eq!(r.thread_id, "dQw4w9WgXcQ");
    assert_eq!(r.parent_id.as_deref(), Some("UgzT3hread0010"));
}

#[tokio::test]
async fn pages_past_the_page_limit_are_read_by_the_next_run() {
    let mut w = world(&["acme-youtube"]).await;
    w.polling.settings.max_pages = 1;
    w.api
        .route("/token/acme-youtube", vec![token("ya29.first")])
        .route(
            "/youtube/v3/commentThreads",
            vec![ok(fixture("youtube/threads-1.json"))],
        )
        .route(
            "pageToken=QURTSl9pMlB0ZkVrLXdJ",
            vec![ok(fixture("youtube/threads-2.json"))],
        );
    let s = w.polling.run(noon()).await.unwrap();
    assert_eq!(s.report.feeds[0].pages, 1);
    let state = w.state(YT_FEED).await;
    assert_eq!(state.resume.len(), 1, "{state:?}");
    assert_eq!(state.resume[0].page, "QURTSl9pMlB0ZkVrLXdJ");
    assert!(
        w.comment(Platform::YouTube, "UgzT3hread0004")
            .await
            .is_none()
    );

    // The next run reads the newest page first; the page left over waits for the one after.
    let s = w.polling.run(at(noon(), 300)).await.unwrap();
    assert_eq!(s.report.feeds[0].intake.duplicates, 3);
    assert_eq!(w.state(YT_FEED).await.resume.len(), 1);
    w.polling.settings.max_pages = 2;
    let s = w.polling.run(at(noon(), 600)).await.unwrap();
    assert_eq!(s.report.feeds[0].pages, 2);
    assert!(
        w.comment(Platform::YouTube, "UgzT3hread0004")
            .await
            .is_some(),
        "read back to the cursor it was left for"
    );
    assert!(w.state(YT_FEED).await.resume.is_empty());
}
