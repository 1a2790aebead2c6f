//! Intake on any body with a valid signature: the first byte picks the webhook, the rest
//! is the body. See docs/testing.md.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigie_fuzz::intake_signed(data));
