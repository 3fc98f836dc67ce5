//! Request extractors for the control-plane API: the authenticated caller,
//! JSON bodies whose errors are JSON too, and the client's address.

use super::access::Admitted;
use crate::http::ApiError;
use crate::http::RequestContext;
use crate::identity::Caller;
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::header;
use http::request::Parts;
use serde::de::DeserializeOwned;

/// The authenticated caller, as the endpoint's [`Access`](super::Access)
/// admitted them. The enforcement ran before the handler; a handler on an
/// endpoint that admits no caller cannot get one (500, fail closed).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

/// Takes what the enforcement admitted (a handler reads it once).
fn admitted(parts: &mut Parts) -> Result<Admitted, ApiError> {
    parts.extensions.remove::<Admitted>().ok_or_else(|| {
        tracing::error!("a handler asked for a caller its endpoint does not admit");
        ApiError::Internal
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(admitted(parts)?.caller))
    }
}

/// A caller with full access: no password change or MFA enrollment
/// pending (the enforcement checked it; this checks again).
#[derive(Debug, Clone)]
pub struct FullAccess(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for FullAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let caller = admitted(parts)?.caller;
        caller.require_full_access()?;
        Ok(Self(caller))
    }
}

/// A caller the authorizer allowed the endpoint's permission, and the
/// organization the request acts in.
#[derive(Debug, Clone)]
pub struct Scoped {
    /// The caller.
    pub caller: Caller,
    /// The organization.
    pub org: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Scoped {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Admitted { caller, org } = admitted(parts)?;
        let org = org.ok_or_else(|| {
            tracing::error!("a handler asked for an organization its endpoint does not scope");
            ApiError::Internal
        })?;
        Ok(Self { caller, org })
    }
}

/// The client's IP address as text ("" if unknown).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            RequestContext::of(&parts.extensions)
                .map(|c| c.client.ip().to_string())
                .unwrap_or_default(),
        ))
    }
}

/// For an optional body field that may be absent but never `null`
/// (`#[serde(default, deserialize_with = "present")]`): absent is `None`,
/// a value is `Some`, `null` is an error — so the body means exactly what
/// its schema says.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// [`present`] for an integer. JSON Schema counts `3.0` as an integer, so
/// a number with no fractional part is accepted in either spelling.
pub fn present_integer<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error as _;
    let number = <serde_json::Number as serde::Deserialize>::deserialize(deserializer)?;
    if let Some(integer) = number.as_i64() {
        return Ok(Some(integer));
    }
    match number.as_f64() {
        // Below 2^53 a float is an exact integer.
        Some(float) if float.fract() == 0.0 && float.abs() < 9.0e15 =>
        {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "integral and in range, checked above"
            )]
            Ok(Some(float as i64))
        }
        _ => Err(D::Error::custom("expected an integer")),
    }
}

/// For an optional field where `null` means "clear"
/// (`#[serde(default, deserialize_with = "nullable")]`): absent is `None`,
/// `null` is `Some(None)`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
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
            .map_err(|error| {
                if crate::http::body_deadline::is_deadline(&error) {
                    ApiError::BodyTimeout
                } else {
                    ApiError::BadRequest("the body is too large or unreadable".into())
                }
            })?;
        // Every body of this API is a JSON object; serde would also read a
        // struct from an array (`[null, true]`), so other kinds are refused.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::BadRequest(
                "invalid body: expected a JSON object".into(),
            ));
        }
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
