//! The classify handler's log lines: each line about a message is logged in that
//! message's span, which names the message, its comment and the comment's brand.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use vigie_aws::logs::{Capture, check_batch, message_ids};
use vigie_classify::handle;
use vigie_core::classify::Classifier;
use vigie_core::comment::{
    Author, BrandId, Comment, CommentKey, CommentState, CommentText, Platform, Sentiment,
    SentimentScore,
};
use vigie_core::config::Brands;
use vigie_core::intake::ClassifyRequest;
use vigie_core::ports::{CommentWrite, Reading, ScoreError, SentimentScorer};
use vigie_core::time::Timestamp;

const CONFIG: &str = r#"
[[brands]]
id = "acme"
name = "Acme"

[[brands]]
id = "globex"
name = "Globex"
"#;

const ANGRY: &str = "Colis jamais reçu, inadmissible, je porte plainte auprès de mon avocat";

/// Negative on a complaint, positive otherwise.
struct Complaints;

#[async_trait]
impl SentimentScorer for Complaints {
    async fn score(&self, texts: &[String]) -> Result<Vec<Reading>, ScoreError> {
        Ok(texts
            .iter()
            .map(|t| {
                let (label, p) = if t.contains("plainte") {
                    (Sentiment::Negative, [0.92, 0.06, 0.02])
                } else {
                    (Sentiment::Positive, [0.02, 0.08, 0.9])
                };
                Reading::from(SentimentScore {
                    label,
                    negative: p[0],
                    neutral: p[1],
                    positive: p[2],
                    model: "complaints".into(),
                })
            })
            .collect())
    }
}

fn key(brand: &str, id: &str) -> CommentKey {
    CommentKey::new(BrandId::parse(brand).unwrap(), Platform::Facebook, id).unwrap()
}

fn queued(key: CommentKey, text: &str) -> Comment {
    Comment {
        thread_id: format!("{}_post", key.brand),
        key,
        parent_id: None,
        source: None,
        author: Author {
            id: "77".into(),
            name: Some("Nadia".into()),
            followers: None,
        },
        text: Some(CommentText::parse(text).unwrap()),
        attachment: None,
        truncation: None,
        permalink: None,
        created_at: Timestamp(1),
        received_at: Timestamp(2),
        version: 1,
        state: CommentState::Queued,
        triage: None,
        escalated_version: None,
        private: false,
        revision: 0,
    }
}

fn request(key: &CommentKey) -> String {
    ClassifyRequest {
        key: key.clone(),
        version: 1,
    }
    .message()
    .body
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

#[tokio::test]
async fn every_line_about_a_message_names_its_message_comment_and_brand() {
    let logs = Capture::default();
    let _capturing = logs.start();
    let db = vigie_sqlite::Database::in_memory().unwrap();
    let store = db.store();
    let brands = Brands::parse("brands.toml".as_ref(), CONFIG).unwrap();
    let (angry, thanks, unknown) = (key("acme", "c1"), key("globex", "g1"), key("acme", "c404"));
    store
        .insert_if_new(&queued(angry.clone(), ANGRY))
        .await
        .unwrap();
    store
        .insert_if_new(&queued(thanks.clone(), "Merci pour le super accueil"))
        .await
        .unwrap();
    let escalations = db.queue("escalations", 3);
    let drafts = db.queue("drafts", 3);
    let classifier = Classifier {
        brands: &brands,
        store: &store,
        scorer: &Complaints,
        escalations: &escalations,
        drafts: Some(&drafts),
    };

    let r = handle(
        &classifier,
        event(&[
            request(&angry),
            request(&thanks),
            "{not json".into(),
            request(&unknown),
        ]),
    )
    .await;
    let failed: Vec<_> = r
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m2"]);

    let lines = logs.lines();
    let (angry, thanks, unknown) = (angry.to_string(), thanks.to_string(), unknown.to_string());
    check_batch(
        &lines,
        "classify",
        &[
            ("m0", Some(&angry)),
            ("m1", Some(&thanks)),
            ("m2", None),
            ("m3", Some(&unknown)),
        ],
        &["batch classified"],
    );
    assert_eq!(message_ids(&lines, "comment classified"), ["m0", "m1"]);
    assert_eq!(message_ids(&lines, "comment escalated"), ["m0"]);
    assert_eq!(message_ids(&lines, "message failed"), ["m2"]);
    assert_eq!(
        message_ids(&lines, "classification request for an unknown comment"),
        ["m3"]
    );
    assert_eq!(
        message_ids(&lines, "batch classified"),
        ["(no message span)"]
    );
    // the brand is the line's own too where the event names it
    let classified: Vec<_> = lines
        .iter()
        .filter(|l| l.message() == "comment classified")
        .map(|l| (l.field("brand"), l.span_field("key")))
        .collect();
    assert_eq!(
        classified,
        [
            (Some("acme"), Some(angry.as_str())),
            (Some("globex"), Some(thanks.as_str()))
        ]
    );
}
