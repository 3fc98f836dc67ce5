//! Header hygiene for proxying: hop-by-hop headers, client-forged identity
//! headers and credentials never cross the gateway.

use http::{HeaderMap, HeaderName, header};

/// Prefix of the identity headers the gateway sets for upstreams.
pub const IDENTITY_PREFIX: &str = "x-portcullis-";

/// Headers that belong to one connection (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

/// Headers the client might forge to claim a network position.
const FORWARDING: [HeaderName; 5] = [
    header::FORWARDED,
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-real-ip"),
];

/// Removes hop-by-hop headers, including those named in `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    headers.remove(header::TRANSFER_ENCODING);
}

/// Removes everything a client must not be able to pass to an upstream:
/// hop-by-hop headers, any `x-portcullis-*` identity header, forwarding
/// headers, the gateway's request id, and (unless `keep_authorization`)
/// the client's credentials.
pub fn sanitize_request(headers: &mut HeaderMap, keep_authorization: bool) {
    strip_hop_by_hop(headers);
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(IDENTITY_PREFIX))
        .cloned()
        .collect();
    for name in forged.iter().chain(FORWARDING.iter()) {
        headers.remove(name);
    }
    headers.remove(super::request_id::HEADER);
    headers.remove(header::COOKIE);
    if !keep_authorization {
        headers.remove(header::AUTHORIZATION);
    }
}

/// Headers never shown to plugins: they carry credentials.
pub fn is_credential_header(name: &HeaderName) -> bool {
    *name == header::AUTHORIZATION
        || *name == header::COOKIE
        || *name == header::PROXY_AUTHORIZATION
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn forged_identity_and_hop_by_hop_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert("x-portcullis-subject", HeaderValue::from_static("admin"));
        headers.insert("X-Portcullis-Groups", HeaderValue::from_static("admins"));
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret-hop"),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        headers.insert("accept", HeaderValue::from_static("*/*"));
        sanitize_request(&mut headers, false);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert!(headers.contains_key("accept"));
    }
}
