//! Typed internal events: each logs and counts in one place (`emit`); and the spans every
//! line of a queue batch is logged in: `batch` (queue, messages), then `message`
//! (message_id, and once its body is read, the comment's `key` and `brand`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::comment::{BrandId, CommentKey, Platform};

/// The span of a batch of queue messages: the lines about the batch as a whole (its one
/// model call, its summary) are logged in it.
///
/// At the ERROR level, as [`message_span`]: a span is kept whenever a line is, whatever
/// the level the logs are filtered at.
pub fn batch_span(queue: &'static str, messages: usize) -> tracing::Span {
    tracing::error_span!("batch", queue, messages)
}

/// The span of one queue message: every line logged while it is handled is logged in
/// it. Its comment is recorded by [`record_comment`] once the body is read.
pub fn message_span(message_id: &str) -> tracing::Span {
    tracing::error_span!(
        "message",
        message_id,
        key = tracing::field::Empty,
        brand = tracing::field::Empty
    )
}

/// Names the comment a message is about on its span: `key` (`brand/platform/id`) and `brand`.
pub fn record_comment(span: &tracing::Span, key: &CommentKey) {
    span.record("key", tracing::field::display(key));
    span.record("brand", tracing::field::display(&key.brand));
}

static COUNTERS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

fn count(name: &str, labels: &[(&str, &str)]) {
    add(name, labels, 1);
}

fn add(name: &str, labels: &[(&str, &str)], n: u64) {
    let mut key = name.to_owned();
    for (k, v) in labels {
        key.push_str(&format!(",{k}={v}"));
    }
    *COUNTERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default() += n;
}

/// Every counter so far, e.g. `comment_received,platform=facebook -> 12`.
pub fn counters() -> BTreeMap<String, u64> {
    COUNTERS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Something worth counting and logging.
pub trait InternalEvent {
    fn emit(self);
}

pub struct CommentReceived<'a> {
    pub brand: &'a BrandId,
    pub platform: Platform,
    pub kind: &'static str,
}

impl InternalEvent for CommentReceived<'_> {
    fn emit(self) {
        tracing::debug!(brand = %self.brand, platform = %self.platform, kind = self.kind, "comment received");
        count(
            "comment_received",
            &[("platform", self.platform.as_str()), ("kind", self.kind)],
        );
    }
}

/// Gap repair stored comments the webhooks had not delivered.
pub struct GapRepaired<'a> {
    pub feed: &'a str,
    pub platform: Platform,
    pub missed: usize,
}

impl InternalEvent for GapRepaired<'_> {
    fn emit(self) {
        tracing::warn!(
            feed = self.feed,
            platform = %self.platform,
            missed = self.missed,
            "gap repair found comments the webhooks had not delivered"
        );
        add(
            "gap_repaired",
            &[("platform", self.platform.as_str())],
            self.missed as u64,
        );
    }
}

/// A feed could not be read; it backs off.
pub struct PollFailed<'a> {
    pub feed: &'a str,
    pub platform: Platform,
    pub failures: u32,
    pub backoff_seconds: i64,
    pub error: &'a str,
}

impl InternalEvent for PollFailed<'_> {
    fn emit(self) {
        tracing::warn!(
            feed = self.feed,
            platform = %self.platform,
            failures = self.failures,
            backoff_seconds = self.backoff_seconds,
            error = self.error,
            "a feed could not be read; it backs off"
        );
        count("poll_failed", &[("platform", self.platform.as_str())]);
    }
}

pub struct DuplicateDelivery<'a> {
    pub platform: Platform,
    pub key: &'a crate::comment::CommentKey,
}

impl InternalEvent for DuplicateDelivery<'_> {
    fn emit(self) {
        tracing::debug!(key = %self.key, "duplicate delivery absorbed");
        count(
            "duplicate_delivery",
            &[("platform", self.platform.as_str())],
        );
    }
}

pub struct SignatureRejected<'a> {
    pub platform: Platform,
    pub reason: &'a str,
}

impl InternalEvent for SignatureRejected<'_> {
    fn emit(self) {
        tracing::warn!(platform = %self.platform, reason = self.reason, "webhook signature rejected");
        count(
            "signature_rejected",
            &[("platform", self.platform.as_str())],
        );
    }
}

pub struct PayloadRejected<'a> {
    pub platform: Platform,
    pub reason: &'a str,
}

impl InternalEvent for PayloadRejected<'_> {
    fn emit(self) {
        tracing::warn!(platform = %self.platform, reason = self.reason, "webhook payload rejected");
        count("payload_rejected", &[("platform", self.platform.as_str())]);
    }
}

pub struct EventIgnored<'a> {
    pub platform: Platform,
    pub reason: &'a str,
}

impl InternalEvent for EventIgnored<'_> {
    fn emit(self) {
        tracing::debug!(platform = %self.platform, reason = self.reason, "event ignored");
        count("event_ignored", &[("platform", self.platform.as_str())]);
    }
}

pub struct CommentQueued {
    pub count: usize,
}

impl InternalEvent for CommentQueued {
    fn emit(self) {
        tracing::debug!(count = self.count, "comments queued for classification");
        add("comment_queued", &[], self.count as u64);
    }
}

/// A draft that failed a check and was not stored as a suggestion.
pub struct DraftRejected<'a> {
    pub brand: &'a BrandId,
    pub engine: &'a str,
    /// The first check it failed.
    pub check: &'a str,
}

impl InternalEvent for DraftRejected<'_> {
    fn emit(self) {
        tracing::info!(brand = %self.brand, engine = self.engine, check = self.check, "draft rejected by its checks");
        count(
            "draft_rejected",
            &[("engine", self.engine), ("check", self.check)],
        );
    }
}

/// A brand's approved replies were embedded by another model than the comment: drafting
/// ranks them without similarity until the content is imported again.
pub struct StaleReplyEmbeddings<'a> {
    pub brand: &'a BrandId,
    pub replies_model: &'a str,
    pub comment_model: &'a str,
}

impl InternalEvent for StaleReplyEmbeddings<'_> {
    fn emit(self) {
        tracing::warn!(brand = %self.brand, replies_model = self.replies_model, comment_model = self.comment_model,
            "approved replies embedded by another model: ranked without similarity (vigie brand import embeds them again)");
        count("stale_reply_embeddings", &[]);
    }
}

pub struct CommentClassified<'a> {
    pub brand: &'a BrandId,
    pub label: &'static str,
    /// The learned intent, or "unknown" without text or heads.
    pub intent: &'static str,
    pub urgency: u8,
}

impl InternalEvent for CommentClassified<'_> {
    fn emit(self) {
        tracing::debug!(brand = %self.brand, label = self.label, intent = self.intent, urgency = self.urgency, "comment classified");
        count(
            "comment_classified",
            &[("label", self.label), ("intent", self.intent)],
        );
    }
}

pub struct Escalated<'a> {
    pub brand: &'a BrandId,
    pub tier: &'a str,
    pub score: u8,
    pub event_id: &'a str,
}

impl InternalEvent for Escalated<'_> {
    fn emit(self) {
        tracing::info!(brand = %self.brand, tier = self.tier, score = self.score, event_id = self.event_id, "comment escalated");
        count("escalated", &[("tier", self.tier)]);
    }
}

pub struct MessageFailed<'a> {
    pub queue: &'static str,
    pub message_id: &'a str,
    pub reason: &'a str,
    pub poison: bool,
}

impl InternalEvent for MessageFailed<'_> {
    fn emit(self) {
        tracing::warn!(
            queue = self.queue,
            message_id = self.message_id,
            reason = self.reason,
            poison = self.poison,
            "message failed"
        );
        count(
            "message_failed",
            &[
                ("queue", self.queue),
                ("poison", if self.poison { "true" } else { "false" }),
            ],
        );
    }
}

/// A repeat of an event already delivered, acknowledged without delivering it again.
pub struct RepeatDropped<'a> {
    pub queue: &'static str,
    pub event_id: &'a str,
}

impl InternalEvent for RepeatDropped<'_> {
    fn emit(self) {
        tracing::info!(
            queue = self.queue,
            event_id = self.event_id,
            "repeat dropped"
        );
        count("repeat_dropped", &[("queue", self.queue)]);
    }
}

pub struct NotificationSent<'a> {
    pub brand: &'a str,
    pub attempts: u32,
}

impl InternalEvent for NotificationSent<'_> {
    fn emit(self) {
        tracing::info!(
            brand = self.brand,
            attempts = self.attempts,
            "notification sent"
        );
        count("notification_sent", &[]);
    }
}

pub struct NotificationFailed<'a> {
    pub brand: &'a str,
    pub attempts: u32,
    pub reason: &'a str,
}

impl InternalEvent for NotificationFailed<'_> {
    fn emit(self) {
        tracing::warn!(
            brand = self.brand,
            attempts = self.attempts,
            reason = self.reason,
            "notification failed"
        );
        count("notification_failed", &[]);
    }
}
