//! Lambda main of the notify function. Environment: VIGIE_CONFIG, VIGIE_TABLE (where
//! delivered event ids are remembered) and the AWS defaults (notify URLs are secrets:
//! environment variables or SSM parameters).

use lambda_runtime::{LambdaEvent, service_fn};
use vigie_aws::function::{brands, init_tracing, leak, required};
use vigie_aws::{DynamoStore, SsmSecrets};
use vigie_core::secrets::Secrets;
use vigie_notify::{Notifier, RetryPolicy, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let brands = brands()?;
    let aws = vigie_aws::sdk_config().await;
    let secrets = Secrets::resolve(&brands, &SsmSecrets::from_conf(&aws)).await?;
    let seen = DynamoStore::from_conf(&aws, required("VIGIE_TABLE")?);
    let notifier = leak(Notifier::new(brands, secrets, RetryPolicy::default(), seen));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, std::convert::Infallible>(handle(notifier, event.payload).await)
    }))
    .await
}
