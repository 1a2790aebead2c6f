//! The notify function: each escalation event becomes a chat message on the brand's
//! incoming webhook (Slack or Teams format), with retries on throttling and server errors.
//! An event that still fails is reported failed: the queue retries it, then dead-letters it.
//!
//! Repeats are dropped by `event_id`: an event is claimed in the store before it is posted
//! and marked delivered after, so that repeats arriving together post once. A repeat that
//! finds a live claim is retried later (the claim's holder may still fail); a claim whose
//! holder crashed runs out after the longest a delivery can take.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tracing::Instrument;
use vigie_aws::event::{batch_response, delivery};
use vigie_core::comment::BrandId;
use vigie_core::config::Brands;
use vigie_core::config::NotifyFormat;
use vigie_core::escalation::{EscalationEvent, REPEAT_WINDOW_DAYS};
use vigie_core::events::{
    InternalEvent, MessageFailed, NotificationFailed, NotificationSent, RepeatDropped, batch_span,
    message_span, record_comment,
};
use vigie_core::notify::{payload, retryable_status};
use vigie_core::ports::{Claim, Delivery, SeenEvents, StoreError};
use vigie_core::secrets::Secrets;
use vigie_core::time::Timestamp;

/// Longest wait for one answer of the chat service.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The longest one delivery can take, every attempt timing out: how long a claim on
    /// an event lasts.
    pub fn longest_delivery(&self) -> Duration {
        (HTTP_TIMEOUT + self.max_delay) * self.attempts.max(1)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("unreadable escalation event: {0}")]
    Unreadable(String),
    #[error("the chat service answered {status} after {attempts} attempt(s)")]
    Rejected { status: u16, attempts: u32 },
    #[error("the chat service could not be reached after {attempts} attempt(s): {reason}")]
    Unreachable { attempts: u32, reason: String },
    #[error("seen events: {0}")]
    Store(#[from] StoreError),
    #[error("another worker is delivering this event; retried later")]
    Held,
}

/// Posts escalation events to chat, once per `event_id` as remembered by `seen`.
pub struct Notifier<E> {
    pub brands: Brands,
    pub secrets: Secrets,
    pub http: reqwest::Client,
    pub retry: RetryPolicy,
    pub seen: E,
}

impl<E: SeenEvents> Notifier<E> {
    pub fn new(brands: Brands, secrets: Secrets, retry: RetryPolicy, seen: E) -> Self {
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .expect("a TLS backend is compiled in");
        Self {
            brands,
            secrets,
            http,
            retry,
            seen,
        }
    }

    /// The brand's chat format and URL; `None` when it has no notify target.
    fn target(&self, event: &EscalationEvent) -> Result<Option<(NotifyFormat, &str)>, NotifyError> {
        let brand = BrandId::parse(event.brand.clone())
            .map_err(|e| NotifyError::Unreadable(e.to_string()))?;
        Ok(self
            .brands
            .get(&brand)
            .and_then(|b| b.notify.as_ref())
            .zip(self.secrets.notify_urls.get(&brand))
            .map(|(t, url)| (t.format, url.as_str())))
    }

    /// Posts one event, whether or not it was posted before; `Ok(false)` when the brand
    /// has no notify target (nothing to do).
    pub async fn forward(&self, event: &EscalationEvent) -> Result<bool, NotifyError> {
        match self.target(event)? {
            Some((format, url)) => self.post(format, url, event).await.map(|()| true),
            None => Ok(false),
        }
    }

    /// Posts one event unless it was delivered before; `holder` names this attempt (one
    /// per receive). `Ok(false)` when there was nothing to post: no target, or a repeat.
    pub async fn deliver_once(
        &self,
        event: &EscalationEvent,
        holder: &str,
        now: Timestamp,
    ) -> Result<bool, NotifyError> {
        let Some((format, url)) = self.target(event)? else {
            return Ok(false);
        };
        let lease = i64::try_from(self.retry.longest_delivery().as_millis()).unwrap_or(i64::MAX);
        match self
            .seen
            .claim(&event.event_id, holder, now, now.plus_millis(lease))
            .await?
        {
            Claim::Delivered => {
                RepeatDropped {
                    queue: "notify",
                    event_id: &event.event_id,
                }
                .emit();
                return Ok(false);
            }
            Claim::Held => return Err(NotifyError::Held),
            Claim::Claimed => {}
        }
        if let Err(e) = self.post(format, url, event).await {
            if let Err(release) = self.seen.release(&event.event_id, holder).await {
                // The claim runs out by itself; the retry waits for it.
                tracing::warn!(event_id = %event.event_id, error = %release, "claim not released");
            }
            return Err(e);
        }
        let remember = now.plus_millis(REPEAT_WINDOW_DAYS * 86_400_000);
        if let Err(e) = self.seen.mark_delivered(&event.event_id, remember).await {
            // Posted: acknowledging is right. Only a repeat arriving after the claim runs
            // out could post again.
            tracing::warn!(event_id = %event.event_id, error = %e, "delivery not recorded");
        }
        Ok(true)
    }

    async fn post(
        &self,
        format: NotifyFormat,
        url: &str,
        event: &EscalationEvent,
    ) -> Result<(), NotifyError> {
        let body = payload(format, event);
        let mut delay = self.retry.first_delay;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.http.post(url).json(&body).send().await;
            let (retry, error) = match outcome {
                Ok(r) if r.status().is_success() => {
                    NotificationSent {
                        brand: &event.brand,
                        attempts: attempt,
                    }
                    .emit();
                    return Ok(());
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    if let Some(wait) = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                    {
                        delay = Duration::from_secs(wait).min(self.retry.max_delay);
                    }
                    (
                        retryable_status(status),
                        NotifyError::Rejected {
                            status,
                            attempts: attempt,
                        },
                    )
                }
                Err(e) => (
                    true,
                    NotifyError::Unreachable {
                        attempts: attempt,
                        reason: e.to_string(),
                    },
                ),
            };
            if !retry || attempt >= self.retry.attempts {
                NotificationFailed {
                    brand: &event.brand,
                    attempts: attempt,
                    reason: &error.to_string(),
                }
                .emit();
                return Err(error);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.retry.max_delay);
        }
    }

    /// Forwards a batch; returns the message ids to retry. Each message is handled in its
    /// span, which names the event's comment and brand once its body is read.
    pub async fn handle(&self, deliveries: &[Delivery]) -> Vec<String> {
        let mut failed = Vec::new();
        for d in deliveries {
            let span = message_span(&d.message_id);
            let result = serde_json::from_str::<EscalationEvent>(&d.body)
                .map_err(|e| NotifyError::Unreadable(e.to_string()));
            let result = match result {
                Ok(event) => {
                    match event.comment_key() {
                        Ok(key) => record_comment(&span, &key),
                        Err(_) => {
                            span.record("brand", event.brand.as_str());
                        }
                    }
                    self.deliver_once(&event, &d.receipt, Timestamp::now())
                        .instrument(span.clone())
                        .await
                        .map(|_| ())
                }
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                span.in_scope(|| {
                    MessageFailed {
                        queue: "notify",
                        message_id: &d.message_id,
                        reason: &e.to_string(),
                        poison: matches!(e, NotifyError::Unreadable(_)),
                    }
                    .emit()
                });
                failed.push(d.message_id.clone());
            }
        }
        failed
    }
}

/// The Lambda handler as a plain function, in the batch's span.
pub async fn handle<E: SeenEvents>(notifier: &Notifier<E>, event: SqsEvent) -> SqsBatchResponse {
    let deliveries: Vec<Delivery> = event.records.iter().map(delivery).collect();
    let failed = notifier
        .handle(&deliveries)
        .instrument(batch_span("notify", deliveries.len()))
        .await;
    batch_response(failed)
}
