//! The notifier against a local chat webhook that fails on purpose.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use vigie_core::comment::BrandId;
use vigie_core::config::Brands;
use vigie_core::escalation::EscalationEvent;
use vigie_core::ports::Delivery;
use vigie_core::secrets::Secrets;
use vigie_notify::{Notifier, NotifyError, RetryPolicy};

const CONFIG: &str = r#"
[[brands]]
id = "acme"
name = "Acme"
[brands.notify]
url = { env = "X" }
format = "teams"

[[brands]]
id = "globex"
name = "Globex"
"#;

/// Answers each POST with the next status of `script` (the last one repeats).
async fn chat(script: Vec<u16>) -> (String, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let app = Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let n = seen.fetch_add(1, Ordering::SeqCst) as usize;
            let status = script[n.min(script.len() - 1)];
            async move {
                assert_eq!(
                    body["attachments"][0]["contentType"],
                    "application/vnd.microsoft.card.adaptive"
                );
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

fn notifier(url: &str) -> Notifier {
    let brands = Brands::parse("brands.toml".as_ref(), CONFIG).unwrap();
    let mut secrets = Secrets::default();
    secrets
        .notify_urls
        .insert(BrandId::parse("acme").unwrap(), url.to_owned());
    Notifier::new(
        brands,
        secrets,
        RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
    )
}

fn event(brand: &str) -> EscalationEvent {
    serde_json::from_value(serde_json::json!({
        "schema": "vigie.escalation.v1", "event_id": "0123456789abcdef0123456789abcdef", "brand": brand,
        "platform": "facebook", "comment_id": "5_1", "comment_version": 1, "thread_id": "1001_5",
        "author": {"id": "77", "name": "Nadia"}, "text": "Le radiateur a pris feu",
        "permalink": "https://www.facebook.com/1001/posts/5",
        "created_at": "2026-11-25T14:00:00Z", "received_at": "2026-11-25T14:00:01Z",
        "sentiment": {"label": "negative", "negative": 0.95, "neutral": 0.04, "positive": 0.01, "model": "m"},
        "urgency": {"score": 100, "escalate": true, "tier": "P1", "respond_within_minutes": 15,
                    "reasons": [{"signal": "safety_risk", "points": 50, "evidence": "\"pris feu\""}]},
        "escalated_at": "2026-11-25T14:00:02Z"
    }))
    .unwrap()
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let (url, calls) = chat(vec![503, 429, 200]).await;
    assert!(notifier(&url).forward(&event("acme")).await.unwrap());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_fails_the_message() {
    let (url, calls) = chat(vec![400]).await;
    let err = notifier(&url).forward(&event("acme")).await.unwrap_err();
    assert!(
        matches!(
            err,
            NotifyError::Rejected {
                status: 400,
                attempts: 1
            }
        ),
        "{err}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_lasting_outage_gives_up_after_the_attempts_and_reports_the_message() {
    let (url, calls) = chat(vec![502]).await;
    let n = notifier(&url);
    let body = serde_json::to_string(&event("acme")).unwrap();
    let deliveries = vec![
        Delivery {
            message_id: "m1".into(),
            receipt: "r1".into(),
            body,
            attributes: vec![],
            receive_count: 1,
        },
        Delivery {
            message_id: "m2".into(),
            receipt: "r2".into(),
            body: "{not an event".into(),
            attributes: vec![],
            receive_count: 1,
        },
    ];
    assert_eq!(n.handle(&deliveries).await, ["m1", "m2"]);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn brands_without_a_target_are_acknowledged_without_a_call() {
    let (url, calls) = chat(vec![200]).await;
    assert!(!notifier(&url).forward(&event("globex")).await.unwrap());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
