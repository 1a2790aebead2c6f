//! Lambda main of the webhook function: configuration and secrets once, then the router.
//!
//! Environment: VIGIE_CONFIG (brands TOML, packaged with the function), VIGIE_TABLE
//! (DynamoDB table), VIGIE_CLASSIFY_QUEUE_URL (SQS), and the AWS defaults.

use std::sync::Arc;

use vigie_aws::function::{brands, init_tracing, required};
use vigie_aws::{DynamoStore, SqsQueue, SsmSecrets};
use vigie_core::secrets::Secrets;
use vigie_webhook::{WebhookState, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let brands = brands()?;
    let aws = vigie_aws::sdk_config().await;
    let secrets = Secrets::resolve(&brands, &SsmSecrets::from_conf(&aws)).await?;
    let state = WebhookState {
        brands: Arc::new(brands),
        secrets: Arc::new(secrets),
        store: DynamoStore::from_conf(&aws, required("VIGIE_TABLE")?),
        queue: SqsQueue::from_conf(&aws, required("VIGIE_CLASSIFY_QUEUE_URL")?),
    };
    lambda_http::run(router(Arc::new(state))).await
}
