//! Cookie and Authorization header parsing: never panics.
#![no_main]

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use portcullis::http::identify::{credential, session_cookie};
use portcullis::identity::sessions::split_cookie;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::COOKIE, value.clone());
    headers.insert(header::AUTHORIZATION, value);
    if let Some(cookie) = session_cookie(&headers, "portcullis_session") {
        let _ = split_cookie(&cookie);
    }
    let _ = credential(&headers);
});
