//! The HMAC rules platforms sign with, over the raw request bytes, compared in constant
//! time. Which header and which rule a platform uses is in its module (`platforms`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::time::Timestamp;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signed timestamp is {0} s away from now, over the tolerance")]
    Stale(i64),
    #[error("the token has expired")]
    Expired,
}

/// Lower-case hex HMAC-SHA256 of the concatenated parts.
pub fn hmac_sha256_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

pub fn verify_hex(
    secret: &[u8],
    parts: &[&[u8]],
    hex_sig: &str,
    header: &'static str,
) -> Result<(), SignatureError> {
    let expected = hex::decode(hex_sig.trim()).map_err(|_| SignatureError::Malformed(header))?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// Checks a base64 HMAC-SHA256 (standard alphabet, padded or not) in constant time.
pub fn verify_base64(
    secret: &[u8],
    parts: &[&[u8]],
    b64_sig: &str,
    header: &'static str,
) -> Result<(), SignatureError> {
    use base64::Engine;
    let b64 = b64_sig.trim();
    let expected = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64))
        .map_err(|_| SignatureError::Malformed(header))?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// Standard base64 HMAC-SHA256 of the concatenated parts.
pub fn hmac_sha256_base64(secret: &[u8], parts: &[&[u8]]) -> String {
    use base64::Engine;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A `t=<unix seconds>,<mac>=<hex>` header (the generic webhook's `v1`, TikTok's `s`):
/// the hex HMAC of `<t>.` followed by the body, refused when `t` is more than
/// `tolerance_seconds` from now either way (a replay, or a sender's clock far ahead).
pub fn verify_timestamped(
    header: Option<&str>,
    name: &'static str,
    mac_key: &str,
    secret: &[u8],
    body: &[u8],
    now: Timestamp,
    tolerance_seconds: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing(name))?;
    let mut t = None;
    let mut mac = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.trim().parse::<i64>().ok(),
            Some((k, v)) if k == mac_key => mac = Some(v),
            _ => {}
        }
    }
    let (t, mac) = t.zip(mac).ok_or(SignatureError::Malformed(name))?;
    verify_hex(secret, &[t.to_string().as_bytes(), b".", body], mac, name)?;
    let skew = (now.millis() / 1000).saturating_sub(t);
    if skew.abs() > tolerance_seconds {
        return Err(SignatureError::Stale(skew));
    }
    Ok(())
}

/// The header value a sender of a `t=..,<mac>=..` signature computes.
pub fn sign_timestamped(mac_key: &str, secret: &[u8], body: &[u8], at: Timestamp) -> String {
    let t = at.millis() / 1000;
    format!(
        "t={t},{mac_key}={}",
        hmac_sha256_hex(secret, &[t.to_string().as_bytes(), b".", body])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hmac_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", &[b"what do ya want for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hmac_sha256_base64(b"Jefe", &[b"what do ya ", b"want for nothing?"]),
            "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
        );
        let b64 = "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM";
        assert_eq!(
            verify_base64(b"Jefe", &[b"what do ya want for nothing?"], b64, "h"),
            Ok(())
        );
        assert_eq!(
            verify_base64(b"Jefe", &[b"what do ya want for nothing!"], b64, "h"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_base64(b"Jefe", &[b""], "not base64!", "h"),
            Err(SignatureError::Malformed("h"))
        );
    }

    #[test]
    fn timestamped_signatures_are_accepted_up_to_the_tolerance_either_way() {
        let now = Timestamp(1_800_000_000_000);
        let signed_at =
            |seconds: i64| sign_timestamped("v1", b"k", b"{}", now.plus_millis(seconds * 1000));
        let check = |seconds: i64| {
            verify_timestamped(Some(&signed_at(seconds)), "h", "v1", b"k", b"{}", now, 300)
        };
        // Exactly at the boundary, in the past and in the future (the sender's clock ahead).
        assert_eq!(check(-300), Ok(()));
        assert_eq!(check(300), Ok(()));
        assert_eq!(check(-301), Err(SignatureError::Stale(301)));
        assert_eq!(check(301), Err(SignatureError::Stale(-301)));
        assert_eq!(check(3_600), Err(SignatureError::Stale(-3_600)));
        // Within the second after the boundary instant, the whole-second times still match.
        let sig = signed_at(-300);
        let at =
            |ms| verify_timestamped(Some(&sig), "h", "v1", b"k", b"{}", now.plus_millis(ms), 300);
        assert_eq!(at(999), Ok(()));
        assert_eq!(at(1_000), Err(SignatureError::Stale(301)));
        // The body, the key and the header's shape all count.
        assert_eq!(
            verify_timestamped(Some(&sig), "h", "v1", b"k", b"{ }", now, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_timestamped(Some(&sig), "h", "s", b"k", b"{}", now, 300),
            Err(SignatureError::Malformed("h"))
        );
        assert_eq!(
            verify_timestamped(Some("v1=00"), "h", "v1", b"k", b"{}", now, 300),
            Err(SignatureError::Malformed("h"))
        );
        assert_eq!(
            verify_timestamped(None, "h", "v1", b"k", b"{}", now, 300),
            Err(SignatureError::Missing("h"))
        );
    }
}
