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

pub(crate) mod auth_provider {
    wasmtime::component::bindgen!({
        world: "auth-provider",
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

pub(crate) mod secrets_backend {
    wasmtime::component::bindgen!({
        world: "secrets-backend",
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

pub(crate) mod key_provider {
    wasmtime::component::bindgen!({
        world: "key-provider",
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

pub(crate) use authorizer::portcullis::plugin::{config, crypto, kv, log, types};
