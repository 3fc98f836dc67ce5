//! Enforcement of each endpoint's [`Access`] before its handler runs: the
//! one place the control-plane API authenticates callers, keeps them
//! inside their organization and asks the authorizer.
//!
//! Handlers read what was admitted through the [`Admitted`] extractors in
//! `extract`; none of them repeats a permission or a resource name, so the
//! endpoint table cannot drift from what is enforced.

use super::{Access, Endpoint, Guard};
use crate::audit;
use crate::http::router::GatewayState;
use crate::http::{ApiError, identify, permission};
use crate::identity::Caller;
use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, header};
use std::sync::Arc;

/// What the enforcement admitted, for the handler.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The caller.
    pub caller: Caller,
    /// The organization the request acts in (for [`Access::Permission`]).
    pub org: Option<String>,
}

/// Runs before the handler of `endpoint`.
pub async fn enforce(
    State((state, endpoint)): State<(Arc<GatewayState>, &'static Endpoint)>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let writes = !parts.method.is_safe();
    let admitted = admit(&state, endpoint.access, endpoint.guard, &mut parts).await;
    let context = audit_context(&parts);
    let mut response = match admitted {
        // Everything the handler records names this caller and client.
        Ok(()) => audit::context::scope(context, next.run(Request::from_parts(parts, body))).await,
        Err(error) => {
            if matches!(
                error,
                ApiError::InvalidCredentials | ApiError::CredentialExpired
            ) {
                let event = audit::Event::AuthFailed {
                    method: "credential".into(),
                    provider: None,
                    reason: error.code().into(),
                    org: None,
                };
                audit::context::scope(context.clone(), async {
                    state.authz.events().emit(event);
                })
                .await;
            }
            audit::context::scope(context, async { error.into_response() }).await
        }
    };
    // A change to the policy (roles, bindings, the resource tree) is
    // enforced from the next request: the authorizers hold it before the
    // answer leaves. Other writes find the snapshot unchanged.
    if writes
        && response.status().is_success()
        && let Err(error) = permission::publish(&state).await
    {
        tracing::error!(
            ?error,
            "the policy change is stored but the authorizer could not load it"
        );
    }
    // API answers are for one caller at one moment, and some carry
    // secrets shown once (one-time passwords, TOTP secrets, recovery
    // codes, new API keys, tokens): no cache may keep any of them. An
    // endpoint meant to be cached (the JWKS) says so itself.
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Who is acting and from where, for the events of this request.
fn audit_context(parts: &Parts) -> audit::context::Context {
    let info = identify::request_info_of(parts);
    let actor = parts.extensions.get::<Admitted>().map_or_else(
        || identify::ANONYMOUS.to_string(),
        |admitted| actor_of(&admitted.caller),
    );
    let present = |value: String| (!value.is_empty()).then_some(value);
    audit::context::Context {
        actor,
        client: present(info.client_ip),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect()),
        request_id: present(info.request_id),
    }
}

/// How the audit log names `caller`: `api_key:<id>`, `user:<id>`, or the
/// principal's subject.
pub fn actor_of(caller: &Caller) -> String {
    match (&caller.api_key_id, &caller.user) {
        (Some(key), _) => format!("api_key:{key}"),
        (None, Some(user)) => format!("user:{}", user.id),
        (None, None) => caller.principal.subject.clone(),
    }
}

async fn admit(
    state: &GatewayState,
    access: Access,
    guard: Guard,
    parts: &mut Parts,
) -> Result<(), ApiError> {
    if access == Access::Public {
        return Ok(());
    }
    let caller = identify::caller(state, parts)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    if access != Access::Authenticated {
        caller.require_full_access()?;
    }
    match guard {
        Guard::Any => {}
        Guard::SignedIn => require_signed_in(&caller)?,
        Guard::StepUp => {
            require_signed_in(&caller)?;
            require_step_up(state, &caller).await?;
        }
    }
    let org = match access {
        Access::Public | Access::Authenticated | Access::FullAccess => None,
        Access::Platform => {
            require_platform_operator(&caller)?;
            None
        }
        Access::Permission { action, resource } => {
            let params = RawPathParams::from_request_parts(parts, &())
                .await
                .map_err(|_| ApiError::Internal)?;
            let params: Vec<(&str, &str)> = params.iter().collect();
            Some(authorize(state, &caller, action, resource, &params).await?)
        }
    };
    parts.extensions.insert(Admitted { caller, org });
    Ok(())
}

/// Passwords, second factors and sessions are managed by a person who
/// signed in, never with an API key: a leaked key must not be a way to
/// take the account over.
fn require_signed_in(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_api_key() || caller.session_id.is_none() {
        return Err(ApiError::NotPermitted(
            "API keys cannot manage passwords, second factors or sessions; sign in to do this"
                .into(),
        ));
    }
    Ok(())
}

/// A recent sign-in, with the second factor when one is enrolled. Neither
/// an old session nor a fresh access token of one is enough.
async fn require_step_up(state: &GatewayState, caller: &Caller) -> Result<(), ApiError> {
    let max_age = state.identity.config().step_up_max_age_secs;
    let window = format!("{} minutes", max_age.div_ceil(60));
    let recent = caller.signed_in_at.is_some_and(|at| {
        // Whole seconds on both sides: `<` keeps the window from
        // stretching by the truncated fraction (fail closed).
        crate::identity::now() - at < i64::try_from(max_age).unwrap_or(i64::MAX)
    });
    if !recent {
        return Err(ApiError::StepUpRequired(format!(
            "sign in again (within the last {window}) to do this"
        )));
    }
    // Only a sign-in without the second factor needs the (plugin) look-up.
    let used_second_factor = caller.principal.amr.iter().any(|m| m == "mfa");
    let has_second_factor = match &caller.user {
        Some(user) if !used_second_factor => state.identity.has_second_factor(&user.id).await?,
        _ => false,
    };
    if has_second_factor {
        return Err(ApiError::StepUpRequired(format!(
            "sign in again with your second factor (within the last {window}) to do this"
        )));
    }
    Ok(())
}

/// Platform operators are directory users with the capability, signed in
/// themselves: an API key never carries it.
fn require_platform_operator(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_platform_operator() {
        Ok(())
    } else {
        Err(ApiError::NotPermitted(
            "only a platform operator can do this (it spans organizations)".into(),
        ))
    }
}

/// Checks that `caller` may do `action` on the resource `template` names
/// and returns the organization the request acts in.
async fn authorize(
    state: &GatewayState,
    caller: &Caller,
    action: &str,
    template: &str,
    params: &[(&str, &str)],
) -> Result<String, ApiError> {
    let own = caller.org_id().ok_or_else(|| {
        ApiError::NotPermitted("only directory users can administer an organization".into())
    })?;
    if let Some((_, named)) = params.iter().find(|(name, _)| *name == "org_id")
        && *named != own
    {
        // Another tenant: not even its existence is confirmed, unless the
        // caller may act across organizations.
        if caller.is_platform_operator() {
            return Ok((*named).to_string());
        }
        return Err(ApiError::ResourceNotFound("organization"));
    }
    let resource = resource_name(template, own, params)?;
    let receipt = permission::check(
        state,
        caller.into(),
        action,
        &resource,
        permission::Detail::Receipt,
    )
    .await?;
    // Reads are many and change nothing; every other allowed action is
    // recorded with the decision that allowed it.
    if !is_read(action) {
        state.authz.events().emit(audit::Event::AccessAllowed {
            subject: actor_of(caller),
            org: Some(own.to_string()),
            permission: action.to_string(),
            resource,
            basis: receipt.basis.to_string(),
            binding: receipt.binding.clone(),
            role: receipt.role.clone(),
            policy_version: receipt.policy_version,
        });
    }
    Ok(own.to_string())
}

/// Whether `permission` only reads (`…:read`).
fn is_read(permission: &str) -> bool {
    permission.ends_with(":read")
}

/// Fills `template` from the caller's organization and the path
/// parameters. A parameter that is not a plain id (letters, digits, `_`,
/// `-`, `.`) names nothing the gateway stores: not found, and never part
/// of a resource name an authorizer could misread.
fn resource_name(template: &str, org: &str, params: &[(&str, &str)]) -> Result<String, ApiError> {
    let mut name = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        name.push_str(&rest[..start]);
        let end = rest[start..].find('}').ok_or(ApiError::Internal)? + start;
        let key = &rest[start + 1..end];
        let value = if key == "org" {
            org
        } else {
            params
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, value)| *value)
                .ok_or(ApiError::Internal)?
        };
        if !is_plain_id(value) {
            return Err(ApiError::ResourceNotFound("resource"));
        }
        name.push_str(value);
        rest = &rest[end + 1..];
    }
    name.push_str(rest);
    Ok(name)
}

/// [`is_plain_id`] as a JSON Schema pattern, for the path parameters of
/// the OpenAPI document.
pub const PLAIN_ID_PATTERN: &str = r"^(?!\.{1,2}$)[A-Za-z0-9_.-]{1,128}$";

/// Whether `value` can be an id the gateway stores: 1–128 letters,
/// digits, `_`, `-` or `.`, and not `.` or `..`.
pub fn is_plain_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value != "."
        && value != ".."
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_carry_the_callers_organization() {
        assert_eq!(
            resource_name(
                "orgs/{org}/users/{user_id}",
                "org_b",
                &[("user_id", "usr_1")]
            ),
            Ok("orgs/org_b/users/usr_1".into())
        );
        assert_eq!(
            resource_name("orgs/{org_id}", "org_b", &[("org_id", "org_b")]),
            Ok("orgs/org_b".into())
        );
    }

    #[test]
    fn the_schema_pattern_describes_plain_ids() {
        // The pattern, spelled out: no `.`/`..`, then the id characters.
        assert_eq!(PLAIN_ID_PATTERN, r"^(?!\.{1,2}$)[A-Za-z0-9_.-]{1,128}$");
        for id in ["usr_1", "org_default", "a.b-c", "x"] {
            assert!(is_plain_id(id), "{id}");
        }
        for bad in [".", "..", "", "a/b", "a b", "é", &"x".repeat(129)] {
            assert!(!is_plain_id(bad), "{bad}");
        }
    }

    #[test]
    fn parameters_that_are_not_plain_ids_name_nothing() {
        for value in ["../org_a", "a/b", "", "..", "x*", "usr 1", "a%2Fb", "é"] {
            assert_eq!(
                resource_name("orgs/{org}/users/{user_id}", "org_b", &[("user_id", value)]),
                Err(ApiError::ResourceNotFound("resource")),
                "{value:?}"
            );
        }
    }
}
