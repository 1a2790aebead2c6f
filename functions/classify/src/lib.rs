//! The classify function: the sentiment model as a [`SentimentScorer`], and the SQS
//! handler that runs the domain's classification on a batch and reports partial failures.

pub mod labelled;

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tracing::Instrument;
use vigie_core::classify::Classifier;
use vigie_core::comment::{Sentiment, SentimentScore};
use vigie_core::events::batch_span;
use vigie_core::ports::{
    CommentRead, CommentWrite, Delivery, QueueSend, Reading, ScoreError, SentimentScorer,
};
use vigie_core::time::Timestamp;
use vigie_core::understanding::{Embedding, Intent, RiskSignal, SignalReading, Understanding};
use vigie_model::{Heads, SentimentModel};

/// Nearest labelled examples kept as evidence for a signal that counts.
pub const EVIDENCE_EXAMPLES: usize = 2;
/// Longest example quoted, in characters.
const EXAMPLE_CHARS: usize = 90;

fn quote(text: &str) -> String {
    let t: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() <= EXAMPLE_CHARS {
        t
    } else {
        let mut s: String = t.chars().take(EXAMPLE_CHARS - 1).collect();
        s.push('…');
        s
    }
}

/// The heads' reading of an embedding as the domain's [`Understanding`]; a signal that
/// counts towards urgency carries its nearest labelled examples.
pub fn understanding(heads: &Heads, embedding: &[f32]) -> Understanding {
    let r = heads.read(embedding);
    let signals = r
        .signals
        .iter()
        .filter_map(|s| {
            let signal = RiskSignal::parse(&s.name)?;
            let mut reading = SignalReading {
                signal,
                probability: s.probability,
                threshold: s.threshold,
                examples: Vec::new(),
            };
            if reading.strength() > 0.0 {
                reading.examples = heads
                    .nearest(embedding, &s.name, EVIDENCE_EXAMPLES)
                    .into_iter()
                    .map(|(e, _)| quote(&e.text))
                    .collect();
            }
            Some(reading)
        })
        .collect();
    Understanding {
        intent: Intent::parse(&r.intent).unwrap_or(Intent::OffTopic),
        intent_probability: r.intent_probability,
        signals,
        model: heads.version().to_owned(),
    }
}

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
    async fn score(&self, texts: &[String]) -> Result<Vec<Reading>, ScoreError> {
        let model = Arc::clone(&self.model);
        let texts = texts.to_vec();
        let predictions = tokio::task::spawn_blocking(move || model.classify(&texts))
            .await
            .map_err(|e| ScoreError(e.to_string()))?
            .map_err(|e| ScoreError(e.to_string()))?;
        let version = self.model.version().to_owned();
        let heads = self.model.heads();
        Ok(predictions
            .into_iter()
            .map(|p| Reading {
                understanding: heads.map(|h| understanding(h, &p.embedding)),
                embedding: Some(Embedding::quantize(&p.embedding)),
                sentiment: sentiment(&p, &version),
            })
            .collect())
    }
}

/// The model's prediction as the domain's sentiment score.
pub fn sentiment(p: &vigie_model::Prediction, model: &str) -> SentimentScore {
    SentimentScore {
        label: match p.label {
            vigie_model::Sentiment::Negative => Sentiment::Negative,
            vigie_model::Sentiment::Neutral => Sentiment::Neutral,
            vigie_model::Sentiment::Positive => Sentiment::Positive,
        },
        negative: p.probabilities.negative,
        neutral: p.probabilities.neutral,
        positive: p.probabilities.positive,
        model: model.to_owned(),
    }
}

pub use vigie_aws::event::delivery;

/// The Lambda handler, as a plain function: classify the batch, report what to retry.
/// Its lines are logged in the batch's span, those about one message in that message's.
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
    let span = batch_span("classify", deliveries.len());
    let outcome = classifier
        .handle(&deliveries, Timestamp::now())
        .instrument(span.clone())
        .await;
    span.in_scope(|| {
        tracing::info!(
            messages = deliveries.len(),
            classified = outcome.classified,
            escalated = outcome.escalated,
            skipped = outcome.skipped,
            failed = outcome.failed.len(),
            "batch classified"
        )
    });
    vigie_aws::event::batch_response(outcome.failed)
}
