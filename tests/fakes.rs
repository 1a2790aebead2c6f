//! Test doubles: a deterministic keyword scorer, and wrappers that inject store, queue
//! and model failures into real adapters.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use vigie_core::comment::{BrandId, Comment, CommentKey, Sentiment, SentimentScore, ThreadKey};
use vigie_core::ports::{
    CommentRead, CommentWrite, Inserted, OutgoingMessage, PendingComments, QueueError, QueueSend,
    RawArchive, RawDelivery, Reading, ScoreError, SentimentScorer, StoreError,
};
use vigie_core::time::Timestamp;

/// Negative on complaint words, positive on thanks, neutral otherwise; can be made to fail.
#[derive(Default)]
pub struct KeywordScorer {
    pub down: AtomicBool,
    pub calls: AtomicUsize,
}

#[async_trait]
impl SentimentScorer for KeywordScorer {
    async fn score(&self, texts: &[String]) -> Result<Vec<Reading>, ScoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(ScoreError("model crashed".into()));
        }
        Ok(texts
            .iter()
            .map(|t| {
                let t = t.to_lowercase();
                let neg = [
                    "jamais",
                    "inadmissible",
                    "plainte",
                    "déteint",
                    "worst",
                    "down",
                    "feu",
                    "nul",
                ]
                .iter()
                .any(|w| t.contains(w));
                let pos = ["merci", "super", "love", "bravo"]
                    .iter()
                    .any(|w| t.contains(w));
                let (label, p) = match (neg, pos) {
                    (true, _) => (Sentiment::Negative, [0.92, 0.06, 0.02]),
                    (false, true) => (Sentiment::Positive, [0.02, 0.08, 0.9]),
                    _ => (Sentiment::Neutral, [0.1, 0.8, 0.1]),
                };
                Reading::from(SentimentScore {
                    label,
                    negative: p[0],
                    neutral: p[1],
                    positive: p[2],
                    model: "keywords".into(),
                })
            })
            .collect())
    }
}

/// A store whose writes to chosen comments, raw archive or reads fail, as a throttled
/// DynamoDB would.
pub struct FaultyStore<S> {
    pub inner: S,
    /// External ids whose writes fail, with how many writes still succeed before that.
    pub failing: Mutex<HashMap<String, usize>>,
    pub reads_down: AtomicBool,
    pub raw_down: AtomicBool,
    /// Milliseconds each comment read or write takes (0: none), as a network store's would.
    pub latency_ms: std::sync::atomic::AtomicU64,
    /// Comment reads and writes in flight now, and the most there were at once.
    in_flight: AtomicUsize,
    pub most_in_flight: AtomicUsize,
}

impl<S> FaultyStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            failing: Mutex::new(HashMap::new()),
            reads_down: AtomicBool::new(false),
            raw_down: AtomicBool::new(false),
            latency_ms: Default::default(),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        }
    }

    /// Waits the store's latency, counted as a call in flight.
    async fn wait(&self) {
        let ms = self.latency_ms.load(Ordering::SeqCst);
        if ms == 0 {
            return;
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    pub fn fail_writes_of(&self, external_id: &str) {
        self.fail_writes_of_after(external_id, 0);
    }

    /// Lets `allowed` more writes of the comment through, then fails the rest.
    pub fn fail_writes_of_after(&self, external_id: &str, allowed: usize) {
        self.failing
            .lock()
            .unwrap()
            .insert(external_id.to_owned(), allowed);
    }

    pub fn heal(&self) {
        self.failing.lock().unwrap().clear();
        self.reads_down.store(false, Ordering::SeqCst);
        self.raw_down.store(false, Ordering::SeqCst);
    }

    fn check(&self, key: &CommentKey) -> Result<(), StoreError> {
        match self.failing.lock().unwrap().get_mut(&key.external_id) {
            Some(0) => Err(StoreError::Unavailable(
                "ProvisionedThroughputExceededException".into(),
            )),
            Some(allowed) => {
                *allowed -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn read(&self) -> Result<(), StoreError> {
        if self.reads_down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("timeout".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl<S: CommentWrite + CommentRead> CommentWrite for FaultyStore<S> {
    async fn insert_if_new(&self, comment: &Comment) -> Result<Inserted, StoreError> {
        self.check(&comment.key)?;
        self.inner.insert_if_new(comment).await
    }

    async fn update(&self, comment: &Comment) -> Result<Comment, StoreError> {
        self.wait().await;
        self.check(&comment.key)?;
        self.inner.update(comment).await
    }
}

#[async_trait]
impl<S: CommentRead + CommentWrite> CommentRead for FaultyStore<S> {
    async fn get(&self, key: &CommentKey) -> Result<Option<Comment>, StoreError> {
        self.wait().await;
        self.read()?;
        self.inner.get(key).await
    }

    async fn thread(&self, thread: &ThreadKey, limit: usize) -> Result<Vec<Comment>, StoreError> {
        self.wait().await;
        self.read()?;
        self.inner.thread(thread, limit).await
    }
}

#[async_trait]
impl<S: PendingComments> PendingComments for FaultyStore<S> {
    async fn pending(&self, before: Timestamp, limit: usize) -> Result<Vec<Comment>, StoreError> {
        self.read()?;
        self.inner.pending(before, limit).await
    }
}

#[async_trait]
impl<S: RawArchive> RawArchive for FaultyStore<S> {
    async fn put_raw(&self, raw: &RawDelivery) -> Result<(), StoreError> {
        if self.raw_down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("raw archive unreachable".into()));
        }
        self.inner.put_raw(raw).await
    }

    async fn get_raw(&self, id: &str) -> Result<Option<RawDelivery>, StoreError> {
        self.read()?;
        self.inner.get_raw(id).await
    }
}

#[async_trait]
impl<S: vigie_core::poll::ReadRequests> vigie_core::poll::ReadRequests for FaultyStore<S> {
    async fn request_read(&self, feed: &str, page: &str, at: Timestamp) -> Result<(), StoreError> {
        self.wait().await;
        self.inner.request_read(feed, page, at).await
    }
}

/// A queue that can be switched off, or made to refuse chosen messages of a batch (a
/// partial failure, as SQS's SendMessageBatch reports it).
pub struct SwitchQueue<Q> {
    pub inner: Q,
    pub down: AtomicBool,
    pub refused: Mutex<HashSet<String>>,
    /// Calls to `send`.
    pub sends: std::sync::atomic::AtomicUsize,
}

impl<Q> SwitchQueue<Q> {
    pub fn new(inner: Q) -> Self {
        Self {
            inner,
            down: AtomicBool::new(false),
            refused: Mutex::new(HashSet::new()),
            sends: Default::default(),
        }
    }

    /// Refuses the messages of this id in every batch until healed.
    pub fn refuse(&self, message_id: &str) {
        self.refused.lock().unwrap().insert(message_id.to_owned());
    }

    pub fn heal(&self) {
        self.refused.lock().unwrap().clear();
        self.down.store(false, Ordering::SeqCst);
    }
}

#[async_trait]
impl<Q: QueueSend> QueueSend for SwitchQueue<Q> {
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<(), QueueError> {
        self.sends.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable("queue down".into()));
        }
        let refused = self.refused.lock().unwrap().clone();
        let (failed, accepted): (Vec<_>, Vec<_>) = messages
            .iter()
            .cloned()
            .partition(|m| refused.contains(&m.id));
        if !accepted.is_empty() {
            self.inner.send(&accepted).await?;
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(QueueError::Partial {
                failed: failed.into_iter().map(|m| m.id).collect(),
                reason: "ThrottlingException".into(),
            })
        }
    }
}

pub fn acme() -> BrandId {
    BrandId::parse("acme").unwrap()
}

/// The Meta app secret of [`acme_world`]'s configuration.
pub const APP_SECRET: &[u8] = b"s3cret";

/// One brand, `acme`, owning Facebook page 1001 (plus `extra` TOML for it), and the
/// secrets the tests sign with: the Meta app secret [`APP_SECRET`].
pub fn acme_world(extra: &str) -> (vigie_core::config::Brands, vigie_core::secrets::Secrets) {
    let config = format!(
        "[meta]\napp_secret = {{ env = \"UNUSED\" }}\nverify_token = {{ env = \"UNUSED\" }}\n\n\
         [[brands]]\nid = \"acme\"\nname = \"Acme\"\nfacebook_page_ids = [\"1001\"]\n{extra}"
    );
    let brands = vigie_core::config::Brands::parse("brands.toml".as_ref(), &config)
        .expect("valid test configuration");
    let secrets = vigie_core::secrets::Secrets::default().with_app(
        vigie_core::config::META_APP,
        vigie_core::platforms::AppKeys::new(APP_SECRET).with_verify_token("verify"),
    );
    (brands, secrets)
}
