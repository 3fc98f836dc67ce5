//! The router: the gateway's own endpoints, then the proxy routes, all
//! behind one middleware that gives each request an id, a tracing span,
//! security headers and a metrics record.

use super::ApiError;
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
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use http_body::Body as _;
use std::sync::Arc;
use tower::Layer;
use tracing::Instrument;

pub use super::client_addr::{ClientAddr, PeerAddr};

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
    public_host: Option<Arc<str>>,
    body_read_timeout: std::time::Duration,
    case_insensitive_paths: bool,
}

/// Builds the router over `state`.
///
/// Every request first gets an id, a tracing span, its client address and
/// served host, and its canonical path (see `canonical_path`); only then
/// is it routed, so the API and the proxy both match, authorize and
/// forward the same canonical path.
pub fn build_router(state: Arc<GatewayState>) -> Router {
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
        public_host: state.server.public_host.as_deref().map(Arc::from),
        body_read_timeout: std::time::Duration::from_millis(state.server.body_read_timeout_ms),
        case_insensitive_paths: state.server.case_insensitive_paths,
    };
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::api::routes(&state))
        .fallback(proxy::handle)
        .with_state(state);
    // Wrapping the whole router (not `Router::layer`, which runs after
    // routing) lets the canonical path be what routes are matched on.
    let service = middleware::from_fn_with_state(policy, around_request).layer(routes);
    Router::new().fallback_service(service)
}

async fn around_request(
    State(policy): State<RequestPolicy>,
    request: Request,
    next: Next,
) -> Response {
    let id = RequestId::new();
    let span = tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path());
    let http1 = request.version() <= http::Version::HTTP_11;
    let mut body = BodyProgress::default();
    let run = async {
        let has_body = !request.body().is_end_stream();
        match prepare(&policy, request, id) {
            Ok((request, progress)) => {
                body = progress;
                next.run(request).await
            }
            Err(error) => {
                tracing::info!(error = ?error, "request refused before routing");
                if has_body {
                    body = BodyProgress::NeverRead;
                }
                error.into_response()
            }
        }
    };
    let mut response = request_id::scope(id, run.instrument(span)).await;
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
    if let Some(hsts) = policy.hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The request as the rest of the gateway sees it: with its id, client
/// address and served host, and its path in canonical form.
fn prepare(
    policy: &RequestPolicy,
    request: Request,
    id: RequestId,
) -> Result<(Request, BodyProgress), ApiError> {
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(id);
    if let Some(PeerAddr(peer)) = parts.extensions.get::<PeerAddr>().copied() {
        let client = client_addr(peer, &parts.headers, &policy.trusted_proxies);
        parts.extensions.insert(ClientAddr(client));
    }
    let host = served_host(&parts, policy.public_host.as_deref())
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    parts.extensions.insert(host);
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
