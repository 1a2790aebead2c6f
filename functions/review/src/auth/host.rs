//! Which host a request is for: the `Host` guard (against DNS rebinding: a page of another
//! site whose name was pointed at 127.0.0.1 reaches the server under that other name) and
//! the `Origin` check of changes made with a session cookie.

use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{Auth, AuthError};

/// The host a request names: its `Host` header, or the authority of its URI (HTTP/2).
pub(crate) fn request_host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<&'a str> {
    match headers.get(HOST) {
        Some(host) => host.to_str().ok(),
        None => uri.authority().map(Authority::as_str),
    }
}

/// Middleware: refuses (421, JSON) a request whose host is not one of
/// [`AuthConfig::allowed_hosts`](super::AuthConfig::allowed_hosts), and one without a host
/// (400).
pub async fn host_guard(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    let Some(host) = request_host(request.headers(), request.uri()) else {
        return AuthError::MissingHost.into_response();
    };
    let allowed = auth
        .config()
        .allowed_hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host));
    if !allowed {
        tracing::warn!(host = %host.escape_debug(), "request for a host not served");
        return AuthError::UnknownHost.into_response();
    }
    next.run(request).await
}

/// Host and port of an authority, the port defaulting to the scheme's.
fn host_and_port(authority: &Authority, default_port: u16) -> (String, u16) {
    (
        authority.host().to_ascii_lowercase(),
        authority.port_u16().unwrap_or(default_port),
    )
}

/// Whether `origin` (`scheme://host[:port]`) is the request's own `host`.
pub(crate) fn same_origin(origin: &str, host: &str) -> bool {
    let Ok(origin) = origin.parse::<Uri>() else {
        return false;
    };
    let default_port = match origin.scheme_str() {
        Some("https") => 443,
        Some("http") => 80,
        _ => return false,
    };
    let (Some(origin), Ok(host)) = (origin.authority(), host.parse::<Authority>()) else {
        return false;
    };
    host_and_port(origin, default_port) == host_and_port(&host, default_port)
}

/// For a change not authenticated by an `Authorization` header: an `Origin`, when the
/// browser sent one, must be the request's host.
pub(crate) fn check_origin(headers: &HeaderMap, uri: &Uri) -> Result<(), AuthError> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let host = request_host(headers, uri);
    match (origin.to_str(), host) {
        (Ok(origin), Some(host)) if same_origin(origin, host) => Ok(()),
        _ => Err(AuthError::CrossOrigin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_its_scheme_host_and_port() {
        assert!(same_origin("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(same_origin("http://LOCALHOST:8080", "localhost:8080"));
        assert!(same_origin("https://vigie.example", "vigie.example"));
        assert!(same_origin("https://vigie.example", "vigie.example:443"));
        assert!(same_origin("https://vigie.example:443", "vigie.example"));
        assert!(same_origin("http://[::1]:8080", "[::1]:8080"));
        assert!(!same_origin("http://127.0.0.1:8081", "127.0.0.1:8080"));
        assert!(!same_origin("http://evil.example", "127.0.0.1:80"));
        assert!(!same_origin("https://vigie.example", "vigie.example:80"));
        assert!(!same_origin("null", "vigie.example"));
        assert!(!same_origin("file://", "vigie.example"));
        assert!(!same_origin("http://vigie.example.evil", "vigie.example"));
    }
}
