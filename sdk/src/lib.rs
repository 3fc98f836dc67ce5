//! `portcullis-sdk`: everything a Portcullis plugin author depends on.
//!
//! A plugin is a WebAssembly component built for `wasm32-wasip2`. Pick the
//! world you implement, implement its trait, and call its export macro once:
//!
//! | world            | trait                | macro                      |
//! |------------------|----------------------|----------------------------|
//! | `authorizer`     | [`Authorizer`]       | [`export_authorizer!`]     |
//! | `auth-provider`  | [`AuthProvider`]     | [`export_auth_provider!`]  |
//! | `secrets-backend`| [`SecretsBackend`]   | [`export_secrets_backend!`]|
//! | `key-provider`   | [`KeyProvider`]      | [`export_key_provider!`]   |
//!
//! ```no_run
//! use portcullis_sdk::{Authorizer, Decision, Principal, PluginError};
//!
//! struct AllowAll;
//! impl Authorizer for AllowAll {
//!     fn init() -> Result<Self, PluginError> { Ok(AllowAll) }
//!     fn check(&mut self, _: &Principal, _: &str, _: &str, _: &[portcullis_sdk::Attribute]) -> Decision {
//!         Decision { allowed: true, reason: "allow-all".into() }
//!     }
//! }
//! portcullis_sdk::export_authorizer!(AllowAll);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2` and check the result with
//! `portcullis plugin inspect target/wasm32-wasip2/debug/NAME.wasm`.
#![deny(missing_docs)]

extern crate self as portcullis_sdk;

pub mod config;
pub mod crypto;
pub mod hex;
pub mod http;
pub mod kv;
pub mod log;
pub mod random;
#[doc(hidden)]
pub mod __worlds {
    //! Re-exported plumbing used by the export macros.
    pub use crate::worlds::{not_initialised, with_accounts};
}
mod worlds;

#[doc(hidden)]
pub mod __raw;
#[doc(hidden)]
pub use wit_bindgen::rt as __rt;

pub use worlds::{Accounts, AuthProvider, Authorizer, KeyProvider, SecretsBackend};

pub use __raw::accounts::{MfaStatus, TotpEnrollment};
pub use __raw::authenticate::{Credential, Form, FormField, LoginInput, LoginStep, StepResult};
pub use __raw::keys::WrappedKey;
pub use __raw::secrets::Secret;
pub use __raw::types::{Attribute, Decision, PluginError, Principal, RequestInfo};

/// The WIT package version this SDK builds plugins against.
pub const WIT_VERSION: &str = "0.1.0";
