//! Access-token parsing and verification: never panics, and nothing but a
//! token the key set issued verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::identity::access_token::{SigningKeys, unverified_issuer};
use std::sync::OnceLock;

fn keys() -> &'static SigningKeys {
    static KEYS: OnceLock<SigningKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = SigningKeys::new("portcullis", "portcullis-api");
        if keys.rotate().is_err() {
            std::process::abort();
        }
        keys
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = unverified_issuer(token);
    assert!(keys().verify(token, 1_800_000_000).is_err(), "a forged token verified");
});
