//! One decision, from the index.

use crate::policy::{Binding, Policy, Scope};
use portcullis_sdk::{CheckRequest, Decision, DecisionBasis};

/// What a resource name designates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Target<'a> {
    environment: Option<&'a str>,
    connection: Option<&'a str>,
}

/// The organization a resource belongs to and what in it: `None` for a
/// resource of another organization than `org`.
fn target<'a>(policy: &'a Policy, org: &str, resource: &'a str) -> Option<Target<'a>> {
    let Some(rest) = resource.strip_prefix("orgs/") else {
        // Not tenant-named (a proxied route's resource): organization level.
        return Some(Target {
            environment: None,
            connection: None,
        });
    };
    let mut parts = rest.split('/');
    if parts.next() != Some(org) {
        return None;
    }
    let mut found = Target {
        environment: None,
        connection: None,
    };
    match (parts.next(), parts.next()) {
        (Some("environments"), Some(env)) if !env.is_empty() => {
            found.environment = Some(env);
            if let (Some("connections"), Some(conn)) = (parts.next(), parts.next())
                && !conn.is_empty()
            {
                // A connection named under an environment it is not in
                // designates neither: only organization scope covers it.
                if policy.environment_of(org, conn) == Some(env) {
                    found.connection = Some(conn);
                } else {
                    found.environment = None;
                }
            }
        }
        (Some("connections"), Some(conn)) if !conn.is_empty() => {
            found.connection = Some(conn);
            found.environment = policy.environment_of(org, conn);
        }
        _ => {}
    }
    Some(found)
}

fn covers(scope: &Scope, target: &Target<'_>) -> bool {
    match scope {
        Scope::Organization => true,
        Scope::Environment(env) => target.environment == Some(&**env),
        Scope::Connection(conn) => target.connection == Some(&**conn),
    }
}

/// The outcome of looking through one set of bindings.
enum Found<'p> {
    Granted(&'p Binding),
    ScopeMismatch,
    Nothing,
}

fn search<'p>(
    bindings: impl Iterator<Item = &'p Binding>,
    org: &str,
    bit: Option<u32>,
    target: &Target<'_>,
) -> Found<'p> {
    let mut mismatch = false;
    for binding in bindings {
        if &*binding.org != org || !binding.grants.holds(bit) {
            continue;
        }
        if covers(&binding.scope, target) {
            return Found::Granted(binding);
        }
        mismatch = true;
    }
    if mismatch {
        Found::ScopeMismatch
    } else {
        Found::Nothing
    }
}

/// Decides `request` on `policy`.
pub fn decide(policy: &Policy, request: &CheckRequest<'_>) -> Decision {
    let version = policy.version;
    let principal = &request.principal;
    let Some(org) = principal.organization else {
        return Decision::deny(
            DecisionBasis::NoBinding,
            "the principal belongs to no organization",
        )
        .on_version(version);
    };
    let Some(target) = target(policy, org, request.resource) else {
        return Decision::deny(
            DecisionBasis::NoBinding,
            "the resource belongs to another organization",
        )
        .on_version(version);
    };
    let bit = policy.action_bit(request.action);
    let own = principal
        .user_id
        .map(|id| policy.user_bindings(id))
        .unwrap_or_default()
        .iter()
        .chain(
            principal
                .groups
                .iter()
                .flat_map(|g| policy.group_bindings(g)),
        );
    let granted = match search(own, org, bit, &target) {
        Found::Granted(binding) => binding,
        Found::ScopeMismatch => {
            return Decision::deny(
                DecisionBasis::ScopeMismatch,
                format!(
                    "a binding grants `{}`, but on another scope than `{}`",
                    request.action, request.resource
                ),
            )
            .on_version(version);
        }
        Found::Nothing => {
            return Decision::deny(
                DecisionBasis::NoBinding,
                format!("no binding grants `{}`", request.action),
            )
            .on_version(version);
        }
    };
    if let Some(key) = principal.api_key_id {
        let basis = match search(policy.api_key_bindings(key).iter(), org, bit, &target) {
            Found::Granted(_) => None,
            Found::ScopeMismatch => Some(DecisionBasis::ScopeMismatch),
            Found::Nothing => Some(DecisionBasis::NoBinding),
        };
        if let Some(basis) = basis {
            return Decision::deny(
                basis,
                format!(
                    "the owner may, but the API key's own bindings do not allow `{}` on `{}`",
                    request.action, request.resource
                ),
            )
            .on_version(version);
        }
    }
    let role = Some(granted.role.to_string());
    if policy.needs_mfa(bit) && !principal.amr.contains(&"mfa") {
        return Decision::deny(
            DecisionBasis::MfaRequired,
            format!(
                "`{}` needs a sign-in with the second factor",
                request.action
            ),
        )
        .by(&*granted.id, role)
        .on_version(version);
    }
    // The receipt names the binding and role; the reason need not repeat
    // them (one allocation fewer on every allowed check).
    Decision::allow("granted by a binding")
        .by(&*granted.id, role)
        .on_version(version)
}

#[cfg(test)]
mod tests;
