//! What the review surface's authentication is set up with: the key that signs session
//! cookies, how cookies are sent, which hosts are served, the OpenID Connect issuer (on
//! AWS) and the sign-in limits. `Debug` shows no key material.

use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use password_hash::rand_core::{OsRng, RngCore};

/// The shortest session key accepted: 32 bytes, the output size of SHA-256.
pub const MIN_SESSION_KEY_BYTES: usize = 32;

/// Why an authentication setup is refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("a session key needs at least {MIN_SESSION_KEY_BYTES} bytes (got {len})")]
    SessionKeyTooShort { len: usize },
    #[error("session key file {}: {source}", path.display())]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "session key file {} is readable by others (mode {mode:o}): chmod 600 it",
        path.display()
    )]
    KeyFileMode { path: PathBuf, mode: u32 },
    #[error("session key file {} does not hold a hex key", path.display())]
    KeyFileFormat { path: PathBuf },
    #[error("a session lasts at least a second")]
    SessionTtl,
    #[error("OpenID Connect JWKS: {0}")]
    Jwks(String),
}

/// The secret that signs session cookies and derives CSRF tokens: at least 32 bytes.
#[derive(Clone)]
pub struct SessionKey(Arc<[u8]>);

impl SessionKey {
    /// A key from its bytes, refused below [`MIN_SESSION_KEY_BYTES`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AuthConfigError> {
        if bytes.len() < MIN_SESSION_KEY_BYTES {
            return Err(AuthConfigError::SessionKeyTooShort { len: bytes.len() });
        }
        Ok(Self(bytes.into()))
    }

    /// A new random 32-byte key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; MIN_SESSION_KEY_BYTES];
        OsRng.fill_bytes(&mut bytes);
        Self(bytes.as_slice().into())
    }

    /// The key kept in `path` (hex text), made there at random (readable by its owner
    /// only, mode 0600) when the file does not exist yet: sessions then outlive a restart
    /// of `vigie serve`. A key file that others may read is refused.
    pub fn load_or_create(path: &Path) -> Result<Self, AuthConfigError> {
        let io = |source| AuthConfigError::KeyFile {
            path: path.to_owned(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                let key = Self::generate();
                let written = file
                    .write_all(format!("{}\n", hex::encode(&key.0)).as_bytes())
                    .and_then(|()| file.sync_all());
                if let Err(e) = written {
                    drop(file);
                    let _ = std::fs::remove_file(path);
                    return Err(io(e));
                }
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load(path),
            Err(e) => Err(io(e)),
        }
    }

    fn load(path: &Path) -> Result<Self, AuthConfigError> {
        let io = |source| AuthConfigError::KeyFile {
            path: path.to_owned(),
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(AuthConfigError::KeyFileMode {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let bytes = hex::decode(text.trim()).map_err(|_| AuthConfigError::KeyFileFormat {
            path: path.to_owned(),
        })?;
        Self::from_bytes(&bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

/// Failed sign-ins allowed in a sliding window, per user name and per client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInLimits {
    /// Failures per user name in `window` (5): then that name is refused until the oldest
    /// failure leaves the window. A success clears the name's failures.
    pub per_user: u32,
    /// Failures per client address in `window` (30); a success clears none of them.
    pub per_ip: u32,
    /// 15 minutes.
    pub window: Duration,
    /// Names and addresses followed at most (each map): past that, the one whose latest
    /// failure is oldest is forgotten first.
    pub max_tracked: usize,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self {
            per_user: 5,
            per_ip: 30,
            window: Duration::from_secs(15 * 60),
            max_tracked: 100_000,
        }
    }
}

/// An OpenID Connect issuer whose JWTs are accepted as `Authorization: Bearer`.
#[derive(Clone)]
pub struct OidcConfig {
    /// The `iss` a token must name exactly.
    pub issuer: String,
    /// The `aud` a token must contain; a token without `aud` must name it as its
    /// `client_id` (Cognito access tokens), as API Gateway's JWT authorizer checks.
    pub audience: String,
    /// The issuer's JSON Web Key Set (`{"keys": [...]}`), as served at its `jwks_uri`:
    /// given here, never fetched. RSA keys verify RS256, P-256 keys ES256; others are
    /// ignored.
    pub jwks_json: String,
    /// The claim that names the user in the user store: `email` (default), or e.g.
    /// `cognito:username`. Its value is lowercased before it is looked up.
    pub username_claim: String,
    /// How far past `exp` (or before `nbf`) a token is still taken, for clock skew: 30 s.
    pub leeway: Duration,
}

impl OidcConfig {
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        jwks_json: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_json: jwks_json.into(),
            username_claim: "email".into(),
            leeway: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field(
                "jwks_json",
                &format_args!("<{} bytes>", self.jwks_json.len()),
            )
            .field("username_claim", &self.username_claim)
            .field("leeway", &self.leeway)
            .finish()
    }
}

/// How the review surface authenticates.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub session_key: SessionKey,
    /// Adds `Secure` to the session cookie (sent over HTTPS only): on for anything but
    /// loopback.
    pub secure_cookies: bool,
    /// How long a session cookie is good for after sign-in: 12 hours.
    pub session_ttl: Duration,
    /// The `Host` values served (`host:port`, compared without case); any other is refused
    /// by [`host_guard`](super::host_guard), against DNS rebinding. Empty: every request is
    /// refused.
    pub allowed_hosts: Vec<String>,
    /// JWTs of an OpenID Connect issuer (AWS, behind API Gateway); `None`: not accepted.
    pub oidc: Option<OidcConfig>,
    pub limits: SignInLimits,
}

impl AuthConfig {
    /// Cookies without `Secure`, sessions of 12 hours, no host allowed yet, no OpenID
    /// Connect, the default sign-in limits.
    pub fn new(session_key: SessionKey) -> Self {
        Self {
            session_key,
            secure_cookies: false,
            session_ttl: Duration::from_secs(12 * 60 * 60),
            allowed_hosts: Vec::new(),
            oidc: None,
            limits: SignInLimits::default(),
        }
    }

    /// For `vigie serve` listening on `listen`: the loopback forms of its port are allowed
    /// (and the listen address itself when it is a specific one), and cookies are `Secure`
    /// unless it listens on loopback.
    pub fn local(session_key: SessionKey, listen: SocketAddr) -> Self {
        let mut allowed_hosts = Self::loopback_hosts(listen.port());
        let own = listen.to_string();
        if !listen.ip().is_unspecified() && !allowed_hosts.contains(&own) {
            allowed_hosts.push(own);
        }
        Self {
            secure_cookies: !listen.ip().is_loopback(),
            allowed_hosts,
            ..Self::new(session_key)
        }
    }

    /// `127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`.
    pub fn loopback_hosts(port: u16) -> Vec<String> {
        vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_refused_and_keys_never_show() {
        assert!(matches!(
            SessionKey::from_bytes(&[7; 31]),
            Err(AuthConfigError::SessionKeyTooShort { len: 31 })
        ));
        let key = SessionKey::from_bytes(&[0xab; 32]).unwrap();
        let config = AuthConfig::new(key);
        let shown = format!("{config:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(
            !shown.contains("171") && !shown.contains("ab, ab"),
            "{shown}"
        );
    }

    #[test]
    fn a_key_file_is_made_once_for_its_owner_only_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.key");
        let made = SessionKey::load_or_create(&path).unwrap();
        let again = SessionKey::load_or_create(&path).unwrap();
        assert_eq!(made.bytes(), again.bytes());
        assert_eq!(made.bytes().len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                SessionKey::load_or_create(&path),
                Err(AuthConfigError::KeyFileMode { mode: 0o644, .. })
            ));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(&path, "abcd\n").unwrap();
        assert!(matches!(
            SessionKey::load_or_create(&path),
            Err(AuthConfigError::SessionKeyTooShort { len: 2 })
        ));
        std::fs::write(&path, "not hex\n").unwrap();
        assert!(matches!(
            SessionKey::load_or_create(&path),
            Err(AuthConfigError::KeyFileFormat { .. })
        ));
    }

    #[test]
    fn a_local_server_allows_its_loopback_names_and_secures_cookies_off_loopback() {
        let key = SessionKey::generate();
        let local = AuthConfig::local(key.clone(), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            local.allowed_hosts,
            ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"]
        );
        assert!(!local.secure_cookies);
        let lan = AuthConfig::local(key.clone(), "0.0.0.0:8080".parse().unwrap());
        assert_eq!(lan.allowed_hosts.len(), 3);
        assert!(lan.secure_cookies);
        let own = AuthConfig::local(key, "10.1.2.3:9000".parse().unwrap());
        assert_eq!(own.allowed_hosts.last().unwrap(), "10.1.2.3:9000");
        assert_eq!(own.session_ttl, Duration::from_secs(43_200));
    }
}
