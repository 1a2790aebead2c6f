//! The managers' review of a comment: who is on it, what they make of vigie's suggestions,
//! what was sent. A pure state machine: [`apply`] checks a [`Command`] against the
//! [`Review`], the [`Actor`]'s role and the claim on the comment, and the revision the
//! actor read; it returns the next review with the [`AuditRecord`] of the change. Storing
//! both at once is the [`ReviewStore`](crate::ports::ReviewStore)'s job.
//!
//! The review's status is apart from the pipeline's [`CommentState`](crate::CommentState):
//! `new` → `in_progress` → `replied` | `hidden` | `ignored` | `escalated`, and `withdrawn`
//! when the comment is edited or deleted. `replied` and `withdrawn` are final; a hidden,
//! ignored or escalated comment is set aside and reopens (`in_progress`) when someone
//! works on it again.

use serde::{Deserialize, Serialize};

use crate::comment::CommentKey;
use crate::drafts::{DraftState, Drafts};
use crate::time::Timestamp;

/// How long a claim holds unless renewed, released or taken over: 15 minutes.
pub const CLAIM_LENGTH_MS: i64 = 15 * 60 * 1000;

/// The user vigie signs its own changes with (withdrawals), with the admin role.
pub const SYSTEM_USER: &str = "vigie";

named_enum! {
    /// What a user may do for a brand, least first: viewers read, responders work on
    /// comments, admins may also take over another user's claim.
    Role {
        Viewer => "viewer",
        Responder => "responder",
        Admin => "admin",
    }
}

/// Who acts, with their role for the comment's brand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user: String,
    pub role: Role,
}

impl Actor {
    pub fn new(user: impl Into<String>, role: Role) -> Self {
        Self {
            user: user.into(),
            role,
        }
    }
}

named_enum! {
    /// Where the managers are with a comment.
    ReviewStatus {
        /// Nobody has worked on it yet (or its drafts are being made again).
        New => "new",
        /// Claimed or worked on.
        InProgress => "in_progress",
        /// A reply was sent: final.
        Replied => "replied",
        Hidden => "hidden",
        Ignored => "ignored",
        Escalated => "escalated",
        /// The comment was edited or deleted: this version's review is closed, final.
        Withdrawn => "withdrawn",
    }
}

impl ReviewStatus {
    /// Replied or withdrawn: no command applies any more.
    pub fn is_final(self) -> bool {
        matches!(self, ReviewStatus::Replied | ReviewStatus::Withdrawn)
    }
}

named_enum! {
    /// Where one suggestion is.
    SuggestionStatus {
        /// As vigie wrote it, waiting for a person.
        Proposed => "proposed",
        /// Edited and approved once, then another suggestion was approved instead.
        Edited => "edited",
        /// The one to send (at most one per review).
        Approved => "approved",
        Sent => "sent",
        /// Refused by a manager, with a reason.
        Rejected => "rejected",
        /// The comment was edited or deleted.
        Withdrawn => "withdrawn",
    }
}

/// A soft lock: while it is live, only its holder (or an admin taking it over) acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub by: String,
    /// The first instant it no longer holds.
    pub until: Timestamp,
}

impl Claim {
    /// Still holding at `now`; an expired claim counts as none.
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.until
    }
}

/// One of vigie's suggestions as the managers left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuggestionReview {
    pub status: SuggestionStatus,
    /// The current text: vigie's, or a manager's edit of it.
    pub text: String,
    /// What vigie wrote.
    pub original_text: String,
    /// The engine that wrote it (`grounded`, `bedrock`).
    pub engine: String,
    /// `text` differs from `original_text`.
    pub edited: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_reason: Option<String>,
}

/// The reply that went out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub text: String,
    /// The reply's id on the platform.
    pub platform_reply_id: String,
    pub by: String,
    pub at: Timestamp,
    /// The text sent is not vigie's draft as written.
    pub ai_edited: bool,
}

/// The managers' review of one comment version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub key: CommentKey,
    pub comment_version: u32,
    /// The brand content version the suggestions were drafted with.
    pub content_version: u32,
    pub status: ReviewStatus,
    /// The last claim; it may have expired (see [`Review::live_claim`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    /// In the drafts' order, best first; a command names one by its index here.
    pub suggestions: Vec<SuggestionReview>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<Sent>,
    /// The drafts' generation the suggestions come from; one more than the stored drafts'
    /// after a `regenerate`, until the new drafts arrive.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub drafts_generation: u32,
    /// Moves on by one with every change: a command names the revision it was decided on.
    pub revision: u64,
    pub updated_at: Timestamp,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

named_enum! {
    /// Why a review was withdrawn.
    Withdrawal {
        Edited => "comment_edited",
        Deleted => "comment_deleted",
    }
}

impl Review {
    /// A new review of stored drafts: their suggestions as proposed, revision 0 (not stored
    /// yet). Withdrawn drafts give a withdrawn review.
    pub fn open(drafts: &Drafts, now: Timestamp) -> Self {
        let withdrawn = drafts.state == DraftState::Withdrawn;
        let suggestions = drafts
            .suggestions
            .iter()
            .map(|s| SuggestionReview {
                status: if withdrawn {
                    SuggestionStatus::Withdrawn
                } else {
                    SuggestionStatus::Proposed
                },
                text: s.text.clone(),
                original_text: s.text.clone(),
                engine: s.engine.clone(),
                edited: false,
                reject_reason: None,
            })
            .collect();
        Self {
            key: drafts.key.clone(),
            comment_version: drafts.comment_version,
            content_version: drafts.content_version,
            status: if withdrawn {
                ReviewStatus::Withdrawn
            } else {
                ReviewStatus::New
            },
            claim: None,
            suggestions,
            sent: None,
            drafts_generation: drafts.generation,
            revision: 0,
            updated_at: now,
        }
    }

    /// A new review of a comment version with no drafts (its brand has no content, or it is
    /// not drafted yet): no suggestions, but it can be claimed, hidden, ignored or escalated.
    pub fn without_drafts(key: CommentKey, comment_version: u32, now: Timestamp) -> Self {
        Self {
            key,
            comment_version,
            content_version: 0,
            status: ReviewStatus::New,
            claim: None,
            suggestions: Vec::new(),
            sent: None,
            drafts_generation: 0,
            revision: 0,
            updated_at: now,
        }
    }

    /// The review to act on for a comment at `comment_version`, given the stored one and
    /// the comment's drafts if it has any for that version: as [`Review::for_drafts`], or,
    /// without drafts, the stored review of this version or a review without suggestions
    /// (one revision past a stored review of an earlier version).
    pub fn current(
        stored: Option<Review>,
        drafts: Option<&Drafts>,
        key: &CommentKey,
        comment_version: u32,
        now: Timestamp,
    ) -> Self {
        match (drafts, stored) {
            // claimed (or set aside, or regenerated) before its drafts were ready: they
            // join the review once they are the generation it waits for
            (Some(d), Some(r))
                if r.comment_version == d.comment_version
                    && r.suggestions.is_empty()
                    && d.generation >= r.drafts_generation
                    && !r.status.is_final() =>
            {
                let opened = Self::open(d, now);
                Self {
                    suggestions: opened.suggestions,
                    content_version: opened.content_version,
                    drafts_generation: d.generation,
                    ..r
                }
            }
            (Some(d), stored) => Self::for_drafts(stored, d, now),
            (None, Some(r)) if r.comment_version >= comment_version => r,
            (None, Some(r)) => Self {
                revision: r.revision.saturating_add(1),
                ..Self::without_drafts(key.clone(), comment_version, now)
            },
            (None, None) => Self::without_drafts(key.clone(), comment_version, now),
        }
    }

    /// The review to act on, given the stored one (of the same comment, if any) and the
    /// comment's latest drafts: the stored review while it is for the drafts' comment
    /// version or a later one, else a review opened from the drafts. One that takes the
    /// place of a stored review starts one revision past it, so that a command decided on
    /// the old version conflicts instead of landing on the new one.
    ///
    /// Store what [`apply`] makes of it with the *stored* review's revision as expected
    /// (`None` when nothing was stored).
    pub fn for_drafts(stored: Option<Review>, drafts: &Drafts, now: Timestamp) -> Self {
        match stored {
            None => Self::open(drafts, now),
            Some(r)
                if (r.comment_version, r.drafts_generation)
                    >= (drafts.comment_version, drafts.generation) =>
            {
                r
            }
            Some(r) => Self {
                revision: r.revision.saturating_add(1),
                ..Self::open(drafts, now)
            },
        }
    }

    /// Closes the review because the comment was edited or deleted: suggestions not sent or
    /// rejected become withdrawn, the claim goes. Signed [`SYSTEM_USER`]. `None` when it is
    /// withdrawn already (nothing to store).
    pub fn withdraw(&self, why: Withdrawal, now: Timestamp) -> Option<(Review, AuditRecord)> {
        if self.status == ReviewStatus::Withdrawn {
            return None;
        }
        let mut next = self.clone();
        next.status = ReviewStatus::Withdrawn;
        next.claim = None;
        for s in &mut next.suggestions {
            if !matches!(
                s.status,
                SuggestionStatus::Sent | SuggestionStatus::Rejected
            ) {
                s.status = SuggestionStatus::Withdrawn;
            }
        }
        let system = Actor::new(SYSTEM_USER, Role::Admin);
        let change = Change {
            reason: Some(why.as_str().to_owned()),
            ..Change::default()
        };
        Some(commit(
            self,
            next,
            &system,
            ReviewAction::Withdraw,
            change,
            now,
        ))
    }

    /// The claim, unless it expired at `now`.
    pub fn live_claim(&self, now: Timestamp) -> Option<&Claim> {
        self.claim.as_ref().filter(|c| c.is_live(now))
    }

    /// The approved suggestion and its index, if one is.
    pub fn approved(&self) -> Option<(usize, &SuggestionReview)> {
        self.suggestions
            .iter()
            .enumerate()
            .find(|(_, s)| s.status == SuggestionStatus::Approved)
    }
}

/// What a manager asks of a review. As JSON: `{"command": "approve", "index": 0}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Claims the comment for [`CLAIM_LENGTH_MS`] (renews one's own claim; an admin takes
    /// over another's).
    Claim,
    /// Frees one's own claim.
    Release,
    /// Approves a suggestion as it stands.
    Approve {
        index: usize,
    },
    /// Replaces a suggestion's text and approves it.
    EditAndApprove {
        index: usize,
        text: String,
    },
    Reject {
        index: usize,
        reason: String,
    },
    /// Asks for new drafts: the suggestions go and the review is new again; the caller
    /// drafts again.
    Regenerate,
    /// The approved suggestion was sent on the platform.
    MarkSent {
        platform_reply_id: String,
    },
    Hide,
    Ignore,
    Escalate,
}

impl Command {
    /// The action it is audited as (a claim of another's live claim is a `take_over`).
    pub fn action(&self) -> ReviewAction {
        match self {
            Command::Claim => ReviewAction::Claim,
            Command::Release => ReviewAction::Release,
            Command::Approve { .. } => ReviewAction::Approve,
            Command::EditAndApprove { .. } => ReviewAction::EditAndApprove,
            Command::Reject { .. } => ReviewAction::Reject,
            Command::Regenerate => ReviewAction::Regenerate,
            Command::MarkSent { .. } => ReviewAction::MarkSent,
            Command::Hide => ReviewAction::Hide,
            Command::Ignore => ReviewAction::Ignore,
            Command::Escalate => ReviewAction::Escalate,
        }
    }
}

named_enum! {
    /// What an audit record says was done.
    ReviewAction {
        Claim => "claim",
        Release => "release",
        Approve => "approve",
        EditAndApprove => "edit_and_approve",
        Reject => "reject",
        Regenerate => "regenerate",
        MarkSent => "mark_sent",
        Hide => "hide",
        Ignore => "ignore",
        Escalate => "escalate",
        /// An admin claimed a comment another user held.
        TakeOver => "take_over",
        /// vigie closed the review: the comment was edited or deleted.
        Withdraw => "withdraw",
    }
}

/// One change to a review, kept for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub key: CommentKey,
    pub comment_version: u32,
    pub at: Timestamp,
    pub by: String,
    pub role: Role,
    pub action: ReviewAction,
    pub from_status: ReviewStatus,
    pub to_status: ReviewStatus,
    /// The suggestion acted on (approve, edit_and_approve, reject, mark_sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<usize>,
    /// The suggestion's text before the action; for mark_sent, vigie's draft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_before: Option<String>,
    /// The suggestion's text after the action; for mark_sent, the text sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_after: Option<String>,
    /// The suggestion's text after the action is not vigie's draft as written.
    pub ai_edited: bool,
    /// The engine of the suggestion acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The brand content version of the suggestion acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_version: Option<u32>,
    /// A rejection's reason, whose claim was taken over, why it was withdrawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why a command was refused. As JSON: `{"error": "conflict", "current": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum ReviewError {
    /// The actor's role does not allow it.
    #[error("{action} refused: a {role} may only read")]
    Forbidden { action: ReviewAction, role: Role },
    /// The review moved on since the actor read it: here it is now.
    #[error("the review changed since it was read: it is at revision {}", current.revision)]
    Conflict { current: Box<Review> },
    /// Another user holds a live claim on the comment.
    #[error("{by} is on this comment until {}", until.rfc3339())]
    ClaimedByOther { by: String, until: Timestamp },
    /// Not a move the review can make from where it is.
    #[error("cannot {action} a review that is {from}: {reason}")]
    Invalid {
        action: ReviewAction,
        from: ReviewStatus,
        reason: String,
    },
}

/// The details of a change, for its audit record.
#[derive(Default)]
struct Change {
    suggestion: Option<usize>,
    text_before: Option<String>,
    text_after: Option<String>,
    ai_edited: bool,
    reason: Option<String>,
}

/// Applies `command` by `actor`, who read the review at `expected_revision`, at `now`:
/// the next review (its revision one more) and the audit record of the change.
///
/// Refused, in this order: by a viewer (`Forbidden`); when the review is not at
/// `expected_revision` (`Conflict`, with the current review); once it is replied or
/// withdrawn (`Invalid`); while another user's live claim holds, unless an admin claims it
/// (`ClaimedByOther`); then whatever the command itself cannot do from here (`Invalid`).
pub fn apply(
    review: &Review,
    command: &Command,
    actor: &Actor,
    expected_revision: u64,
    now: Timestamp,
) -> Result<(Review, AuditRecord), ReviewError> {
    let mut action = command.action();
    if actor.role < Role::Responder {
        return Err(ReviewError::Forbidden {
            action,
            role: actor.role,
        });
    }
    if expected_revision != review.revision {
        return Err(ReviewError::Conflict {
            current: Box::new(review.clone()),
        });
    }
    let from = review.status;
    let invalid = |action, reason: String| ReviewError::Invalid {
        action,
        from,
        reason,
    };
    match from {
        ReviewStatus::Withdrawn => {
            return Err(invalid(
                action,
                "the comment was edited or deleted: this review is closed".into(),
            ));
        }
        ReviewStatus::Replied => {
            return Err(invalid(
                action,
                "a reply was sent: this review is closed".into(),
            ));
        }
        _ => {}
    }

    let mut change = Change::default();
    if let Some(claim) = review.live_claim(now).filter(|c| c.by != actor.user) {
        if *command == Command::Claim && actor.role >= Role::Admin {
            action = ReviewAction::TakeOver;
            change.reason = Some(format!(
                "claimed by {} until {}",
                claim.by,
                claim.until.rfc3339()
            ));
        } else {
            return Err(ReviewError::ClaimedByOther {
                by: claim.by.clone(),
                until: claim.until,
            });
        }
    }

    let mut next = review.clone();
    next.claim = review.live_claim(now).cloned();
    let claim_for_actor = || Claim {
        by: actor.user.clone(),
        until: now.plus_millis(CLAIM_LENGTH_MS),
    };

    match command {
        Command::Claim => {
            next.claim = Some(claim_for_actor());
            next.status = ReviewStatus::InProgress;
        }
        Command::Release => {
            if next.claim.take().is_none() {
                return Err(invalid(
                    action,
                    "nothing to release: the comment is not claimed (or the claim expired)".into(),
                ));
            }
        }
        Command::Approve { index } => {
            let s = suggestion(review, *index).map_err(|r| invalid(action, r))?;
            match s.status {
                SuggestionStatus::Proposed | SuggestionStatus::Edited => {}
                SuggestionStatus::Approved => {
                    return Err(invalid(
                        action,
                        format!("suggestion {index} is already approved"),
                    ));
                }
                other => return Err(invalid(action, not_workable(*index, other))),
            }
            approve_only(&mut next, *index);
            next.claim.get_or_insert_with(claim_for_actor);
            next.status = ReviewStatus::InProgress;
            change.suggestion = Some(*index);
            change.text_before = Some(s.text.clone());
            change.text_after = Some(s.text.clone());
            change.ai_edited = s.edited;
        }
        Command::EditAndApprove { index, text } => {
            let s = suggestion(review, *index).map_err(|r| invalid(action, r))?;
            if text.trim().is_empty() {
                return Err(invalid(action, "the edited text is empty".into()));
            }
            match s.status {
                SuggestionStatus::Proposed | SuggestionStatus::Edited => {}
                SuggestionStatus::Approved if s.text != *text => {}
                SuggestionStatus::Approved => {
                    return Err(invalid(
                        action,
                        format!("suggestion {index} is already approved with this text"),
                    ));
                }
                other => return Err(invalid(action, not_workable(*index, other))),
            }
            approve_only(&mut next, *index);
            let edited = *text != s.original_text;
            if let Some(target) = next.suggestions.get_mut(*index) {
                target.text = text.clone();
                target.edited = edited;
            }
            next.claim.get_or_insert_with(claim_for_actor);
            next.status = ReviewStatus::InProgress;
            change.suggestion = Some(*index);
            change.text_before = Some(s.text.clone());
            change.text_after = Some(text.clone());
            change.ai_edited = edited;
        }
        Command::Reject { index, reason } => {
            let s = suggestion(review, *index).map_err(|r| invalid(action, r))?;
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(invalid(action, "a rejection needs a reason".into()));
            }
            match s.status {
                SuggestionStatus::Proposed
                | SuggestionStatus::Edited
                | SuggestionStatus::Approved => {}
                SuggestionStatus::Rejected => {
                    return Err(invalid(
                        action,
                        format!("suggestion {index} is already rejected"),
                    ));
                }
                other => return Err(invalid(action, not_workable(*index, other))),
            }
            if let Some(target) = next.suggestions.get_mut(*index) {
                target.status = SuggestionStatus::Rejected;
                target.reject_reason = Some(reason.to_owned());
            }
            next.status = ReviewStatus::InProgress;
            change.suggestion = Some(*index);
            change.text_before = Some(s.text.clone());
            change.ai_edited = s.edited;
            change.reason = Some(reason.to_owned());
        }
        Command::Regenerate => {
            next.suggestions.clear();
            next.status = ReviewStatus::New;
            next.drafts_generation += 1;
        }
        Command::MarkSent { platform_reply_id } => {
            if platform_reply_id.trim().is_empty() {
                return Err(invalid(action, "the platform's reply id is empty".into()));
            }
            let Some((index, s)) = review.approved() else {
                return Err(invalid(
                    action,
                    "no suggestion is approved: approve one before marking it sent".into(),
                ));
            };
            if let Some(target) = next.suggestions.get_mut(index) {
                target.status = SuggestionStatus::Sent;
            }
            next.sent = Some(Sent {
                text: s.text.clone(),
                platform_reply_id: platform_reply_id.clone(),
                by: actor.user.clone(),
                at: now,
                ai_edited: s.edited,
            });
            next.claim = None;
            next.status = ReviewStatus::Replied;
            change.suggestion = Some(index);
            change.text_before = Some(s.original_text.clone());
            change.text_after = Some(s.text.clone());
            change.ai_edited = s.edited;
        }
        Command::Hide | Command::Ignore | Command::Escalate => {
            let to = match command {
                Command::Hide => ReviewStatus::Hidden,
                Command::Ignore => ReviewStatus::Ignored,
                _ => ReviewStatus::Escalated,
            };
            if from == to {
                return Err(invalid(action, format!("it is already {to}")));
            }
            next.claim = None;
            next.status = to;
        }
    }
    Ok(commit(review, next, actor, action, change, now))
}

/// The suggestion at `index`, or why there is none.
fn suggestion(review: &Review, index: usize) -> Result<&SuggestionReview, String> {
    review
        .suggestions
        .get(index)
        .ok_or_else(|| match review.suggestions.len() {
            0 => format!("there is no suggestion {index}: the review has none"),
            n => format!(
                "there is no suggestion {index}: the review has {n} (0 to {})",
                n - 1
            ),
        })
}

fn not_workable(index: usize, status: SuggestionStatus) -> String {
    match status {
        SuggestionStatus::Rejected => {
            format!("suggestion {index} was rejected: it cannot be approved")
        }
        other => format!("suggestion {index} is {other}"),
    }
}

/// Approves the suggestion at `index` and takes back any other approval.
fn approve_only(review: &mut Review, index: usize) {
    for (i, s) in review.suggestions.iter_mut().enumerate() {
        if i == index {
            s.status = SuggestionStatus::Approved;
        } else if s.status == SuggestionStatus::Approved {
            s.status = if s.edited {
                SuggestionStatus::Edited
            } else {
                SuggestionStatus::Proposed
            };
        }
    }
}

/// Stamps `next` as the change from `before` and writes its audit record.
fn commit(
    before: &Review,
    mut next: Review,
    actor: &Actor,
    action: ReviewAction,
    change: Change,
    now: Timestamp,
) -> (Review, AuditRecord) {
    next.revision = before.revision.saturating_add(1);
    next.updated_at = now;
    let engine = change
        .suggestion
        .and_then(|i| before.suggestions.get(i))
        .map(|s| s.engine.clone());
    let audit = AuditRecord {
        key: before.key.clone(),
        comment_version: before.comment_version,
        at: now,
        by: actor.user.clone(),
        role: actor.role,
        action,
        from_status: before.status,
        to_status: next.status,
        suggestion: change.suggestion,
        text_before: change.text_before,
        text_after: change.text_after,
        ai_edited: change.ai_edited,
        content_version: engine.as_ref().map(|_| before.content_version),
        engine,
        reason: change.reason,
    };
    (next, audit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comment::{BrandId, Platform};
    use crate::content::Action;
    use crate::drafts::Suggestion;

    const T0: Timestamp = Timestamp(1_764_086_400_000);
    const MINUTE: i64 = 60_000;

    fn at(minutes: i64) -> Timestamp {
        T0.plus_millis(minutes * MINUTE)
    }

    fn key() -> CommentKey {
        CommentKey::new(BrandId::parse("acme").unwrap(), Platform::Facebook, "5_1").unwrap()
    }

    fn suggestion_of(text: &str, engine: &str) -> Suggestion {
        Suggestion {
            text: text.into(),
            engine: engine.into(),
            reply_ids: vec!["r1".into()],
            similarity: 0.8,
            checks: vec![],
        }
    }

    const TEXTS: [&str; 3] = [
        "Bonjour Julie, nous regardons votre commande.",
        "Bonjour Julie, désolés du retard.",
        "Bonjour Julie, écrivez-nous en privé.",
    ];

    fn drafts() -> Drafts {
        Drafts {
            key: key(),
            comment_version: 2,
            state: DraftState::Proposed,
            action: Action::ReplyPublic,
            action_reason: "a delivery question".into(),
            intent: None,
            lang: "fr".into(),
            suggestions: vec![
                suggestion_of(TEXTS[0], "grounded"),
                suggestion_of(TEXTS[1], "grounded"),
                suggestion_of(TEXTS[2], "bedrock"),
            ],
            rejected: vec![],
            content_version: 7,
            created_at: Timestamp(T0.0 - MINUTE),
            generation: 0,
        }
    }

    fn fresh() -> Review {
        Review::open(&drafts(), T0)
    }

    fn alice() -> Actor {
        Actor::new("alice", Role::Responder)
    }
    fn bob() -> Actor {
        Actor::new("bob", Role::Responder)
    }
    fn carol() -> Actor {
        Actor::new("carol", Role::Admin)
    }
    fn victor() -> Actor {
        Actor::new("victor", Role::Viewer)
    }

    fn approve(index: usize) -> Command {
        Command::Approve { index }
    }
    fn edit(index: usize, text: &str) -> Command {
        Command::EditAndApprove {
            index,
            text: text.into(),
        }
    }
    fn reject(index: usize, reason: &str) -> Command {
        Command::Reject {
            index,
            reason: reason.into(),
        }
    }
    fn sent(id: &str) -> Command {
        Command::MarkSent {
            platform_reply_id: id.into(),
        }
    }

    /// One of each command, each valid on a fresh review where one is needed.
    fn every_command() -> Vec<Command> {
        vec![
            Command::Claim,
            Command::Release,
            approve(0),
            edit(0, "Bonjour Julie, on s'en occupe."),
            reject(1, "trop vague"),
            Command::Regenerate,
            sent("5_1_reply"),
            Command::Hide,
            Command::Ignore,
            Command::Escalate,
        ]
    }

    /// Applies at the review's own revision; panics when refused.
    fn run(
        review: &Review,
        command: Command,
        actor: &Actor,
        now: Timestamp,
    ) -> (Review, AuditRecord) {
        apply(review, &command, actor, review.revision, now)
            .unwrap_or_else(|e| panic!("{command:?} by {} refused: {e}", actor.user))
    }

    /// Applies at the review's own revision; panics when accepted.
    fn refused(review: &Review, command: Command, actor: &Actor, now: Timestamp) -> ReviewError {
        match apply(review, &command, actor, review.revision, now) {
            Ok(_) => panic!("{command:?} by {} was accepted", actor.user),
            Err(e) => e,
        }
    }

    fn invalid_reason(e: ReviewError) -> (ReviewAction, ReviewStatus, String) {
        match e {
            ReviewError::Invalid {
                action,
                from,
                reason,
            } => (action, from, reason),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn statuses(r: &Review) -> Vec<SuggestionStatus> {
        r.suggestions.iter().map(|s| s.status).collect()
    }

    fn replied() -> Review {
        let (r, _) = run(&fresh(), approve(0), &alice(), at(1));
        run(&r, sent("5_1_reply"), &alice(), at(2)).0
    }

    #[test]
    fn roles_are_ordered_and_named() {
        assert!(Role::Viewer < Role::Responder && Role::Responder < Role::Admin);
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::Responder.to_string(), "responder");
        assert_eq!(Role::parse("owner"), None);
    }

    #[test]
    fn a_review_opens_from_drafts_with_their_suggestions() {
        let r = fresh();
        assert_eq!(r.key, key());
        assert_eq!((r.comment_version, r.content_version), (2, 7));
        assert_eq!(
            (r.status, r.revision, r.updated_at),
            (ReviewStatus::New, 0, T0)
        );
        assert_eq!((r.claim.clone(), r.sent.clone()), (None, None));
        assert_eq!(r.suggestions.len(), 3);
        for (s, text) in r.suggestions.iter().zip(TEXTS) {
            assert_eq!(s.status, SuggestionStatus::Proposed);
            assert_eq!((s.text.as_str(), s.original_text.as_str()), (text, text));
            assert!(!s.edited && s.reject_reason.is_none());
        }
        let engines: Vec<_> = r.suggestions.iter().map(|s| s.engine.as_str()).collect();
        assert_eq!(engines, ["grounded", "grounded", "bedrock"]);
        assert_eq!(r.approved(), None);
    }

    #[test]
    fn withdrawn_drafts_open_a_withdrawn_review() {
        let mut d = drafts();
        d.state = DraftState::Withdrawn;
        let r = Review::open(&d, T0);
        assert_eq!(r.status, ReviewStatus::Withdrawn);
        assert!(
            statuses(&r)
                .iter()
                .all(|s| *s == SuggestionStatus::Withdrawn)
        );
        let (_, from, _) = invalid_reason(refused(&r, Command::Claim, &alice(), at(1)));
        assert_eq!(from, ReviewStatus::Withdrawn);
    }

    #[test]
    fn viewers_may_do_nothing() {
        for review in [fresh(), replied()] {
            for command in every_command() {
                let action = command.action();
                let e = refused(&review, command, &victor(), at(3));
                assert_eq!(
                    e,
                    ReviewError::Forbidden {
                        action,
                        role: Role::Viewer
                    }
                );
            }
        }
        let e = refused(&fresh(), Command::Hide, &victor(), at(1));
        assert_eq!(e.to_string(), "hide refused: a viewer may only read");
    }

    #[test]
    fn responders_and_admins_may_do_every_command() {
        for actor in [alice(), carol()] {
            let review = run(&fresh(), Command::Claim, &actor, at(0)).0;
            let claimed = Some(Claim {
                by: actor.user.clone(),
                until: at(15),
            });
            let approved = run(&review, approve(0), &actor, at(1)).0;
            let cases = [
                (&review, Command::Claim, ReviewStatus::InProgress),
                (&review, Command::Release, ReviewStatus::InProgress),
                (&review, approve(0), ReviewStatus::InProgress),
                (
                    &review,
                    edit(0, "Bonjour Julie !"),
                    ReviewStatus::InProgress,
                ),
                (&review, reject(1, "trop vague"), ReviewStatus::InProgress),
                (&review, Command::Regenerate, ReviewStatus::New),
                (&approved, sent("5_1_reply"), ReviewStatus::Replied),
                (&review, Command::Hide, ReviewStatus::Hidden),
                (&review, Command::Ignore, ReviewStatus::Ignored),
                (&review, Command::Escalate, ReviewStatus::Escalated),
            ];
            for (before, command, status) in cases {
                let action = command.action();
                let (after, audit) = run(before, command, &actor, at(2));
                assert_eq!(after.status, status, "{action}");
                assert_eq!(after.revision, before.revision + 1, "{action}");
                assert_eq!(after.updated_at, at(2));
                assert_eq!(
                    (audit.action, audit.by.as_str()),
                    (action, actor.user.as_str())
                );
                assert_eq!(
                    (audit.from_status, audit.to_status),
                    (before.status, status)
                );
                assert_eq!((audit.role, audit.at), (actor.role, at(2)));
                assert_eq!((&audit.key, audit.comment_version), (&key(), 2));
            }
            assert_eq!(review.claim, claimed);
        }
    }

    #[test]
    fn a_stale_revision_conflicts_with_the_current_review() {
        let (r1, _) = run(&fresh(), Command::Claim, &alice(), at(0));
        assert_eq!(r1.revision, 1);
        for actor in [alice(), bob(), carol()] {
            let e = apply(&r1, &approve(0), &actor, 0, at(1)).unwrap_err();
            assert_eq!(
                e,
                ReviewError::Conflict {
                    current: Box::new(r1.clone())
                }
            );
            assert!(e.to_string().contains("revision 1"), "{e}");
        }
        let e = apply(&r1, &approve(0), &alice(), 2, at(1)).unwrap_err();
        assert!(matches!(e, ReviewError::Conflict { .. }));
        let (r2, _) = apply(&r1, &approve(0), &alice(), 1, at(1)).unwrap();
        assert_eq!(r2.revision, 2);
    }

    #[test]
    fn a_claim_holds_for_its_length_and_renews() {
        let (r, audit) = run(&fresh(), Command::Claim, &alice(), T0);
        let claim = r.live_claim(at(14)).unwrap();
        assert_eq!(
            (claim.by.as_str(), claim.until),
            ("alice", T0.plus_millis(CLAIM_LENGTH_MS))
        );
        assert_eq!(CLAIM_LENGTH_MS, 15 * MINUTE);
        assert_eq!(r.status, ReviewStatus::InProgress);
        assert_eq!(audit.action, ReviewAction::Claim);
        assert_eq!(
            (audit.suggestion, audit.reason, audit.engine),
            (None, None, None)
        );
        let (renewed, audit) = run(&r, Command::Claim, &alice(), at(10));
        assert_eq!(renewed.live_claim(at(10)).unwrap().until, at(25));
        assert_eq!(audit.action, ReviewAction::Claim);
    }

    #[test]
    fn another_users_live_claim_stops_responders_and_admins_but_a_take_over() {
        let (r, _) = run(&fresh(), Command::Claim, &alice(), T0);
        let approved = run(&r, approve(0), &alice(), at(1)).0;
        let held = ReviewError::ClaimedByOther {
            by: "alice".into(),
            until: at(15),
        };
        for command in every_command() {
            assert_eq!(
                refused(&approved, command.clone(), &bob(), at(5)),
                held,
                "{command:?}"
            );
            if command != Command::Claim {
                assert_eq!(
                    refused(&approved, command.clone(), &carol(), at(5)),
                    held,
                    "{command:?}"
                );
            }
        }
        assert_eq!(
            held.to_string(),
            "alice is on this comment until 2025-11-25T16:15:00Z"
        );
    }

    #[test]
    fn an_admin_takes_over_a_claim_and_the_audit_says_whose() {
        let (r, _) = run(&fresh(), Command::Claim, &alice(), T0);
        let (taken, audit) = run(&r, Command::Claim, &carol(), at(5));
        assert_eq!(
            taken.claim,
            Some(Claim {
                by: "carol".into(),
                until: at(20)
            })
        );
        assert_eq!(audit.action, ReviewAction::TakeOver);
        assert_eq!((audit.by.as_str(), audit.role), ("carol", Role::Admin));
        assert_eq!(
            audit.reason.as_deref(),
            Some("claimed by alice until 2025-11-25T16:15:00Z")
        );
        // Now alice is the one kept out.
        let e = refused(&taken, approve(0), &alice(), at(6));
        assert_eq!(
            e,
            ReviewError::ClaimedByOther {
                by: "carol".into(),
                until: at(20)
            }
        );
        run(&taken, approve(0), &carol(), at(6));
    }

    #[test]
    fn an_expired_claim_counts_as_none() {
        let (r, _) = run(&fresh(), Command::Claim, &alice(), T0);
        assert!(r.live_claim(Timestamp(at(15).0 - 1)).is_some());
        assert_eq!(r.live_claim(at(15)), None);
        // bob acts the instant it expires: no take-over, and approving claims for him.
        let (r2, audit) = run(&r, approve(1), &bob(), at(15));
        assert_eq!(audit.action, ReviewAction::Approve);
        assert_eq!(
            r2.claim.as_ref().map(|c| (c.by.as_str(), c.until)),
            Some(("bob", at(30)))
        );
        let (r3, audit) = run(&r, Command::Claim, &bob(), at(20));
        assert_eq!((audit.action, audit.reason), (ReviewAction::Claim, None));
        assert_eq!(r3.claim.unwrap().by, "bob");
        // Work that does not claim drops the expired one.
        let (r4, _) = run(&r, reject(0, "hors sujet"), &bob(), at(20));
        assert_eq!(r4.claim, None);
        // Nor can alice release what expired.
        let (action, from, reason) =
            invalid_reason(refused(&r, Command::Release, &alice(), at(16)));
        assert_eq!(
            (action, from),
            (ReviewAction::Release, ReviewStatus::InProgress)
        );
        assert!(reason.contains("not claimed"), "{reason}");
    }

    #[test]
    fn release_frees_ones_own_claim_only() {
        let (r, _) = run(&fresh(), Command::Claim, &alice(), T0);
        let (released, audit) = run(&r, Command::Release, &alice(), at(1));
        assert_eq!(released.claim, None);
        assert_eq!(released.status, ReviewStatus::InProgress);
        assert_eq!(
            (audit.action, audit.from_status, audit.to_status),
            (
                ReviewAction::Release,
                ReviewStatus::InProgress,
                ReviewStatus::InProgress
            )
        );
        run(&released, Command::Claim, &bob(), at(2));
        let (_, _, reason) = invalid_reason(refused(&released, Command::Release, &alice(), at(2)));
        assert!(reason.starts_with("nothing to release"), "{reason}");
        let (_, from, _) = invalid_reason(refused(&fresh(), Command::Release, &carol(), at(2)));
        assert_eq!(from, ReviewStatus::New);
        assert!(matches!(
            refused(&r, Command::Release, &bob(), at(1)),
            ReviewError::ClaimedByOther { .. }
        ));
    }

    #[test]
    fn approving_claims_if_unclaimed_and_audits_an_unedited_draft() {
        let (r, audit) = run(&fresh(), approve(2), &alice(), at(1));
        assert_eq!(r.status, ReviewStatus::InProgress);
        assert_eq!(
            statuses(&r),
            [
                SuggestionStatus::Proposed,
                SuggestionStatus::Proposed,
                SuggestionStatus::Approved
            ]
        );
        assert_eq!(
            r.approved().map(|(i, s)| (i, s.text.as_str())),
            Some((2, TEXTS[2]))
        );
        assert_eq!(
            r.claim,
            Some(Claim {
                by: "alice".into(),
                until: at(16)
            })
        );
        assert_eq!(audit.action, ReviewAction::Approve);
        assert_eq!(audit.suggestion, Some(2));
        assert_eq!(audit.text_before.as_deref(), Some(TEXTS[2]));
        assert_eq!(audit.text_after.as_deref(), Some(TEXTS[2]));
        assert!(!audit.ai_edited);
        assert_eq!(
            (audit.engine.as_deref(), audit.content_version),
            (Some("bedrock"), Some(7))
        );
        // One's own live claim is kept as it is.
        let (claimed, _) = run(&fresh(), Command::Claim, &alice(), T0);
        let (r, _) = run(&claimed, approve(0), &alice(), at(10));
        assert_eq!(r.claim.unwrap().until, at(15));
    }

    #[test]
    fn approving_another_takes_back_the_previous_approval() {
        let (r, _) = run(&fresh(), approve(0), &alice(), at(1));
        let (r, _) = run(&r, approve(1), &alice(), at(2));
        assert_eq!(
            statuses(&r),
            [
                SuggestionStatus::Proposed,
                SuggestionStatus::Approved,
                SuggestionStatus::Proposed
            ]
        );
        let (r, _) = run(
            &r,
            edit(0, "Bonjour Julie, on s'en occupe."),
            &alice(),
            at(3),
        );
        assert_eq!(
            statuses(&r),
            [
                SuggestionStatus::Approved,
                SuggestionStatus::Proposed,
                SuggestionStatus::Proposed
            ]
        );
        let (r, _) = run(&r, approve(2), &alice(), at(4));
        assert_eq!(
            statuses(&r),
            [
                SuggestionStatus::Edited,
                SuggestionStatus::Proposed,
                SuggestionStatus::Approved
            ]
        );
        assert_eq!(r.suggestions[0].text, "Bonjour Julie, on s'en occupe.");
        // An edited suggestion approved again as it stands is still an edit of the draft.
        let (r, audit) = run(&r, approve(0), &alice(), at(5));
        assert_eq!(statuses(&r)[0], SuggestionStatus::Approved);
        assert!(audit.ai_edited);
        assert_eq!(audit.text_before, audit.text_after);
        assert_eq!(
            r.suggestions
                .iter()
                .filter(|s| s.status == SuggestionStatus::Approved)
                .count(),
            1
        );
    }

    #[test]
    fn approving_refuses_what_cannot_be_approved() {
        let r = fresh();
        let (action, from, reason) = invalid_reason(refused(&r, approve(3), &alice(), at(1)));
        assert_eq!((action, from), (ReviewAction::Approve, ReviewStatus::New));
        assert_eq!(
            reason,
            "there is no suggestion 3: the review has 3 (0 to 2)"
        );
        let (rejected, _) = run(&r, reject(0, "ton trop familier"), &alice(), at(1));
        let e = refused(&rejected, approve(0), &alice(), at(2));
        assert_eq!(
            e.to_string(),
            "cannot approve a review that is in_progress: suggestion 0 was rejected: it cannot be approved"
        );
        let (_, _, reason) =
            invalid_reason(refused(&rejected, edit(0, "Autre texte"), &alice(), at(2)));
        assert_eq!(reason, "suggestion 0 was rejected: it cannot be approved");
        let (approved, _) = run(&r, approve(1), &alice(), at(1));
        let (_, _, reason) = invalid_reason(refused(&approved, approve(1), &alice(), at(2)));
        assert_eq!(reason, "suggestion 1 is already approved");
        let (empty, _) = run(&r, Command::Regenerate, &alice(), at(1));
        let (_, _, reason) = invalid_reason(refused(&empty, approve(0), &alice(), at(2)));
        assert_eq!(reason, "there is no suggestion 0: the review has none");
    }

    #[test]
    fn editing_approves_the_new_text_and_keeps_the_draft() {
        let text = "Bonjour Julie, nous regardons votre commande dès ce matin.";
        let (r, audit) = run(&fresh(), edit(0, text), &bob(), at(1));
        let s = &r.suggestions[0];
        assert_eq!(s.status, SuggestionStatus::Approved);
        assert_eq!(
            (s.text.as_str(), s.original_text.as_str()),
            (text, TEXTS[0])
        );
        assert!(s.edited);
        assert_eq!(r.status, ReviewStatus::InProgress);
        assert_eq!(r.claim.as_ref().map(|c| c.by.as_str()), Some("bob"));
        assert_eq!(audit.action, ReviewAction::EditAndApprove);
        assert_eq!(audit.suggestion, Some(0));
        assert_eq!(audit.text_before.as_deref(), Some(TEXTS[0]));
        assert_eq!(audit.text_after.as_deref(), Some(text));
        assert!(audit.ai_edited);
        assert_eq!(
            (audit.engine.as_deref(), audit.content_version),
            (Some("grounded"), Some(7))
        );
        // Editing the edit: the audit shows the previous edit as before.
        let (r2, audit) = run(&r, edit(0, "Bonjour Julie !"), &bob(), at(2));
        assert_eq!(audit.text_before.as_deref(), Some(text));
        assert_eq!(r2.suggestions[0].original_text, TEXTS[0]);
        // Editing back to the draft is no edit any more.
        let (r3, audit) = run(&r2, edit(0, TEXTS[0]), &bob(), at(3));
        assert!(!r3.suggestions[0].edited && !audit.ai_edited);
        assert_eq!(r3.suggestions[0].status, SuggestionStatus::Approved);
    }

    #[test]
    fn editing_refuses_empty_text_and_no_change() {
        for blank in ["", "  \n\t"] {
            let (action, _, reason) =
                invalid_reason(refused(&fresh(), edit(0, blank), &alice(), at(1)));
            assert_eq!(
                (action, reason.as_str()),
                (ReviewAction::EditAndApprove, "the edited text is empty")
            );
        }
        let (r, _) = run(&fresh(), approve(1), &alice(), at(1));
        let (_, _, reason) = invalid_reason(refused(&r, edit(1, TEXTS[1]), &alice(), at(2)));
        assert_eq!(reason, "suggestion 1 is already approved with this text");
        let (_, _, reason) = invalid_reason(refused(&r, edit(9, "x"), &alice(), at(2)));
        assert!(reason.starts_with("there is no suggestion 9"), "{reason}");
    }

    #[test]
    fn rejecting_needs_a_reason_and_takes_back_an_approval() {
        let (r, audit) = run(&fresh(), reject(1, "  promet un délai  "), &alice(), at(1));
        let s = &r.suggestions[1];
        assert_eq!(
            (s.status, s.reject_reason.as_deref()),
            (SuggestionStatus::Rejected, Some("promet un délai"))
        );
        assert_eq!(r.status, ReviewStatus::InProgress);
        assert_eq!(r.claim, None, "rejecting does not claim");
        assert_eq!(audit.action, ReviewAction::Reject);
        assert_eq!(
            (audit.suggestion, audit.reason.as_deref()),
            (Some(1), Some("promet un délai"))
        );
        assert_eq!(
            (audit.text_before.as_deref(), audit.text_after.as_deref()),
            (Some(TEXTS[1]), None)
        );
        assert!(!audit.ai_edited);
        assert_eq!(audit.engine.as_deref(), Some("grounded"));
        for blank in ["", "   "] {
            let (_, _, reason) =
                invalid_reason(refused(&fresh(), reject(0, blank), &alice(), at(1)));
            assert_eq!(reason, "a rejection needs a reason");
        }
        let (_, _, reason) = invalid_reason(refused(&r, reject(1, "encore"), &alice(), at(2)));
        assert_eq!(reason, "suggestion 1 is already rejected");
        let (_, _, reason) = invalid_reason(refused(&r, reject(5, "x"), &alice(), at(2)));
        assert!(reason.starts_with("there is no suggestion 5"), "{reason}");
        // An approved suggestion rejected is no longer the one to send.
        let (approved, _) = run(
            &fresh(),
            edit(0, "Bonjour Julie, tout de suite."),
            &alice(),
            at(1),
        );
        let (r, audit) = run(&approved, reject(0, "trop sec"), &alice(), at(2));
        assert_eq!(r.approved(), None);
        assert!(audit.ai_edited);
        let (_, _, reason) = invalid_reason(refused(&r, sent("id"), &alice(), at(3)));
        assert!(reason.starts_with("no suggestion is approved"), "{reason}");
    }

    #[test]
    fn marking_sent_records_the_reply_and_closes_the_review() {
        let (r, _) = run(&fresh(), approve(1), &alice(), at(1));
        let (done, audit) = run(&r, sent("5_1_900"), &alice(), at(2));
        assert_eq!(done.status, ReviewStatus::Replied);
        assert_eq!(done.claim, None);
        assert_eq!(
            done.sent,
            Some(Sent {
                text: TEXTS[1].into(),
                platform_reply_id: "5_1_900".into(),
                by: "alice".into(),
                at: at(2),
                ai_edited: false
            })
        );
        assert_eq!(statuses(&done)[1], SuggestionStatus::Sent);
        assert_eq!(audit.action, ReviewAction::MarkSent);
        assert_eq!(
            (audit.from_status, audit.to_status),
            (ReviewStatus::InProgress, ReviewStatus::Replied)
        );
        assert_eq!(audit.suggestion, Some(1));
        assert_eq!(audit.text_before.as_deref(), Some(TEXTS[1]));
        assert_eq!(audit.text_after.as_deref(), Some(TEXTS[1]));
        assert!(!audit.ai_edited);

        let text = "Bonjour Julie, votre colis part demain.";
        let (r, _) = run(&fresh(), edit(2, text), &bob(), at(1));
        let (done, audit) = run(&r, sent("5_1_901"), &bob(), at(2));
        let s = done.sent.unwrap();
        assert_eq!(
            (s.text.as_str(), s.ai_edited, s.by.as_str()),
            (text, true, "bob")
        );
        assert_eq!(audit.text_before.as_deref(), Some(TEXTS[2]));
        assert_eq!(audit.text_after.as_deref(), Some(text));
        assert!(audit.ai_edited);
        assert_eq!(
            (audit.engine.as_deref(), audit.content_version),
            (Some("bedrock"), Some(7))
        );
    }

    #[test]
    fn marking_sent_needs_an_approved_suggestion_and_a_reply_id() {
        let (action, from, reason) =
            invalid_reason(refused(&fresh(), sent("5_1_900"), &alice(), at(1)));
        assert_eq!((action, from), (ReviewAction::MarkSent, ReviewStatus::New));
        assert_eq!(
            reason,
            "no suggestion is approved: approve one before marking it sent"
        );
        let (r, _) = run(&fresh(), approve(0), &alice(), at(1));
        for blank in ["", " "] {
            let (_, _, reason) = invalid_reason(refused(&r, sent(blank), &alice(), at(2)));
            assert_eq!(reason, "the platform's reply id is empty");
        }
    }

    #[test]
    fn nothing_applies_once_replied() {
        let r = replied();
        for actor in [alice(), bob(), carol()] {
            for command in every_command() {
                let action = command.action();
                let e = refused(&r, command, &actor, at(3));
                assert_eq!(
                    e,
                    ReviewError::Invalid {
                        action,
                        from: ReviewStatus::Replied,
                        reason: "a reply was sent: this review is closed".into()
                    }
                );
            }
        }
    }

    #[test]
    fn regenerating_clears_the_suggestions_for_new_drafts() {
        let (r, _) = run(&fresh(), edit(0, "Bonjour Julie !"), &alice(), at(1));
        let (r, audit) = run(&r, Command::Regenerate, &alice(), at(2));
        assert_eq!(r.status, ReviewStatus::New);
        assert!(r.suggestions.is_empty());
        assert_eq!(r.approved(), None);
        assert_eq!(
            r.claim.as_ref().map(|c| c.by.as_str()),
            Some("alice"),
            "the claim stays"
        );
        assert_eq!(audit.action, ReviewAction::Regenerate);
        assert_eq!(
            (audit.from_status, audit.to_status),
            (ReviewStatus::InProgress, ReviewStatus::New)
        );
        assert_eq!(
            (audit.suggestion, audit.engine, audit.content_version),
            (None, None, None)
        );
        let (hidden, _) = run(&fresh(), Command::Hide, &alice(), at(1));
        assert_eq!(
            run(&hidden, Command::Regenerate, &alice(), at(2)).0.status,
            ReviewStatus::New
        );
    }

    #[test]
    fn setting_aside_drops_the_claim_and_reopens_on_work() {
        let (claimed, _) = run(&fresh(), Command::Claim, &alice(), T0);
        for (command, status) in [
            (Command::Hide, ReviewStatus::Hidden),
            (Command::Ignore, ReviewStatus::Ignored),
            (Command::Escalate, ReviewStatus::Escalated),
        ] {
            let action = command.action();
            let (aside, audit) = run(&claimed, command.clone(), &alice(), at(1));
            assert_eq!((aside.status, aside.claim.clone()), (status, None));
            assert_eq!((audit.action, audit.to_status), (action, status));
            let (a, from, reason) = invalid_reason(refused(&aside, command, &bob(), at(2)));
            assert_eq!(
                (a, from, reason),
                (action, status, format!("it is already {status}"))
            );
            // Another outcome, or work, may follow.
            for other in [Command::Hide, Command::Ignore, Command::Escalate] {
                if other.action() != action {
                    run(&aside, other, &bob(), at(2));
                }
            }
            let (reopened, audit) = run(&aside, Command::Claim, &bob(), at(2));
            assert_eq!(reopened.status, ReviewStatus::InProgress);
            assert_eq!(
                (audit.from_status, audit.to_status),
                (status, ReviewStatus::InProgress)
            );
            let (approved, _) = run(&aside, approve(0), &bob(), at(2));
            let (done, _) = run(&approved, sent("5_1_902"), &bob(), at(3));
            assert_eq!(done.status, ReviewStatus::Replied);
        }
    }

    #[test]
    fn withdrawing_closes_the_review_for_everyone() {
        let (r, _) = run(&fresh(), reject(2, "hors ton"), &alice(), at(1));
        let (r, _) = run(&r, approve(0), &alice(), at(2));
        let (w, audit) = r.withdraw(Withdrawal::Edited, at(3)).unwrap();
        assert_eq!(w.status, ReviewStatus::Withdrawn);
        assert_eq!(w.claim, None);
        assert_eq!(
            statuses(&w),
            [
                SuggestionStatus::Withdrawn,
                SuggestionStatus::Withdrawn,
                SuggestionStatus::Rejected
            ]
        );
        assert_eq!((w.revision, w.updated_at), (r.revision + 1, at(3)));
        assert_eq!(audit.action, ReviewAction::Withdraw);
        assert_eq!((audit.by.as_str(), audit.role), (SYSTEM_USER, Role::Admin));
        assert_eq!(
            (audit.from_status, audit.to_status),
            (ReviewStatus::InProgress, ReviewStatus::Withdrawn)
        );
        assert_eq!(audit.reason.as_deref(), Some("comment_edited"));
        assert_eq!(w.withdraw(Withdrawal::Deleted, at(4)), None);
        for actor in [alice(), bob(), carol()] {
            for command in every_command() {
                let action = command.action();
                assert_eq!(
                    refused(&w, command, &actor, at(4)),
                    ReviewError::Invalid {
                        action,
                        from: ReviewStatus::Withdrawn,
                        reason: "the comment was edited or deleted: this review is closed".into()
                    }
                );
            }
        }
        assert!(matches!(
            refused(&w, Command::Claim, &victor(), at(4)),
            ReviewError::Forbidden { .. }
        ));
        // A reply already sent stays on record.
        let (gone, audit) = replied().withdraw(Withdrawal::Deleted, at(5)).unwrap();
        assert_eq!(statuses(&gone)[0], SuggestionStatus::Sent);
        assert!(gone.sent.is_some());
        assert_eq!(
            (audit.from_status, audit.reason.as_deref()),
            (ReviewStatus::Replied, Some("comment_deleted"))
        );
    }

    #[test]
    fn a_new_comment_version_opens_a_review_one_revision_on() {
        let d = drafts();
        assert_eq!(Review::for_drafts(None, &d, T0), fresh());
        let (stored, _) = run(&fresh(), approve(0), &alice(), at(1));
        assert_eq!(Review::for_drafts(Some(stored.clone()), &d, at(2)), stored);
        let mut older = d.clone();
        older.comment_version = 1;
        assert_eq!(
            Review::for_drafts(Some(stored.clone()), &older, at(2)),
            stored
        );

        let (withdrawn, _) = stored.withdraw(Withdrawal::Edited, at(2)).unwrap();
        let mut v3 = d.clone();
        v3.comment_version = 3;
        v3.suggestions.truncate(1);
        let next = Review::for_drafts(Some(withdrawn.clone()), &v3, at(3));
        assert_eq!((next.comment_version, next.status), (3, ReviewStatus::New));
        assert_eq!(next.revision, withdrawn.revision + 1);
        assert_eq!(statuses(&next), [SuggestionStatus::Proposed]);
        assert_eq!(next.claim, None);
        // A command decided on the withdrawn review conflicts with the new one.
        let e = apply(&next, &approve(0), &alice(), withdrawn.revision, at(4)).unwrap_err();
        assert_eq!(
            e,
            ReviewError::Conflict {
                current: Box::new(next.clone())
            }
        );
    }

    #[test]
    fn the_types_read_and_write_as_snake_case_json() {
        let command: Command =
            serde_json::from_str(r#"{"command":"edit_and_approve","index":1,"text":"Bonjour !"}"#)
                .unwrap();
        assert_eq!(command, edit(1, "Bonjour !"));
        assert_eq!(
            serde_json::to_value(Command::MarkSent {
                platform_reply_id: "9".into()
            })
            .unwrap(),
            serde_json::json!({"command": "mark_sent", "platform_reply_id": "9"})
        );
        assert_eq!(
            serde_json::from_str::<Command>(r#"{"command":"hide"}"#).unwrap(),
            Command::Hide
        );
        assert!(serde_json::from_str::<Command>(r#"{"command":"delete"}"#).is_err());

        let (r, _) = run(&fresh(), edit(0, "Bonjour !"), &alice(), at(1));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["status"], "in_progress");
        assert_eq!(json["suggestions"][0]["status"], "approved");
        assert_eq!(json["claim"]["by"], "alice");
        assert!(json.get("sent").is_none());
        assert_eq!(serde_json::from_value::<Review>(json).unwrap(), r);

        let (_, audit) = run(&r, Command::Claim, &carol(), at(2));
        let json = serde_json::to_value(&audit).unwrap();
        assert_eq!(
            (json["action"].as_str(), json["role"].as_str()),
            (Some("take_over"), Some("admin"))
        );
        assert_eq!(json["from_status"], "in_progress");
        assert_eq!(serde_json::from_value::<AuditRecord>(json).unwrap(), audit);

        let e = ReviewError::Invalid {
            action: ReviewAction::MarkSent,
            from: ReviewStatus::New,
            reason: "x".into(),
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": "invalid", "action": "mark_sent", "from": "new", "reason": "x"})
        );
        assert_eq!(serde_json::from_value::<ReviewError>(json).unwrap(), e);
        let conflict = serde_json::to_value(ReviewError::Conflict {
            current: Box::new(r.clone()),
        })
        .unwrap();
        assert_eq!(
            (
                conflict["error"].as_str(),
                conflict["current"]["revision"].as_u64()
            ),
            (Some("conflict"), Some(1))
        );
        for (name, status) in [
            ("withdrawn", ReviewStatus::Withdrawn),
            ("escalated", ReviewStatus::Escalated),
        ] {
            assert_eq!(ReviewStatus::parse(name), Some(status));
        }
        assert_eq!(ReviewAction::ALL.len(), 12);
        assert_eq!(Withdrawal::Deleted.as_str(), "comment_deleted");
    }

    #[test]
    fn a_comment_without_drafts_gets_a_review_its_drafts_join_later() {
        let bare = Review::current(None, None, &key(), 2, at(0));
        assert_eq!(bare.status, ReviewStatus::New);
        assert!(bare.suggestions.is_empty());
        let (claimed, _) = apply(&bare, &Command::Claim, &alice(), 0, at(1)).unwrap();
        assert!(matches!(
            apply(&claimed, &approve(0), &alice(), claimed.revision, at(2)),
            Err(ReviewError::Invalid { .. })
        ));
        // the drafts arrive: same review, same revision, now with suggestions
        let d = drafts();
        let joined = Review::current(Some(claimed.clone()), Some(&d), &key(), 2, at(3));
        assert_eq!(joined.revision, claimed.revision);
        assert_eq!(joined.claim, claimed.claim);
        assert_eq!(joined.suggestions.len(), d.suggestions.len());
        assert!(apply(&joined, &approve(0), &alice(), joined.revision, at(4)).is_ok());
        // a later version without drafts starts over, one revision on
        let next = Review::current(Some(claimed.clone()), None, &key(), 3, at(5));
        assert_eq!(
            (next.comment_version, next.revision),
            (3, claimed.revision + 1)
        );
        assert_eq!(next.status, ReviewStatus::New);
        // the stored review of this version is the one to act on
        assert_eq!(
            Review::current(Some(claimed.clone()), None, &key(), 2, at(6)),
            claimed
        );
    }
}
