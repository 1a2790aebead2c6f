//! Platform apps through the HTTP surface: each platform's subscription check, several
//! apps per platform (an agency's), an app's secret speaking only for its own brands, and
//! signed timestamps checked against the clock.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use vigie_core::comment::{BrandId, CommentKey, Platform};
use vigie_core::config::Brands;
use vigie_core::platforms::{self, AppKeys};
use vigie_core::ports::CommentRead;
use vigie_core::secrets::Secrets;
use vigie_core::time::Timestamp;
use vigie_sqlite::{Database, SqliteStore};
use vigie_webhook::{WebhookState, router};

const CONFIG: &str = r#"
[apps.agency-a]
platform = "meta"
secret = { env = "UNUSED_IN_TESTS" }
verify_token = { env = "UNUSED_IN_TESTS" }

[apps.agency-b]
platform = "meta"
secret = { env = "UNUSED_IN_TESTS" }
verify_token = { env = "UNUSED_IN_TESTS" }

[apps.x-one]
platform = "x"
secret = { env = "UNUSED_IN_TESTS" }

[apps.x-two]
platform = "x"
secret = { env = "UNUSED_IN_TESTS" }

[apps.linkedin]
platform = "linkedin"
secret = { env = "UNUSED_IN_TESTS" }

[apps.tiktok]
platform = "tiktok"
secret = { env = "UNUSED_IN_TESTS" }

[[brands]]
id = "acme"
name = "Acme"
facebook_page_ids = ["1001"]
accounts = { x = ["2244994945"], linkedin = ["2414183"], tiktok = ["-000OXv3Jb5RkQZ"] }
apps = ["agency-a", "x-one"]

[[brands]]
id = "globex"
name = "Globex"
facebook_page_ids = ["2002"]
accounts = { x = ["3355005056"] }
apps = ["agency-b", "x-two"]
"#;

struct App {
    router: axum::Router,
    store: SqliteStore,
}

fn keys(secret: &str) -> AppKeys {
    AppKeys::new(secret.as_bytes().to_vec())
}

fn app() -> App {
    let db = Database::in_memory().unwrap();
    let secrets = Secrets::default()
        .with_app("agency-a", keys("secret-a").with_verify_token("token-a"))
        .with_app("agency-b", keys("secret-b").with_verify_token("token-b"))
        .with_app("x-one", keys("x-test-consumer-secret"))
        .with_app("x-two", keys("x-second-consumer-secret"))
        .with_app("linkedin", keys("linkedin-test-client-secret"))
        .with_app("tiktok", keys("tiktok-test-client-secret"));
    let state = WebhookState {
        brands: Arc::new(Brands::parse("brands.toml".as_ref(), CONFIG).unwrap()),
        secrets: Arc::new(secrets),
        store: db.store(),
        queue: db.queue("classify", 5),
    };
    App {
        router: router(Arc::new(state)),
        store: db.store(),
    }
}

async fn call(app: &App, req: Request<Body>) -> (StatusCode, String, String) {
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, String::from_utf8_lossy(&bytes).into())
}

async fn get(app: &App, uri: &str) -> (StatusCode, String, String) {
    call(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(
    app: &App,
    uri: &str,
    headers: &[(&'static str, String)],
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let mut b = Request::post(uri).header("content-type", "application/json");
    for (n, v) in headers {
        b = b.header(*n, v);
    }
    let (status, _, text) = call(app, b.body(Body::from(body.to_owned())).unwrap()).await;
    (status, serde_json::from_str(&text).unwrap())
}

fn sign(
    platform: Platform,
    secret: &str,
    body: &str,
    at: Timestamp,
) -> Vec<(&'static str, String)> {
    platforms::source(platform).sign(&keys(secret), body.as_bytes(), at)
}

async fn stored(app: &App, brand: &str, platform: Platform, id: &str) -> bool {
    let key = CommentKey::new(BrandId::parse(brand).unwrap(), platform, id).unwrap();
    app.store.get(&key).await.unwrap().is_some()
}

#[tokio::test]
async fn x_crc_names_its_app_when_there_are_several() {
    let app = app();
    // Expected values computed apart, with Python's hmac and base64 modules.
    let token = "9b4507b3-9040-4669-9ec4-7d2a3b2d8c3e";
    let (status, content_type, body) =
        get(&app, &format!("/webhooks/x/x-one?crc_token={token}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "application/json");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["response_token"],
        "sha256=1TowFw+5qJ4X2hhpq4wcWKvfr/RQx3w9BolZ5ZuDcZo="
    );
    let (_, _, body) = get(&app, &format!("/webhooks/x/x-two?crc_token={token}")).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["response_token"],
        "sha256=QDKcH0hYbp5qrEx+D1qpmuGYJ+lZHsbHynMb7T4itKs="
    );
    let (status, _, body) = get(&app, &format!("/webhooks/x?crc_token={token}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("/webhooks/x/<app>"), "{body}");
    let (status, _, body) = get(&app, "/webhooks/x/x-one").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("crc_token"), "{body}");
    let (status, _, body) = get(&app, &format!("/webhooks/x/nope?crc_token={token}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // An app of another platform is not an X app.
    let (status, _, _) = get(&app, &format!("/webhooks/x/linkedin?crc_token={token}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn linkedin_challenge_answers_the_code_and_its_hmac() {
    let app = app();
    let (status, content_type, body) = get(
        &app,
        "/webhooks/linkedin?challengeCode=890e4665-4dfe-4ab1-b689-ed553bceeed0",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "application/json");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["challengeCode"], "890e4665-4dfe-4ab1-b689-ed553bceeed0");
    assert_eq!(
        v["challengeResponse"],
        "af1e6bba74c4504b06262fdf4d066b0e34b3bdbe38e24e198f3fe1efca8a96d4"
    );
}

#[tokio::test]
async fn meta_apps_each_answer_their_own_token() {
    let app = app();
    for (token, challenge) in [("token-a", "1158201444"), ("token-b", "2158201444")] {
        let (status, content_type, body) = get(
            &app,
            &format!(
                "/webhooks/facebook?hub.mode=subscribe&hub.verify_token={token}&hub.challenge={challenge}"
            ),
        )
        .await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, challenge));
        assert!(content_type.starts_with("text/plain"), "{content_type}");
    }
    let (status, _, _) = get(
        &app,
        "/webhooks/facebook?hub.mode=subscribe&hub.verify_token=token-c&hub.challenge=1",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

fn feed(page: &str, comment: &str) -> String {
    format!(
        r#"{{"object":"page","entry":[{{"id":"{page}","time":1764086400,"changes":[{{"field":"feed","value":{{"from":{{"id":"77","name":"Jeanne"}},"message":"Toujours rien reçu","post_id":"{page}_5","comment_id":"{comment}","created_time":1764086399,"item":"comment","verb":"add"}}}}]}}]}}"#
    )
}

#[tokio::test]
async fn an_apps_secret_speaks_only_for_its_own_brands() {
    let app = app();
    let now = Timestamp::now();
    // Agency B's secret, Acme's page (an agency-a brand): authenticated, not Acme's to write.
    let body = feed("1001", "5_1");
    let (status, report) = post(
        &app,
        "/webhooks/facebook",
        &sign(Platform::Facebook, "secret-b", &body, now),
        &body,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["stored"].as_u64(), report["ignored"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(!stored(&app, "acme", Platform::Facebook, "5_1").await);
    // Its own app's secret: stored.
    let (status, report) = post(
        &app,
        "/webhooks/facebook",
        &sign(Platform::Facebook, "secret-a", &body, now),
        &body,
    )
    .await;
    assert_eq!(
        (status, report["stored"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    assert!(stored(&app, "acme", Platform::Facebook, "5_1").await);
    // Globex's page with agency B's secret.
    let body = feed("2002", "6_1");
    let (_, report) = post(
        &app,
        "/webhooks/facebook",
        &sign(Platform::Facebook, "secret-b", &body, now),
        &body,
    )
    .await;
    assert_eq!(report["stored"].as_u64(), Some(1));
    assert!(stored(&app, "globex", Platform::Facebook, "6_1").await);
    // A secret of no app: refused, nothing kept.
    let body = feed("2002", "6_2");
    let (status, _) = post(
        &app,
        "/webhooks/facebook",
        &sign(Platform::Facebook, "secret-c", &body, now),
        &body,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!stored(&app, "globex", Platform::Facebook, "6_2").await);
}

#[tokio::test]
async fn x_deliveries_by_app_path_or_by_trying_each_app() {
    let app = app();
    let now = Timestamp::now();
    let body = r#"{"for_user_id":"3355005056","tweet_create_events":[{"id_str":"1993000000000000010","text":"@globex toujours en panne","user":{"id_str":"90","screen_name":"sam"},"timestamp_ms":"1764086400000"}]}"#;
    let signed = sign(Platform::X, "x-second-consumer-secret", body, now);
    let (status, report) = post(&app, "/webhooks/x/x-two", &signed, body).await;
    assert_eq!(
        (status, report["stored"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{report}"
    );
    // The path names x-one: x-two's signature does not hold there.
    let (status, _) = post(&app, "/webhooks/x/x-one", &signed, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // No app named: each X app is tried; a redelivery is a duplicate.
    let (status, report) = post(&app, "/webhooks/x", &signed, body).await;
    assert_eq!(
        (status, report["duplicates"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    assert!(stored(&app, "globex", Platform::X, "1993000000000000010").await);
}

#[tokio::test]
async fn tiktok_signatures_hold_for_the_tolerance_only() {
    let app = app();
    let body = serde_json::json!({
        "client_key": "awtesttiktokkey", "event": "comment.update", "create_time": 1764086400,
        "user_openid": "-000OXv3Jb5RkQZ",
        "content": r#"{"comment_id":7576000000000000009,"video_id":7575000000000000001,"parent_comment_id":0,"comment_action":"insert","unique_identifier":"lea","text":"Où trouver la taille 38 ?","create_time":1764086399,"owner":false}"#,
    })
    .to_string();
    let old = Timestamp::now().plus_millis(-301_000);
    let (status, _) = post(
        &app,
        "/webhooks/tiktok",
        &sign(Platform::TikTok, "tiktok-test-client-secret", &body, old),
        &body,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!stored(&app, "acme", Platform::TikTok, "7576000000000000009").await);
    let fresh = Timestamp::now();
    let (status, report) = post(
        &app,
        "/webhooks/tiktok",
        &sign(Platform::TikTok, "tiktok-test-client-secret", &body, fresh),
        &body,
    )
    .await;
    assert_eq!(
        (status, report["stored"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{report}"
    );
    // Malformed content is a clear 400, after the bytes were authenticated and kept.
    // (a comment id that is neither a string nor an integer)
    let bad = body.replace("7576000000000000009", "1.5");
    let (status, report) = post(
        &app,
        "/webhooks/tiktok",
        &sign(Platform::TikTok, "tiktok-test-client-secret", &bad, fresh),
        &bad,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{report}");
    assert_eq!(report["error"], "malformed_payload");
}
