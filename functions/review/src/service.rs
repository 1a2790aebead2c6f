//! What the review routes do, apart from HTTP: the JSON API and the web page both call
//! these, so that a page and a script see the same inbox and make the same changes.

use vigie_core::comment::{BrandId, CommentKey, CommentState};
use vigie_core::content::{BrandContent, ContentFiles};
use vigie_core::drafting::DraftRequest;
use vigie_core::drafts::{DraftState, Drafts};
use vigie_core::inbox::InboxPage;
use vigie_core::ports::{
    BrandContentStore, CommentRead, DraftStore, Inbox, QueueSend, ReportFacts, ReviewStore,
    SentimentScorer, StoreError,
};
use vigie_core::reports::{Period, Report};
use vigie_core::review::{Actor, Command, Review, ReviewError, Role, apply};
use vigie_core::time::Timestamp;

use crate::ApiError;
use crate::api::{CommentDetail, InboxAnswer, InboxLine, InboxQuery};

/// Everything the review surface reads and writes.
pub trait Store:
    CommentRead
    + DraftStore
    + ReviewStore
    + Inbox
    + ReportFacts
    + BrandContentStore
    + Send
    + Sync
    + 'static
{
}
impl<T> Store for T where
    T: CommentRead
        + DraftStore
        + ReviewStore
        + Inbox
        + ReportFacts
        + BrandContentStore
        + Send
        + Sync
        + 'static
{
}

/// Comments in a thread shown with a comment, at most.
const THREAD_LIMIT: usize = 50;
/// Attempts at a change when the store reports a write in between.
const ATTEMPTS: usize = 3;

/// A comment as the review surface shows it: without the embedding kept for drafting
/// (384 numbers nobody reads, and a trace of the model's internals).
pub fn shown(mut c: vigie_core::Comment) -> vigie_core::Comment {
    if let Some(t) = c.triage.as_mut() {
        t.embedding = None;
    }
    c
}

/// One page of the inbox with the counts behind each filter value.
pub async fn inbox<S: Store>(
    store: &S,
    brand: &BrandId,
    q: &InboxQuery,
    now: Timestamp,
) -> Result<InboxAnswer, ApiError> {
    let filter = q.filter()?;
    let limit = q.limit()?;
    let after = crate::api::cursor(brand, q)?;
    let (page, counts) = tokio::try_join!(
        store.inbox(brand, &filter, after.as_ref(), limit, now),
        store.inbox_counts(brand, &filter, now),
    )
    .map_err(ApiError::Store)?;
    let InboxPage { items, next } = page;
    Ok(InboxAnswer {
        items: items
            .into_iter()
            .map(|i| InboxLine {
                sla_breached: i.facets.sla_breached(now),
                assignee: i.facets.assignee(now).map(str::to_owned),
                comment: shown(i.comment),
                facets: i.facets,
            })
            .collect(),
        next: next.map(|c| c.encode()),
        counts,
    })
}

/// The drafts proposed for the comment as it is now: none for an earlier version, a
/// deleted comment, or withdrawn drafts.
async fn proposed<S: Store>(
    store: &S,
    comment: &vigie_core::Comment,
) -> Result<Option<Drafts>, StoreError> {
    Ok(store.drafts(&comment.key).await?.filter(|d| {
        d.comment_version == comment.version
            && comment.state != CommentState::Deleted
            && d.state == DraftState::Proposed
    }))
}

/// The review to act on for a stored comment, and the stored review's revision (the
/// expected one for the write).
async fn current<S: Store>(
    store: &S,
    comment: &vigie_core::Comment,
    now: Timestamp,
) -> Result<(Review, Option<u64>, Option<Drafts>), StoreError> {
    let drafts = proposed(store, comment).await?;
    let stored = store.review(&comment.key).await?;
    let expected = stored.as_ref().map(|r| r.revision);
    let review = Review::current(stored, drafts.as_ref(), &comment.key, comment.version, now);
    Ok((review, expected, drafts))
}

pub async fn detail<S: Store>(
    store: &S,
    key: &CommentKey,
    now: Timestamp,
) -> Result<CommentDetail, ApiError> {
    let comment = store
        .get(key)
        .await
        .map_err(ApiError::Store)?
        .ok_or(ApiError::NotFound)?;
    let (review, _, drafts) = current(store, &comment, now)
        .await
        .map_err(ApiError::Store)?;
    let thread = store
        .thread(&comment.thread(), THREAD_LIMIT)
        .await
        .map_err(ApiError::Store)?;
    let audit = store.audit(key).await.map_err(ApiError::Store)?;
    let platform = key.platform.as_str();
    let reply_limit = match store.content(&key.brand).await.map_err(ApiError::Store)? {
        Some(c) => c.voice.reply_limit(platform),
        None => vigie_core::content::default_reply_length(platform).unwrap_or(1000),
    };
    Ok(CommentDetail {
        reply_limit,
        comment: shown(comment),
        thread: thread.into_iter().map(shown).collect(),
        drafts,
        review,
        audit,
    })
}

/// Applies a manager's command decided on `expected_revision`, stores the review with its
/// audit record, and answers the review after the change. A write that lands between
/// this one's read and its write is a conflict (409 with the review as it is now), never
/// overwritten. `regenerate` asks the drafter for new drafts of the comment; they replace
/// the suggestions when they arrive.
pub async fn act<S: Store>(
    store: &S,
    drafts_queue: Option<&dyn QueueSend>,
    key: &CommentKey,
    command: &Command,
    actor: &Actor,
    expected_revision: u64,
    now: Timestamp,
) -> Result<Review, ApiError> {
    if matches!(command, Command::Regenerate) && drafts_queue.is_none() {
        return Err(ApiError::BadRequest(
            "regenerate needs the draft queue, which this deployment does not have".into(),
        ));
    }
    for _ in 0..ATTEMPTS {
        let comment = store
            .get(key)
            .await
            .map_err(ApiError::Store)?
            .ok_or(ApiError::NotFound)?;
        let (review, stored_revision, _) = current(store, &comment, now)
            .await
            .map_err(ApiError::Store)?;
        let (next, audit) = apply(&review, command, actor, expected_revision, now)?;
        if matches!(command, Command::Regenerate) {
            // asked before the review says it waits for them: a failed request leaves the
            // review as it was, never waiting for drafts nobody makes
            request_drafts(drafts_queue, &comment).await?;
        }
        match store.put_review(&next, stored_revision, &audit).await {
            Ok(()) => {
                tracing::info!(
                    comment = %key,
                    action = %audit.action,
                    user = %actor.user,
                    revision = next.revision,
                    "review changed"
                );
                return Ok(next);
            }
            // someone wrote in between: decide again on what is stored now (a command
            // decided on the old revision then conflicts, with the current review)
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(ApiError::Store(e)),
        }
    }
    let comment = store
        .get(key)
        .await
        .map_err(ApiError::Store)?
        .ok_or(ApiError::NotFound)?;
    let (current, _, _) = current(store, &comment, now)
        .await
        .map_err(ApiError::Store)?;
    Err(ApiError::Review(ReviewError::Conflict {
        current: Box::new(current),
    }))
}

async fn request_drafts(
    queue: Option<&dyn QueueSend>,
    comment: &vigie_core::Comment,
) -> Result<(), ApiError> {
    let Some(queue) = queue else {
        return Ok(());
    };
    queue
        .send(&[DraftRequest::regeneration(comment, Timestamp::now())])
        .await
        .map_err(|e| ApiError::Store(StoreError::Unavailable(e.to_string())))
}

/// The management report of a brand over a period.
pub async fn report<S: Store>(
    store: &S,
    brand: &BrandId,
    period: Period,
    now: Timestamp,
) -> Result<Report, ApiError> {
    let facts = store
        .report_facts(brand, period.window())
        .await
        .map_err(ApiError::Store)?;
    Ok(Report::build(&facts, period, now))
}

/// One version of a brand's content as its editor shows it: the files of
/// docs/brand-content.md, who stored it and when.
#[derive(Debug, serde::Serialize)]
pub struct ContentAnswer {
    pub brand: BrandId,
    /// `None`: nothing stored yet (the files are empty).
    pub version: Option<u32>,
    /// The current version (an earlier one can be asked for).
    pub latest: Option<u32>,
    pub updated_at: Option<Timestamp>,
    pub updated_by: Option<String>,
    pub files: ContentFiles,
    /// Approved replies without an embedding: drafting ranks them after the others until
    /// they are embedded (`vigie brand embed`, or at `vigie serve`'s start).
    pub replies_without_embedding: usize,
}

impl ContentAnswer {
    fn of(brand: &BrandId, shown: Option<&BrandContent>, latest: Option<u32>) -> Self {
        Self {
            brand: brand.clone(),
            version: shown.map(|c| c.version),
            latest,
            updated_at: shown.map(|c| c.updated_at),
            updated_by: shown.map(|c| c.updated_by.clone()),
            files: shown.map(BrandContent::to_files).unwrap_or_default(),
            replies_without_embedding: shown.map_or(0, |c| {
                c.replies.iter().filter(|r| r.embedding.is_none()).count()
            }),
        }
    }
}

/// A brand's content: the current version, or `version`.
pub async fn content<S: Store>(
    store: &S,
    brand: &BrandId,
    version: Option<u32>,
) -> Result<ContentAnswer, ApiError> {
    let current = store.content(brand).await.map_err(ApiError::Store)?;
    let latest = current.as_ref().map(|c| c.version);
    let shown = match version {
        Some(v) if Some(v) != latest => Some(
            store
                .content_version(brand, v)
                .await
                .map_err(ApiError::Store)?
                .ok_or(ApiError::NotFound)?,
        ),
        _ => current,
    };
    Ok(ContentAnswer::of(brand, shown.as_ref(), latest))
}

/// Stores edited files as the brand's next content version, for an admin: validated as
/// `vigie brand import` validates a folder (422 naming the file, line and field), refused
/// when another version was stored since `expected` (409 with the current version).
/// Replies the edit left alone keep their embeddings; the others are embedded with
/// `embedder` when there is one (else later, see [`ContentAnswer`]). An embedding failure
/// never loses the edit.
pub async fn put_content<S: Store>(
    store: &S,
    embedder: Option<&dyn SentimentScorer>,
    brand: &BrandId,
    files: &ContentFiles,
    expected: Option<u32>,
    actor: &Actor,
    now: Timestamp,
) -> Result<ContentAnswer, ApiError> {
    if actor.role < Role::Admin {
        return Err(ApiError::Forbidden);
    }
    let mut next = BrandContent::from_files(brand, files, now, &actor.user)
        .map_err(ApiError::InvalidContent)?;
    let current = store.content(brand).await.map_err(ApiError::Store)?;
    let latest = current.as_ref().map(|c| c.version);
    if latest != expected {
        return Err(ApiError::StaleContent { current: latest });
    }
    if let Some(c) = &current {
        next.keep_embeddings_of(c);
    }
    if let Some(scorer) = embedder
        && next.replies.iter().any(|r| r.embedding.is_none())
        && let Err(e) = vigie_core::content::embed_replies(scorer, &mut next).await
    {
        tracing::warn!(%brand, error = %e, "approved replies stored without embeddings");
    }
    let version = match store.put_content(&next, expected).await {
        Ok(v) => v,
        Err(StoreError::Conflict) => {
            let current = store.content(brand).await.map_err(ApiError::Store)?;
            return Err(ApiError::StaleContent {
                current: current.map(|c| c.version),
            });
        }
        Err(e) => return Err(ApiError::Store(e)),
    };
    tracing::info!(%brand, version, user = %actor.user, "brand content stored");
    next.version = version;
    Ok(ContentAnswer::of(brand, Some(&next), Some(version)))
}

/// The longest text the checks read (a reply is far shorter on every platform).
pub const MAX_CHECKED_TEXT: usize = 20_000;

/// What the drafting checks say of a reply text a manager writes for a comment.
#[derive(Debug, serde::Serialize)]
pub struct TextChecks {
    pub checks: Vec<vigie_core::drafts::CheckOutcome>,
    /// Whether spelling was among them (a dictionary was at hand).
    pub spelling_checked: bool,
    /// The brand content version they read; `None`: no content, nothing to check against.
    pub content_version: Option<u32>,
}

/// The drafting checks on `text` as a reply to the comment under `key`, in the language
/// its drafts were written in, against the brand's current content.
pub async fn check_text<S: Store>(
    store: &S,
    speller: Option<&dyn vigie_core::checks::Speller>,
    key: &CommentKey,
    text: &str,
) -> Result<TextChecks, ApiError> {
    if text.chars().count() > MAX_CHECKED_TEXT {
        return Err(ApiError::BadRequest(format!(
            "text: at most {MAX_CHECKED_TEXT} characters"
        )));
    }
    let comment = store
        .get(key)
        .await
        .map_err(ApiError::Store)?
        .ok_or(ApiError::NotFound)?;
    let Some(content) = store.content(&key.brand).await.map_err(ApiError::Store)? else {
        return Ok(TextChecks {
            checks: Vec::new(),
            spelling_checked: false,
            content_version: None,
        });
    };
    let drafts = store.drafts(key).await.map_err(ApiError::Store)?;
    let lang = drafts
        .map(|d| d.lang)
        .unwrap_or_else(|| content.voice.default_language().to_owned());
    Ok(TextChecks {
        checks: vigie_core::checks::check_edit(text, &comment, &lang, &content, speller),
        spelling_checked: speller.is_some(),
        content_version: Some(content.version),
    })
}
