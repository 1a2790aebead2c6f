//! Contract suites: every store adapter and every queue adapter must pass these, with the
//! same assertions (SQLite here, DynamoDB and SQS on moto).

use std::time::Duration;

use vigie_core::comment::{
    Author, BrandId, Comment, CommentKey, CommentState, CommentText, Platform, Sentiment,
    SentimentScore, Triage,
};
use vigie_core::ports::{
    Claim, CommentStore, Inserted, OutgoingMessage, QueueReceive, QueueSend, RawDelivery,
    SeenEvents, StoreError,
};
use vigie_core::time::Timestamp;
use vigie_core::understanding::{Embedding, Intent, RiskSignal, SignalReading, Understanding};
use vigie_core::urgency::Urgency;

pub fn brand(id: &str) -> BrandId {
    BrandId::parse(id).unwrap()
}

/// A received comment.
pub fn comment(brand_id: &str, id: &str, thread: &str, text: &str, received_ms: i64) -> Comment {
    Comment {
        key: CommentKey::new(brand(brand_id), Platform::Facebook, id).unwrap(),
        thread_id: thread.into(),
        parent_id: None,
        source: None,
        author: Author {
            id: format!("author-{id}"),
            name: Some("Camille".into()),
            followers: None,
        },
        text: Some(CommentText::parse(text).unwrap()),
        attachment: None,
        truncation: None,
        permalink: None,
        created_at: Timestamp(received_ms - 1000),
        received_at: Timestamp(received_ms),
        version: 1,
        state: CommentState::Received,
        triage: None,
        escalated_version: None,
        revision: 0,
    }
}

pub fn triaged(mut c: Comment, urgency: u8) -> Comment {
    c.state = CommentState::Triaged;
    c.triage = Some(Triage {
        version: c.version,
        sentiment: Some(SentimentScore {
            label: Sentiment::Negative,
            negative: 0.8,
            neutral: 0.15,
            positive: 0.05,
            model: "test".into(),
        }),
        understanding: Some(Understanding {
            intent: Intent::DeliveryDelay,
            intent_probability: 0.7,
            signals: vec![SignalReading {
                signal: RiskSignal::Churn,
                probability: 0.4,
                threshold: 0.6,
                examples: vec!["je résilie".into()],
            }],
            model: "heads-test".into(),
        }),
        embedding: Some(Embedding::quantize(&[0.6, -0.8, 0.0])),
        urgency: Urgency {
            score: urgency,
            escalate: urgency >= 50,
            tier: None,
            respond_within_minutes: None,
            reasons: vec![],
        },
        triaged_at: Timestamp(c.received_at.0 + 10),
    });
    c
}

async fn insert<S: CommentStore>(s: &S, c: &Comment) -> Comment {
    match s.insert_if_new(c).await.unwrap() {
        Inserted::New(c) => c,
        Inserted::Existing(_) => panic!("{} already stored", c.key),
    }
}

/// Every store adapter passes this. `s` must be empty.
pub async fn store_contract<S: CommentStore>(s: &S) {
    // Idempotent insert.
    let c = comment("acme", "c1", "post-1", "Où est ma commande ? 📦", 1_000);
    let stored = insert(s, &c).await;
    assert_eq!(stored.revision, 1);
    assert_eq!(s.get(&c.key).await.unwrap(), Some(stored.clone()));
    let mut twin = c.clone();
    twin.text = Some(CommentText::parse("another text").unwrap());
    match s.insert_if_new(&twin).await.unwrap() {
        Inserted::Existing(existing) => assert_eq!(existing, stored, "the first write wins"),
        Inserted::New(_) => panic!("a duplicate was inserted"),
    }
    assert_eq!(
        s.get(&CommentKey::new(brand("acme"), Platform::Facebook, "nope").unwrap())
            .await
            .unwrap(),
        None
    );

    // Updates carry a version check.
    let mut queued = stored.clone();
    queued.state = CommentState::Queued;
    let queued = s.update(&queued).await.unwrap();
    assert_eq!(queued.revision, 2);
    let mut stale = stored.clone();
    stale.state = CommentState::Deleted;
    assert!(
        matches!(s.update(&stale).await, Err(StoreError::Conflict)),
        "a stale write is refused"
    );
    assert_eq!(
        s.get(&c.key).await.unwrap().unwrap().state,
        CommentState::Queued
    );

    // Threads: oldest first, only that thread, limited.
    for (i, t) in [3_000, 2_000, 4_000].iter().enumerate() {
        insert(s, &comment("acme", &format!("t{i}"), "post-2", "reply", *t)).await;
    }
    insert(
        s,
        &comment("globex", "g1", "post-2", "other brand, same post id", 2_500),
    )
    .await;
    let thread = s
        .thread(&comment("acme", "x", "post-2", "x", 0).thread(), 10)
        .await
        .unwrap();
    let ids: Vec<&str> = thread.iter().map(|c| c.key.external_id.as_str()).collect();
    assert_eq!(ids, ["t1", "t0", "t2"]);
    assert_eq!(s.thread(&thread[0].thread(), 2).await.unwrap().len(), 2);

    // Open comments: triaged only, most urgent first, then most recent; per brand.
    let mut open = Vec::new();
    for (id, urgency, at) in [
        ("o1", 40u8, 5_000),
        ("o2", 90, 6_000),
        ("o3", 40, 7_000),
        ("o4", 100, 8_000),
    ] {
        let fresh = insert(s, &comment("acme", id, "post-3", "open", at)).await;
        open.push(s.update(&triaged(fresh, urgency)).await.unwrap());
    }
    let fresh = insert(s, &comment("globex", "o5", "post-3", "other brand", 9_000)).await;
    s.update(&triaged(fresh, 99)).await.unwrap();
    let listed = s.open_by_urgency(&brand("acme"), 10).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|c| c.key.external_id.as_str()).collect();
    assert_eq!(ids, ["o4", "o2", "o3", "o1"]);
    // the triage reads back whole: learned signals, intent and the kept embedding
    let back = s.get(&open[0].key).await.unwrap().unwrap();
    assert_eq!(back.triage, open[0].triage);
    let t = back.triage.unwrap();
    assert_eq!(t.understanding.unwrap().intent, Intent::DeliveryDelay);
    assert!(t.embedding.unwrap().cosine(&[0.6, -0.8, 0.0]) > 0.999);
    assert_eq!(s.open_by_urgency(&brand("acme"), 2).await.unwrap().len(), 2);
    let mut deleted = open[3].clone();
    deleted.state = CommentState::Deleted;
    s.update(&deleted).await.unwrap();
    let ids: Vec<String> = s
        .open_by_urgency(&brand("acme"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.key.external_id)
        .collect();
    assert_eq!(
        ids,
        ["o2", "o3", "o1"],
        "a deleted comment leaves the open list"
    );
    assert_eq!(
        s.open_by_urgency(&brand("globex"), 10).await.unwrap().len(),
        1
    );

    // Pending: stored, never queued, old enough.
    let pending = s.pending(Timestamp(3_500), 10).await.unwrap();
    let ids: Vec<&str> = pending.iter().map(|c| c.key.external_id.as_str()).collect();
    assert_eq!(
        ids,
        ["t1", "g1", "t0"],
        "received before the cutoff, oldest first; c1 is queued"
    );

    // Raw archive.
    let raw = RawDelivery {
        id: "abc123".into(),
        platform: Platform::Instagram,
        received_at: Timestamp(1_764_000_000_000),
        expires_at: Timestamp(1_765_000_000_000),
        body: br#"{"object":"instagram","entry":[]}"#.to_vec(),
    };
    s.put_raw(&raw).await.unwrap();
    s.put_raw(&raw).await.unwrap();
    assert_eq!(s.get_raw("abc123").await.unwrap(), Some(raw));
    assert_eq!(s.get_raw("missing").await.unwrap(), None);

    seen_events_contract(s).await;

    // Large and multilingual text survive the round trip.
    let big = "Très long commentaire, émojis 🎉 et accents. ".repeat(1200);
    let c = insert(s, &comment("acme", "big", "post-4", &big, 10_000)).await;
    assert_eq!(
        s.get(&c.key).await.unwrap().unwrap().text.unwrap().as_str(),
        big
    );

    // A comment that is only a photo round-trips as it is.
    let mut photo = comment("acme", "photo", "post-4", "x", 11_000);
    photo.text = None;
    photo.attachment = Some(vigie_core::comment::Attachment {
        kind: vigie_core::comment::AttachmentKind::Photo,
        url: Some("https://scontent.xx.fbcdn.net/v/p.jpg".into()),
    });
    let stored = insert(s, &photo).await;
    let got = s.get(&photo.key).await.unwrap().unwrap();
    assert_eq!(got, stored);
    assert_eq!((got.text, got.attachment), (None, photo.attachment));
}

/// Seen event ids: a live claim keeps others out; a delivered id stays seen
/// until it expires; a failed delivery frees its claim; a crashed holder's claim frees
/// itself when it runs out, and a late release does not free its successor's.
async fn seen_events_contract<S: CommentStore>(s: &S) {
    let t = Timestamp(1_764_000_000_000);
    let lease = |at: Timestamp| at.plus_millis(60_000);
    let at = |ms: i64| t.plus_millis(ms);

    assert_eq!(
        s.claim("e1", "w1", t, lease(t)).await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        s.claim("e1", "w2", at(1_000), lease(at(1_000)))
            .await
            .unwrap(),
        Claim::Held
    );
    s.release("e1", "w2").await.unwrap();
    assert_eq!(
        s.claim("e1", "w3", at(2_000), lease(at(2_000)))
            .await
            .unwrap(),
        Claim::Held,
        "only the holder releases its claim"
    );
    s.release("e1", "w1").await.unwrap();
    assert_eq!(
        s.claim("e1", "w2", at(3_000), lease(at(3_000)))
            .await
            .unwrap(),
        Claim::Claimed,
        "a failed delivery can be retried at once"
    );
    let fortnight = 14 * 86_400_000;
    s.mark_delivered("e1", at(fortnight)).await.unwrap();
    assert_eq!(
        s.claim("e1", "w4", at(4_000), lease(at(4_000)))
            .await
            .unwrap(),
        Claim::Delivered
    );
    s.release("e1", "w2").await.unwrap();
    assert_eq!(
        s.claim("e1", "w4", at(5_000), lease(at(5_000)))
            .await
            .unwrap(),
        Claim::Delivered,
        "a release does not undo a delivery"
    );
    assert_eq!(
        s.claim(
            "e1",
            "w5",
            at(fortnight + 1_000),
            lease(at(fortnight + 1_000))
        )
        .await
        .unwrap(),
        Claim::Claimed,
        "forgotten after its expiry"
    );

    assert_eq!(
        s.claim("e2", "w1", t, lease(t)).await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        s.claim("e2", "w2", at(59_000), lease(at(59_000)))
            .await
            .unwrap(),
        Claim::Held
    );
    assert_eq!(
        s.claim("e2", "w2", at(61_000), lease(at(61_000)))
            .await
            .unwrap(),
        Claim::Claimed,
        "the holder crashed: its claim ran out"
    );
    s.release("e2", "w1").await.unwrap();
    assert_eq!(
        s.claim("e2", "w3", at(62_000), lease(at(62_000)))
            .await
            .unwrap(),
        Claim::Held,
        "the crashed holder's late release leaves its successor's claim"
    );
}

/// Claims of one event id at the same moment: exactly one wins. Run on SQLite; DynamoDB
/// makes a conditional write atomic, but moto's server does not serialize concurrent
/// writes to an item (two of six claims won there), so it cannot prove it.
pub async fn concurrent_claims_contract<S: SeenEvents>(s: &S) {
    let t = Timestamp(1_764_000_000_000);
    let until = t.plus_millis(60_000);
    let claim = |w: &'static str| s.claim("e-concurrent", w, t, until);
    let all = tokio::join!(
        claim("a"),
        claim("b"),
        claim("c"),
        claim("d"),
        claim("e"),
        claim("f")
    );
    let all = [all.0, all.1, all.2, all.3, all.4, all.5].map(Result::unwrap);
    assert_eq!(
        all.iter().filter(|c| **c == Claim::Claimed).count(),
        1,
        "{all:?}"
    );
    assert!(
        all.iter()
            .all(|c| matches!(c, Claim::Claimed | Claim::Held))
    );
}

fn message(i: usize) -> OutgoingMessage {
    OutgoingMessage {
        id: format!("acme/facebook/{i}#v1"),
        body: format!("{{\"n\":{i},\"text\":\"é 🎉\"}}"),
        attributes: vec![("brand".into(), "acme".into()), ("n".into(), i.to_string())],
    }
}

async fn drain<Q: QueueReceive>(q: &Q, want: usize) -> Vec<vigie_core::ports::Delivery> {
    let mut got = Vec::new();
    for _ in 0..50 {
        got.extend(q.receive(10, 30).await.unwrap());
        if got.len() >= want {
            break;
        }
    }
    got
}

/// Every queue adapter passes this. `q` must be empty; its dead-letter queue is `dlq`, to
/// which a message moves when received again after `max_receives` receives (3).
/// `let_time_pass` moves the queue's clock on by at least the duration (a real queue
/// waits it out; a queue on a test clock sets the clock forward).
pub async fn queue_contract<Q, D>(q: &Q, dlq: &D, let_time_pass: impl AsyncFn(Duration))
where
    Q: QueueSend + QueueReceive,
    D: QueueReceive,
{
    // More than one batch call's worth, bodies and attributes intact.
    let sent: Vec<OutgoingMessage> = (0..25).map(message).collect();
    q.send(&sent).await.unwrap();
    let got = drain(q, 25).await;
    assert_eq!(got.len(), 25);
    let mut ns: Vec<usize> = got
        .iter()
        .map(|d| {
            let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
            assert_eq!(body["text"], "é 🎉");
            let n = body["n"].as_u64().unwrap() as usize;
            assert!(
                d.attributes.contains(&("n".to_string(), n.to_string())),
                "{:?}",
                d.attributes
            );
            assert_eq!(d.receive_count, 1);
            n
        })
        .collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..25).collect::<Vec<_>>());
    // Received messages are hidden until acked or released.
    assert!(q.receive(10, 30).await.unwrap().is_empty());
    q.ack(&got.iter().map(|d| d.receipt.clone()).collect::<Vec<_>>())
        .await
        .unwrap();

    // Released: back at once, receive count up.
    q.send(&[message(100)]).await.unwrap();
    let first = drain(q, 1).await;
    assert_eq!(first.len(), 1);
    q.release(&first[0].receipt, 0).await.unwrap();
    let again = drain(q, 1).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].body, first[0].body);
    assert_eq!(again[0].receive_count, 2);

    // Visibility timeout: an unacked message comes back by itself.
    let hidden = q.receive(10, 1).await.unwrap();
    assert!(hidden.is_empty(), "still invisible");
    q.release(&again[0].receipt, 1).await.unwrap();
    let_time_pass(Duration::from_millis(1500)).await;
    let third = drain(q, 1).await;
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].receive_count, 3);

    // A fourth receive dead-letters it: never lost, never delivered again here.
    q.release(&third[0].receipt, 0).await.unwrap();
    let nothing = q.receive(10, 30).await.unwrap();
    assert!(
        nothing.is_empty(),
        "the message went to the dead-letter queue"
    );
    let dead = drain(dlq, 1).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, first[0].body);
    dlq.ack(&[dead[0].receipt.clone()]).await.unwrap();
}
