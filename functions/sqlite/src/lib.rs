//! SQLite adapters: the comment store and durable queues in one database file.
//!
//! Everything is on disk before a call returns (WAL journal): a crash loses no comment
//! and no message. The same store keeps brand content (every version) and reply drafts
//! (one record per comment). Queues follow SQS's rules: a received message is hidden for its
//! visibility timeout, counts its receives, and moves to `<queue>-dlq` when it is
//! received again after `max_receives` attempts.

mod clock;
mod inbox;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use vigie_core::comment::{BrandId, Comment, CommentKey, CommentState, ThreadKey};
use vigie_core::content::BrandContent;
use vigie_core::drafts::{DraftState, Drafts};
use vigie_core::poll::{FeedState, PollStore, ReadRequests};
use vigie_core::ports::{
    BrandContentStore, Claim, CommentRead, CommentWrite, Delivery, DraftStore, Inserted,
    OutgoingMessage, PendingComments, QueueError, QueueReceive, QueueSend, RawArchive, RawDelivery,
    ReviewStore, SeenEvents, StoreError, UserStore,
};
use vigie_core::review::{AuditRecord, Review};
use vigie_core::time::Timestamp;
use vigie_core::users::{User, UserName};

pub use clock::{Clock, ManualClock, SystemClock};

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot start the database writer: {0}")]
    Writer(std::io::Error),
}

const SCHEMA: &str = r#"
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;
CREATE TABLE IF NOT EXISTS comments (
    key TEXT PRIMARY KEY,
    brand TEXT NOT NULL,
    thread_key TEXT NOT NULL,
    state TEXT NOT NULL,
    urgency INTEGER,
    received_at INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_thread ON comments (thread_key, received_at);
CREATE INDEX IF NOT EXISTS comments_open ON comments (brand, urgency DESC, received_at DESC) WHERE state = 'triaged';
CREATE INDEX IF NOT EXISTS comments_pending ON comments (received_at) WHERE state = 'received';
CREATE TABLE IF NOT EXISTS raw_deliveries (
    id TEXT PRIMARY KEY,
    platform TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_events (
    event_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS queue_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    sent_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_ready ON queue_messages (queue, visible_at, seq);
CREATE TABLE IF NOT EXISTS brand_content (
    brand TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (brand, version)
);
CREATE TABLE IF NOT EXISTS drafts (
    key TEXT PRIMARY KEY,
    comment_version INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    key TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_key ON audit (key, seq);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS poll_feeds (
    feed TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS poll_reads (
    feed TEXT NOT NULL,
    page TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (feed, page)
);
"#;

/// One database file shared by the store and the queues.
///
/// Writes are serialized on one connection owned by a writer thread, which commits the
/// writes waiting at the same moment in one transaction (each in its own savepoint, so one
/// failing write never undoes another); a caller hears back only after the commit. Reads
/// run on their own connections (WAL lets them proceed while a write is in progress), so a
/// long write never holds a read up. A private in-memory database has one connection, so
/// its reads go through the writer too.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    writer: mpsc::Sender<Job>,
    /// Idle read connections; `None` for an in-memory database.
    readers: Option<Arc<Readers>>,
    clock: Arc<dyn Clock>,
}

struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// Read connections kept open between reads.
const IDLE_READERS: usize = 4;
/// Writes committed together at most.
const GROUP_COMMIT_MAX: usize = 256;

/// A write, run inside the group's transaction (or told why the transaction could not
/// begin); what it returns is told the commit's outcome and answers the caller.
type Job = Box<dyn FnOnce(Result<&Connection, &str>) -> Completion + Send>;
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn queue_unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl Database {
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let conn = Connection::open(path)?;
        Self::setup(
            conn,
            Some(Arc::new(Readers {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
            })),
        )
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<Self, OpenError> {
        Self::setup(Connection::open_in_memory()?, None)
    }

    /// The same database, its queues reading the time from `clock`.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                writer: self.inner.writer.clone(),
                readers: self.inner.readers.clone(),
                clock,
            }),
        }
    }

    fn setup(conn: Connection, readers: Option<Arc<Readers>>) -> Result<Self, OpenError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(inbox::SCHEMA)?;
        inbox::migrate(&conn)?;
        let (writer, jobs) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(conn, jobs))
            .map_err(OpenError::Writer)?;
        Ok(Self {
            inner: Arc::new(Inner {
                writer,
                readers,
                clock: Arc::new(SystemClock),
            }),
        })
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    pub fn store(&self) -> SqliteStore {
        SqliteStore { db: self.clone() }
    }

    pub fn queue(&self, name: &str, max_receives: u32) -> SqliteQueue {
        SqliteQueue {
            db: self.clone(),
            name: name.to_owned(),
            max_receives,
        }
    }

    /// Runs `f` in a write transaction on the writer thread, in the order of the calls
    /// (queued at the call, not at the first poll); answers once it is committed.
    fn write<T, E, F>(
        &self,
        f: F,
    ) -> impl std::future::Future<Output = Result<T, String>> + Send + use<T, E, F>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn: Result<&Connection, &str>| {
            let result = match conn {
                Ok(conn) => in_savepoint(conn, f),
                Err(e) => Err(e.to_owned()),
            };
            Box::new(move |committed: Result<(), String>| {
                let _ = answer.send(committed.and(result));
            })
        });
        let sent = self.inner.writer.send(job);
        async move {
            let stopped = || "the database writer has stopped".to_string();
            sent.map_err(|_| stopped())?;
            answered.await.map_err(|_| stopped())?
        }
    }

    /// Runs `f` on a read connection off the async reactor.
    async fn read<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, String>
    where
        T: Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        if self.inner.readers.is_none() {
            return self.write(f).await;
        }
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let readers = inner.readers.as_ref().expect("checked above");
            let conn = readers.take().map_err(|e| e.to_string())?;
            let result = f(&conn).map_err(|e| e.to_string());
            readers.give_back(conn);
            result
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

impl Readers {
    fn take(&self) -> rusqlite::Result<Connection> {
        if let Some(conn) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(conn);
        }
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch("PRAGMA query_only = ON;")?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
    }
}

/// Runs one write in its own savepoint: rolled back alone if it fails or panics.
fn in_savepoint<T, E: std::fmt::Display>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, String> {
    conn.execute_batch("SAVEPOINT write")
        .map_err(|e| e.to_string())?;
    // A write that panics fails alone; the writer thread carries on.
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn))) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("the write panicked".to_owned()),
    };
    let end = if result.is_ok() {
        "RELEASE write"
    } else {
        "ROLLBACK TO write; RELEASE write"
    };
    conn.execute_batch(end).map_err(|e| e.to_string())?;
    result
}

/// The writer thread: takes every write waiting, runs them in one transaction, commits,
/// then answers each; stops when every handle on the database is gone.
fn write_loop(conn: Connection, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < GROUP_COMMIT_MAX {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let e = e.to_string();
            for job in group {
                job(Err(&e))(Err(e.clone()));
            }
            continue;
        }
        let completions: Vec<Completion> = group.into_iter().map(|job| job(Ok(&conn))).collect();
        let committed = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for done in completions {
            done(committed.clone());
        }
    }
}

/// Comment store and raw archive.
#[derive(Clone)]
pub struct SqliteStore {
    db: Database,
}

fn thread_key(t: &ThreadKey) -> String {
    format!("{}#{}#{}", t.brand, t.platform, t.thread_id)
}

fn key(k: &CommentKey) -> String {
    format!("{}#{}#{}", k.brand, k.platform, k.external_id)
}

fn decode(body: &str) -> Result<Comment, StoreError> {
    serde_json::from_str(body).map_err(corrupt)
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn decode_content(body: &str) -> Result<BrandContent, StoreError> {
    serde_json::from_str(body).map_err(corrupt)
}

fn decode_drafts(body: &str) -> Result<Drafts, StoreError> {
    serde_json::from_str(body).map_err(corrupt)
}

fn decode_all(rows: Vec<String>) -> Result<Vec<Comment>, StoreError> {
    rows.iter().map(|b| decode(b)).collect()
}

impl SqliteStore {
    async fn rows(
        &self,
        sql: &'static str,
        args: Vec<rusqlite::types::Value>,
    ) -> Result<Vec<String>, StoreError> {
        self.db
            .read(move |c| {
                let mut stmt = c.prepare_cached(sql)?;
                let rows =
                    stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))?;
                rows.collect::<rusqlite::Result<Vec<String>>>()
            })
            .await
            .map_err(unavailable)
    }

    /// Deletes raw deliveries and seen event ids past their expiry (DynamoDB's TTL does
    /// this on AWS).
    pub async fn purge_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.db
            .write(move |c| {
                let raw = c.execute(
                    "DELETE FROM raw_deliveries WHERE expires_at <= ?1",
                    params![now.millis()],
                )?;
                let seen = c.execute(
                    "DELETE FROM seen_events WHERE expires_at <= ?1",
                    params![now.millis()],
                )?;
                Ok::<_, rusqlite::Error>(raw + seen)
            })
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl CommentWrite for SqliteStore {
    async fn insert_if_new(&self, comment: &Comment) -> Result<Inserted, StoreError> {
        let mut c = comment.clone();
        c.revision = 1;
        let body = serde_json::to_string(&c).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let k = key(&c.key);
        let (brand, thread, state, urgency, received) = (
            c.key.brand.to_string(),
            thread_key(&c.thread()),
            c.state.as_str(),
            c.open_urgency(),
            c.received_at.millis(),
        );
        let existing = self
            .db
            .write(move |conn| -> rusqlite::Result<Option<String>> {
                let n = conn.execute(
                    "INSERT INTO comments (key, brand, thread_key, state, urgency, received_at, revision, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7) ON CONFLICT (key) DO NOTHING",
                    params![k, brand, thread, state, urgency, received, body],
                )?;
                if n == 1 {
                    return Ok(None);
                }
                conn.query_row("SELECT body FROM comments WHERE key = ?1", params![k], |r| r.get(0))
                    .optional()
            })
            .await
            .map_err(unavailable)?;
        match existing {
            None => Ok(Inserted::New(c)),
            Some(body) => Ok(Inserted::Existing(decode(&body)?)),
        }
    }

    async fn update(&self, comment: &Comment) -> Result<Comment, StoreError> {
        let mut c = comment.clone();
        let expected = c.revision;
        c.revision += 1;
        let body = serde_json::to_string(&c).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (k, state, urgency) = (key(&c.key), c.state.as_str(), c.open_urgency());
        let n = self
            .db
            .write(move |conn| {
                let n = conn.execute(
                    "UPDATE comments SET state = ?2, urgency = ?3, revision = revision + 1, body = ?4
                     WHERE key = ?1 AND revision = ?5",
                    params![k, state, urgency, body, expected as i64],
                )?;
                if n == 1 {
                    inbox::refile(conn, &k)?;
                }
                Ok::<_, rusqlite::Error>(n)
            })
            .await
            .map_err(unavailable)?;
        if n == 1 {
            Ok(c)
        } else {
            Err(StoreError::Conflict)
        }
    }
}

#[async_trait]
impl CommentRead for SqliteStore {
    async fn get(&self, k: &CommentKey) -> Result<Option<Comment>, StoreError> {
        let rows = self
            .rows(
                "SELECT body FROM comments WHERE key = ?1",
                vec![key(k).into()],
            )
            .await?;
        rows.first().map(|b| decode(b)).transpose()
    }

    async fn thread(&self, thread: &ThreadKey, limit: usize) -> Result<Vec<Comment>, StoreError> {
        decode_all(
            self.rows(
                "SELECT body FROM comments WHERE thread_key = ?1 ORDER BY received_at, key LIMIT ?2",
                vec![thread_key(thread).into(), (limit as i64).into()],
            )
            .await?,
        )
    }
}

#[async_trait]
impl PendingComments for SqliteStore {
    async fn pending(&self, before: Timestamp, limit: usize) -> Result<Vec<Comment>, StoreError> {
        let state = CommentState::Received.as_str();
        debug_assert_eq!(state, "received");
        decode_all(
            self.rows(
                "SELECT body FROM comments WHERE state = 'received' AND received_at < ?1 ORDER BY received_at LIMIT ?2",
                vec![before.millis().into(), (limit as i64).into()],
            )
            .await?,
        )
    }
}

#[async_trait]
impl RawArchive for SqliteStore {
    async fn put_raw(&self, raw: &RawDelivery) -> Result<(), StoreError> {
        let r = raw.clone();
        self.db
            .write(move |c| {
                c.execute(
                    "INSERT OR REPLACE INTO raw_deliveries (id, platform, received_at, expires_at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![r.id, r.platform.as_str(), r.received_at.millis(), r.expires_at.millis(), r.body],
                )
            })
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn get_raw(&self, id: &str) -> Result<Option<RawDelivery>, StoreError> {
        let id = id.to_owned();
        let row = self
            .db
            .read(move |c| {
                c.query_row(
                    "SELECT id, platform, received_at, expires_at, body FROM raw_deliveries WHERE id = ?1",
                    params![id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, Vec<u8>>(4)?,
                        ))
                    },
                )
                .optional()
            })
            .await
            .map_err(unavailable)?;
        row.map(|(id, platform, received, expires, body)| {
            Ok(RawDelivery {
                id,
                platform: vigie_core::Platform::parse(&platform)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                received_at: Timestamp(received),
                expires_at: Timestamp(expires),
                body,
            })
        })
        .transpose()
    }
}

#[async_trait]
impl SeenEvents for SqliteStore {
    async fn claim(
        &self,
        event_id: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Claim, StoreError> {
        let (id, holder) = (event_id.to_owned(), holder.to_owned());
        self.db
            .write(move |c| -> rusqlite::Result<Claim> {
                // One statement: concurrent claims of the same id cannot both win.
                let n = c.execute(
                    "INSERT INTO seen_events (event_id, state, holder, expires_at) VALUES (?1, 'claimed', ?2, ?4)
                     ON CONFLICT (event_id) DO UPDATE SET state = 'claimed', holder = ?2, expires_at = ?4
                     WHERE seen_events.expires_at <= ?3",
                    params![id, holder, now.millis(), until.millis()],
                )?;
                if n == 1 {
                    return Ok(Claim::Claimed);
                }
                let state: String = c.query_row(
                    "SELECT state FROM seen_events WHERE event_id = ?1",
                    params![id],
                    |r| r.get(0),
                )?;
                Ok(if state == "delivered" {
                    Claim::Delivered
                } else {
                    Claim::Held
                })
            })
            .await
            .map_err(unavailable)
    }

    async fn mark_delivered(
        &self,
        event_id: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let id = event_id.to_owned();
        self.db
            .write(move |c| {
                c.execute(
                    "INSERT OR REPLACE INTO seen_events (event_id, state, holder, expires_at) VALUES (?1, 'delivered', '', ?2)",
                    params![id, expires_at.millis()],
                )
            })
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn release(&self, event_id: &str, holder: &str) -> Result<(), StoreError> {
        let (id, holder) = (event_id.to_owned(), holder.to_owned());
        self.db
            .write(move |c| {
                c.execute(
                    "DELETE FROM seen_events WHERE event_id = ?1 AND holder = ?2 AND state = 'claimed'",
                    params![id, holder],
                )
            })
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

#[async_trait]
impl BrandContentStore for SqliteStore {
    async fn put_content(
        &self,
        content: &BrandContent,
        expected: Option<u32>,
    ) -> Result<u32, StoreError> {
        // Stored only if `expected` is current, so the new version is known now.
        let c = content
            .as_next_version(expected)
            .ok_or(StoreError::Conflict)?;
        let version = c.version;
        let body = serde_json::to_string(&c).map_err(corrupt)?;
        let brand = c.brand.to_string();
        let stored = self
            .db
            .write(move |conn| -> rusqlite::Result<bool> {
                // The writer runs one write at a time: nothing comes between the check and
                // the insert.
                let current: Option<i64> = conn.query_row(
                    "SELECT MAX(version) FROM brand_content WHERE brand = ?1",
                    params![brand],
                    |r| r.get(0),
                )?;
                if current != expected.map(i64::from) {
                    return Ok(false);
                }
                conn.execute(
                    "INSERT INTO brand_content (brand, version, body) VALUES (?1, ?2, ?3)",
                    params![brand, version, body],
                )?;
                Ok(true)
            })
            .await
            .map_err(unavailable)?;
        if stored {
            Ok(version)
        } else {
            Err(StoreError::Conflict)
        }
    }

    async fn content(&self, brand: &BrandId) -> Result<Option<BrandContent>, StoreError> {
        let rows = self
            .rows(
                "SELECT body FROM brand_content WHERE brand = ?1 ORDER BY version DESC LIMIT 1",
                vec![brand.to_string().into()],
            )
            .await?;
        rows.first().map(|b| decode_content(b)).transpose()
    }

    async fn content_version(
        &self,
        brand: &BrandId,
        version: u32,
    ) -> Result<Option<BrandContent>, StoreError> {
        let rows = self
            .rows(
                "SELECT body FROM brand_content WHERE brand = ?1 AND version = ?2",
                vec![brand.to_string().into(), i64::from(version).into()],
            )
            .await?;
        rows.first().map(|b| decode_content(b)).transpose()
    }
}

#[async_trait]
impl DraftStore for SqliteStore {
    async fn put_drafts(&self, drafts: &Drafts) -> Result<Drafts, StoreError> {
        let body = serde_json::to_string(drafts).map_err(corrupt)?;
        let (k, version, generation) =
            (key(&drafts.key), drafts.comment_version, drafts.generation);
        let kept = self
            .db
            .write(move |conn| -> rusqlite::Result<Option<String>> {
                let n = conn.execute(
                    "INSERT INTO drafts (key, comment_version, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET comment_version = excluded.comment_version, body = excluded.body
                     WHERE drafts.comment_version < excluded.comment_version
                        OR (drafts.comment_version = excluded.comment_version
                            AND COALESCE(json_extract(drafts.body, '$.generation'), 0) < ?4)",
                    params![k, version, body, generation],
                )?;
                if n == 1 {
                    return Ok(None);
                }
                // Drafts for this version or a later one are there: they stay.
                conn.query_row("SELECT body FROM drafts WHERE key = ?1", params![k], |r| r.get(0))
                    .optional()
            })
            .await
            .map_err(unavailable)?;
        match kept {
            None => Ok(drafts.clone()),
            Some(body) => decode_drafts(&body),
        }
    }

    async fn drafts(&self, k: &CommentKey) -> Result<Option<Drafts>, StoreError> {
        let rows = self
            .rows(
                "SELECT body FROM drafts WHERE key = ?1",
                vec![key(k).into()],
            )
            .await?;
        rows.first().map(|b| decode_drafts(b)).transpose()
    }

    async fn withdraw_drafts(&self, k: &CommentKey) -> Result<bool, StoreError> {
        let k = key(k);
        self.db
            .write(move |conn| -> rusqlite::Result<Result<bool, StoreError>> {
                let body: Option<String> = conn
                    .query_row("SELECT body FROM drafts WHERE key = ?1", params![k], |r| {
                        r.get(0)
                    })
                    .optional()?;
                let Some(body) = body else {
                    return Ok(Ok(false));
                };
                let mut drafts: Drafts = match decode_drafts(&body) {
                    Ok(d) => d,
                    Err(e) => return Ok(Err(e)),
                };
                drafts.state = DraftState::Withdrawn;
                let body = match serde_json::to_string(&drafts) {
                    Ok(b) => b,
                    Err(e) => return Ok(Err(corrupt(e))),
                };
                conn.execute(
                    "UPDATE drafts SET body = ?2 WHERE key = ?1",
                    params![k, body],
                )?;
                Ok(Ok(true))
            })
            .await
            .map_err(unavailable)?
    }
}

/// Records replaced only over the revision their writer read.
#[derive(Clone, Copy)]
enum Revisioned {
    Review,
    User,
}

impl Revisioned {
    fn sql(self) -> (&'static str, &'static str) {
        match self {
            Revisioned::Review => (
                "SELECT revision FROM reviews WHERE key = ?1",
                "INSERT INTO reviews (key, revision, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET revision = excluded.revision, body = excluded.body",
            ),
            Revisioned::User => (
                "SELECT revision FROM users WHERE name = ?1",
                "INSERT INTO users (name, revision, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET revision = excluded.revision, body = excluded.body",
            ),
        }
    }
}

impl SqliteStore {
    /// Stores `body` at `revision` if the stored revision is `expected` (`None`: nothing
    /// stored yet), with its audit record (reviews) in the same transaction; `Conflict`
    /// otherwise, and nothing is written. The writer runs one write at a time: nothing
    /// comes between the check and the writes.
    async fn put_at_revision(
        &self,
        what: Revisioned,
        k: String,
        revision: u64,
        expected: Option<u64>,
        body: String,
        audit: Option<String>,
    ) -> Result<(), StoreError> {
        let to_i64 = |v: u64| i64::try_from(v).map_err(|e| StoreError::Corrupt(e.to_string()));
        let revision = to_i64(revision)?;
        let expected = expected.map(to_i64).transpose()?;
        let (select, upsert) = what.sql();
        let written = self
            .db
            .write(move |conn| -> rusqlite::Result<bool> {
                let current: Option<i64> = conn
                    .query_row(select, params![k], |r| r.get(0))
                    .optional()?;
                if current != expected {
                    return Ok(false);
                }
                conn.execute(upsert, params![k, revision, body])?;
                if matches!(what, Revisioned::Review) {
                    inbox::refile(conn, &k)?;
                }
                if let Some(audit) = audit {
                    conn.execute(
                        "INSERT INTO audit (key, body) VALUES (?1, ?2)",
                        params![k, audit],
                    )?;
                }
                Ok(true)
            })
            .await
            .map_err(unavailable)?;
        if written {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }
}

#[async_trait]
impl ReviewStore for SqliteStore {
    async fn review(&self, k: &CommentKey) -> Result<Option<Review>, StoreError> {
        let rows = self
            .rows(
                "SELECT body FROM reviews WHERE key = ?1",
                vec![key(k).into()],
            )
            .await?;
        rows.first()
            .map(|b| serde_json::from_str(b).map_err(corrupt))
            .transpose()
    }

    async fn put_review(
        &self,
        review: &Review,
        expected_revision: Option<u64>,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(review).map_err(corrupt)?;
        let audit = serde_json::to_string(audit).map_err(corrupt)?;
        self.put_at_revision(
            Revisioned::Review,
            key(&review.key),
            review.revision,
            expected_revision,
            body,
            Some(audit),
        )
        .await
    }

    async fn audit(&self, k: &CommentKey) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = self
            .rows(
                "SELECT body FROM audit WHERE key = ?1 ORDER BY seq",
                vec![key(k).into()],
            )
            .await?;
        rows.iter()
            .map(|b| serde_json::from_str(b).map_err(corrupt))
            .collect()
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn user(&self, name: &UserName) -> Result<Option<User>, StoreError> {
        let rows = self
            .rows(
                "SELECT body FROM users WHERE name = ?1",
                vec![name.to_string().into()],
            )
            .await?;
        rows.first()
            .map(|b| serde_json::from_str(b).map_err(corrupt))
            .transpose()
    }

    async fn put_user(&self, user: &User, expected: Option<u64>) -> Result<(), StoreError> {
        let body = serde_json::to_string(user).map_err(corrupt)?;
        self.put_at_revision(
            Revisioned::User,
            user.name.to_string(),
            user.revision,
            expected,
            body,
            None,
        )
        .await
    }

    async fn remove_user(&self, name: &UserName) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.db
            .write(move |conn| {
                conn.execute("DELETE FROM users WHERE name = ?1", params![name])
                    .map(|n| n == 1)
            })
            .await
            .map_err(unavailable)
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = self
            .rows("SELECT body FROM users ORDER BY name", vec![])
            .await?;
        rows.iter()
            .map(|b| serde_json::from_str(b).map_err(corrupt))
            .collect()
    }
}

#[async_trait]
impl PollStore for SqliteStore {
    async fn feed_state(&self, feed: &str) -> Result<Option<FeedState>, StoreError> {
        let rows = self
            .rows(
                "SELECT body FROM poll_feeds WHERE feed = ?1",
                vec![feed.to_owned().into()],
            )
            .await?;
        rows.first()
            .map(|b| serde_json::from_str(b).map_err(corrupt))
            .transpose()
    }

    async fn put_feed_state(&self, feed: &str, state: &FeedState) -> Result<(), StoreError> {
        let body = serde_json::to_string(state).map_err(corrupt)?;
        let feed = feed.to_owned();
        self.db
            .write(move |c| {
                c.execute(
                    "INSERT OR REPLACE INTO poll_feeds (feed, body) VALUES (?1, ?2)",
                    params![feed, body],
                )
            })
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn requested_reads(&self, feed: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        self.rows(
            "SELECT page FROM poll_reads WHERE feed = ?1 ORDER BY at, page LIMIT ?2",
            vec![
                feed.to_owned().into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        )
        .await
    }

    async fn done_read(&self, feed: &str, page: &str) -> Result<(), StoreError> {
        let (feed, page) = (feed.to_owned(), page.to_owned());
        self.db
            .write(move |c| {
                c.execute(
                    "DELETE FROM poll_reads WHERE feed = ?1 AND page = ?2",
                    params![feed, page],
                )
            })
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

#[async_trait]
impl ReadRequests for SqliteStore {
    async fn request_read(&self, feed: &str, page: &str, at: Timestamp) -> Result<(), StoreError> {
        let (feed, page) = (feed.to_owned(), page.to_owned());
        self.db
            .write(move |c| {
                c.execute(
                    "INSERT OR IGNORE INTO poll_reads (feed, page, at) VALUES (?1, ?2, ?3)",
                    params![feed, page, at.millis()],
                )
            })
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

/// A durable queue (one table, many queues by name).
#[derive(Clone)]
pub struct SqliteQueue {
    db: Database,
    name: String,
    max_receives: u32,
}

impl SqliteQueue {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dead_letter_name(&self) -> String {
        format!("{}-dlq", self.name)
    }

    /// Messages waiting (visible or not) in this queue and in its dead-letter queue.
    pub async fn depth(&self) -> Result<(usize, usize), QueueError> {
        let (q, dlq) = (self.name.clone(), self.dead_letter_name());
        self.db
            .read(move |c| {
                let count = |name: &str| {
                    c.query_row(
                        "SELECT COUNT(*) FROM queue_messages WHERE queue = ?1",
                        params![name],
                        |r| r.get::<_, i64>(0),
                    )
                };
                Ok::<_, rusqlite::Error>((count(&q)? as usize, count(&dlq)? as usize))
            })
            .await
            .map_err(queue_unavailable)
    }

    /// Makes every message hidden by a receive visible again, keeping its receive count;
    /// returns how many. Only for a consumer that knows it is the queue's only one (a
    /// restarted `vigie serve`): what it had received died with the previous process.
    pub async fn release_in_flight(&self) -> Result<usize, QueueError> {
        let (queue, now) = (self.name.clone(), self.db.now().millis());
        self.db
            .write(move |c| {
                c.execute(
                    "UPDATE queue_messages SET visible_at = ?2
                     WHERE queue = ?1 AND visible_at > ?2 AND receive_count > 0",
                    params![queue, now],
                )
            })
            .await
            .map_err(queue_unavailable)
    }

    /// The dead-letter queue, as a queue (to inspect or redrive it).
    pub fn dead_letters(&self) -> SqliteQueue {
        SqliteQueue {
            db: self.db.clone(),
            name: self.dead_letter_name(),
            max_receives: u32::MAX,
        }
    }
}

#[async_trait]
impl QueueSend for SqliteQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<(), QueueError> {
        let rows: Vec<(String, String, String)> = messages
            .iter()
            .map(|m| {
                let attrs: serde_json::Map<String, serde_json::Value> = m
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into()))
                    .collect();
                (
                    m.id.clone(),
                    m.body.clone(),
                    serde_json::Value::Object(attrs).to_string(),
                )
            })
            .collect();
        let (queue, now) = (self.name.clone(), self.db.now().millis());
        self.db
            .write(move |c| {
                let mut stmt = c.prepare_cached(
                    "INSERT INTO queue_messages (queue, message_id, body, attributes, visible_at, sent_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                )?;
                for (id, body, attrs) in &rows {
                    stmt.execute(params![queue, id, body, attrs, now])?;
                }
                Ok::<_, rusqlite::Error>(())
            })
            .await
            .map_err(queue_unavailable)
    }
}

#[async_trait]
impl QueueReceive for SqliteQueue {
    async fn receive(
        &self,
        max: usize,
        visibility_seconds: u32,
    ) -> Result<Vec<Delivery>, QueueError> {
        let (queue, dlq, max_receives, now) = (
            self.name.clone(),
            self.dead_letter_name(),
            self.max_receives,
            self.db.now().millis(),
        );
        self.db
            .write(move |c| -> rusqlite::Result<Vec<Delivery>> {
                let mut out = Vec::new();
                {
                    let mut select = c.prepare_cached(
                        "SELECT seq, message_id, body, attributes, receive_count FROM queue_messages
                         WHERE queue = ?1 AND visible_at <= ?2 ORDER BY seq LIMIT ?3",
                    )?;
                    let ready: Vec<(i64, String, String, String, u32)> = select
                        .query_map(params![queue, now, (max * 2 + 10) as i64], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                        })?
                        .collect::<rusqlite::Result<_>>()?;
                    for (seq, message_id, body, attrs, count) in ready {
                        if count >= max_receives {
                            // Received max_receives times without an ack: dead-letter it.
                            c.execute(
                                "UPDATE queue_messages SET queue = ?2, visible_at = ?3, receive_count = 0 WHERE seq = ?1",
                                params![seq, dlq, now],
                            )?;
                            tracing::warn!(queue = %queue, message_id = %message_id, "message moved to the dead-letter queue");
                            continue;
                        }
                        if out.len() == max {
                            break;
                        }
                        c.execute(
                            "UPDATE queue_messages SET receive_count = receive_count + 1, visible_at = ?2 WHERE seq = ?1",
                            params![seq, now + i64::from(visibility_seconds) * 1000],
                        )?;
                        let attributes = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&attrs)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                            .collect();
                        out.push(Delivery {
                            message_id,
                            // A new receipt per receive: an old receipt cannot ack a later receive.
                            receipt: format!("{seq}:{}", count + 1),
                            body,
                            attributes,
                            receive_count: count + 1,
                        });
                    }
                }
                Ok(out)
            })
            .await
            .map_err(queue_unavailable)
    }

    async fn ack(&self, receipts: &[String]) -> Result<(), QueueError> {
        let parsed: Vec<(i64, u32)> = receipts.iter().filter_map(|r| parse_receipt(r)).collect();
        self.db
            .write(move |c| {
                for (seq, count) in &parsed {
                    c.execute(
                        "DELETE FROM queue_messages WHERE seq = ?1 AND receive_count = ?2",
                        params![seq, count],
                    )?;
                }
                Ok::<_, rusqlite::Error>(())
            })
            .await
            .map_err(queue_unavailable)
    }

    async fn release(&self, receipt: &str, delay_seconds: u32) -> Result<(), QueueError> {
        let Some((seq, count)) = parse_receipt(receipt) else {
            return Ok(());
        };
        let visible_at = self.db.now().millis() + i64::from(delay_seconds) * 1000;
        self.db
            .write(move |c| {
                c.execute(
                    "UPDATE queue_messages SET visible_at = ?3 WHERE seq = ?1 AND receive_count = ?2",
                    params![seq, count, visible_at],
                )
            })
            .await
            .map(|_| ())
            .map_err(queue_unavailable)
    }
}

fn parse_receipt(r: &str) -> Option<(i64, u32)> {
    let (seq, count) = r.split_once(':')?;
    Some((seq.parse().ok()?, count.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str) -> OutgoingMessage {
        OutgoingMessage {
            id: id.into(),
            body: format!("{{\"id\":\"{id}\"}}"),
            attributes: vec![],
        }
    }

    /// A write that holds the writer (and its open transaction) until told to finish.
    fn held_write(
        db: &Database,
    ) -> (
        std::sync::mpsc::Sender<()>,
        impl Future<Output = Result<(), String>> + use<>,
    ) {
        let (finish, finished) = std::sync::mpsc::channel::<()>();
        let write = db.write(move |c| {
            c.execute(
                "INSERT INTO queue_messages (queue, message_id, body, attributes, visible_at, sent_at)
                 VALUES ('classify', 'held', '{}', '{}', 0, 0)",
                [],
            )?;
            let _ = finished.recv();
            Ok::<_, rusqlite::Error>(())
        });
        (finish, write)
    }

    #[tokio::test]
    async fn a_read_completes_while_a_write_transaction_is_held_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("vigie.db")).unwrap();
        let q = db.queue("classify", 5);
        q.send(&[message("a")]).await.unwrap();
        let (finish, write) = held_write(&db);
        let write = tokio::spawn(write);
        // The read does not wait for the write, and sees only what is committed.
        assert_eq!(q.depth().await.unwrap(), (1, 0));
        assert_eq!(db.store().get_raw("none").await.unwrap(), None);
        assert!(!write.is_finished(), "the write is still held open");
        finish.send(()).unwrap();
        write.await.unwrap().unwrap();
        assert_eq!(q.depth().await.unwrap(), (2, 0));
    }

    #[tokio::test]
    async fn writes_committed_together_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("vigie.db")).unwrap();
        let q = db.queue("classify", 5);
        // Queued behind a held write, the next three writes are committed as one group.
        let (finish, held) = held_write(&db);
        let failing = db.write(|c| c.execute("INSERT INTO no_such_table VALUES (1)", []));
        let panicking = db.write(|_| -> Result<(), rusqlite::Error> { panic!("a bug") });
        let b = [message("b")];
        let sent = q.send(&b);
        finish.send(()).unwrap();
        held.await.unwrap();
        assert!(failing.await.unwrap_err().contains("no_such_table"));
        assert_eq!(panicking.await.unwrap_err(), "the write panicked");
        sent.await.unwrap();
        let got = q.receive(10, 30).await.unwrap();
        let mut ids: Vec<&str> = got.iter().map(|d| d.message_id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["b", "held"]);
    }

    #[tokio::test]
    async fn in_flight_messages_are_released_at_once_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vigie.db");
        let clock = Arc::new(ManualClock::new(Timestamp(1_764_086_400_000)));
        {
            let db = Database::open(&path).unwrap().with_clock(clock.clone());
            let q = db.queue("classify", 5);
            q.send(&[message("a"), message("b")]).await.unwrap();
            // Taken by a worker that dies before acking, hidden for an hour.
            assert_eq!(q.receive(2, 3600).await.unwrap().len(), 2);
            let other = db.queue("escalations", 5);
            other.send(&[message("e")]).await.unwrap();
            assert_eq!(other.receive(1, 3600).await.unwrap().len(), 1);
        }
        let db = Database::open(&path).unwrap().with_clock(clock.clone());
        let q = db.queue("classify", 5);
        assert!(
            q.receive(10, 30).await.unwrap().is_empty(),
            "both are hidden"
        );
        assert_eq!(q.release_in_flight().await.unwrap(), 2);
        // No time has passed: both come back with their receive counts.
        let got = q.receive(10, 30).await.unwrap();
        let mut seen: Vec<(&str, u32)> = got
            .iter()
            .map(|d| (d.message_id.as_str(), d.receive_count))
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, [("a", 2), ("b", 2)]);
        // Only this queue's messages are released.
        assert!(
            db.queue("escalations", 5)
                .receive(10, 30)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
