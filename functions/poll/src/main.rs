//! Lambda main of the poll function, run by an EventBridge schedule. Environment:
//! VIGIE_CONFIG, VIGIE_TABLE, VIGIE_CLASSIFY_QUEUE_URL and the AWS defaults (API
//! credentials are secrets: environment variables or SSM parameters).

use lambda_runtime::{LambdaEvent, service_fn};
use vigie_aws::function::{brands, init_tracing, leak, required};
use vigie_aws::{DynamoStore, SqsQueue, SsmSecrets};
use vigie_core::Timestamp;
use vigie_core::secrets::Secrets;
use vigie_poll::{Polling, ReqwestClient};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let brands = brands()?;
    let aws = vigie_aws::sdk_config().await;
    let secrets = Secrets::resolve(&brands, &SsmSecrets::from_conf(&aws)).await?;
    let polling = leak(Polling::new(
        brands,
        secrets,
        DynamoStore::from_conf(&aws, required("VIGIE_TABLE")?),
        SqsQueue::from_conf(&aws, required("VIGIE_CLASSIFY_QUEUE_URL")?),
        ReqwestClient::new(),
    ));
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            // a store or queue failure fails the invocation: the schedule runs it again
            polling
                .run(Timestamp::now())
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
