//! Signatures, for any body, secret and time: signing then verifying round-trips, and any
//! one-bit change of the body, the signature or the signed timestamp is refused.
//!
//! `PROPTEST_CASES=10000 cargo nextest run -p vigie-core --test signature_props` runs longer.

use proptest::prelude::*;
use vigie_core::Timestamp;
use vigie_core::signature::{
    GENERIC_TOLERANCE_SECONDS, SignatureError, sign_generic, sign_meta, verify_generic, verify_meta,
};

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

/// The hex MAC of a header (`sha256=<hex>` or `t=..,v1=<hex>`).
fn mac_of(header: &str) -> &str {
    header
        .rsplit_once('=')
        .map(|(_, hex)| hex)
        .expect("signed headers end in =<hex>")
}

fn flip_mac_bit(header: &str, byte: usize, bit: u8) -> String {
    let hex = mac_of(header);
    let mut mac = hex::decode(hex).expect("hex");
    let byte = byte % mac.len();
    mac[byte] ^= 1 << bit;
    format!(
        "{}{}",
        &header[..header.len() - hex.len()],
        hex::encode(mac)
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn meta_signatures_round_trip(body in body(), secret in secret()) {
        let header = sign_meta(&secret, &body);
        prop_assert_eq!(verify_meta(Some(&header), &secret, &body), Ok(()));
    }

    #[test]
    fn meta_refuses_any_one_bit_change_of_the_body(
        body in prop::collection::vec(any::<u8>(), 1..1024),
        secret in secret(),
        index in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let header = sign_meta(&secret, &body);
        let tampered = flip(&body, index.index(body.len()), bit);
        prop_assert_eq!(
            verify_meta(Some(&header), &secret, &tampered),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn meta_refuses_any_one_bit_change_of_the_signature(
        body in body(),
        secret in secret(),
        byte in 0usize..32,
        bit in 0u8..8,
    ) {
        let header = flip_mac_bit(&sign_meta(&secret, &body), byte, bit);
        prop_assert_eq!(
            verify_meta(Some(&header), &secret, &body),
            Err(SignatureError::Mismatch)
        );
    }

    /// Flipping a bit of the header's text fails too, unless it only changes the case of
    /// a hex digit, which writes the same signature.
    #[test]
    fn meta_refuses_any_one_bit_change_of_the_header(
        body in body(),
        secret in secret(),
        index in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let header = sign_meta(&secret, &body);
        let i = index.index(header.len());
        if let Some(tampered) = flip_header(&header, i, bit) {
            let verdict = verify_meta(Some(&tampered), &secret, &body);
            if is_hex_case_change(header.as_bytes()[i], tampered.as_bytes()[i]) && i >= "sha256=".len() {
                prop_assert_eq!(verdict, Ok(()));
            } else {
                prop_assert!(verdict.is_err(), "{tampered:?} was accepted");
            }
        }
    }

    #[test]
    fn meta_refuses_another_secret(
        body in body(),
        secret in secret(),
        other in secret(),
    ) {
        prop_assume!(secret != other);
        let header = sign_meta(&secret, &body);
        prop_assert_eq!(
            verify_meta(Some(&header), &other, &body),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn generic_signatures_round_trip_within_the_tolerance(
        body in body(),
        secret in secret(),
        at in instant(),
        skew in -GENERIC_TOLERANCE_SECONDS..=GENERIC_TOLERANCE_SECONDS,
    ) {
        let header = sign_generic(&secret, &body, at);
        let signed_second = at.millis() / 1000;
        // `now` anywhere in the second that is `skew` seconds from the signed one.
        let now = Timestamp(signed_second.saturating_add(skew).saturating_mul(1000));
        prop_assume!(now.millis() / 1000 == signed_second + skew);
        prop_assert_eq!(verify_generic(Some(&header), &secret, &body, now), Ok(()));
    }

    #[test]
    fn generic_refuses_times_beyond_the_tolerance(
        body in body(),
        secret in secret(),
        at in (0i64..4_102_444_800_000).prop_map(Timestamp),
        beyond in 1i64..1_000_000,
        future in any::<bool>(),
    ) {
        let header = sign_generic(&secret, &body, at);
        let skew = GENERIC_TOLERANCE_SECONDS + beyond;
        let signed_second = at.millis() / 1000;
        let now_second = if future { signed_second - skew } else { signed_second + skew };
        let verdict = verify_generic(Some(&header), &secret, &body, Timestamp(now_second * 1000));
        prop_assert_eq!(verdict, Err(SignatureError::Stale(now_second - signed_second)));
    }

    #[test]
    fn generic_refuses_any_one_bit_change_of_the_body(
        body in prop::collection::vec(any::<u8>(), 1..1024),
        secret in secret(),
        at in instant(),
        index in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let header = sign_generic(&secret, &body, at);
        let tampered = flip(&body, index.index(body.len()), bit);
        prop_assert_eq!(
            verify_generic(Some(&header), &secret, &tampered, at),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn generic_refuses_any_one_bit_change_of_the_signature(
        body in body(),
        secret in secret(),
        at in instant(),
        byte in 0usize..32,
        bit in 0u8..8,
    ) {
        let header = flip_mac_bit(&sign_generic(&secret, &body, at), byte, bit);
        prop_assert_eq!(
            verify_generic(Some(&header), &secret, &body, at),
            Err(SignatureError::Mismatch)
        );
    }

    /// A timestamp moved by one bit, verified at that very time so that only the MAC can
    /// refuse it: a replay cannot be re-dated.
    #[test]
    fn generic_refuses_any_one_bit_change_of_the_timestamp(
        body in body(),
        secret in secret(),
        at in instant(),
        bit in 0u8..63,
    ) {
        let header = sign_generic(&secret, &body, at);
        let t = at.millis() / 1000;
        let moved = t ^ (1i64 << bit);
        let redated = header.replacen(&format!("t={t},"), &format!("t={moved},"), 1);
        prop_assert_ne!(&redated, &header);
        prop_assert_eq!(
            verify_generic(Some(&redated), &secret, &body, Timestamp::from_unix_seconds(moved)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn generic_refuses_any_one_bit_change_of_the_header(
        body in body(),
        secret in secret(),
        at in instant(),
        index in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let header = sign_generic(&secret, &body, at);
        let i = index.index(header.len());
        if let Some(tampered) = flip_header(&header, i, bit) {
            let verdict = verify_generic(Some(&tampered), &secret, &body, at);
            let in_mac = i >= header.len() - mac_of(&header).len();
            if in_mac && is_hex_case_change(header.as_bytes()[i], tampered.as_bytes()[i]) {
                prop_assert_eq!(verdict, Ok(()));
            } else {
                prop_assert!(verdict.is_err(), "{tampered:?} was accepted");
            }
        }
    }
}
