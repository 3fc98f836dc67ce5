//! Secret references: a plugin setting written as
//! `secret://{backend}/{name}[#json_key][?version=…]` is resolved through
//! the secrets-backend plugin `backend` before the plugin sees its
//! configuration, at start and again at every reload (so a rotated value
//! is picked up), and the plugin only ever sees the value.
//!
//! A reference that cannot be resolved stops the start (or keeps the
//! running plugin at a reload) with an error naming the setting, the
//! reference and the backend's answer — never a value.

mod reference;
mod resolve;

pub use reference::{ReferenceError, SCHEME, SecretReference};
pub use resolve::{ResolveError, SecretSource, has_references, resolve_config};
