//! Secrets resolved once at start from their references.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::comment::BrandId;
use crate::config::{Brands, SecretRef};
use crate::platforms::AppKeys;
use crate::poll::PullKeys;

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
    /// Each platform app's keys, by app name (`meta` for the `[meta]` section's).
    pub apps: HashMap<String, AppKeys>,
    /// The generic webhook's secret of each brand.
    pub generic: HashMap<BrandId, Vec<u8>>,
    pub notify_urls: HashMap<BrandId, String>,
    /// The API credentials of each app the poll function reads with, by app name.
    pub pull: HashMap<String, PullKeys>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("apps", &self.apps.keys().collect::<Vec<_>>())
            .field("generic", &self.generic.keys().collect::<Vec<_>>())
            .field("notify", &self.notify_urls.keys().collect::<Vec<_>>())
            .field("pull", &self.pull.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Secrets {
    /// These secrets with one app's API credentials more (tests and tools).
    pub fn with_pull(mut self, name: impl Into<String>, keys: PullKeys) -> Self {
        self.pull.insert(name.into(), keys);
        self
    }

    /// These secrets with one app's keys more (tests and tools).
    pub fn with_app(mut self, name: impl Into<String>, keys: AppKeys) -> Self {
        self.apps.insert(name.into(), keys);
        self
    }

    /// Resolves every secret of the configuration; the first failure stops it.
    pub async fn resolve(
        brands: &Brands,
        resolver: &dyn SecretResolver,
    ) -> Result<Self, SecretError> {
        let mut out = Secrets::default();
        for app in brands.apps() {
            if let Some(p) = &app.pull {
                let opt = async |r: &Option<SecretRef>| match r {
                    Some(r) => resolver.resolve(r).await.map(Some),
                    None => Ok(None),
                };
                out.pull.insert(
                    app.name.clone(),
                    PullKeys {
                        client_id: p.client_id.clone(),
                        client_secret: opt(&p.client_secret).await?,
                        refresh_token: opt(&p.refresh_token).await?,
                        access_token: opt(&p.access_token).await?,
                        username: p.username.clone(),
                        api_url: p.api_url.clone(),
                        token_url: p.token_url.clone(),
                        user_agent: p.user_agent.clone(),
                    },
                );
            }
            let Some(secret_ref) = &app.secret else {
                continue;
            };
            let secret = resolver.resolve(secret_ref).await?;
            if app.source.name() == "google" {
                let keys = crate::platforms::google::keys(
                    &secret,
                    app.audience.as_deref().unwrap_or_default(),
                    app.service_account.as_deref(),
                )
                .map_err(|reason| SecretError {
                    reference: secret_ref.clone(),
                    reason,
                })?;
                out.apps.insert(app.name.clone(), keys);
                continue;
            }
            let mut keys = AppKeys::new(secret.into_bytes());
            if let Some(token) = &app.verify_token {
                keys.verify_token = Some(resolver.resolve(token).await?);
            }
            keys.tolerance_seconds = app.tolerance_seconds;
            out.apps.insert(app.name.clone(), keys);
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
