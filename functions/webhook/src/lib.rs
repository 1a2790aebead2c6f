//! The webhook function's HTTP surface: one axum router, mounted by the Lambda main
//! (through lambda_http) and by `vigie serve`.
//!
//! `GET /webhooks/{platform}` answers the platform's subscription check (Meta's
//! `hub.challenge`, X's CRC, LinkedIn's `challengeCode`); `POST /webhooks/{platform}`
//! takes a delivery (`facebook`, `instagram`, `x`, `linkedin`, `tiktok`, `generic`).
//! `/webhooks/{platform}/{app}` names the app when a platform has several. The body is
//! read as bytes and its signature checked on those bytes before anything else; what each
//! platform means is in `vigie_core::platforms`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use vigie_core::Platform;
use vigie_core::config::Brands;
use vigie_core::intake::{
    HandshakeError, Intake, IntakeError, IntakeReport, WebhookRequest, handshake as answer,
};
use vigie_core::platforms::Inbound;
use vigie_core::poll::ReadRequests;
use vigie_core::ports::{CommentRead, CommentWrite, QueueSend, RawArchive};
use vigie_core::secrets::Secrets;
use vigie_core::time::Timestamp;

/// Largest delivery accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the router needs, built once per process.
pub struct WebhookState<S, Q> {
    pub brands: Arc<Brands>,
    pub secrets: Arc<Secrets>,
    pub store: S,
    pub queue: Q,
}

/// Every way a webhook request can fail, and its one HTTP status. Framework rejections
/// (unknown route, wrong method, bad query string or path) come here too, so every error
/// answer has the same JSON shape: `{"error": code, "message": ...}`.
#[derive(Debug)]
pub enum WebhookError {
    NoRoute {
        method: Method,
        path: String,
    },
    MethodNotAllowed(Method),
    BadQuery(String),
    BadPath(String),
    UnknownPlatform(String),
    /// A platform vigie reads on a schedule, never through webhooks.
    Polled(Platform),
    Handshake(HandshakeError),
    Intake(IntakeError),
    TooLarge,
    UnsupportedMediaType,
    UnreadableBody,
    BodyTimeout,
}

impl WebhookError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        use IntakeError as I;
        match self {
            WebhookError::NoRoute { .. } => (StatusCode::NOT_FOUND, "not_found"),
            WebhookError::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            WebhookError::BadQuery(_) => (StatusCode::BAD_REQUEST, "bad_query"),
            WebhookError::BadPath(_) => (StatusCode::BAD_REQUEST, "bad_path"),
            WebhookError::UnknownPlatform(_) => (StatusCode::NOT_FOUND, "unknown_platform"),
            WebhookError::Polled(_) => (StatusCode::NOT_FOUND, "no_webhooks"),
            WebhookError::Handshake(
                HandshakeError::NotConfigured(_) | HandshakeError::UnknownApp(_),
            ) => (StatusCode::NOT_FOUND, "not_configured"),
            WebhookError::Handshake(HandshakeError::Unsupported(_)) => {
                (StatusCode::METHOD_NOT_ALLOWED, "no_handshake")
            }
            WebhookError::Handshake(HandshakeError::Missing(_) | HandshakeError::Ambiguous(_)) => {
                (StatusCode::BAD_REQUEST, "bad_handshake")
            }
            WebhookError::Handshake(HandshakeError::Mode | HandshakeError::Token) => {
                (StatusCode::FORBIDDEN, "verification_failed")
            }
            WebhookError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            WebhookError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            WebhookError::UnreadableBody => (StatusCode::BAD_REQUEST, "unreadable_body"),
            WebhookError::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
            WebhookError::Intake(e) => match e {
                I::Unauthorized(_) | I::UnknownBrand(_) => {
                    (StatusCode::UNAUTHORIZED, "invalid_signature")
                }
                I::MissingBrand => (StatusCode::BAD_REQUEST, "missing_brand"),
                I::NotConfigured(_) | I::UnknownApp { .. } => {
                    (StatusCode::NOT_FOUND, "not_configured")
                }
                I::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed_payload"),
                I::Store(_) | I::Queue(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            },
        }
    }

    fn message(&self) -> String {
        match self {
            WebhookError::NoRoute { method, path } => {
                format!("no route for {method} {path}; webhooks are /webhooks/{{platform}}")
            }
            WebhookError::MethodNotAllowed(m) => format!(
                "{m} is not allowed here: POST delivers, GET answers the subscription check"
            ),
            WebhookError::BadQuery(m) | WebhookError::BadPath(m) => m.clone(),
            WebhookError::UnknownPlatform(p) => {
                let known: Vec<_> = Platform::ALL
                    .iter()
                    .filter(|p| vigie_core::platforms::source(**p).pushes())
                    .map(|p| p.as_str())
                    .collect();
                format!("no webhook for platform {p:?}; use {}", known.join(", "))
            }
            WebhookError::Polled(p) => format!(
                "{p} sends no webhooks: vigie reads its comments on a schedule (the poll function)"
            ),
            WebhookError::Handshake(e) => e.to_string(),
            WebhookError::TooLarge => format!("the body is over {MAX_BODY_BYTES} bytes"),
            WebhookError::UnsupportedMediaType => {
                "the body must be sent as application/json".into()
            }
            WebhookError::UnreadableBody => "the body could not be read".into(),
            WebhookError::BodyTimeout => "the body did not arrive in time".into(),
            // Server-side failures say nothing of their cause; the log has it.
            WebhookError::Intake(IntakeError::Store(_) | IntakeError::Queue(_)) => {
                "the delivery could not be taken now; retry it".into()
            }
            WebhookError::Intake(e) => e.to_string(),
        }
    }
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = ?self, "webhook delivery failed");
        }
        (
            status,
            Json(serde_json::json!({"error": code, "message": self.message()})),
        )
            .into_response()
    }
}

impl From<QueryRejection> for WebhookError {
    fn from(e: QueryRejection) -> Self {
        WebhookError::BadQuery(e.body_text())
    }
}

impl From<PathRejection> for WebhookError {
    fn from(e: PathRejection) -> Self {
        WebhookError::BadPath(e.body_text())
    }
}

async fn no_route(method: Method, uri: Uri) -> WebhookError {
    WebhookError::NoRoute {
        method,
        path: uri.path().to_owned(),
    }
}

async fn method_not_allowed(method: Method) -> WebhookError {
    WebhookError::MethodNotAllowed(method)
}

fn platform(name: &str) -> Result<Platform, WebhookError> {
    let p = Platform::parse(name).map_err(|_| WebhookError::UnknownPlatform(name.to_owned()))?;
    if !vigie_core::platforms::source(p).pushes() {
        return Err(WebhookError::Polled(p));
    }
    Ok(p)
}

/// `/webhooks/{platform}` or `/webhooks/{platform}/{app}`.
#[derive(Deserialize)]
struct Target {
    platform: String,
    #[serde(default)]
    app: Option<String>,
}

/// Header names (lower case, as `http` keeps them) and text values; a value that is not
/// text cannot be a signature and is left out.
fn header_pairs(headers: &HeaderMap) -> Vec<(&str, &str)> {
    headers
        .iter()
        .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
        .collect()
}

async fn handshake<S, Q>(
    State(state): State<Arc<WebhookState<S, Q>>>,
    target: Result<Path<Target>, PathRejection>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, WebhookError> {
    let Path(target) = target?;
    let platform = platform(&target.platform)?;
    let Query(query) = query?;
    // A parameter given twice is ambiguous: which one would the platform have meant?
    for (i, (name, _)) in query.iter().enumerate() {
        if query[..i].iter().any(|(n, _)| n == name) {
            return Err(WebhookError::BadQuery(format!(
                "the query parameter {name} is given twice"
            )));
        }
    }
    let query: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let headers = header_pairs(&headers);
    let reply = answer(
        &state.brands,
        &state.secrets,
        platform,
        target.app.as_deref(),
        &Inbound {
            headers: &headers,
            query: &query,
            body: &[],
        },
    )
    .map_err(WebhookError::Handshake)?;
    Ok(([(header::CONTENT_TYPE, reply.content_type)], reply.body).into_response())
}

async fn deliver<S, Q>(
    State(state): State<Arc<WebhookState<S, Q>>>,
    target: Result<Path<Target>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IntakeReport>, WebhookError>
where
    S: CommentWrite + CommentRead + RawArchive + ReadRequests,
    Q: QueueSend,
{
    let Path(target) = target?;
    let platform = platform(&target.platform)?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(WebhookError::UnsupportedMediaType);
    }
    let body = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            WebhookError::TooLarge
        }
        e if timed_out(&e) => WebhookError::BodyTimeout,
        _ => WebhookError::UnreadableBody,
    })?;
    let pairs = header_pairs(&headers);
    let intake = Intake {
        brands: &state.brands,
        secrets: &state.secrets,
        store: &state.store,
        queue: &state.queue,
    };
    let report = intake
        .receive(
            WebhookRequest {
                platform,
                app: target.app.as_deref(),
                inbound: Inbound {
                    headers: &pairs,
                    query: &[],
                    body: &body,
                },
            },
            Timestamp::now(),
        )
        .await
        .map_err(WebhookError::Intake)?;
    Ok(Json(report))
}

/// The server gave up waiting for the body (its read deadline passed).
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A body announced over the limit is refused before a byte of it is read.
async fn refuse_announced_oversize(request: Request, next: Next) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return WebhookError::TooLarge.into_response();
    }
    next.run(request).await
}

/// `/webhooks/{platform}`, with the 1 MiB body limit; any other path or method is a JSON
/// error of this surface.
pub fn router<S, Q>(state: Arc<WebhookState<S, Q>>) -> Router
where
    S: CommentWrite + CommentRead + RawArchive + ReadRequests + Send + Sync + 'static,
    Q: QueueSend + Send + Sync + 'static,
{
    Router::new()
        .route(
            "/webhooks/{platform}",
            get(handshake::<S, Q>).post(deliver::<S, Q>),
        )
        .route(
            "/webhooks/{platform}/{app}",
            get(handshake::<S, Q>).post(deliver::<S, Q>),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route_layer(axum::middleware::from_fn(refuse_announced_oversize))
        .with_state(state)
}
