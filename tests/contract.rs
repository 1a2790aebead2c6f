//! Contract suites: every store adapter and every queue adapter must pass these, with the
//! same assertions (SQLite here, DynamoDB and SQS on moto).

use std::time::Duration;

use vigie_core::comment::{
    Author, BrandId, Comment, CommentKey, CommentState, CommentText, Platform, Sentiment,
    SentimentScore, Triage,
};
use vigie_core::content::{Action, BrandContent, ContentFiles};
use vigie_core::drafts::{CheckOutcome, DraftState, Drafts, Rejected, Suggestion};
use vigie_core::ports::{
    BrandContentStore, Claim, CommentStore, DraftStore, Inserted, OutgoingMessage, QueueReceive,
    QueueSend, RawDelivery, ReviewStore, SeenEvents, StoreError, UserStore,
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
        private: false,
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

    // Triaged comments read back whole: learned signals, intent and the kept embedding.
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
    let back = s.get(&open[0].key).await.unwrap().unwrap();
    assert_eq!(back.triage, open[0].triage);
    let t = back.triage.unwrap();
    assert_eq!(t.understanding.unwrap().intent, Intent::DeliveryDelay);
    assert!(t.embedding.unwrap().cosine(&[0.6, -0.8, 0.0]) > 0.999);
    // a thread of triaged comments reads whole too, oldest first, across updates
    let thread = s.thread(&open[0].thread(), 10).await.unwrap();
    let ids: Vec<&str> = thread.iter().map(|c| c.key.external_id.as_str()).collect();
    assert_eq!(
        ids,
        ["o1", "o2", "o3", "o4"],
        "the other brand's o5 is not in it"
    );
    assert_eq!(thread[3].triage, open[3].triage);
    let mut deleted = open[3].clone();
    deleted.state = CommentState::Deleted;
    let deleted = s.update(&deleted).await.unwrap();
    assert_eq!(
        s.get(&deleted.key).await.unwrap().unwrap().state,
        CommentState::Deleted
    );
    assert_eq!(
        s.thread(&open[0].thread(), 10).await.unwrap()[3].state,
        CommentState::Deleted,
        "a thread reads each comment as it is now"
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

/// A sample brand's content (samples/brands/<brand>), every reply with a 384-wide
/// embedding as an import computes it: a body of the size the store must hold.
pub fn sample_content(brand_id: &str) -> BrandContent {
    let dir = crate::workspace_root()
        .join("samples/brands")
        .join(brand_id);
    let files = ContentFiles::read_dir(&dir).unwrap();
    let mut content = BrandContent::from_files(
        &brand(brand_id),
        &files,
        Timestamp(1_764_000_000_000),
        "import",
    )
    .unwrap();
    for (i, reply) in content.replies.iter_mut().enumerate() {
        let v: Vec<f32> = (0..384)
            .map(|d| (((d * 31 + i * 17) % 97) as f32 - 48.0) / 200.0)
            .collect();
        reply.embedding = Some(Embedding::quantize(&v));
    }
    content
}

fn at_version(content: &BrandContent, version: u32) -> BrandContent {
    let mut c = content.clone();
    c.version = version;
    c
}

/// Every brand content store passes this. `s` must hold no content.
pub async fn content_store_contract<S: BrandContentStore>(s: &S) {
    let acme = brand("acme");
    assert_eq!(s.content(&acme).await.unwrap(), None);
    assert_eq!(s.content_version(&acme, 1).await.unwrap(), None);

    // Versions 1, 2, 3, each stored on the one before; the version given is the store's.
    let v1 = sample_content("acme");
    assert!(
        serde_json::to_string(&v1).unwrap().len() > 50_000,
        "a body of a real brand's size"
    );
    assert_eq!(s.put_content(&at_version(&v1, 42), None).await.unwrap(), 1);
    assert!(
        matches!(s.put_content(&v1, None).await, Err(StoreError::Conflict)),
        "a second first import is refused"
    );
    let mut v2 = v1.clone();
    v2.words.push("Nouveauté".into());
    v2.updated_by = "camille".into();
    v2.updated_at = Timestamp(1_764_000_060_000);
    assert_eq!(s.put_content(&v2, Some(1)).await.unwrap(), 2);
    let mut stale = v1.clone();
    stale.updated_by = "stale".into();
    assert!(
        matches!(
            s.put_content(&stale, Some(1)).await,
            Err(StoreError::Conflict)
        ),
        "a write on a stale version is refused"
    );
    assert!(
        matches!(
            s.put_content(&stale, Some(7)).await,
            Err(StoreError::Conflict)
        ),
        "a write on a version that does not exist is refused"
    );
    assert_eq!(
        s.content(&acme).await.unwrap(),
        Some(at_version(&v2, 2)),
        "a refused write leaves the current version"
    );
    let mut v3 = v2.clone();
    v3.replies.pop();
    v3.updated_by = "import".into();
    assert_eq!(s.put_content(&v3, Some(2)).await.unwrap(), 3);

    // The latest is current; every earlier version stays readable, whole.
    let current = s.content(&acme).await.unwrap().unwrap();
    assert_eq!(current, at_version(&v3, 3));
    assert_eq!(current.replies.len(), v1.replies.len() - 1);
    assert_eq!(
        s.content_version(&acme, 1).await.unwrap(),
        Some(at_version(&v1, 1))
    );
    let first = s.content_version(&acme, 1).await.unwrap().unwrap();
    assert_eq!(first.updated_by, "import");
    assert_eq!(first.replies[0].embedding, v1.replies[0].embedding);
    assert_eq!(
        s.content_version(&acme, 2).await.unwrap(),
        Some(at_version(&v2, 2))
    );
    assert_eq!(s.content_version(&acme, 4).await.unwrap(), None);
    assert_eq!(s.content_version(&acme, 0).await.unwrap(), None);

    // Brands are apart: their own versions from 1, their own current content.
    let globex = brand("globex");
    assert_eq!(s.content(&globex).await.unwrap(), None);
    assert!(
        matches!(
            s.put_content(&sample_content("globex"), Some(3)).await,
            Err(StoreError::Conflict)
        ),
        "acme's version is not globex's"
    );
    let g1 = sample_content("globex");
    assert_eq!(s.put_content(&g1, None).await.unwrap(), 1);
    assert_eq!(s.content(&globex).await.unwrap(), Some(at_version(&g1, 1)));
    assert_eq!(s.content_version(&globex, 2).await.unwrap(), None);
    assert_eq!(s.content(&acme).await.unwrap(), Some(at_version(&v3, 3)));
    assert_eq!(s.content(&brand("initech")).await.unwrap(), None);
}

pub fn drafts_for(key: &CommentKey, comment_version: u32, text: &str) -> Drafts {
    let check = |name: &str, passed: bool, detail: &str| CheckOutcome {
        check: name.into(),
        passed,
        detail: detail.into(),
    };
    Drafts {
        key: key.clone(),
        comment_version,
        state: DraftState::Proposed,
        action: Action::ReplyPublic,
        action_reason: "une question sur une livraison, sans risque relevé".into(),
        intent: Some(Intent::DeliveryDelay),
        lang: "fr".into(),
        suggestions: vec![Suggestion {
            text: format!("Bonjour Camille, {text} L'équipe Acme 🙂"),
            engine: "grounded".into(),
            reply_ids: vec!["fr-livraison-retard".into(), "fr-livraison-suivi".into()],
            similarity: 0.8125,
            checks: vec![check("length", true, ""), check("sign_off", true, "")],
        }],
        rejected: vec![Rejected {
            text: "Vous serez remboursé demain !".into(),
            engine: "grounded".into(),
            reply_ids: vec!["fr-remboursement".into()],
            failed: vec![check("promise", false, "refund")],
        }],
        content_version: 3,
        created_at: Timestamp(1_764_000_000_000 + i64::from(comment_version)),
        generation: 0,
    }
}

/// Every draft store passes this: one record per comment, for its latest version.
/// `s` must hold no drafts.
pub async fn draft_store_contract<S: DraftStore + CommentStore>(s: &S) {
    let c = insert(
        s,
        &comment("acme", "d1", "post-9", "Toujours pas reçu", 20_000),
    )
    .await;
    let key = c.key.clone();
    assert_eq!(s.drafts(&key).await.unwrap(), None);
    assert!(
        !s.withdraw_drafts(&key).await.unwrap(),
        "nothing to withdraw"
    );
    assert_eq!(s.drafts(&key).await.unwrap(), None);

    // A repeat for the same comment version returns what is stored, unchanged.
    let v1 = drafts_for(&key, 1, "votre colis arrive.");
    assert_eq!(s.put_drafts(&v1).await.unwrap(), v1);
    assert_eq!(s.drafts(&key).await.unwrap(), Some(v1.clone()));
    let repeat = drafts_for(&key, 1, "un autre texte.");
    assert_eq!(
        s.put_drafts(&repeat).await.unwrap(),
        v1,
        "the first drafts stay"
    );
    assert_eq!(s.drafts(&key).await.unwrap(), Some(v1.clone()));

    // A later comment version replaces them; an earlier one comes too late.
    let v2 = drafts_for(&key, 2, "votre colis est en route.");
    assert_eq!(s.put_drafts(&v2).await.unwrap(), v2);
    assert_eq!(s.drafts(&key).await.unwrap(), Some(v2.clone()));
    assert_eq!(s.put_drafts(&v1).await.unwrap(), v2, "a late v1 keeps v2");
    assert_eq!(s.drafts(&key).await.unwrap(), Some(v2.clone()));

    // Withdrawn: only this comment's drafts, only their state.
    let other_key = CommentKey::new(brand("acme"), Platform::Facebook, "d2").unwrap();
    let other = drafts_for(&other_key, 1, "merci !");
    assert_eq!(s.put_drafts(&other).await.unwrap(), other);
    let globex_key = CommentKey::new(brand("globex"), Platform::Facebook, "d1").unwrap();
    let globex = drafts_for(&globex_key, 5, "thanks!");
    assert_eq!(s.put_drafts(&globex).await.unwrap(), globex);
    assert!(s.withdraw_drafts(&key).await.unwrap());
    let mut withdrawn = v2.clone();
    withdrawn.state = DraftState::Withdrawn;
    assert_eq!(s.drafts(&key).await.unwrap(), Some(withdrawn.clone()));
    assert!(
        s.withdraw_drafts(&key).await.unwrap(),
        "still there, still withdrawn"
    );
    assert_eq!(s.drafts(&key).await.unwrap(), Some(withdrawn.clone()));
    assert_eq!(s.drafts(&other_key).await.unwrap(), Some(other.clone()));
    assert_eq!(s.drafts(&globex_key).await.unwrap(), Some(globex));
    assert_eq!(
        s.put_drafts(&v2).await.unwrap(),
        withdrawn,
        "a repeat does not bring withdrawn drafts back"
    );
    // The comment, next to its drafts, is untouched.
    assert_eq!(s.get(&key).await.unwrap(), Some(c));

    // An edit drafted again replaces withdrawn drafts.
    let v3 = drafts_for(&key, 3, "voici le suivi.");
    assert_eq!(s.put_drafts(&v3).await.unwrap(), v3);
    assert_eq!(s.drafts(&key).await.unwrap(), Some(v3.clone()));

    // Regenerated drafts of the same version replace them; a repeat of an earlier
    // generation comes too late.
    let regenerated = Drafts {
        generation: 1,
        ..drafts_for(&key, 3, "voici le numéro de suivi.")
    };
    assert_eq!(s.put_drafts(&regenerated).await.unwrap(), regenerated);
    assert_eq!(
        s.put_drafts(&v3).await.unwrap(),
        regenerated,
        "generation 0 is older"
    );
    assert_eq!(s.drafts(&key).await.unwrap(), Some(regenerated.clone()));
    let v4 = drafts_for(&key, 4, "c'est reparti.");
    assert_eq!(
        s.put_drafts(&v4).await.unwrap(),
        v4,
        "a later version, first generation, replaces a regenerated earlier one"
    );
    assert_eq!(s.drafts(&other_key).await.unwrap(), Some(other));
    let missing = CommentKey::new(brand("acme"), Platform::Instagram, "d1").unwrap();
    assert!(!s.withdraw_drafts(&missing).await.unwrap());
    assert_eq!(s.drafts(&missing).await.unwrap(), None);
}

/// Reviews: stored only over the revision the writer read, each change with its audit
/// record, atomically; the audit trail in order; one comment's never another's.
pub async fn review_store_contract<S: ReviewStore>(s: &S) {
    use vigie_core::review::{Actor, Command, Review, Role, apply};
    let key = CommentKey::new(brand("acme"), Platform::Facebook, "r1").unwrap();
    let other = CommentKey::new(brand("acme"), Platform::Facebook, "r2").unwrap();
    assert_eq!(s.review(&key).await.unwrap(), None);
    assert!(s.audit(&key).await.unwrap().is_empty());

    let now = Timestamp(1_000_000);
    let opened = Review::open(&drafts_for(&key, 1, "votre colis arrive."), now);
    let camille = Actor::new("camille", Role::Responder);
    let (claimed, claim_audit) = apply(&opened, &Command::Claim, &camille, 0, now).unwrap();
    s.put_review(&claimed, None, &claim_audit).await.unwrap();
    assert_eq!(s.review(&key).await.unwrap(), Some(claimed.clone()));

    // a second first write (someone else opened it too) is refused, and writes nothing
    let (other_claim, other_audit) = apply(
        &opened,
        &Command::Claim,
        &Actor::new("lou", Role::Responder),
        0,
        now,
    )
    .unwrap();
    assert!(matches!(
        s.put_review(&other_claim, None, &other_audit).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.review(&key).await.unwrap(), Some(claimed.clone()));
    assert_eq!(
        s.audit(&key).await.unwrap(),
        std::slice::from_ref(&claim_audit)
    );

    // the next change over the revision read; a stale one is refused
    let later = Timestamp(now.0 + 1_000);
    let (approved, approve_audit) = apply(
        &claimed,
        &Command::Approve { index: 0 },
        &camille,
        claimed.revision,
        later,
    )
    .unwrap();
    s.put_review(&approved, Some(claimed.revision), &approve_audit)
        .await
        .unwrap();
    let (stale, stale_audit) = apply(
        &claimed,
        &Command::Ignore,
        &camille,
        claimed.revision,
        later,
    )
    .unwrap();
    assert!(matches!(
        s.put_review(&stale, Some(claimed.revision), &stale_audit)
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.review(&key).await.unwrap(), Some(approved.clone()));
    assert_eq!(
        s.audit(&key).await.unwrap(),
        [claim_audit, approve_audit],
        "oldest first, nothing from the refused write"
    );
    assert_eq!(s.review(&other).await.unwrap(), None);
    assert!(s.audit(&other).await.unwrap().is_empty());
}

/// Users: created once, changed only over the revision read, listed by name, removed.
pub async fn user_store_contract<S: UserStore>(s: &S) {
    use vigie_core::review::Role;
    use vigie_core::users::{User, UserName};
    let name = |n: &str| UserName::parse(n).unwrap();
    let user = |n: &str, revision: u64, roles: &[(&str, Role)]| User {
        name: name(n),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${n}{revision}"),
        roles: roles.iter().map(|(b, r)| (brand(b), *r)).collect(),
        revision,
        session_epoch: revision - 1,
        tokens: vec![vigie_core::users::ApiToken {
            id: format!("{revision:08x}"),
            label: format!("{n} script"),
            sha256: "0f".repeat(32),
            created_at: Timestamp(1_764_086_400_000 + revision as i64),
        }],
    };
    assert_eq!(s.user(&name("camille")).await.unwrap(), None);
    assert!(s.users().await.unwrap().is_empty());
    let camille = user(
        "camille",
        1,
        &[("acme", Role::Admin), ("globex", Role::Viewer)],
    );
    s.put_user(&camille, None).await.unwrap();
    assert!(matches!(
        s.put_user(&user("camille", 1, &[]), None).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        s.user(&name("camille")).await.unwrap(),
        Some(camille.clone())
    );
    let lou = user("lou", 1, &[("acme", Role::Responder)]);
    s.put_user(&lou, None).await.unwrap();
    assert_eq!(s.users().await.unwrap(), [camille.clone(), lou.clone()]);

    let changed = user("camille", 2, &[("acme", Role::Admin)]);
    s.put_user(&changed, Some(1)).await.unwrap();
    assert!(matches!(
        s.put_user(&user("camille", 2, &[]), Some(1)).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.user(&name("camille")).await.unwrap(), Some(changed));

    assert!(s.remove_user(&name("lou")).await.unwrap());
    assert!(!s.remove_user(&name("lou")).await.unwrap());
    assert_eq!(s.user(&name("lou")).await.unwrap(), None);
    assert_eq!(s.users().await.unwrap().len(), 1);
}

/// Feed states: absent until written, replaced whole, kept apart by feed key.
pub async fn poll_store_contract<S: vigie_core::poll::PollStore>(s: &S) {
    use vigie_core::poll::FeedState;
    let feed = "acme-youtube/youtube/UCaaaaaaaaaaaaaaaaaaaaaa";
    let other = "meta/facebook/100000000000001";
    assert_eq!(s.feed_state(feed).await.unwrap(), None);
    let first = FeedState {
        since: Some(Timestamp(1_764_086_400_000)),
        runs: 1,
        ..Default::default()
    };
    s.put_feed_state(feed, &first).await.unwrap();
    assert_eq!(s.feed_state(feed).await.unwrap(), Some(first));
    let backing_off = FeedState {
        since: Some(Timestamp(1_764_086_400_000)),
        backoff_until: Some(Timestamp(1_764_090_000_000)),
        failures: 3,
        last_run: Some(Timestamp(1_764_086_700_000)),
        last_error: Some("rate limited: quotaExceeded — « quota » épuisé".into()),
        runs: 7,
        missed: 2,
        paced_until: Some(Timestamp(1_764_090_000_000)),
        resume: vec![vigie_core::poll::Resume {
            page: "QURTSl9pMlB0ZkVrLXdJ".into(),
            until: Some(Timestamp(1_764_080_000_000)),
        }],
    };
    s.put_feed_state(feed, &backing_off).await.unwrap();
    assert_eq!(s.feed_state(feed).await.unwrap(), Some(backing_off.clone()));
    assert_eq!(s.feed_state(other).await.unwrap(), None);
    s.put_feed_state(other, &FeedState::default())
        .await
        .unwrap();
    assert_eq!(
        s.feed_state(other).await.unwrap(),
        Some(FeedState::default())
    );
    assert_eq!(s.feed_state(feed).await.unwrap(), Some(backing_off));

    // reads webhooks asked for: per feed, oldest first, once each, until done
    let ig = "meta/instagram/17841400000000001";
    let ig2 = "meta/instagram/178414000000000011";
    assert!(s.requested_reads(ig, 10).await.unwrap().is_empty());
    s.request_read(ig, "mention:17900000000000002", Timestamp(2_000))
        .await
        .unwrap();
    s.request_read(ig, "mention:17900000000000001", Timestamp(1_000))
        .await
        .unwrap();
    // asked again later: still one request, at its first time
    s.request_read(ig, "mention:17900000000000002", Timestamp(3_000))
        .await
        .unwrap();
    s.request_read(ig2, "mention-media:18000000000000009", Timestamp(500))
        .await
        .unwrap();
    assert_eq!(
        s.requested_reads(ig, 10).await.unwrap(),
        ["mention:17900000000000001", "mention:17900000000000002"]
    );
    assert_eq!(
        s.requested_reads(ig, 1).await.unwrap(),
        ["mention:17900000000000001"]
    );
    assert_eq!(
        s.requested_reads(ig2, 10).await.unwrap(),
        ["mention-media:18000000000000009"],
        "a feed whose key starts with another's is its own"
    );
    s.done_read(ig, "mention:17900000000000001").await.unwrap();
    s.done_read(ig, "mention:never-asked").await.unwrap();
    assert_eq!(
        s.requested_reads(ig, 10).await.unwrap(),
        ["mention:17900000000000002"]
    );
    assert!(s.requested_reads(feed, 10).await.unwrap().is_empty());
    assert_eq!(
        s.feed_state(ig).await.unwrap(),
        None,
        "reads are not feed states"
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

async fn listed_in<S: vigie_core::ports::Inbox>(
    s: &S,
    brand: &BrandId,
    now: Timestamp,
    filter: vigie_core::inbox::InboxFilter,
) -> Vec<String> {
    s.inbox(brand, &filter, None, 10, now)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.comment.key.external_id)
        .collect()
}

/// The managers' inbox: every store files triaged comments by urgency then age, pages
/// with a cursor, filters and counts alike, and follows the comment and its review in the
/// same writes. `s` must be empty.
pub async fn inbox_contract<S>(s: &S)
where
    S: vigie_core::ports::Inbox + CommentStore + ReviewStore,
{
    use vigie_core::inbox::{Assignee, InboxFilter};
    use vigie_core::review::{Actor, Command, Review, ReviewStatus, Role, apply};

    let acme = brand("acme");
    let now = Timestamp(2_000_000_000);
    let open = InboxFilter::default();
    let ids = |p: &vigie_core::inbox::InboxPage| -> Vec<String> {
        p.items
            .iter()
            .map(|i| i.comment.key.external_id.clone())
            .collect()
    };
    assert!(
        s.inbox(&acme, &open, None, 10, now)
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // (id, platform, urgency, received, sentiment, intent, sla minutes)
    let specs = [
        (
            "a",
            Platform::Facebook,
            80,
            1_000,
            Sentiment::Negative,
            Intent::RefundRequest,
            Some(15),
        ),
        (
            "b",
            Platform::Instagram,
            80,
            500,
            Sentiment::Negative,
            Intent::DeliveryDelay,
            Some(15),
        ),
        (
            "c",
            Platform::Facebook,
            40,
            100,
            Sentiment::Neutral,
            Intent::ProductQuestion,
            None,
        ),
        (
            "d",
            Platform::Instagram,
            60,
            2_000,
            Sentiment::Positive,
            Intent::ProductQuestion,
            Some(60_000),
        ),
        (
            "e",
            Platform::Facebook,
            80,
            1_000,
            Sentiment::Negative,
            Intent::RefundRequest,
            Some(15),
        ),
    ];
    let mut stored = std::collections::BTreeMap::new();
    for (id, platform, urgency, received, sentiment, intent, sla) in specs {
        let mut c = comment("acme", id, "t1", "où est ma commande ?", received);
        c.key = CommentKey::new(acme.clone(), platform, id).unwrap();
        let c = insert(s, &c).await;
        assert!(
            s.inbox(&acme, &open, None, 10, now)
                .await
                .unwrap()
                .items
                .iter()
                .all(|i| i.comment.key != c.key),
            "a comment waiting for triage is not in the inbox"
        );
        let mut t = triaged(c, urgency);
        let triage = t.triage.as_mut().unwrap();
        triage.sentiment.as_mut().unwrap().label = sentiment;
        triage.understanding.as_mut().unwrap().intent = intent;
        triage.urgency.respond_within_minutes = sla;
        stored.insert(id, s.update(&t).await.unwrap());
    }
    let mut other = comment("globex", "z", "t9", "bonjour", 50);
    other = insert(s, &other).await;
    s.update(&triaged(other, 99)).await.unwrap();

    // most urgent first, then oldest, then by platform and id
    let all = s.inbox(&acme, &open, None, 10, now).await.unwrap();
    assert_eq!(ids(&all), ["b", "a", "e", "d", "c"]);
    assert!(all.next.is_none());
    let first = &all.items[0];
    assert_eq!(first.facets.urgency, 80);
    assert_eq!(first.facets.platform, Platform::Instagram);
    assert_eq!(first.facets.status, ReviewStatus::New);
    assert_eq!(first.facets.sla_due, Some(Timestamp(500 + 15 * 60_000)));
    assert_eq!(first.comment, stored["b"], "the comment as stored");

    // pages of two, each after the last one's cursor, cover everything once
    let mut seen = vec![];
    let mut after = None;
    loop {
        let page = s.inbox(&acme, &open, after.as_ref(), 2, now).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(ids(&page));
        match page.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ["b", "a", "e", "d", "c"]);

    // filters, alone and together
    assert_eq!(
        listed_in(
            s,
            &acme,
            now,
            InboxFilter {
                platform: Some(Platform::Facebook),
                ..open.clone()
            }
        )
        .await,
        ["a", "e", "c"]
    );
    assert_eq!(
        listed_in(
            s,
            &acme,
            now,
            InboxFilter {
                sentiment: Some(Sentiment::Positive),
                ..open.clone()
            }
        )
        .await,
        ["d"]
    );
    assert_eq!(
        listed_in(
            s,
            &acme,
            now,
            InboxFilter {
                intent: Some(Intent::ProductQuestion),
                ..open.clone()
            }
        )
        .await,
        ["d", "c"]
    );
    assert_eq!(
        listed_in(
            s,
            &acme,
            now,
            InboxFilter {
                sla_breached: Some(true),
                ..open.clone()
            }
        )
        .await,
        ["b", "a", "e"]
    );
    assert_eq!(
        listed_in(
            s,
            &acme,
            now,
            InboxFilter {
                sla_breached: Some(false),
                ..open.clone()
            }
        )
        .await,
        ["d", "c"]
    );
    assert_eq!(
        listed_in(
            s,
            &acme,
            now,
            InboxFilter {
                platform: Some(Platform::Facebook),
                sla_breached: Some(true),
                ..open.clone()
            }
        )
        .await,
        ["a", "e"]
    );

    // reviews move comments between statuses and assignees, in the same write
    let camille = Actor::new("camille", Role::Responder);
    let review_of = |id: &str| {
        let key = stored[id].key.clone();
        let drafts = drafts_for(&key, 1, "votre colis arrive.");
        Review::open(&drafts, now)
    };
    let a = review_of("a");
    let (claimed, audit) = apply(&a, &Command::Claim, &camille, 0, now).unwrap();
    s.put_review(&claimed, None, &audit).await.unwrap();
    let e = review_of("e");
    let (hidden, audit) = apply(&e, &Command::Hide, &camille, 0, now).unwrap();
    s.put_review(&hidden, None, &audit).await.unwrap();
    let c = review_of("c");
    let (approved, audit) = apply(&c, &Command::Approve { index: 0 }, &camille, 0, now).unwrap();
    s.put_review(&approved, None, &audit).await.unwrap();
    let (sent, audit) = apply(
        &approved,
        &Command::MarkSent {
            platform_reply_id: "r-1".into(),
        },
        &camille,
        approved.revision,
        now,
    )
    .unwrap();
    s.put_review(&sent, Some(approved.revision), &audit)
        .await
        .unwrap();

    assert_eq!(
        listed_in(s, &acme, now, open.clone()).await,
        ["b", "a", "d"],
        "hidden and replied ones leave the open list"
    );
    let page = s.inbox(&acme, &open, None, 10, now).await.unwrap();
    assert_eq!(page.items[1].facets.status, ReviewStatus::InProgress);
    assert_eq!(page.items[1].facets.assignee(now), Some("camille"));
    assert_eq!(
        listed_in(
            s,
            &acme,
            now,
            InboxFilter {
                statuses: vec![ReviewStatus::Hidden],
                ..open.clone()
            }
        )
        .await,
        ["e"]
    );
    assert!(
        listed_in(
            s,
            &acme,
            now,
            InboxFilter {
                statuses: vec![ReviewStatus::Replied],
                ..open.clone()
            }
        )
        .await
        .is_empty(),
        "a replied comment has left the inbox"
    );
    let mine = InboxFilter {
        assignee: Some(Assignee::User("camille".into())),
        ..open.clone()
    };
    assert_eq!(listed_in(s, &acme, now, mine.clone()).await, ["a"]);
    assert_eq!(
        listed_in(
            s,
            &acme,
            now,
            InboxFilter {
                assignee: Some(Assignee::Nobody),
                ..open.clone()
            }
        )
        .await,
        ["b", "d"]
    );
    // once the claim expires, it is nobody's
    let later = Timestamp(now.0 + vigie_core::review::CLAIM_LENGTH_MS);
    assert!(ids(&s.inbox(&acme, &mine, None, 10, later).await.unwrap()).is_empty());

    // counts: each facet's values with the other filters applied
    let counts = s.inbox_counts(&acme, &open, now).await.unwrap();
    assert_eq!(counts.matching, 3);
    assert_eq!(counts.platform["instagram"], 2);
    assert_eq!(counts.platform["facebook"], 1);
    assert_eq!(counts.status["new"], 2);
    assert_eq!(counts.status["in_progress"], 1);
    assert_eq!(counts.status["hidden"], 1);
    assert!(!counts.status.contains_key("replied"));
    assert_eq!(counts.assignee["camille"], 1);
    assert_eq!(counts.assignee["none"], 2);
    assert_eq!(counts.sla_breached["true"], 2);
    assert_eq!(counts.intent["product_question"], 1);
    let fb = s
        .inbox_counts(
            &acme,
            &InboxFilter {
                platform: Some(Platform::Facebook),
                ..open.clone()
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!(fb.matching, 1);
    assert_eq!(
        fb.platform["instagram"], 2,
        "a facet's own filter does not narrow its counts"
    );
    assert_eq!(fb.sentiment["negative"], 1);
    // counts read at another instant: claims expire, due dates pass
    let expired = s.inbox_counts(&acme, &open, later).await.unwrap();
    assert!(!expired.assignee.contains_key("camille"), "{expired:?}");
    assert_eq!(expired.assignee["none"], 3);
    let before = s.inbox_counts(&acme, &open, Timestamp(0)).await.unwrap();
    assert_eq!(before.matching, 3);
    assert!(!before.sla_breached.contains_key("true"), "{before:?}");
    assert_eq!(before.sla_breached["false"], 3);

    // an edit is a new version: new again, whatever the last version's review said
    let mut edited = s.get(&stored["a"].key).await.unwrap().unwrap();
    edited.version = 2;
    edited.state = CommentState::Received;
    edited.triage = None;
    let edited = s.update(&edited).await.unwrap();
    assert_eq!(
        listed_in(s, &acme, now, open.clone()).await,
        ["b", "d"],
        "waiting for triage again"
    );
    let again = s.update(&triaged(edited, 80)).await.unwrap();
    let page = s.inbox(&acme, &open, None, 10, now).await.unwrap();
    assert_eq!(ids(&page), ["b", "a", "d"]);
    assert_eq!(page.items[1].facets.status, ReviewStatus::New);
    assert_eq!(page.items[1].facets.claimed_by, None);
    // a delete takes it out
    let mut deleted = again.clone();
    deleted.state = CommentState::Deleted;
    s.update(&deleted).await.unwrap();
    assert_eq!(listed_in(s, &acme, now, open.clone()).await, ["b", "d"]);
    let counts = s.inbox_counts(&acme, &open, now).await.unwrap();
    assert_eq!(counts.matching, 2, "{counts:?}");
    assert_eq!(
        counts.status.values().sum::<u64>(),
        3,
        "b, d and the hidden e"
    );
    assert!(!counts.assignee.contains_key("camille"), "{counts:?}");

    // another brand's comments are never listed or counted
    let globex = s
        .inbox(&brand("globex"), &open, None, 10, now)
        .await
        .unwrap();
    assert_eq!(ids(&globex), ["z"]);
    assert_eq!(
        s.inbox_counts(&brand("globex"), &open, now)
            .await
            .unwrap()
            .matching,
        1
    );
}

/// Report facts: the brand's comments received in the window (triaged ones), each with
/// its review; none of another brand's or from outside the window.
pub async fn report_facts_contract<S>(s: &S)
where
    S: vigie_core::ports::ReportFacts + CommentStore + ReviewStore,
{
    use vigie_core::review::{Actor, Command, Review, ReviewStatus, Role, apply};
    let acme = brand("acme");
    let window = Timestamp(10_000)..Timestamp(20_000);
    for (b, id, at, triage) in [
        ("acme", "in1", 10_000, true),
        ("acme", "in2", 19_999, true),
        ("acme", "waiting", 15_000, false),
        ("acme", "before", 9_999, true),
        ("acme", "after", 20_000, true),
        ("globex", "other", 15_000, true),
    ] {
        let c = insert(s, &comment(b, id, "t", "où est ma commande ?", at)).await;
        if triage {
            s.update(&triaged(c, 60)).await.unwrap();
        }
    }
    let key = CommentKey::new(acme.clone(), Platform::Facebook, "in2").unwrap();
    let opened = Review::open(
        &drafts_for(&key, 1, "votre colis arrive."),
        Timestamp(19_999),
    );
    let camille = Actor::new("camille", Role::Responder);
    let (approved, audit) = apply(
        &opened,
        &Command::Approve { index: 0 },
        &camille,
        0,
        Timestamp(30_000),
    )
    .unwrap();
    s.put_review(&approved, None, &audit).await.unwrap();
    let (sent, audit) = apply(
        &approved,
        &Command::MarkSent {
            platform_reply_id: "r1".into(),
        },
        &camille,
        approved.revision,
        Timestamp(40_000),
    )
    .unwrap();
    s.put_review(&sent, Some(approved.revision), &audit)
        .await
        .unwrap();

    let mut facts = s.report_facts(&acme, window.clone()).await.unwrap();
    facts.sort_by_key(|f| f.received_at);
    let at: Vec<i64> = facts.iter().map(|f| f.received_at.0).collect();
    assert_eq!(
        at,
        [10_000, 19_999],
        "triaged, of this brand, inside the window"
    );
    assert_eq!(facts[0].status, ReviewStatus::New);
    assert_eq!(facts[1].status, ReviewStatus::Replied);
    let first = facts[1].first_response.as_ref().expect("the reply");
    assert_eq!(first.at, Timestamp(40_000));
    assert!(!first.ai_edited);
    assert!(
        s.report_facts(&brand("nosuch"), window)
            .await
            .unwrap()
            .is_empty()
    );
}
