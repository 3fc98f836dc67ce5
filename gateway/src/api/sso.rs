//! Single sign-on endpoints, the same for every kind of provider:
//! `/auth/sso/{provider_id}` starts a login, `…/callback` is the OIDC
//! redirect URI and the SAML assertion consumer service, `…/metadata`
//! says what the provider's administrator registers, and
//! `/auth/sso/discover` finds an email's provider (home-realm discovery).
//!
//! A login in progress is bound to the browser that started it by a
//! `__Host-` cookie holding the flow id; the flow ends at the callback.

use super::auth::{LoginContext, session_cookie};
use super::extract::{Authenticated, JsonBody};
use crate::http::ApiError;
use crate::http::RequestContext;
use crate::http::identify;
use crate::http::router::GatewayState;
use crate::identity::sso::service_endpoints;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use schemars::JsonSchema;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The cookie binding a login in progress to its browser. `SameSite=None`
/// because a SAML provider posts the answer from its own site; the flow id
/// alone lets nobody sign in (the provider's answer must match the flow).
const FLOW_COOKIE: &str = "__Host-portcullis-sso";

/// The host this request was served as, for the callback URL.
pub struct Served(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Served {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match RequestContext::of(&parts.extensions).and_then(|c| c.host.as_str()) {
            Some(host) => Ok(Self(host.to_string())),
            None => Err(ApiError::BadRequest(
                "single sign-on needs the request's `Host` (or `server.public_host`)".into(),
            )),
        }
    }
}

/// The host this request was served as, if known (a callback with a
/// flow does not need it).
pub struct MaybeServed(Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for MaybeServed {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            RequestContext::of(&parts.extensions)
                .and_then(|c| c.host.as_str())
                .map(str::to_string),
        ))
    }
}

/// Query or form fields; a field sent twice is refused (which value a
/// check read would otherwise depend on the reader).
fn fields_of(encoded: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(encoded) {
        if fields.iter().any(|(n, _)| *n == name) {
            return Err(ApiError::BadRequest(format!(
                "`{}` is given more than once",
                name.chars().take(64).collect::<String>()
            )));
        }
        fields.push((name.into_owned(), value.into_owned()));
    }
    Ok(fields)
}

fn flow_cookie(value: &str, max_age: u64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{FLOW_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=None"
    ))
    .ok()
}

fn redirect(location: &str) -> Result<Response, ApiError> {
    let location = HeaderValue::from_str(location).map_err(|_| {
        tracing::error!("identity provider returned an unusable redirect URL");
        ApiError::AuthenticationUnavailable
    })?;
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The query of `GET /auth/sso/{provider_id}`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartQuery {
    /// Where to go after signing in: a path on this gateway (default `/`).
    #[schemars(
        length(max = 2048),
        regex(pattern = r"^/([^/\\\x00-\x1f\x7f-\x9f][^\\\x00-\x1f\x7f-\x9f]*)?$")
    )]
    return_to: Option<String>,
}

/// `GET /auth/sso/{provider_id}`: sends the browser to the provider.
pub async fn start(
    State(state): State<Arc<GatewayState>>,
    Path(id): Path<String>,
    query: Result<Query<StartQuery>, QueryRejection>,
    Served(host): Served,
    context: LoginContext,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let started = state
        .identity
        .begin_sso(
            &id,
            &service_endpoints(&host, &id),
            query.return_to.as_deref(),
            &context.info,
        )
        .await?;
    let mut response = redirect(&started.location)?;
    let max_age = state.identity.config().login_flow_timeout_secs;
    if let Some(cookie) = flow_cookie(&started.flow_id, max_age) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

async fn finish(
    state: &GatewayState,
    id: &str,
    headers: &HeaderMap,
    host: Option<String>,
    fields: Vec<(String, String)>,
    context: &LoginContext,
) -> Result<Response, ApiError> {
    let flow_id = identify::session_cookie(headers, FLOW_COOKIE);
    let clear = flow_cookie("", 0);
    let endpoints = host.map(|host| service_endpoints(&host, id));
    let result = state
        .identity
        .finish_sso(
            id,
            endpoints.as_ref(),
            flow_id.as_deref(),
            &fields,
            &context.info,
            &context.user_agent,
        )
        .await;
    let mut response = match result {
        Ok(sign_in) => {
            let mut response = redirect(&sign_in.return_to)?;
            let session = &sign_in.session.session;
            if let Some(cookie) = session_cookie(
                state,
                sign_in.session.cookie_value.expose_secret(),
                session.expires_at - session.created_at,
            ) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(error) => ApiError::from(error).into_response(),
    };
    if let Some(clear) = clear {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    Ok(response)
}

/// `GET /auth/sso/{provider_id}/callback`: the provider's answer in the
/// query (OIDC).
pub async fn callback(
    State(state): State<Arc<GatewayState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    MaybeServed(host): MaybeServed,
    context: LoginContext,
) -> Result<Response, ApiError> {
    let fields = fields_of(query.as_deref().unwrap_or_default().as_bytes())?;
    finish(&state, &id, &headers, host, fields, &context).await
}

/// `POST /auth/sso/{provider_id}/callback`: the provider's answer as a
/// form (SAML's HTTP-POST binding, OIDC's `form_post` response mode).
pub async fn callback_form(
    State(state): State<Arc<GatewayState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    MaybeServed(host): MaybeServed,
    context: LoginContext,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form && !body.is_empty() {
        return Err(ApiError::BadRequest(
            "the callback takes an `application/x-www-form-urlencoded` body".into(),
        ));
    }
    let fields = fields_of(&body)?;
    finish(&state, &id, &headers, host, fields, &context).await
}

/// What an identity provider's administrator registers for this gateway
/// (served as JSON when the provider has no metadata document of its own).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "SsoMetadata")]
pub struct MetadataView {
    /// The provider's id.
    provider_id: String,
    /// Where users start signing in.
    login_url: String,
    /// The redirect URI (OIDC) or assertion consumer service URL (SAML).
    callback_url: String,
    /// This document's URL: a SAML service provider's default entity id.
    entity_id: String,
}

/// `GET /auth/sso/{provider_id}/metadata`: the provider's own document
/// (SAML: SP metadata XML), or a JSON of the gateway's endpoints for it.
/// A document is served so that no browser runs anything in it.
pub async fn metadata(
    State(state): State<Arc<GatewayState>>,
    Path(id): Path<String>,
    Served(host): Served,
) -> Result<Response, ApiError> {
    let endpoints = service_endpoints(&host, &id);
    let described = state.identity.describe_sso(&id, &endpoints).await?;
    let Some((media_type, document)) = described.metadata else {
        return Ok(Json(MetadataView {
            provider_id: id,
            login_url: endpoints.login_url,
            callback_url: endpoints.callback_url,
            entity_id: endpoints.metadata_url,
        })
        .into_response());
    };
    let media_type =
        HeaderValue::from_str(&media_type).map_err(|_| ApiError::AuthenticationUnavailable)?;
    let mut response = document.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, media_type);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// Where the browser goes to sign out at the identity provider too.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "SsoLogout")]
pub struct LogoutView {
    /// The identity provider's logout URL for this session (it sends the
    /// browser back to this gateway); `null` when the session was not
    /// signed in through a provider that offers one.
    logout_url: Option<String>,
}

/// `POST /auth/sso/logout`: ends the caller's session here, like
/// `/auth/logout`, and answers where to send the browser so it ends at the
/// identity provider too (RP-initiated logout). The session ends whatever
/// the provider says.
pub async fn logout(
    State(state): State<Arc<GatewayState>>,
    Authenticated(caller): Authenticated,
    Served(host): Served,
) -> Result<Response, ApiError> {
    let id = caller
        .session_id
        .as_deref()
        .ok_or_else(|| ApiError::NotPermitted("only sessions can sign out".into()))?;
    let logout_url = match state
        .identity
        .end_sso_session(id, &format!("https://{host}/"))
        .await
    {
        Ok(url) => url,
        Err(error) => {
            tracing::warn!(%error, "the identity provider's logout is unavailable; signing out here only");
            None
        }
    };
    state.identity.revoke_session(id).await?;
    let mut response = Json(LogoutView { logout_url }).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = session_cookie(&state, "", 0) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `POST /auth/sso/discover`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverRequest {
    /// The address the user typed.
    #[schemars(length(min = 3, max = 254), regex(pattern = r"^[^@]+@[^@]+$"))]
    email: String,
}

/// Where an email signs in.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "SsoDiscovery")]
pub struct DiscoverView {
    /// The identity provider of the organization that verified the
    /// email's domain; `null`: sign in with a password.
    provider_id: Option<String>,
    /// Its name.
    provider_name: Option<String>,
    /// Where to start signing in with it.
    login_path: Option<String>,
}

/// `POST /auth/sso/discover`: the same answer for every address of a
/// domain, whether or not such a user exists.
pub async fn discover(
    State(state): State<Arc<GatewayState>>,
    JsonBody(body): JsonBody<DiscoverRequest>,
) -> Result<Json<DiscoverView>, ApiError> {
    let provider = state.identity.discover_sso(&body.email).await?;
    Ok(Json(match provider {
        Some(p) => DiscoverView {
            login_path: Some(format!("/auth/sso/{}", p.id)),
            provider_id: Some(p.id),
            provider_name: Some(p.name),
        },
        None => DiscoverView {
            provider_id: None,
            provider_name: None,
            login_path: None,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_given_twice_is_refused() {
        assert_eq!(
            fields_of(b"code=a&state=b").unwrap(),
            [("code".into(), "a".into()), ("state".into(), "b".into())]
        );
        assert!(fields_of(b"code=a&code=b").is_err());
    }
}
