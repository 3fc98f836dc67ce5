//! Asking the authorizer whether a caller may do an action on a resource:
//! the one path every admin API route and every proxied route takes. No
//! authorizer, a failing one, or a "no" all deny.
//!
//! Before asking, the authorizer is brought to the current policy
//! snapshot, so a change made through the API is enforced from the next
//! request. A configured shadow authorizer is asked the same question; it
//! never decides, and each disagreement is logged and counted.

use super::ApiError;
use super::router::GatewayState;
use crate::audit::Event;
use crate::authz::{Receipt, receipt};
use crate::identity::Caller;
use crate::plugin::{
    AuthorizerPlugin, CheckRequest, Decision, Pairs, PluginCallError, PolicySnapshot, Principal,
    principal_view,
};
use std::sync::Arc;

/// Who is asking: the principal, and the directory user and API key the
/// gateway knows it by.
#[derive(Debug, Clone, Copy)]
pub struct Asking<'a> {
    /// The principal.
    pub principal: &'a Principal,
    /// The directory user.
    pub user_id: Option<&'a str>,
    /// The API key presented.
    pub api_key_id: Option<&'a str>,
}

impl<'a> From<&'a Caller> for Asking<'a> {
    fn from(caller: &'a Caller) -> Self {
        Self {
            principal: &caller.principal,
            user_id: caller.user.as_deref().map(|u| u.id.as_str()),
            api_key_id: caller.api_key_id.as_deref(),
        }
    }
}

impl<'a> Asking<'a> {
    /// A principal outside the directory (anonymous, or a provider's).
    pub fn principal(principal: &'a Principal) -> Self {
        Self {
            principal,
            user_id: None,
            api_key_id: None,
        }
    }
}

/// How much of an allowing decision the caller reads. A denial always
/// comes with its whole receipt: it is logged, emitted and explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The whole receipt (reason, deciding binding and role): the admin
    /// API, whose allowed actions are recorded with it, and explain.
    Receipt,
    /// Only allowed or not: proxied requests, the hot path, where nothing
    /// of an allowing receipt is used and so nothing of it crosses the
    /// plugin boundary.
    Verdict,
}

/// Allows `action` on `resource` (the receipt, whole only with
/// [`Detail::Receipt`]), or refuses: `mfa_required` when only the
/// second factor is missing, `forbidden` otherwise.
pub async fn check(
    state: &GatewayState,
    asking: Asking<'_>,
    action: &str,
    resource: &str,
    detail: Detail,
) -> Result<Receipt, ApiError> {
    let receipt = decide(state, asking, action, resource, detail).await?;
    if receipt.allowed {
        tracing::debug!(subject = %asking.principal.subject, action, resource, reason = %receipt.reason, binding = ?receipt.binding, version = receipt.policy_version, "allowed");
        return Ok(receipt);
    }
    tracing::info!(subject = %asking.principal.subject, action, resource, basis = receipt.basis, reason = %receipt.reason, version = receipt.policy_version, "denied");
    state.authz.events().emit(Event::AccessDenied {
        subject: asking.user_id.map_or_else(
            || asking.principal.subject.clone(),
            |id| format!("user:{id}"),
        ),
        org: asking.principal.organization.clone(),
        permission: action.to_string(),
        resource: resource.to_string(),
        basis: receipt.basis.to_string(),
        reason: receipt.reason.clone(),
        policy_version: receipt.policy_version,
    });
    if receipt.basis == "mfa_required" {
        return Err(ApiError::MfaRequired {
            action: action.to_string(),
        });
    }
    Err(ApiError::Forbidden {
        action: action.to_string(),
        resource: resource.to_string(),
    })
}

/// The receipt for `action` on `resource`, computed now by the active
/// authorizer on the current snapshot (explain uses it too).
pub async fn decide(
    state: &GatewayState,
    asking: Asking<'_>,
    action: &str,
    resource: &str,
    detail: Detail,
) -> Result<Receipt, ApiError> {
    let Some(active) = state.plugins.authorizer() else {
        tracing::error!(action, "no authorizer configured; denying");
        return Err(ApiError::AuthorizationUnavailable);
    };
    let mut request = CheckRequest {
        wants_receipt: detail == Detail::Receipt,
        principal: principal_view(asking.principal, asking.user_id, asking.api_key_id),
        action,
        resource,
        context: Pairs::default(),
    };
    let mut decision = ask(state, &active, &request).await?;
    if !receipt::allows(&decision) && !request.wants_receipt {
        // A denial is reported with its reason: ask again for the receipt.
        // It stays a denial whatever the second answer says (fail closed).
        request.wants_receipt = true;
        let explained = ask(state, &active, &request).await?;
        decision = if receipt::allows(&explained) {
            tracing::warn!(
                plugin = active.name(),
                action,
                resource,
                "the authorizer denied, then allowed when asked for its receipt; denying"
            );
            Decision {
                reason: "the authorizer's answers disagreed; denied".into(),
                ..decision
            }
        } else {
            explained
        };
    }
    if let Some(shadow) = state.plugins.shadow_authorizer() {
        compare(state, &active, &decision, &shadow, &request).await;
    }
    Ok(Receipt::from(&decision))
}

/// One authorizer's decision, after bringing it to the current snapshot.
async fn ask(
    state: &GatewayState,
    authorizer: &Arc<AuthorizerPlugin>,
    request: &CheckRequest<'_>,
) -> Result<Decision, ApiError> {
    let snapshot = state.authz.snapshot();
    if authorizer.needs_policy(snapshot.version) && !authorizer.rollout_in_progress() {
        // Authorizers get the policy at start-up and on reload, and a
        // change through this gateway before its answer; a newer one (from
        // another gateway) rolls out in the background while this check is
        // answered from the previous snapshot. A request never waits for a
        // rollout, so callers cannot queue behind one.
        let plugin = authorizer.clone();
        state
            .background
            .spawn(async move { install(&plugin, snapshot).await });
    }
    authorizer
        .check(request)
        .await
        .map_err(|_| ApiError::AuthorizationUnavailable)
}

/// Rolls `snapshot` out to `authorizer`. A refusal is logged (the plugin
/// keeps its previous snapshot and is not offered this one again); only a
/// failing call is an error.
async fn install(
    authorizer: &AuthorizerPlugin,
    snapshot: Arc<PolicySnapshot>,
) -> Result<(), PluginCallError> {
    let version = snapshot.version;
    if let Err(error) = authorizer.install_policy(snapshot).await? {
        tracing::error!(
            plugin = authorizer.name(),
            version,
            ?error,
            "the authorizer refused the policy snapshot; it keeps its previous one"
        );
    }
    Ok(())
}

/// Brings the active and the shadow authorizer to the current snapshot
/// and waits until they hold it: after a change through the API, before
/// the response, so the change is enforced from the next request.
pub async fn publish(state: &GatewayState) -> Result<(), ApiError> {
    let snapshot = state.authz.snapshot();
    for authorizer in [
        state.plugins.authorizer(),
        state.plugins.shadow_authorizer(),
    ]
    .into_iter()
    .flatten()
    {
        if authorizer.needs_policy(snapshot.version) {
            install(&authorizer, snapshot.clone())
                .await
                .map_err(|_| ApiError::AuthorizationUnavailable)?;
        }
    }
    Ok(())
}

/// `decision` with its receipt: asked again with the receipt if it came
/// without (the first answer stands if asking again fails).
async fn receipt_of(
    state: &GatewayState,
    authorizer: &Arc<AuthorizerPlugin>,
    decision: Decision,
    request: &CheckRequest<'_>,
) -> Decision {
    if request.wants_receipt {
        return decision;
    }
    let again = CheckRequest {
        wants_receipt: true,
        ..request.clone()
    };
    ask(state, authorizer, &again).await.unwrap_or(decision)
}

async fn compare(
    state: &GatewayState,
    active: &Arc<AuthorizerPlugin>,
    decision: &Decision,
    shadow: &Arc<AuthorizerPlugin>,
    request: &CheckRequest<'_>,
) {
    let Ok(shadowed) = ask(state, shadow, request).await else {
        tracing::warn!(
            shadow = shadow.name(),
            "the shadow authorizer failed; nothing compared"
        );
        return;
    };
    let active_allowed = receipt::allows(decision);
    if active_allowed == receipt::allows(&shadowed) {
        return;
    }
    state
        .metrics
        .shadow_disagreement(active.name(), shadow.name(), active_allowed);
    let both = serde_json::json!({
        "active": Receipt::from(&receipt_of(state, active, decision.clone(), request).await),
        "shadow": Receipt::from(&receipt_of(state, shadow, shadowed, request).await),
    });
    tracing::warn!(
        active = active.name(),
        shadow = shadow.name(),
        subject = %request.principal.subject,
        action = request.action,
        resource = request.resource,
        receipts = %both,
        "authorizers disagree; the active one decided"
    );
}
