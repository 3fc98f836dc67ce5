//! Client address from X-Forwarded-For: never panics, and with no trusted
//! proxies the peer is always the answer.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use portcullis::http::client_addr::client_addr;
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", value);
    let peer: SocketAddr = ([127, 0, 0, 1], 4000).into();
    assert_eq!(client_addr(peer, &headers, &[]), peer);
    let trusted = ["127.0.0.0/8".parse().unwrap_or_else(|_| std::process::abort())];
    let _ = client_addr(peer, &headers, &trusted);
});
