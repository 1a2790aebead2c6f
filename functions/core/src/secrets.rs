//! Secrets resolved once at start from their references.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::comment::BrandId;
use crate::config::{Brands, SecretRef};

#[derive(Debug, thiserror::Error)]
#[error("secret {reference} could not be read: {reason}")]
pub struct SecretError {
    pub reference: SecretRef,
    pub reason: String,
}

/// Reads secrets from wherever their references point.
#[async_trait]
pub trait SecretResolver: Send + Sync {
    async fn resolve(&self, reference: &SecretRef) -> Result<String, SecretError>;
}

/// Environment variables only: `{ env = "NAME" }` (local runs and tests).
pub struct EnvSecrets;

#[async_trait]
impl SecretResolver for EnvSecrets {
    async fn resolve(&self, reference: &SecretRef) -> Result<String, SecretError> {
        let fail = |reason: &str| SecretError {
            reference: reference.clone(),
            reason: reason.into(),
        };
        match reference {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(v),
                Ok(_) => Err(fail("the variable is empty")),
                Err(_) => Err(fail("the variable is not set")),
            },
            SecretRef::Ssm(_) => Err(fail("SSM parameters are read only on AWS")),
        }
    }
}

/// The secrets the running functions use, as bytes and strings.
#[derive(Clone, Default)]
pub struct Secrets {
    pub meta_app_secret: Option<Vec<u8>>,
    pub meta_verify_token: Option<String>,
    pub generic: HashMap<BrandId, Vec<u8>>,
    pub notify_urls: HashMap<BrandId, String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("meta", &self.meta_app_secret.is_some())
            .field("generic", &self.generic.keys().collect::<Vec<_>>())
            .field("notify", &self.notify_urls.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Secrets {
    /// Resolves every secret of the configuration; the first failure stops it.
    pub async fn resolve(
        brands: &Brands,
        resolver: &dyn SecretResolver,
    ) -> Result<Self, SecretError> {
        let mut out = Secrets::default();
        if let Some(meta) = &brands.meta {
            out.meta_app_secret = Some(resolver.resolve(&meta.app_secret).await?.into_bytes());
            out.meta_verify_token = Some(resolver.resolve(&meta.verify_token).await?);
        }
        for b in brands.iter() {
            if let Some(r) = &b.generic_secret {
                out.generic
                    .insert(b.id.clone(), resolver.resolve(r).await?.into_bytes());
            }
            if let Some(n) = &b.notify {
                out.notify_urls
                    .insert(b.id.clone(), resolver.resolve(&n.url).await?);
            }
        }
        Ok(out)
    }
}
