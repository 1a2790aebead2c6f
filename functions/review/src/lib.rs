//! The review function: the managers' API (and, with it, their web page), one axum router
//! mounted by `lambda_http` on AWS and by `vigie serve` locally.
//!
//! Routes (JSON; every one needs a signed-in user, see [`auth`]):
//! - `POST|GET|DELETE /api/session`: sign in with a password, who am I, sign out.
//! - `GET /api/brands/{brand}/comments`: the inbox, most urgent then oldest first, with
//!   filters (`platform`, `sentiment`, `intent`, `sla_breached`, `status`, `assignee`),
//!   `cursor` and `limit`, and the count behind each filter value.
//! - `GET /api/brands/{brand}/comments/{platform}/{id}`: a comment with its thread, its
//!   scores and reasons, vigie's drafts, the review to act on and its audit trail.
//! - `POST /api/brands/{brand}/comments/{platform}/{id}/actions`: claim, release,
//!   approve, edit and approve, reject, regenerate, mark sent, hide, ignore, escalate.
//! - `POST /api/brands/{brand}/comments/{platform}/{id}/checks`: the drafting checks on
//!   a reply text a manager writes (length, tone, banned words, promises, spelling...).
//! - `GET /api/brands/{brand}/reports[.csv]`: the management report of a period.
//! - `GET|PUT /api/brands/{brand}/content`: the brand's content (voice, approved replies,
//!   facts, words) as its files, any version; admins store a new version.
//!
//! The web page (HTML, see [`web`]): `/sign-in`, `/sign-out`, `/`, `/lang/{fr|en}`,
//! `/brands/{brand}/inbox`, `/brands/{brand}/comments/{platform}/{id}` (and its
//! `/actions` form), `/brands/{brand}/reports`, `/brands/{brand}/content` (the editor),
//! `/assets/...`.
//!
//! A brand that is not the user's answers as one that does not exist (404), and so does
//! any object of it.

pub mod api;
pub mod auth;
pub mod service;
pub mod web;

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use vigie_core::config::Brands;
use vigie_core::content::ContentError;
use vigie_core::ports::{QueueSend, SentimentScorer, StoreError};
use vigie_core::review::ReviewError;

pub use service::Store;

pub struct ReviewState<S> {
    pub brands: Arc<Brands>,
    pub store: S,
    pub auth: auth::Auth,
    /// Where `regenerate` asks for new drafts (the draft queue); `None`: nowhere.
    pub drafts: Option<Arc<dyn QueueSend>>,
    /// The model, to embed approved replies an admin edits (`vigie serve` has it; the
    /// Lambda function does not, and leaves them to `vigie brand embed`).
    pub embedder: Option<Arc<dyn SentimentScorer>>,
    /// Spelling for the checks of an edited reply (`vigie serve` has the dictionaries;
    /// without them the other checks run and spelling is left to the drafter's).
    pub speller: Option<Arc<dyn vigie_core::checks::Speller>>,
}

/// Every way a review request fails, and its one HTTP status. Framework rejections
/// (unknown route, wrong method, bad query string or path) come here too, so every error
/// answer has the same JSON shape: `{"error": code, "message": ...}`.
#[derive(Debug)]
pub enum ApiError {
    NoRoute,
    MethodNotAllowed(Method),
    /// No brand, comment or route of that name for this user (also: another brand's).
    NotFound,
    BadRequest(String),
    /// The user's role does not allow it (brand content: admins only).
    Forbidden,
    /// Brand content that `vigie brand import` would refuse too.
    InvalidContent(ContentError),
    /// Another content version was stored since the one the edit started from.
    StaleContent {
        current: Option<u32>,
    },
    /// The review state machine refused the command.
    Review(ReviewError),
    Store(StoreError),
}

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> Self {
        ApiError::Review(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let plain = |status: StatusCode, code: &str, message: String| {
            (
                status,
                Json(serde_json::json!({"error": code, "message": message})),
            )
                .into_response()
        };
        match self {
            ApiError::NoRoute | ApiError::NotFound => {
                plain(StatusCode::NOT_FOUND, "not_found", "nothing here".into())
            }
            ApiError::MethodNotAllowed(m) => plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{m} is not allowed here"),
            ),
            ApiError::BadRequest(m) => plain(StatusCode::BAD_REQUEST, "bad_request", m),
            ApiError::Forbidden => plain(
                StatusCode::FORBIDDEN,
                "forbidden",
                "your role does not allow this".into(),
            ),
            ApiError::InvalidContent(e) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(serde_json::json!({
                    "error": "invalid_content",
                    "message": e.to_string(),
                    "file": e.file,
                    "line": e.line,
                    "field": e.field,
                    "reason": e.reason,
                })),
            )
                .into_response(),
            ApiError::StaleContent { current } => (
                StatusCode::CONFLICT,
                Json(serde_json::json!({
                    "error": "conflict",
                    "message": "another version was stored since yours: reload it",
                    "current_version": current,
                })),
            )
                .into_response(),
            ApiError::Review(e) => {
                let status = match &e {
                    ReviewError::Forbidden { .. } => StatusCode::FORBIDDEN,
                    ReviewError::Conflict { .. } | ReviewError::ClaimedByOther { .. } => {
                        StatusCode::CONFLICT
                    }
                    ReviewError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                };
                let mut body = serde_json::to_value(&e).unwrap_or_default();
                if let Some(map) = body.as_object_mut() {
                    map.insert("message".into(), e.to_string().into());
                }
                (status, Json(body)).into_response()
            }
            ApiError::Store(e) => {
                tracing::error!(error = %e, "review store failure");
                plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "try again shortly".into(),
                )
            }
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::BadRequest(e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        ApiError::BadRequest(e.body_text())
    }
}

async fn no_route(_uri: Uri) -> ApiError {
    ApiError::NoRoute
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method)
}

/// The review routes, behind the Host guard and the authentication middleware; any other
/// path or method is a JSON error of this surface.
pub fn router<S: Store>(state: Arc<ReviewState<S>>) -> Router {
    let auth = state.auth.clone();
    Router::new()
        .route("/api/brands/{brand}/comments", get(api::inbox::<S>))
        .route(
            "/api/brands/{brand}/comments/{platform}/{id}",
            get(api::comment::<S>),
        )
        .route(
            "/api/brands/{brand}/comments/{platform}/{id}/actions",
            post(api::act::<S>),
        )
        .route(
            "/api/brands/{brand}/comments/{platform}/{id}/checks",
            post(api::checks::<S>),
        )
        .route(
            "/api/brands/{brand}/content",
            get(api::content::<S>).put(api::put_content::<S>),
        )
        .route("/api/brands/{brand}/reports", get(api::report::<S>))
        .route("/api/brands/{brand}/reports.csv", get(api::report_csv::<S>))
        .merge(web::routes::<S>())
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .merge(auth::routes().with_state(auth.clone()))
        .fallback(no_route)
        .layer(axum::middleware::from_fn_with_state(
            auth.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(auth, auth::host_guard))
}
