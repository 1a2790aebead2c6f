//! API tokens for scripts, sent as `Authorization: Bearer vigie_...`.
//!
//! A token reads `vigie_<id>_<user>_<secret>`:
//! - `id`: 8 lowercase hex digits, random, unique among the user's tokens (listed, and
//!   named to revoke the token);
//! - `user`: the user name in lowercase hex, so that the token finds its user with one
//!   read by name: no index from tokens to users to keep in step in either store, and a
//!   token goes with its user when the user is removed;
//! - `secret`: 32 random bytes, base64url (43 characters, the last field: it may hold `_`).
//!
//! Only the SHA-256 of the secret is stored ([`ApiToken::sha256`]); a presented token is
//! hashed and the digests compared in constant time. The secret carries 256 bits of
//! entropy, so a fast hash is enough: there is no password to guess behind it. The token is
//! shown once, when made.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use password_hash::rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use vigie_core::ports::UserStore;
use vigie_core::time::Timestamp;
use vigie_core::users::{ApiToken, User, UserName};

use super::{AuthError, update_user};

pub const TOKEN_PREFIX: &str = "vigie_";
/// Tokens a user may hold at once.
pub const MAX_TOKENS_PER_USER: usize = 20;
const SECRET_BYTES: usize = 32;
const SECRET_CHARS: usize = 43;
const ID_BYTES: usize = 4;

/// A token in clear, as shown once to whoever made it; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClearToken(String);

impl ClearToken {
    /// The token, to hand to the person who made it, once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClearToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClearToken(<redacted>)")
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Adds a new token labelled `label` to `user` (made at `now`) and returns it in clear;
/// the caller stores the user. Refused for a label that is empty, longer than 64
/// characters or holds control characters, and past [`MAX_TOKENS_PER_USER`].
pub fn add_token(user: &mut User, label: &str, now: Timestamp) -> Result<ClearToken, AuthError> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
        return Err(AuthError::InvalidLabel);
    }
    if user.tokens.len() >= MAX_TOKENS_PER_USER {
        return Err(AuthError::TooManyTokens);
    }
    let id = loop {
        let mut id = [0u8; ID_BYTES];
        OsRng.fill_bytes(&mut id);
        let id = hex::encode(id);
        if user.token(&id).is_none() {
            break id;
        }
    };
    let mut secret = [0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut secret);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    let token = format!(
        "{TOKEN_PREFIX}{id}_{}_{secret}",
        hex::encode(user.name.as_str())
    );
    user.tokens.push(ApiToken {
        id,
        label: label.to_owned(),
        sha256: hex::encode(digest(&secret)),
        created_at: now,
    });
    Ok(ClearToken(token))
}

/// Makes a token for the stored user `name` and stores it; returns its record and, once,
/// the token in clear.
pub async fn mint_token(
    store: &dyn UserStore,
    name: &UserName,
    label: &str,
) -> Result<(ApiToken, ClearToken), AuthError> {
    update_user(store, name, |user| {
        let clear = add_token(user, label, Timestamp::now())?;
        let record = user.tokens.last().cloned().expect("just added");
        Ok((record, clear))
    })
    .await
}

/// Revokes the stored user's token `id`: it stops working at once.
pub async fn revoke_token(
    store: &dyn UserStore,
    name: &UserName,
    id: &str,
) -> Result<(), AuthError> {
    update_user(store, name, |user| {
        let before = user.tokens.len();
        user.tokens.retain(|t| t.id != id);
        if user.tokens.len() == before {
            return Err(AuthError::NoSuchToken);
        }
        Ok(())
    })
    .await
}

/// A presented token taken apart (nothing checked yet but its shape).
pub(crate) struct Presented<'a> {
    pub id: &'a str,
    pub user: UserName,
    secret: &'a str,
}

impl Presented<'_> {
    /// Whether this is the user's token `record`: the digests are compared in constant
    /// time.
    pub fn matches(&self, record: &ApiToken) -> bool {
        let Ok(stored) = hex::decode(&record.sha256) else {
            return false;
        };
        record.id == self.id && bool::from(stored.ct_eq(&digest(self.secret)))
    }
}

/// A token's parts, `None` for anything not shaped like one.
pub(crate) fn parse(token: &str) -> Option<Presented<'_>> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, rest) = rest.split_once('_')?;
    let (user, secret) = rest.split_once('_')?;
    let hex_id = id.len() == 2 * ID_BYTES && id.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex_id || secret.len() != SECRET_CHARS {
        return None;
    }
    let user = String::from_utf8(hex::decode(user).ok()?).ok()?;
    Some(Presented {
        id,
        user: UserName::parse(&user).ok()?,
        secret,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn user() -> User {
        User {
            name: UserName::parse("lou_2@acme.fr").unwrap(),
            password_hash: "$argon2id$x".into(),
            roles: BTreeMap::new(),
            revision: 1,
            session_epoch: 0,
            tokens: Vec::new(),
        }
    }

    #[test]
    fn a_token_names_its_user_and_id_and_only_its_digest_is_kept() {
        let mut u = user();
        let token = add_token(&mut u, " nightly export ", Timestamp(1)).unwrap();
        let record = u.tokens[0].clone();
        assert_eq!(record.label, "nightly export");
        let text = token.expose();
        assert!(text.starts_with(&format!("vigie_{}_", record.id)), "{text}");
        let presented = parse(text).unwrap();
        assert_eq!(
            (presented.id, &presented.user),
            (record.id.as_str(), &u.name)
        );
        assert!(presented.matches(&record));
        let secret = &text[text.len() - SECRET_CHARS..];
        assert!(secret.len() == 43 && !record.sha256.contains(secret));
        assert!(!serde_json::to_string(&u).unwrap().contains(secret));
        assert_eq!(format!("{token:?}"), "ClearToken(<redacted>)");
    }

    #[test]
    fn a_changed_token_does_not_match() {
        let mut u = user();
        let token = add_token(&mut u, "ci", Timestamp(1)).unwrap();
        let record = &u.tokens[0];
        let text = token.expose();
        let last = text.chars().last().unwrap();
        let other = if last == 'A' { 'B' } else { 'A' };
        let changed = format!("{}{other}", &text[..text.len() - 1]);
        assert!(!parse(&changed).unwrap().matches(record));
        let mut other_id = u.clone();
        let second = add_token(&mut other_id, "two", Timestamp(2)).unwrap();
        assert!(!parse(second.expose()).unwrap().matches(record));
        for bad in [
            "",
            "vigie_",
            "bearer",
            &text[..text.len() - 1],
            &text.replace("vigie_", "vigie-"),
            &format!("{text}x"),
        ] {
            assert!(parse(bad).is_none_or(|p| !p.matches(record)), "{bad}");
        }
    }

    #[test]
    fn labels_are_checked_and_tokens_are_bounded() {
        let mut u = user();
        for bad in ["", "  ", "a\nb", &"x".repeat(65)] {
            assert!(matches!(
                add_token(&mut u, bad, Timestamp(1)),
                Err(AuthError::InvalidLabel)
            ));
        }
        for i in 0..MAX_TOKENS_PER_USER {
            add_token(&mut u, &format!("t{i}"), Timestamp(1)).unwrap();
        }
        assert!(matches!(
            add_token(&mut u, "one more", Timestamp(1)),
            Err(AuthError::TooManyTokens)
        ));
        let mut ids: Vec<_> = u.tokens.iter().map(|t| t.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), MAX_TOKENS_PER_USER);
    }
}
