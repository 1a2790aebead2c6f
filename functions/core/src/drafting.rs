//! The draft use case: a request per triaged comment version (sent by classify), drafts
//! stored idempotently per version; an edit drafts again, a delete withdraws.
//! A message that cannot be handled is reported failed, alone; the queue retries it and
//! dead-letters it after its maximum receives.

use serde::{Deserialize, Serialize};

use crate::checks::Speller;
use crate::comment::{Comment, CommentKey, CommentState, Platform};
use crate::content::PLATFORM_NAMES;
use crate::draft::{self, DraftEngine};
use crate::events::{InternalEvent, MessageFailed};
use crate::ports::{BrandContentStore, CommentRead, Delivery, DraftStore, OutgoingMessage};
use crate::time::Timestamp;

/// Asks for drafts of one comment version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftRequest {
    pub key: CommentKey,
    pub version: u32,
}

impl DraftRequest {
    pub fn message(c: &Comment) -> OutgoingMessage {
        let r = DraftRequest {
            key: c.key.clone(),
            version: c.version,
        };
        OutgoingMessage {
            id: format!("{}#{}", c.key, c.version),
            body: serde_json::to_string(&r).expect("serialisable"),
            attributes: vec![("brand".into(), c.key.brand.to_string())],
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DraftOutcome {
    pub failed: Vec<String>,
    pub drafted: usize,
    pub withdrawn: usize,
    /// Stale, unknown, without content, or the brand's own words.
    pub skipped: usize,
}

/// The platform whose reply limit applies: a generic source named like a platform
/// (x, tiktok...) is that platform; a review site is "generic".
pub fn platform_name(c: &Comment) -> &str {
    match c.key.platform {
        Platform::Facebook => "facebook",
        Platform::Instagram => "instagram",
        Platform::Generic => c
            .source
            .as_deref()
            .filter(|s| PLATFORM_NAMES.contains(s))
            .unwrap_or("generic"),
    }
}

pub struct Drafter<'a, S, C, D> {
    pub store: &'a S,
    pub content: &'a C,
    pub drafts: &'a D,
    pub engines: &'a [&'a dyn DraftEngine],
    pub speller: &'a dyn Speller,
}

impl<S, C, D> Drafter<'_, S, C, D>
where
    S: CommentRead,
    C: BrandContentStore,
    D: DraftStore,
{
    pub async fn handle(&self, messages: &[Delivery], now: Timestamp) -> DraftOutcome {
        let mut outcome = DraftOutcome::default();
        for m in messages {
            let fail = |outcome: &mut DraftOutcome, reason: &str, poison: bool| {
                MessageFailed {
                    queue: "draft",
                    message_id: &m.message_id,
                    reason,
                    poison,
                }
                .emit();
                outcome.failed.push(m.message_id.clone());
            };
            let request: DraftRequest = match serde_json::from_str(&m.body) {
                Ok(r) => r,
                Err(e) => {
                    fail(&mut outcome, &format!("unreadable request: {e}"), true);
                    continue;
                }
            };
            let comment = match self.store.get(&request.key).await {
                Ok(Some(c)) => c,
                Ok(None) => {
                    outcome.skipped += 1;
                    continue;
                }
                Err(e) => {
                    fail(&mut outcome, &e.to_string(), false);
                    continue;
                }
            };
            if comment.state == CommentState::Deleted {
                match self.drafts.withdraw_drafts(&comment.key).await {
                    Ok(true) => outcome.withdrawn += 1,
                    Ok(false) => outcome.skipped += 1,
                    Err(e) => fail(&mut outcome, &e.to_string(), false),
                }
                continue;
            }
            if comment.version != request.version || comment.state == CommentState::OwnReply {
                outcome.skipped += 1; // an edit's own request drafts it
                continue;
            }
            if comment
                .triage
                .as_ref()
                .is_none_or(|t| t.version != comment.version)
            {
                fail(&mut outcome, "not triaged yet", false);
                continue;
            }
            let content = match self.content.content(&comment.key.brand).await {
                Ok(Some(c)) => c,
                Ok(None) => {
                    tracing::warn!(brand = %comment.key.brand, "no brand content: nothing to draft from (vigie brand import)");
                    outcome.skipped += 1;
                    continue;
                }
                Err(e) => {
                    fail(&mut outcome, &e.to_string(), false);
                    continue;
                }
            };
            let d = draft::draft_comment(
                &comment,
                &content,
                self.engines,
                self.speller,
                platform_name(&comment),
                now,
            )
            .await;
            match self.drafts.put_drafts(&d).await {
                Ok(_) => outcome.drafted += 1,
                Err(e) => fail(&mut outcome, &e.to_string(), false),
            }
        }
        outcome
    }
}
