//! Who is calling, and the credentials the gateway itself issues: sessions,
//! access tokens and API keys, plus the user directory they refer to.
//!
//! [`Identity`] is the one service the HTTP API and the `portcullis admin`
//! command both use, so every rule (password policy, key lifetimes, MFA
//! requirements, revocation) is enforced in one place.

pub mod access_token;
pub mod api_key;
mod api_key_admin;
mod bootstrap;
pub mod cache;
mod caller;
pub mod certificates;
mod directory;
mod error;
pub mod login;
mod mfa;
pub mod sessions;
pub mod signer;
pub mod sso;

pub use api_key_admin::NewApiKey;
pub use bootstrap::{ADMIN_GROUP, BootstrapAdmin};
pub use caller::{Caller, Presented, api_key_principal, directory_principal};
pub use directory::NewUser;
pub use error::IdentityError;
pub use sessions::{LoginOutcome, NewSession, SESSION_TOKEN_SEPARATOR};

use crate::config::IdentityConfig;
use crate::metrics::Metrics;
use crate::plugin::{AuthProviderPlugin, GuestError, GuestResult, PluginRegistry};
use crate::store::{ApiKeyRecord, OrgRecord, SessionRecord, Store, UserRecord, derive_key};
use api_key::KeyedHasher;
use cache::TtlCache;
use login::LoginFlows;
use secrecy::SecretBox;
use signer::TokenSigner;
use std::sync::Arc;
use std::time::Duration;

/// Actions a session must complete before it gets full access.
pub mod pending {
    /// The password was set by someone else and must be changed.
    pub const CHANGE_PASSWORD: &str = "change_password";
    /// The organization requires MFA and the user has none yet.
    pub const ENROLL_MFA: &str = "enroll_mfa";
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The identity service.
pub struct Identity {
    store: Store,
    plugins: Arc<PluginRegistry>,
    config: IdentityConfig,
    signer: TokenSigner,
    api_key_hasher: KeyedHasher,
    session_hasher: KeyedHasher,
    sessions: TtlCache<SessionRecord>,
    api_keys: TtlCache<ApiKeyRecord>,
    /// The principal of each API key, for as long as its owner's and its
    /// own cached records stay the same.
    api_key_principals: cache::DerivedCache<UserRecord, ApiKeyRecord, crate::plugin::Principal>,
    users: TtlCache<UserRecord>,
    orgs: TtlCache<OrgRecord>,
    flows: LoginFlows,
    sso_certificates: certificates::CertificateWatch,
    /// Identity providers the configuration file declares (the API cannot
    /// change them).
    declared_providers: std::sync::RwLock<std::collections::BTreeSet<String>>,
    metrics: Arc<Metrics>,
    events: crate::audit::Events,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Builds the service; `root_key` is the gateway's local key, from
    /// which the hashing keys for API keys and session secrets are derived.
    pub async fn new(
        store: Store,
        plugins: Arc<PluginRegistry>,
        config: IdentityConfig,
        root_key: &SecretBox<[u8; 32]>,
        metrics: Arc<Metrics>,
        events: crate::audit::Events,
    ) -> Result<Self, IdentityError> {
        let seal_error = |_| IdentityError::Internal;
        let api_key_hasher =
            KeyedHasher::new(&derive_key(root_key, "api-key-hash").map_err(seal_error)?);
        let session_hasher =
            KeyedHasher::new(&derive_key(root_key, "session-hash").map_err(seal_error)?);
        let signer = TokenSigner::load(
            store.clone(),
            &config.issuer,
            &config.audience,
            config.signing_key_rotation_secs,
            config.access_token_ttl_secs,
            now(),
        )
        .await?;
        let ttl = Duration::from_millis(config.cache_ttl_ms);
        Ok(Self {
            flows: LoginFlows::new(store.clone(), config.login_flow_timeout_secs),
            sso_certificates: certificates::CertificateWatch::default(),
            declared_providers: std::sync::RwLock::default(),
            store,
            plugins,
            signer,
            api_key_hasher,
            session_hasher,
            sessions: TtlCache::new(ttl),
            api_keys: TtlCache::new(ttl),
            api_key_principals: cache::DerivedCache::default(),
            users: TtlCache::new(ttl),
            orgs: TtlCache::new(ttl),
            metrics,
            events,
            config,
        })
    }

    /// Where the service records audit events.
    pub fn events(&self) -> &crate::audit::Events {
        &self.events
    }

    /// The access-token signer (for the JWKS endpoint and maintenance).
    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// Forgets login flows that timed out; how many.
    pub async fn purge_login_flows(&self) -> Result<u64, IdentityError> {
        self.flows.purge(now()).await
    }

    /// The store the service works on.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The identity settings.
    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }

    /// The local accounts provider, or why there is none.
    fn local_provider(&self) -> Result<Arc<AuthProviderPlugin>, IdentityError> {
        let name = self.config.local_provider.as_deref().ok_or_else(|| {
            IdentityError::NotConfigured(
                "local accounts are not enabled (set identity.local_provider)".into(),
            )
        })?;
        self.plugins
            .auth_provider(name)
            .ok_or(IdentityError::ProviderUnavailable)
    }

    /// A user by id, from the cache when fresh.
    async fn cached_user(&self, id: &str) -> Result<Option<Arc<UserRecord>>, IdentityError> {
        Ok(self.users.get_or_load(id, self.store.user(id)).await?)
    }

    /// An organization by id, from the cache when fresh.
    async fn cached_org(&self, id: &str) -> Result<Option<Arc<OrgRecord>>, IdentityError> {
        Ok(self.orgs.get_or_load(id, self.store.org(id)).await?)
    }
}

/// Maps a plugin answer to an identity result; plugin failures are logged
/// here and reach the client only as "unavailable".
fn from_guest<T>(provider: &str, result: GuestResult<T>) -> Result<T, IdentityError> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(GuestError::InvalidCredentials)) => Err(IdentityError::InvalidCredentials),
        Ok(Err(GuestError::Expired)) => Err(IdentityError::CredentialExpired),
        Ok(Err(GuestError::Throttled(seconds))) => Err(IdentityError::Throttled(seconds)),
        Ok(Err(GuestError::InvalidInput(why))) => Err(IdentityError::InvalidInput(why)),
        Ok(Err(GuestError::NotFound)) => Err(IdentityError::NotFound("account")),
        Ok(Err(GuestError::UnsupportedCredential)) => Err(IdentityError::NotConfigured(format!(
            "the identity provider `{provider}` does not support this"
        ))),
        Ok(Err(other)) => {
            tracing::error!(plugin = provider, error = ?other, "identity provider failed");
            Err(IdentityError::ProviderUnavailable)
        }
        Err(error) => {
            tracing::error!(plugin = provider, %error, "identity provider call failed");
            Err(IdentityError::ProviderUnavailable)
        }
    }
}
