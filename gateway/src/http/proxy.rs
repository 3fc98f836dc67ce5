//! The reverse proxy: match a route, identify the caller, ask the
//! authorizer, and only then forward — with identity headers set by the
//! gateway and anything the client forged removed.

mod forward;
mod route_table;
mod upstream_pool;

pub use forward::UpstreamClient;
pub use route_table::{
    Lookup, ORG_PLACEHOLDER, ProxyRoute, ResourceName, RouteTable, RouteTableError,
};

use super::identify;
use super::{ApiError, RequestContext, RequestId};
use crate::http::router::GatewayState;
use crate::identity::Caller;
use axum::body::Body;
use axum::response::Response;
use http::Request;
use std::sync::Arc;

/// Handles a request no gateway endpoint claimed: the proxy routes.
pub async fn handle(state: &GatewayState, request: Request<Body>) -> Response {
    let request_id = RequestContext::of(request.extensions())
        .map(|c| c.id)
        .unwrap_or_default();
    match proxy(state, request, request_id).await {
        Ok(response) => response,
        Err((route, error)) => {
            let status = error.status().as_u16();
            match route {
                Some(route) => state
                    .metrics
                    .route_request(&route.counters, &route.name, status),
                None => state.metrics.request("unrouted", status),
            }
            error.into_response_for(request_id.as_str())
        }
    }
}

/// A refusal, and the route it happened on (`None`: no route matched).
type Failure = (Option<Arc<ProxyRoute>>, ApiError);

async fn proxy(
    state: &GatewayState,
    request: Request<Body>,
    request_id: RequestId,
) -> Result<Response, Failure> {
    // The path is already canonical (see `canonical_path`): what is
    // matched here is exactly what is forwarded.
    let unrouted = |error| (None, error);
    let table = state.routes.load();
    let (route, resource) = match table.find(request.method(), request.uri().path()) {
        Lookup::Found(route, resource) => (route, resource),
        Lookup::MethodNotAllowed(allowed) => {
            return Err(unrouted(ApiError::MethodNotAllowed(allowed)));
        }
        Lookup::NoRoute => return Err(unrouted(ApiError::NotFound)),
    };
    let fail = |error| (Some(route.clone()), error);

    // Only the head is held across plugin calls; the body streams later.
    let (parts, body) = request.into_parts();
    let caller = authenticate(state, &route, &parts).await.map_err(fail)?;
    authorize(state, &route, &caller, resource)
        .await
        .map_err(fail)?;
    let principal = caller.principal;

    let request = Request::from_parts(parts, body);
    let response = state
        .upstream
        .forward(
            &route,
            request,
            &principal,
            request_id,
            state.server.max_body_bytes,
        )
        .await
        .map_err(fail)?;
    state
        .metrics
        .route_request(&route.counters, &route.name, response.status().as_u16());
    Ok(response)
}

async fn authenticate(
    state: &GatewayState,
    route: &ProxyRoute,
    request: &http::request::Parts,
) -> Result<Caller, ApiError> {
    match identify::caller(state, request).await? {
        Some(caller) => {
            caller.require_full_access()?;
            Ok(caller)
        }
        None if route.allow_anonymous => Ok(Caller::outside_directory(identify::anonymous())),
        None => Err(ApiError::Unauthenticated),
    }
}

/// Asks the authorizer about the route's permission. A template naming
/// `{org}` is filled with the caller's own organization; a caller without
/// one (anonymous, or outside the directory) is refused.
async fn authorize(
    state: &GatewayState,
    route: &ProxyRoute,
    caller: &Caller,
    resource: ResourceName,
) -> Result<(), ApiError> {
    let Some(resource) = resource.for_org(caller.principal.organization.as_deref()) else {
        return Err(ApiError::NotPermitted(
            "this route belongs to an organization, and the caller has none".into(),
        ));
    };
    super::permission::check(
        state,
        caller.into(),
        &route.action,
        &resource,
        super::permission::Detail::Verdict,
    )
    .await
    .map(drop)
}
