//! The webhook router through its HTTP surface, on the embedded store and queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use vigie_core::comment::{BrandId, CommentKey, CommentState, Platform};
use vigie_core::config::Brands;
use vigie_core::platforms::AppKeys;
use vigie_core::platforms::{generic::signature as sign_generic, meta::signature as sign_meta};
use vigie_core::ports::{
    CommentRead, OutgoingMessage, QueueError, QueueReceive, QueueSend, RawArchive,
};
use vigie_core::secrets::Secrets;
use vigie_core::time::Timestamp;
use vigie_sqlite::{Database, SqliteQueue, SqliteStore};
use vigie_webhook::{WebhookState, router};

const CONFIG: &str = r#"
[meta]
app_secret = { env = "UNUSED_IN_TESTS" }
verify_token = { env = "UNUSED_IN_TESTS" }

[[brands]]
id = "acme"
name = "Acme"
facebook_page_ids = ["1001"]
instagram_account_ids = ["17841400000000001"]
generic_secret = { env = "UNUSED_IN_TESTS" }
"#;

const APP_SECRET: &[u8] = b"app-secret";
const GENERIC_SECRET: &[u8] = b"acme-generic";

fn secrets() -> Secrets {
    let mut s = Secrets::default().with_app(
        "meta",
        AppKeys::new(APP_SECRET).with_verify_token("verify-me"),
    );
    s.generic
        .insert(BrandId::parse("acme").unwrap(), GENERIC_SECRET.to_vec());
    s
}

/// A queue that can be switched to failing, to stand for SQS being down.
#[derive(Clone)]
struct FlakyQueue {
    inner: SqliteQueue,
    down: Arc<AtomicBool>,
}

#[async_trait]
impl QueueSend for FlakyQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<(), QueueError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable(
                "connection refused by 10.0.3.7:443".into(),
            ));
        }
        self.inner.send(messages).await
    }
}

struct App {
    router: axum::Router,
    store: SqliteStore,
    queue: SqliteQueue,
    queue_down: Arc<AtomicBool>,
}

fn app() -> App {
    let db = Database::in_memory().unwrap();
    let queue = db.queue("classify", 5);
    let down = Arc::new(AtomicBool::new(false));
    let state = WebhookState {
        brands: Arc::new(Brands::parse("brands.toml".as_ref(), CONFIG).unwrap()),
        secrets: Arc::new(secrets()),
        store: db.store(),
        queue: FlakyQueue {
            inner: queue.clone(),
            down: Arc::clone(&down),
        },
    };
    App {
        router: router(Arc::new(state)),
        store: db.store(),
        queue,
        queue_down: down,
    }
}

async fn call(app: &App, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, body)
}

fn post(platform: &str, body: &[u8], signature: Option<String>) -> Request<Body> {
    let mut b =
        Request::post(format!("/webhooks/{platform}")).header("content-type", "application/json");
    if let Some(sig) = signature {
        let name = if platform == "generic" {
            "x-vigie-signature"
        } else {
            "x-hub-signature-256"
        };
        b = b.header(name, sig);
    }
    b.body(Body::from(body.to_vec())).unwrap()
}

fn signed(platform: &str, body: &[u8]) -> Request<Body> {
    post(platform, body, Some(sign_meta(APP_SECRET, body)))
}

const FEED: &str = r#"{"object":"page","entry":[{"id":"1001","time":1764086400,"changes":[
 {"field":"feed","value":{"from":{"id":"77","name":"Jeanne"},"message":"Colis jamais reçu \ud83d\ude21","post_id":"1001_5","comment_id":"5_1","created_time":1764086399,"item":"comment","parent_id":"1001_5","verb":"add"}},
 {"field":"feed","value":{"from":{"id":"78","name":"Paul"},"message":"Super accueil en boutique","post_id":"1001_5","comment_id":"5_2","created_time":1764086399,"item":"comment","parent_id":"1001_5","verb":"add"}},
 {"field":"feed","value":{"from":{"id":"1001","name":"Acme"},"message":"Bonjour Jeanne, on regarde !","post_id":"1001_5","comment_id":"5_3","created_time":1764086400,"item":"comment","parent_id":"5_1","verb":"add"}},
 {"field":"feed","value":{"item":"reaction","verb":"add","post_id":"1001_5","reaction_type":"love"}}
]}]}"#;

fn key(id: &str) -> CommentKey {
    CommentKey::new(BrandId::parse("acme").unwrap(), Platform::Facebook, id).unwrap()
}

async fn queued(app: &App) -> usize {
    app.queue.depth().await.unwrap().0
}

#[tokio::test]
async fn meta_handshake_echoes_the_challenge_only_with_the_right_token() {
    let app = app();
    let get = |q: &str| {
        Request::get(format!("/webhooks/facebook?{q}"))
            .body(Body::empty())
            .unwrap()
    };
    let (status, body) = call(
        &app,
        get("hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!(1158201444));
    let (status, body) = call(
        &app,
        get("hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "verification_failed");
    let (status, _) = call(&app, get("hub.verify_token=verify-me&hub.challenge=1")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_signed_delivery_is_stored_and_queued_once() {
    let app = app();
    let (status, report) = call(&app, signed("facebook", FEED.as_bytes())).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["stored"], 2);
    assert_eq!(
        report["own"], 1,
        "the page's own reply is stored, not classified"
    );
    assert_eq!(report["queued"], 2);
    assert_eq!(report["ignored"], 1, "the reaction");
    let c = app.store.get(&key("5_1")).await.unwrap().unwrap();
    assert_eq!(c.text.unwrap().as_str(), "Colis jamais reçu 😡");
    assert_eq!(c.state, CommentState::Queued);
    assert_eq!(
        app.store.get(&key("5_3")).await.unwrap().unwrap().state,
        CommentState::OwnReply
    );
    assert_eq!(queued(&app).await, 2);

    // Meta redelivers the same bytes: 200, nothing new queued.
    let (status, report) = call(&app, signed("facebook", FEED.as_bytes())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["duplicates"], 3);
    assert_eq!(report["queued"], 0);
    assert_eq!(queued(&app).await, 2);
}

#[tokio::test]
async fn a_bad_signature_is_refused_and_nothing_is_kept() {
    let app = app();
    let mut tampered = FEED.as_bytes().to_vec();
    let sig = sign_meta(APP_SECRET, &tampered);
    tampered[20] = b' ';
    for req in [
        post("facebook", &tampered, Some(sig)),
        post("facebook", FEED.as_bytes(), None),
        post("facebook", FEED.as_bytes(), Some("sha256=00".into())),
        post(
            "facebook",
            FEED.as_bytes(),
            Some(sign_meta(b"someone else", FEED.as_bytes())),
        ),
    ] {
        let (status, body) = call(&app, req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"], "invalid_signature");
    }
    assert_eq!(app.store.get(&key("5_1")).await.unwrap(), None);
    for body in [&tampered[..], FEED.as_bytes()] {
        assert_eq!(app.store.get_raw(&archive_id(body)).await.unwrap(), None);
    }
    assert_eq!(queued(&app).await, 0);

    // The same look-up finds the bytes once a delivery of them is authenticated.
    let (status, _) = call(&app, signed("facebook", FEED.as_bytes())).await;
    assert_eq!(status, StatusCode::OK);
    let raw = app
        .store
        .get_raw(&archive_id(FEED.as_bytes()))
        .await
        .unwrap();
    assert_eq!(raw.expect("archived").body, FEED.as_bytes());
}

/// The id under which the webhook archives authenticated bytes.
fn archive_id(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_with_a_json_body() {
    let app = app();
    let (status, body) = call(&app, signed("facebook", b"{not json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "malformed_payload");
    // Authenticated but unreadable bytes are archived, not lost.
    assert!(
        app.store
            .get_raw(&archive_id(b"{not json"))
            .await
            .unwrap()
            .is_some()
    );

    let big = vec![b' '; vigie_webhook::MAX_BODY_BYTES + 1];
    let (status, body) = call(&app, signed("facebook", &big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "body_too_large");

    let req = Request::post("/webhooks/facebook")
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "x-hub-signature-256",
            sign_meta(APP_SECRET, FEED.as_bytes()),
        )
        .body(Body::from(FEED))
        .unwrap();
    let (status, body) = call(&app, req).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["error"], "unsupported_media_type");

    let (status, body) = call(&app, signed("myspace", FEED.as_bytes())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "unknown_platform");
}

#[tokio::test]
async fn edits_requeue_and_deletes_mark_the_comment() {
    let app = app();
    call(&app, signed("facebook", FEED.as_bytes())).await;
    let edit = FEED
        .replace("Colis jamais reçu", "Colis jamais reçu, je porte plainte")
        .replace("\"verb\":\"add\"}}", "\"verb\":\"edited\"}}");
    let (_, report) = call(&app, signed("facebook", edit.as_bytes())).await;
    assert_eq!(report["edited"], 1, "{report}");
    assert_eq!(report["queued"], 1);
    let c = app.store.get(&key("5_1")).await.unwrap().unwrap();
    assert_eq!(c.version, 2);
    assert!(c.text.unwrap().as_str().contains("plainte"));
    assert_eq!(queued(&app).await, 3);

    let delete = r#"{"object":"page","entry":[{"id":"1001","time":1764086500,"changes":[{"field":"feed","value":{"item":"comment","verb":"remove","post_id":"1001_5","comment_id":"5_2","parent_id":"1001_5","from":{"id":"78"}}}]}]}"#;
    let (_, report) = call(&app, signed("facebook", delete.as_bytes())).await;
    assert_eq!(report["deleted"], 1);
    assert_eq!(
        app.store.get(&key("5_2")).await.unwrap().unwrap().state,
        CommentState::Deleted
    );
}

#[tokio::test]
async fn instagram_comments_come_in_and_unknown_accounts_are_ignored() {
    let app = app();
    let body = r#"{"object":"instagram","entry":[
      {"id":"17841400000000001","time":1764086400,"changes":[{"field":"comments","value":{"from":{"id":"2321","username":"lea.b"},"media":{"id":"18000000000000001","media_product_type":"FEED"},"id":"17865799348089039","text":"La robe a déteint 😞"}}]},
      {"id":"99999","time":1764086400,"changes":[{"field":"comments","value":{"from":{"id":"1"},"media":{"id":"2"},"id":"3","text":"not ours"}}]}
    ]}"#;
    let (status, report) = call(&app, signed("instagram", body.as_bytes())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["stored"], 1);
    assert_eq!(report["ignored"], 1);
    let k = CommentKey::new(
        BrandId::parse("acme").unwrap(),
        Platform::Instagram,
        "17865799348089039",
    )
    .unwrap();
    assert_eq!(
        app.store.get(&k).await.unwrap().unwrap().thread_id,
        "18000000000000001"
    );
}

#[tokio::test]
async fn generic_webhook_is_signed_per_brand_with_a_timestamp() {
    let app = app();
    let body = br#"{"source":"trustpilot","events":[{"type":"comment.created","id":"r1","thread_id":"shop","author":{"id":"u1","followers":5000},"text":"Service client injoignable"}]}"#;
    let req = |brand: Option<&str>, sig: String| {
        let mut b = Request::post("/webhooks/generic")
            .header("content-type", "application/json; charset=utf-8")
            .header("x-vigie-signature", sig);
        if let Some(brand) = brand {
            b = b.header("x-vigie-brand", brand);
        }
        b.body(Body::from(body.to_vec())).unwrap()
    };
    let now = Timestamp::now();
    let (status, report) = call(
        &app,
        req(Some("acme"), sign_generic(GENERIC_SECRET, body, now)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["stored"], 1);
    let (status, _) = call(&app, req(Some("acme"), sign_generic(b"wrong", body, now))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        &app,
        req(Some("globex"), sign_generic(GENERIC_SECRET, body, now)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body_json) = call(&app, req(None, sign_generic(GENERIC_SECRET, body, now))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body_json["error"], "missing_brand");
    let stale = now.plus_millis(-10 * 60 * 1000);
    let (status, _) = call(
        &app,
        req(Some("acme"), sign_generic(GENERIC_SECRET, body, stale)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a replayed delivery is refused"
    );
}

#[tokio::test]
async fn a_queue_outage_is_a_503_without_internals_and_the_redelivery_queues_once() {
    let app = app();
    app.queue_down.store(true, Ordering::SeqCst);
    let (status, body) = call(&app, signed("facebook", FEED.as_bytes())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "unavailable");
    assert!(
        !body.to_string().contains("10.0.3.7"),
        "no internals in a 5xx body: {body}"
    );
    // Stored before the queue failed: kept, waiting to be queued.
    assert_eq!(
        app.store.get(&key("5_1")).await.unwrap().unwrap().state,
        CommentState::Received
    );
    assert_eq!(queued(&app).await, 0);

    // Meta retries the delivery once the queue is back.
    app.queue_down.store(false, Ordering::SeqCst);
    let (status, report) = call(&app, signed("facebook", FEED.as_bytes())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["queued"], 2, "{report}");
    assert_eq!(
        app.store.get(&key("5_1")).await.unwrap().unwrap().state,
        CommentState::Queued
    );
    // A third delivery queues nothing more.
    call(&app, signed("facebook", FEED.as_bytes())).await;
    assert_eq!(queued(&app).await, 2);
    let messages = app.queue.receive(10, 30).await.unwrap();
    let mut ids: Vec<String> = messages.iter().map(|m| m.message_id.clone()).collect();
    ids.sort();
    assert_eq!(ids, ["acme/facebook/5_1#v1", "acme/facebook/5_2#v1"]);
}

fn ig_key(id: &str) -> CommentKey {
    CommentKey::new(BrandId::parse("acme").unwrap(), Platform::Instagram, id).unwrap()
}

#[tokio::test]
async fn a_photo_comment_without_text_is_stored_queued_and_keeps_its_photo() {
    let app = app();
    let body = r#"{"object":"page","entry":[{"id":"1001","time":1764086400,"changes":[
      {"field":"feed","value":{"from":{"id":"77","name":"Jeanne"},"post":{"id":"1001_5","permalink_url":"https://www.facebook.com/1001/posts/5"},
       "photo":"https://scontent.xx.fbcdn.net/v/t39.1997-6/colis-abime.jpg","post_id":"1001_5","comment_id":"5_40",
       "created_time":1764086399,"item":"comment","parent_id":"1001_5","verb":"add"}}]}]}"#;
    let (status, report) = call(&app, signed("facebook", body.as_bytes())).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (&report["stored"], &report["queued"], &report["ignored"]),
        (&1.into(), &1.into(), &0.into()),
        "{report}"
    );
    let c = app.store.get(&key("5_40")).await.unwrap().unwrap();
    assert_eq!(c.text, None);
    let a = c.attachment.unwrap();
    assert_eq!(a.kind, vigie_core::comment::AttachmentKind::Photo);
    assert_eq!(
        a.url.as_deref(),
        Some("https://scontent.xx.fbcdn.net/v/t39.1997-6/colis-abime.jpg")
    );
    assert_eq!(c.state, CommentState::Queued);
}

#[tokio::test]
async fn an_instagram_reply_of_the_brand_with_its_scoped_id_is_its_own() {
    let app = app();
    // from.id is the account's IG-scoped id, not the entry's account id.
    let body = r#"{"object":"instagram","entry":[{"id":"17841400000000001","time":1764086400,"changes":[
      {"field":"comments","value":{"from":{"id":"1122334455","username":"acme.officiel","self_ig_scoped_id":"1122334455"},
       "media":{"id":"18000000000000001","media_product_type":"FEED"},"id":"17865799348089050",
       "parent_id":"17865799348089039","text":"Bonjour Léa, nous vous écrivons en privé."}}]}]}"#;
    let (status, report) = call(&app, signed("instagram", body.as_bytes())).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!((&report["own"], &report["stored"]), (&1.into(), &0.into()));
    assert_eq!(report["queued"], 0);
    let c = app
        .store
        .get(&ig_key("17865799348089050"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CommentState::OwnReply);
    assert_eq!(queued(&app).await, 0);
}

#[tokio::test]
async fn a_text_over_64_kib_is_stored_shortened_and_says_so() {
    let app = app();
    let long = format!(
        "Bonjour, {} Je demande le remboursement.",
        "Toujours aucune nouvelle du colis. ".repeat(2500)
    );
    assert!(long.len() > vigie_core::comment::MAX_TEXT_BYTES);
    let body = serde_json::json!({"object": "page", "entry": [{"id": "1001", "time": 1764086400, "changes": [
        {"field": "feed", "value": {"from": {"id": "77"}, "message": long, "post_id": "1001_5", "comment_id": "5_50",
         "item": "comment", "parent_id": "1001_5", "verb": "add"}}]}]})
    .to_string();
    let (status, report) = call(&app, signed("facebook", body.as_bytes())).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["stored"], 1, "{report}");
    assert_eq!(report["queued"], 1);
    let c = app.store.get(&key("5_50")).await.unwrap().unwrap();
    let text = c.text.unwrap();
    assert!(text.as_str().len() <= vigie_core::comment::MAX_TEXT_BYTES);
    assert!(text.as_str().starts_with("Bonjour, Toujours"));
    assert!(text.as_str().ends_with("Je demande le remboursement."));
    assert_eq!(c.truncation.unwrap().original_bytes, long.len());
}

#[tokio::test]
async fn numeric_ids_beyond_u64_stay_two_comments() {
    let app = app();
    // 2^65 + 1 and 2^65 + 2: the same float, two different comments.
    let body = r#"{"object":"page","entry":[{"id":1001,"time":1764086400,"changes":[
      {"field":"feed","value":{"from":{"id":77},"message":"Premier","post_id":36893488147419103232,"comment_id":36893488147419103233,"item":"comment","verb":"add"}},
      {"field":"feed","value":{"from":{"id":78},"message":"Second","post_id":36893488147419103232,"comment_id":36893488147419103234,"item":"comment","verb":"add"}}]}]}"#;
    let (status, report) = call(&app, signed("facebook", body.as_bytes())).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["stored"], 2, "{report}");
    for (id, text) in [
        ("36893488147419103233", "Premier"),
        ("36893488147419103234", "Second"),
    ] {
        let c = app.store.get(&key(id)).await.unwrap().unwrap();
        assert_eq!(c.text.unwrap().as_str(), text);
        assert_eq!(c.thread_id, "36893488147419103232");
    }
}

#[tokio::test]
async fn every_error_answer_is_json_with_the_error_shape() {
    let app = app();
    let feed = FEED.as_bytes();
    let raw = |method: &str, uri: &str, content_type: Option<&str>, body: &[u8]| {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        b.header("x-hub-signature-256", sign_meta(APP_SECRET, body))
            .body(Body::from(body.to_vec()))
            .unwrap()
    };
    let json = Some("application/json");
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        // Wrong paths.
        (
            raw("GET", "/", None, b""),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            raw("POST", "/webhooks", json, feed),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            raw("POST", "/webhooks/facebook/app/extra", json, feed),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            raw("POST", "/webhooks/facebook/nope", json, feed),
            StatusCode::NOT_FOUND,
            "not_configured",
        ),
        (
            raw("GET", "/webhook/facebook", None, b""),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            raw("POST", "/webhooks/myspace", json, feed),
            StatusCode::NOT_FOUND,
            "unknown_platform",
        ),
        (
            raw("POST", "/webhooks/youtube", json, feed),
            StatusCode::NOT_FOUND,
            "no_webhooks",
        ),
        (
            raw("GET", "/webhooks/reddit?hub.challenge=1", None, b""),
            StatusCode::NOT_FOUND,
            "no_webhooks",
        ),
        (
            raw("POST", "/webhooks/%FF", json, feed),
            StatusCode::BAD_REQUEST,
            "bad_path",
        ),
        // Wrong methods.
        (
            raw("PUT", "/webhooks/facebook", json, feed),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            raw("DELETE", "/webhooks/facebook", None, b""),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            raw("PATCH", "/webhooks/generic", json, b"{}"),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        // Bad query strings.
        (
            raw(
                "GET",
                "/webhooks/facebook?hub.mode=subscribe&hub.mode=unsubscribe",
                None,
                b"",
            ),
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            raw(
                "GET",
                "/webhooks/facebook?hub.mode=subscribe&hub.verify_token=nope",
                None,
                b"",
            ),
            StatusCode::FORBIDDEN,
            "verification_failed",
        ),
        // Bad JSON, wrong shapes.
        (
            raw("POST", "/webhooks/facebook", json, b"{\"object\":"),
            StatusCode::BAD_REQUEST,
            "malformed_payload",
        ),
        (
            raw("POST", "/webhooks/facebook", json, b"[1,2]"),
            StatusCode::BAD_REQUEST,
            "malformed_payload",
        ),
        (
            raw("POST", "/webhooks/instagram", json, feed),
            StatusCode::BAD_REQUEST,
            "malformed_payload",
        ),
        (
            raw("POST", "/webhooks/facebook", json, b"\xff\xfe"),
            StatusCode::BAD_REQUEST,
            "malformed_payload",
        ),
        // Wrong content types.
        (
            raw("POST", "/webhooks/facebook", None, feed),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            raw("POST", "/webhooks/facebook", Some("text/plain"), feed),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            raw(
                "POST",
                "/webhooks/facebook",
                Some("application/jsonp"),
                feed,
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
    ];
    for (req, want_status, want_code) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let res = app.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{what}: {status} body is not JSON: {:?}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert_eq!(status, want_status, "{what}: {body}");
        assert_eq!(content_type.as_deref(), Some("application/json"), "{what}");
        assert_eq!(body["error"], want_code, "{what}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {body}"
        );
        assert_eq!(body.as_object().unwrap().len(), 2, "{what}: {body}");
    }
}
