//! Typed calls into each world. Each function leases a warm instance, runs
//! the call under the plugin's limits and settles the lease.

use super::PluginCallError;
use super::bindings::{auth_provider, authorizer, key_provider, secrets_backend, types};
use super::pool::{Isolation, WorldBindings};
use super::state::HostState;
use wasmtime::Store;
use wasmtime::component::InstancePre;

pub use super::bindings::auth_provider::exports::portcullis::plugin::accounts::{
    MfaStatus, TotpEnrollment,
};
pub use super::bindings::auth_provider::exports::portcullis::plugin::authenticate::{
    Credential, Form, FormField, LoginInput, LoginStep, StepResult,
};
pub use super::bindings::key_provider::exports::portcullis::plugin::keys::WrappedKey;
pub use super::bindings::secrets_backend::exports::portcullis::plugin::secrets::Secret;
pub use types::{Attribute, Decision, Principal, RequestInfo};

/// A failure the guest reported as a value (wrong credential, not found, ...).
pub type GuestError = types::PluginError;

fn guest_text(error: &GuestError) -> String {
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

            fn pre(pre: InstancePre<HostState>) -> wasmtime::Result<Self::Pre> {
                <$pre>::new(pre)
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

world_bindings!(
    authorizer::Authorizer,
    authorizer::AuthorizerPre<HostState>,
    Authorizer,
    portcullis_plugin_authorize
);
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
pub type AuthorizerPlugin = super::LoadedPlugin<authorizer::Authorizer>;
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

impl AuthorizerPlugin {
    /// Asks whether `principal` may do `action` on `resource`, on a warm
    /// instance (the hot path).
    pub async fn check(
        &self,
        principal: &Principal,
        action: &str,
        resource: &str,
        context: &[Attribute],
    ) -> Result<Decision, PluginCallError> {
        self.check_on(Isolation::Warm, principal, action, resource, context)
            .await
    }

    /// [`Self::check`] on an instance chosen by `isolation`.
    pub async fn check_on(
        &self,
        isolation: Isolation,
        principal: &Principal,
        action: &str,
        resource: &str,
        context: &[Attribute],
    ) -> Result<Decision, PluginCallError> {
        plugin_call!(self, isolation, "check", |warm| warm
            .bindings
            .portcullis_plugin_authorize()
            .call_check(&mut warm.store, principal, action, resource, context,))
    }

    /// Replaces the policy snapshot on the instances.
    pub async fn load_policy(
        &self,
        snapshot: &str,
    ) -> Result<Result<(), GuestError>, PluginCallError> {
        plugin_call!(self, Isolation::Warm, "load-policy", |warm| warm
            .bindings
            .portcullis_plugin_authorize()
            .call_load_policy(&mut warm.store, snapshot))
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
}

impl KeyProviderPlugin {
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
