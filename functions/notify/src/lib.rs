//! The notify function: each escalation event becomes a chat message on the brand's
//! incoming webhook (Slack or Teams format), with retries on throttling and server errors.
//! An event that still fails is reported failed: the queue retries it, then dead-letters it.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use vigie_core::comment::BrandId;
use vigie_core::config::Brands;
use vigie_core::escalation::EscalationEvent;
use vigie_core::events::{InternalEvent, MessageFailed, NotificationFailed, NotificationSent};
use vigie_core::notify::{payload, retryable_status};
use vigie_core::ports::Delivery;
use vigie_core::secrets::Secrets;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
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
}

pub struct Notifier {
    pub brands: Brands,
    pub secrets: Secrets,
    pub http: reqwest::Client,
    pub retry: RetryPolicy,
}

impl Notifier {
    pub fn new(brands: Brands, secrets: Secrets, retry: RetryPolicy) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a TLS backend is compiled in");
        Self {
            brands,
            secrets,
            http,
            retry,
        }
    }

    /// Posts one event; `Ok(false)` when the brand has no notify target (nothing to do).
    pub async fn forward(&self, event: &EscalationEvent) -> Result<bool, NotifyError> {
        let brand = BrandId::parse(event.brand.clone())
            .map_err(|e| NotifyError::Unreadable(e.to_string()))?;
        let (Some(target), Some(url)) = (
            self.brands.get(&brand).and_then(|b| b.notify.as_ref()),
            self.secrets.notify_urls.get(&brand),
        ) else {
            return Ok(false);
        };
        let body = payload(target.format, event);
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
                    return Ok(true);
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

    /// Forwards a batch; returns the message ids to retry.
    pub async fn handle(&self, deliveries: &[Delivery]) -> Vec<String> {
        let mut failed = Vec::new();
        for d in deliveries {
            let result = serde_json::from_str::<EscalationEvent>(&d.body)
                .map_err(|e| NotifyError::Unreadable(e.to_string()));
            let result = match result {
                Ok(event) => self.forward(&event).await.map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                MessageFailed {
                    queue: "notify",
                    message_id: &d.message_id,
                    reason: &e.to_string(),
                    poison: matches!(e, NotifyError::Unreadable(_)),
                }
                .emit();
                failed.push(d.message_id.clone());
            }
        }
        failed
    }
}

fn delivery(m: &SqsMessage) -> Delivery {
    Delivery {
        message_id: m.message_id.clone().unwrap_or_default(),
        receipt: m.receipt_handle.clone().unwrap_or_default(),
        body: m.body.clone().unwrap_or_default(),
        attributes: Vec::new(),
        receive_count: m
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1),
    }
}

/// The Lambda handler as a plain function.
pub async fn handle(notifier: &Notifier, event: SqsEvent) -> SqsBatchResponse {
    let deliveries: Vec<Delivery> = event.records.iter().map(delivery).collect();
    let mut response = SqsBatchResponse::default();
    response.set_failures(notifier.handle(&deliveries).await);
    response
}
