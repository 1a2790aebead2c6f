//! The draft Lambda's handler on SQS events, against the SQLite store (the same ports as
//! DynamoDB): drafts stored per comment version, repeats change nothing, an edit drafts
//! again, a delete withdraws, a poison message fails alone.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use vigie_core::checks::Speller;
use vigie_core::comment::{
    Author, BrandId, Comment, CommentKey, CommentState, CommentText, Platform, Triage,
};
use vigie_core::content::{Action, BrandContent, ContentFiles};
use vigie_core::draft::GroundedEngine;
use vigie_core::drafting::{DraftRequest, Drafter};
use vigie_core::drafts::DraftState;
use vigie_core::ports::{BrandContentStore, CommentRead, CommentWrite, DraftStore, Inserted};
use vigie_core::time::Timestamp;
use vigie_core::understanding::{Intent, Understanding};
use vigie_core::urgency::Urgency;
use vigie_draft::handler::handle;

struct KnowsAll;

impl Speller for KnowsAll {
    fn misspelled(&self, _: &str, _: &[&str]) -> Option<Vec<String>> {
        Some(vec![])
    }
}

fn content() -> BrandContent {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/brands/acme");
    let files = ContentFiles::read_dir(&dir).unwrap();
    BrandContent::from_files(
        &BrandId::parse("acme").unwrap(),
        &files,
        Timestamp(0),
        "test",
    )
    .unwrap()
}

fn triaged(id: &str, text: &str, intent: Intent) -> Comment {
    Comment {
        key: CommentKey::new(BrandId::parse("acme").unwrap(), Platform::Instagram, id).unwrap(),
        thread_id: "post".into(),
        parent_id: None,
        source: None,
        author: Author {
            id: "a".into(),
            name: Some("Julie Martin".into()),
            followers: None,
        },
        text: Some(CommentText::parse(text).unwrap()),
        attachment: None,
        truncation: None,
        permalink: None,
        created_at: Timestamp(1),
        received_at: Timestamp(2),
        version: 1,
        state: CommentState::Received,
        triage: None,
        escalated_version: None,
        private: false,
        revision: 0,
    }
    .with_triage(intent)
}

trait WithTriage {
    fn with_triage(self, intent: Intent) -> Self;
}

impl WithTriage for Comment {
    fn with_triage(mut self, intent: Intent) -> Self {
        self.state = CommentState::Triaged;
        self.triage = Some(Triage {
            version: self.version,
            sentiment: None,
            understanding: Some(Understanding {
                intent,
                intent_probability: 0.9,
                signals: vec![],
                model: "t".into(),
            }),
            embedding: None,
            urgency: Urgency {
                score: 10,
                escalate: false,
                tier: None,
                respond_within_minutes: None,
                reasons: vec![],
            },
            triaged_at: Timestamp(3),
        });
        self
    }
}

fn event(bodies: &[String]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for (i, b) in bodies.iter().enumerate() {
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("m{i}"));
        m.receipt_handle = Some(format!("r{i}"));
        m.body = Some(b.clone());
        m.attributes = HashMap::from([("ApproximateReceiveCount".to_string(), "1".to_string())]);
        event.records.push(m);
    }
    event
}

fn request(c: &Comment) -> String {
    serde_json::to_string(&DraftRequest {
        regenerate: false,
        key: c.key.clone(),
        version: c.version,
    })
    .unwrap()
}

async fn insert(store: &vigie_sqlite::SqliteStore, c: &Comment) -> Comment {
    let Inserted::New(stored) = store.insert_if_new(c).await.unwrap() else {
        panic!("new")
    };
    stored
}

#[tokio::test]
async fn drafts_are_stored_once_per_version_and_withdrawn_on_delete() {
    let db = vigie_sqlite::Database::in_memory().unwrap();
    let store = db.store();
    assert_eq!(store.put_content(&content(), None).await.unwrap(), 1);
    let c = insert(
        &store,
        &triaged(
            "c1",
            "Ma commande n'est toujours pas arrivée, ça fait dix jours.",
            Intent::DeliveryDelay,
        ),
    )
    .await;
    let engines = vigie_core::drafting::EngineSet::grounded(&GroundedEngine);
    let drafter = Drafter {
        store: &store,
        content: &store,
        drafts: &store,
        engines: &engines,
        speller: &KnowsAll,
    };

    // one good request and one poison message: only the poison one is retried
    let r = handle(&drafter, event(&[request(&c), "{not json".into()])).await;
    let failed: Vec<_> = r
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, ["m1"]);
    let d = store.drafts(&c.key).await.unwrap().expect("drafted");
    assert_eq!(
        (d.comment_version, d.content_version, d.action, d.state),
        (1, 1, Action::ReplyPrivate, DraftState::Proposed)
    );
    assert!(!d.suggestions.is_empty());

    // a repeat of the same request keeps what is stored
    let again = handle(&drafter, event(&[request(&c)])).await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(
        store.drafts(&c.key).await.unwrap().unwrap().created_at,
        d.created_at
    );

    // an edit (version 2, triaged again) drafts again; the version-1 request is stale
    let mut edited = store.get(&c.key).await.unwrap().unwrap();
    edited.version = 2;
    edited.text =
        Some(CommentText::parse("Merci, colis bien reçu finalement, tout est parfait !").unwrap());
    let edited = store
        .update(&edited.with_triage(Intent::Praise))
        .await
        .unwrap();
    handle(&drafter, event(&[request(&c), request(&edited)])).await;
    let d2 = store.drafts(&c.key).await.unwrap().unwrap();
    assert_eq!((d2.comment_version, d2.action), (2, Action::ReplyPublic));

    // a manager asks for new drafts: the next generation replaces them, each time
    let regenerate =
        |c: &Comment, at: i64| DraftRequest::regeneration(c, vigie_core::time::Timestamp(at)).body;
    let r = handle(&drafter, event(&[regenerate(&edited, 1)])).await;
    assert!(r.batch_item_failures.is_empty());
    let d3 = store.drafts(&c.key).await.unwrap().unwrap();
    assert_eq!((d3.comment_version, d3.generation), (2, 1));
    handle(&drafter, event(&[regenerate(&edited, 2)])).await;
    assert_eq!(store.drafts(&c.key).await.unwrap().unwrap().generation, 2);
    // a plain repeat of the first request changes nothing
    handle(&drafter, event(&[request(&edited)])).await;
    assert_eq!(store.drafts(&c.key).await.unwrap().unwrap().generation, 2);

    // deleted: its drafts are withdrawn
    let mut deleted = store.get(&c.key).await.unwrap().unwrap();
    deleted.state = CommentState::Deleted;
    let deleted = store.update(&deleted).await.unwrap();
    handle(&drafter, event(&[request(&deleted)])).await;
    assert_eq!(
        store.drafts(&c.key).await.unwrap().unwrap().state,
        DraftState::Withdrawn
    );
}

#[tokio::test]
async fn a_comment_not_triaged_yet_is_retried_and_a_brand_without_content_skipped() {
    let db = vigie_sqlite::Database::in_memory().unwrap();
    let store = db.store();
    let mut c = triaged("c2", "Vous ouvrez le dimanche ?", Intent::AvailabilityHours);
    c.triage = None;
    c.state = CommentState::Queued;
    let c = insert(&store, &c).await;
    let engines = vigie_core::drafting::EngineSet::grounded(&GroundedEngine);
    let drafter = Drafter {
        store: &store,
        content: &store,
        drafts: &store,
        engines: &engines,
        speller: &KnowsAll,
    };
    let r = handle(&drafter, event(&[request(&c)])).await;
    assert_eq!(
        r.batch_item_failures.len(),
        1,
        "retried until classify has triaged it"
    );
    let triaged = store
        .update(
            &store
                .get(&c.key)
                .await
                .unwrap()
                .unwrap()
                .with_triage(Intent::AvailabilityHours),
        )
        .await
        .unwrap();
    let r = handle(&drafter, event(&[request(&triaged)])).await;
    assert!(
        r.batch_item_failures.is_empty(),
        "no content: skipped, not retried"
    );
    assert!(store.drafts(&c.key).await.unwrap().is_none());
}

/// Knows no word: every draft fails its spelling check.
struct KnowsNone;

impl Speller for KnowsNone {
    fn misspelled(&self, _: &str, words: &[&str]) -> Option<Vec<String>> {
        Some(words.iter().map(|w| w.to_string()).collect())
    }
}

#[tokio::test]
async fn every_line_about_a_message_names_its_message_comment_and_brand() {
    let logs = vigie_aws::logs::Capture::default();
    let _capturing = logs.start();
    let db = vigie_sqlite::Database::in_memory().unwrap();
    let store = db.store();
    store.put_content(&content(), None).await.unwrap(); // acme's only
    let acme = insert(
        &store,
        &triaged(
            "c1",
            "Ma commande n'est toujours pas arrivée, ça fait dix jours.",
            Intent::DeliveryDelay,
        ),
    )
    .await;
    let mut globex = triaged("g1", "Vous ouvrez le dimanche ?", Intent::AvailabilityHours);
    globex.key =
        CommentKey::new(BrandId::parse("globex").unwrap(), Platform::Instagram, "g1").unwrap();
    let globex = insert(&store, &globex).await;
    let mut untriaged = triaged("c2", "Et le colis ?", Intent::DeliveryDelay);
    (untriaged.triage, untriaged.state) = (None, CommentState::Queued);
    let untriaged = insert(&store, &untriaged).await;
    let engines = vigie_core::drafting::EngineSet::grounded(&GroundedEngine);
    let drafter = Drafter {
        store: &store,
        content: &store,
        drafts: &store,
        engines: &engines,
        speller: &KnowsNone,
    };

    let r = handle(
        &drafter,
        event(&[
            request(&acme),
            request(&globex),
            "{not json".into(),
            request(&untriaged),
        ]),
    )
    .await;
    let failed: Vec<_> = r
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m2", "m3"]);

    let lines = logs.lines();
    let keys = [&acme, &globex, &untriaged].map(|c| c.key.to_string());
    vigie_aws::logs::check_batch(
        &lines,
        "draft",
        &[
            ("m0", Some(&keys[0])),
            ("m1", Some(&keys[1])),
            ("m2", None),
            ("m3", Some(&keys[2])),
        ],
        &["batch drafted"],
    );
    let ids = |message| vigie_aws::logs::message_ids(&lines, message);
    let rejected = ids("draft rejected by its checks");
    assert!(
        !rejected.is_empty() && rejected.iter().all(|id| *id == "m0"),
        "{rejected:?}"
    );
    assert_eq!(
        ids("no brand content: nothing to draft from (vigie brand import)"),
        ["m1"]
    );
    assert_eq!(ids("message failed"), ["m2", "m3"]);
    assert_eq!(ids("batch drafted"), ["(no message span)"]);
}
