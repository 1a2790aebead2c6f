//! Intake and classification on the embedded adapters with a keyword scorer: delivery
//! guarantees, idempotency, partial failures, and faults at every step.

use std::sync::atomic::Ordering;

use vigie_core::classify::Classifier;
use vigie_core::comment::{CommentKey, CommentState, Platform};
use vigie_core::config::Brands;
use vigie_core::escalation::EscalationEvent;
use vigie_core::intake::{Intake, IntakeError, WebhookRequest, requeue_pending};
use vigie_core::platforms::meta::signature as sign_meta;
use vigie_core::ports::{CommentRead, CommentWrite, Delivery, QueueReceive, QueueSend};
use vigie_core::secrets::Secrets;
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
    drafts_q: SqliteQueue,
    /// The drafter's queue as classify sends to it (drafts_q reads the same queue).
    drafts: SwitchQueue<SqliteQueue>,
    scorer: KeywordScorer,
}

fn world() -> World {
    world_with("", |_| {})
}

fn world_with(extra: &str, secrets: impl FnOnce(&mut Secrets)) -> World {
    let db = Database::in_memory().unwrap();
    let (brands, mut secrets_) = acme_world(extra);
    secrets(&mut secrets_);
    let secrets = secrets_;
    World {
        brands,
        secrets,
        store: FaultyStore::new(db.store()),
        intake_q: db.queue("classify", 3),
        escalations: SwitchQueue::new(db.queue("escalations", 3)),
        escalation_q: db.queue("escalations", 3),
        drafts_q: db.queue("drafts", 3),
        drafts: SwitchQueue::new(db.queue("drafts", 3)),
        scorer: KeywordScorer::default(),
    }
}

impl World {
    async fn deliver(&self, body: &str) -> Result<vigie_core::intake::IntakeReport, IntakeError> {
        self.deliver_at(body, Timestamp::now()).await
    }

    async fn deliver_at(
        &self,
        body: &str,
        now: Timestamp,
    ) -> Result<vigie_core::intake::IntakeReport, IntakeError> {
        let signature = sign_meta(APP_SECRET, body.as_bytes());
        self.deliver_signed(Platform::Facebook, &signature, None, body, now)
            .await
    }

    async fn deliver_signed(
        &self,
        platform: Platform,
        signature: &str,
        brand: Option<&str>,
        body: &str,
        now: Timestamp,
    ) -> Result<vigie_core::intake::IntakeReport, IntakeError> {
        use vigie_core::platforms::{Inbound, generic, meta};
        let header = if platform == Platform::Generic {
            generic::SIGNATURE_HEADER
        } else {
            meta::SIGNATURE_HEADER
        };
        let mut headers = vec![(header, signature)];
        headers.extend(brand.map(|b| (generic::BRAND_HEADER, b)));
        Intake {
            brands: &self.brands,
            secrets: &self.secrets,
            store: &self.store,
            queue: &self.intake_q,
        }
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
            now,
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
            drafts: None,
        }
    }

    /// One worker round: receive, classify, ack what succeeded, release the rest at once.
    async fn round(&self) -> vigie_core::classify::BatchOutcome {
        self.round_with(None, 32).await
    }

    /// A round whose triaged comments are sent on to the drafter's queue.
    async fn round_drafting(&self) -> vigie_core::classify::BatchOutcome {
        self.round_with(Some(&self.drafts), 32).await
    }

    /// A round of at most `size` messages.
    async fn round_with_batch(&self, size: usize) -> vigie_core::classify::BatchOutcome {
        self.round_with(None, size).await
    }

    async fn round_with(
        &self,
        drafts: Option<&dyn QueueSend>,
        size: usize,
    ) -> vigie_core::classify::BatchOutcome {
        let batch = self.intake_q.receive(size, 30).await.unwrap();
        let classifier = Classifier {
            drafts,
            ..self.classifier()
        };
        let outcome = classifier.handle(&batch, Timestamp::now()).await;
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
    assert_eq!(events[0].schema, "vigie.escalation.v2");
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
    // c3's event went out before its write failed: the retry repeats it under the same
    // event id (the notifier posts it once); c1's is not repeated.
    let mut events: Vec<(String, String)> = w
        .escalation_events()
        .await
        .into_iter()
        .map(|e| (e.comment_id, e.event_id))
        .collect();
    events.sort();
    let ids: Vec<&str> = events.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(ids, ["c1", "c3", "c3"]);
    assert_eq!(events[1].1, events[2].1, "a repeat, never a new event");
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
async fn deleted_comments_and_own_replies_are_skipped_without_a_model_call() {
    const GENERIC_SECRET: &[u8] = b"acme-generic";
    let w = world_with(
        "instagram_account_ids = [\"17841400000000001\"]\ngeneric_secret = { env = \"UNUSED\" }\n",
        |s| {
            s.generic.insert(acme(), GENERIC_SECRET.to_vec());
        },
    );
    let now = Timestamp::now();
    // Facebook: a customer's comment, queued, then deleted before it is classified.
    w.deliver(&feed(&[("c1", "77", ANGRY)])).await.unwrap();
    let delete = r#"{"object":"page","entry":[{"id":"1001","time":1764086500,"changes":[{"field":"feed","value":{"item":"comment","verb":"remove","post_id":"1001_9","comment_id":"c1","parent_id":"1001_9","from":{"id":"77"}}}]}]}"#;
    assert_eq!(w.deliver(delete).await.unwrap().deleted, 1);
    // Instagram: the brand's own account answers.
    let own_ig = r#"{"object":"instagram","entry":[{"id":"17841400000000001","time":1764086400,"changes":[{"field":"comments","value":{"from":{"id":"17841400000000001","username":"acme"},"media":{"id":"18000000000000001"},"id":"17865799348089040","text":"Nous sommes désolés, jamais plus : écrivez-nous"}}]}]}"#;
    let report = w
        .deliver_signed(
            Platform::Instagram,
            &sign_meta(APP_SECRET, own_ig.as_bytes()),
            None,
            own_ig,
            now,
        )
        .await
        .unwrap();
    assert_eq!((report.own, report.queued), (1, 0));
    // Generic: an answer flagged as the brand's.
    let own_generic = r#"{"source":"trustpilot","events":[{"type":"comment.created","id":"r1","thread_id":"shop","author":{"id":"acme-support","is_brand":true},"text":"Inadmissible retard, nous vous rappelons"}]}"#;
    let report = w
        .deliver_signed(
            Platform::Generic,
            &vigie_core::platforms::generic::signature(GENERIC_SECRET, own_generic.as_bytes(), now),
            Some("acme"),
            own_generic,
            now,
        )
        .await
        .unwrap();
    assert_eq!((report.own, report.queued), (1, 0));
    // Requests for all three reach classify anyway (queued before the delete; sent by
    // hand for the replies, as a redrive from the dead-letter queue would).
    let request = |platform, id: &str| {
        vigie_core::intake::ClassifyRequest {
            key: CommentKey::new(acme(), platform, id).unwrap(),
            version: 1,
        }
        .message()
    };
    w.intake_q
        .send(&[
            request(Platform::Instagram, "17865799348089040"),
            request(Platform::Generic, "r1"),
        ])
        .await
        .unwrap();
    let outcome = w.round().await;
    assert_eq!(
        (outcome.skipped, outcome.classified, outcome.failed.len()),
        (3, 0, 0),
        "{outcome:?}"
    );
    assert_eq!(w.scorer.calls.load(Ordering::SeqCst), 0, "no model call");
    assert_eq!(w.comment("c1").await.state, CommentState::Deleted);
    assert!(w.escalation_events().await.is_empty());
}

#[tokio::test]
async fn an_edit_after_a_delete_changes_nothing() {
    let w = world();
    w.deliver(&feed(&[("c1", "77", "Ouvert dimanche ?")]))
        .await
        .unwrap();
    w.round().await;
    let delete = r#"{"object":"page","entry":[{"id":"1001","time":1764086500,"changes":[{"field":"feed","value":{"item":"comment","verb":"remove","post_id":"1001_9","comment_id":"c1","parent_id":"1001_9","from":{"id":"77"}}}]}]}"#;
    w.deliver(delete).await.unwrap();
    // the delete is passed on (for the drafter): nothing to do without one
    let outcome = w.round().await;
    assert_eq!((outcome.skipped, outcome.classified), (1, 0));
    // The edit was made before the delete, but arrives after it.
    let edited = feed(&[("c1", "77", ANGRY)]).replace("\"verb\":\"add\"", "\"verb\":\"edited\"");
    let report = w.deliver(&edited).await.unwrap();
    assert_eq!((report.edited, report.duplicates, report.queued), (0, 1, 0));
    let c1 = w.comment("c1").await;
    assert_eq!(c1.state, CommentState::Deleted);
    assert_eq!(
        (c1.version, c1.text.as_ref().map(|t| t.as_str())),
        (1, Some("Ouvert dimanche ?"))
    );
    assert_eq!(
        w.intake_q.depth().await.unwrap(),
        (0, 0),
        "nothing to classify"
    );
    assert!(w.escalation_events().await.is_empty());
}

#[tokio::test]
async fn a_delete_after_triage_reaches_the_drafter_and_escalates_nothing() {
    let w = world();
    w.deliver(&feed(&[("c1", "77", ANGRY)])).await.unwrap();
    let outcome = w.round_drafting().await;
    assert_eq!(outcome.classified, 1, "{outcome:?}");
    assert_eq!(w.escalation_events().await.len(), 1);
    let sent = w.drafts_q.receive(10, 30).await.unwrap();
    assert_eq!(sent.len(), 1, "a draft request for the triaged comment");
    w.drafts_q
        .ack(&sent.iter().map(|d| d.receipt.clone()).collect::<Vec<_>>())
        .await
        .unwrap();

    let delete = r#"{"object":"page","entry":[{"id":"1001","time":1764086500,"changes":[{"field":"feed","value":{"item":"comment","verb":"remove","post_id":"1001_9","comment_id":"c1","parent_id":"1001_9","from":{"id":"77"}}}]}]}"#;
    let report = w.deliver(delete).await.unwrap();
    assert_eq!((report.deleted, report.queued), (1, 1));
    assert_eq!(
        w.comment("c1").await.state,
        CommentState::Deleted,
        "stays deleted once queued"
    );
    let calls = w.scorer.calls.load(Ordering::SeqCst);
    let outcome = w.round_drafting().await;
    assert_eq!(
        (outcome.skipped, outcome.failed.len()),
        (1, 0),
        "{outcome:?}"
    );
    assert_eq!(
        w.scorer.calls.load(Ordering::SeqCst),
        calls,
        "no model call"
    );
    let sent = w.drafts_q.receive(10, 30).await.unwrap();
    assert_eq!(
        sent.len(),
        1,
        "the drafter is told, and withdraws the drafts"
    );
    let request: vigie_core::drafting::DraftRequest = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(request.key, w.comment("c1").await.key);
    assert_eq!(
        w.escalation_events().await.len(),
        1,
        "nothing escalated again"
    );
    // deleted before any triage: nothing to withdraw, nothing queued
    w.deliver(&feed(&[("c2", "78", "Ouvert dimanche ?")]))
        .await
        .unwrap();
    let delete2 = delete.replace("\"c1\"", "\"c2\"");
    let report = w.deliver(&delete2).await.unwrap();
    assert_eq!((report.deleted, report.queued), (1, 0));
}

/// One thread: the same customer complains three times (and thanks once in between),
/// another complains once, at the same instant as the last complaint.
const THREAD: [(&str, &str, &str, i64); 5] = [
    ("c1", "77", "Colis jamais arrivé", 0),
    ("c2", "77", "Merci quand même pour la réponse", 1_000),
    ("c3", "77", "Toujours jamais arrivé, nul", 2_000),
    ("c4", "77", "Encore rien, inadmissible", 3_000),
    ("c5", "78", "Pareil, jamais reçu", 3_000),
];

type Verdicts = Vec<(String, u8, Vec<vigie_core::urgency::Reason>)>;

/// The thread delivered in its order, then classified in `order`: one message per
/// batch, or all of them in one batch.
async fn verdicts_in_order(order: &[usize], one_batch: bool) -> Verdicts {
    let w = world();
    let t0 = Timestamp::now().millis() - 60_000;
    for (id, author, text, at) in THREAD {
        w.deliver_at(&feed(&[(id, author, text)]), Timestamp(t0 + at))
            .await
            .unwrap();
    }
    let batch = w.intake_q.receive(32, 30).await.unwrap();
    assert_eq!(batch.len(), THREAD.len());
    let by_id = |id: &str| {
        batch
            .iter()
            .find(|d| d.message_id == format!("acme/facebook/{id}#v1"))
            .cloned()
            .unwrap()
    };
    let ordered: Vec<Delivery> = order.iter().map(|&i| by_id(THREAD[i].0)).collect();
    if one_batch {
        let outcome = w.classifier().handle(&ordered, Timestamp::now()).await;
        assert_eq!(outcome.classified, THREAD.len(), "{outcome:?}");
    } else {
        for d in &ordered {
            let outcome = w
                .classifier()
                .handle(std::slice::from_ref(d), Timestamp::now())
                .await;
            assert_eq!(outcome.classified, 1, "{outcome:?}");
        }
    }
    let mut out = Vec::new();
    for (id, ..) in THREAD {
        let u = w.comment(id).await.triage.unwrap().urgency;
        out.push((id.to_owned(), u.score, u.reasons));
    }
    out
}

#[tokio::test]
async fn a_thread_gets_the_same_verdicts_in_any_classification_order() {
    let reference = verdicts_in_order(&[0, 1, 2, 3, 4], true).await;
    let repeats = |id: &str| {
        reference
            .iter()
            .find(|(c, ..)| c == id)
            .unwrap()
            .2
            .iter()
            .find(|r| r.signal == Signal::RepeatComplaint)
            .map(|r| r.evidence.clone())
    };
    assert_eq!(repeats("c1"), None, "nothing came before");
    assert_eq!(repeats("c2"), None, "thanks are no complaint");
    assert!(repeats("c3").unwrap().starts_with("1 earlier"), "c1 only");
    assert!(repeats("c4").unwrap().starts_with("2 earlier"), "c1 and c3");
    assert_eq!(repeats("c5"), None, "another customer");

    // Shuffled orders in which every repeat comes before what it repeats at least once:
    // the reverse, and orders putting c4 or c3 first or between the others.
    let orders = [
        [0, 1, 2, 3, 4],
        [4, 3, 2, 1, 0],
        [3, 0, 4, 2, 1],
        [2, 4, 1, 3, 0],
        [1, 3, 0, 4, 2],
        [4, 2, 0, 1, 3],
    ];
    for order in &orders {
        assert_eq!(
            verdicts_in_order(order, false).await,
            reference,
            "one at a time in the order {order:?}"
        );
    }
    for order in &orders[1..4] {
        assert_eq!(
            verdicts_in_order(order, true).await,
            reference,
            "one batch in the order {order:?}"
        );
    }
}

/// `event_id` of acme's Facebook comment c1, version 1 and 2, and c3 version 1:
/// the first 16 bytes of sha256("acme/facebook/c1#1") etc., computed outside vigie.
const C1_V1_EVENT: &str = "172a80391fcd5652df5bff13ad380fc6";
const C1_V2_EVENT: &str = "f51ae99f9ae495c82aee4389798cdb51";
const C3_V1_EVENT: &str = "c2c1ed6729773c0768ae9cf2b4dc5946";

#[tokio::test]
async fn a_resend_of_a_version_keeps_its_event_id_and_a_new_version_gets_a_new_one() {
    let w = world();
    w.deliver(&feed(&[("c1", "77", ANGRY)])).await.unwrap();
    w.round().await;
    // The queue redelivers the request after the event was sent but before it was
    // recorded (here: the record is undone).
    let mut c1 = w.comment("c1").await;
    c1.escalated_version = None;
    w.store.update(&c1).await.unwrap();
    w.intake_q
        .send(&[vigie_core::intake::ClassifyRequest {
            key: c1.key.clone(),
            version: 1,
        }
        .message()])
        .await
        .unwrap();
    assert_eq!(w.round().await.escalated, 1);
    let edited = feed(&[(
        "c1",
        "77",
        "Toujours jamais reçu, inadmissible, mon avocat est prévenu",
    )])
    .replace("\"verb\":\"add\"", "\"verb\":\"edited\"");
    w.deliver(&edited).await.unwrap();
    assert_eq!(w.round().await.escalated, 1);
    let events: Vec<(u32, String)> = w
        .escalation_events()
        .await
        .into_iter()
        .map(|e| (e.comment_version, e.event_id))
        .collect();
    assert_eq!(
        events,
        [
            (1, C1_V1_EVENT.to_owned()),
            (1, C1_V1_EVENT.to_owned()),
            (2, C1_V2_EVENT.to_owned())
        ]
    );
}

#[tokio::test]
async fn sent_but_not_recorded_resends_the_same_event_id() {
    let w = world();
    w.deliver(&feed(&[("c1", "77", ANGRY)])).await.unwrap();
    // The event is sent; the one write storing the triage and its escalation fails.
    w.store.fail_writes_of_after("c1", 0);
    let outcome = w.round().await;
    assert_eq!((outcome.classified, outcome.escalated), (0, 0));
    assert_eq!(outcome.failed.len(), 1, "the message is retried");
    let c1 = w.comment("c1").await;
    assert_eq!(c1.state, CommentState::Queued, "nothing half-stored");
    assert_eq!(c1.escalated_version, None);
    w.store.heal();
    let outcome = w.round().await;
    assert_eq!(
        (outcome.classified, outcome.escalated, outcome.failed.len()),
        (1, 1, 0)
    );
    let c1 = w.comment("c1").await;
    assert_eq!(c1.state, CommentState::Triaged);
    assert_eq!(
        c1.escalated_version,
        Some(1),
        "recorded in the triage's write"
    );
    let ids: Vec<String> = w
        .escalation_events()
        .await
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids, [C1_V1_EVENT, C1_V1_EVENT], "a repeat, never a loss");
    assert_eq!(w.round().await, Default::default(), "nothing left to do");
}

#[tokio::test]
async fn a_batch_sends_its_draft_requests_at_once_and_a_refused_one_retries_its_message() {
    let w = world();
    w.deliver(&feed(&[
        ("c1", "77", "Super, merci"),
        ("c2", "78", "Quels horaires ?"),
    ]))
    .await
    .unwrap();
    let c2 = w.comment("c2").await;
    w.drafts
        .refuse(&vigie_core::drafting::DraftRequest::message(&c2).id);
    let outcome = w.round_drafting().await;
    assert_eq!(outcome.classified, 2);
    assert_eq!(outcome.failed, ["acme/facebook/c2#v1"]);
    assert_eq!(
        w.drafts.sends.load(Ordering::SeqCst),
        1,
        "one send for the batch"
    );
    w.drafts.heal();
    let outcome = w.round_drafting().await;
    assert_eq!(
        (outcome.skipped, outcome.failed.len()),
        (1, 0),
        "{outcome:?}"
    );
    let mut sent: Vec<String> = w
        .drafts_q
        .receive(10, 30)
        .await
        .unwrap()
        .iter()
        .map(|d| {
            let r: vigie_core::drafting::DraftRequest = serde_json::from_str(&d.body).unwrap();
            r.key.external_id
        })
        .collect();
    sent.sort();
    assert_eq!(sent, ["c1", "c2"], "each asked for once");
}

#[tokio::test]
async fn a_batch_reads_and_writes_its_comments_side_by_side_with_the_same_verdicts() {
    let w = world();
    let feed_of = |n: usize| -> Vec<(String, String, &str)> {
        (0..n)
            .map(|i| {
                (
                    format!("c{i}"),
                    format!("{}", 70 + i % 3),
                    if i % 2 == 0 { ANGRY } else { "Merci" },
                )
            })
            .collect()
    };
    let comments = feed_of(12);
    let refs: Vec<(&str, &str, &str)> = comments
        .iter()
        .map(|(c, a, t)| (c.as_str(), a.as_str(), *t))
        .collect();
    w.deliver(&feed(&refs)).await.unwrap();
    w.store.latency_ms.store(20, Ordering::SeqCst);
    let outcome = w.round().await;
    assert_eq!((outcome.classified, outcome.failed.len()), (12, 0));
    let most = w.store.most_in_flight.load(Ordering::SeqCst);
    assert!(most > 1, "one store call at a time");
    assert!(most <= 8, "{most} calls at once");
    // Repeat complaints count the earlier comments of the same author in the thread, as
    // they would one at a time: authors 70 and 72 wrote angry comments.
    let mut urgencies = Vec::new();
    for (id, _, _) in &comments {
        let c = w.comment(id).await;
        urgencies.push(c.triage.unwrap().urgency.score);
    }
    let one_at_a_time = world();
    one_at_a_time.deliver(&feed(&refs)).await.unwrap();
    for _ in &comments {
        one_at_a_time.round_with_batch(1).await;
    }
    let mut alone = Vec::new();
    for (id, _, _) in &comments {
        alone.push(
            one_at_a_time
                .comment(id)
                .await
                .triage
                .unwrap()
                .urgency
                .score,
        );
    }
    assert_eq!(urgencies, alone);
}

#[tokio::test]
async fn a_triage_and_its_escalation_are_one_write() {
    let w = world();
    w.deliver(&feed(&[("c1", "77", ANGRY)])).await.unwrap();
    let before = w.comment("c1").await.revision;
    let outcome = w.round().await;
    assert_eq!((outcome.classified, outcome.escalated), (1, 1));
    let c1 = w.comment("c1").await;
    assert_eq!(c1.escalated_version, Some(1));
    assert_eq!(c1.revision, before + 1, "one write");
}

#[tokio::test]
async fn a_partial_escalation_send_loses_nothing_and_duplicates_nothing() {
    let w = world();
    w.deliver(&feed(&[
        ("c1", "77", ANGRY),
        ("c3", "79", "Toujours jamais livré, je porte plainte"),
    ]))
    .await
    .unwrap();
    w.escalations.refuse(C3_V1_EVENT);
    let outcome = w.round().await;
    assert_eq!(outcome.classified, 2);
    assert_eq!(outcome.escalated, 1);
    assert_eq!(outcome.failed, ["acme/facebook/c3#v1"]);
    assert_eq!(w.comment("c1").await.escalated_version, Some(1));
    assert_eq!(w.comment("c3").await.escalated_version, None);
    w.escalations.heal();
    let outcome = w.round().await;
    assert_eq!((outcome.escalated, outcome.failed.len()), (1, 0));
    assert_eq!(w.comment("c3").await.escalated_version, Some(1));
    let mut ids: Vec<String> = w
        .escalation_events()
        .await
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    ids.sort();
    assert_eq!(ids, [C1_V1_EVENT, C3_V1_EVENT], "each event once");
}

#[tokio::test]
async fn a_store_read_outage_fails_the_batch_and_loses_nothing() {
    let w = world();
    w.deliver(&feed(&[("c1", "77", ANGRY), ("c2", "78", "Merci")]))
        .await
        .unwrap();
    w.store.reads_down.store(true, Ordering::SeqCst);
    let outcome = w.round().await;
    assert_eq!(outcome.failed.len(), 2);
    assert_eq!(outcome.classified, 0);
    assert_eq!(w.scorer.calls.load(Ordering::SeqCst), 0, "nothing to score");
    w.store.heal();
    assert_eq!(w.comment("c1").await.state, CommentState::Queued);
    let outcome = w.round().await;
    assert_eq!((outcome.classified, outcome.escalated), (2, 1));
    assert_eq!(w.escalation_events().await.len(), 1);
}

#[tokio::test]
async fn escalation_events_match_their_json_schema() {
    let w = world();
    w.deliver(&feed(&[("c1", "77", ANGRY)])).await.unwrap();
    w.round().await;
    let event = &w.escalation_events().await[0];
    let schema = vigie_tests::workspace_root().join("schemas/escalation-event.v2.json");
    vigie_tests::assert_matches_json_schema(&schema, &serde_json::to_value(event).unwrap());
}

#[tokio::test]
async fn a_photo_escalation_has_no_text_nor_sentiment_and_matches_the_schema() {
    let (brands, secrets) =
        acme_world("vip_authors = [\"facebook:77\"]\n[brands.urgency]\nescalate_at = 20\n");
    let w = World {
        brands,
        secrets,
        ..world()
    };
    let photo = r#"{"object":"page","entry":[{"id":"1001","time":1764086400,"changes":[{"field":"feed","value":{
      "from":{"id":"77","name":"Jeanne"},"photo":"https://scontent.xx.fbcdn.net/v/colis.jpg","post_id":"1001_9",
      "comment_id":"p1","item":"comment","parent_id":"1001_9","verb":"add"}}]}]}"#;
    w.deliver(photo).await.unwrap();
    let outcome = w.round().await;
    assert_eq!(
        (outcome.classified, outcome.escalated),
        (1, 1),
        "{outcome:?}"
    );
    assert_eq!(
        w.scorer.calls.load(Ordering::SeqCst),
        0,
        "no model call without text"
    );
    let event = &w.escalation_events().await[0];
    assert_eq!(event.text, None);
    assert_eq!(event.sentiment, None);
    assert_eq!(
        event.attachment.as_ref().unwrap().url.as_deref(),
        Some("https://scontent.xx.fbcdn.net/v/colis.jpg")
    );
    let python = vigie_tests::workspace_root().join(".venv/bin/python");
    if !python.exists() {
        eprintln!("skipped: no .venv (its jsonschema validates the event)");
        return;
    }
    let schema = vigie_tests::workspace_root().join("schemas/escalation-event.v2.json");
    let validate = |event: &serde_json::Value| {
        std::process::Command::new(&python)
            .args([
                "-c",
                "import json, sys, jsonschema; jsonschema.validate(json.loads(sys.argv[2]), json.load(open(sys.argv[1])), format_checker=jsonschema.FormatChecker())",
            ])
            .arg(&schema)
            .arg(event.to_string())
            .output()
            .unwrap()
    };
    let json = serde_json::to_value(event).unwrap();
    let out = validate(&json);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Neither text nor attachment, or a sentiment without text: refused by the schema.
    let mut bare = json.clone();
    bare.as_object_mut().unwrap().remove("attachment");
    assert!(!validate(&bare).status.success());
    let mut invented = json;
    invented["sentiment"] = serde_json::json!({"label": "neutral", "negative": 0.1, "neutral": 0.8, "positive": 0.1, "model": "m"});
    assert!(!validate(&invented).status.success());
}
