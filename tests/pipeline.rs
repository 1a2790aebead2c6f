//! Intake and classification on the embedded adapters with a keyword scorer: delivery
//! guarantees, idempotency, partial failures, and faults at every step.

use std::sync::atomic::Ordering;

use vigie_core::classify::Classifier;
use vigie_core::comment::{CommentKey, CommentState, Platform};
use vigie_core::config::Brands;
use vigie_core::escalation::EscalationEvent;
use vigie_core::intake::{Intake, IntakeError, WebhookRequest, requeue_pending};
use vigie_core::ports::{CommentRead, CommentWrite, Delivery, QueueReceive, QueueSend};
use vigie_core::secrets::Secrets;
use vigie_core::signature::sign_meta;
use vigie_core::time::Timestamp;
use vigie_core::urgency::Signal;
use vigie_sqlite::{Database, SqliteQueue, SqliteStore};
use vigie_tests::fakes::{APP_SECRET, FaultyStore, KeywordScorer, SwitchQueue, acme, acme_world};

fn feed(comments: &[(&str, &str, &str)]) -> String {
    let changes: Vec<String> = comments
        .iter()
        .map(|(id, author, text)| {
            serde_json::json!({"field": "feed", "value": {"from": {"id": author, "name": author}, "message": text,
                "post_id": "1001_9", "comment_id": id, "created_time": 1764086400, "item": "comment",
                "parent_id": "1001_9", "verb": "add"}})
            .to_string()
        })
        .collect();
    format!(
        r#"{{"object":"page","entry":[{{"id":"1001","time":1764086400,"changes":[{}]}}]}}"#,
        changes.join(",")
    )
}

struct World {
    brands: Brands,
    secrets: Secrets,
    store: FaultyStore<SqliteStore>,
    intake_q: SqliteQueue,
    escalations: SwitchQueue<SqliteQueue>,
    escalation_q: SqliteQueue,
    scorer: KeywordScorer,
}

fn world() -> World {
    let db = Database::in_memory().unwrap();
    let (brands, secrets) = acme_world("");
    World {
        brands,
        secrets,
        store: FaultyStore::new(db.store()),
        intake_q: db.queue("classify", 3),
        escalations: SwitchQueue::new(db.queue("escalations", 3)),
        escalation_q: db.queue("escalations", 3),
        scorer: KeywordScorer::default(),
    }
}

impl World {
    async fn deliver(&self, body: &str) -> Result<vigie_core::intake::IntakeReport, IntakeError> {
        Intake {
            brands: &self.brands,
            secrets: &self.secrets,
            store: &self.store,
            queue: &self.intake_q,
        }
        .receive(
            WebhookRequest {
                platform: Platform::Facebook,
                signature: Some(&sign_meta(APP_SECRET, body.as_bytes())),
                brand: None,
                body: body.as_bytes(),
            },
            Timestamp::now(),
        )
        .await
    }

    fn classifier(
        &self,
    ) -> Classifier<'_, FaultyStore<SqliteStore>, KeywordScorer, SwitchQueue<SqliteQueue>> {
        Classifier {
            brands: &self.brands,
            store: &self.store,
            scorer: &self.scorer,
            escalations: &self.escalations,
        }
    }

    /// One worker round: receive, classify, ack what succeeded, release the rest at once.
    async fn round(&self) -> vigie_core::classify::BatchOutcome {
        let batch = self.intake_q.receive(32, 30).await.unwrap();
        let outcome = self.classifier().handle(&batch, Timestamp::now()).await;
        settle(&self.intake_q, &batch, &outcome.failed).await;
        outcome
    }

    async fn escalation_events(&self) -> Vec<EscalationEvent> {
        let got = self.escalation_q.receive(100, 30).await.unwrap();
        for d in &got {
            self.escalation_q.release(&d.receipt, 0).await.unwrap();
        }
        got.iter()
            .map(|d| serde_json::from_str(&d.body).unwrap())
            .collect()
    }

    async fn comment(&self, id: &str) -> vigie_core::Comment {
        self.store
            .get(&CommentKey::new(acme(), Platform::Facebook, id).unwrap())
            .await
            .unwrap()
            .unwrap()
    }
}

async fn settle(q: &SqliteQueue, batch: &[Delivery], failed: &[String]) {
    let done: Vec<String> = batch
        .iter()
        .filter(|d| !failed.contains(&d.message_id))
        .map(|d| d.receipt.clone())
        .collect();
    q.ack(&done).await.unwrap();
    for d in batch.iter().filter(|d| failed.contains(&d.message_id)) {
        q.release(&d.receipt, 0).await.unwrap();
    }
}

const ANGRY: &str = "Colis jamais reçu, inadmissible, je porte plainte auprès de mon avocat";

#[tokio::test]
async fn urgent_comments_are_triaged_and_escalated_once() {
    let w = world();
    w.deliver(&feed(&[
        ("c1", "77", ANGRY),
        ("c2", "78", "Merci pour le super accueil"),
        ("c3", "79", "Ouvert dimanche ?"),
    ]))
    .await
    .unwrap();
    let outcome = w.round().await;
    assert_eq!(outcome.classified, 3);
    assert_eq!(outcome.escalated, 1);
    assert!(outcome.failed.is_empty());
    let c1 = w.comment("c1").await;
    assert_eq!(c1.state, CommentState::Triaged);
    let t = c1.triage.as_ref().unwrap();
    assert!(t.urgency.escalate);
    assert!(
        t.urgency
            .reasons
            .iter()
            .any(|r| r.signal == Signal::LegalThreat)
    );
    assert_eq!(c1.escalated_version, Some(1));
    assert!(!w.comment("c2").await.triage.unwrap().urgency.escalate);

    let events = w.escalation_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].schema, "vigie.escalation.v1");
    assert_eq!(events[0].comment_id, "c1");
    assert_eq!(events[0].event_id, vigie_core::escalation::event_id(&c1));

    // The same requests again (a redelivery by the queue): nothing new anywhere.
    let again: Vec<_> = ["c1", "c2", "c3"]
        .iter()
        .map(|id| {
            vigie_core::intake::ClassifyRequest {
                key: CommentKey::new(acme(), Platform::Facebook, *id).unwrap(),
                version: 1,
            }
            .message()
        })
        .collect();
    w.intake_q.send(&again).await.unwrap();
    let calls = w.scorer.calls.load(Ordering::SeqCst);
    let outcome = w.round().await;
    assert_eq!(
        (outcome.classified, outcome.escalated, outcome.skipped),
        (0, 0, 3)
    );
    assert_eq!(
        w.scorer.calls.load(Ordering::SeqCst),
        calls,
        "no model call for work already done"
    );
    assert_eq!(w.escalation_events().await.len(), 1);
}

#[tokio::test]
async fn a_poison_message_fails_alone_and_ends_in_the_dead_letter_queue() {
    let w = world();
    w.deliver(&feed(&[("c1", "77", ANGRY)])).await.unwrap();
    w.intake_q
        .send(&[vigie_core::ports::OutgoingMessage {
            id: "poison".into(),
            body: "{\"key\": \"not a comment key\"".into(),
            attributes: vec![],
        }])
        .await
        .unwrap();
    let outcome = w.round().await;
    assert_eq!(outcome.failed.len(), 1, "only the poison message fails");
    assert_eq!(outcome.classified, 1);
    // Retried until its receives run out, then dead-lettered; never lost.
    for _ in 0..3 {
        w.round().await;
    }
    let (waiting, dead) = w.intake_q.depth().await.unwrap();
    assert_eq!((waiting, dead), (0, 1));
    let dlq = w.intake_q.dead_letters().receive(10, 30).await.unwrap();
    assert!(dlq[0].body.contains("not a comment key"));
}

#[tokio::test]
async fn a_store_failure_mid_batch_retries_that_comment_only() {
    let w = world();
    w.deliver(&feed(&[
        ("c1", "77", ANGRY),
        ("c2", "78", "Super, merci"),
        ("c3", "79", "Toujours jamais livré, je porte plainte"),
    ]))
    .await
    .unwrap();
    w.store.fail_writes_of("c3");
    let outcome = w.round().await;
    assert_eq!(outcome.classified, 2);
    assert_eq!(outcome.failed.len(), 1);
    assert_eq!(
        w.comment("c3").await.state,
        CommentState::Queued,
        "its triage was not written"
    );
    w.store.heal();
    let outcome = w.round().await;
    assert_eq!(outcome.classified, 1);
    assert!(outcome.failed.is_empty());
    assert_eq!(w.comment("c3").await.state, CommentState::Triaged);
    // Exactly one escalation per urgent comment, despite the retry.
    let mut ids: Vec<String> = w
        .escalation_events()
        .await
        .into_iter()
        .map(|e| e.comment_id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["c1", "c3"]);
}

#[tokio::test]
async fn a_model_failure_retries_the_batch_and_loses_nothing() {
    let w = world();
    w.deliver(&feed(&[("c1", "77", ANGRY), ("c2", "78", "Merci")]))
        .await
        .unwrap();
    w.scorer.down.store(true, Ordering::SeqCst);
    let outcome = w.round().await;
    assert_eq!(outcome.failed.len(), 2);
    w.scorer.down.store(false, Ordering::SeqCst);
    let outcome = w.round().await;
    assert_eq!(outcome.classified, 2);
    assert_eq!(w.escalation_events().await.len(), 1);
}

#[tokio::test]
async fn an_escalation_queue_outage_resends_the_event_later_once() {
    let w = world();
    w.deliver(&feed(&[("c1", "77", ANGRY)])).await.unwrap();
    w.escalations.down.store(true, Ordering::SeqCst);
    let outcome = w.round().await;
    assert_eq!(outcome.failed.len(), 1, "the message is retried");
    let c1 = w.comment("c1").await;
    assert!(c1.triage.is_some(), "the triage is kept");
    assert_eq!(c1.escalated_version, None);
    w.escalations.down.store(false, Ordering::SeqCst);
    let calls = w.scorer.calls.load(Ordering::SeqCst);
    let outcome = w.round().await;
    assert_eq!(outcome.escalated, 1);
    assert_eq!(
        w.scorer.calls.load(Ordering::SeqCst),
        calls,
        "not scored twice"
    );
    assert_eq!(w.escalation_events().await.len(), 1);
    assert_eq!(w.comment("c1").await.escalated_version, Some(1));
}

#[tokio::test]
async fn a_crash_between_store_and_queue_is_swept_up() {
    let w = world();
    // The process stored the comment, then died before queueing it; no redelivery came.
    let c = vigie_tests::contract::comment(
        "acme",
        "lost",
        "1001_9",
        ANGRY,
        Timestamp::now().millis() - 120_000,
    );
    w.store.insert_if_new(&c).await.unwrap();
    assert_eq!(w.intake_q.depth().await.unwrap().0, 0);
    let queued = requeue_pending(&w.store, &w.intake_q, Timestamp::now(), 60_000, 100)
        .await
        .unwrap();
    assert_eq!(queued, 1);
    assert_eq!(
        requeue_pending(&w.store, &w.intake_q, Timestamp::now(), 60_000, 100)
            .await
            .unwrap(),
        0
    );
    let outcome = w.round().await;
    assert_eq!(outcome.classified, 1);
    assert_eq!(w.comment("lost").await.state, CommentState::Triaged);
}

#[tokio::test]
async fn an_edit_supersedes_the_queued_version() {
    let w = world();
    w.deliver(&feed(&[("c1", "77", "Ouvert dimanche ?")]))
        .await
        .unwrap();
    let edited = feed(&[("c1", "77", ANGRY)]).replace("\"verb\":\"add\"", "\"verb\":\"edited\"");
    w.deliver(&edited).await.unwrap();
    let outcome = w.round().await;
    assert_eq!(outcome.skipped, 1, "version 1 is stale");
    assert_eq!(outcome.classified, 1);
    let c1 = w.comment("c1").await;
    assert_eq!(c1.version, 2);
    assert_eq!(c1.triage.unwrap().version, 2);
    let events = w.escalation_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].comment_version, 2);
}

#[tokio::test]
async fn repeat_complaints_in_a_thread_raise_urgency() {
    let w = world();
    w.deliver(&feed(&[("c1", "77", "Colis jamais arrivé")]))
        .await
        .unwrap();
    w.round().await;
    w.deliver(&feed(&[("c2", "77", "Toujours jamais arrivé, nul")]))
        .await
        .unwrap();
    w.round().await;
    let reasons = w.comment("c2").await.triage.unwrap().urgency.reasons;
    let repeat = reasons
        .iter()
        .find(|r| r.signal == Signal::RepeatComplaint)
        .expect("repeat signal");
    assert!(repeat.evidence.contains("1 earlier"), "{}", repeat.evidence);
}

#[tokio::test]
async fn escalation_events_match_their_json_schema() {
    let w = world();
    w.deliver(&feed(&[("c1", "77", ANGRY)])).await.unwrap();
    w.round().await;
    let event = &w.escalation_events().await[0];
    let schema = vigie_tests::workspace_root().join("schemas/escalation-event.v1.json");
    vigie_tests::assert_matches_json_schema(&schema, &serde_json::to_value(event).unwrap());
}
