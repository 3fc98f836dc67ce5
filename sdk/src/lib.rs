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
//! use portcullis_sdk::{Authorizer, CheckRequest, Decision, DecisionBasis, PluginError};
//!
//! struct ReadOnly;
//! impl Authorizer for ReadOnly {
//!     fn init() -> Result<Self, PluginError> { Ok(ReadOnly) }
//!     fn check(&mut self, request: &CheckRequest<'_>) -> Decision {
//!         if request.action.ends_with(":read") {
//!             Decision::allow("reads are open")
//!         } else {
//!             Decision::deny(DecisionBasis::Denied, "only reads are allowed")
//!         }
//!     }
//! }
//! portcullis_sdk::export_authorizer!(ReadOnly);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2` and check the result with
//! `portcullis plugin inspect target/wasm32-wasip2/debug/NAME.wasm`.
#![deny(missing_docs)]

extern crate self as portcullis_sdk;

pub mod config;
pub mod crypto;
mod decision;
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
pub use __raw::authenticate::{
    Credential, Form, FormField, LoginInput, LoginStep, ProviderDescription, ServiceEndpoints,
    StepResult,
};
pub use __raw::keys::{GeneratedKey, WrappedKey};
pub use __raw::secrets::Secret;
pub use __raw::types::{
    Attribute, Decision, DecisionBasis, PluginError, Principal, RequestInfo, Verdict,
};
pub use portcullis_wire::{AsPair, CheckRequest, PairList, Pairs, PrincipalView, Strings};

impl LoginInput {
    /// The value of field `name` (the first, if sent more than once; the
    /// gateway refuses duplicates on callbacks).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.as_str())
    }
}

/// The WIT package version this SDK builds plugins against.
pub const WIT_VERSION: &str = "0.1.0";
