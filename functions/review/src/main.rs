//! Lambda main of the review function: configuration, secrets and keys once, then the
//! router (API and page), behind API Gateway's JWT authorizer.
//!
//! Environment: VIGIE_CONFIG (brands TOML), VIGIE_TABLE (DynamoDB), VIGIE_ALLOWED_HOSTS
//! (comma-separated `Host` values served, e.g. the API's custom domain),
//! VIGIE_SESSION_KEY_PARAMETER (SSM SecureString: at least 32 random bytes, base64),
//! VIGIE_OIDC_ISSUER, VIGIE_OIDC_AUDIENCE, VIGIE_OIDC_JWKS (the issuer's key set, JSON),
//! optionally VIGIE_OIDC_USERNAME_CLAIM (default `email`) and VIGIE_DRAFT_QUEUE_URL (for
//! `regenerate`), and the AWS defaults.

use std::sync::Arc;

use base64::Engine as _;
use vigie_aws::function::{brands, init_tracing, required};
use vigie_aws::{DynamoStore, SqsQueue, SsmSecrets};
use vigie_core::config::SecretRef;
use vigie_core::ports::QueueSend;
use vigie_core::secrets::SecretResolver;
use vigie_review::auth::{Auth, AuthConfig, OidcConfig, SessionKey};
use vigie_review::{ReviewState, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_tracing();
    let brands = brands()?;
    let aws = vigie_aws::sdk_config().await;
    let ssm = SsmSecrets::from_conf(&aws);
    let key = ssm
        .resolve(&SecretRef::Ssm(required("VIGIE_SESSION_KEY_PARAMETER")?))
        .await?;
    let key = base64::engine::general_purpose::STANDARD.decode(key.trim())?;
    let mut oidc = OidcConfig::new(
        required("VIGIE_OIDC_ISSUER")?,
        required("VIGIE_OIDC_AUDIENCE")?,
        required("VIGIE_OIDC_JWKS")?,
    );
    if let Ok(claim) = std::env::var("VIGIE_OIDC_USERNAME_CLAIM") {
        oidc.username_claim = claim;
    }
    let config = AuthConfig {
        secure_cookies: true,
        allowed_hosts: required("VIGIE_ALLOWED_HOSTS")?
            .split(',')
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .collect(),
        oidc: Some(oidc),
        ..AuthConfig::new(SessionKey::from_bytes(&key)?)
    };
    let store = DynamoStore::from_conf(&aws, required("VIGIE_TABLE")?);
    let auth = Auth::new(Arc::new(store.clone()), config)?;
    let drafts = std::env::var("VIGIE_DRAFT_QUEUE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|url| Arc::new(SqsQueue::from_conf(&aws, url)) as Arc<dyn QueueSend>);
    let state = ReviewState {
        brands: Arc::new(brands),
        store,
        auth,
        drafts,
        embedder: None,
        speller: None,
    };
    lambda_http::run(router(Arc::new(state))).await
}
