//! Ports: what the domain needs from storage, queues, the model and the outside world,
//! split by use so that each function depends on (and is granted) only what it calls.

use async_trait::async_trait;

use crate::comment::Platform;
use crate::comment::{BrandId, Comment, CommentKey, SentimentScore, ThreadKey};
use crate::time::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The comment changed since it was read (its revision moved on).
    #[error("the comment changed since it was read")]
    Conflict,
    /// The store could not be reached or refused the call; worth retrying.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data that cannot be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Result of an insert.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    /// Stored now, with revision 1.
    New(Comment),
    /// Already there (a duplicate delivery): the stored comment.
    Existing(Comment),
}

#[async_trait]
pub trait CommentWrite: Send + Sync {
    /// Stores the comment unless one with its key exists.
    async fn insert_if_new(&self, comment: &Comment) -> Result<Inserted, StoreError>;
    /// Replaces the comment if its stored revision is still `comment.revision`; returns the
    /// comment with its new revision, or `Conflict`.
    async fn update(&self, comment: &Comment) -> Result<Comment, StoreError>;
}

#[async_trait]
pub trait CommentRead: Send + Sync {
    async fn get(&self, key: &CommentKey) -> Result<Option<Comment>, StoreError>;
    /// Comments of a thread, oldest first, at most `limit`.
    async fn thread(&self, thread: &ThreadKey, limit: usize) -> Result<Vec<Comment>, StoreError>;
}

#[async_trait]
pub trait PendingComments: Send + Sync {
    /// Comments stored but not known to be queued, received before `before`.
    async fn pending(&self, before: Timestamp, limit: usize) -> Result<Vec<Comment>, StoreError>;
}

/// A delivery's raw bytes, kept for a while for audit and replay.
#[derive(Debug, Clone, PartialEq)]
pub struct RawDelivery {
    /// sha256 of the body: a redelivery overwrites its twin.
    pub id: String,
    pub platform: Platform,
    pub received_at: Timestamp,
    pub expires_at: Timestamp,
    pub body: Vec<u8>,
}

#[async_trait]
pub trait RawArchive: Send + Sync {
    async fn put_raw(&self, raw: &RawDelivery) -> Result<(), StoreError>;
    async fn get_raw(&self, id: &str) -> Result<Option<RawDelivery>, StoreError>;
}

/// What a claim on an event id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds it: deliver, then `mark_delivered` (or `release` on failure).
    Claimed,
    /// Delivered already: a repeat, to drop.
    Delivered,
    /// Another worker holds a live claim on it: try again later.
    Held,
}

/// Event ids already delivered, so that a consumer of an at-least-once queue drops
/// repeats, even when they arrive at the same moment.
#[async_trait]
pub trait SeenEvents: Send + Sync {
    /// Claims `event_id` for `holder` until `until`, unless it was delivered or another
    /// claim on it is live at `now`. A claim past its `until` is free again: its holder
    /// crashed, and the event must not be lost.
    async fn claim(
        &self,
        event_id: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Claim, StoreError>;
    /// Delivered: repeats are dropped until `expires_at`.
    async fn mark_delivered(&self, event_id: &str, expires_at: Timestamp)
    -> Result<(), StoreError>;
    /// Not delivered: frees `holder`'s claim at once (another holder's is left alone).
    async fn release(&self, event_id: &str, holder: &str) -> Result<(), StoreError>;
}

/// Brand content (voice, approved replies, facts, words), versioned.
#[async_trait]
pub trait BrandContentStore: Send + Sync {
    /// Stores `content` as the brand's next version and returns that version, unless the
    /// current version is not `expected` (`None`: no content yet): then `Conflict`.
    async fn put_content(
        &self,
        content: &crate::content::BrandContent,
        expected: Option<u32>,
    ) -> Result<u32, StoreError>;
    /// The brand's current content.
    async fn content(
        &self,
        brand: &BrandId,
    ) -> Result<Option<crate::content::BrandContent>, StoreError>;
    /// One earlier version, as a draft recorded it.
    async fn content_version(
        &self,
        brand: &BrandId,
        version: u32,
    ) -> Result<Option<crate::content::BrandContent>, StoreError>;
}

/// Reply suggestions, one record per comment (its latest version).
#[async_trait]
pub trait DraftStore: Send + Sync {
    /// Stores drafts for their comment version unless drafts for this version (of this
    /// generation or a later one) or for a later version are already there (a repeat):
    /// returns what is stored after the call.
    async fn put_drafts(
        &self,
        drafts: &crate::drafts::Drafts,
    ) -> Result<crate::drafts::Drafts, StoreError>;
    async fn drafts(&self, key: &CommentKey) -> Result<Option<crate::drafts::Drafts>, StoreError>;
    /// Marks the comment's drafts withdrawn (the comment was deleted); false when none.
    async fn withdraw_drafts(&self, key: &CommentKey) -> Result<bool, StoreError>;
}

/// The managers' reviews, one per comment (its latest version), and their audit trail.
#[async_trait]
pub trait ReviewStore: Send + Sync {
    async fn review(&self, key: &CommentKey) -> Result<Option<crate::review::Review>, StoreError>;
    /// Stores `review` and appends `audit` in one atomic write, if the stored review's
    /// revision is still `expected_revision` (`None`: no review is stored yet); otherwise
    /// `Conflict`, and neither is written.
    async fn put_review(
        &self,
        review: &crate::review::Review,
        expected_revision: Option<u64>,
        audit: &crate::review::AuditRecord,
    ) -> Result<(), StoreError>;
    /// The comment's audit records, every version's, oldest first.
    async fn audit(&self, key: &CommentKey) -> Result<Vec<crate::review::AuditRecord>, StoreError>;
}

/// The managers' inbox of a brand (see [`crate::inbox`]): a store files every triaged
/// comment under its [`InboxFacets`](crate::inbox::InboxFacets) as it writes the comment
/// and its review.
#[async_trait]
pub trait Inbox: Send + Sync {
    /// Up to `limit` comments passing `filter` at `now`, in inbox order, after `after`.
    async fn inbox(
        &self,
        brand: &BrandId,
        filter: &crate::inbox::InboxFilter,
        after: Option<&crate::inbox::InboxCursor>,
        limit: usize,
        now: Timestamp,
    ) -> Result<crate::inbox::InboxPage, StoreError>;
    /// The count behind each filter value.
    async fn inbox_counts(
        &self,
        brand: &BrandId,
        filter: &crate::inbox::InboxFilter,
        now: Timestamp,
    ) -> Result<crate::inbox::InboxCounts, StoreError>;
}

/// What management reports are made of.
#[async_trait]
pub trait ReportFacts: Send + Sync {
    /// The facts of the brand's comments received in `window` (triaged ones, with their
    /// reviews), in no particular order.
    async fn report_facts(
        &self,
        brand: &BrandId,
        window: std::ops::Range<Timestamp>,
    ) -> Result<Vec<crate::reports::ReportFact>, StoreError>;
}

/// The people who review, and their roles per brand.
#[async_trait]
pub trait UserStore: Send + Sync {
    async fn user(
        &self,
        name: &crate::users::UserName,
    ) -> Result<Option<crate::users::User>, StoreError>;
    /// Stores `user` if the stored one's revision is still `expected` (`None`: no such user
    /// yet); otherwise `Conflict`, and nothing is written.
    async fn put_user(
        &self,
        user: &crate::users::User,
        expected: Option<u64>,
    ) -> Result<(), StoreError>;
    /// False when there was no such user.
    async fn remove_user(&self, name: &crate::users::UserName) -> Result<bool, StoreError>;
    /// Every user, by name.
    async fn users(&self) -> Result<Vec<crate::users::User>, StoreError>;
}

/// Everything a store adapter implements.
pub trait CommentStore:
    CommentWrite + CommentRead + PendingComments + RawArchive + SeenEvents
{
}
impl<T> CommentStore for T where
    T: CommentWrite + CommentRead + PendingComments + RawArchive + SeenEvents
{
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// Some messages of a batch were not accepted; their ids.
    #[error("{} message(s) were not sent: {reason}", failed.len())]
    Partial { failed: Vec<String>, reason: String },
}

impl QueueError {
    /// The ids of the messages of `sent` this error left unsent: the refused ones of a
    /// partial send, else every one.
    pub fn unsent(&self, sent: &[OutgoingMessage]) -> Vec<String> {
        match self {
            QueueError::Partial { failed, .. } => failed.clone(),
            QueueError::Unavailable(_) => sent.iter().map(|m| m.id.clone()).collect(),
        }
    }
}

/// A message to send. `id` identifies it for partial failures and deduplication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub id: String,
    pub body: String,
    pub attributes: Vec<(String, String)>,
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message_id: String,
    /// Handle to acknowledge or release it.
    pub receipt: String,
    pub body: String,
    pub attributes: Vec<(String, String)>,
    /// 1 on the first receive.
    pub receive_count: u32,
}

#[async_trait]
pub trait QueueSend: Send + Sync {
    /// Sends messages in as few calls as the queue allows.
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<(), QueueError>;
}

#[async_trait]
pub trait QueueReceive: Send + Sync {
    /// Up to `max` messages, hidden from other receivers for `visibility_seconds`.
    async fn receive(
        &self,
        max: usize,
        visibility_seconds: u32,
    ) -> Result<Vec<Delivery>, QueueError>;
    /// Done with these: delete them.
    async fn ack(&self, receipts: &[String]) -> Result<(), QueueError>;
    /// Not done: make it visible again after `delay_seconds` (counts as an attempt).
    async fn release(&self, receipt: &str, delay_seconds: u32) -> Result<(), QueueError>;
}

#[derive(Debug, thiserror::Error)]
#[error("sentiment model failed: {0}")]
pub struct ScoreError(pub String);

/// What the model reads in one text: its sentiment and, when the model has risk-signal
/// and intent heads, what the text is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub sentiment: SentimentScore,
    pub understanding: Option<crate::understanding::Understanding>,
    /// The sentence embedding, kept for retrieval (drafting ranks replies with it).
    pub embedding: Option<crate::understanding::Embedding>,
}

impl From<SentimentScore> for Reading {
    fn from(sentiment: SentimentScore) -> Self {
        Self {
            sentiment,
            understanding: None,
            embedding: None,
        }
    }
}

/// The model, whatever runs it.
#[async_trait]
pub trait SentimentScorer: Send + Sync {
    /// One reading per text, in order; each text's reading does not depend on the others.
    async fn score(&self, texts: &[String]) -> Result<Vec<Reading>, ScoreError>;
}
