//! The hand-written DER reader: never panics, never reads out of bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::plugin::host::crypto::der;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok((_, contents, after)) = der::read(rest) {
        assert!(contents.len() <= rest.len() && after.len() < rest.len());
        let _ = der::read(contents);
        rest = after;
    }
});
