//! The canonical path: never panics, and what it returns is a fixed point
//! with no dot or empty segments, no structural escapes and no controls.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::http::canonical_path::canonicalize;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(canonical) = canonicalize(path) {
        assert_eq!(canonicalize(&canonical).as_deref(), Ok(&*canonical));
        assert!(canonical.starts_with('/'));
        let lower = canonical.to_ascii_lowercase();
        for banned in ["%2f", "%5c", "%3b", "%3f", "%23", "%25", "%00", ";", "\\", "//"] {
            assert!(!lower.contains(banned), "{canonical}");
        }
        for segment in canonical[1..].split('/') {
            assert!(segment != "." && segment != "..", "{canonical}");
        }
        assert!(!canonical.bytes().any(|b| b < 0x20 || b == 0x7f));
    }
});
