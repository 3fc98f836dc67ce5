//! Sign-in, sign-out and tokens: `/auth/*` and the JWKS.

use super::extract::{Authenticated, JsonBody};
use super::views::{FormView, UserView};
use crate::http::ApiError;
use crate::http::identify::request_info_of;
use crate::http::router::GatewayState;
use crate::identity::{LoginOutcome, NewSession};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The request facts a login step needs, taken from the request head.
pub struct LoginContext {
    info: crate::plugin::RequestInfo,
    user_agent: String,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for LoginContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            info: request_info_of(parts),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
        })
    }
}

/// A login body: the provider (if named), the flow being continued (if
/// any) and the step's fields. The flow id travels in the body, never in
/// the URL, so it reaches no access log.
struct LoginFields {
    provider: Option<String>,
    flow_id: Option<String>,
    fields: Vec<(String, String)>,
}

/// Splits a login body into the provider, the flow id and string fields.
fn login_fields(body: Map<String, Value>) -> Result<LoginFields, ApiError> {
    let mut provider = None;
    let mut flow_id = None;
    let mut fields = Vec::with_capacity(body.len());
    for (name, value) in body {
        let Value::String(value) = value else {
            return Err(ApiError::BadRequest(format!(
                "field `{name}` must be a string"
            )));
        };
        match name.as_str() {
            "provider" => provider = Some(value),
            "flow_id" => flow_id = Some(value),
            _ => fields.push((name, value)),
        }
    }
    Ok(LoginFields {
        provider,
        flow_id,
        fields,
    })
}

fn session_cookie(state: &GatewayState, value: &str, max_age: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax",
        state.identity.config().session_cookie
    ))
    .ok()
}

fn outcome_response(state: &GatewayState, outcome: LoginOutcome) -> Response {
    match outcome {
        LoginOutcome::Prompt { flow_id, form } => Json(json!({
            "status": "prompt",
            "flow_id": flow_id,
            "form": FormView::from(form),
        }))
        .into_response(),
        LoginOutcome::Redirect { flow_id, location } => Json(json!({
            "status": "redirect",
            "flow_id": flow_id,
            "location": location,
        }))
        .into_response(),
        LoginOutcome::Authenticated(session) => authenticated(state, *session),
    }
}

fn authenticated(state: &GatewayState, new: NewSession) -> Response {
    let session = &new.session;
    let max_age = session.expires_at - session.created_at;
    let cookie = session_cookie(state, new.cookie_value.expose_secret(), max_age);
    let mut response = Json(json!({
        "status": "authenticated",
        "session_id": session.id,
        "session_expires_at": session.expires_at,
        "access_token": new.access_token,
        "token_type": "Bearer",
        "expires_in": new.access_token_expires_in,
        "amr": session.principal.amr,
        "pending": session.pending,
        "subject": session.principal.subject,
    }))
    .into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /auth/login`: starts a login.
pub async fn login(
    State(state): State<Arc<GatewayState>>,
    context: LoginContext,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let LoginFields {
        provider,
        flow_id,
        fields,
    } = login_fields(body)?;
    if flow_id.is_some() {
        return Err(ApiError::BadRequest(
            "`flow_id` continues a login: send it to /auth/login/continue".into(),
        ));
    }
    let outcome = state
        .identity
        .begin_login(
            provider.as_deref(),
            &fields,
            &context.info,
            &context.user_agent,
        )
        .await?;
    Ok(outcome_response(&state, outcome))
}

/// `POST /auth/login/continue`: continues the login named by the body's
/// `flow_id`.
pub async fn continue_login(
    State(state): State<Arc<GatewayState>>,
    context: LoginContext,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let LoginFields {
        flow_id, fields, ..
    } = login_fields(body)?;
    let flow_id = flow_id
        .ok_or_else(|| ApiError::BadRequest("`flow_id` is required to continue a login".into()))?;
    let outcome = state
        .identity
        .continue_login(&flow_id, &fields, &context.info, &context.user_agent)
        .await?;
    Ok(outcome_response(&state, outcome))
}

/// `POST /auth/logout`: ends the caller's session and clears the cookie.
pub async fn logout(
    State(state): State<Arc<GatewayState>>,
    Authenticated(caller): Authenticated,
) -> Result<Response, ApiError> {
    let id = caller
        .session_id
        .as_deref()
        .ok_or_else(|| ApiError::NotPermitted("only sessions can sign out".into()))?;
    state.identity.revoke_session(id).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(cookie) = session_cookie(&state, "", 0) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `POST /auth/token`: a fresh access token for the caller's session.
pub async fn token(
    State(state): State<Arc<GatewayState>>,
    Authenticated(caller): Authenticated,
) -> Result<Response, ApiError> {
    let token = state.identity.refresh_access_token(&caller).await?;
    let mut response = Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": state.identity.signer().token_ttl_secs(),
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /.well-known/jwks.json`: the access-token verification keys.
pub async fn jwks(State(state): State<Arc<GatewayState>>) -> Response {
    let mut response = Json(state.identity.signer().jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// `GET /api/v1/me`: who the caller is.
pub async fn me(
    State(state): State<Arc<GatewayState>>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let mfa = match &caller.user {
        Some(user) if state.identity.config().local_provider.is_some() => state
            .identity
            .mfa_status(&user.id)
            .await
            .ok()
            .map(super::views::MfaView::from),
        _ => None,
    };
    Ok(Json(json!({
        "subject": caller.principal.subject,
        "issuer": caller.principal.issuer,
        "email": caller.principal.email,
        "groups": caller.principal.groups,
        "amr": caller.principal.amr,
        "pending": caller.pending,
        "session_id": caller.session_id,
        "api_key_id": caller.api_key_id,
        "user": caller.user.as_deref().map(UserView::from),
        "mfa": mfa,
    })))
}
