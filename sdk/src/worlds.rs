//! One trait per world, and the macros that export an implementation.
//!
//! Each macro keeps the plugin's state in an instance-local cell: the gateway
//! calls `init` once on every new instance, then the world's functions. A
//! call that arrives before a successful `init` fails closed.

use crate::{
    Attribute, Credential, Decision, LoginInput, PluginError, Principal, RequestInfo, Secret,
    StepResult, WrappedKey,
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

    /// Decides whether `principal` may do `action` on `resource`.
    fn check(
        &mut self,
        principal: &Principal,
        action: &str,
        resource: &str,
        context: &[Attribute],
    ) -> Decision;
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
                fn check(
                    principal: $crate::Principal,
                    action: ::std::string::String,
                    resource: ::std::string::String,
                    context: ::std::vec::Vec<$crate::Attribute>,
                ) -> $crate::Decision {
                    __with_state(|s| <$ty as $crate::Authorizer>::check(s, &principal, &action, &resource, &context))
                        .unwrap_or_else(|e| $crate::Decision {
                            allowed: false,
                            reason: ::std::format!("denied: {e:?}"),
                        })
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
                fn begin_login(input: $crate::LoginInput) -> ::std::result::Result<$crate::StepResult, $crate::PluginError> {
                    __with_state(|s| <$ty as $crate::AuthProvider>::begin_login(s, &input))?
                }
                fn continue_login(
                    state: ::std::vec::Vec<u8>,
                    input: $crate::LoginInput,
                ) -> ::std::result::Result<$crate::StepResult, $crate::PluginError> {
                    __with_state(|s| <$ty as $crate::AuthProvider>::continue_login(s, &state, &input))?
                }
                fn verify_credential(
                    credential: $crate::Credential,
                    request: $crate::RequestInfo,
                ) -> ::std::result::Result<$crate::Principal, $crate::PluginError> {
                    __with_state(|s| <$ty as $crate::AuthProvider>::verify_credential(s, &credential, &request))?
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
