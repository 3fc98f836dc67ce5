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
use schemars::JsonSchema;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The request facts a login step needs, taken from the request head.
pub struct LoginContext {
    /// The request as plugins see it.
    pub(super) info: crate::plugin::RequestInfo,
    /// Its `User-Agent`, for the session record.
    pub(super) user_agent: String,
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

/// The first step of a login: the provider (default: local accounts) and
/// the step's fields, all strings (`email` and `password` for local
/// accounts).
#[derive(Deserialize, JsonSchema)]
pub struct LoginRequest {
    /// The auth provider to sign in with.
    #[serde(default)]
    provider: Option<String>,
    /// The step's fields.
    #[serde(flatten)]
    fields: BTreeMap<String, String>,
}

/// A further step of a login. The flow id travels in the body, never in
/// the URL, so it reaches no access log.
#[derive(Deserialize, JsonSchema)]
pub struct LoginContinuation {
    /// From the previous step.
    flow_id: String,
    /// This step's fields: `code` or `recovery_code` for local accounts.
    #[serde(flatten)]
    fields: BTreeMap<String, String>,
}

/// The `Set-Cookie` value of a session cookie.
pub(super) fn session_cookie(
    state: &GatewayState,
    value: &str,
    max_age: i64,
) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax",
        state.identity.config().session_cookie
    ))
    .ok()
}

fn outcome_response(state: &GatewayState, outcome: LoginOutcome) -> Response {
    match outcome {
        LoginOutcome::Prompt { flow_id, form } => Json(LoginStepView::Prompt {
            flow_id,
            form: FormView::from(form),
        })
        .into_response(),
        LoginOutcome::Redirect { flow_id, location } => {
            Json(LoginStepView::Redirect { flow_id, location }).into_response()
        }
        LoginOutcome::Authenticated(session) => authenticated(state, *session),
    }
}

fn authenticated(state: &GatewayState, new: NewSession) -> Response {
    let session = &new.session;
    let max_age = session.expires_at - session.created_at;
    let cookie = session_cookie(state, new.cookie_value.expose_secret(), max_age);
    let mut response = Json(LoginStepView::Authenticated {
        session_id: session.id.clone(),
        session_expires_at: session.expires_at,
        access_token: new.access_token.clone(),
        token_type: TokenType::Bearer,
        expires_in: new.access_token_expires_in,
        amr: session.principal.amr.clone(),
        pending: session.pending.clone(),
        subject: session.principal.subject.clone(),
    })
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
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let provider = body.provider;
    let fields: Vec<(String, String)> = body.fields.into_iter().collect();
    if fields.iter().any(|(name, _)| name == "flow_id") {
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
    JsonBody(body): JsonBody<LoginContinuation>,
) -> Result<Response, ApiError> {
    let flow_id = body.flow_id;
    let fields: Vec<(String, String)> = body.fields.into_iter().collect();
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
    let mut response = Json(AccessTokenView {
        access_token: token,
        token_type: TokenType::Bearer,
        expires_in: state.identity.signer().token_ttl_secs(),
    })
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
) -> Result<Json<MeView>, ApiError> {
    let mfa = match &caller.user {
        Some(user) if state.identity.config().local_provider.is_some() => state
            .identity
            .mfa_status(&user.id)
            .await
            .ok()
            .map(super::views::MfaView::from),
        _ => None,
    };
    let principal = Arc::unwrap_or_clone(caller.principal);
    Ok(Json(MeView {
        subject: principal.subject,
        issuer: principal.issuer,
        email: principal.email,
        groups: principal.groups,
        amr: principal.amr,
        pending: caller.pending,
        session_id: caller.session_id,
        api_key_id: caller.api_key_id,
        user: caller.user.as_deref().map(UserView::from),
        mfa,
    }))
}

/// The `token_type` of access tokens.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
pub enum TokenType {
    /// Sent as `Authorization: Bearer …`.
    Bearer,
}

/// One step of a login.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
#[schemars(rename = "LoginStep")]
pub enum LoginStepView {
    /// The provider asks for more: answer `form`.
    Prompt {
        /// Send it with the next step to `/auth/login/continue`; `null`:
        /// answer the form with a new `/auth/login`.
        flow_id: Option<String>,
        /// What to answer.
        form: FormView,
    },
    /// Continue at the identity provider.
    Redirect {
        /// Send it with the next step to `/auth/login/continue`.
        flow_id: String,
        /// Where the browser goes.
        location: String,
    },
    /// Signed in; the session cookie is set too.
    Authenticated {
        /// The session.
        session_id: String,
        /// When it ends at the latest (Unix seconds).
        session_expires_at: i64,
        /// A short-lived access token.
        access_token: String,
        /// `Bearer`.
        token_type: TokenType,
        /// Seconds until the access token expires.
        expires_in: i64,
        /// How the caller authenticated.
        amr: Vec<String>,
        /// What the session must do before full access.
        pending: Vec<String>,
        /// The subject.
        subject: String,
    },
}

/// A fresh access token.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "AccessToken")]
pub struct AccessTokenView {
    /// The token.
    access_token: String,
    /// `Bearer`.
    token_type: TokenType,
    /// Seconds until it expires.
    expires_in: i64,
}

/// Who the caller is.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Me")]
pub struct MeView {
    subject: String,
    issuer: String,
    email: Option<String>,
    groups: Vec<String>,
    amr: Vec<String>,
    pending: Vec<String>,
    session_id: Option<String>,
    api_key_id: Option<String>,
    user: Option<UserView>,
    mfa: Option<super::views::MfaView>,
}
