//! Forwarding to upstreams over pooled keep-alive connections.

use super::ProxyRoute;
use super::upstream_pool::{self, UpstreamBody};
use crate::http::ApiError;
use crate::http::RequestContext;
use crate::http::error::caused_by;
use crate::http::headers::{sanitize_request, strip_hop_by_hop};
use crate::http::request_id::{self, RequestId};
use crate::plugin::Principal;
use axum::body::Body;
use axum::response::Response;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri, header};
use http_body_util::{BodyExt, Limited};

/// Forwards requests to upstreams over keep-alive connections pooled per
/// serving thread (see the `upstream_pool` module).
#[derive(Clone, Debug, Default)]
pub struct UpstreamClient {
    _pooled_per_thread: (),
}

/// The identity headers upstreams may trust (all under
/// [`IDENTITY_PREFIX`](crate::http::headers::IDENTITY_PREFIX)).
mod identity_headers {
    use http::HeaderName;
    pub const SUBJECT: HeaderName = HeaderName::from_static("x-portcullis-subject");
    pub const ISSUER: HeaderName = HeaderName::from_static("x-portcullis-issuer");
    pub const EMAIL: HeaderName = HeaderName::from_static("x-portcullis-email");
    pub const GROUPS: HeaderName = HeaderName::from_static("x-portcullis-groups");
    pub const AMR: HeaderName = HeaderName::from_static("x-portcullis-amr");
}

/// Sets the identity headers upstreams may trust. A value that cannot be a
/// header (control characters) fails the request rather than being dropped.
fn set_identity(
    headers: &mut HeaderMap,
    principal: &Principal,
    request_id: RequestId,
) -> Result<(), ApiError> {
    let mut set = |name: HeaderName, value: &str| -> Result<(), ApiError> {
        let value = HeaderValue::from_str(value).map_err(|_| {
            tracing::error!(
                header = name.as_str(),
                "identity value is not a valid header value; refusing"
            );
            ApiError::Internal
        })?;
        headers.insert(name, value);
        Ok(())
    };
    set(identity_headers::SUBJECT, &principal.subject)?;
    set(identity_headers::ISSUER, &principal.issuer)?;
    if let Some(email) = &principal.email {
        set(identity_headers::EMAIL, email)?;
    }
    if !principal.groups.is_empty() {
        set(identity_headers::GROUPS, &principal.groups.join(","))?;
    }
    if !principal.amr.is_empty() {
        set(identity_headers::AMR, &principal.amr.join(","))?;
    }
    headers.insert(request_id::HEADER, request_id.header_value());
    Ok(())
}

/// `ip` as a header value, written without an intermediate string.
fn ip_header_value(ip: std::net::IpAddr) -> Option<HeaderValue> {
    use std::io::Write as _;
    // The longest text form of an IPv6 address is 45 bytes.
    let mut buffer = [0u8; 48];
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    write!(cursor, "{ip}").ok()?;
    let len = usize::try_from(cursor.position()).ok()?;
    HeaderValue::from_bytes(&buffer[..len]).ok()
}

/// The request target sent upstream: the request's own (already
/// canonical) path and query in origin form (`/path?query`), reused
/// without copying text.
fn upstream_target(uri: Uri) -> Uri {
    let path_and_query = uri
        .into_parts()
        .path_and_query
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Uri::from(path_and_query)
}

impl UpstreamClient {
    /// The client; each thread's pool is made on its first request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forwards `request` on `route` as `principal`.
    pub async fn forward(
        &self,
        route: &ProxyRoute,
        request: Request<Body>,
        principal: &Principal,
        request_id: RequestId,
        max_body_bytes: usize,
    ) -> Result<Response, ApiError> {
        let (mut parts, body) = request.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > max_body_bytes) {
            return Err(ApiError::PayloadTooLarge {
                limit: max_body_bytes,
            });
        }
        let context = RequestContext::of(&parts.extensions);
        // The host the gateway served, never a raw client value.
        let forwarded_host = context.and_then(|c| c.host.header_value().cloned());
        sanitize_request(&mut parts.headers, route.forward_authorization);
        set_identity(&mut parts.headers, principal, request_id)?;
        parts.headers.insert(
            HeaderName::from_static("x-forwarded-proto"),
            HeaderValue::from_static("https"),
        );
        if let Some(host) = forwarded_host {
            parts
                .headers
                .insert(HeaderName::from_static("x-forwarded-host"), host);
        }
        // The client's address as the gateway decided it (the TCP peer, or
        // the hop a trusted proxy named); any client-supplied chain was
        // removed by `sanitize_request`.
        let client_ip = context.and_then(|c| ip_header_value(c.client.ip()));
        if let Some(ip) = client_ip {
            parts
                .headers
                .insert(HeaderName::from_static("x-forwarded-for"), ip);
        }
        parts.uri = upstream_target(std::mem::take(&mut parts.uri));
        parts.version = http::Version::HTTP_11;
        parts
            .headers
            .insert(header::HOST, route.upstream_host.clone());

        let body: UpstreamBody = Limited::new(body, max_body_bytes).boxed_unsync();
        let upstream = Request::from_parts(parts, body);
        let sent = upstream_pool::send(&route.upstream, upstream);
        let response = match tokio::time::timeout(route.timeout, sent).await {
            Err(_) => return Err(ApiError::UpstreamTimeout),
            Ok(Err(error)) => {
                if caused_by::<http_body_util::LengthLimitError>(&error) {
                    return Err(ApiError::PayloadTooLarge {
                        limit: max_body_bytes,
                    });
                }
                if crate::http::body_deadline::is_deadline(&error) {
                    return Err(ApiError::BodyTimeout);
                }
                tracing::warn!(route = %route.name, error = %error, "upstream request failed");
                return Err(ApiError::UpstreamUnavailable);
            }
            Ok(Ok(response)) => response,
        };
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, Body::new(body)))
    }
}
