//! Signatures of every platform module, for any body, secret and time: signing then
//! verifying round-trips, and any one-bit change of the body, the signature, the header or
//! the signed timestamp is refused, as is another app's secret.
//!
//! `PROPTEST_CASES=10000 cargo nextest run -p vigie-core --test signature_props` runs longer.

use proptest::prelude::*;
use vigie_core::Timestamp;
use vigie_core::platforms::{AppKeys, DEFAULT_TOLERANCE_SECONDS, Inbound, SOURCES, Source};
use vigie_core::signature::SignatureError;

/// Modest by default so the suite stays quick in debug builds; `PROPTEST_CASES` overrides.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 128;
    }
    config
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..1024)
}

fn secret() -> impl Strategy<Value = Vec<u8>> {
    // HMAC keys longer than the block (64 bytes) are hashed first: cover both sides.
    prop::collection::vec(any::<u8>(), 0..100)
}

/// Any instant a signature may carry, far past and far future included.
fn instant() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        (0i64..4_102_444_800_000).prop_map(Timestamp),
        any::<i64>().prop_map(Timestamp),
    ]
}

fn flip(bytes: &[u8], index: usize, bit: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[index] ^= 1 << bit;
    out
}

/// A header with one bit of one character changed, if it is still text (headers are).
fn flip_header(header: &str, index: usize, bit: u8) -> Option<String> {
    String::from_utf8(flip(header.as_bytes(), index, bit)).ok()
}

/// The same hex digit in the other case: the same signature, written differently.
fn is_hex_case_change(before: u8, after: u8) -> bool {
    before != after && before.is_ascii_hexdigit() && before.eq_ignore_ascii_case(&after)
}

/// Any platform module that signs with an HMAC (Google's pushes carry a token signed by
/// Google's keys: `functions/webhook/tests/fixtures.rs` checks those).
fn source() -> impl Strategy<Value = &'static dyn Source> {
    let hmac: Vec<&'static dyn Source> = SOURCES
        .into_iter()
        .filter(|s| s.pushes() && s.name() != "google")
        .collect();
    prop::sample::select(hmac)
}

/// The module's verdict on a body with these headers, at `now`.
fn verify(
    source: &dyn Source,
    secret: &[u8],
    headers: &[(&'static str, String)],
    body: &[u8],
    now: Timestamp,
) -> Result<(), SignatureError> {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    source.verify(
        &AppKeys::new(secret.to_vec()),
        &Inbound {
            headers: &headers,
            body,
            ..Default::default()
        },
        now,
    )
}

fn sign(
    source: &dyn Source,
    secret: &[u8],
    body: &[u8],
    at: Timestamp,
) -> Vec<(&'static str, String)> {
    source.sign(&AppKeys::new(secret.to_vec()), body, at)
}

/// Where the MAC starts in a header value: after its last `=` for `k=<mac>` forms, else
/// at 0 (LinkedIn's bare hex). X's base64 ends in `=` padding and has no hex case.
fn hex_mac_start(source: &dyn Source, header: &str) -> Option<usize> {
    if source.name() == "x" {
        return None;
    }
    Some(header.rfind('=').map_or(0, |i| i + 1))
}

/// Whether the module signs a timestamp.
fn timed(source: &dyn Source) -> bool {
    matches!(source.name(), "generic" | "tiktok")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn signatures_round_trip(source in source(), body in body(), secret in secret(), at in instant()) {
        let headers = sign(source, &secret, &body, at);
        prop_assert_eq!(verify(source, &secret, &headers, &body, at), Ok(()));
    }

    #[test]
    fn any_one_bit_change_of_the_body_is_refused(
        source in source(),
        body in prop::collection::vec(any::<u8>(), 1..1024),
        secret in secret(),
        at in instant(),
        index in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let headers = sign(source, &secret, &body, at);
        let tampered = flip(&body, index.index(body.len()), bit);
        prop_assert_eq!(
            verify(source, &secret, &headers, &tampered, at),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn another_secret_is_refused(
        source in source(),
        body in body(),
        secret in secret(),
        other in secret(),
        at in instant(),
    ) {
        prop_assume!(secret != other);
        let headers = sign(source, &secret, &body, at);
        prop_assert_eq!(
            verify(source, &other, &headers, &body, at),
            Err(SignatureError::Mismatch)
        );
    }

    /// Flipping a bit of the header's text fails, unless it only changes the case of a hex
    /// digit of the MAC, which writes the same signature.
    #[test]
    fn any_one_bit_change_of_the_header_is_refused(
        source in source(),
        body in body(),
        secret in secret(),
        at in instant(),
        index in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let headers = sign(source, &secret, &body, at);
        let (name, header) = &headers[0];
        let i = index.index(header.len());
        if let Some(tampered) = flip_header(header, i, bit) {
            let verdict = verify(source, &secret, &[(*name, tampered.clone())], &body, at);
            let benign = hex_mac_start(source, header).is_some_and(|start| i >= start)
                && is_hex_case_change(header.as_bytes()[i], tampered.as_bytes()[i]);
            if benign {
                prop_assert_eq!(verdict, Ok(()));
            } else {
                prop_assert!(verdict.is_err(), "{} {tampered:?} was accepted", source.name());
            }
        }
    }

    #[test]
    fn a_missing_header_is_refused(source in source(), body in body(), secret in secret(), at in instant()) {
        let verdict = verify(source, &secret, &[], &body, at);
        prop_assert!(matches!(verdict, Err(SignatureError::Missing(_))), "{verdict:?}");
    }

    #[test]
    fn timed_signatures_hold_within_the_tolerance(
        source in source(),
        body in body(),
        secret in secret(),
        at in instant(),
        skew in -DEFAULT_TOLERANCE_SECONDS..=DEFAULT_TOLERANCE_SECONDS,
    ) {
        let headers = sign(source, &secret, &body, at);
        let signed_second = at.millis() / 1000;
        // `now` anywhere in the second that is `skew` seconds from the signed one.
        let now = Timestamp(signed_second.saturating_add(skew).saturating_mul(1000));
        prop_assume!(now.millis() / 1000 == signed_second + skew);
        prop_assert_eq!(verify(source, &secret, &headers, &body, now), Ok(()));
    }

    #[test]
    fn timed_signatures_are_refused_beyond_the_tolerance(
        source in source(),
        body in body(),
        secret in secret(),
        at in (0i64..4_102_444_800_000).prop_map(Timestamp),
        beyond in 1i64..1_000_000,
        future in any::<bool>(),
    ) {
        prop_assume!(timed(source));
        let headers = sign(source, &secret, &body, at);
        let skew = DEFAULT_TOLERANCE_SECONDS + beyond;
        let signed_second = at.millis() / 1000;
        let now_second = if future { signed_second - skew } else { signed_second + skew };
        let verdict = verify(source, &secret, &headers, &body, Timestamp(now_second * 1000));
        prop_assert_eq!(verdict, Err(SignatureError::Stale(now_second - signed_second)));
    }

    /// A timestamp moved by one bit, verified at that very time so that only the MAC can
    /// refuse it: a replay cannot be re-dated.
    #[test]
    fn a_signed_timestamp_cannot_be_moved(
        source in source(),
        body in body(),
        secret in secret(),
        at in instant(),
        bit in 0u8..63,
    ) {
        prop_assume!(timed(source));
        let headers = sign(source, &secret, &body, at);
        let (name, header) = &headers[0];
        let t = at.millis() / 1000;
        let moved = t ^ (1i64 << bit);
        let redated = header.replacen(&format!("t={t},"), &format!("t={moved},"), 1);
        prop_assert_ne!(&redated, header);
        prop_assert_eq!(
            verify(source, &secret, &[(*name, redated)], &body, Timestamp::from_unix_seconds(moved)),
            Err(SignatureError::Mismatch)
        );
    }
}
