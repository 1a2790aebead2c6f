//! vigie's domain core: the canonical comment, platform parsing and signatures, urgency,
//! escalation events, brand configuration, the intake and classification use cases, and
//! the ports that adapters implement.
//!
//! Architecture invariant: this crate knows nothing of AWS, SQLite, HTTP frameworks or
//! ONNX Runtime. Adapters implement [`ports`] with domain types; functions wire them.

pub mod checks;
pub mod classify;
pub mod comment;
pub mod config;
pub mod content;
pub mod draft;
pub mod drafting;
pub mod drafts;
pub mod escalation;
pub mod events;
pub mod intake;
pub mod language;
pub mod lexicon;
pub mod notify;
pub mod platforms;
pub mod ports;
pub mod secrets;
pub mod signature;
pub mod time;
pub mod understanding;
pub mod urgency;

pub use comment::{
    Author, BrandId, Comment, CommentKey, CommentState, CommentText, Platform, Sentiment,
    SentimentScore,
};
pub use time::Timestamp;
