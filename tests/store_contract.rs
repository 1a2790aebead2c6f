//! The store and queue contract suites against every adapter.

use std::sync::Arc;

use vigie_core::time::Timestamp;
use vigie_sqlite::ManualClock;
use vigie_tests::contract::{
    concurrent_claims_contract, content_store_contract, draft_store_contract, inbox_contract,
    queue_contract, review_store_contract, store_contract, user_store_contract,
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
    use vigie_core::ports::OpenComments;
    let open = reopened
        .open_by_urgency(&vigie_tests::contract::brand("acme"), 10)
        .await
        .unwrap();
    assert_eq!(open.len(), 3);
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
        3
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
