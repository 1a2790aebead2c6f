//! The notifier against a local chat webhook that fails on purpose.

use std::sync::{Arc, Mutex};
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

/// What the chat webhook received: one body per POST, in order.
type Received = Arc<Mutex<Vec<Vec<u8>>>>;

/// Answers each POST with the next status of `script` (the last one repeats) and records
/// its body. The tests check the bodies themselves: a panic in the handler would only drop
/// the connection, which the notifier takes for an outage and retries.
async fn chat(script: Vec<u16>) -> (String, Received) {
    let received: Received = Arc::default();
    let seen = Arc::clone(&received);
    let app = Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let n = {
                let mut seen = seen.lock().unwrap();
                seen.push(body.to_vec());
                seen.len() - 1
            };
            let status = script[n.min(script.len() - 1)];
            async move { StatusCode::from_u16(status).unwrap() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// Each POST carried the Teams card of the event; returns how many there were.
fn teams_cards(received: &Received) -> usize {
    let bodies = received.lock().unwrap().clone();
    for body in &bodies {
        let card: serde_json::Value = serde_json::from_slice(body).expect("a JSON body");
        assert_eq!(card["type"], "message", "{card}");
        let attachment = &card["attachments"][0];
        assert_eq!(
            attachment["contentType"], "application/vnd.microsoft.card.adaptive",
            "{card}"
        );
        let content = attachment["content"].to_string();
        assert!(
            content.contains("Le radiateur a pris feu")
                && content.contains("event 0123456789abcdef0123456789abcdef"),
            "the card quotes the comment and names the event: {card}"
        );
    }
    bodies.len()
}

fn notifier(url: &str) -> Notifier<vigie_sqlite::SqliteStore> {
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
        vigie_sqlite::Database::in_memory().unwrap().store(),
    )
}

fn event(brand: &str) -> EscalationEvent {
    serde_json::from_value(serde_json::json!({
        "schema": "vigie.escalation.v2", "event_id": "0123456789abcdef0123456789abcdef", "brand": brand,
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
    let (url, received) = chat(vec![503, 429, 200]).await;
    assert!(notifier(&url).forward(&event("acme")).await.unwrap());
    assert_eq!(teams_cards(&received), 3);
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_fails_the_message() {
    let (url, received) = chat(vec![400]).await;
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
    assert_eq!(teams_cards(&received), 1);
}

#[tokio::test]
async fn a_lasting_outage_gives_up_after_the_attempts_and_reports_the_message() {
    let (url, received) = chat(vec![502]).await;
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
    assert_eq!(teams_cards(&received), 4);
}

#[tokio::test]
async fn brands_without_a_target_are_acknowledged_without_a_call() {
    let (url, received) = chat(vec![200]).await;
    assert!(!notifier(&url).forward(&event("globex")).await.unwrap());
    assert_eq!(teams_cards(&received), 0);
}

#[tokio::test]
async fn every_line_about_a_message_names_its_message_comment_and_brand() {
    let logs = vigie_aws::logs::Capture::default();
    let _capturing = logs.start();
    let (ok, _) = chat(vec![200]).await;
    let (refusing, _) = chat(vec![400]).await;
    let config = CONFIG.replace(
        "name = \"Globex\"",
        "name = \"Globex\"\n[brands.notify]\nurl = { env = \"Y\" }\nformat = \"slack\"",
    );
    let brands = Brands::parse("brands.toml".as_ref(), &config).unwrap();
    let mut secrets = Secrets::default();
    for (brand, url) in [("acme", ok), ("globex", refusing)] {
        secrets
            .notify_urls
            .insert(BrandId::parse(brand).unwrap(), url);
    }
    let n = Notifier::new(
        brands,
        secrets,
        RetryPolicy::default(),
        vigie_sqlite::Database::in_memory().unwrap().store(),
    );
    let mut globex = event("globex");
    (globex.event_id, globex.comment_id) =
        ("fedcba9876543210fedcba9876543210".into(), "6_1".into());
    let mut sqs = aws_lambda_events::event::sqs::SqsEvent::default();
    for (i, body) in [
        serde_json::to_string(&event("acme")).unwrap(),
        serde_json::to_string(&globex).unwrap(),
        "{not an event".into(),
    ]
    .into_iter()
    .enumerate()
    {
        let mut m = aws_lambda_events::event::sqs::SqsMessage::default();
        m.message_id = Some(format!("m{i}"));
        m.receipt_handle = Some(format!("r{i}"));
        m.body = Some(body);
        sqs.records.push(m);
    }

    let r = vigie_notify::handle(&n, sqs).await;
    let failed: Vec<_> = r
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m1", "m2"]);

    let lines = logs.lines();
    vigie_aws::logs::check_batch(
        &lines,
        "notify",
        &[
            ("m0", Some("acme/facebook/5_1")),
            ("m1", Some("globex/facebook/6_1")),
            ("m2", None),
        ],
        &[],
    );
    let ids = |message| vigie_aws::logs::message_ids(&lines, message);
    assert_eq!(ids("notification sent"), ["m0"]);
    assert_eq!(ids("notification failed"), ["m1"]);
    assert_eq!(ids("message failed"), ["m1", "m2"]);
}
