//! The router: the gateway's own endpoints, then the proxy routes, all
//! behind one middleware that gives each request an id, a tracing span,
//! security headers and a metrics record.

use super::proxy::{self, RouteTable, UpstreamClient};
use super::request_id::{self, RequestId};
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
use std::net::SocketAddr;
use std::sync::Arc;
use tracing::Instrument;

/// The client's address, set per connection by the server.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

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
}

/// Builds the router over `state`.
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
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::api::routes())
        .fallback(proxy::handle)
        .layer(middleware::from_fn_with_state(hsts, around_request))
        .with_state(state)
}

async fn around_request(
    State(hsts): State<Option<HeaderValue>>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = RequestId::new();
    let span = tracing::info_span!("request", id = %id.0, method = %request.method(), path = %request.uri().path());
    let id_header = HeaderValue::from_str(&id.0).ok();
    let id_text = id.0.clone();
    request.extensions_mut().insert(id);
    let mut response = request_id::scope(id_text, next.run(request).instrument(span)).await;
    let headers = response.headers_mut();
    if let Some(id) = id_header {
        headers.entry(request_id::HEADER).or_insert(id);
    }
    if let Some(hsts) = hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
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
    let ready = store && authorizer;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    state.metrics.request("readyz", status.as_u16());
    let body = serde_json::json!({ "status": if ready { "ready" } else { "not_ready" }, "store": store, "authorizer": authorizer });
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<Arc<GatewayState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        Body::from(state.metrics.render()),
    )
        .into_response()
}
