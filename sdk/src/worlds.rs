//! One trait per world, and the macros that export an implementation.
//!
//! Each macro keeps the plugin's state in an instance-local cell: the gateway
//! calls `init` once on every new instance, then the world's functions. A
//! call that arrives before a successful `init` fails closed.

use crate::{
    Attribute, CheckRequest, Credential, Decision, GeneratedKey, LoginInput, MfaStatus,
    PluginError, Principal, ProviderDescription, RequestInfo, Secret, ServiceEndpoints, StepResult,
    TotpEnrollment, WrappedKey,
};

/// A policy decision point (`authorizer` world).
pub trait Authorizer: Sized + 'static {
    /// Builds the plugin from its configuration ([`crate::config`]).
    fn init() -> Result<Self, PluginError>;

    /// Replaces the policy snapshot. The default ignores policy, for
    /// authorizers whose rules are all in their configuration.
    fn load_policy(&mut self, snapshot: &str) -> Result<(), PluginError> {
        let _ = snapshot;
        Ok(())
    }

    /// Decides whether `request.principal` may do `request.action` on
    /// `request.resource`. The request borrows the one buffer the gateway
    /// lowered; build the answer with [`Decision::allow`] or
    /// [`Decision::deny`]. When `request.wants_receipt` is false only the
    /// verdict leaves the plugin, so the reason, binding and role need not
    /// be built.
    fn check(&mut self, request: &CheckRequest<'_>) -> Decision;
}

/// An identity provider (`auth-provider` world). Implement the interactive
/// login, per-request credential verification, or both; the defaults say
/// the provider does not offer that kind of authentication.
pub trait AuthProvider: Sized + 'static {
    /// Builds the plugin from its configuration ([`crate::config`]).
    fn init() -> Result<Self, PluginError>;

    /// Starts an interactive login.
    fn begin_login(&mut self, input: &LoginInput) -> Result<StepResult, PluginError> {
        let _ = input;
        Err(PluginError::UnsupportedCredential)
    }

    /// Continues an interactive login with the state of the previous step.
    fn continue_login(
        &mut self,
        state: &[u8],
        input: &LoginInput,
    ) -> Result<StepResult, PluginError> {
        let _ = (state, input);
        Err(PluginError::UnsupportedCredential)
    }

    /// Verifies a credential presented on an API request.
    fn verify_credential(
        &mut self,
        credential: &Credential,
        request: &RequestInfo,
    ) -> Result<Principal, PluginError> {
        let _ = (credential, request);
        Err(PluginError::UnsupportedCredential)
    }

    /// Describes the provider for the gateway's `endpoints`: a metadata
    /// document for the identity provider's administrator (SAML SP
    /// metadata) and the certificates it trusts to sign logins. The
    /// default describes nothing.
    fn describe(
        &mut self,
        endpoints: &ServiceEndpoints,
    ) -> Result<ProviderDescription, PluginError> {
        let _ = endpoints;
        Ok(ProviderDescription {
            metadata: None,
            trusted_certificates: Vec::new(),
            accepts_unsolicited: false,
        })
    }

    /// Where to send the browser to end the session at the identity
    /// provider too, from the `state` returned with
    /// [`crate::LoginStep::Authenticated`] and the URL the provider sends the
    /// browser back to. The default: no such logout.
    fn end_session(
        &mut self,
        session_state: &[u8],
        post_logout_url: &str,
    ) -> Result<Option<String>, PluginError> {
        let _ = (session_state, post_logout_url);
        Ok(None)
    }

    /// Local accounts, for providers that keep credentials themselves.
    /// The default: this provider keeps none.
    fn accounts(&mut self) -> Option<&mut dyn Accounts> {
        None
    }
}

/// The credentials a provider keeps itself (the `accounts` interface):
/// passwords, TOTP secrets and recovery codes of gateway users. Return it
/// from [`AuthProvider::accounts`].
pub trait Accounts {
    /// Creates the credentials of `user_id`, whose login name is `email`.
    fn create_account(
        &mut self,
        user_id: &str,
        email: &str,
        password: &str,
    ) -> Result<(), PluginError>;
    /// Sets a password chosen by an administrator.
    fn set_password(&mut self, user_id: &str, password: &str) -> Result<(), PluginError>;
    /// Changes the password after checking the current one.
    fn change_password(
        &mut self,
        user_id: &str,
        current: &str,
        new: &str,
        client_ip: &str,
    ) -> Result<(), PluginError>;
    /// Removes every credential of the user.
    fn delete_account(&mut self, user_id: &str) -> Result<(), PluginError>;
    /// Starts TOTP enrollment.
    fn begin_totp_enrollment(&mut self, user_id: &str) -> Result<TotpEnrollment, PluginError>;
    /// Confirms TOTP enrollment with a first code; returns recovery codes.
    fn confirm_totp_enrollment(
        &mut self,
        user_id: &str,
        code: &str,
    ) -> Result<Vec<String>, PluginError>;
    /// Replaces the recovery codes.
    fn regenerate_recovery_codes(&mut self, user_id: &str) -> Result<Vec<String>, PluginError>;
    /// Removes every second factor.
    fn reset_mfa(&mut self, user_id: &str) -> Result<(), PluginError>;
    /// The user's second factors.
    fn mfa_status(&mut self, user_id: &str) -> Result<MfaStatus, PluginError>;
}

/// Runs `f` on the provider's [`Accounts`], or fails with
/// `unsupported-credential` when it keeps none.
#[doc(hidden)]
pub fn with_accounts<P: AuthProvider, R>(
    provider: &mut P,
    f: impl FnOnce(&mut dyn Accounts) -> Result<R, PluginError>,
) -> Result<R, PluginError> {
    match provider.accounts() {
        Some(accounts) => f(accounts),
        None => Err(PluginError::UnsupportedCredential),
    }
}

/// A secrets store (`secrets-backend` world).
pub trait SecretsBackend: Sized + 'static {
    /// Builds the plugin from its configuration ([`crate::config`]).
    fn init() -> Result<Self, PluginError>;

    /// Reads a secret at `version`, or its current version.
    fn get_secret(&mut self, name: &str, version: Option<&str>) -> Result<Secret, PluginError>;
}

/// A key-encryption-key provider (`key-provider` world).
pub trait KeyProvider: Sized + 'static {
    /// Builds the plugin from its configuration ([`crate::config`]).
    fn init() -> Result<Self, PluginError>;

    /// Wraps a data key, bound to `context`.
    fn wrap_key(
        &mut self,
        plaintext: &[u8],
        context: &[Attribute],
    ) -> Result<WrappedKey, PluginError>;

    /// A new 256-bit data key bound to `context`, in the clear and wrapped.
    /// By default 32 bytes of the host's randomness, wrapped with
    /// [`Self::wrap_key`]; a provider with its own generator (a KMS)
    /// overrides it.
    fn generate_key(&mut self, context: &[Attribute]) -> Result<GeneratedKey, PluginError> {
        let plaintext = crate::random::bytes::<32>().to_vec();
        let wrapped = self.wrap_key(&plaintext, context)?;
        Ok(GeneratedKey { plaintext, wrapped })
    }

    /// Unwraps a data key; must fail unless `context` matches the wrap.
    fn unwrap_key(
        &mut self,
        wrapped: &WrappedKey,
        context: &[Attribute],
    ) -> Result<Vec<u8>, PluginError>;
}

/// The error every world function returns when called before `init`.
#[doc(hidden)]
pub fn not_initialised() -> PluginError {
    PluginError::Internal("plugin called before a successful init".to_string())
}

/// Declares the instance-local state cell and the lifecycle export shared by every
/// world's export macro.
#[doc(hidden)]
#[macro_export]
macro_rules! __plugin_state {
    ($ty:ty, $trait:path) => {
        ::std::thread_local! {
            static __PORTCULLIS_STATE: ::std::cell::RefCell<::std::option::Option<$ty>> =
                const { ::std::cell::RefCell::new(::std::option::Option::None) };
        }

        fn __with_state<R>(
            f: impl FnOnce(&mut $ty) -> R,
        ) -> ::std::result::Result<R, $crate::PluginError> {
            __PORTCULLIS_STATE.with(|cell| match cell.borrow_mut().as_mut() {
                ::std::option::Option::Some(state) => ::std::result::Result::Ok(f(state)),
                ::std::option::Option::None => {
                    ::std::result::Result::Err($crate::__worlds::not_initialised())
                }
            })
        }

        fn __init() -> ::std::result::Result<(), $crate::PluginError> {
            let state = <$ty as $trait>::init()?;
            __PORTCULLIS_STATE.with(|cell| *cell.borrow_mut() = ::std::option::Option::Some(state));
            ::std::result::Result::Ok(())
        }
    };
}

/// Exports a type implementing [`Authorizer`] as this component's
/// `authorizer` world. Call it once, at the crate root.
#[macro_export]
macro_rules! export_authorizer {
    ($ty:ty) => {
        const _: () = {
            #[doc(hidden)]
            pub struct __PortcullisPlugin;
            $crate::__plugin_state!($ty, $crate::Authorizer);

            impl $crate::__raw::authorize::Guest for __PortcullisPlugin {
                fn init() -> ::std::result::Result<(), $crate::PluginError> {
                    __init()
                }
                fn load_policy(snapshot: ::std::string::String) -> ::std::result::Result<(), $crate::PluginError> {
                    __with_state(|s| <$ty as $crate::Authorizer>::load_policy(s, &snapshot))?
                }
                fn check(request: ::std::string::String) -> $crate::Verdict {
                    $crate::Verdict::from(&__decide(&request, false))
                }
                fn explain(request: ::std::string::String) -> $crate::Decision {
                    __decide(&request, true)
                }
            }

            fn __decide(request: &str, wants_receipt: bool) -> $crate::Decision {
                match $crate::CheckRequest::decode(request) {
                    ::std::result::Result::Ok(mut request) => {
                        request.wants_receipt = wants_receipt;
                        __with_state(|s| <$ty as $crate::Authorizer>::check(s, &request))
                            .unwrap_or_else(|e| $crate::Decision::unavailable(::std::format!("{e:?}")))
                    }
                    ::std::result::Result::Err(e) => $crate::Decision::unavailable(::std::format!("{e}")),
                }
            }
            $crate::__raw::authorizer::export_raw!(__PortcullisPlugin with_types_in $crate::__raw::authorizer);
        };
    };
}

/// Exports a type implementing [`AuthProvider`] as this component's
/// `auth-provider` world. Call it once, at the crate root.
#[macro_export]
macro_rules! export_auth_provider {
    ($ty:ty) => {
        const _: () = {
            #[doc(hidden)]
            pub struct __PortcullisPlugin;
            $crate::__plugin_state!($ty, $crate::AuthProvider);

            impl $crate::__raw::authenticate::Guest for __PortcullisPlugin {
                fn init() -> ::std::result::Result<(), $crate::PluginError> {
                    __init()
                }
                fn describe(endpoints: $crate::ServiceEndpoints) -> ::std::result::Result<$crate::ProviderDescription, $crate::PluginError> {
                    __with_state(|s| <$ty as $crate::AuthProvider>::describe(s, &endpoints))?
                }
                fn begin_login(input: $crate::LoginInput) -> ::std::result::Result<$crate::StepResult, $crate::PluginError> {
                    __with_state(|s| <$ty as $crate::AuthProvider>::begin_login(s, &input))?
                }
                fn continue_login(
                    state: ::std::vec::Vec<u8>,
                    input: $crate::LoginInput,
                ) -> ::std::result::Result<$crate::StepResult, $crate::PluginError> {
                    __with_state(|s| <$ty as $crate::AuthProvider>::continue_login(s, &state, &input))?
                }
                fn end_session(
                    session_state: ::std::vec::Vec<u8>,
                    post_logout_url: ::std::string::String,
                ) -> ::std::result::Result<::std::option::Option<::std::string::String>, $crate::PluginError> {
                    __with_state(|s| <$ty as $crate::AuthProvider>::end_session(s, &session_state, &post_logout_url))?
                }
                fn verify_credential(
                    credential: $crate::Credential,
                    request: $crate::RequestInfo,
                ) -> ::std::result::Result<$crate::Principal, $crate::PluginError> {
                    __with_state(|s| <$ty as $crate::AuthProvider>::verify_credential(s, &credential, &request))?
                }
            }

            impl $crate::__raw::accounts::Guest for __PortcullisPlugin {
                fn create_account(user_id: ::std::string::String, email: ::std::string::String, password: ::std::string::String) -> ::std::result::Result<(), $crate::PluginError> {
                    __with_state(|s| $crate::__worlds::with_accounts(s, |a| a.create_account(&user_id, &email, &password)))?
                }
                fn set_password(user_id: ::std::string::String, password: ::std::string::String) -> ::std::result::Result<(), $crate::PluginError> {
                    __with_state(|s| $crate::__worlds::with_accounts(s, |a| a.set_password(&user_id, &password)))?
                }
                fn change_password(user_id: ::std::string::String, current: ::std::string::String, new: ::std::string::String, client_ip: ::std::string::String) -> ::std::result::Result<(), $crate::PluginError> {
                    __with_state(|s| $crate::__worlds::with_accounts(s, |a| a.change_password(&user_id, &current, &new, &client_ip)))?
                }
                fn delete_account(user_id: ::std::string::String) -> ::std::result::Result<(), $crate::PluginError> {
                    __with_state(|s| $crate::__worlds::with_accounts(s, |a| a.delete_account(&user_id)))?
                }
                fn begin_totp_enrollment(user_id: ::std::string::String) -> ::std::result::Result<$crate::TotpEnrollment, $crate::PluginError> {
                    __with_state(|s| $crate::__worlds::with_accounts(s, |a| a.begin_totp_enrollment(&user_id)))?
                }
                fn confirm_totp_enrollment(user_id: ::std::string::String, code: ::std::string::String) -> ::std::result::Result<::std::vec::Vec<::std::string::String>, $crate::PluginError> {
                    __with_state(|s| $crate::__worlds::with_accounts(s, |a| a.confirm_totp_enrollment(&user_id, &code)))?
                }
                fn regenerate_recovery_codes(user_id: ::std::string::String) -> ::std::result::Result<::std::vec::Vec<::std::string::String>, $crate::PluginError> {
                    __with_state(|s| $crate::__worlds::with_accounts(s, |a| a.regenerate_recovery_codes(&user_id)))?
                }
                fn reset_mfa(user_id: ::std::string::String) -> ::std::result::Result<(), $crate::PluginError> {
                    __with_state(|s| $crate::__worlds::with_accounts(s, |a| a.reset_mfa(&user_id)))?
                }
                fn get_mfa_status(user_id: ::std::string::String) -> ::std::result::Result<$crate::MfaStatus, $crate::PluginError> {
                    __with_state(|s| $crate::__worlds::with_accounts(s, |a| a.mfa_status(&user_id)))?
                }
            }
            $crate::__raw::auth_provider::export_raw!(__PortcullisPlugin with_types_in $crate::__raw::auth_provider);
        };
    };
}

/// Exports a type implementing [`SecretsBackend`] as this component's
/// `secrets-backend` world. Call it once, at the crate root.
#[macro_export]
macro_rules! export_secrets_backend {
    ($ty:ty) => {
        const _: () = {
            #[doc(hidden)]
            pub struct __PortcullisPlugin;
            $crate::__plugin_state!($ty, $crate::SecretsBackend);

            impl $crate::__raw::secrets::Guest for __PortcullisPlugin {
                fn init() -> ::std::result::Result<(), $crate::PluginError> {
                    __init()
                }
                fn get_secret(
                    name: ::std::string::String,
                    version: ::std::option::Option<::std::string::String>,
                ) -> ::std::result::Result<$crate::Secret, $crate::PluginError> {
                    __with_state(|s| <$ty as $crate::SecretsBackend>::get_secret(s, &name, version.as_deref()))?
                }
            }
            $crate::__raw::secrets_backend::export_raw!(__PortcullisPlugin with_types_in $crate::__raw::secrets_backend);
        };
    };
}

/// Exports a type implementing [`KeyProvider`] as this component's
/// `key-provider` world. Call it once, at the crate root.
#[macro_export]
macro_rules! export_key_provider {
    ($ty:ty) => {
        const _: () = {
            #[doc(hidden)]
            pub struct __PortcullisPlugin;
            $crate::__plugin_state!($ty, $crate::KeyProvider);

            impl $crate::__raw::keys::Guest for __PortcullisPlugin {
                fn init() -> ::std::result::Result<(), $crate::PluginError> {
                    __init()
                }
                fn generate_key(
                    context: ::std::vec::Vec<$crate::Attribute>,
                ) -> ::std::result::Result<$crate::GeneratedKey, $crate::PluginError> {
                    __with_state(|s| <$ty as $crate::KeyProvider>::generate_key(s, &context))?
                }
                fn wrap_key(
                    plaintext: ::std::vec::Vec<u8>,
                    context: ::std::vec::Vec<$crate::Attribute>,
                ) -> ::std::result::Result<$crate::WrappedKey, $crate::PluginError> {
                    __with_state(|s| <$ty as $crate::KeyProvider>::wrap_key(s, &plaintext, &context))?
                }
                fn unwrap_key(
                    wrapped: $crate::WrappedKey,
                    context: ::std::vec::Vec<$crate::Attribute>,
                ) -> ::std::result::Result<::std::vec::Vec<u8>, $crate::PluginError> {
                    __with_state(|s| <$ty as $crate::KeyProvider>::unwrap_key(s, &wrapped, &context))?
                }
            }
            $crate::__raw::key_provider::export_raw!(__PortcullisPlugin with_types_in $crate::__raw::key_provider);
        };
    };
}
