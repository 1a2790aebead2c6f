//! Lambda main of the notify function. Environment: VIGIE_CONFIG and the AWS defaults
//! (notify URLs are secrets: environment variables or SSM parameters).

use anyhow::Context;
use lambda_runtime::{LambdaEvent, service_fn};
use vigie_aws::SsmSecrets;
use vigie_core::config::Brands;
use vigie_core::secrets::Secrets;
use vigie_notify::{Notifier, RetryPolicy, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let path = std::env::var("VIGIE_CONFIG").context("VIGIE_CONFIG is not set")?;
    let brands = Brands::load(path.as_ref())?;
    let aws = vigie_aws::sdk_config().await;
    let secrets = Secrets::resolve(&brands, &SsmSecrets::from_conf(&aws)).await?;
    let notifier: &'static Notifier = Box::leak(Box::new(Notifier::new(
        brands,
        secrets,
        RetryPolicy::default(),
    )));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, std::convert::Infallible>(handle(notifier, event.payload).await)
    }))
    .await
}
