//! Typed calls into each world. Each function leases a warm instance, runs
//! the call under the plugin's limits and settles the lease.

use super::PluginCallError;
use super::bindings::{
    auth_provider, authorizer, authorizer_direct, key_provider, secrets_backend, types,
};
use super::engine::Linked;
use super::loaded::PolicySnapshot;
use super::pool::{Isolation, WorldBindings};
use super::state::HostState;
use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::InstancePre;

pub use super::bindings::auth_provider::exports::portcullis::plugin::accounts::{
    MfaStatus, TotpEnrollment,
};
pub use super::bindings::auth_provider::exports::portcullis::plugin::authenticate::{
    Credential, Form, FormField, LoginInput, LoginStep, ProviderDescription, ServiceEndpoints,
    StepResult,
};
pub use super::bindings::key_provider::exports::portcullis::plugin::keys::{
    GeneratedKey, WrappedKey,
};
pub use super::bindings::secrets_backend::exports::portcullis::plugin::secrets::Secret;
pub use portcullis_wire::{CheckRequest, Pairs, PrincipalView, Strings};
pub use types::{Attribute, Decision, DecisionBasis, Principal, RequestInfo};

impl From<types::Verdict> for Decision {
    fn from(verdict: types::Verdict) -> Self {
        Self {
            allowed: verdict.allowed,
            basis: verdict.basis,
            reason: String::new(),
            binding: None,
            role: None,
            policy_version: verdict.policy_version,
        }
    }
}

impl portcullis_wire::AsPair for Attribute {
    fn as_pair(&self) -> (&str, &str) {
        (&self.name, &self.value)
    }
}

/// A failure the guest reported as a value (wrong credential, not found, ...).
pub type GuestError = types::PluginError;

pub(super) fn guest_text(error: &GuestError) -> String {
    match error {
        GuestError::InvalidCredentials => "invalid credentials".into(),
        GuestError::Expired => "expired".into(),
        GuestError::UnsupportedCredential => "unsupported credential".into(),
        GuestError::NotFound => "not found".into(),
        GuestError::InvalidInput(why) => format!("invalid input: {why}"),
        GuestError::InvalidConfig(why) => format!("invalid config: {why}"),
        GuestError::Unavailable(why) => format!("unavailable: {why}"),
        GuestError::Internal(why) => format!("internal error: {why}"),
        GuestError::Throttled(seconds) => format!("throttled for {seconds} s"),
    }
}

macro_rules! world_bindings {
    ($bindings:ty, $pre:ty, $world:ident, $iface:ident) => {
        impl WorldBindings for $bindings {
            const WORLD: super::World = super::World::$world;
            type Pre = $pre;

            fn pre(linked: Linked) -> wasmtime::Result<Self::Pre> {
                <$pre>::new(linked.pre)
            }

            async fn instantiate(
                pre: &Self::Pre,
                store: &mut Store<HostState>,
            ) -> wasmtime::Result<Self> {
                pre.instantiate_async(store).await
            }

            async fn init(
                &self,
                store: &mut Store<HostState>,
            ) -> wasmtime::Result<Result<(), String>> {
                Ok(self
                    .$iface()
                    .call_init(store)
                    .await?
                    .map_err(|e| guest_text(&e)))
            }
        }
    };
}

/// An authorizer instance's exports: called on a fiber, and also directly
/// when the instance was linked for direct calls (see `plugin::direct`).
#[doc(hidden)]
pub struct AuthorizerExports {
    on_fiber: authorizer::Authorizer,
    direct: Option<authorizer_direct::Authorizer>,
}

/// A linked authorizer component with its export indices.
#[doc(hidden)]
pub struct AuthorizerLinked {
    pre: InstancePre<HostState>,
    on_fiber: authorizer::AuthorizerIndices,
    direct: Option<authorizer_direct::AuthorizerIndices>,
}

impl WorldBindings for AuthorizerExports {
    const WORLD: super::World = super::World::Authorizer;
    type Pre = AuthorizerLinked;

    fn pre(linked: Linked) -> wasmtime::Result<Self::Pre> {
        let direct = match linked.direct {
            true => Some(authorizer_direct::AuthorizerIndices::new(&linked.pre)?),
            false => None,
        };
        Ok(AuthorizerLinked {
            on_fiber: authorizer::AuthorizerIndices::new(&linked.pre)?,
            direct,
            pre: linked.pre,
        })
    }

    async fn instantiate(pre: &Self::Pre, store: &mut Store<HostState>) -> wasmtime::Result<Self> {
        let instance = pre.pre.instantiate_async(&mut *store).await?;
        let direct = match &pre.direct {
            Some(indices) => Some(indices.load(&mut *store, &instance)?),
            None => None,
        };
        Ok(Self {
            on_fiber: pre.on_fiber.load(&mut *store, &instance)?,
            direct,
        })
    }

    async fn init(&self, store: &mut Store<HostState>) -> wasmtime::Result<Result<(), String>> {
        Ok(self
            .on_fiber
            .portcullis_plugin_authorize()
            .call_init(store)
            .await?
            .map_err(|e| guest_text(&e)))
    }
}
world_bindings!(
    auth_provider::AuthProvider,
    auth_provider::AuthProviderPre<HostState>,
    AuthProvider,
    portcullis_plugin_authenticate
);
world_bindings!(
    secrets_backend::SecretsBackend,
    secrets_backend::SecretsBackendPre<HostState>,
    SecretsBackend,
    portcullis_plugin_secrets
);
world_bindings!(
    key_provider::KeyProvider,
    key_provider::KeyProviderPre<HostState>,
    KeyProvider,
    portcullis_plugin_keys
);

/// An `authorizer` plugin.
pub type AuthorizerPlugin = super::LoadedPlugin<AuthorizerExports>;
/// An `auth-provider` plugin.
pub type AuthProviderPlugin = super::LoadedPlugin<auth_provider::AuthProvider>;
/// A `secrets-backend` plugin.
pub type SecretsBackendPlugin = super::LoadedPlugin<secrets_backend::SecretsBackend>;
/// A `key-provider` plugin.
pub type KeyProviderPlugin = super::LoadedPlugin<key_provider::KeyProvider>;

/// Runs one export call: lease an instance, call `$function` on it under
/// the plugin's limits, settle the lease. `$warm` names the leased
/// instance (its `bindings` and `store`) inside `$call`.
macro_rules! plugin_call {
    ($plugin:expr, $isolation:expr, $function:literal, |$warm:ident| $call:expr) => {{
        let pool = $plugin.pool();
        let mut lease = pool.lease($isolation).await?;
        let $warm = lease.warm();
        let outcome = pool.guard($function, $call).await;
        lease.settle(outcome)
    }};
}

/// The check-request view of a principal the gateway vouched for, with
/// the directory user and the API key the request presented.
pub fn principal_view<'a>(
    principal: &'a Principal,
    user_id: Option<&'a str>,
    api_key_id: Option<&'a str>,
) -> PrincipalView<'a> {
    PrincipalView {
        subject: &principal.subject,
        issuer: &principal.issuer,
        organization: principal.organization.as_deref(),
        user_id,
        api_key_id,
        email: principal.email.as_deref(),
        display_name: principal.display_name.as_deref(),
        groups: Strings::of_owned(&principal.groups),
        amr: Strings::of_owned(&principal.amr),
        attributes: Pairs::lent(&principal.attributes),
    }
}

impl AuthorizerPlugin {
    /// Asks whether the request's principal may do its action on its
    /// resource, on a warm instance (the hot path).
    pub async fn check(&self, request: &CheckRequest<'_>) -> Result<Decision, PluginCallError> {
        self.check_on(Isolation::Warm, request).await
    }

    /// [`Self::check`] on an instance chosen by `isolation`. The request
    /// crosses the boundary as one string (see `portcullis_wire`); with
    /// `wants_receipt` the plugin's `explain` answers it with the whole
    /// receipt, without, its `check` with the verdict alone (a decision
    /// with no reason, binding or role).
    ///
    /// An instance that holds an older snapshot than the current one loads
    /// the current one first; one that refuses it answers `unavailable`
    /// (fail closed) until a snapshot it accepts is installed.
    pub async fn check_on(
        &self,
        isolation: Isolation,
        request: &CheckRequest<'_>,
    ) -> Result<Decision, PluginCallError> {
        let encoded = encode(request);
        let pool = self.pool();
        let mut lease = pool.lease(isolation).await?;
        // Read after leasing: an instance prepared by a rollout already
        // holds the snapshot that rollout made current. The snapshot itself
        // is only taken (a reference count) when this instance lacks it.
        let warm = lease.warm();
        let policy = match self.current_policy_version() {
            Some(version) if warm.policy_version != Some(version) => self.current_policy(),
            _ => None,
        };
        // The hot path: the instance holds the current snapshot and can be
        // called without a fiber.
        if policy.is_none()
            && let Some(direct) = &warm.bindings.direct
        {
            let authorize = direct.portcullis_plugin_authorize();
            let store = &mut warm.store;
            let outcome = if request.wants_receipt {
                pool.guard_direct("explain", || authorize.call_explain(store, &encoded))
            } else {
                pool.guard_direct("check", || {
                    authorize.call_check(store, &encoded).map(Decision::from)
                })
            };
            return lease.settle(outcome);
        }
        let outcome = pool
            .guard("check", async {
                let authorize = warm.bindings.on_fiber.portcullis_plugin_authorize();
                if let Some(policy) = &policy
                    && warm.policy_version != Some(policy.version)
                {
                    match authorize
                        .call_load_policy(&mut warm.store, &policy.json)
                        .await?
                    {
                        Ok(()) => warm.policy_version = Some(policy.version),
                        Err(error) => {
                            return Ok(refused_policy(policy.version, &error));
                        }
                    }
                }
                if request.wants_receipt {
                    authorize.call_explain(&mut warm.store, &encoded).await
                } else {
                    let verdict = authorize.call_check(&mut warm.store, &encoded).await?;
                    Ok(Decision::from(verdict))
                }
            })
            .await;
        lease.settle(outcome)
    }

    /// Installs a new policy snapshot without pausing checks: as many
    /// fresh instances as are idle now load it, while checks keep being
    /// answered from the previous snapshot; then they replace the idle
    /// instances in one step (busy ones are dropped when they come back)
    /// and the snapshot becomes current. A snapshot the plugin refuses
    /// changes nothing and is not offered again. One rollout runs at a
    /// time; a caller arriving during one waits for it.
    pub async fn install_policy(&self, snapshot: Arc<PolicySnapshot>) -> GuestResult<()> {
        let _one = self.rollout_lock().lock().await;
        if !self.needs_policy(snapshot.version) {
            return Ok(Ok(()));
        }
        let pool = self.pool();
        let count = pool.idle_count().max(1);
        let mut prepared = Vec::with_capacity(count);
        for _ in 0..count {
            let mut lease = pool.lease(Isolation::Fresh).await?;
            let warm = lease.warm();
            let outcome = pool
                .guard(
                    "load-policy",
                    warm.bindings
                        .on_fiber
                        .portcullis_plugin_authorize()
                        .call_load_policy(&mut warm.store, &snapshot.json),
                )
                .await;
            let (mut warm, loaded) = lease.detach(outcome)?;
            if let Err(refused) = loaded {
                self.refuse_policy(snapshot.version);
                return Ok(Err(refused));
            }
            warm.policy_version = Some(snapshot.version);
            prepared.push(warm);
        }
        pool.replace_idle(prepared);
        self.set_policy(snapshot);
        Ok(Ok(()))
    }

    /// The version of the snapshot installed, if any.
    pub fn policy_version(&self) -> Option<u64> {
        self.current_policy_version()
    }

    /// Whether a snapshot is rolling out now.
    pub fn rollout_in_progress(&self) -> bool {
        self.rollout_lock().try_lock().is_err()
    }

    /// Whether snapshot `version` should be installed: it is neither the
    /// current one nor one the plugin already refused.
    pub fn needs_policy(&self, version: u64) -> bool {
        self.policy_version() != Some(version) && self.refused_policy() != version
    }
}

impl AuthProviderPlugin {
    /// Verifies a credential presented on a request.
    pub async fn verify_credential(
        &self,
        credential: &Credential,
        request: &RequestInfo,
    ) -> Result<Result<Principal, GuestError>, PluginCallError> {
        let answer: GuestResult<Principal> =
            plugin_call!(self, Isolation::Warm, "verify-credential", |warm| warm
                .bindings
                .portcullis_plugin_authenticate()
                .call_verify_credential(&mut warm.store, credential, request));
        Ok(answer?.map(|principal| self.vouched(principal)))
    }

    /// What the gateway takes from a principal this provider returned: the
    /// issuer is the provider's configured name, whatever the plugin
    /// claimed, and the organization is never the plugin's to choose.
    fn vouched(&self, mut principal: Principal) -> Principal {
        principal.issuer = self.name().to_string();
        principal.organization = None;
        principal
    }

    fn vouched_step(&self, mut step: StepResult) -> StepResult {
        if let LoginStep::Authenticated(principal) = step.step {
            step.step = LoginStep::Authenticated(self.vouched(principal));
        }
        step
    }

    /// What the provider says about itself for the gateway's `endpoints`.
    pub async fn describe(&self, endpoints: &ServiceEndpoints) -> GuestResult<ProviderDescription> {
        plugin_call!(self, Isolation::Warm, "describe", |warm| warm
            .bindings
            .portcullis_plugin_authenticate()
            .call_describe(&mut warm.store, endpoints))
    }

    /// The provider's logout URL for a session it signed in.
    pub async fn end_session(
        &self,
        session_state: &[u8],
        post_logout_url: &str,
    ) -> GuestResult<Option<String>> {
        plugin_call!(self, Isolation::Warm, "end-session", |warm| warm
            .bindings
            .portcullis_plugin_authenticate()
            .call_end_session(&mut warm.store, session_state, post_logout_url))
    }

    /// Starts an interactive login.
    pub async fn begin_login(
        &self,
        input: &LoginInput,
    ) -> Result<Result<StepResult, GuestError>, PluginCallError> {
        let answer: GuestResult<StepResult> =
            plugin_call!(self, Isolation::Warm, "begin-login", |warm| warm
                .bindings
                .portcullis_plugin_authenticate()
                .call_begin_login(&mut warm.store, input));
        Ok(answer?.map(|step| self.vouched_step(step)))
    }

    /// Continues an interactive login.
    pub async fn continue_login(
        &self,
        state: &[u8],
        input: &LoginInput,
    ) -> Result<Result<StepResult, GuestError>, PluginCallError> {
        let answer: GuestResult<StepResult> =
            plugin_call!(self, Isolation::Warm, "continue-login", |warm| warm
                .bindings
                .portcullis_plugin_authenticate()
                .call_continue_login(&mut warm.store, state, input));
        Ok(answer?.map(|step| self.vouched_step(step)))
    }
}

thread_local! {
    /// A buffer per thread for encoding check requests, reused so the hot
    /// path does not allocate one per check.
    static ENCODED: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// `request` in the wire encoding. The bytes are copied once more into
/// the guest when lowered, so the thread's buffer is only lent here.
fn encode(request: &CheckRequest<'_>) -> EncodedRequest {
    let buffer = ENCODED.with(|cell| std::mem::take(&mut *cell.borrow_mut()));
    let mut buffer = EncodedRequest(buffer);
    portcullis_wire::encode(request, &mut buffer.0);
    buffer
}

/// An encoded request whose buffer goes back to the thread when dropped.
struct EncodedRequest(String);

impl std::ops::Deref for EncodedRequest {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for EncodedRequest {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.0);
        // Keep a modest buffer; a huge one (a principal with thousands of
        // groups) is freed rather than kept per thread.
        if buffer.capacity() <= 64 * 1024 {
            ENCODED.with(|cell| *cell.borrow_mut() = buffer);
        }
    }
}

/// The answer of an instance that refused the current snapshot.
fn refused_policy(version: u64, error: &GuestError) -> Decision {
    tracing::error!(version, error = %guest_text(error), "authorizer refused the policy snapshot; denying");
    Decision {
        allowed: false,
        basis: DecisionBasis::Unavailable,
        reason: "the authorizer refused the current policy snapshot".into(),
        binding: None,
        role: None,
        policy_version: version,
    }
}

/// A result from a guest call: the call may fail in the host (trap,
/// deadline, ...) or the guest may report an error value.
pub type GuestResult<T> = Result<Result<T, GuestError>, PluginCallError>;

/// Calls one function of the `accounts` interface on a fresh instance lease.
macro_rules! accounts_call {
    ($plugin:expr, $function:literal, $method:ident ( $($arg:expr),* )) => {
        plugin_call!($plugin, Isolation::Warm, $function, |warm| warm
            .bindings
            .portcullis_plugin_accounts()
            .$method(&mut warm.store, $($arg),*))
    };
}

impl AuthProviderPlugin {
    /// Creates the credentials of a user.
    pub async fn create_account(
        &self,
        user_id: &str,
        email: &str,
        password: &str,
    ) -> GuestResult<()> {
        accounts_call!(
            self,
            "create-account",
            call_create_account(user_id, email, password)
        )
    }

    /// Sets a password chosen by an administrator.
    pub async fn set_password(&self, user_id: &str, password: &str) -> GuestResult<()> {
        accounts_call!(self, "set-password", call_set_password(user_id, password))
    }

    /// Changes a password after checking the current one.
    pub async fn change_password(
        &self,
        user_id: &str,
        current: &str,
        new: &str,
        client_ip: &str,
    ) -> GuestResult<()> {
        accounts_call!(
            self,
            "change-password",
            call_change_password(user_id, current, new, client_ip)
        )
    }

    /// Removes a user's credentials.
    pub async fn delete_account(&self, user_id: &str) -> GuestResult<()> {
        accounts_call!(self, "delete-account", call_delete_account(user_id))
    }

    /// Starts TOTP enrollment.
    pub async fn begin_totp_enrollment(&self, user_id: &str) -> GuestResult<TotpEnrollment> {
        accounts_call!(
            self,
            "begin-totp-enrollment",
            call_begin_totp_enrollment(user_id)
        )
    }

    /// Confirms TOTP enrollment; returns recovery codes.
    pub async fn confirm_totp_enrollment(
        &self,
        user_id: &str,
        code: &str,
    ) -> GuestResult<Vec<String>> {
        accounts_call!(
            self,
            "confirm-totp-enrollment",
            call_confirm_totp_enrollment(user_id, code)
        )
    }

    /// Replaces the recovery codes.
    pub async fn regenerate_recovery_codes(&self, user_id: &str) -> GuestResult<Vec<String>> {
        accounts_call!(
            self,
            "regenerate-recovery-codes",
            call_regenerate_recovery_codes(user_id)
        )
    }

    /// Removes every second factor.
    pub async fn reset_mfa(&self, user_id: &str) -> GuestResult<()> {
        accounts_call!(self, "reset-mfa", call_reset_mfa(user_id))
    }

    /// The user's second factors.
    pub async fn mfa_status(&self, user_id: &str) -> GuestResult<MfaStatus> {
        accounts_call!(self, "get-mfa-status", call_get_mfa_status(user_id))
    }
}

impl SecretsBackendPlugin {
    /// Reads a secret.
    pub async fn get_secret(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Result<Secret, GuestError>, PluginCallError> {
        plugin_call!(self, Isolation::Warm, "get-secret", |warm| warm
            .bindings
            .portcullis_plugin_secrets()
            .call_get_secret(&mut warm.store, name, version,))
    }

    /// [`Self::get_secret`] with any failure as text (the plugin's answer or
    /// the call's failure; never a value).
    pub async fn read_secret(&self, name: &str, version: Option<&str>) -> Result<Secret, String> {
        match self.get_secret(name, version).await {
            Ok(Ok(secret)) => Ok(secret),
            Ok(Err(refused)) => Err(guest_text(&refused)),
            Err(failed) => Err(failed.to_string()),
        }
    }
}

impl KeyProviderPlugin {
    /// A new data key bound to `context`, in the clear and wrapped.
    pub async fn generate_key(
        &self,
        context: &[Attribute],
    ) -> Result<Result<GeneratedKey, GuestError>, PluginCallError> {
        plugin_call!(self, Isolation::Warm, "generate-key", |warm| warm
            .bindings
            .portcullis_plugin_keys()
            .call_generate_key(&mut warm.store, context,))
    }

    /// Wraps a data key.
    pub async fn wrap_key(
        &self,
        plaintext: &[u8],
        context: &[Attribute],
    ) -> Result<Result<WrappedKey, GuestError>, PluginCallError> {
        plugin_call!(self, Isolation::Warm, "wrap-key", |warm| warm
            .bindings
            .portcullis_plugin_keys()
            .call_wrap_key(&mut warm.store, plaintext, context,))
    }

    /// Unwraps a data key.
    pub async fn unwrap_key(
        &self,
        wrapped: &WrappedKey,
        context: &[Attribute],
    ) -> Result<Result<Vec<u8>, GuestError>, PluginCallError> {
        plugin_call!(self, Isolation::Warm, "unwrap-key", |warm| warm
            .bindings
            .portcullis_plugin_keys()
            .call_unwrap_key(&mut warm.store, wrapped, context,))
    }
}
