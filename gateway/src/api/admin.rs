//! What every administrative endpoint does first: resolve the caller's
//! organization and ask the authorizer.

use crate::http::ApiError;
use crate::http::permission;
use crate::http::router::GatewayState;
use crate::identity::Caller;

/// Checks that `caller` may do `action` on `resource` (a template in which
/// `{org}` is replaced by the caller's organization) and returns that
/// organization's id.
pub async fn permit(
    state: &GatewayState,
    caller: &Caller,
    action: &str,
    resource: &str,
) -> Result<String, ApiError> {
    let org = caller
        .org_id()
        .ok_or_else(|| {
            ApiError::NotPermitted("only directory users can administer an organization".into())
        })?
        .to_string();
    let resource = resource.replace("{org}", &org);
    permission::check(state, &caller.principal, action, &resource).await?;
    Ok(org)
}
