//! API key parsing: never panics; a parsed key re-assembles to its input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::identity::api_key::parse;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse(text);
    }
});
