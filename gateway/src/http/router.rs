//! The gateway's request handler: the gateway's own endpoints, then the
//! proxy routes, behind one step that gives each request an id, a tracing
//! span, security headers and a metrics record.

use super::ApiError;
use super::RequestContext;
use super::body_deadline::BodyProgress;
use super::canonical_path::{canonicalize, lower_case};
use super::client_addr::client_addr;
use super::proxy::{self, RouteTable, UpstreamClient};
use super::request_id::{self, RequestId};
use super::served_host::served_host;
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::plugin::PluginRegistry;
use crate::store::Store;
use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use http_body::Body as _;
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;
use tracing::Instrument;

/// Everything request handlers share.
#[derive(Debug)]
pub struct GatewayState {
    /// Loaded plugins.
    pub plugins: Arc<PluginRegistry>,
    /// The store.
    pub store: Store,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Upstream connection pool.
    pub upstream: UpstreamClient,
    /// Proxy routes; swapped on reload.
    pub routes: ArcSwap<RouteTable>,
    /// Limits and timeouts.
    pub server: ServerConfig,
    /// Sessions, tokens, API keys and the user directory.
    pub identity: Arc<crate::identity::Identity>,
    /// Roles, bindings, the resource tree and the policy snapshot.
    pub authz: Arc<crate::authz::Authz>,
    /// The audit log.
    pub audit: Arc<crate::audit::AuditLog>,
    /// The runtime for work a request starts but does not wait for (a
    /// policy rollout), so it does not hold up the connections of the
    /// serving thread the request arrived on.
    pub background: tokio::runtime::Handle,
}

/// What the gateway decides about every request before routing it.
#[derive(Debug, Clone)]
struct RequestPolicy {
    hsts: Option<HeaderValue>,
    trusted_proxies: Arc<[ipnet::IpNet]>,
    public_host: Option<HeaderValue>,
    body_read_timeout: std::time::Duration,
    case_insensitive_paths: bool,
}

/// The handler of every request the gateway serves.
///
/// Every request first gets an id, a tracing span, its client address and
/// served host, and its canonical path (see `canonical_path`); only then
/// is it routed, so the API and the proxy both match, authorize and
/// forward the same canonical path. A path under one of the gateway's own
/// endpoints' first segments goes to the endpoints' router (which falls
/// back to the proxy for a path it does not serve); any other path goes
/// straight to the proxy routes.
#[derive(Clone)]
pub struct Gateway(Arc<GatewayParts>);

struct GatewayParts {
    policy: RequestPolicy,
    state: Arc<GatewayState>,
    endpoints: Router,
    /// The first path segments of the gateway's own endpoints.
    endpoint_roots: Box<[&'static str]>,
}

/// The gateway's endpoints outside the API (no route may take their paths).
pub const OWN_ENDPOINTS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The first segment of `path` (`api` for `/api/v1/orgs`).
fn first_segment(path: &str) -> &str {
    let path = path.strip_prefix('/').unwrap_or(path);
    path.split('/').next().unwrap_or(path)
}

impl Gateway {
    /// The handler over `state`.
    pub fn new(state: Arc<GatewayState>) -> Self {
        // Computed once here, not on every response.
        let hsts = (state.server.hsts_max_age_secs > 0)
            .then(|| {
                format!(
                    "max-age={}; includeSubDomains",
                    state.server.hsts_max_age_secs
                )
            })
            .and_then(|value| HeaderValue::from_str(&value).ok());
        let policy = RequestPolicy {
            hsts,
            trusted_proxies: state.server.trusted_proxies.clone().into(),
            // Validated as a plain `host[:port]`, which is always a valid
            // header value.
            public_host: state
                .server
                .public_host
                .as_deref()
                .and_then(|host| HeaderValue::from_str(host).ok()),
            body_read_timeout: std::time::Duration::from_millis(state.server.body_read_timeout_ms),
            case_insensitive_paths: state.server.case_insensitive_paths,
        };
        let [healthz_path, readyz_path, metrics_path] = OWN_ENDPOINTS;
        let endpoints = Router::new()
            .route(healthz_path, get(healthz))
            .route(readyz_path, get(readyz))
            .route(metrics_path, get(metrics))
            .merge(crate::api::routes(&state))
            .fallback(proxy_fallback)
            .with_state(state.clone());
        let mut endpoint_roots: Vec<&'static str> = OWN_ENDPOINTS
            .into_iter()
            .chain(crate::api::ENDPOINTS.iter().map(|endpoint| endpoint.path))
            .map(first_segment)
            .collect();
        endpoint_roots.sort_unstable();
        endpoint_roots.dedup();
        Self(Arc::new(GatewayParts {
            policy,
            state,
            endpoints,
            endpoint_roots: endpoint_roots.into(),
        }))
    }

    /// Answers `request`, which arrived from `peer`.
    pub async fn serve(&self, request: Request, peer: SocketAddr) -> Response {
        let policy = &self.0.policy;
        let id = RequestId::new();
        let span = tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path());
        let http1 = request.version() <= http::Version::HTTP_11;
        let mut body = BodyProgress::default();
        let mut response = request_id::scope(
            id,
            async {
                let has_body = !request.body().is_end_stream();
                match prepare(policy, request, id, peer) {
                    Ok((request, progress)) => {
                        body = progress;
                        self.route(request).await
                    }
                    Err(error) => {
                        tracing::info!(error = ?error, "request refused before routing");
                        if has_body {
                            body = BodyProgress::NeverRead;
                        }
                        error.into_response()
                    }
                }
            }
            .instrument(span),
        )
        .await;
        let refused = response.status().is_client_error() || response.status().is_server_error();
        let headers = response.headers_mut();
        // A refusal sent before the request's body was read: what is left of
        // the body is still on its way, so this connection carries no further
        // request. Saying so keeps a keep-alive client from sending its next
        // request on a connection the server is about to close.
        if http1 && refused && body.unread() {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let http::header::Entry::Vacant(entry) = headers.entry(request_id::HEADER) {
            entry.insert(id.header_value());
        }
        if let Some(hsts) = &policy.hsts {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        response
    }

    /// The gateway's endpoints, or the proxy routes.
    async fn route(&self, request: Request) -> Response {
        let root = first_segment(request.uri().path());
        if self.0.endpoint_roots.contains(&root) {
            match self.0.endpoints.clone().oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        } else {
            proxy::handle(&self.0.state, request).await
        }
    }
}

async fn proxy_fallback(State(state): State<Arc<GatewayState>>, request: Request) -> Response {
    proxy::handle(&state, request).await
}

/// The request as the rest of the gateway sees it: with its id, client
/// address and served host, and its path in canonical form.
fn prepare(
    policy: &RequestPolicy,
    request: Request,
    id: RequestId,
    peer: SocketAddr,
) -> Result<(Request, BodyProgress), ApiError> {
    let (mut parts, body) = request.into_parts();
    let client = client_addr(peer, &parts.headers, &policy.trusted_proxies);
    let host = served_host(&parts, policy.public_host.as_ref())
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    parts.extensions.insert(RequestContext { id, client, host });
    let mut canonical = canonicalize(parts.uri.path())?;
    if policy.case_insensitive_paths
        && let std::borrow::Cow::Owned(lower) = lower_case(&canonical)
    {
        canonical = std::borrow::Cow::Owned(lower);
    }
    if let std::borrow::Cow::Owned(canonical) = canonical
        && canonical != parts.uri.path()
    {
        let target = match parts.uri.query() {
            Some(query) => format!("{canonical}?{query}"),
            None => canonical,
        };
        let mut uri = parts.uri.clone().into_parts();
        uri.path_and_query = Some(
            target
                .parse()
                .map_err(|_| ApiError::BadRequest("invalid request target".into()))?,
        );
        parts.uri = http::Uri::from_parts(uri)
            .map_err(|_| ApiError::BadRequest("invalid request target".into()))?;
    }
    let (body, progress) = super::body_deadline::with_deadline(body, policy.body_read_timeout);
    Ok((Request::from_parts(parts, body), progress))
}

async fn healthz(State(state): State<Arc<GatewayState>>) -> Response {
    state.metrics.request("healthz", 200);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

async fn readyz(State(state): State<Arc<GatewayState>>) -> Response {
    let store = state.store.ping().await;
    let authorizer = state.plugins.authorizer().is_some() || state.routes.load().is_empty();
    // A degraded audit log refuses changes but not reads or proxied
    // traffic, so it does not take the gateway out of rotation; it is
    // reported for whoever watches.
    let audit = if state.store.audit().is_degraded() {
        "degraded"
    } else {
        "ok"
    };
    let ready = store && authorizer;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    state.metrics.request("readyz", status.as_u16());
    let body = serde_json::json!({ "status": if ready { "ready" } else { "not_ready" }, "store": store, "authorizer": authorizer, "audit": audit });
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<Arc<GatewayState>>) -> Response {
    state.metrics.set_audit(
        state.store.audit().is_degraded(),
        state.store.audit().unsigned(),
        state.audit.events().dropped(),
        state.audit.events().suppressed(),
    );
    state.metrics.set_sso_certificates_expiring(
        state
            .identity
            .sso_certificates_expiring(crate::identity::now()),
    );
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        Body::from(state.metrics.render()),
    )
        .into_response()
}
