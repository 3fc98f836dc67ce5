//! Forwarding to upstreams over pooled keep-alive connections.

use super::ProxyRoute;
use crate::http::ApiError;
use crate::http::ServedHost;
use crate::http::headers::{sanitize_request, strip_hop_by_hop};
use crate::http::request_id::{self, RequestId};
use crate::http::router::ClientAddr;
use crate::plugin::Principal;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri, header};
use http_body_util::{BodyExt, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;

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
    static POOL: Client<Connector, ProxyBody> = pool();
}

/// A client keeping idle connections per upstream for reuse.
fn pool() -> Client<Connector, ProxyBody> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .pool_idle_timeout(Duration::from_secs(60))
        .build(Connector(connector))
}

/// Connects as [`HttpConnector`] does, but reports nothing about the
/// connection: the client would otherwise copy the peer's and its own
/// address into every response's extensions, allocations per request that
/// nothing reads.
#[derive(Clone)]
struct Connector(HttpConnector);

/// An upstream TCP connection that carries no connection information.
struct UpstreamConnection(TokioIo<TcpStream>);

impl tower::Service<Uri> for Connector {
    type Response = UpstreamConnection;
    type Error = <HttpConnector as tower::Service<Uri>>::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<UpstreamConnection, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, target: Uri) -> Self::Future {
        let connecting = self.0.call(target);
        Box::pin(async move { connecting.await.map(UpstreamConnection) })
    }
}

impl Connection for UpstreamConnection {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for UpstreamConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for UpstreamConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
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

/// The upstream target: the route's upstream with the request's (already
/// canonical) path and query, reusing both without copying text.
fn upstream_uri(route: &ProxyRoute, uri: Uri) -> Result<Uri, ApiError> {
    let mut parts = uri.into_parts();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(route.upstream.clone());
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(PathAndQuery::from_static("/"));
    }
    Uri::from_parts(parts).map_err(|_| ApiError::BadRequest("invalid request target".into()))
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
            .and_then(|addr| ip_header_value(addr.0.ip()));
        if let Some(ip) = client_ip {
            parts
                .headers
                .insert(HeaderName::from_static("x-forwarded-for"), ip);
        }
        parts.uri = upstream_uri(route, std::mem::take(&mut parts.uri))?;
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
