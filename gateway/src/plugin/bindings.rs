//! Host-side bindings generated from `wit/`, one module per world. The
//! `authorizer` module owns the shared imports; the other worlds map onto
//! it so that every world uses the same Rust types and one linker serves all.
#![allow(missing_docs, clippy::all)]

pub(crate) mod authorizer {
    wasmtime::component::bindgen!({
        world: "authorizer",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq],
    });
}

/// Bindings for a world whose shared imports are the `authorizer` module's.
macro_rules! world_sharing_imports {
    ($module:ident, $world:tt) => {
        pub(crate) mod $module {
            wasmtime::component::bindgen!({
                world: $world,
                path: "../wit",
                imports: { default: async | trappable },
                exports: { default: async },
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

world_sharing_imports!(auth_provider, "auth-provider");
world_sharing_imports!(secrets_backend, "secrets-backend");
world_sharing_imports!(key_provider, "key-provider");

pub(crate) use authorizer::portcullis::plugin::{config, crypto, kv, log, types};
