//! The draft use case: a request per triaged comment version (sent by classify), drafts
//! stored idempotently per version; an edit drafts again, a delete withdraws.
//! A message that cannot be handled is reported failed, alone; the queue retries it and
//! dead-letters it after its maximum receives.

use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::checks::Speller;
use std::collections::BTreeMap;

use crate::comment::{BrandId, Comment, CommentKey, CommentState, Platform};
use crate::content::PLATFORM_NAMES;
use crate::draft::{self, DraftEngine};
use crate::events::{InternalEvent, MessageFailed, message_span, record_comment};
use crate::ports::{BrandContentStore, CommentRead, Delivery, DraftStore, OutgoingMessage};
use crate::time::Timestamp;

/// Asks for drafts of one comment version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftRequest {
    pub key: CommentKey,
    pub version: u32,
    /// A manager asked for new drafts of this version: they replace the stored ones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub regenerate: bool,
}

impl DraftRequest {
    pub fn message(c: &Comment) -> OutgoingMessage {
        Self::for_comment(c, false)
    }

    /// A request for new drafts of the comment's version (its id is new each time: it is
    /// never a repeat of the first request).
    pub fn regeneration(c: &Comment, now: Timestamp) -> OutgoingMessage {
        let mut m = Self::for_comment(c, true);
        m.id = format!("{}#regenerate#{}", m.id, now.millis());
        m
    }

    fn for_comment(c: &Comment, regenerate: bool) -> OutgoingMessage {
        let r = DraftRequest {
            key: c.key.clone(),
            version: c.version,
            regenerate,
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
        Platform::Generic => c
            .source
            .as_deref()
            .filter(|s| PLATFORM_NAMES.contains(s))
            .unwrap_or("generic"),
        p => p.as_str(),
    }
}

/// The engines a brand drafts with: the grounded one always (it stands when another
/// fails), and the one its configuration chooses (`[brands.drafting]`), if any.
pub struct EngineSet<'a> {
    pub grounded: &'a dyn DraftEngine,
    pub per_brand: BTreeMap<BrandId, &'a dyn DraftEngine>,
}

impl<'a> EngineSet<'a> {
    /// Only the grounded engine, for every brand.
    pub fn grounded(grounded: &'a dyn DraftEngine) -> Self {
        Self {
            grounded,
            per_brand: BTreeMap::new(),
        }
    }

    /// In the order `draft_comment` takes them: the chosen engine is tried first.
    pub fn for_brand(&self, brand: &BrandId) -> Vec<&'a dyn DraftEngine> {
        let mut v = vec![self.grounded];
        v.extend(self.per_brand.get(brand).copied());
        v
    }
}

pub struct Drafter<'a, S, C, D> {
    pub store: &'a S,
    pub content: &'a C,
    pub drafts: &'a D,
    pub engines: &'a EngineSet<'a>,
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
            let span = message_span(&m.message_id);
            self.handle_message(m, &span, &mut outcome, now)
                .instrument(span.clone())
                .await;
        }
        outcome
    }

    /// One message, in its span (`span`, on which its comment is recorded).
    async fn handle_message(
        &self,
        m: &Delivery,
        span: &tracing::Span,
        outcome: &mut DraftOutcome,
        now: Timestamp,
    ) {
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
                fail(outcome, &format!("unreadable request: {e}"), true);
                return;
            }
        };
        record_comment(span, &request.key);
        let comment = match self.store.get(&request.key).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                outcome.skipped += 1;
                return;
            }
            Err(e) => {
                fail(outcome, &e.to_string(), false);
                return;
            }
        };
        if comment.state == CommentState::Deleted {
            match self.drafts.withdraw_drafts(&comment.key).await {
                Ok(true) => outcome.withdrawn += 1,
                Ok(false) => outcome.skipped += 1,
                Err(e) => fail(outcome, &e.to_string(), false),
            }
            return;
        }
        if comment.version != request.version || comment.state == CommentState::OwnReply {
            outcome.skipped += 1; // an edit's own request drafts it
            return;
        }
        if comment
            .triage
            .as_ref()
            .is_none_or(|t| t.version != comment.version)
        {
            fail(outcome, "not triaged yet", false);
            return;
        }
        let content = match self.content.content(&comment.key.brand).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                tracing::warn!(brand = %comment.key.brand, "no brand content: nothing to draft from (vigie brand import)");
                outcome.skipped += 1;
                return;
            }
            Err(e) => {
                fail(outcome, &e.to_string(), false);
                return;
            }
        };
        let generation = if request.regenerate {
            match self.drafts.drafts(&comment.key).await {
                Ok(Some(stored)) if stored.comment_version == comment.version => {
                    stored.generation + 1
                }
                Ok(_) => 0,
                Err(e) => {
                    fail(outcome, &e.to_string(), false);
                    return;
                }
            }
        } else {
            0
        };
        let engines = self.engines.for_brand(&comment.key.brand);
        let mut d = draft::draft_comment(
            &comment,
            &content,
            &engines,
            self.speller,
            platform_name(&comment),
            now,
        )
        .await;
        d.generation = generation;
        match self.drafts.put_drafts(&d).await {
            Ok(_) => outcome.drafted += 1,
            Err(e) => fail(outcome, &e.to_string(), false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::draft::GroundedEngine;

    struct Other;

    #[async_trait::async_trait]
    impl DraftEngine for Other {
        fn name(&self) -> &'static str {
            "other"
        }
        async fn draft(
            &self,
            _: &crate::draft::DraftInput<'_>,
        ) -> Result<Vec<crate::draft::Candidate>, crate::draft::EngineError> {
            Ok(vec![])
        }
    }

    #[test]
    fn a_brand_gets_the_grounded_engine_and_the_one_it_chooses() {
        let mut set = EngineSet::grounded(&GroundedEngine);
        set.per_brand
            .insert(BrandId::parse("globex").unwrap(), &Other);
        let names = |b: &str| {
            set.for_brand(&BrandId::parse(b).unwrap())
                .iter()
                .map(|e| e.name())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("acme"), ["grounded"]);
        assert_eq!(names("globex"), ["grounded", "other"]);
    }
}
