//! Who is asking, for the review surface: people signed in with a password (a session
//! cookie, locally), scripts with an API token, and users of an OpenID Connect issuer (a
//! JWT, on AWS). Mount, outermost first:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use axum::{Router, middleware};
//! # use vigie_review::auth::{self, Auth, AuthConfig, SessionKey};
//! # fn wire(
//! #     users: Arc<dyn vigie_core::ports::UserStore>,
//! #     review_router: Router,
//! # ) -> Result<Router, Box<dyn std::error::Error>> {
//! let listen = "127.0.0.1:8080".parse()?;
//! let key = SessionKey::load_or_create("session.key".as_ref())?;
//! let auth = Auth::new(users, AuthConfig::local(key, listen))?;
//! let app = review_router
//!     .merge(auth::routes().with_state(auth.clone()))
//!     .layer(middleware::from_fn_with_state(auth.clone(), auth::authenticate))
//!     .layer(middleware::from_fn_with_state(auth, auth::host_guard));
//! # Ok(app)
//! # }
//! ```
//!
//! [`authenticate`] puts a [`Principal`] in the request's extensions when a credential
//! holds, and nothing otherwise: handlers decide, the [`Signed`] extractor answering 401
//! the same way on every path. A change (any method but GET and HEAD) made with a session
//! cookie must carry the session's CSRF token, in an `X-CSRF-Token` header or, for a
//! `application/x-www-form-urlencoded` body, a `csrf` field; and any change not
//! authenticated by an `Authorization` header is refused when its `Origin` is another
//! site's. Credentials sent in an `Authorization` header need no CSRF token: a browser never
//! adds one by itself.
//!
//! Nothing secret is logged or answered: not a password, a token, a cookie, a hash; the
//! `Debug` of keys, configurations, tokens and principals hides them.

mod config;
mod host;
mod jwt;
mod limit;
mod password;
mod routes;
mod session;
mod token;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, body::Body};
use vigie_core::comment::BrandId;
use vigie_core::ports::{StoreError, UserStore};
use vigie_core::review::Role;
use vigie_core::time::Timestamp;
use vigie_core::users::{User, UserName};

pub use config::{
    AuthConfig, AuthConfigError, MIN_SESSION_KEY_BYTES, OidcConfig, SessionKey, SignInLimits,
};
pub use host::host_guard;
pub use password::{MIN_PASSWORD_CHARS, PasswordError, hash_password, verify_password};
pub use routes::routes;
pub use session::{CsrfToken, SESSION_COOKIE};
pub use token::{
    ClearToken, MAX_TOKENS_PER_USER, TOKEN_PREFIX, add_token, mint_token, revoke_token,
};

/// The header a CSRF token is sent in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field a CSRF token is sent in.
pub const CSRF_FIELD: &str = "csrf";
/// The largest form body read for its CSRF field: 1 MiB.
pub const MAX_FORM_BYTES: usize = 1 << 20;

/// Every way authentication fails, and (in [`IntoResponse`]) its one HTTP answer, with the
/// review API's JSON shape `{"error": code, "message": ...}`.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credential, or none that holds.
    #[error("sign in first")]
    Unauthenticated,
    /// A sign-in with an unknown user or a wrong password: the same answer for both.
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("too many failed sign-ins: try again in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    #[error(
        "a change made with a session needs its CSRF token (X-CSRF-Token header or csrf form field)"
    )]
    Csrf,
    #[error("the request comes from another site")]
    CrossOrigin,
    #[error("a request needs a Host header")]
    MissingHost,
    #[error("this server does not answer for that host")]
    UnknownHost,
    #[error("{0}")]
    BadRequest(String),
    #[error("the form is too large")]
    BodyTooLarge,
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error("no such user")]
    NoSuchUser,
    #[error("no such token")]
    NoSuchToken,
    #[error("a token label has 1 to 64 characters, none of them control characters")]
    InvalidLabel,
    #[error("a user holds at most {MAX_TOKENS_PER_USER} tokens: revoke one first")]
    TooManyTokens,
    #[error("user store: {0}")]
    Store(#[from] StoreError),
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            AuthError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            AuthError::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
            AuthError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AuthError::Csrf => (StatusCode::FORBIDDEN, "csrf"),
            AuthError::CrossOrigin => (StatusCode::FORBIDDEN, "cross_origin"),
            AuthError::MissingHost => (StatusCode::BAD_REQUEST, "bad_request"),
            AuthError::UnknownHost => (StatusCode::MISDIRECTED_REQUEST, "unknown_host"),
            AuthError::BadRequest(_) | AuthError::InvalidLabel | AuthError::TooManyTokens => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            AuthError::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            AuthError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            AuthError::NoSuchUser | AuthError::NoSuchToken => (StatusCode::NOT_FOUND, "not_found"),
            AuthError::Store(e) => {
                tracing::error!(error = %e, "user store failure");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
        };
        let message = match &self {
            AuthError::Store(_) => "try again shortly".to_owned(),
            other => other.to_string(),
        };
        let mut body = serde_json::json!({"error": code, "message": message});
        let mut response = if let AuthError::RateLimited {
            retry_after_seconds,
        } = self
        {
            body["retry_after_seconds"] = retry_after_seconds.into();
            let mut r = (status, Json(body)).into_response();
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            r
        } else {
            (status, Json(body)).into_response()
        };
        response
            .headers_mut()
            .insert("cache-control", HeaderValue::from_static("no-store"));
        response
    }
}

/// How a principal authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A session cookie; changes need this CSRF token.
    Session { csrf: CsrfToken },
    /// An API token (`Authorization: Bearer vigie_...`).
    Token,
    /// An OpenID Connect JWT (`Authorization: Bearer ey...`).
    Jwt,
}

/// Who makes the request, with their roles as stored now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: UserName,
    pub roles: BTreeMap<BrandId, Role>,
    pub via: Via,
}

impl Principal {
    fn of(user: User, via: Via) -> Self {
        Self {
            user: user.name,
            roles: user.roles,
            via,
        }
    }

    /// The principal's role for `brand`; `None` when the brand is not theirs.
    pub fn role(&self, brand: &BrandId) -> Option<Role> {
        self.roles.get(brand).copied()
    }

    /// The session's CSRF token; `None` for a token or a JWT.
    pub fn csrf(&self) -> Option<&CsrfToken> {
        match &self.via {
            Via::Session { csrf } => Some(csrf),
            Via::Token | Via::Jwt => None,
        }
    }

    /// Checks a CSRF token presented with a change (a form field the handler read):
    /// a session's must match, in constant time; a token's or a JWT's needs none.
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), AuthError> {
        match (self.csrf(), presented) {
            (None, _) => Ok(()),
            (Some(csrf), Some(presented)) if csrf.matches(presented) => Ok(()),
            (Some(_), _) => Err(AuthError::Csrf),
        }
    }
}

/// A signed-in principal, or 401 `{"error":"unauthenticated","message":"sign in first"}`,
/// the same whatever the path.
#[derive(Debug, Clone)]
pub struct Signed(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Signed {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AuthError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Signed)
            .ok_or(AuthError::Unauthenticated)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}

/// The client's address, for the sign-in limits. A layer in front that knows it better
/// (a Lambda adapter, a trusted proxy) inserts it in the request's extensions; otherwise
/// the connection's peer address is used (`ConnectInfo<SocketAddr>`), and without either
/// all clients share the budget of `0.0.0.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let extensions = &parts.extensions;
        Ok(extensions.get::<ClientIp>().copied().unwrap_or_else(|| {
            ClientIp(
                extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
            )
        }))
    }
}

/// A successful sign-in: who, and the `Set-Cookie` of their session.
pub struct SignedIn {
    pub principal: Principal,
    pub set_cookie: HeaderValue,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("principal", &self.principal)
            .field("set_cookie", &"<redacted>")
            .finish()
    }
}

type Clock = dyn Fn() -> Timestamp + Send + Sync;

struct Inner {
    store: Arc<dyn UserStore>,
    config: AuthConfig,
    oidc: Option<jwt::OidcVerifier>,
    limiter: limit::SignInLimiter,
    clock: Box<Clock>,
}

/// Authentication of the review surface: cheap to clone, one per server.
#[derive(Clone)]
pub struct Auth(Arc<Inner>);

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("config", &self.0.config)
            .finish_non_exhaustive()
    }
}

/// Writes of a user retried at most this many times over a concurrent change.
const USER_WRITE_TRIES: usize = 5;

/// Applies `change` to the stored user `name` and stores it over the revision read,
/// again from a fresh read when another write came between.
pub(crate) async fn update_user<T>(
    store: &dyn UserStore,
    name: &UserName,
    mut change: impl FnMut(&mut User) -> Result<T, AuthError>,
) -> Result<T, AuthError> {
    for _ in 0..USER_WRITE_TRIES {
        let mut user = store.user(name).await?.ok_or(AuthError::NoSuchUser)?;
        let read = user.revision;
        let out = change(&mut user)?;
        user.revision = read + 1;
        match store.put_user(&user, Some(read)).await {
            Ok(()) => return Ok(out),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

impl Auth {
    /// Authentication over `store` with `config`, on the system clock. Refused for a
    /// session shorter than a second or an OpenID Connect JWKS without a usable key.
    pub fn new(store: Arc<dyn UserStore>, config: AuthConfig) -> Result<Self, AuthConfigError> {
        Self::with_clock(store, config, Timestamp::now)
    }

    /// The same on another clock (tests move it by hand). OpenID Connect expiry is read on
    /// the system clock whatever this one says.
    pub fn with_clock(
        store: Arc<dyn UserStore>,
        config: AuthConfig,
        clock: impl Fn() -> Timestamp + Send + Sync + 'static,
    ) -> Result<Self, AuthConfigError> {
        if config.session_ttl.as_secs() == 0 {
            return Err(AuthConfigError::SessionTtl);
        }
        let oidc = config
            .oidc
            .as_ref()
            .map(jwt::OidcVerifier::new)
            .transpose()?;
        Ok(Self(Arc::new(Inner {
            store,
            limiter: limit::SignInLimiter::new(&config.limits),
            config,
            oidc,
            clock: Box::new(clock),
        })))
    }

    pub fn config(&self) -> &AuthConfig {
        &self.0.config
    }

    pub fn store(&self) -> &Arc<dyn UserStore> {
        &self.0.store
    }

    fn now(&self) -> Timestamp {
        (self.0.clock)()
    }

    /// Checks `password` for `user` (as typed: trimmed and lowercased) from `client`, under
    /// the sign-in limits; on success, a new session. An unknown user and a wrong password
    /// take the same time (a dummy hash is checked) and give the same error.
    pub async fn sign_in(
        &self,
        user: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<SignedIn, AuthError> {
        let typed = user.trim().to_ascii_lowercase();
        let attempt =
            self.0
                .limiter
                .begin(&typed, client, self.now())
                .map_err(|retry_after_seconds| {
                    tracing::warn!(client = %client, "sign-in refused: too many failures");
                    AuthError::RateLimited {
                        retry_after_seconds,
                    }
                })?;
        let stored = match UserName::parse(&typed) {
            Ok(name) => self.0.store.user(&name).await?,
            Err(_) => None,
        };
        let hash = stored.as_ref().map(|u| u.password_hash.clone());
        let password = password.to_owned();
        let verified = tokio::task::spawn_blocking(move || {
            password::verify_password_or_dummy(hash.as_deref(), &password)
        })
        .await
        .unwrap_or(false);
        let Some(user) = stored.filter(|_| verified) else {
            tracing::info!(client = %client, "sign-in failed");
            return Err(AuthError::BadCredentials);
        };
        self.0.limiter.succeeded(attempt);
        tracing::info!(user = %user.name, client = %client, "signed in");
        let issued = session::issue(
            &self.0.config.session_key,
            &user,
            self.now(),
            self.0.config.session_ttl,
        );
        Ok(SignedIn {
            set_cookie: session::cookie_header(
                issued.value,
                self.0.config.secure_cookies,
                self.0.config.session_ttl,
            ),
            principal: Principal::of(user, Via::Session { csrf: issued.csrf }),
        })
    }

    /// `Set-Cookie` that clears the session cookie (signing out on this browser).
    pub fn sign_out_cookie(&self) -> HeaderValue {
        session::removal_header(self.0.config.secure_cookies)
    }

    /// Ends every session of `user` ("sign out everywhere"): their cookies stop working.
    pub async fn end_sessions(&self, user: &UserName) -> Result<(), AuthError> {
        update_user(self.0.store.as_ref(), user, |u| {
            u.end_sessions();
            Ok(())
        })
        .await?;
        tracing::info!(user = %user, "sessions ended everywhere");
        Ok(())
    }

    /// The principal the request's credentials name, `None` when there is none or it does
    /// not hold. An `Authorization` header, when present, is the only credential read.
    /// No CSRF check here (see [`authenticate`]).
    pub async fn principal(&self, headers: &HeaderMap) -> Result<Option<Principal>, AuthError> {
        if let Some(authorization) = headers.get(AUTHORIZATION) {
            let bearer = authorization
                .to_str()
                .ok()
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, credential)| credential.trim());
            return match bearer {
                Some(token) if token.starts_with(TOKEN_PREFIX) => self.by_token(token).await,
                Some(jwt) => self.by_jwt(jwt).await,
                None => Ok(None),
            };
        }
        match session::from_headers(headers) {
            Some(cookie) => self.by_cookie(&cookie).await,
            None => Ok(None),
        }
    }

    async fn by_token(&self, token: &str) -> Result<Option<Principal>, AuthError> {
        let Some(presented) = token::parse(token) else {
            return Ok(None);
        };
        let Some(user) = self.0.store.user(&presented.user).await? else {
            return Ok(None);
        };
        let holds = user
            .token(presented.id)
            .is_some_and(|t| presented.matches(t));
        Ok(holds.then(|| Principal::of(user, Via::Token)))
    }

    async fn by_jwt(&self, jwt: &str) -> Result<Option<Principal>, AuthError> {
        let Some(name) = self.0.oidc.as_ref().and_then(|v| v.user(jwt)) else {
            return Ok(None);
        };
        Ok(self
            .0
            .store
            .user(&name)
            .await?
            .map(|user| Principal::of(user, Via::Jwt)))
    }

    async fn by_cookie(&self, cookie: &str) -> Result<Option<Principal>, AuthError> {
        let key = &self.0.config.session_key;
        let Some(claims) = session::verify(key, cookie, self.now()) else {
            return Ok(None);
        };
        let Some(user) = self.0.store.user(&claims.user).await? else {
            return Ok(None);
        };
        if !claims.still_valid_for(key, &user) {
            return Ok(None);
        }
        let csrf = claims.csrf(key);
        Ok(Some(Principal::of(user, Via::Session { csrf })))
    }

    /// The request as handlers get it: Origin checked, principal resolved, CSRF checked.
    async fn guard(&self, mut request: Request) -> Result<Request, AuthError> {
        let change = !matches!(*request.method(), Method::GET | Method::HEAD);
        let headers = request.headers();
        if change && !headers.contains_key(AUTHORIZATION) {
            host::check_origin(headers, request.uri())?;
        }
        let principal = self.principal(request.headers()).await?;
        request.extensions_mut().remove::<Principal>();
        let Some(principal) = principal else {
            return Ok(request);
        };
        if change && let Some(csrf) = principal.csrf() {
            let header = request.headers().get(CSRF_HEADER);
            let held = match header {
                Some(value) => value.to_str().is_ok_and(|v| csrf.matches(v)),
                None if is_form(request.headers()) => {
                    let (parts, body) = request.into_parts();
                    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
                        .await
                        .map_err(|_| AuthError::BodyTooLarge)?;
                    let held = form_urlencoded::parse(&bytes)
                        .find(|(k, _)| k == CSRF_FIELD)
                        .is_some_and(|(_, v)| csrf.matches(&v));
                    request = Request::from_parts(parts, Body::from(bytes));
                    held
                }
                None => false,
            };
            if !held {
                tracing::warn!(user = %principal.user, "change refused: no valid CSRF token");
                return Err(AuthError::Csrf);
            }
        }
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

/// Middleware: resolves the request's credential (session cookie, API token or JWT) into a
/// [`Principal`] in its extensions, or none. A change made with a session cookie without
/// its CSRF token is refused (403), and so is a change from another site's `Origin`; a
/// request is never refused only for lacking credentials.
pub async fn authenticate(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    match auth.guard(request).await {
        Ok(request) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}
