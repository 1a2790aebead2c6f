//! The canonical comment: what every platform's event becomes, valid by construction.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// Longest comment text kept, in bytes (the platforms' own limits are lower).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    #[error("brand id {0:?} must be 1-64 characters of a-z, 0-9 and '-'")]
    BrandId(String),
    #[error("comment text is empty")]
    EmptyText,
    #[error("comment text is {0} bytes, over the {MAX_TEXT_BYTES}-byte limit")]
    TextTooLong(usize),
    #[error("{field} must not be empty")]
    EmptyId { field: &'static str },
    #[error("unknown platform {0:?}")]
    Platform(String),
    #[error("user name {0:?} must be 1-64 characters of a-z, 0-9, '.', '-', '_' and '@'")]
    UserName(String),
    #[error("{0:?} is not a cursor this inbox gave out")]
    Cursor(String),
}

/// A brand's id, e.g. `acme`: lowercase ASCII letters, digits and dashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BrandId(String);

impl BrandId {
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(s))
        } else {
            Err(InvalidValue::BrandId(s))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BrandId {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl From<BrandId> for String {
    fn from(b: BrandId) -> String {
        b.0
    }
}

impl fmt::Display for BrandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a comment was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Facebook,
    Instagram,
    /// X (formerly Twitter): replies, mentions and direct messages.
    X,
    LinkedIn,
    TikTok,
    /// Google Business Profile reviews.
    Google,
    /// YouTube comments on a channel's videos (read on a schedule).
    YouTube,
    /// Reddit comments in a subreddit (read on a schedule).
    Reddit,
    /// Any other source, through the generic signed webhook (its name is in `Comment::source`).
    Generic,
}

impl Platform {
    pub const ALL: [Platform; 9] = [
        Platform::Facebook,
        Platform::Instagram,
        Platform::X,
        Platform::LinkedIn,
        Platform::TikTok,
        Platform::Google,
        Platform::YouTube,
        Platform::Reddit,
        Platform::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Facebook => "facebook",
            Platform::Instagram => "instagram",
            Platform::X => "x",
            Platform::LinkedIn => "linkedin",
            Platform::TikTok => "tiktok",
            Platform::Google => "google",
            Platform::YouTube => "youtube",
            Platform::Reddit => "reddit",
            Platform::Generic => "generic",
        }
    }

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| InvalidValue::Platform(s.to_owned()))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn non_empty(field: &'static str, s: impl Into<String>) -> Result<String, InvalidValue> {
    let s = s.into();
    if s.trim().is_empty() {
        Err(InvalidValue::EmptyId { field })
    } else {
        Ok(s)
    }
}

/// A comment's identity: brand, platform and the platform's own id (never blank, also
/// when read back from a store or a queue message).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "CommentKeyFields")]
pub struct CommentKey {
    pub brand: BrandId,
    pub platform: Platform,
    pub external_id: String,
}

#[derive(Deserialize)]
struct CommentKeyFields {
    brand: BrandId,
    platform: Platform,
    external_id: String,
}

impl TryFrom<CommentKeyFields> for CommentKey {
    type Error = InvalidValue;
    fn try_from(k: CommentKeyFields) -> Result<Self, Self::Error> {
        Self::new(k.brand, k.platform, k.external_id)
    }
}

impl CommentKey {
    pub fn new(
        brand: BrandId,
        platform: Platform,
        external_id: impl Into<String>,
    ) -> Result<Self, InvalidValue> {
        Ok(Self {
            brand,
            platform,
            external_id: non_empty("comment id", external_id)?,
        })
    }
}

impl fmt::Display for CommentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.brand, self.platform, self.external_id)
    }
}

/// A conversation: the post, media or review a comment belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ThreadKey {
    pub brand: BrandId,
    pub platform: Platform,
    pub thread_id: String,
}

impl fmt::Display for ThreadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.brand, self.platform, self.thread_id)
    }
}

/// Text of a comment: never empty (after trimming), at most [`MAX_TEXT_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommentText(String);

impl CommentText {
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        if s.trim().is_empty() {
            return Err(InvalidValue::EmptyText);
        }
        if s.len() > MAX_TEXT_BYTES {
            return Err(InvalidValue::TextTooLong(s.len()));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl CommentText {
    /// Like [`parse`](Self::parse), but a text over [`MAX_TEXT_BYTES`] is shortened to its
    /// head and tail (a long comment's greeting and its demand) instead of refused, so the
    /// comment is kept; the [`Truncation`] records how long it was.
    pub fn truncating(s: impl Into<String>) -> Result<(Self, Option<Truncation>), InvalidValue> {
        let s = s.into();
        if s.len() <= MAX_TEXT_BYTES {
            return Ok((Self::parse(s)?, None));
        }
        if s.trim().is_empty() {
            return Err(InvalidValue::EmptyText);
        }
        let budget = MAX_TEXT_BYTES - ELISION.len();
        let head_end = floor_char_boundary(&s, budget * 3 / 4);
        let tail_start = ceil_char_boundary(&s, s.len() - (budget - head_end));
        let kept = format!("{}{ELISION}{}", &s[..head_end], &s[tail_start..]);
        let truncation = Truncation {
            original_bytes: s.len(),
        };
        Ok((Self::parse(kept)?, Some(truncation)))
    }
}

/// What replaces the middle of a text too long to keep whole.
pub const ELISION: &str = "\n[…]\n";

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// A comment text that was longer than [`MAX_TEXT_BYTES`]: the stored text keeps its head
/// and tail around [`ELISION`]; the whole delivery stays in the raw archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncation {
    pub original_bytes: usize,
}

/// What a comment carries besides text: a photo, a video or GIF, a sticker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub kind: AttachmentKind,
    /// Where the platform serves it, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentKind {
    Photo,
    /// A video or an animated GIF (Meta reports both as `video`).
    Video,
    Sticker,
    Link,
    /// The platform sent a comment with neither text nor a media it names.
    #[serde(other)]
    Unknown,
}

impl AttachmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Photo => "photo",
            AttachmentKind::Video => "video",
            AttachmentKind::Sticker => "sticker",
            AttachmentKind::Link => "link",
            AttachmentKind::Unknown => "unknown",
        }
    }
}

impl TryFrom<String> for CommentText {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl From<CommentText> for String {
    fn from(t: CommentText) -> String {
        t.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Followers or subscribers, when the platform says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followers: Option<u64>,
}

/// Where a comment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentState {
    /// Stored; its classification request is not known to be queued yet.
    Received,
    /// Waiting in the classification queue.
    Queued,
    /// Scored: sentiment and urgency are on the comment; open for the managers.
    Triaged,
    /// Written by the brand's own account: stored, never classified.
    OwnReply,
    /// Deleted on the platform.
    Deleted,
}

impl CommentState {
    pub fn as_str(self) -> &'static str {
        match self {
            CommentState::Received => "received",
            CommentState::Queued => "queued",
            CommentState::Triaged => "triaged",
            CommentState::OwnReply => "own_reply",
            CommentState::Deleted => "deleted",
        }
    }
}

/// The three verdicts of the sentiment model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    Negative,
    Neutral,
    Positive,
}

impl Sentiment {
    pub fn as_str(self) -> &'static str {
        match self {
            Sentiment::Negative => "negative",
            Sentiment::Neutral => "neutral",
            Sentiment::Positive => "positive",
        }
    }

    /// The verdict [`as_str`](Self::as_str) names.
    pub fn parse(s: &str) -> Option<Self> {
        [Sentiment::Negative, Sentiment::Neutral, Sentiment::Positive]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// What the sentiment model said of one text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentScore {
    pub label: Sentiment,
    pub negative: f32,
    pub neutral: f32,
    pub positive: f32,
    pub model: String,
}

/// Sentiment and urgency of one version of a comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Triage {
    /// The comment version that was scored.
    pub version: u32,
    /// `None` when the comment has no text: urgency then counts only what is known of the
    /// author (reach, VIP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<SentimentScore>,
    /// Risk signals and intent; `None` without text or when the model has no heads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub understanding: Option<crate::understanding::Understanding>,
    /// The text's sentence embedding (int8), for retrieval; `None` without text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<crate::understanding::Embedding>,
    pub urgency: crate::urgency::Urgency,
    pub triaged_at: Timestamp,
}

/// The canonical comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub key: CommentKey,
    pub thread_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Name of the source for generic webhooks (e.g. `trustpilot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A private message (Messenger, Instagram or X direct message), not a public comment:
    /// its thread is the conversation, and its answer is private too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
    pub author: Author,
    /// `None` for a comment that is only an attachment (a photo, a sticker): it is still
    /// stored and shown, but there is no text for the model to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<CommentText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
    /// Set when the platform's text was too long to keep whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncation: Option<Truncation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permalink: Option<String>,
    /// When the platform says it was written.
    pub created_at: Timestamp,
    pub received_at: Timestamp,
    /// 1 when created, +1 per edit of its text.
    pub version: u32,
    pub state: CommentState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage: Option<Triage>,
    /// The last version an escalation event was sent for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_version: Option<u32>,
    /// Optimistic-concurrency token: the store increments it on every write.
    #[serde(default)]
    pub revision: u64,
}

impl Comment {
    pub fn thread(&self) -> ThreadKey {
        ThreadKey {
            brand: self.key.brand.clone(),
            platform: self.key.platform,
            thread_id: self.thread_id.clone(),
        }
    }

    /// Urgency score when triaged and still open.
    pub fn open_urgency(&self) -> Option<u8> {
        match (self.state, &self.triage) {
            (CommentState::Triaged, Some(t)) => Some(t.urgency.score),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brand_ids_are_checked() {
        assert!(BrandId::parse("acme-fr2").is_ok());
        for bad in ["", "Acme", "acme fr", "acme_fr", &"a".repeat(65)] {
            assert!(BrandId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn texts_are_never_blank_nor_huge() {
        assert!(CommentText::parse("  \n ").is_err());
        assert!(CommentText::parse("x".repeat(MAX_TEXT_BYTES + 1)).is_err());
        assert_eq!(CommentText::parse(" ok ").unwrap().as_str(), " ok ");
    }

    #[test]
    fn long_texts_keep_their_head_and_tail_within_the_limit() {
        let long = format!("Bonjour, {}je porte plainte 🎉", "é".repeat(MAX_TEXT_BYTES));
        let (text, truncation) = CommentText::truncating(long.clone()).unwrap();
        assert!(text.as_str().len() <= MAX_TEXT_BYTES);
        assert!(text.as_str().starts_with("Bonjour, éé"));
        assert!(text.as_str().ends_with("je porte plainte 🎉"));
        assert!(text.as_str().contains(ELISION));
        assert_eq!(
            truncation,
            Some(Truncation {
                original_bytes: long.len()
            })
        );
        let (short, none) = CommentText::truncating("court").unwrap();
        assert_eq!((short.as_str(), none), ("court", None));
        assert!(CommentText::truncating(" ".repeat(MAX_TEXT_BYTES + 1)).is_err());
    }

    #[test]
    fn comments_stored_before_attachments_existed_still_read() {
        let old = r#"{"key":{"brand":"acme","platform":"facebook","external_id":"5_1"},"thread_id":"1001_5",
          "author":{"id":"77"},"text":"Colis jamais reçu","created_at":1764086399000,"received_at":1764086400000,
          "version":1,"state":"triaged","triage":{"version":1,"sentiment":{"label":"negative","negative":0.9,
          "neutral":0.05,"positive":0.05,"model":"m"},"urgency":{"score":40,"escalate":false,"reasons":[]},
          "triaged_at":1764086401000}}"#;
        let c: Comment = serde_json::from_str(old).unwrap();
        assert_eq!(c.text.unwrap().as_str(), "Colis jamais reçu");
        assert_eq!((c.attachment, c.truncation), (None, None));
        assert!(c.triage.unwrap().sentiment.is_some());
        let kind: AttachmentKind = serde_json::from_str("\"hologram\"").unwrap();
        assert_eq!(kind, AttachmentKind::Unknown);
    }

    #[test]
    fn serde_refuses_invalid_values() {
        assert!(serde_json::from_str::<BrandId>("\"Not Valid\"").is_err());
        assert!(serde_json::from_str::<CommentText>("\"\"").is_err());
        let key = |id: &str| {
            serde_json::from_value::<CommentKey>(serde_json::json!(
                {"brand": "acme", "platform": "facebook", "external_id": id}
            ))
        };
        assert_eq!(key("5_900").unwrap().external_id, "5_900");
        assert!(key("").is_err());
        assert!(key(" \t").is_err());
    }
}
