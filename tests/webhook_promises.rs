//! The webhook's delivery promises through its HTTP surface: a store failure at any step
//! (raw archive, insert, read) answers 503 and loses nothing, and the platform's
//! redelivery then queues each comment once; raw deliveries are kept 14 days; a platform
//! without secrets is `not_configured`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use sha2::Digest;
use tower::ServiceExt;
use vigie_core::comment::{CommentKey, CommentState, Platform};
use vigie_core::platforms::meta::signature as sign_meta;
use vigie_core::ports::{CommentRead, QueueReceive, RawArchive};
use vigie_core::secrets::Secrets;
use vigie_sqlite::{Database, SqliteQueue, SqliteStore};
use vigie_tests::fakes::{APP_SECRET, FaultyStore, acme, acme_world};
use vigie_webhook::{WebhookState, router};

type State = WebhookState<FaultyStore<SqliteStore>, SqliteQueue>;

struct App {
    state: Arc<State>,
    queue: SqliteQueue,
}

fn app_with(secrets: impl FnOnce(&mut Secrets)) -> App {
    let db = Database::in_memory().unwrap();
    let (brands, mut s) = acme_world("");
    secrets(&mut s);
    let queue = db.queue("classify", 5);
    App {
        state: Arc::new(WebhookState {
            brands: Arc::new(brands),
            secrets: Arc::new(s),
            store: FaultyStore::new(db.store()),
            queue: queue.clone(),
        }),
        queue,
    }
}

fn app() -> App {
    app_with(|_| {})
}

impl App {
    async fn call(&self, req: Request<Body>) -> (StatusCode, serde_json::Value) {
        let res = router(Arc::clone(&self.state)).oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).expect("a JSON body"))
    }

    async fn post(&self, body: &str) -> (StatusCode, serde_json::Value) {
        self.call(
            Request::post("/webhooks/facebook")
                .header("content-type", "application/json")
                .header(
                    "x-hub-signature-256",
                    sign_meta(APP_SECRET, body.as_bytes()),
                )
                .body(Body::from(body.to_owned()))
                .unwrap(),
        )
        .await
    }

    fn store(&self) -> &FaultyStore<SqliteStore> {
        &self.state.store
    }

    async fn state_of(&self, id: &str) -> Option<CommentState> {
        let key = CommentKey::new(acme(), Platform::Facebook, id).unwrap();
        self.store().inner.get(&key).await.unwrap().map(|c| c.state)
    }

    /// The classification requests waiting, by message id.
    async fn queued(&self) -> Vec<String> {
        let got = self.queue.receive(100, 30).await.unwrap();
        for d in &got {
            self.queue.release(&d.receipt, 0).await.unwrap();
        }
        let mut ids: Vec<String> = got.into_iter().map(|d| d.message_id).collect();
        ids.sort();
        ids
    }
}

fn feed(verb: &str, texts: &[(&str, &str)]) -> String {
    let changes: Vec<String> = texts
        .iter()
        .map(|(id, text)| {
            serde_json::json!({"field": "feed", "value": {"from": {"id": "77", "name": "Jeanne"},
                "message": text, "post_id": "1001_5", "comment_id": id, "created_time": 1764086399,
                "item": "comment", "parent_id": "1001_5", "verb": verb}})
            .to_string()
        })
        .collect();
    format!(
        r#"{{"object":"page","entry":[{{"id":"1001","time":1764086400,"changes":[{}]}}]}}"#,
        changes.join(",")
    )
}

fn created() -> String {
    feed(
        "add",
        &[("5_1", "Colis jamais reçu"), ("5_2", "Super accueil")],
    )
}

/// A 503 whose body says nothing of the cause.
fn assert_unavailable((status, body): (StatusCode, serde_json::Value)) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "unavailable");
    let text = body.to_string();
    assert!(
        !text.contains("Exception") && !text.contains("timeout") && !text.contains("unreachable"),
        "no internals in a 5xx body: {body}"
    );
}

const BOTH: [&str; 2] = ["acme/facebook/5_1#v1", "acme/facebook/5_2#v1"];

#[tokio::test]
async fn a_raw_archive_failure_is_a_503_and_the_redelivery_queues_once() {
    let app = app();
    app.store().raw_down.store(true, Ordering::SeqCst);
    assert_unavailable(app.post(&created()).await);
    assert_eq!(app.state_of("5_1").await, None, "nothing parsed unarchived");
    assert!(app.queued().await.is_empty());

    app.store().heal();
    let (status, report) = app.post(&created()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["queued"], 2);
    let (_, report) = app.post(&created()).await;
    assert_eq!(report["queued"], 0);
    assert_eq!(app.queued().await, BOTH);
}

#[tokio::test]
async fn an_insert_failure_is_a_503_and_the_redelivery_queues_once() {
    let app = app();
    app.store().fail_writes_of("5_2");
    assert_unavailable(app.post(&created()).await);
    // 5_1 went in before 5_2 failed: stored, not queued, and not lost.
    assert_eq!(app.state_of("5_1").await, Some(CommentState::Received));
    assert_eq!(app.state_of("5_2").await, None);
    assert!(app.queued().await.is_empty());

    app.store().heal();
    let (status, report) = app.post(&created()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["queued"], 2, "{report}");
    assert_eq!(app.state_of("5_1").await, Some(CommentState::Queued));
    app.post(&created()).await;
    assert_eq!(app.queued().await, BOTH);
}

#[tokio::test]
async fn a_read_failure_is_a_503_and_the_redelivery_queues_once() {
    let app = app();
    app.post(&created()).await;
    let edit = feed("edited", &[("5_1", "Colis jamais reçu, je porte plainte")]);
    let delete = feed("remove", &[("5_2", "")]);
    app.store().reads_down.store(true, Ordering::SeqCst);
    assert_unavailable(app.post(&edit).await);
    assert_unavailable(app.post(&delete).await);
    assert_eq!(app.state_of("5_2").await, Some(CommentState::Queued));

    app.store().heal();
    let (status, report) = app.post(&edit).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["edited"].as_u64(), report["queued"].as_u64()),
        (Some(1), Some(1))
    );
    let (_, report) = app.post(&delete).await;
    assert_eq!(report["deleted"], 1);
    let (_, report) = app.post(&edit).await;
    assert_eq!(report["queued"], 0, "{report}");
    assert_eq!(
        app.queued().await,
        [BOTH[0], "acme/facebook/5_1#v2", BOTH[1]]
    );
    assert_eq!(app.state_of("5_2").await, Some(CommentState::Deleted));
}

#[tokio::test]
async fn raw_deliveries_are_kept_14_days() {
    let app = app();
    let body = created();
    let before = vigie_core::time::Timestamp::now();
    app.post(&body).await;
    let after = vigie_core::time::Timestamp::now();
    let id = hex::encode(sha2::Sha256::digest(body.as_bytes()));
    let raw = app.store().get_raw(&id).await.unwrap().expect("archived");
    assert_eq!(raw.body, body.as_bytes());
    assert!(before <= raw.received_at && raw.received_at <= after);
    assert_eq!(
        raw.expires_at.millis() - raw.received_at.millis(),
        14 * 86_400_000
    );
}

#[tokio::test]
async fn a_platform_without_secrets_is_not_configured() {
    let app = app_with(|s| {
        s.apps.clear();
    });
    let (status, body) = app.post(&created()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "not_configured");
    assert_eq!(app.state_of("5_1").await, None);
    for platform in ["facebook", "instagram"] {
        let (status, body) = app
            .call(
                Request::get(format!(
                    "/webhooks/{platform}?hub.mode=subscribe&hub.verify_token=verify&hub.challenge=1"
                ))
                .body(Body::empty())
                .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"], "not_configured");
    }
    // The generic webhook and TikTok have no handshake.
    for platform in ["generic", "tiktok"] {
        let (status, body) = app
            .call(
                Request::get(format!(
                    "/webhooks/{platform}?hub.mode=subscribe&hub.verify_token=verify"
                ))
                .body(Body::empty())
                .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
        assert_eq!(body["error"], "no_handshake");
    }
}
