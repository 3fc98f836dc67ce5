//! `authz-rbac`: role-based access control over the gateway's policy
//! snapshot (roles, bindings, the environment → connection tree).
//!
//! A check finds the bindings of the principal (its directory user and
//! groups) in its own organization whose role grants the action and whose
//! scope covers the resource; the first one decides. Scopes cover their
//! children: the organization everything in it, an environment
//! `orgs/O/environments/E…` and the connections in it, a connection
//! `orgs/O/connections/C…`. A resource outside `orgs/` (a proxied route's)
//! is covered by organization-scope bindings only. A request made with an
//! API key must also be allowed by the key's own bindings: its rights are
//! the intersection of its owner's and its own. Permissions the policy
//! marks as needing the second factor are refused with basis
//! `mfa-required` to principals whose `amr` lacks `mfa`. Anything else is
//! denied; no snapshot loaded denies everything.

pub mod decide;
pub mod policy;

use policy::Policy;
use portcullis_sdk::{Authorizer, CheckRequest, Decision, PluginError};

struct Rbac {
    policy: Option<Policy>,
}

impl Authorizer for Rbac {
    fn init() -> Result<Self, PluginError> {
        Ok(Self { policy: None })
    }

    fn load_policy(&mut self, snapshot: &str) -> Result<(), PluginError> {
        // The previous snapshot stays until the new one parsed completely.
        let policy = Policy::parse(snapshot).map_err(PluginError::InvalidInput)?;
        self.policy = Some(policy);
        Ok(())
    }

    fn check(&mut self, request: &CheckRequest<'_>) -> Decision {
        match &self.policy {
            Some(policy) => decide::decide(policy, request),
            None => Decision::unavailable("no policy snapshot loaded"),
        }
    }
}

portcullis_sdk::export_authorizer!(Rbac);
