//! Escalation events: what automated consumers receive for an urgent comment.
//!
//! Versioned (`schema`), described by schemas/escalation-event.v2.json, and idempotent per
//! comment version: `event_id` is the same for every send of the same version, so consumers
//! drop repeats.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::comment::{
    Attachment, Author, BrandId, Comment, CommentKey, InvalidValue, Platform, SentimentScore,
};
use crate::understanding::Understanding;
use crate::urgency::Urgency;

/// The schema events are sent with. Version 2 adds the learned risk signals and intent
/// (`understanding`) and the urgency signals they score as (violence_threat, virality,
/// scam); version 1 consumers must move to it.
pub const SCHEMA: &str = "vigie.escalation.v2";

/// How long consumers remember a delivered `event_id`: SQS's longest retention, so that
/// no repeat still in a queue or its dead-letter queue outlives the memory of it.
pub const REPEAT_WINDOW_DAYS: i64 = 14;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationEvent {
    pub schema: String,
    pub event_id: String,
    pub brand: String,
    pub platform: Platform,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub comment_id: String,
    pub comment_version: u32,
    pub thread_id: String,
    pub author: Author,
    /// Absent for a comment that is only an attachment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permalink: Option<String>,
    pub created_at: String,
    pub received_at: String,
    /// Absent when there was no text to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<SentimentScore>,
    /// Risk signals and intent learned from the text; absent without text or heads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub understanding: Option<Understanding>,
    pub urgency: Urgency,
    pub escalated_at: String,
}

/// Same id for the same comment version, whoever sends it and how often.
pub fn event_id(comment: &Comment) -> String {
    let digest = Sha256::digest(format!("{}#{}", comment.key, comment.version));
    hex::encode(&digest[..16])
}

impl EscalationEvent {
    /// The key of the comment it is about.
    pub fn comment_key(&self) -> Result<CommentKey, InvalidValue> {
        CommentKey::new(
            BrandId::parse(self.brand.clone())?,
            self.platform,
            self.comment_id.clone(),
        )
    }

    /// The event for a triaged comment; `None` when it is not triaged.
    pub fn for_comment(comment: &Comment, escalated_at: crate::time::Timestamp) -> Option<Self> {
        let triage = comment.triage.as_ref()?;
        Some(Self {
            schema: SCHEMA.into(),
            event_id: event_id(comment),
            brand: comment.key.brand.to_string(),
            platform: comment.key.platform,
            source: comment.source.clone(),
            comment_id: comment.key.external_id.clone(),
            comment_version: comment.version,
            thread_id: comment.thread_id.clone(),
            author: comment.author.clone(),
            text: comment.text.as_ref().map(|t| t.as_str().to_owned()),
            attachment: comment.attachment.clone(),
            permalink: comment.permalink.clone(),
            created_at: comment.created_at.rfc3339(),
            received_at: comment.received_at.rfc3339(),
            sentiment: triage.sentiment.clone(),
            understanding: triage.understanding.clone(),
            urgency: triage.urgency.clone(),
            escalated_at: escalated_at.rfc3339(),
        })
    }
}
