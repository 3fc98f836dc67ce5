//! Asking the authorizer plugin whether a principal may do an action on a
//! resource. No authorizer, a failing one, or a "no" all deny.

use super::ApiError;
use super::router::GatewayState;
use crate::plugin::Principal;

/// Allows or denies `action` on `resource` for `principal`.
pub async fn check(
    state: &GatewayState,
    principal: &Principal,
    action: &str,
    resource: &str,
) -> Result<(), ApiError> {
    let Some(authorizer) = state.plugins.authorizer() else {
        tracing::error!(action, "no authorizer configured; denying");
        return Err(ApiError::AuthorizationUnavailable);
    };
    let decision = authorizer
        .check(principal, action, resource, &[])
        .await
        .map_err(|_| ApiError::AuthorizationUnavailable)?;
    if decision.allowed {
        tracing::debug!(subject = %principal.subject, action, resource, reason = %decision.reason, "allowed");
        Ok(())
    } else {
        tracing::info!(subject = %principal.subject, action, resource, reason = %decision.reason, "denied");
        Err(ApiError::Forbidden {
            action: action.to_string(),
            resource: resource.to_string(),
        })
    }
}
