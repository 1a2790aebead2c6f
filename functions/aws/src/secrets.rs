//! Secrets from SSM Parameter Store (SecureString, decrypted), or the environment.

use async_trait::async_trait;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::ProvideErrorMetadata;
use vigie_core::config::SecretRef;
use vigie_core::secrets::{EnvSecrets, SecretError, SecretResolver};

pub struct SsmSecrets {
    client: Client,
}

impl SsmSecrets {
    pub fn from_conf(conf: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(conf))
    }

    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SecretResolver for SsmSecrets {
    async fn resolve(&self, reference: &SecretRef) -> Result<String, SecretError> {
        match reference {
            SecretRef::Env(_) => EnvSecrets.resolve(reference).await,
            SecretRef::Ssm(name) => {
                let out = self
                    .client
                    .get_parameter()
                    .name(name)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(|e| {
                        let e = e.into_service_error();
                        SecretError {
                            reference: reference.clone(),
                            reason: format!(
                                "{}: {}",
                                e.code().unwrap_or("error"),
                                e.message().unwrap_or_default()
                            ),
                        }
                    })?;
                out.parameter()
                    .and_then(|p| p.value())
                    .map(str::to_owned)
                    .ok_or_else(|| SecretError {
                        reference: reference.clone(),
                        reason: "the parameter has no value".into(),
                    })
            }
        }
    }
}
