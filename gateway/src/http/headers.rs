//! Header hygiene for proxying: hop-by-hop headers, client-forged identity
//! headers and credentials never cross the gateway.

use http::header::Entry;
use http::{HeaderMap, HeaderName, HeaderValue, header};

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

/// Headers (besides every `x-forwarded-*`) a client might forge to claim
/// a network position or another client's address.
const FORWARDING: &[&str] = &[
    "forwarded",
    "x-forwarded",
    "x-original-forwarded-for",
    "x-proxyuser-ip",
    "x-real-ip",
    "x-client-ip",
    "client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-cluster-client-ip",
    "x-originating-ip",
    "x-remote-ip",
    "x-remote-addr",
    "x-host",
    "x-original-host",
    "x-http-host-override",
    "x-url-scheme",
    "front-end-https",
];

/// Headers upstream frameworks read as a rewrite of the request's path,
/// method or destination (IIS/ASP.NET, Symfony, Rails/Rack, Express,
/// Spring): the gateway authorized the request it saw, so none of them
/// may change it behind its back.
const OVERRIDES: &[&str] = &[
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-override-url",
    "x-http-destinationurl",
    "x-proxy-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-method",
];

/// Whether the client must not send `name` upstream: a forwarding,
/// override or identity header, also when spelled with `_` for `-` (CGI
/// and WSGI servers merge `X_Forwarded_For` into `X-Forwarded-For`).
fn is_forged(name: &HeaderName) -> bool {
    let name = name.as_str();
    let normalized;
    let name = if name.contains('_') {
        normalized = name.replace('_', "-");
        normalized.as_str()
    } else {
        name
    };
    name.starts_with("x-forwarded-")
        || name.starts_with(IDENTITY_PREFIX)
        // Envoy trusts its own `x-envoy-*` headers (original path,
        // external address, retry and routing overrides) from peers.
        || name.starts_with("x-envoy-")
        || name == super::request_id::HEADER.as_str()
        || FORWARDING.contains(&name)
        || OVERRIDES.contains(&name)
}

/// Removes hop-by-hop headers, including those named in `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Taken out first, as the names they list are removed from the same
    // map. Values share the received bytes (nothing is copied), and only
    // a second `Connection` header needs a list.
    let (first, more): (Option<HeaderValue>, Vec<HeaderValue>) =
        match headers.entry(header::CONNECTION) {
            Entry::Occupied(entry) => {
                let mut values = entry.remove_entry_mult().1;
                (values.next(), values.collect())
            }
            Entry::Vacant(_) => (None, Vec::new()),
        };
    for value in first.iter().chain(&more) {
        let Ok(value) = value.to_str() else { continue };
        for name in value.split(',') {
            // A token that is no header name names nothing to remove.
            headers.remove(name.trim());
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::TRANSFER_ENCODING);
}

/// Removes everything a client must not be able to pass to an upstream:
/// hop-by-hop headers, any `x-portcullis-*` identity header, every
/// forwarding and rewrite header (also spelled with `_`), the gateway's
/// request id, the cookie, and (unless `keep_authorization`) the client's
/// credentials.
pub fn sanitize_request(headers: &mut HeaderMap, keep_authorization: bool) {
    strip_hop_by_hop(headers);
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_forged(name))
        .cloned()
        .collect();
    for name in &forged {
        headers.remove(name);
    }
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

    #[test]
    fn every_connection_header_names_hop_by_hop_headers() {
        let mut headers = HeaderMap::new();
        headers.append(header::CONNECTION, HeaderValue::from_static("x-one"));
        headers.append(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive , X-Two,not a name"),
        );
        for name in ["x-one", "x-two", "keep-alive", "x-three"] {
            headers.insert(name, HeaderValue::from_static("1"));
        }
        strip_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-three"]);
    }

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

    #[test]
    fn every_forwarding_override_and_underscore_variant_is_removed() {
        let forged = [
            "forwarded",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
            "x-forwarded-port",
            "x-forwarded-prefix",
            "x-forwarded-server",
            "x-forwarded-method",
            "x-forwarded-uri",
            "x-real-ip",
            "true-client-ip",
            "x-client-ip",
            "x-original-url",
            "x-rewrite-url",
            "x-http-method-override",
            "x-method-override",
            "x-http-method",
            "x_forwarded_for",
            "X_Forwarded_Host",
            "x_real_ip",
            "x_portcullis_subject",
            "x-portcullis_groups",
            "x_original_url",
            "x_http_method_override",
            "x-request-id",
            "x_request_id",
            "x-forwarded",
            "x-original-forwarded-for",
            "x-envoy-original-path",
            "x-envoy-external-address",
            "x_envoy_internal",
            "x-url-scheme",
            "front-end-https",
        ];
        let mut headers = HeaderMap::new();
        for name in forged {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("forged"),
            );
        }
        headers.insert("x-custom_header", HeaderValue::from_static("kept"));
        headers.insert("user-agent", HeaderValue::from_static("kept"));
        sanitize_request(&mut headers, true);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(headers.contains_key("x-custom_header") && headers.contains_key("user-agent"));
    }
}
