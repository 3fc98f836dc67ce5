//! JWK and PEM (public key or certificate) parsing: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::plugin::host::crypto::keys::{from_jwk, from_pem};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = from_jwk(text);
        let _ = from_pem(text);
    }
});
