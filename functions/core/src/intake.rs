//! Webhook intake: authenticate the raw bytes, keep them, normalise each event to the
//! canonical comment, store it idempotently and queue it for classification.
//!
//! Delivery guarantee: at least once into the classification queue. A comment is stored
//! `Received`, its request is sent, then it is marked `Queued`. If sending fails the
//! request errors (the platform redelivers), and a redelivery of a comment still
//! `Received` sends it again; `requeue_pending` sweeps what no redelivery rescues.
//! Classification is idempotent per comment version, so a repeat costs nothing downstream.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::comment::{
    Attachment, BrandId, Comment, CommentKey, CommentState, CommentText, InvalidValue, Platform,
    Truncation,
};
use crate::config::Brands;
use crate::events::{
    CommentQueued, CommentReceived, DuplicateDelivery, EventIgnored, InternalEvent,
    PayloadRejected, SignatureRejected,
};
pub use crate::platforms::HandshakeError;
use crate::platforms::{
    self, AppKeys, EventKind, Ignored, Inbound, MalformedPayload, PlatformEvent, Reply, Source,
};
use crate::poll::ReadRequests;
use crate::ports::{
    CommentRead, CommentWrite, Inserted, OutgoingMessage, PendingComments, QueueError, QueueSend,
    RawArchive, RawDelivery, StoreError,
};
use crate::secrets::Secrets;
use crate::signature::SignatureError;
use crate::time::Timestamp;

/// How long raw deliveries are kept.
pub const RAW_RETENTION_DAYS: i64 = 14;

/// How long a comment stays `Received` before the sweep queues it: the webhook may still
/// be queueing a younger one.
pub const REQUEUE_AFTER_MS: i64 = 60_000;

/// What the classification queue carries: which comment version to score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassifyRequest {
    pub key: CommentKey,
    pub version: u32,
}

impl ClassifyRequest {
    pub fn message(&self) -> OutgoingMessage {
        OutgoingMessage {
            id: format!("{}#v{}", self.key, self.version),
            body: serde_json::to_string(self).expect("serialisable"),
            attributes: vec![
                ("brand".into(), self.key.brand.to_string()),
                ("platform".into(), self.key.platform.to_string()),
            ],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("signature rejected: {0}")]
    Unauthorized(#[from] SignatureError),
    #[error("unknown brand {0:?} for the generic webhook")]
    UnknownBrand(String),
    #[error("the X-Vigie-Brand header is missing")]
    MissingBrand,
    #[error("{0} webhooks are not configured")]
    NotConfigured(Platform),
    #[error("no {platform} app is named {app:?}")]
    UnknownApp { platform: Platform, app: String },
    #[error(transparent)]
    Malformed(#[from] MalformedPayload),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
}

/// A webhook request as the HTTP layer received it.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub platform: Platform,
    /// The app the path names (`/webhooks/{platform}/{app}`), if it names one.
    pub app: Option<&'a str>,
    pub inbound: Inbound<'a>,
}

/// Counts of what a delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IntakeReport {
    pub events: usize,
    pub stored: usize,
    pub duplicates: usize,
    pub edited: usize,
    pub deleted: usize,
    pub own: usize,
    pub queued: usize,
    pub ignored: usize,
    /// Comments named without their words, left for the poll function to read.
    pub read_later: usize,
}

impl IntakeReport {
    /// Adds another delivery's or page's counts.
    pub fn add(&mut self, o: &IntakeReport) {
        self.events += o.events;
        self.stored += o.stored;
        self.duplicates += o.duplicates;
        self.edited += o.edited;
        self.deleted += o.deleted;
        self.own += o.own;
        self.queued += o.queued;
        self.ignored += o.ignored;
        self.read_later += o.read_later;
    }
}

/// Why no app can check a request.
enum NoApp {
    NotConfigured,
    Unknown(String),
}

/// The apps of a platform module a request may be for, with their keys: the one the path
/// names, or every configured one.
fn candidates<'b>(
    brands: &'b Brands,
    secrets: &'b Secrets,
    source: &dyn Source,
    named: Option<&str>,
) -> Result<Vec<(&'b str, &'b AppKeys)>, NoApp> {
    let of_source = |app: &'b crate::config::App| {
        (app.source.name() == source.name())
            .then(|| secrets.apps.get(&app.name).map(|k| (app.name.as_str(), k)))
            .flatten()
    };
    let found: Vec<_> = match named {
        Some(name) => {
            let app = brands
                .app(name)
                .ok_or_else(|| NoApp::Unknown(name.to_owned()))?;
            if app.source.name() != source.name() {
                return Err(NoApp::Unknown(name.to_owned()));
            }
            of_source(app).into_iter().collect()
        }
        None => brands.apps().filter_map(of_source).collect(),
    };
    if found.is_empty() {
        return Err(NoApp::NotConfigured);
    }
    Ok(found)
}

/// Answers a platform's subscription check (Meta's `hub.challenge`, X's CRC, LinkedIn's
/// `challengeCode`) with the keys of the app it is for.
pub fn handshake(
    brands: &Brands,
    secrets: &Secrets,
    platform: Platform,
    app: Option<&str>,
    req: &Inbound<'_>,
) -> Result<Reply, HandshakeError> {
    let source = platforms::source(platform);
    if !source.has_handshake() {
        return Err(HandshakeError::Unsupported(platform));
    }
    let apps = candidates(brands, secrets, source, app).map_err(|e| match e {
        NoApp::NotConfigured => HandshakeError::NotConfigured(platform),
        NoApp::Unknown(name) => HandshakeError::UnknownApp(name),
    })?;
    if source.handshake_identifies_app() {
        let mut last = HandshakeError::NotConfigured(platform);
        for (_, keys) in apps {
            match source.handshake(keys, req) {
                Ok(reply) => return Ok(reply),
                Err(e) => last = e,
            }
        }
        return Err(last);
    }
    match apps.as_slice() {
        [(_, keys)] => source.handshake(keys, req),
        _ => Err(HandshakeError::Ambiguous(platform)),
    }
}

/// Who a request authenticated as.
enum Verified {
    /// The generic webhook's brand.
    Brand(BrandId),
    /// A platform app, by name.
    App(String),
}

/// Everything intake needs; one per process.
pub struct Intake<'a, S, Q> {
    pub brands: &'a Brands,
    pub secrets: &'a Secrets,
    pub store: &'a S,
    pub queue: &'a Q,
}

impl<S, Q> Intake<'_, S, Q>
where
    S: CommentWrite + CommentRead + RawArchive + ReadRequests,
    Q: QueueSend,
{
    /// The brand an event of `account` is for: an app's secret speaks only for the brands
    /// that belong to it.
    fn brand_of(
        &self,
        verified: &Verified,
        source: &dyn Source,
        platform: Platform,
        account: &str,
    ) -> Result<BrandId, &'static str> {
        match verified {
            Verified::Brand(b) => Ok(b.clone()),
            Verified::App(app) => match self.brands.owner(platform, account) {
                Some(b) if self.brands.app_of(&b.id, source) == Some(app.as_str()) => {
                    Ok(b.id.clone())
                }
                Some(_) => Err("account of a brand of another app"),
                None => Err("account of no configured brand"),
            },
        }
    }

    pub async fn receive(
        &self,
        req: WebhookRequest<'_>,
        now: Timestamp,
    ) -> Result<IntakeReport, IntakeError> {
        let platform = req.platform;
        let source = platforms::source(platform);
        let body = req.inbound.body;
        let verified = self.authenticate(&req, source, now).inspect_err(|e| {
            if let IntakeError::Unauthorized(reason) = e {
                SignatureRejected {
                    platform,
                    reason: &reason.to_string(),
                }
                .emit();
            }
        })?;
        // Authenticated bytes are kept before parsing: a payload we cannot read is not lost.
        self.store
            .put_raw(&RawDelivery {
                id: hex::encode(Sha256::digest(body)),
                platform,
                received_at: now,
                expires_at: now.plus_millis(RAW_RETENTION_DAYS * 86_400_000),
                body: body.to_vec(),
            })
            .await?;
        let parsed = source.parse(platform, body).inspect_err(|e| {
            PayloadRejected {
                platform,
                reason: &e.reason,
            }
            .emit()
        })?;

        let mut report = IntakeReport {
            events: parsed.events.len() + parsed.ignored.len() + parsed.reads.len(),
            ignored: parsed.ignored.len(),
            ..Default::default()
        };
        for ignored in &parsed.ignored {
            EventIgnored {
                platform,
                reason: &ignored.reason,
            }
            .emit();
        }
        let ignore = |report: &mut IntakeReport, reason: &str| {
            report.ignored += 1;
            EventIgnored { platform, reason }.emit();
        };
        let mut owned = Vec::with_capacity(parsed.events.len());
        for event in parsed.events {
            match self.brand_of(&verified, source, event.platform, &event.account_id) {
                Ok(brand) => owned.push((brand, event)),
                Err(reason) => ignore(&mut report, reason),
            }
        }
        for read in parsed.reads {
            let brand = match self.brand_of(&verified, source, read.platform, &read.account_id) {
                Ok(brand) => brand,
                Err(reason) => {
                    ignore(&mut report, reason);
                    continue;
                }
            };
            let app = self.brands.app_of(&brand, source).unwrap_or_default();
            if !self.secrets.pull.contains_key(app) {
                ignore(
                    &mut report,
                    "comment without text, and no API credentials to read it",
                );
                continue;
            }
            let feed = crate::poll::Feed {
                brand,
                platform: read.platform,
                account: read.account_id,
                app: app.to_owned(),
            };
            self.store
                .request_read(&feed.key(), &read.page, now)
                .await?;
            report.read_later += 1;
        }
        self.apply_all(platform, owned, now, &mut report).await?;
        Ok(report)
    }

    /// Takes in what a read of a brand's feed found (the poll function): the same
    /// idempotent intake as a webhook's, for events already known to be the brand's.
    pub async fn ingest(
        &self,
        brand: &BrandId,
        platform: Platform,
        events: Vec<PlatformEvent>,
        ignored: Vec<Ignored>,
        now: Timestamp,
    ) -> Result<IntakeReport, IntakeError> {
        let mut report = IntakeReport {
            events: events.len() + ignored.len(),
            ignored: ignored.len(),
            ..Default::default()
        };
        for i in &ignored {
            EventIgnored {
                platform,
                reason: &i.reason,
            }
            .emit();
        }
        let owned = events.into_iter().map(|e| (brand.clone(), e)).collect();
        self.apply_all(platform, owned, now, &mut report).await?;
        Ok(report)
    }

    async fn apply_all(
        &self,
        platform: Platform,
        events: Vec<(BrandId, PlatformEvent)>,
        now: Timestamp,
        report: &mut IntakeReport,
    ) -> Result<(), IntakeError> {
        let mut to_queue: Vec<Comment> = Vec::new();
        for (brand, event) in events {
            match self.apply(brand, event, now, report).await {
                // A batch may name one comment twice (LinkedIn's two URN spellings, a
                // message and its edit, a retry inside one delivery): one request, for
                // the comment as the batch left it.
                Ok(Some(c)) => match to_queue.iter_mut().find(|q| q.key == c.key) {
                    Some(earlier) => *earlier = c,
                    None => to_queue.push(c),
                },
                Ok(None) => {}
                Err(ApplyError::Store(e)) => return Err(e.into()),
                Err(ApplyError::Invalid(reason)) => {
                    report.ignored += 1;
                    EventIgnored {
                        platform,
                        reason: &reason.to_string(),
                    }
                    .emit();
                }
            }
        }
        report.queued += self.enqueue(to_queue).await?;
        Ok(())
    }

    /// Checks the signature with the keys of the app (or generic brand) it is for.
    fn authenticate(
        &self,
        req: &WebhookRequest<'_>,
        source: &dyn Source,
        now: Timestamp,
    ) -> Result<Verified, IntakeError> {
        let platform = req.platform;
        if platform == Platform::Generic {
            let name = req
                .inbound
                .header(platforms::generic::BRAND_HEADER)
                .ok_or(IntakeError::MissingBrand)?;
            let brand =
                BrandId::parse(name).map_err(|_| IntakeError::UnknownBrand(name.to_owned()))?;
            let secret = self
                .secrets
                .generic
                .get(&brand)
                .ok_or_else(|| IntakeError::UnknownBrand(name.to_owned()))?;
            source.verify(&AppKeys::new(secret.clone()), &req.inbound, now)?;
            return Ok(Verified::Brand(brand));
        }
        let apps = candidates(self.brands, self.secrets, source, req.app).map_err(|e| match e {
            NoApp::NotConfigured => IntakeError::NotConfigured(platform),
            NoApp::Unknown(app) => IntakeError::UnknownApp { platform, app },
        })?;
        // Each app's keys in turn, each check in constant time; the first one's refusal
        // is the answer when none matches.
        let mut refusal = None;
        for (name, keys) in apps {
            match source.verify(keys, &req.inbound, now) {
                Ok(()) => return Ok(Verified::App(name.to_owned())),
                Err(e) => {
                    refusal.get_or_insert(e);
                }
            }
        }
        Err(refusal.unwrap_or(SignatureError::Mismatch).into())
    }

    /// Applies one event; returns the comment when it needs classifying.
    async fn apply(
        &self,
        brand: BrandId,
        event: PlatformEvent,
        now: Timestamp,
        report: &mut IntakeReport,
    ) -> Result<Option<Comment>, ApplyError> {
        let key = CommentKey::new(brand.clone(), event.platform, event.external_id.clone())?;
        let kind = match event.kind {
            EventKind::Created => "created",
            EventKind::Edited => "edited",
            EventKind::Deleted => "deleted",
        };
        CommentReceived {
            brand: &brand,
            platform: event.platform,
            kind,
        }
        .emit();
        match event.kind {
            EventKind::Deleted => {
                let Some(mut existing) = self.store.get(&key).await? else {
                    report.ignored += 1;
                    return Ok(None);
                };
                if existing.state == CommentState::Deleted {
                    report.duplicates += 1;
                    return Ok(None);
                }
                existing.state = CommentState::Deleted;
                let deleted = self
                    .update_retrying(existing, |c| c.state = CommentState::Deleted)
                    .await?;
                report.deleted += 1;
                // a triaged comment may have drafts: its request goes down the pipeline so
                // that the drafter withdraws them
                Ok(deleted.triage.is_some().then_some(deleted))
            }
            EventKind::Edited => match self.store.get(&key).await? {
                Some(existing) => {
                    let content = Content::of(&event)?;
                    if existing.state == CommentState::Deleted || content.is_on(&existing) {
                        report.duplicates += 1;
                        DuplicateDelivery {
                            platform: event.platform,
                            key: &key,
                        }
                        .emit();
                        return Ok(None);
                    }
                    let edited = self
                        .update_retrying(existing, move |c| {
                            content.clone().put_on(c);
                            c.version += 1;
                            if c.state != CommentState::OwnReply {
                                c.state = CommentState::Received;
                            }
                        })
                        .await?;
                    report.edited += 1;
                    Ok((edited.state == CommentState::Received).then_some(edited))
                }
                None => self.create(key, event, now, report).await,
            },
            EventKind::Created => self.create(key, event, now, report).await,
        }
    }

    async fn create(
        &self,
        key: CommentKey,
        event: PlatformEvent,
        now: Timestamp,
        report: &mut IntakeReport,
    ) -> Result<Option<Comment>, ApplyError> {
        let own = event.from_account;
        let content = Content::of(&event)?;
        let mut comment = Comment {
            key,
            thread_id: event.thread_id,
            parent_id: event.parent_id,
            source: event.source,
            private: event.private,
            author: event.author,
            text: None,
            attachment: None,
            truncation: None,
            permalink: event.permalink,
            created_at: event.created_at.unwrap_or(now),
            received_at: now,
            version: 1,
            state: if own {
                CommentState::OwnReply
            } else {
                CommentState::Received
            },
            triage: None,
            escalated_version: None,
            revision: 0,
        };
        content.put_on(&mut comment);
        match self.store.insert_if_new(&comment).await? {
            Inserted::New(c) => {
                if own {
                    report.own += 1;
                    Ok(None)
                } else {
                    report.stored += 1;
                    Ok(Some(c))
                }
            }
            Inserted::Existing(c) => {
                report.duplicates += 1;
                DuplicateDelivery {
                    platform: c.key.platform,
                    key: &c.key,
                }
                .emit();
                // Stored by an earlier delivery that failed before queueing: queue it now.
                Ok((c.state == CommentState::Received).then_some(c))
            }
        }
    }

    /// Writes a change, re-reading and re-applying it once if the comment moved meanwhile.
    async fn update_retrying(
        &self,
        comment: Comment,
        change: impl Fn(&mut Comment),
    ) -> Result<Comment, StoreError> {
        let mut c = comment;
        change(&mut c);
        match self.store.update(&c).await {
            Err(StoreError::Conflict) => {
                let mut fresh = self.store.get(&c.key).await?.ok_or(StoreError::Conflict)?;
                change(&mut fresh);
                self.store.update(&fresh).await
            }
            other => other,
        }
    }

    /// Sends the classification requests, then marks the comments queued.
    async fn enqueue(&self, comments: Vec<Comment>) -> Result<usize, IntakeError> {
        enqueue(self.store, self.queue, comments).await
    }
}

/// What an event says a comment contains: text (shortened if too long to keep whole), an
/// attachment, or both; never neither.
#[derive(Clone)]
struct Content {
    text: Option<CommentText>,
    truncation: Option<Truncation>,
    attachment: Option<Attachment>,
}

impl Content {
    fn of(event: &PlatformEvent) -> Result<Self, InvalidValue> {
        let (text, truncation) = match event.text.as_deref().filter(|t| !t.trim().is_empty()) {
            Some(t) => {
                let (text, truncation) = CommentText::truncating(t)?;
                (Some(text), truncation)
            }
            None if event.attachment.is_some() => (None, None),
            None => return Err(InvalidValue::EmptyText),
        };
        Ok(Self {
            text,
            truncation,
            attachment: event.attachment.clone(),
        })
    }

    fn is_on(&self, c: &Comment) -> bool {
        c.text == self.text && c.attachment == self.attachment
    }

    fn put_on(self, c: &mut Comment) {
        c.text = self.text;
        c.truncation = self.truncation;
        c.attachment = self.attachment;
    }
}

#[derive(Debug, thiserror::Error)]
enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
}

async fn enqueue<S: CommentWrite, Q: QueueSend>(
    store: &S,
    queue: &Q,
    comments: Vec<Comment>,
) -> Result<usize, IntakeError> {
    if comments.is_empty() {
        return Ok(0);
    }
    let messages: Vec<OutgoingMessage> = comments
        .iter()
        .map(|c| {
            ClassifyRequest {
                key: c.key.clone(),
                version: c.version,
            }
            .message()
        })
        .collect();
    queue.send(&messages).await?;
    CommentQueued {
        count: comments.len(),
    }
    .emit();
    for mut c in comments {
        if c.state == CommentState::Deleted {
            continue; // forwarded so that its drafts are withdrawn; it stays deleted
        }
        c.state = CommentState::Queued;
        match store.update(&c).await {
            // Classified already, or edited again: both fine, the request is in the queue.
            Ok(_) | Err(StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(messages.len())
}

/// Queues comments left `Received` for longer than `min_age_ms` (a crash between storing
/// and queueing, with no redelivery to rescue them). Returns how many were queued.
pub async fn requeue_pending<S, Q>(
    store: &S,
    queue: &Q,
    now: Timestamp,
    min_age_ms: i64,
    limit: usize,
) -> Result<usize, IntakeError>
where
    S: PendingComments + CommentWrite,
    Q: QueueSend,
{
    let pending = store.pending(now.plus_millis(-min_age_ms), limit).await?;
    if !pending.is_empty() {
        tracing::info!(
            count = pending.len(),
            "requeueing comments stored but never queued"
        );
    }
    enqueue(store, queue, pending).await
}
