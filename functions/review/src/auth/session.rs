//! Session cookies: stateless, signed with HMAC-SHA256 under the session key.
//!
//! A cookie reads `v1.NAME.EPOCH.EXPIRES.NONCE.STAMP.MAC` (base64url for the name, the
//! nonce, the stamp and the MAC; decimal for the epoch and the expiry in Unix seconds):
//! - `EPOCH` is the user's `session_epoch` at sign-in: once it moves on (a password change,
//!   "sign out everywhere") the cookie no longer matches;
//! - `STAMP` is a keyed digest of the user's password hash at sign-in, 16 bytes: a user
//!   removed and added again (new hash, new salt, epoch back to 0) does not get back the
//!   sessions of the earlier one;
//! - `NONCE` is 16 random bytes: each sign-in's cookie, and CSRF token, is its own;
//! - `MAC` covers everything before it.
//!
//! The MAC is checked first (in constant time) so that a forged cookie costs no store read;
//! the stamp is compared in constant time too. The CSRF token of a session is the HMAC of
//! its nonce under the same key (another label): the page reads it from the sign-in answer
//! or `GET /api/session`, never from the cookie, which scripts cannot read (`HttpOnly`).

use std::time::Duration;

use axum::http::HeaderValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use password_hash::rand_core::{OsRng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use vigie_core::time::Timestamp;
use vigie_core::users::{User, UserName};

use super::config::SessionKey;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "vigie_session";

const VERSION: &str = "v1";
const COOKIE_LABEL: &[u8] = b"vigie session cookie v1\0";
const STAMP_LABEL: &[u8] = b"vigie session stamp v1\0";
const CSRF_LABEL: &[u8] = b"vigie csrf token v1\0";
const NONCE_BYTES: usize = 16;
const STAMP_BYTES: usize = 16;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &SessionKey, label: &[u8], message: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key.bytes()).expect("HMAC takes any key length");
    mac.update(label);
    mac.update(message);
    mac
}

/// The anti-forgery token of one session; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct CsrfToken(String);

impl CsrfToken {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token (constant time).
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken(<redacted>)")
    }
}

/// What a cookie whose MAC holds and which has not expired says.
pub(crate) struct Claims {
    pub user: UserName,
    epoch: u64,
    nonce: [u8; NONCE_BYTES],
    stamp: [u8; STAMP_BYTES],
}

impl Claims {
    /// Whether the cookie still belongs to `user` as stored now: same epoch, same
    /// password hash as at sign-in.
    pub fn still_valid_for(&self, key: &SessionKey, user: &User) -> bool {
        let epoch = self.epoch == user.session_epoch;
        let stamp = bool::from(self.stamp.ct_eq(&stamp(key, user)));
        epoch & stamp
    }

    pub fn csrf(&self, key: &SessionKey) -> CsrfToken {
        csrf_token(key, &self.nonce)
    }
}

fn stamp(key: &SessionKey, user: &User) -> [u8; STAMP_BYTES] {
    let digest = mac(key, STAMP_LABEL, user.password_hash.as_bytes())
        .finalize()
        .into_bytes();
    let mut stamp = [0u8; STAMP_BYTES];
    stamp.copy_from_slice(&digest[..STAMP_BYTES]);
    stamp
}

fn csrf_token(key: &SessionKey, nonce: &[u8]) -> CsrfToken {
    CsrfToken(URL_SAFE_NO_PAD.encode(mac(key, CSRF_LABEL, nonce).finalize().into_bytes()))
}

/// A signed session: the cookie's value and its CSRF token.
pub(crate) struct Issued {
    pub value: String,
    pub csrf: CsrfToken,
}

/// A new session for `user`, good until `now + ttl`.
pub(crate) fn issue(key: &SessionKey, user: &User, now: Timestamp, ttl: Duration) -> Issued {
    let mut nonce = [0u8; NONCE_BYTES];
    OsRng.fill_bytes(&mut nonce);
    let expires = now.millis() / 1000 + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let message = format!(
        "{VERSION}.{}.{}.{expires}.{}.{}",
        URL_SAFE_NO_PAD.encode(user.name.as_str()),
        user.session_epoch,
        URL_SAFE_NO_PAD.encode(nonce),
        URL_SAFE_NO_PAD.encode(stamp(key, user)),
    );
    let tag = mac(key, COOKIE_LABEL, message.as_bytes())
        .finalize()
        .into_bytes();
    Issued {
        value: format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag)),
        csrf: csrf_token(key, &nonce),
    }
}

/// The claims of a cookie value if its MAC holds and it has not expired at `now`.
pub(crate) fn verify(key: &SessionKey, value: &str, now: Timestamp) -> Option<Claims> {
    let (message, tag) = value.rsplit_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    mac(key, COOKIE_LABEL, message.as_bytes())
        .verify_slice(&tag)
        .ok()?;
    let mut fields = message.split('.');
    let (Some(VERSION), Some(name), Some(epoch), Some(expires), Some(nonce), Some(stamp), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return None;
    };
    let expires: i64 = expires.parse().ok()?;
    if now.millis() / 1000 >= expires {
        return None;
    }
    let name = String::from_utf8(URL_SAFE_NO_PAD.decode(name).ok()?).ok()?;
    Some(Claims {
        user: UserName::parse(&name).ok()?,
        epoch: epoch.parse().ok()?,
        nonce: URL_SAFE_NO_PAD.decode(nonce).ok()?.try_into().ok()?,
        stamp: URL_SAFE_NO_PAD.decode(stamp).ok()?.try_into().ok()?,
    })
}

fn set_cookie(value: String, secure: bool, max_age: Option<Duration>) -> HeaderValue {
    let mut cookie = Cookie::build((SESSION_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure)
        .build();
    match max_age {
        Some(age) => cookie.set_max_age(cookie::time::Duration::seconds(
            i64::try_from(age.as_secs()).unwrap_or(i64::MAX / 2),
        )),
        None => cookie.make_removal(),
    }
    // Base64url, digits, '.', and the attributes: always a valid header value.
    HeaderValue::from_str(&cookie.to_string()).expect("a cookie is a valid header value")
}

/// `Set-Cookie` for a session cookie lasting `ttl`.
pub(crate) fn cookie_header(value: String, secure: bool, ttl: Duration) -> HeaderValue {
    set_cookie(value, secure, Some(ttl))
}

/// `Set-Cookie` that clears the session cookie.
pub(crate) fn removal_header(secure: bool) -> HeaderValue {
    set_cookie(String::new(), secure, None)
}

/// The session cookie's value among the request's `Cookie` headers; `None` when there is
/// none, and when there are several (one of them would be planted: none is trusted).
pub(crate) fn from_headers(headers: &axum::http::HeaderMap) -> Option<String> {
    let mut found = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_owned());
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn user(epoch: u64, hash: &str) -> User {
        User {
            name: UserName::parse("camille@acme.fr").unwrap(),
            password_hash: hash.into(),
            roles: BTreeMap::new(),
            revision: 1,
            session_epoch: epoch,
            tokens: Vec::new(),
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);
    const NOW: Timestamp = Timestamp(1_764_086_400_000);

    #[test]
    fn a_cookie_holds_until_it_expires_and_only_for_its_user_as_signed_in() {
        let key = SessionKey::generate();
        let camille = user(4, "$argon2id$one");
        let issued = issue(&key, &camille, NOW, HOUR);
        let claims = verify(&key, &issued.value, NOW.plus_millis(3_599_000)).unwrap();
        assert_eq!(claims.user, camille.name);
        assert!(claims.still_valid_for(&key, &camille));
        assert_eq!(claims.csrf(&key), issued.csrf);
        assert!(verify(&key, &issued.value, NOW.plus_millis(3_600_000)).is_none());
        assert!(!claims.still_valid_for(&key, &user(5, "$argon2id$one")));
        assert!(!claims.still_valid_for(&key, &user(4, "$argon2id$two")));
        assert!(verify(&SessionKey::generate(), &issued.value, NOW).is_none());
    }

    #[test]
    fn any_change_to_a_cookie_breaks_it() {
        let key = SessionKey::generate();
        let issued = issue(&key, &user(0, "$argon2id$one"), NOW, HOUR);
        let fields: Vec<&str> = issued.value.split('.').collect();
        assert_eq!(fields.len(), 7);
        // A later expiry, another epoch, another name: each breaks the MAC.
        for (i, replacement) in [
            (3, (NOW.millis() / 1000 + 999_999).to_string()),
            (2, "9".to_string()),
            (1, URL_SAFE_NO_PAD.encode("lou")),
        ] {
            let mut changed = fields.clone();
            changed[i] = &replacement;
            assert!(verify(&key, &changed.join("."), NOW).is_none(), "field {i}");
        }
        assert!(verify(&key, "", NOW).is_none());
        assert!(verify(&key, &issued.value[..issued.value.len() - 1], NOW).is_none());
        assert!(verify(&key, &format!("{}A", issued.value), NOW).is_none());
    }

    #[test]
    fn each_sign_in_has_its_own_cookie_and_csrf_token() {
        let key = SessionKey::generate();
        let u = user(0, "$argon2id$one");
        let (a, b) = (issue(&key, &u, NOW, HOUR), issue(&key, &u, NOW, HOUR));
        assert_ne!(a.value, b.value);
        assert_ne!(a.csrf, b.csrf);
        assert!(a.csrf.matches(a.csrf.as_str()));
        assert!(!a.csrf.matches(b.csrf.as_str()));
        assert!(!a.csrf.matches(""));
        assert_eq!(format!("{:?}", a.csrf), "CsrfToken(<redacted>)");
        assert!(!a.value.contains(a.csrf.as_str()));
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_when_asked() {
        let plain = cookie_header("abc".into(), false, HOUR);
        let plain = plain.to_str().unwrap();
        assert!(plain.starts_with("vigie_session=abc"), "{plain}");
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"] {
            assert!(plain.contains(attribute), "{plain}");
        }
        assert!(!plain.contains("Secure"), "{plain}");
        assert!(
            cookie_header("abc".into(), true, HOUR)
                .to_str()
                .unwrap()
                .contains("; Secure")
        );
        let removal = removal_header(true);
        let removal = removal.to_str().unwrap();
        assert!(removal.starts_with("vigie_session=;"), "{removal}");
        assert!(
            removal.contains("Max-Age=0") && removal.contains("Secure"),
            "{removal}"
        );
    }

    #[test]
    fn one_session_cookie_is_read_and_two_are_none() {
        let mut headers = axum::http::HeaderMap::new();
        headers.append("cookie", "theme=dark; vigie_session=abc".parse().unwrap());
        assert_eq!(from_headers(&headers).as_deref(), Some("abc"));
        headers.append("cookie", "vigie_session=planted".parse().unwrap());
        assert_eq!(from_headers(&headers), None);
        assert_eq!(from_headers(&axum::http::HeaderMap::new()), None);
    }
}
