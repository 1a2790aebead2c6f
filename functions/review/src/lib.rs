//! The review API, read side: what managers look at first.
//!
//! `GET /api/brands/{brand}/comments?limit=N`: open (triaged) comments, most urgent first.
//! `GET /api/brands/{brand}/comments/{platform}/{id}`: one comment with its triage and its
//! reply suggestions (`drafts`: action, suggestions with their checks, rejected drafts).
//! A comment without text has no `text` but an `attachment` (`kind`, `url`); a shortened
//! text has a `truncation` with its original length.

pub mod auth;

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use vigie_core::comment::{BrandId, Comment, CommentKey, Platform};
use vigie_core::config::Brands;
use vigie_core::drafts::Drafts;
use vigie_core::ports::{CommentRead, DraftStore, OpenComments, StoreError};

/// A comment with what vigie proposes for it.
#[derive(serde::Serialize)]
pub struct CommentWithDrafts {
    #[serde(flatten)]
    pub comment: Comment,
    /// `None` until drafted (or when the brand has no content).
    pub drafts: Option<Drafts>,
}

pub struct ReviewState<S> {
    pub brands: Arc<Brands>,
    pub store: S,
}

/// Every way a review request fails, and its one HTTP status. Framework rejections
/// (unknown route, wrong method, bad query string or path) come here too, so every error
/// answer has the same JSON shape: `{"error": code, "message": ...}`.
#[derive(Debug)]
pub enum ReviewError {
    NoRoute { method: Method, path: String },
    MethodNotAllowed(Method),
    UnknownBrand(String),
    NotFound,
    BadRequest(String),
    Store(StoreError),
}

impl IntoResponse for ReviewError {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            ReviewError::NoRoute { method, path } => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no route for {method} {path}"),
            ),
            ReviewError::MethodNotAllowed(m) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{m} is not allowed here: the review API is read with GET"),
            ),
            ReviewError::UnknownBrand(b) => (
                StatusCode::NOT_FOUND,
                "unknown_brand",
                format!("no brand {b:?}"),
            ),
            ReviewError::NotFound => (StatusCode::NOT_FOUND, "not_found", "no such comment".into()),
            ReviewError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m.clone()),
            ReviewError::Store(e) => {
                tracing::error!(error = %e, "review store failure");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "try again shortly".into(),
                )
            }
        };
        (
            status,
            Json(serde_json::json!({"error": code, "message": message})),
        )
            .into_response()
    }
}

impl From<QueryRejection> for ReviewError {
    fn from(e: QueryRejection) -> Self {
        ReviewError::BadRequest(e.body_text())
    }
}

impl From<PathRejection> for ReviewError {
    fn from(e: PathRejection) -> Self {
        ReviewError::BadRequest(e.body_text())
    }
}

async fn no_route(method: Method, uri: Uri) -> ReviewError {
    ReviewError::NoRoute {
        method,
        path: uri.path().to_owned(),
    }
}

async fn method_not_allowed(method: Method) -> ReviewError {
    ReviewError::MethodNotAllowed(method)
}

fn brand(state_brands: &Brands, name: &str) -> Result<BrandId, ReviewError> {
    BrandId::parse(name)
        .ok()
        .filter(|b| state_brands.get(b).is_some())
        .ok_or_else(|| ReviewError::UnknownBrand(name.to_owned()))
}

#[derive(Deserialize)]
struct Listing {
    limit: Option<usize>,
}

async fn open<S: OpenComments>(
    State(state): State<Arc<ReviewState<S>>>,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<Listing>, QueryRejection>,
) -> Result<Json<Vec<Comment>>, ReviewError> {
    let brand = brand(&state.brands, &name?.0)?;
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ReviewError::BadRequest("limit must be 1-500".into()));
    }
    state
        .store
        .open_by_urgency(&brand, limit)
        .await
        .map(|list| Json(list.into_iter().map(shown).collect()))
        .map_err(ReviewError::Store)
}

/// A comment as the API shows it: without the embedding kept for drafting (384 numbers
/// nobody reads, and a trace of the model's internals).
fn shown(mut c: Comment) -> Comment {
    if let Some(t) = c.triage.as_mut() {
        t.embedding = None;
    }
    c
}

async fn one<S: CommentRead + DraftStore>(
    State(state): State<Arc<ReviewState<S>>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Json<CommentWithDrafts>, ReviewError> {
    let Path((name, platform, id)) = path?;
    let brand = brand(&state.brands, &name)?;
    let platform =
        Platform::parse(&platform).map_err(|e| ReviewError::BadRequest(e.to_string()))?;
    let key =
        CommentKey::new(brand, platform, id).map_err(|e| ReviewError::BadRequest(e.to_string()))?;
    let Some(comment) = state.store.get(&key).await.map_err(ReviewError::Store)? else {
        return Err(ReviewError::NotFound);
    };
    let drafts = state
        .store
        .drafts(&key)
        .await
        .map_err(ReviewError::Store)?
        // drafts of an earlier version, or of a deleted comment, are not proposed
        .filter(|d| {
            d.comment_version == comment.version
                && comment.state != vigie_core::comment::CommentState::Deleted
                && d.state == vigie_core::drafts::DraftState::Proposed
        });
    Ok(Json(CommentWithDrafts {
        comment: shown(comment),
        drafts,
    }))
}

/// The review routes; any other path or method is a JSON error of this surface.
pub fn router<S>(state: Arc<ReviewState<S>>) -> Router
where
    S: OpenComments + CommentRead + DraftStore + Send + Sync + 'static,
{
    Router::new()
        .route("/api/brands/{brand}/comments", get(open::<S>))
        .route(
            "/api/brands/{brand}/comments/{platform}/{id}",
            get(one::<S>),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(no_route)
        .with_state(state)
}
