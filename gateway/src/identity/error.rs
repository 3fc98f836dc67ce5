//! Why an identity operation failed. The HTTP layer maps each variant to a
//! status and a stable code; none carries a secret.

use crate::store::StoreError;

/// An identity failure.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The credential, password or code was not accepted.
    #[error("the credential was not accepted")]
    InvalidCredentials,
    /// The session or token has expired.
    #[error("the credential has expired")]
    CredentialExpired,
    /// The API key was right but has expired.
    #[error("the API key has expired")]
    ApiKeyExpired,
    /// The API key was right but has been revoked.
    #[error("the API key has been revoked")]
    ApiKeyRevoked,
    /// Too many failed attempts; retry after this many seconds.
    #[error("too many failed attempts; try again in {0} s")]
    Throttled(u32),
    /// The account is disabled.
    #[error("the account is disabled")]
    AccountDisabled,
    /// The caller must finish these actions first.
    #[error("finish these first: {}", .0.join(", "))]
    ActionsPending(Vec<String>),
    /// The named thing does not exist (or is not visible to the caller).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// It already exists.
    #[error("{0}")]
    Conflict(String),
    /// The input was not acceptable; the text says why.
    #[error("{0}")]
    InvalidInput(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A feature that is not configured (e.g. no local accounts provider).
    #[error("{0}")]
    NotConfigured(String),
    /// A single sign-on was refused by one of the gateway's account rules
    /// (not the provider's checks); `code` is stable, `message` says what
    /// would help.
    #[error("{message}")]
    SsoRefused {
        /// Stable code, e.g. `email_not_verified`.
        code: &'static str,
        /// What happened and what would help.
        message: String,
    },
    /// An identity provider failed; details are in the log.
    #[error("the identity provider is unavailable")]
    ProviderUnavailable,
    /// The store failed; details are in the log.
    #[error("storage failed")]
    Store(#[from] StoreError),
    /// A bug or broken invariant.
    #[error("internal error")]
    Internal,
}

impl IdentityError {
    /// A stable name for the audit log (never the message, which may
    /// quote input).
    pub fn audit_reason(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::CredentialExpired => "credential_expired",
            Self::ApiKeyExpired => "api_key_expired",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::Throttled(_) => "throttled",
            Self::AccountDisabled => "account_disabled",
            Self::ActionsPending(_) => "actions_pending",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::InvalidInput(_) => "invalid_input",
            Self::Forbidden(_) => "forbidden",
            Self::NotConfigured(_) => "not_configured",
            Self::SsoRefused { code, .. } => code,
            Self::ProviderUnavailable => "provider_unavailable",
            Self::Store(_) => "store_unavailable",
            Self::Internal => "internal_error",
        }
    }
}
