//! The people who review: a user name, a password hash (computed by the review function's
//! auth module; the core never sees a password), and a role per brand. A user sees only
//! the brands listed here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::comment::{BrandId, InvalidValue};
use crate::review::Role;
use crate::time::Timestamp;

/// A user name: 1 to 64 of a-z, 0-9, '.', '-', '_', '@' (an e-mail address fits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName(String);

impl UserName {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_' | '@')
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::UserName(s.chars().take(80).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserName {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, InvalidValue> {
        Self::parse(&s)
    }
}

impl From<UserName> for String {
    fn from(n: UserName) -> String {
        n.0
    }
}

impl std::fmt::Display for UserName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user and what they may do, brand by brand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub name: UserName,
    /// A PHC string (`$argon2id$...`): never the password.
    pub password_hash: String,
    pub roles: BTreeMap<BrandId, Role>,
    /// Incremented on every change (optimistic concurrency).
    pub revision: u64,
    /// The generation of the user's sessions: a session cookie names the epoch it was
    /// signed in, and stops working once the epoch moved on (a password change, or
    /// "sign out everywhere").
    #[serde(default)]
    pub session_epoch: u64,
    /// The user's API tokens for scripts, by their digests: never a token itself.
    #[serde(default)]
    pub tokens: Vec<ApiToken>,
}

/// An API token as stored: its public id, what it is for, and the SHA-256 of its secret.
/// The token itself is shown once, when made, and kept nowhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Short, random, unique among the user's tokens; named to revoke the token.
    pub id: String,
    pub label: String,
    /// Lowercase hex of the SHA-256 of the token's secret part.
    pub sha256: String,
    pub created_at: Timestamp,
}

impl User {
    /// The user's role for `brand`; `None` when the brand is not theirs (it then answers as
    /// if it did not exist).
    pub fn role(&self, brand: &BrandId) -> Option<Role> {
        self.roles.get(brand).copied()
    }

    /// Ends every session signed so far (their cookies name an earlier epoch).
    pub fn end_sessions(&mut self) {
        self.session_epoch = self.session_epoch.saturating_add(1);
    }

    /// A new password hash; the sessions signed with the earlier password end.
    pub fn change_password(&mut self, password_hash: String) {
        self.password_hash = password_hash;
        self.end_sessions();
    }

    /// The API token with this id.
    pub fn token(&self, id: &str) -> Option<&ApiToken> {
        self.tokens.iter().find(|t| t.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_checked() {
        for ok in ["camille", "camille.dupont@acme-mode.fr", "lou_2"] {
            assert_eq!(UserName::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "Camille", "ca mille", "x\ny", &"a".repeat(65)] {
            assert!(UserName::parse(bad).is_err(), "{bad:?}");
        }
        let json: Result<UserName, _> = serde_json::from_str("\"Not Valid\"");
        assert!(json.is_err());
    }

    #[test]
    fn a_user_has_a_role_only_on_their_brands() {
        let acme = BrandId::parse("acme").unwrap();
        let globex = BrandId::parse("globex").unwrap();
        let u = User {
            name: UserName::parse("camille").unwrap(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            roles: BTreeMap::from([(acme.clone(), Role::Responder)]),
            revision: 1,
            session_epoch: 3,
            tokens: vec![ApiToken {
                id: "0f3a9c21".into(),
                label: "nightly export".into(),
                sha256: "ab".repeat(32),
                created_at: Timestamp(1_764_086_400_000),
            }],
        };
        assert_eq!(u.role(&acme), Some(Role::Responder));
        assert_eq!(u.role(&globex), None);
        assert_eq!(u.token("0f3a9c21").unwrap().label, "nightly export");
        assert!(u.token("0f3a9c22").is_none());
        let back: User = serde_json::from_str(&serde_json::to_string(&u).unwrap()).unwrap();
        assert_eq!(back, u);
    }

    #[test]
    fn users_stored_before_sessions_and_tokens_read_back_without_them() {
        let stored = r#"{"name":"lou","password_hash":"$argon2id$x","roles":{"acme":"viewer"},"revision":2}"#;
        let u: User = serde_json::from_str(stored).unwrap();
        assert_eq!((u.session_epoch, u.tokens.len(), u.revision), (0, 0, 2));
    }

    #[test]
    fn a_password_change_and_signing_out_everywhere_move_the_session_epoch_on() {
        let mut u: User = serde_json::from_str(
            r#"{"name":"lou","password_hash":"$argon2id$old","roles":{},"revision":1}"#,
        )
        .unwrap();
        u.end_sessions();
        assert_eq!(u.session_epoch, 1);
        u.change_password("$argon2id$new".into());
        assert_eq!(
            (u.session_epoch, u.password_hash.as_str()),
            (2, "$argon2id$new")
        );
    }
}
