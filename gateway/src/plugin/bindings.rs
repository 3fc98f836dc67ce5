//! Host-side bindings generated from `wit/`, one module per world. The
//! `authorizer` module owns the shared imports; the other worlds map onto
//! it so that every world uses the same Rust types and implementations.
//!
//! Imports are synchronous except `kv`, the one that waits on the host (the
//! store): a plugin that imports no waiting interface can then be called
//! without a fiber (see [`authorizer_direct`] and `engine::DirectLinker`).
#![allow(missing_docs, clippy::all)]

pub(crate) mod authorizer {
    wasmtime::component::bindgen!({
        world: "authorizer",
        path: "../wit",
        imports: {
            "portcullis:plugin/kv.get": async | trappable,
            "portcullis:plugin/kv.set": async | trappable,
            "portcullis:plugin/kv.delete": async | trappable,
            "portcullis:plugin/kv.compare-and-swap": async | trappable,
            "portcullis:plugin/kv.compare-and-swap-expiring": async | trappable,
            "portcullis:plugin/kv.list-keys": async | trappable,
            default: trappable,
        },
        exports: { default: async },
        additional_derives: [PartialEq],
    });
}

/// Bindings for a world whose shared imports are the `authorizer` module's,
/// with exports called as `$exports` says.
macro_rules! world_sharing_imports {
    ($(#[$doc:meta])* $module:ident, $world:tt, $exports:tt) => {
        $(#[$doc])*
        pub(crate) mod $module {
            wasmtime::component::bindgen!({
                world: $world,
                path: "../wit",
                imports: { default: trappable },
                exports: $exports,
                require_store_data_send: true,
                with: {
                    "portcullis:plugin/types": crate::plugin::bindings::authorizer::portcullis::plugin::types,
                    "portcullis:plugin/log": crate::plugin::bindings::authorizer::portcullis::plugin::log,
                    "portcullis:plugin/kv": crate::plugin::bindings::authorizer::portcullis::plugin::kv,
                    "portcullis:plugin/config": crate::plugin::bindings::authorizer::portcullis::plugin::config,
                    "portcullis:plugin/crypto": crate::plugin::bindings::authorizer::portcullis::plugin::crypto,
                },
            });
        }
    };
}

world_sharing_imports!(
    /// The authorizer world's exports called synchronously, on the calling
    /// thread's stack: for instances whose every import answers at once,
    /// the hot-path `check` skips the fiber an async call runs on.
    authorizer_direct,
    "authorizer",
    {}
);
world_sharing_imports!(auth_provider, "auth-provider", { default: async });
world_sharing_imports!(secrets_backend, "secrets-backend", { default: async });
world_sharing_imports!(key_provider, "key-provider", { default: async });

pub(crate) use authorizer::portcullis::plugin::{config, crypto, kv, log, types};
