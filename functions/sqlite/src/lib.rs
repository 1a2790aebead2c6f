//! SQLite adapters: the comment store and durable queues in one database file.
//!
//! Everything is on disk before a call returns (WAL journal): a crash loses no comment
//! and no message. Queues follow SQS's rules: a received message is hidden for its
//! visibility timeout, counts its receives, and moves to `<queue>-dlq` when it is
//! received again after `max_receives` attempts.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use vigie_core::comment::{BrandId, Comment, CommentKey, CommentState, ThreadKey};
use vigie_core::ports::{
    CommentRead, CommentWrite, Delivery, Inserted, OpenComments, OutgoingMessage, PendingComments,
    QueueError, QueueReceive, QueueSend, RawArchive, RawDelivery, StoreError,
};
use vigie_core::time::Timestamp;

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
"#;

/// One database file shared by the store and the queues.
#[derive(Clone)]
pub struct Database {
    conn: Arc<Mutex<Connection>>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn queue_unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

impl Database {
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        Self::setup(Connection::open(path)?)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> rusqlite::Result<Self> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> rusqlite::Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
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

    /// Runs `f` on the connection off the async reactor.
    async fn call<T, E>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, String>
    where
        T: Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
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
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(e.to_string()))
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
            .call(move |c| {
                let mut stmt = c.prepare_cached(sql)?;
                let rows =
                    stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))?;
                rows.collect::<rusqlite::Result<Vec<String>>>()
            })
            .await
            .map_err(unavailable)
    }

    /// Deletes raw deliveries past their expiry (DynamoDB's TTL does this on AWS).
    pub async fn purge_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.db
            .call(move |c| {
                c.execute(
                    "DELETE FROM raw_deliveries WHERE expires_at <= ?1",
                    params![now.millis()],
                )
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
            .call(move |conn| -> rusqlite::Result<Option<String>> {
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
            .call(move |conn| {
                conn.execute(
                    "UPDATE comments SET state = ?2, urgency = ?3, revision = revision + 1, body = ?4
                     WHERE key = ?1 AND revision = ?5",
                    params![k, state, urgency, body, expected as i64],
                )
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
impl OpenComments for SqliteStore {
    async fn open_by_urgency(
        &self,
        brand: &BrandId,
        limit: usize,
    ) -> Result<Vec<Comment>, StoreError> {
        decode_all(
            self.rows(
                "SELECT body FROM comments WHERE brand = ?1 AND state = 'triaged'
                 ORDER BY urgency DESC, received_at DESC LIMIT ?2",
                vec![brand.to_string().into(), (limit as i64).into()],
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
            .call(move |c| {
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
            .call(move |c| {
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
            .call(move |c| {
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

    /// The dead-letter queue, as a queue (to inspect or redrive it).
    pub fn dead_letters(&self) -> SqliteQueue {
        SqliteQueue {
            db: self.db.clone(),
            name: self.dead_letter_name(),
            max_receives: u32::MAX,
        }
    }
}

fn now_ms() -> i64 {
    Timestamp::now().millis()
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
        let queue = self.name.clone();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                {
                    let mut stmt = tx.prepare_cached(
                        "INSERT INTO queue_messages (queue, message_id, body, attributes, visible_at, sent_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                    )?;
                    let now = now_ms();
                    for (id, body, attrs) in &rows {
                        stmt.execute(params![queue, id, body, attrs, now])?;
                    }
                }
                tx.commit()
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
        let (queue, dlq, max_receives) = (
            self.name.clone(),
            self.dead_letter_name(),
            self.max_receives,
        );
        self.db
            .call(move |c| -> rusqlite::Result<Vec<Delivery>> {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let now = now_ms();
                let mut out = Vec::new();
                {
                    let mut select = tx.prepare_cached(
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
                            tx.execute(
                                "UPDATE queue_messages SET queue = ?2, visible_at = ?3, receive_count = 0 WHERE seq = ?1",
                                params![seq, dlq, now],
                            )?;
                            tracing::warn!(queue = %queue, message_id = %message_id, "message moved to the dead-letter queue");
                            continue;
                        }
                        if out.len() == max {
                            break;
                        }
                        tx.execute(
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
                tx.commit()?;
                Ok(out)
            })
            .await
            .map_err(queue_unavailable)
    }

    async fn ack(&self, receipts: &[String]) -> Result<(), QueueError> {
        let parsed: Vec<(i64, u32)> = receipts.iter().filter_map(|r| parse_receipt(r)).collect();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                for (seq, count) in &parsed {
                    tx.execute(
                        "DELETE FROM queue_messages WHERE seq = ?1 AND receive_count = ?2",
                        params![seq, count],
                    )?;
                }
                tx.commit()
            })
            .await
            .map_err(queue_unavailable)
    }

    async fn release(&self, receipt: &str, delay_seconds: u32) -> Result<(), QueueError> {
        let Some((seq, count)) = parse_receipt(receipt) else {
            return Ok(());
        };
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE queue_messages SET visible_at = ?3 WHERE seq = ?1 AND receive_count = ?2",
                    params![seq, count, now_ms() + i64::from(delay_seconds) * 1000],
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
