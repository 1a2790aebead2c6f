//! OpenID Connect JWTs (on AWS, after API Gateway's JWT authorizer; checked again here).
//!
//! A token is taken when its header names a `kid` of the configured JWKS and the algorithm
//! that key is for (RS256 for an RSA key, ES256 for a P-256 key: never a symmetric key,
//! never `none`), its signature holds, its `iss` is the issuer, its audience is ours (`aud`,
//! or `client_id` when there is no `aud`), and it is within `nbf`..`exp` give or take the
//! leeway. The user is the configured claim, lowercased, and an `email` claim is refused
//! when the token says `email_verified: false`.

use std::collections::HashMap;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use vigie_core::users::UserName;

use super::config::{AuthConfigError, OidcConfig};

pub(crate) struct OidcVerifier {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    validation_rs256: Validation,
    validation_es256: Validation,
    audience: String,
    username_claim: String,
}

impl OidcVerifier {
    pub fn new(config: &OidcConfig) -> Result<Self, AuthConfigError> {
        let set: JwkSet = serde_json::from_str(&config.jwks_json)
            .map_err(|e| AuthConfigError::Jwks(format!("not a JWK set: {e}")))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = &jwk.common.key_id else {
                continue;
            };
            if matches!(
                jwk.common.public_key_use,
                Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
            ) {
                continue;
            }
            let alg = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                    (Algorithm::ES256, KeyAlgorithm::ES256)
                }
                _ => continue,
            };
            if jwk.common.key_algorithm.is_some_and(|a| a != alg.1) {
                continue;
            }
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| AuthConfigError::Jwks(format!("key {kid:?}: {e}")))?;
            keys.insert(kid.clone(), (key, alg.0));
        }
        if keys.is_empty() {
            return Err(AuthConfigError::Jwks(
                "no RS256 or ES256 signing key with a kid".into(),
            ));
        }
        let validation = |alg| {
            let mut v = Validation::new(alg);
            v.set_issuer(&[&config.issuer]);
            v.set_required_spec_claims(&["exp", "iss"]);
            // Checked below: `aud`, or `client_id` when there is no `aud`.
            v.validate_aud = false;
            v.validate_nbf = true;
            v.leeway = config.leeway.as_secs();
            v
        };
        Ok(Self {
            keys,
            validation_rs256: validation(Algorithm::RS256),
            validation_es256: validation(Algorithm::ES256),
            audience: config.audience.clone(),
            username_claim: config.username_claim.clone(),
        })
    }

    /// The user a valid token names; `None` for any token not taken.
    pub fn user(&self, token: &str) -> Option<UserName> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let (key, alg) = self.keys.get(header.kid.as_deref()?)?;
        if header.alg != *alg {
            return None;
        }
        let validation = match alg {
            Algorithm::RS256 => &self.validation_rs256,
            Algorithm::ES256 => &self.validation_es256,
            _ => return None,
        };
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, validation)
            .ok()?
            .claims;
        let ours = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&self.audience)),
            Some(_) => false,
            None => claims.get("client_id").and_then(Value::as_str) == Some(&self.audience),
        };
        if !ours {
            return None;
        }
        if self.username_claim == "email" {
            // Cognito writes it as a string in some tokens.
            let unverified = match claims.get("email_verified") {
                None => false,
                Some(Value::Bool(verified)) => !verified,
                Some(Value::String(verified)) => verified != "true",
                Some(_) => true,
            };
            if unverified {
                return None;
            }
        }
        let name = claims.get(&self.username_claim)?.as_str()?;
        UserName::parse(&name.to_ascii_lowercase()).ok()
    }
}
