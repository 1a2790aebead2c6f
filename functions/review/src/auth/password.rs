//! Passwords: hashed with Argon2id (the `argon2` crate's defaults, OWASP's minimum:
//! 19 MiB, 2 passes), each with its own random salt, kept as a PHC string. A password is
//! never stored, logged or returned.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use password_hash::rand_core::OsRng;

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password could not be hashed")]
    Hash,
}

/// The PHC string (`$argon2id$v=19$...`) of a new password.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hash)
}

/// Whether `password` is the one `hash` was made from (false for a malformed hash).
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash of a random password nobody knows, made once, with the parameters of every
/// other hash: checking a password against it takes as long as against a real one.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        let unknown = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(unknown.as_str().as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Whether `password` is the user's (`hash`: their stored hash, `None` for a user who does
/// not exist). Without a user the password is checked against a dummy hash, so that an
/// unknown user and a wrong password take the same time; it is then always false.
pub(crate) fn verify_password_or_dummy(hash: Option<&str>, password: &str) -> bool {
    match hash {
        Some(hash) => verify_password(hash, password),
        None => {
            let _ = verify_password(dummy_hash(), password);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_salted_hash_only() {
        let a = hash_password("correct horse battery").unwrap();
        let b = hash_password("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(!a.contains("correct"));
        assert!(verify_password(&a, "correct horse battery"));
        assert!(verify_password(&b, "correct horse battery"));
        assert!(!verify_password(&a, "correct horse batterY"));
        assert!(!verify_password("not a hash", "correct horse battery"));
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::TooShort)
        ));
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs_and_matches_nothing() {
        let real = hash_password("correct horse battery").unwrap();
        let params = |h: &str| {
            let h = PasswordHash::new(h).unwrap();
            (h.algorithm.to_string(), h.version, h.params.to_string())
        };
        assert_eq!(params(dummy_hash()), params(&real));
        assert!(verify_password_or_dummy(
            Some(&real),
            "correct horse battery"
        ));
        assert!(!verify_password_or_dummy(None, "correct horse battery"));
        assert!(!verify_password_or_dummy(None, ""));
    }
}
