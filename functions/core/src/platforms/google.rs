//! Google Business Profile reviews, notified through a Pub/Sub push subscription. See
//! docs/platforms.md for the sources.
//!
//! The push carries `Authorization: Bearer <OIDC JWT>` signed by Google (RS256): vigie takes
//! it when its `kid` is a key of the app's configured JWKS, its signature holds, `iss` is
//! `https://accounts.google.com` or `accounts.google.com`, `aud` is the app's audience, it
//! is within `exp`, and, when the app names the subscription's service account, `email` is
//! that account with `email_verified`.
//!
//! Body: `{"message": {"data": base64, "attributes", "messageId", "publishTime"},
//! "subscription"}`; `data` is the notification, `{"type" | "notificationType" |
//! "notification_type": "NEW_REVIEW" | "UPDATED_REVIEW" | ..., "reviewName" | "review_name":
//! "accounts/A/locations/L/reviews/R", "locationName" | "location_name"}`. A notification
//! names a review, it does not carry it: the review is read from the Business Profile API
//! by the poll function, so each notification is acknowledged and counted as a review to
//! read.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{AppKeys, Ignored, Inbound, MalformedPayload, Parsed, Source};
use crate::comment::Platform;
use crate::signature::SignatureError;
use crate::time::Timestamp;

pub struct Google;

pub const AUTHORIZATION: &str = "authorization";
pub const ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// What checks a push's token: the JWKS keys, the audience, the service account.
pub struct PushAuth {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
    service_account: Option<String>,
}

impl std::fmt::Debug for PushAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushAuth")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("service_account", &self.service_account)
            .finish_non_exhaustive()
    }
}

impl PushAuth {
    /// From a JWK set's JSON (Google's `https://www.googleapis.com/oauth2/v3/certs`).
    pub fn new(
        jwks_json: &str,
        audience: &str,
        service_account: Option<&str>,
    ) -> Result<Self, String> {
        let set: JwkSet =
            serde_json::from_str(jwks_json).map_err(|e| format!("not a JWK set: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = &jwk.common.key_id else {
                continue;
            };
            let rsa = matches!(jwk.algorithm, AlgorithmParameters::RSA(_));
            let for_signing = !matches!(
                jwk.common.public_key_use,
                Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
            );
            let rs256 = jwk
                .common
                .key_algorithm
                .is_none_or(|a| a == KeyAlgorithm::RS256);
            if rsa && for_signing && rs256 {
                let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key {kid:?}: {e}"))?;
                keys.insert(kid.clone(), key);
            }
        }
        if keys.is_empty() {
            return Err("no RS256 signing key with a kid".into());
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&ISSUERS);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 60;
        Ok(Self {
            keys,
            validation,
            service_account: service_account.map(str::to_owned),
        })
    }

    /// Checks a push's `Authorization` header value.
    pub fn check(&self, authorization: Option<&str>) -> Result<(), SignatureError> {
        let value = authorization.ok_or(SignatureError::Missing(AUTHORIZATION))?;
        let token = value
            .strip_prefix("Bearer ")
            .ok_or(SignatureError::Malformed(AUTHORIZATION))?
            .trim();
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| SignatureError::Malformed(AUTHORIZATION))?;
        if header.alg != Algorithm::RS256 {
            return Err(SignatureError::Mismatch);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(SignatureError::Mismatch)?;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => SignatureError::Expired,
                _ => SignatureError::Mismatch,
            })?
            .claims;
        if let Some(account) = &self.service_account {
            let email = claims.get("email").and_then(Value::as_str);
            let verified = claims.get("email_verified") == Some(&Value::Bool(true));
            if email != Some(account.as_str()) || !verified {
                return Err(SignatureError::Mismatch);
            }
        }
        Ok(())
    }
}

impl Source for Google {
    fn name(&self) -> &'static str {
        "google"
    }

    fn platforms(&self) -> &'static [Platform] {
        &[Platform::Google]
    }

    fn verify(
        &self,
        keys: &AppKeys,
        req: &Inbound<'_>,
        _now: Timestamp,
    ) -> Result<(), SignatureError> {
        // Pushes carry no HMAC: the token is the signature, checked on its own bytes.
        let auth = keys.push.as_ref().ok_or(SignatureError::Mismatch)?;
        auth.check(req.header(AUTHORIZATION))
    }

    /// Google signs with its private keys; a sender here has none. Tests sign their own
    /// tokens with their own keys.
    fn sign(&self, _keys: &AppKeys, _body: &[u8], _at: Timestamp) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    fn parse(&self, _platform: Platform, body: &[u8]) -> Result<Parsed, MalformedPayload> {
        parse(body)
    }

    /// A location's resource name: `accounts/<n>/locations/<n>`.
    fn check_account(&self, _platform: Platform, id: &str) -> Result<(), &'static str> {
        location_of(id)
            .filter(|l| *l == id)
            .map(|_| ())
            .ok_or("must be a location's name, accounts/<id>/locations/<id>")
    }
}

/// `accounts/A/locations/L` of a location or review name.
pub fn location_of(name: &str) -> Option<&str> {
    let parts: Vec<&str> = name.split('/').collect();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ok = parts.len() >= 4
        && parts[0] == "accounts"
        && numeric(parts[1])
        && parts[2] == "locations"
        && numeric(parts[3])
        && match parts.len() {
            4 => true,
            6 => parts[4] == "reviews" && !parts[5].is_empty(),
            _ => false,
        };
    ok.then(|| {
        let end = parts[..4].iter().map(|p| p.len()).sum::<usize>() + 3;
        &name[..end]
    })
}

#[derive(Deserialize)]
struct Push {
    message: PushMessage,
}

#[derive(Deserialize)]
struct PushMessage {
    #[serde(default)]
    data: Option<String>,
}

/// The notification's fields, under each spelling seen.
#[derive(Deserialize)]
struct Notification {
    #[serde(default, alias = "notificationType", alias = "notification_type")]
    r#type: Option<String>,
    #[serde(default, alias = "reviewName")]
    review_name: Option<String>,
    #[serde(default, alias = "locationName")]
    location_name: Option<String>,
}

/// A review named by a notification, for the poll function to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewToRead {
    pub location: String,
    pub review: String,
}

/// The review a push names, if it names one.
pub fn review_of(body: &[u8]) -> Result<Option<ReviewToRead>, MalformedPayload> {
    let malformed = |reason: String| MalformedPayload {
        platform: Platform::Google,
        reason,
    };
    let push: Push = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let data = push
        .message
        .data
        .ok_or_else(|| malformed("message without data".into()))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(data.trim()))
        .map_err(|e| malformed(format!("data is not base64: {e}")))?;
    let n: Notification =
        serde_json::from_slice(&bytes).map_err(|e| malformed(format!("notification: {e}")))?;
    let kind = n.r#type.unwrap_or_default();
    if kind != "NEW_REVIEW" && kind != "UPDATED_REVIEW" {
        return Ok(None);
    }
    let review = n
        .review_name
        .ok_or_else(|| malformed(format!("{kind} without a review name")))?;
    let location = location_of(&review)
        .filter(|_| review.matches('/').count() == 5)
        .map(str::to_owned)
        .ok_or_else(|| malformed(format!("review name {review:?}")))?;
    if n.location_name.as_deref().is_some_and(|l| l != location) {
        return Err(malformed(format!(
            "the review {review} is not at the location named beside it"
        )));
    }
    Ok(Some(ReviewToRead { location, review }))
}

pub fn parse(body: &[u8]) -> Result<Parsed, MalformedPayload> {
    let mut parsed = Parsed::default();
    let reason = match review_of(body)? {
        Some(r) => format!("review to read: {}", r.review),
        None => "notification that names no review".into(),
    };
    parsed.ignored.push(Ignored {
        platform: Platform::Google,
        reason,
    });
    Ok(parsed)
}

/// Builds the keys of a Google app from its resolved JWKS.
pub fn keys(
    jwks_json: &str,
    audience: &str,
    service_account: Option<&str>,
) -> Result<AppKeys, String> {
    let mut keys = AppKeys::new(Vec::new());
    keys.push = Some(Arc::new(PushAuth::new(
        jwks_json,
        audience,
        service_account,
    )?));
    Ok(keys)
}

/// A review as the Business Profile API gives it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review {
    name: String,
    #[serde(default)]
    reviewer: Option<Reviewer>,
    #[serde(default)]
    star_rating: Option<String>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    create_time: Option<Value>,
    #[serde(default)]
    update_time: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reviewer {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    is_anonymous: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reviews {
    #[serde(default)]
    reviews: Vec<Review>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// `GET /v4/<location>/reviews?pageSize=50&orderBy=updateTime desc[&pageToken=]`: `{"reviews":
/// [{"name", "reviewId", "reviewer": {"displayName", "isAnonymous"}, "starRating": "ONE" ...
/// "FIVE", "comment", "createTime", "updateTime", "reviewReply"}], "nextPageToken"}`, the
/// most recently updated first, so a review read after its notification (new or updated)
/// is on the first page. A rating without words is counted, not taken in.
impl crate::poll::Pull for Google {
    fn repairs(&self, _: Platform) -> bool {
        false
    }

    fn api_url(&self) -> &'static str {
        "https://mybusiness.googleapis.com"
    }

    fn token_url(&self) -> Option<&'static str> {
        Some("https://oauth2.googleapis.com/token")
    }

    fn page_request(
        &self,
        api: &str,
        feed: &crate::poll::Feed,
        _: &crate::poll::PullKeys,
        page: Option<&str>,
    ) -> crate::poll::HttpRequest {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("pageSize", "50")
            .append_pair("orderBy", "updateTime desc");
        if let Some(p) = page {
            q.append_pair("pageToken", p);
        }
        crate::poll::HttpRequest::get(format!(
            "{}/v4/{}/reviews?{}",
            api.trim_end_matches('/'),
            feed.account,
            q.finish()
        ))
    }

    fn read_page(
        &self,
        feed: &crate::poll::Feed,
        _: &crate::poll::PullKeys,
        _: Option<&str>,
        resp: &crate::poll::HttpResponse,
    ) -> Result<crate::poll::Page, crate::poll::PageError> {
        use crate::poll::{Page, PageError};
        if let Some(e) = super::youtube::google_error(resp) {
            return Err(e);
        }
        let list: Reviews = crate::poll::json_page(resp)?;
        let mut page = Page {
            next: list.next_page_token.filter(|t| !t.is_empty()),
            ..Default::default()
        };
        for r in list.reviews {
            if location_of(&r.name) != Some(feed.account.as_str()) {
                return Err(PageError::Malformed(format!(
                    "review {:?} is not at {}",
                    r.name, feed.account
                )));
            }
            let created = super::unix_time(r.create_time.as_ref());
            let updated = super::unix_time(r.update_time.as_ref());
            // ordered by update: the cursor follows updates, so an edited review is read again
            page.saw(updated.or(created));
            let Some(text) = r.comment.filter(|c| !c.trim().is_empty()) else {
                page.ignored.push(Ignored {
                    platform: Platform::Google,
                    reason: "rating without words".into(),
                });
                continue;
            };
            let reviewer = r.reviewer.unwrap_or(Reviewer {
                display_name: None,
                is_anonymous: true,
            });
            let stars = r.star_rating.as_deref().and_then(stars);
            page.push(super::PlatformEvent {
                platform: Platform::Google,
                account_id: feed.account.clone(),
                kind: if updated.zip(created).is_some_and(|(u, c)| u > c) {
                    super::EventKind::Edited
                } else {
                    super::EventKind::Created
                },
                thread_id: feed.account.clone(),
                parent_id: None,
                author: crate::comment::Author {
                    id: if reviewer.is_anonymous {
                        "anonymous".into()
                    } else {
                        reviewer
                            .display_name
                            .clone()
                            .unwrap_or_else(|| "anonymous".into())
                    },
                    name: reviewer.display_name.filter(|_| !reviewer.is_anonymous),
                    followers: None,
                },
                text: Some(text),
                attachment: None,
                // the review keeps its own time: the cursor filter uses the update time
                created_at: updated.or(created),
                permalink: None,
                source: stars.map(|n| format!("{n}-star review")),
                external_id: r.name,
                from_account: false,
                private: false,
            });
        }
        Ok(page)
    }
}

fn stars(rating: &str) -> Option<u8> {
    Some(match rating {
        "ONE" => 1,
        "TWO" => 2,
        "THREE" => 3,
        "FOUR" => 4,
        "FIVE" => 5,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(notification: &str) -> Vec<u8> {
        serde_json::json!({
            "message": {
                "data": base64::engine::general_purpose::STANDARD.encode(notification),
                "attributes": {}, "messageId": "1", "message_id": "1",
                "publishTime": "2025-11-25T16:00:00Z",
            },
            "subscription": "projects/acme/subscriptions/reviews",
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn notifications_name_a_review_under_every_spelling() {
        let want = Some(ReviewToRead {
            location: "accounts/111/locations/222".into(),
            review: "accounts/111/locations/222/reviews/AbC-9".into(),
        });
        for n in [
            r#"{"type":"NEW_REVIEW","reviewName":"accounts/111/locations/222/reviews/AbC-9","locationName":"accounts/111/locations/222"}"#,
            r#"{"notificationType":"UPDATED_REVIEW","review_name":"accounts/111/locations/222/reviews/AbC-9"}"#,
            r#"{"notification_type":"NEW_REVIEW","reviewName":"accounts/111/locations/222/reviews/AbC-9","location_name":"accounts/111/locations/222"}"#,
        ] {
            assert_eq!(review_of(&push(n)).unwrap(), want, "{n}");
        }
        let p = parse(&push(r#"{"type":"NEW_QUESTION","questionName":"x"}"#)).unwrap();
        assert_eq!(p.ignored[0].reason, "notification that names no review");
        for bad in [
            r#"{"type":"NEW_REVIEW"}"#,
            r#"{"type":"NEW_REVIEW","reviewName":"locations/2/reviews/3"}"#,
            r#"{"type":"NEW_REVIEW","reviewName":"accounts/1/locations/2/reviews/3","locationName":"accounts/1/locations/9"}"#,
        ] {
            assert!(review_of(&push(bad)).is_err(), "{bad}");
        }
        assert!(review_of(br#"{"message":{"data":"***"}}"#).is_err());
        assert!(review_of(b"[]").is_err());
    }

    #[test]
    fn locations_are_resource_names() {
        assert_eq!(
            location_of("accounts/1/locations/2/reviews/x"),
            Some("accounts/1/locations/2")
        );
        assert_eq!(
            location_of("accounts/1/locations/2"),
            Some("accounts/1/locations/2")
        );
        for bad in [
            "accounts/1",
            "accounts/a/locations/2",
            "accounts/1/locations/2/x",
            "",
        ] {
            assert_eq!(location_of(bad), None, "{bad}");
        }
        assert!(
            Google
                .check_account(Platform::Google, "accounts/1/locations/2")
                .is_ok()
        );
        assert!(
            Google
                .check_account(Platform::Google, "accounts/1/locations/2/reviews/3")
                .is_err()
        );
    }
}
