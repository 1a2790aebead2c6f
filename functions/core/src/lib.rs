//! vigie's domain core: the canonical comment, platform parsing and signatures, urgency,
//! escalation events, brand configuration, the intake and classification use cases, and
//! the ports that adapters implement.
//!
//! Architecture invariant: this crate knows nothing of AWS, SQLite, HTTP frameworks or
//! ONNX Runtime. Adapters implement [`ports`] with domain types; functions wire them.

/// A closed set of snake_case names as an enum: serde, `ALL`, `as_str`, `parse`, `Display`.
/// Variants may carry doc comments; declaration order is the enum's order.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident {
        $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

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
pub mod inbox;
pub mod intake;
pub mod language;
pub mod lexicon;
pub mod notify;
pub mod platforms;
pub mod poll;
pub mod ports;
pub mod reports;
pub mod review;
pub mod secrets;
pub mod signature;
pub mod time;
pub mod understanding;
pub mod urgency;
pub mod users;

pub use comment::{
    Author, BrandId, Comment, CommentKey, CommentState, CommentText, Platform, Sentiment,
    SentimentScore,
};
pub use time::Timestamp;
