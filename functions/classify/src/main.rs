//! Lambda main of the classify function: configuration, model and clients once, then
//! the SQS handler.
//!
//! Environment: VIGIE_CONFIG, VIGIE_TABLE, VIGIE_ESCALATION_QUEUE_URL, VIGIE_MODEL_DIR
//! (model.onnx, tokenizer.json, model.json), ORT_DYLIB_PATH (libonnxruntime.so), VIGIE_THREADS.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use vigie_aws::function::{brands, init_tracing, leak, required};
use vigie_aws::{DynamoStore, SqsQueue};
use vigie_classify::{ModelScorer, handle};
use vigie_core::classify::Classifier;
use vigie_model::{ModelOptions, SentimentModel};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let brands = brands()?;
    let threads = std::env::var("VIGIE_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let model = SentimentModel::load(&ModelOptions {
        intra_threads: threads,
        ..ModelOptions::new(required("VIGIE_MODEL_DIR")?)
    })?;
    tracing::info!(model = model.version(), "model loaded");
    let aws = vigie_aws::sdk_config().await;
    let store = DynamoStore::from_conf(&aws, required("VIGIE_TABLE")?);
    let escalations = SqsQueue::from_conf(&aws, required("VIGIE_ESCALATION_QUEUE_URL")?);
    let scorer = ModelScorer::new(Arc::new(model));
    // Reply suggestions: triaged comments go on to the draft function's queue, when set.
    let drafts: Option<&'static SqsQueue> = std::env::var("VIGIE_DRAFT_QUEUE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|url| leak(SqsQueue::from_conf(&aws, url)));
    let classifier: &'static Classifier<'static, _, _, _> = leak(Classifier {
        brands: leak(brands),
        store: leak(store),
        scorer: leak(scorer),
        escalations: leak(escalations),
        drafts: drafts.map(|q| q as &dyn vigie_core::ports::QueueSend),
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, std::convert::Infallible>(handle(classifier, event.payload).await)
    }))
    .await
}
