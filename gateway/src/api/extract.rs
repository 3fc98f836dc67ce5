//! Request extractors for the control-plane API: the authenticated caller,
//! JSON bodies whose errors are JSON too, and the client's address.

use crate::http::ApiError;
use crate::http::identify;
use crate::http::router::{ClientAddr, GatewayState};
use crate::identity::Caller;
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;
use http::{Method, header};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// The authenticated caller; requests without credentials get 401.
///
/// Cookie-authenticated requests that change state must come from the
/// gateway's own origin when the browser says where they come from
/// (`Origin`, `Sec-Fetch-Site`): with `SameSite=Lax` this closes CSRF.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl FromRequestParts<Arc<GatewayState>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<GatewayState>,
    ) -> Result<Self, Self::Rejection> {
        let (caller, via_cookie) = identify::caller(state, parts)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        if via_cookie && !matches!(parts.method, Method::GET | Method::HEAD) {
            check_same_origin(parts)?;
        }
        Ok(Self(caller))
    }
}

fn check_same_origin(parts: &Parts) -> Result<(), ApiError> {
    let cross_site =
        || ApiError::NotPermitted("cross-site requests cannot use the session cookie".into());
    if let Some(site) = parts.headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return Err(cross_site());
    }
    if let Some(origin) = parts.headers.get(header::ORIGIN) {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or_default();
        if origin.to_str().ok() != Some(format!("https://{host}").as_str()) {
            return Err(cross_site());
        }
    }
    Ok(())
}

/// A caller with full access: no password change or MFA enrollment pending.
#[derive(Debug, Clone)]
pub struct FullAccess(pub Caller);

impl FromRequestParts<Arc<GatewayState>> for FullAccess {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<GatewayState>,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(caller) = Authenticated::from_request_parts(parts, state).await?;
        caller.require_full_access()?;
        Ok(Self(caller))
    }
}

/// The client's IP address as text ("" if unknown).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ClientAddr>()
                .map(|a| a.0.ip().to_string())
                .unwrap_or_default(),
        ))
    }
}

/// A JSON body; a wrong content type or shape is a JSON 400 naming the
/// problem (never echoing the body, which may hold a password).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::BadRequest(
                "send a JSON body with `Content-Type: application/json`".into(),
            ));
        }
        let bytes = axum::body::to_bytes(request.into_body(), 64 * 1024)
            .await
            .map_err(|_| ApiError::BadRequest("the body is too large or unreadable".into()))?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(&mut deserializer)
            .map(Self)
            .map_err(|error| {
                let path = error.path().to_string();
                let inner = error.into_inner();
                let what = describe(&inner);
                ApiError::BadRequest(if path == "." {
                    format!("invalid body: {what}")
                } else {
                    format!("invalid body at `{path}`: {what}")
                })
            })
    }
}

/// A JSON error without the offending value, which may be a secret sent in
/// the wrong field: "invalid type: string \"hunter2\", expected a boolean"
/// becomes "expected a boolean".
fn describe(error: &serde_json::Error) -> String {
    if error.is_syntax() || error.is_eof() {
        return format!(
            "malformed JSON at line {} column {}",
            error.line(),
            error.column()
        );
    }
    let text = error.to_string();
    let text = text.split(" at line ").next().unwrap_or_default();
    if text.starts_with("invalid type")
        || text.starts_with("invalid value")
        || text.starts_with("invalid length")
    {
        match text.find("expected ") {
            Some(at) => text[at..].to_string(),
            None => "a value of the wrong type".into(),
        }
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_never_repeat_the_value() {
        let error = serde_json::from_str::<bool>("\"hunter2-password\"").unwrap_err();
        let text = describe(&error);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("expected a boolean"), "{text}");
        let syntax = serde_json::from_str::<Vec<u8>>("[1,").unwrap_err();
        assert!(describe(&syntax).starts_with("malformed JSON"));
    }
}
