//! API errors: the one place a failure becomes an HTTP response.
//!
//! The client gets a stable `code`, a human `message` that names no secret
//! and no internal detail, and the request id to quote to an operator. The
//! full cause goes to the log, tagged with the same request id.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

/// A failure to answer a request, by whose fault and what the client can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No credential was presented where one is required.
    Unauthenticated,
    /// The credential was not accepted.
    InvalidCredentials,
    /// The credential was right but has expired.
    CredentialExpired,
    /// The authorizer denied the action.
    Forbidden {
        /// The action asked for.
        action: String,
        /// The resource it was asked on.
        resource: String,
    },
    /// An authentication plugin failed; the request was refused.
    AuthenticationUnavailable,
    /// The authorizer failed; the request was refused.
    AuthorizationUnavailable,
    /// No route matches.
    NotFound,
    /// A route matches the path but not the method; these methods do.
    MethodNotAllowed(Vec<http::Method>),
    /// The request body is over the limit.
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request is malformed.
    BadRequest(String),
    /// The upstream could not be reached or answered garbage.
    UpstreamUnavailable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// A bug or broken invariant in the gateway.
    Internal,
}

/// The JSON body of every error.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// Stable machine-readable code.
    pub code: &'a str,
    /// Human-readable explanation.
    pub message: String,
    /// The request id, to correlate with gateway logs.
    pub request_id: String,
}

impl ApiError {
    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated | Self::InvalidCredentials | Self::CredentialExpired => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::AuthenticationUnavailable | Self::AuthorizationUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::CredentialExpired => "credential_expired",
            Self::Forbidden { .. } => "forbidden",
            Self::AuthenticationUnavailable => "authentication_unavailable",
            Self::AuthorizationUnavailable => "authorization_unavailable",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::BadRequest(_) => "bad_request",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::Internal => "internal_error",
        }
    }

    /// Message for the client.
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated => "authentication required".into(),
            Self::InvalidCredentials => "the credential was not accepted".into(),
            Self::CredentialExpired => "the credential has expired".into(),
            Self::Forbidden { action, resource } => {
                format!("not allowed to `{action}` on `{resource}`")
            }
            Self::AuthenticationUnavailable => {
                "authentication is unavailable; the request was refused".into()
            }
            Self::AuthorizationUnavailable => {
                "authorization is unavailable; the request was refused".into()
            }
            Self::NotFound => "no such route".into(),
            Self::MethodNotAllowed(_) => "method not allowed on this route".into(),
            Self::PayloadTooLarge { limit } => format!("request body larger than {limit} bytes"),
            Self::BadRequest(why) => why.clone(),
            Self::UpstreamUnavailable => "the upstream service is unavailable".into(),
            Self::UpstreamTimeout => "the upstream service did not answer in time".into(),
            Self::Internal => "internal error".into(),
        }
    }

    /// The response for request `request_id`.
    pub fn into_response_for(self, request_id: &str) -> Response {
        let status = self.status();
        let allow = match &self {
            Self::MethodNotAllowed(methods) => HeaderValue::from_str(
                &methods
                    .iter()
                    .map(http::Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            )
            .ok(),
            _ => None,
        };
        let body = ErrorBody {
            code: self.code(),
            message: self.message(),
            request_id: request_id.to_string(),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            let challenge = match self {
                Self::Unauthenticated => "Bearer",
                Self::CredentialExpired => {
                    "Bearer error=\"invalid_token\", error_description=\"expired\""
                }
                _ => "Bearer error=\"invalid_token\"",
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        if let Ok(id) = HeaderValue::from_str(request_id) {
            response.headers_mut().insert(super::request_id::HEADER, id);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn error_body_has_code_message_and_request_id() {
        let response = ApiError::Forbidden {
            action: "a.read".into(),
            resource: "a/1".into(),
        }
        .into_response_for("req-1");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()["x-request-id"], "req-1");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["code"], "forbidden");
        assert_eq!(json["request_id"], "req-1");
        assert!(json["message"].as_str().unwrap().contains("a.read"));
    }

    #[test]
    fn unauthorized_responses_carry_a_bearer_challenge() {
        let response = ApiError::InvalidCredentials.into_response_for("r");
        assert!(
            response.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }
}
