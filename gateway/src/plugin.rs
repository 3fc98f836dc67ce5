//! The WebAssembly plugin host.
//!
//! Plugins are components implementing one world of `wit/`. Each configured
//! plugin is compiled once, checked for world and version, and served from a
//! pool of warm instances. Every call runs under a memory cap and a deadline;
//! any failure — trap, deadline, memory, garbage — fails closed, the instance
//! is discarded and the next call gets a fresh one.

mod bindings;
mod component;
mod direct;
mod egress;
pub use egress::{EgressRule, EgressRuleError};
mod engine;
mod key_wrapper;
pub use key_wrapper::PluginKeyWrapper;
pub mod host;
mod limits;
mod loaded;
mod pool;
mod registry;
mod state;
mod worlds;

pub use component::{ComponentInfo, HOST_WIT_VERSION, World};
pub use engine::PluginEngine;
pub use loaded::LoadedPlugin;
pub use loaded::PolicySnapshot;
pub use pool::Isolation;
#[doc(hidden)]
pub use pool::WorldBindings;
pub use registry::{PluginRegistry, ReloadReport, sso_instance_name};
pub use state::PluginContext;
pub use worlds::{
    Attribute, AuthProviderPlugin, AuthorizerPlugin, CheckRequest, Credential, Decision,
    DecisionBasis, Form, FormField, GeneratedKey, GuestError, GuestResult, KeyProviderPlugin,
    LoginInput, LoginStep, MfaStatus, Pairs, Principal, PrincipalView, ProviderDescription,
    RequestInfo, Secret, SecretsBackendPlugin, ServiceEndpoints, StepResult, Strings,
    TotpEnrollment, WrappedKey, principal_view,
};

use std::path::PathBuf;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginLoadError {
    /// The file could not be read.
    #[error("plugin `{plugin}`: cannot read `{path}`: {source}")]
    Read {
        /// The plugin's name.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid WebAssembly component.
    #[error("plugin `{plugin}`: `{path}` is not a valid WebAssembly component: {message}")]
    Compile {
        /// The plugin's name.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// The compiler's explanation.
        message: String,
    },
    /// The component implements no Portcullis world, or an incompatible version.
    #[error("plugin `{plugin}`: {reason}")]
    Incompatible {
        /// The plugin's name.
        plugin: String,
        /// What the component has and what this gateway supports.
        reason: String,
    },
    /// The component implements a different world than its role needs.
    #[error(
        "plugin `{plugin}` implements the `{found}` world, but is used as {role} which needs `{expected}`"
    )]
    WrongWorld {
        /// The plugin's name.
        plugin: String,
        /// The world it implements.
        found: World,
        /// The world its role needs.
        expected: World,
        /// The role, e.g. `auth.authorizer`.
        role: String,
    },
    /// Instantiation or `init` failed.
    #[error("plugin `{plugin}` failed to start: {message}")]
    Start {
        /// The plugin's name.
        plugin: String,
        /// What went wrong.
        message: String,
    },
    /// The plugin engine could not be created.
    #[error("cannot create the plugin engine: {0}")]
    Engine(String),
    /// A secret reference in the plugin's settings could not be resolved.
    #[error(transparent)]
    Secret(#[from] crate::secrets::ResolveError),
    /// A secrets backend's own settings hold a secret reference.
    #[error(
        "plugin `{plugin}` is a secrets backend: its settings cannot be secret references (put its credentials in its configuration)"
    )]
    ReferenceInSecretsBackend {
        /// The plugin's name.
        plugin: String,
    },
}

/// Why a call into a plugin failed. Every variant fails the request closed.
#[derive(Debug, thiserror::Error)]
pub enum PluginCallError {
    /// The call ran past its deadline and was stopped.
    #[error("plugin `{plugin}` ran past its {deadline_ms} ms deadline and was stopped")]
    Deadline {
        /// The plugin's name.
        plugin: String,
        /// The deadline.
        deadline_ms: u64,
    },
    /// The instance tried to grow memory past its cap.
    #[error("plugin `{plugin}` exceeded its memory limit of {limit_mib} MiB")]
    MemoryExceeded {
        /// The plugin's name.
        plugin: String,
        /// The cap.
        limit_mib: u64,
    },
    /// The instance trapped.
    #[error("plugin `{plugin}` trapped: {message}")]
    Trap {
        /// The plugin's name.
        plugin: String,
        /// The trap.
        message: String,
    },
    /// Every instance stayed busy for a whole deadline.
    #[error(
        "plugin `{plugin}` is overloaded: all {instances} instances stayed busy for a whole deadline"
    )]
    Overloaded {
        /// The plugin's name.
        plugin: String,
        /// The configured number of instances.
        instances: usize,
    },
    /// A fresh instance could not be created.
    #[error("plugin `{plugin}` could not be instantiated: {message}")]
    Instantiate {
        /// The plugin's name.
        plugin: String,
        /// What went wrong.
        message: String,
    },
}

impl PluginCallError {
    /// A short stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Deadline { .. } => "deadline",
            Self::MemoryExceeded { .. } => "memory",
            Self::Trap { .. } => "trap",
            Self::Instantiate { .. } => "instantiate",
            Self::Overloaded { .. } => "overloaded",
        }
    }
}
