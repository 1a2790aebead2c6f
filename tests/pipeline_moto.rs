//! The Lambda functions end to end on moto's DynamoDB and SQS, driven as Lambda drives
//! them: a signed delivery through the webhook router, then `SqsEvent`s built from what
//! the queues hold, through the classify and notify handlers, with the real model.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;
use vigie_aws::DynamoStore;
use vigie_classify::ModelScorer;
use vigie_core::classify::Classifier;
use vigie_core::comment::{CommentKey, CommentState, Platform};
use vigie_core::platforms::meta::signature as sign_meta;
use vigie_core::ports::{CommentRead, Delivery, QueueReceive};
use vigie_model::{ModelOptions, SentimentModel};
use vigie_notify::{Notifier, RetryPolicy};
use vigie_tests::fakes::{APP_SECRET, acme, acme_world};
use vigie_tests::moto::{complete, moto, queue_with_dlq, receive_all, table};

/// What Lambda's SQS event source hands a function: the messages as an `SqsEvent`.
fn sqs_event(deliveries: &[Delivery]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = deliveries
        .iter()
        .map(|d| {
            let mut m = SqsMessage::default();
            m.message_id = Some(d.message_id.clone());
            m.receipt_handle = Some(d.receipt.clone());
            m.body = Some(d.body.clone());
            m.attributes.insert(
                "ApproximateReceiveCount".into(),
                d.receive_count.to_string(),
            );
            m
        })
        .collect();
    event
}

const FEED: &str = r#"{"object":"page","entry":[{"id":"1001","time":1764086400,"changes":[
 {"field":"feed","value":{"from":{"id":"77","name":"Nadia"},"message":"Le radiateur acheté chez vous a pris feu dans la chambre de ma fille. J'appelle mon avocat, c'est inadmissible.","post_id":"1001_5","comment_id":"5_1","created_time":1764086399,"item":"comment","parent_id":"1001_5","verb":"add"}},
 {"field":"feed","value":{"from":{"id":"78","name":"Paul"},"message":"Merci pour l'accueil, toujours un plaisir de venir chez vous !","post_id":"1001_5","comment_id":"5_2","created_time":1764086399,"item":"comment","parent_id":"1001_5","verb":"add"}}
]}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_delivery_to_escalation_to_chat_on_dynamodb_and_sqs() {
    let Some(moto) = moto() else { return };
    let Some(model_dir) = vigie_tests::full_model_dir() else {
        return;
    };
    let conf = moto.sdk_config().await;
    let store: DynamoStore = table(&conf).await;
    let (classify_q, classify_dlq) = queue_with_dlq(&conf, 3).await;
    let (escalation_q, _escalation_dlq) = queue_with_dlq(&conf, 3).await;
    let (draft_q, _draft_dlq) = queue_with_dlq(&conf, 3).await;
    let (brands, mut secrets) =
        acme_world("[brands.notify]\nurl = { env = \"UNUSED\" }\nformat = \"slack\"\n");
    let (hook_url, posted) = vigie_tests::chat_receiver().await;
    secrets.notify_urls.insert(acme(), hook_url);

    // 1. webhook: signed bytes in, comments in DynamoDB, requests on SQS.
    let router = vigie_webhook::router(Arc::new(vigie_webhook::WebhookState {
        brands: Arc::new(brands.clone()),
        secrets: Arc::new(secrets.clone()),
        store: store.clone(),
        queue: classify_q.clone(),
    }));
    let req = Request::post("/webhooks/facebook")
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            sign_meta(APP_SECRET, FEED.as_bytes()),
        )
        .body(Body::from(FEED))
        .unwrap();
    let res = router.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let key = |id: &str| CommentKey::new(acme(), Platform::Facebook, id).unwrap();
    assert_eq!(
        store.get(&key("5_1")).await.unwrap().unwrap().state,
        CommentState::Queued
    );

    // 2. classify: the queue's messages as an SqsEvent, real model, partial batch response.
    let model = Arc::new(SentimentModel::load(&ModelOptions::new(model_dir)).unwrap());
    let scorer = ModelScorer::new(Arc::clone(&model));
    let classifier = Classifier {
        brands: &brands,
        store: &store,
        scorer: &scorer,
        escalations: &escalation_q,
        drafts: Some(&draft_q),
    };
    let batch = receive_all(&classify_q).await;
    assert_eq!(batch.len(), 2);
    let response = vigie_classify::handle(&classifier, sqs_event(&batch)).await;
    assert!(response.batch_item_failures.is_empty());
    complete(&classify_q, &batch, &[]).await;

    let fire = store.get(&key("5_1")).await.unwrap().unwrap();
    let t = fire.triage.as_ref().unwrap();
    assert_eq!(
        t.sentiment.as_ref().unwrap().label,
        vigie_core::Sentiment::Negative,
        "{:?}",
        t.sentiment
    );
    assert!(t.urgency.escalate, "{:?}", t.urgency);
    assert_eq!(t.urgency.tier.as_deref(), Some("P1"));
    let thanks = store.get(&key("5_2")).await.unwrap().unwrap();
    assert_eq!(
        thanks
            .triage
            .as_ref()
            .unwrap()
            .sentiment
            .as_ref()
            .unwrap()
            .label,
        vigie_core::Sentiment::Positive
    );
    assert!(!thanks.triage.unwrap().urgency.escalate);
    // the managers' inbox, filed in classify's writes: both comments, most urgent first,
    // each as stored
    {
        use vigie_core::inbox::InboxFilter;
        use vigie_core::ports::Inbox;
        let now = vigie_core::time::Timestamp::now();
        let page = store
            .inbox(&acme(), &InboxFilter::default(), None, 10, now)
            .await
            .unwrap();
        let listed: Vec<&str> = page
            .items
            .iter()
            .map(|i| i.comment.key.external_id.as_str())
            .collect();
        assert_eq!(listed, ["5_1", "5_2"]);
        assert_eq!(page.items[0].comment, fire);
        let counts = store
            .inbox_counts(&acme(), &InboxFilter::default(), now)
            .await
            .unwrap();
        assert_eq!(counts.matching, 2);
        assert_eq!(counts.sentiment["negative"], 1);
    }

    // 3. notify: the escalation event to the brand's chat webhook.
    let events = receive_all(&escalation_q).await;
    assert_eq!(events.len(), 1);
    let event: serde_json::Value = serde_json::from_str(&events[0].body).unwrap();
    assert_eq!(event["schema"], "vigie.escalation.v2");
    assert_eq!(event["comment_id"], "5_1");
    let notifier = Notifier::new(
        brands.clone(),
        secrets.clone(),
        RetryPolicy::default(),
        store.clone(),
    );
    let response = vigie_notify::handle(&notifier, sqs_event(&events)).await;
    assert!(response.batch_item_failures.is_empty());
    complete(&escalation_q, &events, &[]).await;
    let got = posted.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert!(
        got[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("[P1] acme on facebook"),
        "{}",
        got[0]
    );

    // 3b. draft: the brand's content in DynamoDB, the draft requests classify sent, the
    // draft function's handler; drafts stored with the comment, grounded and checked.
    {
        use vigie_core::ports::{BrandContentStore, DraftStore};
        let content = vigie_tests::sample_content(&acme(), &model);
        assert_eq!(store.put_content(&content, None).await.unwrap(), 1);
        let requests = receive_all(&draft_q).await;
        assert_eq!(requests.len(), 2, "one per triaged comment");
        let speller = vigie_draft::spelling::HunspellSpeller::from_env().unwrap();
        let engines = vigie_core::drafting::EngineSet::grounded(&vigie_core::draft::GroundedEngine);
        let drafter = vigie_core::drafting::Drafter {
            store: &store,
            content: &store,
            drafts: &store,
            engines: &engines,
            speller: &speller,
        };
        let response = vigie_draft::handler::handle(&drafter, sqs_event(&requests)).await;
        assert!(response.batch_item_failures.is_empty());
        complete(&draft_q, &requests, &[]).await;
        let fire_drafts = store.drafts(&key("5_1")).await.unwrap().unwrap();
        assert_eq!(
            fire_drafts.action,
            vigie_core::content::Action::Escalate,
            "{fire_drafts:?}"
        );
        let thanks = store.drafts(&key("5_2")).await.unwrap().unwrap();
        assert_eq!(thanks.content_version, 1);
        assert_eq!(
            thanks.action,
            vigie_core::content::Action::ReplyPublic,
            "{thanks:?}"
        );
        assert!(!thanks.suggestions.is_empty(), "{thanks:?}");
        for s in &thanks.suggestions {
            assert!(s.text.ends_with("L'équipe Acme Mode") && s.checks.iter().all(|c| c.passed));
        }
    }

    // 4. a poison message: failed by the handler each time, dead-lettered by SQS after 3 receives.
    classify_q
        .send(&[vigie_core::ports::OutgoingMessage {
            id: "poison".into(),
            body: "not json".into(),
            attributes: vec![],
        }])
        .await
        .unwrap();
    use vigie_core::ports::QueueSend;
    for _ in 0..4 {
        let batch = classify_q.receive(10, 30).await.unwrap();
        if batch.is_empty() {
            continue;
        }
        let response = vigie_classify::handle(&classifier, sqs_event(&batch)).await;
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(failed.len(), 1);
        complete(&classify_q, &batch, &failed).await;
    }
    assert!(classify_q.receive(10, 30).await.unwrap().is_empty());
    let dead = classify_dlq.receive(10, 30).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "not json");
}

/// `vigie-sweep`'s work on DynamoDB and SQS: comments left `Received` for more than a
/// minute are queued, once; younger ones are left to the webhook.
#[tokio::test]
async fn the_sweep_requeues_what_is_older_than_a_minute_and_nothing_younger() {
    use vigie_core::intake::{REQUEUE_AFTER_MS, requeue_pending};
    use vigie_core::ports::CommentWrite;
    use vigie_core::time::Timestamp;
    let Some(moto) = moto() else { return };
    let conf = moto.sdk_config().await;
    let store = table(&conf).await;
    let (queue, _dlq) = queue_with_dlq(&conf, 3).await;
    let now = Timestamp::now();
    for (id, age_ms) in [
        ("old", REQUEUE_AFTER_MS + 1_000),
        ("a-minute", REQUEUE_AFTER_MS),
        ("young", REQUEUE_AFTER_MS - 1_000),
    ] {
        let c = vigie_tests::contract::comment(
            "acme",
            id,
            "1001_9",
            "jamais reçu",
            now.millis() - age_ms,
        );
        store.insert_if_new(&c).await.unwrap();
    }
    assert_eq!(
        requeue_pending(&store, &queue, now, REQUEUE_AFTER_MS, 500)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        requeue_pending(&store, &queue, now, REQUEUE_AFTER_MS, 500)
            .await
            .unwrap(),
        0,
        "queued once"
    );
    let got = receive_all(&queue).await;
    let ids: Vec<&str> = got.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(ids[0].contains("\"old\""), "{}", ids[0]);
    let state = |id: &str| CommentKey::new(acme(), Platform::Facebook, id).unwrap();
    assert_eq!(
        store.get(&state("old")).await.unwrap().unwrap().state,
        CommentState::Queued
    );
    for id in ["a-minute", "young"] {
        assert_eq!(
            store.get(&state(id)).await.unwrap().unwrap().state,
            CommentState::Received
        );
    }
}

/// Raw deliveries and remembered event ids carry `expires_at` in epoch seconds, the
/// table's TTL attribute: raw deliveries 14 days after they arrived.
#[tokio::test]
async fn raw_archives_expire_14_days_later_in_epoch_seconds() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use vigie_core::intake::{Intake, WebhookRequest};
    use vigie_core::ports::SeenEvents;
    use vigie_core::time::Timestamp;
    let Some(moto) = moto() else { return };
    let conf = moto.sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&conf);
    let table_name = vigie_tests::moto::unique("vigie");
    vigie_aws::TableSpec::create(&client, &table_name)
        .await
        .unwrap();
    let store = DynamoStore::new(client.clone(), table_name.clone());
    let (queue, _dlq) = queue_with_dlq(&conf, 3).await;
    let (brands, secrets) = acme_world("");
    let now = Timestamp(1_764_086_400_123);
    Intake {
        brands: &brands,
        secrets: &secrets,
        store: &store,
        queue: &queue,
    }
    .receive(
        WebhookRequest {
            platform: Platform::Facebook,
            app: None,
            inbound: vigie_core::platforms::Inbound {
                headers: &[(
                    vigie_core::platforms::meta::SIGNATURE_HEADER,
                    &sign_meta(APP_SECRET, FEED.as_bytes()),
                )],
                query: &[],
                body: FEED.as_bytes(),
            },
        },
        now,
    )
    .await
    .unwrap();
    store
        .mark_delivered("e1", now.plus_millis(14 * 86_400_000))
        .await
        .unwrap();

    let ttl = client
        .describe_time_to_live()
        .table_name(&table_name)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires_at"));

    use sha2::Digest;
    let raw_pk = format!("R#{}", hex::encode(sha2::Sha256::digest(FEED.as_bytes())));
    for (pk, sk) in [(raw_pk.as_str(), "R"), ("E#e1", "E")] {
        let item = client
            .get_item()
            .table_name(&table_name)
            .key("PK", AttributeValue::S(pk.into()))
            .key("SK", AttributeValue::S(sk.into()))
            .send()
            .await
            .unwrap();
        let expires = item.item().and_then(|i| i.get("expires_at")).cloned();
        assert_eq!(
            expires,
            Some(AttributeValue::N("1765296000".into())),
            "{pk}: 2025-11-25T16:00:00Z plus 14 days, in seconds"
        );
    }
}
