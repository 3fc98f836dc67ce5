//! Raw bindings generated from `wit/`. Plugin authors use the curated
//! re-exports at the crate root instead.
#![allow(missing_docs, clippy::all)]

/// The `authorizer` world; it also owns the shared imports that the other
/// worlds map onto, so that every world uses the same Rust types.
pub mod authorizer {
    wit_bindgen::generate!({
        world: "authorizer",
        path: "../wit",
        runtime_path: "portcullis_sdk::__rt",
        pub_export_macro: true,
        default_bindings_module: "portcullis_sdk::__raw::authorizer",
        export_macro_name: "export_raw",
    });
}

/// Bindings for a world whose shared imports are the `authorizer` module's.
macro_rules! world_sharing_imports {
    ($(#[$doc:meta])* $module:ident, $world:tt, $bindings_module:tt) => {
        $(#[$doc])*
        pub mod $module {
            wit_bindgen::generate!({
                world: $world,
                path: "../wit",
                runtime_path: "portcullis_sdk::__rt",
                pub_export_macro: true,
                default_bindings_module: $bindings_module,
                export_macro_name: "export_raw",
                with: {
                    "portcullis:plugin/types@0.1.0": crate::__raw::types,
                    "portcullis:plugin/log@0.1.0": crate::__raw::log,
                    "portcullis:plugin/kv@0.1.0": crate::__raw::kv,
                    "portcullis:plugin/config@0.1.0": crate::__raw::config,
                    "portcullis:plugin/crypto@0.1.0": crate::__raw::crypto,
                },
            });
        }
    };
}

world_sharing_imports!(
    /// The `auth-provider` world.
    auth_provider,
    "auth-provider",
    "portcullis_sdk::__raw::auth_provider"
);
world_sharing_imports!(
    /// The `secrets-backend` world.
    secrets_backend,
    "secrets-backend",
    "portcullis_sdk::__raw::secrets_backend"
);
world_sharing_imports!(
    /// The `key-provider` world.
    key_provider,
    "key-provider",
    "portcullis_sdk::__raw::key_provider"
);

pub use auth_provider::exports::portcullis::plugin::accounts;
pub use auth_provider::exports::portcullis::plugin::authenticate;
pub use authorizer::exports::portcullis::plugin::authorize;
pub use authorizer::portcullis::plugin::{config, crypto, kv, log, types};
pub use key_provider::exports::portcullis::plugin::keys;
pub use secrets_backend::exports::portcullis::plugin::secrets;
