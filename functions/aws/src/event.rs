//! SQS event records as the domain's queue deliveries, and the batch response that
//! reports which to retry: shared by every SQS-triggered function.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use vigie_core::ports::Delivery;

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

/// A partial batch response: the message ids to retry, the rest acknowledged.
pub fn batch_response(failed: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.set_failures(failed);
    response
}
