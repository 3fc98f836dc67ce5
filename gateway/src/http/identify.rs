//! Who is calling: the credential on the request, verified by the
//! configured auth-provider plugins in order. Any doubt denies.

use super::ApiError;
use super::headers::is_credential_header;
use crate::plugin::{
    Attribute, AuthProviderPlugin, Credential, GuestError, Principal, RequestInfo,
};
use base64::Engine as _;
use http::{HeaderMap, header};
use std::sync::Arc;

/// The subject of requests that carry no credential, on routes that allow it.
pub const ANONYMOUS: &str = "anonymous";

/// The principal used for credential-less requests on anonymous routes.
pub fn anonymous() -> Principal {
    Principal {
        subject: ANONYMOUS.into(),
        issuer: "portcullis".into(),
        email: None,
        display_name: None,
        groups: Vec::new(),
        amr: Vec::new(),
        attributes: Vec::new(),
    }
}

/// The credential in `Authorization`, if any. A malformed header is an
/// error, never "no credential".
pub fn credential(headers: &HeaderMap) -> Result<Option<Credential>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::InvalidCredentials);
    }
    let value = value.to_str().map_err(|_| ApiError::InvalidCredentials)?;
    let (scheme, rest) = value.split_once(' ').ok_or(ApiError::InvalidCredentials)?;
    let rest = rest.trim();
    if rest.is_empty() {
        return Err(ApiError::InvalidCredentials);
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Some(Credential::Bearer(rest.to_string())));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(ApiError::InvalidCredentials)?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or(ApiError::InvalidCredentials)?;
        return Ok(Some(Credential::Basic((
            user.to_string(),
            password.to_string(),
        ))));
    }
    Err(ApiError::InvalidCredentials)
}

/// What plugins are told about a request: never its credentials.
pub fn request_info(
    method: &http::Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    client_ip: &str,
    request_id: &str,
) -> RequestInfo {
    RequestInfo {
        method: method.as_str().to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers: headers
            .iter()
            .filter(|(name, _)| !is_credential_header(name))
            .filter_map(|(name, value)| {
                Some(Attribute {
                    name: name.as_str().to_string(),
                    value: value.to_str().ok()?.to_string(),
                })
            })
            .collect(),
        client_ip: client_ip.to_string(),
        request_id: request_id.to_string(),
    }
}

/// Verifies `credential` with each provider in turn. The first provider
/// that recognises it decides; a provider that fails denies the request.
pub async fn verify(
    providers: &[Arc<AuthProviderPlugin>],
    credential: &Credential,
    request: &RequestInfo,
) -> Result<Principal, ApiError> {
    for provider in providers {
        match provider.verify_credential(credential, request).await {
            Ok(Ok(principal)) => return Ok(principal),
            Ok(Err(GuestError::UnsupportedCredential)) => continue,
            Ok(Err(GuestError::Expired)) => return Err(ApiError::CredentialExpired),
            Ok(Err(
                GuestError::InvalidCredentials | GuestError::NotFound | GuestError::InvalidInput(_),
            )) => {
                return Err(ApiError::InvalidCredentials);
            }
            Ok(Err(other)) => {
                tracing::error!(plugin = provider.name(), error = ?other, "auth provider failed; denying");
                return Err(ApiError::AuthenticationUnavailable);
            }
            Err(_) => return Err(ApiError::AuthenticationUnavailable),
        }
    }
    Err(ApiError::InvalidCredentials)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_auth(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn parses_bearer_and_basic_and_refuses_garbage() {
        assert!(matches!(credential(&HeaderMap::new()), Ok(None)));
        assert!(
            matches!(credential(&with_auth("Bearer abc")), Ok(Some(Credential::Bearer(t))) if t == "abc")
        );
        assert!(matches!(
            credential(&with_auth("Basic dXNlcjpwYXNz")),
            Ok(Some(Credential::Basic((u, p)))) if u == "user" && p == "pass"
        ));
        for bad in ["Bearer", "Bearer  ", "Digest x", "Basic !!!", "garbage"] {
            assert_eq!(
                credential(&with_auth(bad)).err(),
                Some(ApiError::InvalidCredentials),
                "{bad}"
            );
        }
    }
}
