//! The store and queue contract suites against every adapter.

use std::sync::Arc;

use vigie_core::time::Timestamp;
use vigie_sqlite::ManualClock;
use vigie_tests::contract::{
    concurrent_claims_contract, content_store_contract, draft_store_contract, inbox_contract,
    poll_store_contract, queue_contract, report_facts_contract, review_store_contract,
    store_contract, user_store_contract,
};
use vigie_tests::moto::{moto, queue_with_dlq, table};

#[tokio::test]
async fn sqlite_store_passes_the_contract() {
    let db = vigie_sqlite::Database::in_memory().unwrap();
    store_contract(&db.store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_lets_one_of_concurrent_claims_win() {
    let dir = tempfile::tempdir().unwrap();
    let db = vigie_sqlite::Database::open(&dir.path().join("vigie.db")).unwrap();
    concurrent_claims_contract(&db.store()).await;
}

#[tokio::test]
async fn sqlite_store_on_disk_passes_the_contract_and_keeps_data_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigie.db");
    store_contract(&vigie_sqlite::Database::open(&path).unwrap().store()).await;
    // A new process (a new connection) sees everything written before.
    let reopened = vigie_sqlite::Database::open(&path).unwrap().store();
    use vigie_core::ports::CommentRead;
    let kept = reopened
        .thread(
            &vigie_tests::contract::comment("acme", "x", "post-3", "x", 0).thread(),
            10,
        )
        .await
        .unwrap();
    assert_eq!(kept.len(), 4, "the triaged comments of post-3");
    assert!(kept.iter().all(|c| c.triage.is_some()));
}

#[tokio::test]
async fn dynamodb_store_passes_the_contract() {
    let Some(moto) = moto() else { return };
    let store = table(&moto.sdk_config().await).await;
    store_contract(&store).await;
}

#[tokio::test]
async fn sqlite_content_and_draft_stores_pass_the_contract() {
    let db = vigie_sqlite::Database::in_memory().unwrap();
    content_store_contract(&db.store()).await;
    draft_store_contract(&db.store()).await;
}

#[tokio::test]
async fn sqlite_content_and_draft_stores_on_disk_pass_the_contract_and_keep_data_across_reopen() {
    use vigie_core::ports::{BrandContentStore, DraftStore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigie.db");
    let store = vigie_sqlite::Database::open(&path).unwrap().store();
    content_store_contract(&store).await;
    draft_store_contract(&store).await;
    let reopened = vigie_sqlite::Database::open(&path).unwrap().store();
    let acme = vigie_tests::contract::brand("acme");
    assert_eq!(
        reopened.content(&acme).await.unwrap(),
        store.content(&acme).await.unwrap()
    );
    assert_eq!(reopened.content(&acme).await.unwrap().unwrap().version, 3);
    let key = vigie_core::CommentKey::new(acme, vigie_core::Platform::Facebook, "d1").unwrap();
    assert_eq!(
        reopened
            .drafts(&key)
            .await
            .unwrap()
            .unwrap()
            .comment_version,
        4,
        "the contract's last drafts are of version 4"
    );
}

#[tokio::test]
async fn dynamodb_content_store_passes_the_contract() {
    let Some(moto) = moto() else { return };
    let store = table(&moto.sdk_config().await).await;
    content_store_contract(&store).await;
}

#[tokio::test]
async fn dynamodb_draft_store_passes_the_contract() {
    let Some(moto) = moto() else { return };
    let store = table(&moto.sdk_config().await).await;
    draft_store_contract(&store).await;
}

#[tokio::test]
async fn sqlite_queue_passes_the_contract() {
    let clock = Arc::new(ManualClock::new(Timestamp::now()));
    let db = vigie_sqlite::Database::in_memory()
        .unwrap()
        .with_clock(clock.clone());
    let q = db.queue("classify", 3);
    queue_contract(&q, &q.dead_letters(), async |d| clock.advance(d)).await;
}

#[tokio::test]
async fn sqs_queue_passes_the_contract() {
    let Some(moto) = moto() else { return };
    let (q, dlq) = queue_with_dlq(&moto.sdk_config().await, 3).await;
    queue_contract(&q, &dlq, async |d| tokio::time::sleep(d).await).await;
}

#[tokio::test]
async fn sqlite_queue_keeps_messages_across_a_crash() {
    use vigie_core::ports::{OutgoingMessage, QueueReceive, QueueSend};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigie.db");
    let clock = Arc::new(ManualClock::new(Timestamp::now()));
    {
        let db = vigie_sqlite::Database::open(&path)
            .unwrap()
            .with_clock(clock.clone());
        let q = db.queue("classify", 5);
        let m = |id: &str| OutgoingMessage {
            id: id.into(),
            body: format!("{{\"id\":\"{id}\"}}"),
            attributes: vec![],
        };
        q.send(&[m("a"), m("b")]).await.unwrap();
        // Taken by a worker that dies before acking: hidden for its visibility timeout only.
        assert_eq!(q.receive(1, 1).await.unwrap().len(), 1);
    } // the process is gone
    clock.advance(std::time::Duration::from_millis(1100));
    let q = vigie_sqlite::Database::open(&path)
        .unwrap()
        .with_clock(clock)
        .queue("classify", 5);
    let got = q.receive(10, 30).await.unwrap();
    let mut ids: Vec<&str> = got.iter().map(|d| d.message_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(got.iter().map(|d| d.receive_count).max(), Some(2));
}

#[tokio::test]
async fn sqlite_review_store_passes_the_contract() {
    let db = vigie_sqlite::Database::in_memory().unwrap();
    review_store_contract(&db.store()).await;
}

#[tokio::test]
async fn dynamodb_review_store_passes_the_contract() {
    let Some(moto) = moto() else { return };
    let store = table(&moto.sdk_config().await).await;
    review_store_contract(&store).await;
}

#[tokio::test]
async fn sqlite_inbox_passes_the_contract() {
    let db = vigie_sqlite::Database::in_memory().unwrap();
    inbox_contract(&db.store()).await;
}

#[tokio::test]
async fn dynamodb_inbox_passes_the_contract() {
    let Some(moto) = moto() else { return };
    let store = table(&moto.sdk_config().await).await;
    inbox_contract(&store).await;
}

async fn listed(store: &vigie_sqlite::SqliteStore) -> Vec<String> {
    use vigie_core::inbox::InboxFilter;
    use vigie_core::ports::Inbox;
    let acme = vigie_tests::contract::brand("acme");
    let page = store
        .inbox(
            &acme,
            &InboxFilter::default(),
            None,
            10,
            Timestamp(2_000_000_000),
        )
        .await
        .unwrap();
    page.items
        .into_iter()
        .map(|i| i.comment.key.external_id)
        .collect()
}

#[tokio::test]
async fn sqlite_inbox_on_disk_passes_the_contract_and_files_an_older_database_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigie.db");
    inbox_contract(&vigie_sqlite::Database::open(&path).unwrap().store()).await;
    let before = listed(&vigie_sqlite::Database::open(&path).unwrap().store()).await;
    assert_eq!(before, ["b", "d"]);
    // a database from before the inbox: no inbox rows, user_version 0
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DELETE FROM inbox; PRAGMA user_version = 0;")
            .unwrap();
    }
    let after = listed(&vigie_sqlite::Database::open(&path).unwrap().store()).await;
    assert_eq!(after, before, "filed again from the comments and reviews");
    let counts = || async {
        use vigie_core::ports::Inbox;
        let store = vigie_sqlite::Database::open(&path).unwrap().store();
        let open = vigie_core::inbox::InboxFilter::default();
        let acme = vigie_tests::contract::brand("acme");
        store
            .inbox_counts(&acme, &open, Timestamp(2_000_000_000))
            .await
            .unwrap()
    };
    let counted = counts().await;
    assert_eq!(counted.matching, after.len() as u64);
    // a database from before the tally: inbox rows, no tally, user_version 1
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER inbox_tally_insert; DROP TRIGGER inbox_tally_delete;
             DROP TRIGGER inbox_tally_update; DROP TABLE inbox_tally; PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    assert_eq!(counts().await, counted, "counted again from the inbox rows");
}

#[tokio::test]
async fn sqlite_report_facts_pass_the_contract() {
    let db = vigie_sqlite::Database::in_memory().unwrap();
    report_facts_contract(&db.store()).await;
}

#[tokio::test]
async fn dynamodb_report_facts_pass_the_contract() {
    let Some(moto) = moto() else { return };
    let store = table(&moto.sdk_config().await).await;
    report_facts_contract(&store).await;
}

#[tokio::test]
async fn sqlite_user_store_passes_the_contract() {
    let db = vigie_sqlite::Database::in_memory().unwrap();
    user_store_contract(&db.store()).await;
}

#[tokio::test]
async fn dynamodb_user_store_passes_the_contract() {
    let Some(moto) = moto() else { return };
    let store = table(&moto.sdk_config().await).await;
    user_store_contract(&store).await;
}

#[tokio::test]
async fn sqlite_poll_store_passes_the_contract() {
    let db = vigie_sqlite::Database::in_memory().unwrap();
    poll_store_contract(&db.store()).await;
}

#[tokio::test]
async fn dynamodb_poll_store_passes_the_contract() {
    let Some(moto) = moto() else { return };
    let store = table(&moto.sdk_config().await).await;
    poll_store_contract(&store).await;
}

/// A store whose client runs `meanwhile` (on a thread of its own, to completion) just
/// before its first `TransactWriteItems` is sent: another writer slipping in between what
/// the store read and what it writes.
async fn interrupted_once(
    conf: &aws_config::SdkConfig,
    table: &str,
    meanwhile: impl FnOnce() + Send + 'static,
) -> vigie_aws::DynamoStore {
    use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
    use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;

    type Once = std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>;
    struct Interrupt(Once);
    impl std::fmt::Debug for Interrupt {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Interrupt")
        }
    }
    impl Intercept for Interrupt {
        fn name(&self) -> &'static str {
            "interrupt"
        }
        fn read_before_execution(
            &self,
            context: &BeforeSerializationInterceptorContextRef<'_>,
            _: &mut ConfigBag,
        ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
            let transaction = context
                .input()
                .downcast_ref::<TransactWriteItemsInput>()
                .is_some();
            let meanwhile = transaction.then(|| self.0.lock().unwrap().take()).flatten();
            if let Some(f) = meanwhile {
                std::thread::spawn(f).join().unwrap();
            }
            Ok(())
        }
    }
    let once: Once = std::sync::Mutex::new(Some(Box::new(meanwhile)));
    let config = aws_sdk_dynamodb::config::Builder::from(conf)
        .interceptor(Interrupt(once))
        .build();
    vigie_aws::DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), table)
}

/// Runs `write` on a store of its own (its own client and runtime: the test's runtime is
/// blocked meanwhile) and waits for it.
fn meanwhile_on(
    table: String,
    write: impl AsyncFnOnce(vigie_aws::DynamoStore) + Send + 'static,
) -> impl FnOnce() + Send + 'static {
    move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let conf = moto().unwrap().sdk_config().await;
                let client = aws_sdk_dynamodb::Client::new(&conf);
                write(vigie_aws::DynamoStore::new(client, table)).await;
            })
    }
}

#[tokio::test]
async fn dynamodb_inbox_follows_a_review_or_a_comment_written_in_between() {
    use vigie_core::inbox::InboxFilter;
    use vigie_core::ports::{CommentRead, CommentWrite, Inbox, ReviewStore};
    use vigie_core::review::{Actor, Command, Review, ReviewStatus, Role, apply};
    use vigie_tests::contract::{comment, drafts_for, triaged};

    let Some(moto) = moto() else { return };
    let conf = moto.sdk_config().await;
    let name = vigie_tests::moto::unique("vigie");
    let client = aws_sdk_dynamodb::Client::new(&conf);
    vigie_aws::TableSpec::create(&client, &name).await.unwrap();
    let plain = vigie_aws::DynamoStore::new(client, name.clone());
    let acme = vigie_tests::contract::brand("acme");
    let now = Timestamp(2_000_000_000);
    let listed = async |store: &vigie_aws::DynamoStore| {
        let statuses = vec![ReviewStatus::New, ReviewStatus::InProgress];
        let filter = InboxFilter {
            statuses,
            ..InboxFilter::default()
        };
        let page = store.inbox(&acme, &filter, None, 10, now).await.unwrap();
        assert_eq!(page.items.len(), 1);
        page.items.into_iter().next().unwrap()
    };

    let c = match plain
        .insert_if_new(&comment("acme", "i1", "t1", "où est ma commande ?", 1_000))
        .await
        .unwrap()
    {
        vigie_core::ports::Inserted::New(c) => c,
        other => panic!("{other:?}"),
    };
    let c = plain.update(&triaged(c, 60)).await.unwrap();
    let key = c.key.clone();
    let camille = Actor::new("camille", Role::Responder);
    let opened = Review::open(&drafts_for(&key, 1, "votre colis arrive."), now);
    let (claimed, audit) = apply(&opened, &Command::Claim, &camille, 0, now).unwrap();

    // a review written between the update's read of the review and its transaction: the
    // update is tried again over it, and the inbox files both
    let review = (claimed.clone(), audit.clone());
    let meanwhile = meanwhile_on(name.clone(), async move |writer| {
        writer.put_review(&review.0, None, &review.1).await.unwrap();
    });
    let store = interrupted_once(&conf, &name, meanwhile).await;
    let rescored = store.update(&triaged(c, 70)).await.unwrap();
    assert_eq!(plain.review(&key).await.unwrap(), Some(claimed.clone()));
    let entry = listed(&plain).await;
    assert_eq!(entry.comment, rescored);
    assert_eq!(entry.facets.urgency, 70);
    assert_eq!(entry.facets.status, ReviewStatus::InProgress);
    assert_eq!(entry.facets.assignee(now), Some("camille"));

    // a comment update between a review put's read of the comment and its transaction
    let moved = rescored.clone();
    let meanwhile = meanwhile_on(name.clone(), async move |writer| {
        writer.update(&triaged(moved, 90)).await.unwrap();
    });
    let store = interrupted_once(&conf, &name, meanwhile).await;
    let (released, audit) =
        apply(&claimed, &Command::Release, &camille, claimed.revision, now).unwrap();
    store
        .put_review(&released, Some(claimed.revision), &audit)
        .await
        .unwrap();
    let entry = listed(&plain).await;
    assert_eq!(entry.comment, plain.get(&key).await.unwrap().unwrap());
    assert_eq!(entry.facets.urgency, 90);
    assert_eq!(entry.facets.assignee(now), None, "released");

    // a stale comment is still a conflict, and writes nothing
    assert!(matches!(
        plain.update(&triaged(rescored, 10)).await,
        Err(vigie_core::ports::StoreError::Conflict)
    ));
    assert_eq!(listed(&plain).await.facets.urgency, 90);
}

/// An inbox entry whose comment item is gone (a hand-made deletion, a restore gone
/// wrong) is left out of its page; the pages around it still list every other comment,
/// and paging goes on past it.
#[tokio::test]
async fn dynamodb_inbox_leaves_out_an_entry_without_its_comment() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use vigie_core::inbox::InboxFilter;
    use vigie_core::ports::{CommentWrite, Inbox};
    use vigie_tests::contract::{comment, triaged};

    let Some(moto) = moto() else { return };
    let conf = moto.sdk_config().await;
    let store = table(&conf).await;
    let acme = vigie_tests::contract::brand("acme");
    let now = Timestamp(2_000_000_000);
    for (i, urgency) in [("o1", 90), ("o2", 80), ("o3", 70), ("o4", 60)] {
        let c = match store
            .insert_if_new(&comment("acme", i, "t1", "où est ma commande ?", 1_000))
            .await
            .unwrap()
        {
            vigie_core::ports::Inserted::New(c) => c,
            other => panic!("{other:?}"),
        };
        store.update(&triaged(c, urgency)).await.unwrap();
    }
    aws_sdk_dynamodb::Client::new(&conf)
        .delete_item()
        .table_name(store.table_name())
        .key("PK", AttributeValue::S("C#acme#facebook#o2".into()))
        .key("SK", AttributeValue::S("C".into()))
        .send()
        .await
        .unwrap();
    let filter = InboxFilter::default();
    let mut listed = Vec::new();
    let mut pages = 0;
    let mut after = None;
    loop {
        let page = store
            .inbox(&acme, &filter, after.as_ref(), 1, now)
            .await
            .unwrap();
        pages += 1;
        listed.extend(page.items.iter().map(|i| i.comment.key.external_id.clone()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(listed, ["o1", "o3", "o4"]);
    assert_eq!(
        pages, 4,
        "the orphan's page is empty, and the next goes on after it"
    );
}

/// A table from before the inbox: its comments and reviews, no inbox items. The refile
/// files them as the writes would have, twice over changes nothing, and takes out an
/// item whose comment is not in the inbox.
#[tokio::test]
async fn dynamodb_refile_files_a_table_written_before_the_inbox() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use vigie_core::inbox::InboxFilter;
    use vigie_core::ports::Inbox;
    let Some(moto) = moto() else { return };
    let conf = moto.sdk_config().await;
    let store = table(&conf).await;
    inbox_contract(&store).await;
    let acme = vigie_tests::contract::brand("acme");
    let at = Timestamp(2_000_000_000);
    let open = InboxFilter::default();
    let listed = |store: &vigie_aws::DynamoStore| {
        let (store, acme, open) = (store.clone(), acme.clone(), open.clone());
        async move {
            let page = store.inbox(&acme, &open, None, 50, at).await.unwrap();
            let ids: Vec<String> = page
                .items
                .into_iter()
                .map(|i| i.comment.key.external_id)
                .collect();
            let counts = store.inbox_counts(&acme, &open, at).await.unwrap();
            (ids, counts)
        }
    };
    let before = listed(&store).await;
    assert!(!before.0.is_empty());

    // every inbox item gone, as in a table written before the inbox
    let client = aws_sdk_dynamodb::Client::new(&conf);
    let entries = client
        .scan()
        .table_name(store.table_name())
        .filter_expression("SK = :i")
        .expression_attribute_values(":i", AttributeValue::S("I".into()))
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = entries
        .items()
        .iter()
        .map(|i| (i["PK"].clone(), i["SK"].clone()))
        .collect();
    assert_eq!(
        keys.len(),
        before.0.len() + 2,
        "acme's and the hidden and globex ones"
    );
    for (pk, sk) in &keys {
        client
            .delete_item()
            .table_name(store.table_name())
            .key("PK", pk.clone())
            .key("SK", sk.clone())
            .send()
            .await
            .unwrap();
    }
    assert!(listed(&store).await.0.is_empty());

    let mut heard = Vec::new();
    let done = store
        .refile_inbox(&mut |so_far| heard.push(so_far))
        .await
        .unwrap();
    assert_eq!(done.filed as usize, keys.len(), "{done:?}");
    assert_eq!(done.removed, 0);
    assert_eq!(done.seen, done.filed + done.unchanged);
    assert_eq!(heard.last(), Some(&done), "progress after each page");
    assert_eq!(listed(&store).await, before, "listed and counted as before");

    let again = store.refile_inbox(&mut |_| {}).await.unwrap();
    assert_eq!((again.filed, again.removed), (0, 0), "{again:?}");
    assert_eq!(again.unchanged, again.seen);
    assert_eq!(again.rewritten, 0, "every comment item in today's layout");

    // a stray item for a comment that is not in the inbox (no triage) is taken out
    let stray = client
        .scan()
        .table_name(store.table_name())
        .filter_expression("SK = :c AND attribute_not_exists(open_urgency)")
        .expression_attribute_values(":c", AttributeValue::S("C".into()))
        .send()
        .await
        .unwrap();
    let pk = stray.items()[0]["PK"].clone();
    client
        .put_item()
        .table_name(store.table_name())
        .item("PK", pk)
        .item("SK", AttributeValue::S("I".into()))
        .item("type", AttributeValue::S("inbox".into()))
        .send()
        .await
        .unwrap();
    let mended = store.refile_inbox(&mut |_| {}).await.unwrap();
    assert_eq!((mended.filed, mended.removed), (0, 1), "{mended:?}");

    // an older layout: a listed comment on GSI2 under OPEN# without `open_urgency`, and
    // its inbox entry holding the comment's body
    let pk = client
        .scan()
        .table_name(store.table_name())
        .filter_expression("SK = :i AND brand = :acme")
        .expression_attribute_values(":i", AttributeValue::S("I".into()))
        .expression_attribute_values(":acme", AttributeValue::S("acme".into()))
        .send()
        .await
        .unwrap()
        .items()[0]["PK"]
        .clone();
    let item = |sk: &str| {
        let (client, table, pk, sk) = (
            client.clone(),
            store.table_name().to_owned(),
            pk.clone(),
            sk.to_owned(),
        );
        async move {
            client
                .get_item()
                .table_name(table)
                .key("PK", pk)
                .key("SK", AttributeValue::S(sk))
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        }
    };
    let (current, entry) = (item("C").await, item("I").await);
    let mut old = current.clone();
    let urgency = old.remove("open_urgency").unwrap();
    old.insert("GSI2PK".into(), AttributeValue::S("OPEN#acme".into()));
    old.insert("GSI2SK".into(), urgency);
    let mut old_entry = entry.clone();
    old_entry.insert("body".into(), current["body"].clone());
    for i in [old, old_entry] {
        client
            .put_item()
            .table_name(store.table_name())
            .set_item(Some(i))
            .send()
            .await
            .unwrap();
    }
    let upgraded = store.refile_inbox(&mut |_| {}).await.unwrap();
    assert_eq!(
        (upgraded.filed, upgraded.removed, upgraded.rewritten),
        (1, 0, 1),
        "{upgraded:?}"
    );
    assert_eq!(
        item("C").await,
        current,
        "the comment item as written today"
    );
    assert_eq!(item("I").await, entry, "the entry without the body");
    assert_eq!(listed(&store).await, before);
}
