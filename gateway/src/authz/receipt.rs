//! A decision receipt, as the API and the log show it.

use crate::plugin::{Decision, DecisionBasis};
use serde::Serialize;

/// What an authorizer decided and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Receipt {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// What decided: `granted`, `no_binding`, `scope_mismatch`,
    /// `mfa_required`, `denied` or `unavailable`.
    pub basis: &'static str,
    /// The authorizer's reason.
    pub reason: String,
    /// The deciding binding (or rule), if one did.
    pub binding: Option<String>,
    /// The role that binding grants.
    pub role: Option<String>,
    /// The policy snapshot version the decision was made on.
    pub policy_version: u64,
}

/// The API's name for a basis.
pub fn basis_name(basis: DecisionBasis) -> &'static str {
    match basis {
        DecisionBasis::Granted => "granted",
        DecisionBasis::NoBinding => "no_binding",
        DecisionBasis::ScopeMismatch => "scope_mismatch",
        DecisionBasis::MfaRequired => "mfa_required",
        DecisionBasis::Denied => "denied",
        DecisionBasis::Unavailable => "unavailable",
    }
}

/// Whether an authorizer's decision allows: it says so, on the basis of a
/// grant. An "allowed" decision with a refusing basis is garbage: deny.
pub fn allows(decision: &Decision) -> bool {
    decision.allowed && decision.basis == DecisionBasis::Granted
}

impl From<&Decision> for Receipt {
    fn from(decision: &Decision) -> Self {
        Self {
            allowed: allows(decision),
            basis: basis_name(decision.basis),
            reason: decision.reason.clone(),
            binding: decision.binding.clone(),
            role: decision.role.clone(),
            policy_version: decision.policy_version,
        }
    }
}
