//! The session routes:
//! - `POST /api/session` `{"user", "password"}`: 200 `{user, roles, csrf}` and the session
//!   cookie; 401 `bad_credentials` for an unknown user and a wrong password alike; 429
//!   with `Retry-After` past the sign-in limits;
//! - `GET /api/session`: who is signed in, with the session's CSRF token (401 otherwise);
//! - `DELETE /api/session`: signs out on this browser (clears the cookie), 204;
//! - `POST /api/session/everywhere`: ends every session of the user, 204.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::header::{CACHE_CONTROL, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use vigie_core::comment::BrandId;
use vigie_core::review::Role;
use vigie_core::users::UserName;

use super::{Auth, AuthError, ClientIp, CsrfToken, Principal, Signed, Via};

/// What a sign-in sends. No `Debug`: it holds a password.
#[derive(Deserialize)]
struct Credentials {
    user: String,
    password: String,
}

/// Who is signed in, as the session routes answer.
#[derive(Serialize)]
struct Session<'a> {
    user: &'a UserName,
    roles: &'a BTreeMap<BrandId, Role>,
    via: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf: Option<&'a CsrfToken>,
}

fn answer(principal: &Principal) -> Response {
    let via = match principal.via {
        Via::Session { .. } => "session",
        Via::Token => "token",
        Via::Jwt => "jwt",
    };
    let mut response = Json(Session {
        user: &principal.user,
        roles: &principal.roles,
        via,
        csrf: principal.csrf(),
    })
    .into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn sign_in(
    State(auth): State<Auth>,
    ClientIp(client): ClientIp,
    credentials: Result<Json<Credentials>, JsonRejection>,
) -> Result<Response, AuthError> {
    // The rejection's text may quote the body: it is not shown.
    let Json(credentials) = credentials.map_err(|_| {
        AuthError::BadRequest("expected JSON {\"user\": ..., \"password\": ...}".into())
    })?;
    let signed_in = auth
        .sign_in(&credentials.user, &credentials.password, client)
        .await?;
    let mut response = answer(&signed_in.principal);
    response
        .headers_mut()
        .insert(SET_COOKIE, signed_in.set_cookie);
    Ok(response)
}

async fn who(Signed(principal): Signed) -> Response {
    answer(&principal)
}

fn signed_out(auth: &Auth) -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (SET_COOKIE, auth.sign_out_cookie()),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

async fn sign_out(State(auth): State<Auth>) -> Response {
    signed_out(&auth)
}

async fn everywhere(
    State(auth): State<Auth>,
    Signed(principal): Signed,
) -> Result<Response, AuthError> {
    auth.end_sessions(&principal.user).await?;
    Ok(signed_out(&auth))
}

async fn method_not_allowed() -> AuthError {
    AuthError::MethodNotAllowed
}

/// The session routes, to merge into the review router with the [`Auth`] as state
/// (`auth::routes().with_state(auth)`), behind [`authenticate`](super::authenticate).
pub fn routes() -> Router<Auth> {
    Router::new()
        .route(
            "/api/session",
            post(sign_in)
                .get(who)
                .delete(sign_out)
                .fallback(method_not_allowed),
        )
        .route(
            "/api/session/everywhere",
            post(everywhere).fallback(method_not_allowed),
        )
}
