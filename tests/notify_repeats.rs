//! notify drops repeats by `event_id`: identical deliveries at the same moment post one
//! chat message; a failed post is retried, never remembered as delivered; a claim whose
//! holder crashed runs out and the event is posted after all. The concurrent case runs on
//! SQLite only: moto's server does not serialize concurrent conditional writes, which
//! DynamoDB makes atomic (see `concurrent_claims_contract`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use tokio::sync::{Semaphore, mpsc};
use vigie_core::comment::BrandId;
use vigie_core::config::Brands;
use vigie_core::escalation::EscalationEvent;
use vigie_core::ports::{Claim, Delivery, SeenEvents};
use vigie_core::secrets::Secrets;
use vigie_core::time::Timestamp;
use vigie_notify::{Notifier, NotifyError, RetryPolicy};
use vigie_tests::moto::{moto, table};

const CONFIG: &str = r#"
[[brands]]
id = "acme"
name = "Acme"
[brands.notify]
url = { env = "UNUSED" }
format = "slack"
"#;

/// A chat webhook answering each POST with the next status of `script` (the last one
/// repeats), after taking a permit of `gate`; it records the bodies it answered 2xx to.
struct Chat {
    url: String,
    posted: Arc<Mutex<Vec<serde_json::Value>>>,
    calls: Arc<Mutex<u32>>,
    gate: Arc<Semaphore>,
}

async fn chat(script: Vec<u16>, open: bool) -> Chat {
    let posted: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let calls: Arc<Mutex<u32>> = Arc::default();
    let gate = Arc::new(Semaphore::new(if open {
        Semaphore::MAX_PERMITS
    } else {
        0
    }));
    let (p, c, g) = (Arc::clone(&posted), Arc::clone(&calls), Arc::clone(&gate));
    let app = Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let (p, c, g, script) = (
                Arc::clone(&p),
                Arc::clone(&c),
                Arc::clone(&g),
                script.clone(),
            );
            async move {
                let _permit = g.acquire().await.unwrap();
                let n = {
                    let mut calls = c.lock().unwrap();
                    *calls += 1;
                    *calls as usize
                };
                let status = StatusCode::from_u16(script[(n - 1).min(script.len() - 1)]).unwrap();
                if status.is_success() {
                    p.lock().unwrap().push(body);
                }
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Chat {
        url,
        posted,
        calls,
        gate,
    }
}

fn notifier<E: SeenEvents>(url: &str, seen: E) -> Notifier<E> {
    let brands = Brands::parse("brands.toml".as_ref(), CONFIG).unwrap();
    let mut secrets = Secrets::default();
    secrets
        .notify_urls
        .insert(BrandId::parse("acme").unwrap(), url.to_owned());
    let retry = RetryPolicy {
        attempts: 1,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
    };
    Notifier::new(brands, secrets, retry, seen)
}

fn event(event_id: &str) -> EscalationEvent {
    serde_json::from_value(serde_json::json!({
        "schema": "vigie.escalation.v2", "event_id": event_id, "brand": "acme",
        "platform": "facebook", "comment_id": "5_1", "comment_version": 1, "thread_id": "1001_5",
        "author": {"id": "77", "name": "Nadia"}, "text": "Le radiateur a pris feu",
        "created_at": "2026-11-25T14:00:00Z", "received_at": "2026-11-25T14:00:01Z",
        "sentiment": {"label": "negative", "negative": 0.95, "neutral": 0.04, "positive": 0.01, "model": "m"},
        "urgency": {"score": 100, "escalate": true, "tier": "P1", "respond_within_minutes": 15,
                    "reasons": [{"signal": "safety_risk", "points": 50, "evidence": "\"pris feu\""}]},
        "escalated_at": "2026-11-25T14:00:02Z"
    }))
    .unwrap()
}

/// The `receive`-th receive of message `message`, carrying `event`.
fn delivery(message: usize, receive: u32, event: &EscalationEvent) -> Delivery {
    Delivery {
        message_id: format!("m{message}"),
        receipt: format!("m{message}-r{receive}"),
        body: serde_json::to_string(event).unwrap(),
        attributes: vec![],
        receive_count: receive,
    }
}

/// Six messages with one event, handled at the same moment while the chat service holds
/// its first answer: one posts, five find its claim and are retried; once it is posted,
/// their retries are dropped as repeats.
async fn six_identical_deliveries_post_one_message<E: SeenEvents + 'static>(seen: E) {
    let chat = chat(vec![200], false).await;
    let n = Arc::new(notifier(&chat.url, seen));
    let e = event("6a1f0c33d2b54e0f9e7d8c6b5a493827");
    let (done, mut results) = mpsc::unbounded_channel();
    for i in 0..6 {
        let (n, d, done) = (Arc::clone(&n), delivery(i, 1, &e), done.clone());
        tokio::spawn(async move {
            let failed = n.handle(std::slice::from_ref(&d)).await;
            done.send((i, failed)).unwrap();
        });
    }
    let mut retried = Vec::new();
    for _ in 0..5 {
        let (i, failed) = tokio::time::timeout(vigie_tests::wait_limit(), results.recv())
            .await
            .expect("five deliveries return while the first one posts")
            .unwrap();
        assert_eq!(
            failed,
            [format!("m{i}")],
            "held by the first, retried later"
        );
        retried.push(i);
    }
    chat.gate.add_permits(Semaphore::MAX_PERMITS);
    let (_, failed) = tokio::time::timeout(vigie_tests::wait_limit(), results.recv())
        .await
        .expect("the first delivery completes")
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    for i in retried {
        assert!(n.handle(&[delivery(i, 2, &e)]).await.is_empty(), "dropped");
    }
    assert_eq!(chat.posted.lock().unwrap().len(), 1);
    assert_eq!(*chat.calls.lock().unwrap(), 1);
}

/// A post the chat service refuses is not remembered: the retry posts it.
async fn a_failed_post_is_retried_not_remembered<E: SeenEvents>(seen: E) {
    let chat = chat(vec![400, 200], true).await;
    let n = notifier(&chat.url, seen);
    let e = event("0b9e1f7a6c5d4e3f2a1b0c9d8e7f6a5b");
    assert_eq!(n.handle(&[delivery(1, 1, &e)]).await, ["m1"]);
    assert!(n.handle(&[delivery(1, 2, &e)]).await.is_empty());
    assert!(n.handle(&[delivery(2, 1, &e)]).await.is_empty(), "a repeat");
    assert_eq!(*chat.calls.lock().unwrap(), 2);
    assert_eq!(chat.posted.lock().unwrap().len(), 1);
}

/// A worker claimed the event and died before posting: the event waits for its claim to
/// run out, then is posted once.
async fn a_crashed_holder_delays_the_event_but_never_loses_it<E: SeenEvents>(seen: E) {
    let chat = chat(vec![200], true).await;
    let n = notifier(&chat.url, seen);
    let e = event("7c6b5a4938271605f4e3d2c1b0a99887");
    let now = Timestamp::now();
    let lease = n.retry.longest_delivery().as_millis() as i64;
    assert_eq!(
        n.seen
            .claim(&e.event_id, "crashed", now, now.plus_millis(lease))
            .await
            .unwrap(),
        Claim::Claimed
    );
    assert!(matches!(
        n.deliver_once(&e, "m1-r1", now.plus_millis(1_000)).await,
        Err(NotifyError::Held)
    ));
    assert_eq!(*chat.calls.lock().unwrap(), 0);
    let later = now.plus_millis(lease + 1_000);
    assert!(n.deliver_once(&e, "m1-r2", later).await.unwrap());
    assert!(
        !n.deliver_once(&e, "m1-r3", later).await.unwrap(),
        "a repeat"
    );
    assert_eq!(chat.posted.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_six_identical_deliveries_post_one_chat_message() {
    let db = vigie_sqlite::Database::in_memory().unwrap();
    six_identical_deliveries_post_one_message(db.store()).await;
}

#[tokio::test]
async fn sqlite_a_failed_post_is_retried_not_remembered() {
    let db = vigie_sqlite::Database::in_memory().unwrap();
    a_failed_post_is_retried_not_remembered(db.store()).await;
}

#[tokio::test]
async fn dynamodb_a_failed_post_is_retried_not_remembered() {
    let Some(moto) = moto() else { return };
    a_failed_post_is_retried_not_remembered(table(&moto.sdk_config().await).await).await;
}

#[tokio::test]
async fn sqlite_a_crashed_holder_delays_the_event_but_never_loses_it() {
    let db = vigie_sqlite::Database::in_memory().unwrap();
    a_crashed_holder_delays_the_event_but_never_loses_it(db.store()).await;
}

#[tokio::test]
async fn dynamodb_a_crashed_holder_delays_the_event_but_never_loses_it() {
    let Some(moto) = moto() else { return };
    a_crashed_holder_delays_the_event_but_never_loses_it(table(&moto.sdk_config().await).await)
        .await;
}
