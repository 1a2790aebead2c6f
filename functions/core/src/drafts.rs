//! Reply suggestions stored for a comment version: what vigie proposes and why, what it
//! refused to propose and why. One record per comment, for its latest version.

use serde::{Deserialize, Serialize};

use crate::comment::CommentKey;
use crate::content::Action;
use crate::time::Timestamp;
use crate::understanding::Intent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftState {
    /// Waiting for a person.
    Proposed,
    /// The comment was deleted, or edited and drafted again.
    Withdrawn,
}

/// One check of a draft and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// `length`, `language`, `formality`, `sign_off`, `emoji`, `banned_word`, `promise`,
    /// `personal_data`, `slot`, `link`, `spelling`, `typography`.
    pub check: String,
    pub passed: bool,
    /// Why it failed (the word, the topic, the count...); empty when it passed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A suggestion that passed every check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub text: String,
    /// The engine that wrote it (`grounded`, `bedrock`).
    pub engine: String,
    /// The approved replies it is built on.
    pub reply_ids: Vec<String>,
    /// Cosine between the comment and the best of those replies.
    pub similarity: f32,
    pub checks: Vec<CheckOutcome>,
}

/// A draft that failed a check: never shown as a suggestion, kept with its reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    pub text: String,
    pub engine: String,
    pub reply_ids: Vec<String>,
    /// The checks that failed.
    pub failed: Vec<CheckOutcome>,
}

/// What vigie proposes for one comment version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drafts {
    pub key: CommentKey,
    pub comment_version: u32,
    pub state: DraftState,
    pub action: Action,
    /// Why this action, in words a manager reads.
    pub action_reason: String,
    pub intent: Option<Intent>,
    /// The comment's language (the reply's, when the brand serves it).
    pub lang: String,
    /// Ranked, best first; at most three; empty when no reply is needed or none passed.
    pub suggestions: Vec<Suggestion>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejected>,
    /// The brand content version the drafts used.
    pub content_version: u32,
    pub created_at: Timestamp,
    /// How many times managers asked for new drafts of this comment version (0: the
    /// first drafts). A later generation replaces an earlier one of the same version.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
