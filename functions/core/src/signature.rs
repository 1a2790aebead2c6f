//! Signatures over the raw request bytes, compared in constant time.

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
}

/// Lower-case hex HMAC-SHA256 of the concatenated parts.
pub fn hmac_sha256_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

fn verify_hex(
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

pub const META_HEADER: &str = "x-hub-signature-256";

/// Meta's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body with the app secret>`.
pub fn verify_meta(
    header: Option<&str>,
    app_secret: &[u8],
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing(META_HEADER))?;
    let hex_sig = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed(META_HEADER))?;
    verify_hex(app_secret, &[body], hex_sig, META_HEADER)
}

pub const GENERIC_HEADER: &str = "x-vigie-signature";
/// How far a generic delivery's signed time may be from now (replays are refused).
pub const GENERIC_TOLERANCE_SECONDS: i64 = 300;

/// The generic webhook's `X-Vigie-Signature: t=<unix seconds>,v1=<hex>`, where the hex is the
/// HMAC-SHA256, with the brand's secret, of `<t>.` followed by the raw body.
pub fn verify_generic(
    header: Option<&str>,
    secret: &[u8],
    body: &[u8],
    now: Timestamp,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing(GENERIC_HEADER))?;
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = Some(v),
            _ => {}
        }
    }
    let (t, v1) = t.zip(v1).ok_or(SignatureError::Malformed(GENERIC_HEADER))?;
    verify_hex(
        secret,
        &[t.to_string().as_bytes(), b".", body],
        v1,
        GENERIC_HEADER,
    )?;
    let skew = now.millis() / 1000 - t;
    if skew.abs() > GENERIC_TOLERANCE_SECONDS {
        return Err(SignatureError::Stale(skew));
    }
    Ok(())
}

/// The header value a sender of the generic webhook computes.
pub fn sign_generic(secret: &[u8], body: &[u8], at: Timestamp) -> String {
    let t = at.millis() / 1000;
    format!(
        "t={t},v1={}",
        hmac_sha256_hex(secret, &[t.to_string().as_bytes(), b".", body])
    )
}

/// The header value Meta computes.
pub fn sign_meta(app_secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hmac_sha256_hex(app_secret, &[body]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_signature_round_trip_and_tampering() {
        let body = br#"{"object":"page","entry":[]}"#;
        let sig = sign_meta(b"app-secret", body);
        assert_eq!(verify_meta(Some(&sig), b"app-secret", body), Ok(()));
        assert_eq!(
            verify_meta(Some(&sig), b"other", body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_meta(
                Some(&sig),
                b"app-secret",
                br#"{"object":"page","entry":[ ]}"#
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_meta(None, b"s", body),
            Err(SignatureError::Missing(META_HEADER))
        );
        assert_eq!(
            verify_meta(Some("sha1=abc"), b"s", body),
            Err(SignatureError::Malformed(META_HEADER))
        );
        assert_eq!(
            verify_meta(Some("sha256=zz"), b"s", body),
            Err(SignatureError::Malformed(META_HEADER))
        );
    }

    #[test]
    fn known_hmac_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", &[b"what do ya want for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn generic_signature_checks_time() {
        let now = Timestamp(1_800_000_000_000);
        let sig = sign_generic(b"k", b"{}", now);
        assert_eq!(verify_generic(Some(&sig), b"k", b"{}", now), Ok(()));
        assert_eq!(
            verify_generic(Some(&sig), b"k", b"{ }", now),
            Err(SignatureError::Mismatch)
        );
        let later = now.plus_millis(301_000);
        assert_eq!(
            verify_generic(Some(&sig), b"k", b"{}", later),
            Err(SignatureError::Stale(301))
        );
        assert_eq!(
            verify_generic(Some("v1=00"), b"k", b"{}", now),
            Err(SignatureError::Malformed(GENERIC_HEADER))
        );
    }

    #[test]
    fn generic_signatures_are_accepted_up_to_300_s_either_way_and_refused_beyond() {
        let now = Timestamp(1_800_000_000_000);
        let signed_at = |seconds: i64| sign_generic(b"k", b"{}", now.plus_millis(seconds * 1000));
        let check = |seconds: i64| verify_generic(Some(&signed_at(seconds)), b"k", b"{}", now);
        // Exactly at the boundary, in the past and in the future (the sender's clock ahead).
        assert_eq!(check(-300), Ok(()));
        assert_eq!(check(300), Ok(()));
        assert_eq!(check(-301), Err(SignatureError::Stale(301)));
        assert_eq!(check(301), Err(SignatureError::Stale(-301)));
        // Dated well in the future: refused like a replay, whatever the signature.
        assert_eq!(check(3_600), Err(SignatureError::Stale(-3_600)));
        // Within the second after the boundary instant, the whole-second times still match.
        let sig = signed_at(-300);
        assert_eq!(
            verify_generic(Some(&sig), b"k", b"{}", now.plus_millis(999)),
            Ok(())
        );
        assert_eq!(
            verify_generic(Some(&sig), b"k", b"{}", now.plus_millis(1_000)),
            Err(SignatureError::Stale(301))
        );
    }
}
