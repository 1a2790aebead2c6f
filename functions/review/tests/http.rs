//! The review API through its HTTP surface, fed by the webhook router and the classifier
//! on the embedded store and queues.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use vigie_core::classify::Classifier;
use vigie_core::comment::{BrandId, CommentKey, Platform, Sentiment, SentimentScore};
use vigie_core::config::Brands;
use vigie_core::platforms::meta::signature as sign_meta;
use vigie_core::ports::{CommentRead, QueueReceive, Reading, ScoreError, SentimentScorer};
use vigie_core::secrets::Secrets;
use vigie_core::time::Timestamp;
use vigie_core::urgency::Signal;
use vigie_review::{ReviewState, router};
use vigie_sqlite::{Database, SqliteQueue, SqliteStore};
use vigie_webhook::WebhookState;

const CONFIG: &str = r#"
[meta]
app_secret = { env = "UNUSED_IN_TESTS" }
verify_token = { env = "UNUSED_IN_TESTS" }

[[brands]]
id = "acme"
name = "Acme"
facebook_page_ids = ["1001"]
vip_authors = ["facebook:77"]

[brands.urgency]
escalate_at = 20
"#;

const APP_SECRET: &[u8] = b"app-secret";

/// Says negative to everything, and keeps every text it was asked to read.
#[derive(Default)]
struct RecordingScorer {
    texts: Mutex<Vec<String>>,
}

#[async_trait]
impl SentimentScorer for RecordingScorer {
    async fn score(&self, texts: &[String]) -> Result<Vec<Reading>, ScoreError> {
        self.texts.lock().unwrap().extend(texts.iter().cloned());
        Ok(texts
            .iter()
            .map(|_| Reading {
                embedding: Some(vigie_core::understanding::Embedding::quantize(&[0.6, 0.8])),
                ..Reading::from(SentimentScore {
                    label: Sentiment::Negative,
                    negative: 0.9,
                    neutral: 0.07,
                    positive: 0.03,
                    model: "recording".into(),
                })
            })
            .collect())
    }
}

const HOST: &str = "127.0.0.1:8080";

struct App {
    token: String,
    webhook: axum::Router,
    review: axum::Router,
    store: SqliteStore,
    classify_q: SqliteQueue,
    escalations: SqliteQueue,
    brands: Arc<Brands>,
}

async fn app() -> App {
    use vigie_core::ports::UserStore;
    let db = Database::in_memory().unwrap();
    let mut user = vigie_core::users::User {
        name: vigie_core::users::UserName::parse("camille").unwrap(),
        password_hash: vigie_review::auth::hash_password("correct horse battery staple").unwrap(),
        roles: [(
            BrandId::parse("acme").unwrap(),
            vigie_core::review::Role::Viewer,
        )]
        .into(),
        revision: 1,
        session_epoch: 0,
        tokens: vec![],
    };
    let token = vigie_review::auth::add_token(&mut user, "tests", Timestamp::now()).unwrap();
    db.store().put_user(&user, None).await.unwrap();
    let auth = vigie_review::auth::Auth::new(
        Arc::new(db.store()),
        vigie_review::auth::AuthConfig {
            allowed_hosts: vec![HOST.into()],
            ..vigie_review::auth::AuthConfig::new(vigie_review::auth::SessionKey::generate())
        },
    )
    .unwrap();
    let brands = Arc::new(Brands::parse("brands.toml".as_ref(), CONFIG).unwrap());
    let secrets = Secrets::default().with_app(
        "meta",
        vigie_core::platforms::AppKeys::new(APP_SECRET).with_verify_token("unused"),
    );
    App {
        token: token.expose().to_owned(),
        webhook: vigie_webhook::router(Arc::new(WebhookState {
            brands: Arc::clone(&brands),
            secrets: Arc::new(secrets),
            store: db.store(),
            queue: db.queue("classify", 5),
        })),
        review: router(Arc::new(ReviewState {
            brands: Arc::clone(&brands),
            store: db.store(),
            auth,
            drafts: None,
            embedder: None,
            speller: None,
        })),
        store: db.store(),
        classify_q: db.queue("classify", 5),
        escalations: db.queue("escalations", 5),
        brands,
    }
}

async fn call(router: &axum::Router, req: Request<Body>) -> (StatusCode, Option<String>, Vec<u8>) {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, bytes.to_vec())
}

async fn get_json(app: &App, uri: &str) -> (StatusCode, serde_json::Value) {
    let req = Request::get(uri)
        .header("host", HOST)
        .header("authorization", format!("Bearer {}", app.token))
        .body(Body::empty())
        .unwrap();
    let (status, _, bytes) = call(&app.review, req).await;
    (status, serde_json::from_slice(&bytes).unwrap())
}

const PHOTO_AND_TEXT: &str = r#"{"object":"page","entry":[{"id":"1001","time":1764086400,"changes":[
 {"field":"feed","value":{"from":{"id":"77","name":"Jeanne"},"post":{"id":"1001_5","permalink_url":"https://www.facebook.com/1001/posts/5"},
  "photo":"https://scontent.xx.fbcdn.net/v/t39.1997-6/colis-abime.jpg","post_id":"1001_5","comment_id":"5_60",
  "created_time":1764086399,"item":"comment","parent_id":"1001_5","verb":"add"}},
 {"field":"feed","value":{"from":{"id":"78","name":"Paul"},"message":"Colis jamais reçu","post_id":"1001_5","comment_id":"5_61",
  "created_time":1764086399,"item":"comment","parent_id":"1001_5","verb":"add"}}]}]}"#;

#[tokio::test]
async fn a_photo_comment_is_triaged_without_the_model_and_listed_with_its_photo() {
    let app = app().await;
    let delivery = Request::post("/webhooks/facebook")
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            sign_meta(APP_SECRET, PHOTO_AND_TEXT.as_bytes()),
        )
        .body(Body::from(PHOTO_AND_TEXT))
        .unwrap();
    let (status, _, report) = call(&app.webhook, delivery).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&report)
    );

    let scorer = RecordingScorer::default();
    let classifier = Classifier {
        brands: &app.brands,
        store: &app.store,
        scorer: &scorer,
        escalations: &app.escalations,
        drafts: None,
    };
    let batch = app.classify_q.receive(10, 30).await.unwrap();
    assert_eq!(batch.len(), 2);
    let outcome = classifier.handle(&batch, Timestamp::now()).await;
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(outcome.classified, 2);
    assert_eq!(
        *scorer.texts.lock().unwrap(),
        ["Colis jamais reçu"],
        "the photo is not sent to the model"
    );

    let key = CommentKey::new(BrandId::parse("acme").unwrap(), Platform::Facebook, "5_60").unwrap();
    let triage = app.store.get(&key).await.unwrap().unwrap().triage.unwrap();
    assert_eq!(triage.sentiment, None);
    let signals: Vec<Signal> = triage.urgency.reasons.iter().map(|r| r.signal).collect();
    assert_eq!(signals, [Signal::Vip], "only what is known of the author");
    assert!(triage.urgency.escalate, "a VIP's photo still escalates");

    let (status, open) = get_json(&app, "/api/brands/acme/comments").await;
    assert_eq!(status, StatusCode::OK);
    let photo = open["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["comment"])
        .find(|c| c["key"]["external_id"] == "5_60")
        .expect("the photo comment is listed");
    assert_eq!(photo["attachment"]["kind"], "photo");
    assert_eq!(
        photo["attachment"]["url"],
        "https://scontent.xx.fbcdn.net/v/t39.1997-6/colis-abime.jpg"
    );
    assert!(photo.get("text").is_none(), "{photo}");
    assert!(photo["triage"].get("sentiment").is_none(), "{photo}");
    let (status, one) = get_json(&app, "/api/brands/acme/comments/facebook/5_60").await;
    assert_eq!(status, StatusCode::OK);
    // the same comment, with its drafts (none: nothing was drafted here), its thread, its
    // review (new, without suggestions) and its audit trail (empty)
    let mut alone = one.clone();
    let fields = alone.as_object_mut().unwrap();
    assert_eq!(fields.remove("drafts"), Some(serde_json::Value::Null));
    assert_eq!(
        fields.remove("thread").unwrap().as_array().unwrap().len(),
        2
    );
    assert_eq!(fields.remove("review").unwrap()["status"], "new");
    assert_eq!(fields.remove("audit"), Some(serde_json::json!([])));
    assert_eq!(fields.remove("reply_limit"), Some(serde_json::json!(8000)));
    assert_eq!(&alone, photo);

    // the text comment's embedding is kept for drafting, never shown
    let text_key =
        CommentKey::new(BrandId::parse("acme").unwrap(), Platform::Facebook, "5_61").unwrap();
    let stored = app.store.get(&text_key).await.unwrap().unwrap();
    assert!(stored.triage.unwrap().embedding.is_some());
    let (_, text_one) = get_json(&app, "/api/brands/acme/comments/facebook/5_61").await;
    assert!(text_one["triage"]["urgency"].is_object(), "{text_one}");
    for shown in [open.to_string(), text_one.to_string()] {
        assert!(!shown.contains("embedding"), "{shown}");
    }

    // The escalation event says what the comment is, without inventing a text.
    let events = app.escalations.receive(10, 30).await.unwrap();
    let event: serde_json::Value = events
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.body).unwrap())
        .find(|e| e["comment_id"] == "5_60")
        .expect("the VIP's photo is escalated");
    assert_eq!(event["attachment"]["kind"], "photo");
    assert!(event.get("text").is_none() && event.get("sentiment").is_none());
}

#[tokio::test]
async fn every_error_answer_is_json_with_the_error_shape() {
    let app = app().await;
    let req = |method: &str, uri: &str| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header("host", HOST)
            .header("authorization", format!("Bearer {}", app.token))
            .header("content-type", "application/json")
            .body(Body::from("{\"limit\": 5}"))
            .unwrap()
    };
    let cases = [
        // Wrong paths.
        // `/` is the web page's: it sends to the inbox or the sign-in page
        (
            req("GET", "/nothing-here"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (req("GET", "/api"), StatusCode::NOT_FOUND, "not_found"),
        (
            req("GET", "/api/brands/acme"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            req("GET", "/api/brands/acme/comments/facebook"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            req("GET", "/api/brands/acme/comments/facebook/5_1/replies"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            req("GET", "/api/brands/globex/comments"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            req("GET", "/api/brands/acme/comments/facebook/5_404"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            req("GET", "/api/brands/acme/comments/myspace/5_1"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            req("GET", "/api/brands/%FF/comments"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        // Wrong methods, JSON bodies where none is read.
        (
            req("POST", "/api/brands/acme/comments"),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            req("DELETE", "/api/brands/acme/comments/facebook/5_1"),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            req("PUT", "/api/brands/acme/comments/facebook/5_1"),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        // Bad query strings.
        (
            req("GET", "/api/brands/acme/comments?limit=abc"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            req("GET", "/api/brands/acme/comments?limit=-1"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            req("GET", "/api/brands/acme/comments?limit=1&limit=2"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            req("GET", "/api/brands/acme/comments?limit=0"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            req(
                "GET",
                "/api/brands/acme/comments?limit=99999999999999999999999",
            ),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (req, want_status, want_code) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let (status, content_type, bytes) = call(&app.review, req).await;
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
