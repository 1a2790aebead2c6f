//! Lambda main of the intake sweeper, run on a schedule (e.g. every 5 minutes): queues the
//! comments the webhook stored but could not queue and that no redelivery rescued.
//!
//! Environment: VIGIE_TABLE, VIGIE_CLASSIFY_QUEUE_URL, and the AWS defaults.

use lambda_runtime::{LambdaEvent, service_fn};
use vigie_aws::function::{init_tracing, leak, required};
use vigie_aws::{DynamoStore, SqsQueue};
use vigie_core::intake::{REQUEUE_AFTER_MS, requeue_pending};
use vigie_core::time::Timestamp;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let aws = vigie_aws::sdk_config().await;
    let store = leak(DynamoStore::from_conf(&aws, required("VIGIE_TABLE")?));
    let queue = leak(SqsQueue::from_conf(
        &aws,
        required("VIGIE_CLASSIFY_QUEUE_URL")?,
    ));
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let queued =
                requeue_pending(store, queue, Timestamp::now(), REQUEUE_AFTER_MS, 500).await?;
            Ok::<_, lambda_runtime::Error>(serde_json::json!({ "requeued": queued }))
        },
    ))
    .await
}
