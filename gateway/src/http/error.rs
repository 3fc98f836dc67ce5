//! API errors: the one place a failure becomes an HTTP response.
//!
//! The client gets a stable `code`, a human `message` that names no secret
//! and no internal detail, and the request id to quote to an operator. The
//! full cause goes to the log, tagged with the same request id.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

/// Whether `error`, or an error in its source chain, is an `E`.
pub fn caused_by<E: std::error::Error + 'static>(
    error: &(dyn std::error::Error + 'static),
) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<E>() {
            return true;
        }
        current = error.source();
    }
    false
}

/// A failure to answer a request, by whose fault and what the client can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No credential was presented where one is required.
    Unauthenticated,
    /// The credential was not accepted.
    InvalidCredentials,
    /// The credential was right but has expired.
    CredentialExpired,
    /// The API key was right but has expired.
    ApiKeyExpired,
    /// The API key was right but has been revoked.
    ApiKeyRevoked,
    /// Too many failed attempts; retry after this many seconds.
    TooManyAttempts {
        /// Seconds to wait.
        retry_after: u32,
    },
    /// The account is disabled.
    AccountDisabled,
    /// The session must finish these actions before anything else.
    ActionsPending(Vec<String>),
    /// The request is well-formed but forbidden for this caller.
    NotPermitted(String),
    /// Allowed only after a recent sign-in with the second factor; the
    /// text says what to do.
    StepUpRequired(String),
    /// The request body did not arrive in time.
    BodyTimeout,
    /// The addressed resource does not exist (or is not visible).
    ResourceNotFound(&'static str),
    /// The resource already exists.
    Conflict(String),
    /// The request's content is invalid; the text says why.
    InvalidInput(String),
    /// A feature that is not configured.
    NotConfigured(String),
    /// The store failed.
    StoreUnavailable,
    /// A change was refused because its audit event could not be written.
    AuditUnavailable,
    /// The authorizer denied the action.
    Forbidden {
        /// The action asked for.
        action: String,
        /// The resource it was asked on.
        resource: String,
    },
    /// The policy allows the action only after a sign-in with the second
    /// factor; signing in again with it would help.
    MfaRequired {
        /// The permission asked for.
        action: String,
    },
    /// A single sign-on was refused by an account rule; the code is stable.
    SsoRefused {
        /// Stable code.
        code: &'static str,
        /// What happened and what would help.
        message: String,
    },
    /// Refused for a reason with its own stable code and status (a
    /// credential sealed to the wrong agents, an endorsement that does not
    /// verify, …).
    Refused {
        /// HTTP status.
        status: StatusCode,
        /// Stable code.
        code: &'static str,
        /// What happened and what would help.
        message: String,
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
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "Error")]
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
            Self::Unauthenticated
            | Self::InvalidCredentials
            | Self::CredentialExpired
            | Self::ApiKeyExpired
            | Self::ApiKeyRevoked => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. }
            | Self::MfaRequired { .. }
            | Self::AccountDisabled
            | Self::ActionsPending(_)
            | Self::NotPermitted(_)
            | Self::SsoRefused { .. }
            | Self::StepUpRequired(_) => StatusCode::FORBIDDEN,
            Self::Refused { status, .. } => *status,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::ResourceNotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::InvalidInput(_) => StatusCode::BAD_REQUEST,
            Self::NotConfigured(_) => StatusCode::NOT_IMPLEMENTED,
            Self::AuthenticationUnavailable
            | Self::AuthorizationUnavailable
            | Self::AuditUnavailable
            | Self::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
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
            Self::ApiKeyExpired => "api_key_expired",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::AccountDisabled => "account_disabled",
            Self::ActionsPending(actions) => {
                if actions
                    .iter()
                    .any(|a| a == crate::identity::pending::CHANGE_PASSWORD)
                {
                    "password_change_required"
                } else {
                    "mfa_enrollment_required"
                }
            }
            Self::NotPermitted(_) => "forbidden",
            Self::StepUpRequired(_) => "step_up_required",
            Self::BodyTimeout => "body_timeout",
            Self::ResourceNotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::InvalidInput(_) => "invalid_input",
            Self::NotConfigured(_) => "not_configured",
            Self::StoreUnavailable => "store_unavailable",
            Self::AuditUnavailable => "audit_unavailable",
            Self::Forbidden { .. } => "forbidden",
            Self::MfaRequired { .. } => "mfa_required",
            Self::Refused { code, .. } => code,
            Self::SsoRefused { code, .. } => code,
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
            Self::ApiKeyExpired => "the API key has expired; create a new one".into(),
            Self::ApiKeyRevoked => "the API key has been revoked".into(),
            Self::TooManyAttempts { retry_after } => {
                format!("too many failed attempts; try again in {retry_after} s")
            }
            Self::AccountDisabled => "the account is disabled".into(),
            Self::ActionsPending(actions) => format!(
                "finish these first: {} (see /api/v1/me)",
                actions.join(", ")
            ),
            Self::NotPermitted(why)
            | Self::StepUpRequired(why)
            | Self::Conflict(why)
            | Self::InvalidInput(why)
            | Self::NotConfigured(why)
            | Self::SsoRefused { message: why, .. }
            | Self::Refused { message: why, .. } => why.clone(),
            Self::ResourceNotFound(what) => format!("no such {what}"),
            Self::StoreUnavailable => "the store is unavailable; try again".into(),
            Self::AuditUnavailable => {
                "the audit log cannot be written, so the change was not made; try again".into()
            }
            Self::Forbidden { action, resource } => {
                format!("not allowed to `{action}` on `{resource}`")
            }
            Self::MfaRequired { action } => format!(
                "`{action}` needs a sign-in with your second factor: sign in again with it (enroll one at /api/v1/me/mfa/totp if you have none)"
            ),
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
            Self::BodyTimeout => "the request body did not arrive in time".into(),
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
        let retry_after = match &self {
            Self::TooManyAttempts { retry_after } => Some(*retry_after),
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
                Self::CredentialExpired | Self::ApiKeyExpired => {
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
        if let Some(retry_after) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        if let Ok(id) = HeaderValue::from_str(request_id) {
            response.headers_mut().insert(super::request_id::HEADER, id);
        }
        response
    }
}

/// Renders with the request id of the request being handled.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_for(&super::request_id::current())
    }
}

impl From<crate::identity::IdentityError> for ApiError {
    fn from(error: crate::identity::IdentityError) -> Self {
        use crate::identity::IdentityError as E;
        match error {
            E::InvalidCredentials => Self::InvalidCredentials,
            E::CredentialExpired => Self::CredentialExpired,
            E::ApiKeyExpired => Self::ApiKeyExpired,
            E::ApiKeyRevoked => Self::ApiKeyRevoked,
            E::Throttled(retry_after) => Self::TooManyAttempts { retry_after },
            E::AccountDisabled => Self::AccountDisabled,
            E::ActionsPending(actions) => Self::ActionsPending(actions),
            E::NotFound(what) => Self::ResourceNotFound(what),
            E::Conflict(why) => Self::Conflict(why),
            E::InvalidInput(why) => Self::InvalidInput(why),
            E::Forbidden(why) => Self::NotPermitted(why),
            E::NotConfigured(why) => Self::NotConfigured(why),
            E::SsoRefused { code, message } => Self::SsoRefused { code, message },
            E::ProviderUnavailable => Self::AuthenticationUnavailable,
            E::Store(error) => error.into(),
            E::Internal => Self::Internal,
        }
    }
}

/// A change whose audit event could not be written was not made:
/// `audit_unavailable`. Any other store failure is `store_unavailable`.
impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        if let crate::store::StoreError::Conflict(what) = &error {
            return Self::Conflict(format!("{what} already exists"));
        }
        tracing::error!(%error, "store failed");
        match error {
            crate::store::StoreError::AuditUnavailable(_) => Self::AuditUnavailable,
            _ => Self::StoreUnavailable,
        }
    }
}

/// Nothing signed to export is "not found"; a store failure is what the
/// store says (`audit_unavailable` when the log cannot be written).
impl From<crate::audit::AuditError> for ApiError {
    fn from(error: crate::audit::AuditError) -> Self {
        use crate::audit::AuditError as E;
        match error {
            E::NothingSigned(_) => Self::ResourceNotFound("audit event after this point"),
            E::Store(error) => error.into(),
            E::Key(error) => {
                tracing::error!(%error, "the audit signing key failed");
                Self::Internal
            }
        }
    }
}

impl From<crate::authz::AuthzError> for ApiError {
    fn from(error: crate::authz::AuthzError) -> Self {
        use crate::authz::AuthzError as E;
        match error {
            E::Invalid(why) => Self::InvalidInput(why),
            E::NotFound(what) => Self::ResourceNotFound(what),
            E::Conflict(what) => Self::Conflict(format!("{what} already exists")),
            E::InUse(why) => Self::Conflict(why),
            E::Store(error) => error.into(),
            E::Snapshot(why) => {
                tracing::error!(%why, "policy snapshot failed");
                Self::Internal
            }
        }
    }
}

impl From<crate::credentials::CredentialsError> for ApiError {
    fn from(error: crate::credentials::CredentialsError) -> Self {
        use crate::credentials::{CredentialsError as E, Refusal as R};
        match error {
            E::Invalid(why) => Self::InvalidInput(why),
            E::NotFound(what) => Self::ResourceNotFound(what),
            E::Refused { refusal, message } => Self::Refused {
                status: match refusal {
                    R::ServerSideSealingDisabled => StatusCode::FORBIDDEN,
                    R::AgentKeyExists => StatusCode::CONFLICT,
                    R::TrustKeyMissing
                    | R::EndorsementInvalid
                    | R::TooManyAgentKeys
                    | R::RecipientsMismatch
                    | R::NoAgentKeys
                    | R::SealFailed => StatusCode::UNPROCESSABLE_ENTITY,
                },
                code: refusal.code(),
                message,
            },
            conflict @ E::VersionConflict { .. } => Self::Refused {
                status: StatusCode::CONFLICT,
                code: "credential_version_conflict",
                message: conflict.to_string(),
            },
            E::Store(error) => error.into(),
        }
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
