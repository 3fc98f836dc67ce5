//! Who is calling: the credential or session cookie on the request, handed
//! to the identity service. A malformed credential is an error, never
//! "no credential". Any doubt denies.

use super::ApiError;
use super::RequestContext;
use super::headers::is_credential_header;
use super::router::GatewayState;
use crate::identity::{Caller, Presented};
use crate::plugin::{Attribute, Credential, Principal, RequestInfo};
use base64::Engine as _;
use http::{HeaderMap, header};

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
        organization: None,
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

/// The session cookie named `name`, if the request carries it.
pub fn session_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_string())
}

/// What the request presents: an `Authorization` credential takes
/// precedence over the session cookie.
pub fn presented(headers: &HeaderMap, cookie_name: &str) -> Result<Option<Presented>, ApiError> {
    if let Some(credential) = credential(headers)? {
        return Ok(Some(Presented::Credential(credential)));
    }
    Ok(session_cookie(headers, cookie_name).map(Presented::SessionCookie))
}

/// What plugins are told about the request whose head is `parts`.
pub fn request_info_of(parts: &http::request::Parts) -> RequestInfo {
    let context = RequestContext::of(&parts.extensions);
    let client_ip = context
        .map(|c| c.client.ip().to_string())
        .unwrap_or_default();
    let request_id = context
        .map(|c| c.id.as_str().to_string())
        .unwrap_or_default();
    request_info(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &client_ip,
        &request_id,
    )
}

/// Authenticates the request whose head is `parts`; `None` when it
/// presents nothing. A request authenticated by the session cookie that
/// could change state must come from the gateway's own origin (see
/// [`same_origin`](super::same_origin)), wherever it is going.
pub async fn caller(
    state: &GatewayState,
    parts: &http::request::Parts,
) -> Result<Option<Caller>, ApiError> {
    let Some(presented) = presented(&parts.headers, &state.identity.config().session_cookie)?
    else {
        return Ok(None);
    };
    if matches!(presented, Presented::SessionCookie(_)) {
        let host = RequestContext::of(&parts.extensions)
            .and_then(|c| c.host.as_str())
            .unwrap_or_default();
        super::same_origin::check(parts, host)?;
    }
    let caller = state
        .identity
        .resolve(presented, || request_info_of(parts))
        .await?;
    Ok(Some(caller))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; sid=xyz"));
        headers.append(header::COOKIE, HeaderValue::from_static("other=2"));
        assert_eq!(session_cookie(&headers, "sid").as_deref(), Some("xyz"));
        assert_eq!(session_cookie(&headers, "missing"), None);
        assert!(matches!(
            presented(&headers, "sid"),
            Ok(Some(Presented::SessionCookie(v))) if v == "xyz"
        ));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        assert!(matches!(
            presented(&headers, "sid"),
            Ok(Some(Presented::Credential(Credential::Bearer(t)))) if t == "t"
        ));
    }

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
