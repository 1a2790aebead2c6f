//! The people who review: a user name, a password hash (computed by the review function's
//! auth module; the core never sees a password), and a role per brand. A user sees only
//! the brands listed here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::comment::{BrandId, InvalidValue};
use crate::review::Role;

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
    /// Incremented on every change (optimistic concurrency, and a password change ends
    /// the sessions signed with an earlier one).
    pub revision: u64,
}

impl User {
    /// The user's role for `brand`; `None` when the brand is not theirs (it then answers as
    /// if it did not exist).
    pub fn role(&self, brand: &BrandId) -> Option<Role> {
        self.roles.get(brand).copied()
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
        };
        assert_eq!(u.role(&acme), Some(Role::Responder));
        assert_eq!(u.role(&globex), None);
        let back: User = serde_json::from_str(&serde_json::to_string(&u).unwrap()).unwrap();
        assert_eq!(back, u);
    }
}
