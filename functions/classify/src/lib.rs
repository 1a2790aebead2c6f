//! The classify function: the sentiment model as a [`SentimentScorer`], and the SQS
//! handler that runs the domain's classification on a batch and reports partial failures.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use vigie_core::classify::Classifier;
use vigie_core::comment::{Sentiment, SentimentScore};
use vigie_core::ports::{
    CommentRead, CommentWrite, Delivery, QueueSend, ScoreError, SentimentScorer,
};
use vigie_core::time::Timestamp;
use vigie_model::SentimentModel;

/// The ONNX model behind the domain's scorer port; inference runs off the async reactor.
#[derive(Clone)]
pub struct ModelScorer {
    model: Arc<SentimentModel>,
}

impl ModelScorer {
    pub fn new(model: Arc<SentimentModel>) -> Self {
        Self { model }
    }
}

#[async_trait]
impl SentimentScorer for ModelScorer {
    async fn score(&self, texts: &[String]) -> Result<Vec<SentimentScore>, ScoreError> {
        let model = Arc::clone(&self.model);
        let texts = texts.to_vec();
        let predictions = tokio::task::spawn_blocking(move || model.classify(&texts))
            .await
            .map_err(|e| ScoreError(e.to_string()))?
            .map_err(|e| ScoreError(e.to_string()))?;
        let version = self.model.version().to_owned();
        Ok(predictions
            .into_iter()
            .map(|p| SentimentScore {
                label: match p.label {
                    vigie_model::Sentiment::Negative => Sentiment::Negative,
                    vigie_model::Sentiment::Neutral => Sentiment::Neutral,
                    vigie_model::Sentiment::Positive => Sentiment::Positive,
                },
                negative: p.probabilities.negative,
                neutral: p.probabilities.neutral,
                positive: p.probabilities.positive,
                model: version.clone(),
            })
            .collect())
    }
}

/// An SQS record as the domain's queue delivery.
pub fn delivery(m: &SqsMessage) -> Delivery {
    Delivery {
        message_id: m.message_id.clone().unwrap_or_default(),
        receipt: m.receipt_handle.clone().unwrap_or_default(),
        body: m.body.clone().unwrap_or_default(),
        attributes: m
            .message_attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.string_value.clone().unwrap_or_default()))
            .collect(),
        receive_count: m
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1),
    }
}

/// The Lambda handler, as a plain function: classify the batch, report what to retry.
pub async fn handle<S, M, Q>(
    classifier: &Classifier<'_, S, M, Q>,
    event: SqsEvent,
) -> SqsBatchResponse
where
    S: CommentRead + CommentWrite,
    M: SentimentScorer,
    Q: QueueSend,
{
    let deliveries: Vec<Delivery> = event.records.iter().map(delivery).collect();
    let outcome = classifier.handle(&deliveries, Timestamp::now()).await;
    tracing::info!(
        messages = deliveries.len(),
        classified = outcome.classified,
        escalated = outcome.escalated,
        skipped = outcome.skipped,
        failed = outcome.failed.len(),
        "batch classified"
    );
    let mut response = SqsBatchResponse::default();
    response.set_failures(outcome.failed);
    response
}
