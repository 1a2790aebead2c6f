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
use vigie_core::intake::{Intake, WebhookRequest};
use vigie_core::platforms::{self, AppKeys, Inbound};
use vigie_core::poll::{FeedState, PollStore, PullKeys};
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
    body: String,
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

[[brands]]
id = "acme"
name = "Acme"
facebook_page_ids = ["100000000000001"]
instagram_account_ids = ["17841400000000001"]
accounts = { youtube = ["UCacmeAcmeAcmeAcmeAcme00"], reddit = ["r/acme"], google = ["accounts/106324156478320432151/locations/5874012345678901234"] }
"#;

/// Meta's app secret in these tests (the webhook that gap repair backs up).
const META_SECRET: &[u8] = b"meta-app-secret";

struct World {
    api: Api,
    polling: Polling<SqliteStore, SqliteQueue, ReqwestClient>,
    queue: SqliteQueue,
}

/// Noon on 2026-12-01, the fixtures' day.
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
    let mut secrets =
        Secrets::default().with_app("meta", AppKeys::new(META_SECRET).with_verify_token("t"));
    for app in only {
        let keys = PullKeys {
            client_id: Some(format!("{app}-client")),
            client_secret: Some(format!("{app}-client-secret")),
            refresh_token: (*app != "meta").then(|| format!("{app}-refresh-token")),
            access_token: (*app == "meta").then(|| "EAAsystemusertoken".to_owned()),
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
    let by = |name: &str| {
        s.report
            .feeds
            .iter()
            .find(|f| f.feed.contains(name))
            .unwrap()
            .clone()
    };
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

fn meta_delivery(body: &str) -> Vec<(&'static str, String)> {
    platforms::source(Platform::Facebook).sign(&AppKeys::new(META_SECRET), body.as_bytes(), noon())
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
    let ig = s
        .report
        .feeds
        .iter()
        .find(|f| f.feed.contains("instagram"))
        .unwrap();
    assert_eq!(
        (ig.intake.stored, ig.intake.own, ig.missed),
        (1, 1, 0),
        "{ig:?}"
    );

    // The webhook delivers comment 7001; 7003's delivery is lost.
    let body = r#"{"object":"page","entry":[{"id":"100000000000001","time":1796119200,"changes":[{"field":"feed","value":{"from":{"id":"6100000000001","name":"In\u00e8s Laurent"},"post_id":"100000000000001_5001","comment_id":"5001_7001","created_time":1796119200,"item":"comment","parent_id":"100000000000001_5001","verb":"add","message":"Colis perdu depuis 10 jours, n\u00b0 48213"}}]}]}"#;
    let headers = meta_delivery(body);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let intake = Intake {
        brands: &w.polling.brands,
        secrets: &w.polling.secrets,
        store: &w.polling.store,
        queue: &w.polling.queue,
    };
    let delivered = intake
        .receive(
            WebhookRequest {
                platform: Platform::Facebook,
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
        .unwrap();
    assert_eq!(delivered.stored, 1);

    let s = w.polling.run(at(noon(), 600)).await.unwrap();
    let fb = s
        .report
        .feeds
        .iter()
        .find(|f| f.feed.contains("facebook"))
        .unwrap();
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
        assert_eq!(
            r.authorization.as_deref(),
            Some("Bearer EAAsystemusertoken")
        );
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
