//! One decision, from the index.

use crate::policy::{Binding, Held, Policy};
use portcullis_sdk::{CheckRequest, Decision, DecisionBasis};

/// What a resource name designates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Target<'a> {
    environment: Option<&'a str>,
    connection: Option<&'a str>,
}

/// The segments of a resource name, split on `/` by bytes (resource names
/// are short: a byte loop beats the generic pattern searcher in a guest).
struct Segments<'a>(Option<&'a str>);

impl<'a> Iterator for Segments<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let rest = self.0?;
        match rest.bytes().position(|b| b == b'/') {
            Some(slash) => {
                self.0 = rest.get(slash + 1..);
                rest.get(..slash)
            }
            None => self.0.take(),
        }
    }
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
    let mut parts = Segments(Some(rest));
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

/// The outcome of looking through one set of bindings.
enum Found<'p> {
    Granted(&'p Binding),
    ScopeMismatch,
    Nothing,
}

/// The first of the subject's bindings in `org` that grants `bit` on a
/// scope covering `target`, broadest scope first: organization, then the
/// target's environment, then its connection. Only those lists are read,
/// however many bindings the subject holds elsewhere.
fn search<'p>(held: &'p Held, org: &str, bit: Option<u32>, target: &Target<'_>) -> Found<'p> {
    let grants = |binding: &&Binding| &*binding.org == org && binding.grants.holds(bit);
    let on = |lists: &'p crate::policy::IdMap<Vec<Binding>>, id: Option<&str>| {
        id.and_then(|id| lists.get(id))
            .map_or(&[][..], Vec::as_slice)
    };
    let found = held
        .organization
        .iter()
        .chain(on(&held.environments, target.environment))
        .chain(on(&held.connections, target.connection))
        .find(grants);
    match found {
        Some(binding) => Found::Granted(binding),
        None if held.anywhere_in(org).holds(bit) => Found::ScopeMismatch,
        None => Found::Nothing,
    }
}

/// [`search`] over several subjects (a user and their groups): the first
/// grant wins; a scope mismatch in any is reported over nothing at all.
fn search_all<'p>(
    held: impl Iterator<Item = &'p Held>,
    org: &str,
    bit: Option<u32>,
    target: &Target<'_>,
) -> Found<'p> {
    let mut mismatch = false;
    for one in held {
        match search(one, org, bit, target) {
            Found::Granted(binding) => return Found::Granted(binding),
            Found::ScopeMismatch => mismatch = true,
            Found::Nothing => {}
        }
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
        .into_iter()
        .chain(principal.groups.iter().map(|g| policy.group_bindings(g)));
    let granted = match search_all(own, org, bit, &target) {
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
        let basis = match search(policy.api_key_bindings(key), org, bit, &target) {
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
    if policy.needs_mfa(bit) && !principal.amr.contains("mfa") {
        return Decision::deny(
            DecisionBasis::MfaRequired,
            format!(
                "`{}` needs a sign-in with the second factor",
                request.action
            ),
        )
        .by(&*granted.id, Some(granted.role.to_string()))
        .on_version(version);
    }
    if !request.wants_receipt {
        // The hot path: only the verdict crosses back, so build nothing.
        return Decision::allow(String::new()).on_version(version);
    }
    // The receipt names the binding and role; the reason need not repeat
    // them.
    Decision::allow("granted by a binding")
        .by(&*granted.id, Some(granted.role.to_string()))
        .on_version(version)
}

#[cfg(test)]
mod tests;
