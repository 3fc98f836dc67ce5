//! `authz-cedar`: an authorizer whose policy is written in Cedar
//! (<https://www.cedarpolicy.com>) and evaluated inside the plugin with the
//! `cedar-policy` crate. It replaces `authz-rbac` by configuration alone:
//!
//! ```toml
//! [plugins.authz]
//! path = "authz_cedar.wasm"
//! [plugins.authz.config]
//! policies = '''
//! @id("admins-run-their-organization")
//! permit(principal in Group::"admins", action, resource)
//!   when { resource.org == principal.org };
//! @id("settings-need-the-second-factor")
//! forbid(principal, action == Action::"settings:manage", resource)
//!   unless { context.mfa };
//! '''
//! ```
//!
//! What a policy sees (see [`entities`]): the principal `User::"<user id>"`
//! (or its subject outside the directory) with attribute `org` and parents
//! `Group::"<name>"` for its groups; the action `Action::"<permission>"`;
//! the resource named by the gateway's resource name: `Org::"<org>"`,
//! `Environment::"<id>"` (in its `Org`), `Connection::"<id>"` (in its
//! `Environment`, from the gateway's policy snapshot), or
//! `Resource::"<name>"` below the deepest of those, each with attribute
//! `org`; the context `mfa` and `api_key` (booleans). Principals and
//! resources outside any organization have no `org`: a policy that reads
//! it does not apply to them (Cedar skips a policy whose evaluation
//! fails), so such a policy fails closed. Policy ids (`@id`) name the deciding policies in receipts.

pub mod entities;

use cedar_policy::{Authorizer as Cedar, Decision as Verdict, PolicyId, PolicySet};
use entities::{Tree, request_and_entities};
use portcullis_sdk::{Authorizer, CheckRequest, Decision, DecisionBasis, PluginError, config};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The Cedar policy set.
    policies: String,
}

/// Parses a policy set, naming what is wrong. A policy's `@id("…")`
/// annotation becomes its id, so receipts name policies as their authors
/// do; the others keep Cedar's `policy0`, `policy1`, ….
pub fn parse_policies(text: &str) -> Result<PolicySet, String> {
    let parsed = text
        .parse::<PolicySet>()
        .map_err(|e| format!("`policies` is not a valid Cedar policy set: {e}"))?;
    if parsed.templates().next().is_some() {
        return Err("`policies` holds templates; write static policies".into());
    }
    let mut named = PolicySet::new();
    for policy in parsed.policies() {
        let policy = match policy.annotation("id") {
            Some(id) => policy.new_id(PolicyId::new(id)),
            None => policy.clone(),
        };
        let id = policy.id().to_string();
        named
            .add(policy)
            .map_err(|_| format!("`policies`: two policies have the id `{id}`"))?;
    }
    Ok(named)
}

/// The policy set, the resource tree and the snapshot version.
pub struct CedarAuthz {
    policies: PolicySet,
    tree: Tree,
    version: u64,
    cedar: Cedar,
}

impl CedarAuthz {
    /// An authorizer over `policies`, with no resource tree yet.
    pub fn new(policies: PolicySet) -> Self {
        Self {
            policies,
            tree: Tree::default(),
            version: 0,
            cedar: Cedar::new(),
        }
    }

    /// Takes the resource tree and version from a gateway snapshot.
    pub fn load(&mut self, snapshot: &str) -> Result<(), String> {
        let (tree, version) = Tree::from_snapshot(snapshot)?;
        self.tree = tree;
        self.version = version;
        Ok(())
    }

    /// Decides one request.
    pub fn decide(&self, request: &CheckRequest<'_>) -> Decision {
        let (cedar_request, entities) = match request_and_entities(&self.tree, request) {
            Ok(built) => built,
            Err(error) => {
                return Decision::unavailable(format!("cannot put the request to Cedar: {error}"))
                    .on_version(self.version);
            }
        };
        let response = self
            .cedar
            .is_authorized(&cedar_request, &self.policies, &entities);
        let deciding: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        let errors = response.diagnostics().errors().count();
        let decision = match (response.decision(), deciding.is_empty()) {
            (Verdict::Allow, _) => Decision::allow(format!("permitted by {}", deciding.join(", ")))
                .by(deciding.join(","), None),
            (Verdict::Deny, false) => Decision::deny(
                DecisionBasis::Denied,
                format!("forbidden by {}", deciding.join(", ")),
            )
            .by(deciding.join(","), None),
            (Verdict::Deny, true) => Decision::deny(
                DecisionBasis::NoBinding,
                if errors > 0 {
                    format!("no policy permits it ({errors} policies failed to evaluate)")
                } else {
                    "no policy permits it".to_string()
                },
            ),
        };
        decision.on_version(self.version)
    }
}

struct Plugin(CedarAuthz);

impl Authorizer for Plugin {
    fn init() -> Result<Self, PluginError> {
        let config: Config = config::get()?;
        let policies = parse_policies(&config.policies).map_err(PluginError::InvalidConfig)?;
        Ok(Self(CedarAuthz::new(policies)))
    }

    fn load_policy(&mut self, snapshot: &str) -> Result<(), PluginError> {
        self.0.load(snapshot).map_err(PluginError::InvalidInput)
    }

    fn check(&mut self, request: &CheckRequest<'_>) -> Decision {
        self.0.decide(request)
    }
}

portcullis_sdk::export_authorizer!(Plugin);

#[cfg(test)]
mod tests;
