//! Lambda main of the webhook function: configuration and secrets once, then the router.
//!
//! Environment: VIGIE_CONFIG (brands TOML, packaged with the function), VIGIE_TABLE
//! (DynamoDB table), VIGIE_CLASSIFY_QUEUE_URL (SQS), and the AWS defaults.

use std::sync::Arc;

use anyhow::Context;
use vigie_aws::{DynamoStore, SqsQueue, SsmSecrets};
use vigie_core::config::Brands;
use vigie_core::secrets::Secrets;
use vigie_webhook::{WebhookState, router};

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let brands = Brands::load(env("VIGIE_CONFIG")?.as_ref())?;
    let aws = vigie_aws::sdk_config().await;
    let secrets = Secrets::resolve(&brands, &SsmSecrets::from_conf(&aws)).await?;
    let state = WebhookState {
        brands: Arc::new(brands),
        secrets: Arc::new(secrets),
        store: DynamoStore::from_conf(&aws, env("VIGIE_TABLE")?),
        queue: SqsQueue::from_conf(&aws, env("VIGIE_CLASSIFY_QUEUE_URL")?),
    };
    lambda_http::run(router(Arc::new(state))).await
}
