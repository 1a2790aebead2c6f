//! Classification of queued comments: sentiment, urgency, escalation.
//!
//! Idempotent per comment version: a request for a version that is already triaged (or
//! superseded by an edit) changes nothing; one for a comment deleted after its triage is
//! passed on to the drafter, which withdraws its drafts. A message that cannot be handled is
//! reported failed, alone; the queue retries it and dead-letters it after its maximum
//! receives. Escalation events are sent before the comment is stored, and the one write
//! that stores its triage records them too: a crash in between sends a repeat with the
//! same `event_id`, never a loss.
//!
//! A verdict does not depend on the order comments are classified in: repeat complaints
//! count the author's earlier comments in the thread by their place in it, and score in
//! the batch's one model call those not triaged yet.

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt};
use tracing::{Instrument, Span};

use crate::comment::{Comment, CommentKey, CommentState, Sentiment, Triage};
use crate::config::Brands;
use crate::escalation::EscalationEvent;
use crate::events::{
    CommentClassified, Escalated, InternalEvent, MessageFailed, message_span, record_comment,
};
use crate::intake::ClassifyRequest;
use crate::ports::{
    CommentRead, CommentWrite, Delivery, OutgoingMessage, QueueSend, SentimentScorer, StoreError,
};
use crate::time::Timestamp;
use crate::urgency::{self, Assessment};

/// Comments of a thread read to count repeat complaints.
const THREAD_WINDOW: usize = 200;

/// Store calls of one step of a batch in flight at once.
const STORE_CALLS: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Message ids to retry (partial batch failure).
    pub failed: Vec<String>,
    pub classified: usize,
    pub escalated: usize,
    /// Stale, duplicate or deleted: acknowledged without work.
    pub skipped: usize,
}

pub struct Classifier<'a, S, M, Q> {
    pub brands: &'a Brands,
    pub store: &'a S,
    pub scorer: &'a M,
    pub escalations: &'a Q,
    /// Where triaged comments are sent for reply suggestions (none: no drafting).
    pub drafts: Option<&'a dyn QueueSend>,
}

/// A message of the batch, and the span the lines about it are logged in.
struct Message<'m> {
    delivery: &'m Delivery,
    span: Span,
}

/// A comment ready to be stored, escalated and drafted.
struct Ready<'m> {
    m: Message<'m>,
    comment: Comment,
    /// Its triage was made in this batch, not stored yet.
    triaged: bool,
}

/// The comment's current version is triaged as escalating and not recorded as escalated
/// yet (a deleted comment escalates nothing).
fn escalation_due(c: &Comment) -> bool {
    c.state != CommentState::Deleted
        && c.triage
            .as_ref()
            .is_some_and(|t| t.urgency.escalate && t.version == c.version)
        && c.escalated_version.is_none_or(|v| v < c.version)
}

enum Work {
    /// To score, with the author's earlier comments in its thread.
    Score(Comment, Vec<Earlier>),
    EscalateOnly(Comment),
    /// Triaged already (a repeat request): only its draft request is sent again, in case
    /// the first attempt stopped before sending it (the drafter keeps what it has).
    DraftOnly(Comment),
}

/// An earlier comment of the same author in the same thread, as a repeat complaint.
enum Earlier {
    /// Its sentiment for its current version is stored (none: a comment without text).
    Known(Option<Sentiment>),
    /// Not triaged yet: scored in this batch's model call, at this index.
    Scored(usize),
}

/// Whether `other` came before `c` in their thread: by received time, then id, the order
/// the store lists a thread in. Whatever order they are classified in.
fn came_before(other: &Comment, c: &Comment) -> bool {
    (other.received_at, &other.key.external_id) < (c.received_at, &c.key.external_id)
}

/// The author's earlier comments in the comment's thread, with their sentiment or the
/// slot of the text that will give it.
fn earlier(c: &Comment, thread: &[Comment], texts: &mut Texts) -> Vec<Earlier> {
    thread
        .iter()
        .filter(|t| {
            t.author.id == c.author.id
                && came_before(t, c)
                && !matches!(t.state, CommentState::Deleted | CommentState::OwnReply)
        })
        .map(|t| match &t.triage {
            Some(tr) if tr.version == t.version => {
                Earlier::Known(tr.sentiment.as_ref().map(|s| s.label))
            }
            _ => texts.slot(t).map_or(Earlier::Known(None), Earlier::Scored),
        })
        .collect()
}

/// Runs the futures, at most [`STORE_CALLS`] at once; their outputs in their order.
async fn side_by_side<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    stream::iter(futures.collect::<Vec<_>>())
        .buffered(STORE_CALLS)
        .collect()
        .await
}

/// Texts for the batch's one model call, each comment version once.
#[derive(Default)]
struct Texts {
    texts: Vec<String>,
    index: HashMap<(CommentKey, u32), usize>,
}

impl Texts {
    /// The slot of the comment's text in the model call; none for a comment without text.
    fn slot(&mut self, c: &Comment) -> Option<usize> {
        let text = c.text.as_ref()?;
        Some(
            *self
                .index
                .entry((c.key.clone(), c.version))
                .or_insert_with(|| {
                    self.texts.push(text.as_str().to_owned());
                    self.texts.len() - 1
                }),
        )
    }
}

impl<S, M, Q> Classifier<'_, S, M, Q>
where
    S: CommentRead + CommentWrite,
    M: SentimentScorer,
    Q: QueueSend,
{
    pub async fn handle(&self, messages: &[Delivery], now: Timestamp) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let fail = |outcome: &mut BatchOutcome, m: &Message, reason: &str, poison: bool| {
            m.span.in_scope(|| {
                MessageFailed {
                    queue: "classify",
                    message_id: &m.delivery.message_id,
                    reason,
                    poison,
                }
                .emit()
            });
            outcome.failed.push(m.delivery.message_id.clone());
        };

        // 1. What each message asks for, against what is stored. Each message's steps run
        // in its span; the batch's one model call runs in the caller's. The store calls of
        // a step run side by side (at most STORE_CALLS at once), each in its message's span.
        let mut requests: Vec<(Message, ClassifyRequest)> = Vec::with_capacity(messages.len());
        for d in messages {
            let m = Message {
                delivery: d,
                span: message_span(&d.message_id),
            };
            match serde_json::from_str::<ClassifyRequest>(&d.body) {
                Ok(r) => {
                    record_comment(&m.span, &r.key);
                    requests.push((m, r));
                }
                Err(e) => fail(&mut outcome, &m, &format!("unreadable request: {e}"), true),
            }
        }
        let read = side_by_side(requests.into_iter().map(|(m, request)| async move {
            let got = self
                .store
                .get(&request.key)
                .instrument(m.span.clone())
                .await;
            (m, request, got)
        }))
        .await;
        let mut work: Vec<(Message, Work)> = Vec::new();
        for (m, request, got) in read {
            match got {
                Ok(Some(c)) => match self.plan(c, request.version) {
                    Some(w) => work.push((m, w)),
                    None => outcome.skipped += 1,
                },
                Ok(None) => {
                    m.span.in_scope(|| {
                        tracing::warn!(key = %request.key, "classification request for an unknown comment")
                    });
                    outcome.skipped += 1;
                }
                Err(e) => fail(&mut outcome, &m, &e.to_string(), false),
            }
        }

        // 2. The author's earlier comments in each thread: repeat complaints count them
        // by their place in the thread, triaged yet or not, so that the order comments are
        // classified in does not change a verdict.
        let mut texts = Texts::default();
        for (_, w) in &work {
            if let Work::Score(c, _) = w {
                texts.slot(c);
            }
        }
        let threads = side_by_side(work.into_iter().map(|(m, w)| async move {
            let thread = match &w {
                Work::Score(c, _) => Some(
                    self.store
                        .thread(&c.thread(), THREAD_WINDOW)
                        .instrument(m.span.clone())
                        .await,
                ),
                _ => None,
            };
            (m, w, thread)
        }))
        .await;
        let mut work = Vec::with_capacity(threads.len());
        for (m, w, thread) in threads {
            match (w, thread) {
                (Work::Score(c, _), Some(Ok(thread))) => {
                    let earlier = earlier(&c, &thread, &mut texts);
                    work.push((m, Work::Score(c, earlier)));
                }
                (_, Some(Err(e))) => fail(&mut outcome, &m, &e.to_string(), false),
                (w, _) => work.push((m, w)),
            }
        }

        // 3. One model call for every text to score.
        let scores = if !texts.texts.is_empty() {
            self.scorer.score(&texts.texts).await.and_then(|s| {
                if s.len() == texts.texts.len() {
                    Ok(s)
                } else {
                    Err(crate::ports::ScoreError(format!(
                        "{} scores for {} texts",
                        s.len(),
                        texts.texts.len()
                    )))
                }
            })
        } else {
            Ok(Vec::new())
        };
        let scores = match scores {
            Ok(s) => s,
            Err(e) => {
                let needs_model = |w: &Work| {
                    matches!(w, Work::Score(c, earlier)
                        if c.text.is_some() || earlier.iter().any(|e| matches!(e, Earlier::Scored(_))))
                };
                for (m, w) in &work {
                    if needs_model(w) {
                        fail(&mut outcome, m, &e.to_string(), false);
                    }
                }
                work.retain(|(_, w)| !needs_model(w));
                Vec::new()
            }
        };

        // 4. Urgency: each scored comment's triage, in memory.
        let mut ready: Vec<Ready> = Vec::with_capacity(work.len());
        for (m, w) in work {
            match w {
                Work::EscalateOnly(c) => ready.push(Ready {
                    m,
                    comment: c,
                    triaged: false,
                }),
                Work::DraftOnly(c) => {
                    outcome.skipped += 1;
                    ready.push(Ready {
                        m,
                        comment: c,
                        triaged: false,
                    });
                }
                Work::Score(c, earlier) => {
                    let reading = texts.slot(&c).map(|i| scores[i].clone());
                    let earlier_complaints = earlier
                        .iter()
                        .filter(|e| match e {
                            Earlier::Known(label) => *label == Some(Sentiment::Negative),
                            Earlier::Scored(i) => scores[*i].sentiment.label == Sentiment::Negative,
                        })
                        .count() as u32;
                    match m
                        .span
                        .in_scope(|| self.assess(c, reading, earlier_complaints, now))
                    {
                        Some(c) => ready.push(Ready {
                            m,
                            comment: c,
                            triaged: true,
                        }),
                        None => outcome.skipped += 1,
                    }
                }
            }
        }

        // 5. The escalation events, in one send, before anything is stored: the write
        // that stores a triage also records its escalation, and a message whose events
        // were sent but not recorded sends them again under the same event ids.
        let events: Vec<Option<EscalationEvent>> = ready
            .iter()
            .map(|r| {
                escalation_due(&r.comment)
                    .then(|| EscalationEvent::for_comment(&r.comment, now))
                    .flatten()
            })
            .collect();
        let messages: Vec<OutgoingMessage> = events
            .iter()
            .flatten()
            .map(|e| OutgoingMessage {
                id: e.event_id.clone(),
                body: serde_json::to_string(e).expect("serialisable"),
                attributes: vec![
                    ("schema".into(), e.schema.clone()),
                    ("brand".into(), e.brand.clone()),
                    ("tier".into(), e.urgency.tier.clone().unwrap_or_default()),
                ],
            })
            .collect();
        let sent = if messages.is_empty() {
            Ok(())
        } else {
            self.escalations.send(&messages).await
        };
        let (unsent, send_error) = match sent {
            Ok(()) => (Vec::new(), None),
            Err(e) => (e.unsent(&messages), Some(e.to_string())),
        };
        // each comment's event, and whether it went out
        let escalations: Vec<Option<(EscalationEvent, bool)>> = events
            .into_iter()
            .map(|e| {
                e.map(|e| {
                    let sent = !unsent.contains(&e.event_id);
                    (e, sent)
                })
            })
            .collect();

        // 6. Each comment stored once (its new triage, its escalation if sent); a failed
        // escalation send leaves the message to be retried.
        let stored = side_by_side(ready.into_iter().zip(escalations).map(
            |(r, escalation)| async move {
                let sent = matches!(escalation, Some((_, true)));
                let result = if r.triaged || sent {
                    let span = r.m.span.clone();
                    Some(
                        self.store(&r.comment, r.triaged, sent)
                            .instrument(span)
                            .await,
                    )
                } else {
                    None
                };
                (r, escalation, result)
            },
        ))
        .await;
        let mut to_draft: Vec<(Message, OutgoingMessage)> = Vec::new();
        for (r, escalation, result) in stored {
            let sent = escalation
                .as_ref()
                .filter(|(_, sent)| *sent)
                .map(|(e, _)| e);
            let comment = match result {
                None => r.comment,
                Some(Ok(Some(c))) => c,
                Some(Ok(None)) => {
                    // edited or deleted meanwhile: its own request follows
                    outcome.skipped += 1;
                    continue;
                }
                Some(Err(e)) => {
                    let reason = match sent {
                        Some(_) => format!("escalation sent, not recorded: {e}"),
                        None => e.to_string(),
                    };
                    fail(&mut outcome, &r.m, &reason, false);
                    continue;
                }
            };
            if r.triaged {
                outcome.classified += 1;
            }
            if let (Some(event), Some(triage)) = (sent, comment.triage.as_ref()) {
                outcome.escalated += 1;
                r.m.span.in_scope(|| {
                    Escalated {
                        brand: &comment.key.brand,
                        tier: triage.urgency.tier.as_deref().unwrap_or("-"),
                        score: triage.urgency.score,
                        event_id: &event.event_id,
                    }
                    .emit()
                });
            }
            if let (Some((_, false)), Some(e)) = (&escalation, &send_error) {
                // its retry sends the event, and asks for its drafts
                fail(
                    &mut outcome,
                    &r.m,
                    &format!("escalation not sent: {e}"),
                    false,
                );
            } else if self.drafts.is_some() && comment.text.is_some() {
                to_draft.push((r.m, crate::drafting::DraftRequest::message(&comment)));
            }
        }

        // 7. The draft requests, in one send: drafted before the message is acknowledged,
        // so a request not sent retries its message.
        if let Some(q) = self.drafts
            && !to_draft.is_empty()
        {
            let requests: Vec<OutgoingMessage> = to_draft.iter().map(|(_, r)| r.clone()).collect();
            if let Err(e) = q.send(&requests).await {
                let failed = e.unsent(&requests);
                for (m, r) in &to_draft {
                    if failed.contains(&r.id) {
                        fail(
                            &mut outcome,
                            m,
                            &format!("draft request not sent: {e}"),
                            false,
                        );
                    }
                }
            }
        }
        outcome
    }

    /// What to do for a request of `version` given the stored comment.
    fn plan(&self, c: Comment, version: u32) -> Option<Work> {
        if c.version != version || c.state == CommentState::OwnReply {
            return None; // superseded by an edit, or the brand's own words
        }
        if c.state == CommentState::Deleted {
            // deleted after triage: the drafter withdraws its drafts
            return (self.drafts.is_some() && c.triage.is_some()).then_some(Work::DraftOnly(c));
        }
        match &c.triage {
            Some(t) if t.version == c.version => {
                if escalation_due(&c) {
                    Some(Work::EscalateOnly(c))
                } else if self.drafts.is_some() && c.text.is_some() {
                    Some(Work::DraftOnly(c))
                } else {
                    None
                }
            }
            _ => Some(Work::Score(c, Vec::new())),
        }
    }

    /// The comment with its triage of now; `None` for a brand no longer configured.
    fn assess(
        &self,
        mut comment: Comment,
        reading: Option<crate::ports::Reading>,
        earlier_complaints: u32,
        now: Timestamp,
    ) -> Option<Comment> {
        let Some(brand) = self.brands.get(&comment.key.brand) else {
            tracing::warn!(brand = %comment.key.brand, "comment of a brand no longer configured");
            return None;
        };
        let (sentiment, understanding, embedding) = match reading {
            Some(r) => (Some(r.sentiment), r.understanding, r.embedding),
            None => (None, None, None),
        };
        let urgency = urgency::assess(
            &brand.urgency,
            &Assessment {
                platform: comment.key.platform,
                text: comment.text.as_ref().map(|t| t.as_str()),
                author: &comment.author,
                sentiment: sentiment.as_ref(),
                earlier_complaints,
                understanding: understanding.as_ref(),
            },
        );
        CommentClassified {
            brand: &comment.key.brand,
            label: sentiment.as_ref().map_or("no_text", |s| s.label.as_str()),
            intent: understanding
                .as_ref()
                .map_or("unknown", |u| u.intent.as_str()),
            urgency: urgency.score,
        }
        .emit();
        comment.triage = Some(Triage {
            version: comment.version,
            sentiment,
            understanding,
            embedding,
            urgency,
            triaged_at: now,
        });
        comment.state = CommentState::Triaged;
        Some(comment)
    }

    /// One write of what changed on `comment`: its new triage (`triaged`), the
    /// escalation of its version (`escalated`). `None` when the stored comment moved on
    /// meanwhile (edited, deleted, the brand's own words).
    async fn store(
        &self,
        comment: &Comment,
        triaged: bool,
        escalated: bool,
    ) -> Result<Option<Comment>, StoreError> {
        let version = comment.version;
        let apply = |c: &mut Comment| {
            if triaged {
                c.triage.clone_from(&comment.triage);
                c.state = CommentState::Triaged;
            }
            if escalated {
                c.escalated_version = Some(c.escalated_version.unwrap_or(0).max(version));
            }
        };
        let mut c = comment.clone();
        apply(&mut c);
        match self.store.update(&c).await {
            Ok(c) => Ok(Some(c)),
            Err(StoreError::Conflict) => {
                // Moved on meanwhile (marked queued, edited, deleted): apply it to the
                // fresh copy if it is still the version read.
                let Some(mut fresh) = self.store.get(&c.key).await? else {
                    return Ok(None);
                };
                if fresh.version != version
                    || matches!(fresh.state, CommentState::Deleted | CommentState::OwnReply)
                    || (!triaged && fresh.triage.as_ref().is_none_or(|t| t.version != version))
                {
                    return Ok(None);
                }
                apply(&mut fresh);
                self.store.update(&fresh).await.map(Some)
            }
            Err(e) => Err(e),
        }
    }
}
