//! The Lambda handler, as a plain function: draft the batch, report what to retry.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tracing::Instrument;
use vigie_aws::event::{batch_response, delivery};
use vigie_core::drafting::Drafter;
use vigie_core::events::batch_span;
use vigie_core::ports::{BrandContentStore, CommentRead, Delivery, DraftStore};
use vigie_core::time::Timestamp;

pub async fn handle<S, C, D>(drafter: &Drafter<'_, S, C, D>, event: SqsEvent) -> SqsBatchResponse
where
    S: CommentRead,
    C: BrandContentStore,
    D: DraftStore,
{
    let deliveries: Vec<Delivery> = event.records.iter().map(delivery).collect();
    let span = batch_span("draft", deliveries.len());
    let outcome = drafter
        .handle(&deliveries, Timestamp::now())
        .instrument(span.clone())
        .await;
    span.in_scope(|| {
        tracing::info!(
            messages = deliveries.len(),
            drafted = outcome.drafted,
            withdrawn = outcome.withdrawn,
            skipped = outcome.skipped,
            failed = outcome.failed.len(),
            "batch drafted"
        )
    });
    batch_response(outcome.failed)
}
