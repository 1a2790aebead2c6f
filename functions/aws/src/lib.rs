//! AWS adapters of vigie's ports: DynamoDB (one table), SQS and SSM Parameter Store.
//! Table layout and access patterns: ARCHITECTURE.md, "DynamoDB single table".

mod dynamo;
pub mod event;
pub mod function;
pub mod logs;
mod secrets;
mod sqs;

pub use dynamo::{DynamoStore, IndexSpec, Refiled, TableSpec};
pub use secrets::SsmSecrets;
pub use sqs::SqsQueue;

/// Shared SDK configuration: region and credentials from the environment (on Lambda,
/// the function's role); `AWS_ENDPOINT_URL` points every client elsewhere (tests: moto).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
