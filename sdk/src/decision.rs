//! Building an authorizer's answer (a decision receipt).

use crate::{Decision, DecisionBasis, Verdict};

impl Decision {
    /// Allowed, for `reason`.
    pub fn allow(reason: impl Into<String>) -> Self {
        Self {
            allowed: true,
            basis: DecisionBasis::Granted,
            reason: reason.into(),
            binding: None,
            role: None,
            policy_version: 0,
        }
    }

    /// Denied on `basis`, for `reason`.
    pub fn deny(basis: DecisionBasis, reason: impl Into<String>) -> Self {
        Self {
            allowed: false,
            basis,
            reason: reason.into(),
            binding: None,
            role: None,
            policy_version: 0,
        }
    }

    /// Denied because the authorizer cannot decide.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::deny(DecisionBasis::Unavailable, reason)
    }

    /// Names the binding (or rule) that decided and the role it grants.
    pub fn by(mut self, binding: impl Into<String>, role: Option<String>) -> Self {
        self.binding = Some(binding.into());
        self.role = role;
        self
    }

    /// Records the policy snapshot version the decision was made on.
    pub fn on_version(mut self, version: u64) -> Self {
        self.policy_version = version;
        self
    }
}

impl From<&Decision> for Verdict {
    fn from(decision: &Decision) -> Self {
        Self {
            allowed: decision.allowed,
            basis: decision.basis,
            policy_version: decision.policy_version,
        }
    }
}
