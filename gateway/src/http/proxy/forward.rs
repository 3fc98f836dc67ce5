//! Forwarding to upstreams over pooled keep-alive connections.

use super::ProxyRoute;
use crate::http::ApiError;
use crate::http::ServedHost;
use crate::http::headers::{IDENTITY_PREFIX, sanitize_request, strip_hop_by_hop};
use crate::http::request_id;
use crate::http::router::ClientAddr;
use crate::plugin::Principal;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri, header};
use http_body_util::{BodyExt, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

type ProxyBody =
    http_body_util::combinators::UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// An HTTP/1.1 client for upstreams, keeping idle connections for reuse
/// in one pool per thread: a connection is driven by the event loop of the
/// thread that opened it, so a pool shared by the serving threads would
/// hand most requests, and their responses, from one thread to another.
#[derive(Clone, Debug, Default)]
pub struct UpstreamClient {
    _pooled_per_thread: (),
}

thread_local! {
    static POOL: Client<HttpConnector, ProxyBody> = pool();
}

/// A client keeping idle connections per upstream for reuse.
fn pool() -> Client<HttpConnector, ProxyBody> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector)
}

fn identity_header(name: &str) -> HeaderName {
    HeaderName::from_bytes(format!("{IDENTITY_PREFIX}{name}").as_bytes())
        .unwrap_or(HeaderName::from_static("x-portcullis-invalid"))
}

/// Sets the identity headers upstreams may trust. A value that cannot be a
/// header (control characters) fails the request rather than being dropped.
fn set_identity(
    headers: &mut HeaderMap,
    principal: &Principal,
    request_id: &str,
) -> Result<(), ApiError> {
    let mut set = |name: &str, value: &str| -> Result<(), ApiError> {
        let value = HeaderValue::from_str(value).map_err(|_| {
            tracing::error!(
                header = name,
                "identity value is not a valid header value; refusing"
            );
            ApiError::Internal
        })?;
        headers.insert(identity_header(name), value);
        Ok(())
    };
    set("subject", &principal.subject)?;
    set("issuer", &principal.issuer)?;
    if let Some(email) = &principal.email {
        set("email", email)?;
    }
    if !principal.groups.is_empty() {
        set("groups", &principal.groups.join(","))?;
    }
    if !principal.amr.is_empty() {
        set("amr", &principal.amr.join(","))?;
    }
    let id = HeaderValue::from_str(request_id).map_err(|_| ApiError::Internal)?;
    headers.insert(request_id::HEADER, id);
    Ok(())
}

impl UpstreamClient {
    /// The client; its pools are made on each thread's first request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forwards `request` on `route` as `principal`.
    pub async fn forward(
        &self,
        route: &ProxyRoute,
        request: Request<Body>,
        principal: &Principal,
        request_id: &str,
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
        // The host the gateway served, never a raw client value.
        let forwarded_host = parts
            .extensions
            .get::<ServedHost>()
            .and_then(|host| host.0.as_deref())
            .and_then(|host| HeaderValue::from_str(host).ok());
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
        let client_ip = parts
            .extensions
            .get::<ClientAddr>()
            .map(|addr| addr.0.ip().to_string());
        if let Some(ip) = client_ip.and_then(|ip| HeaderValue::from_str(&ip).ok()) {
            parts
                .headers
                .insert(HeaderName::from_static("x-forwarded-for"), ip);
        }
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = format!("{}{}", route.upstream, path)
            .parse::<Uri>()
            .map_err(|_| ApiError::BadRequest("invalid request target".into()))?;
        parts.version = http::Version::HTTP_11;
        parts.headers.remove(header::HOST);

        let body: ProxyBody = Limited::new(body, max_body_bytes).boxed_unsync();
        let upstream = Request::from_parts(parts, body);
        let response =
            match tokio::time::timeout(route.timeout, POOL.with(|client| client.request(upstream)))
                .await
            {
                Err(_) => return Err(ApiError::UpstreamTimeout),
                Ok(Err(error)) => {
                    let too_large = std::error::Error::source(&error)
                        .and_then(|e| e.downcast_ref::<hyper::Error>())
                        .and_then(std::error::Error::source)
                        .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
                    if too_large {
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
