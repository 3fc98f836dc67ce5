//! Encryption at rest of every record the store keeps.
//!
//! Envelope encryption: each sealed value is AES-256-GCM under a random
//! 256-bit *data key*; data keys are kept only wrapped by the configured
//! key provider (a KMS, Key Vault, or the local key file) in `data_keys`,
//! and unwrapped into memory on first use. A value's associated data is
//! its record — table, row identity, organization — and column, so a
//! ciphertext copied to another row, column or organization fails to open
//! with an integrity error naming the record.
//!
//! What lookups need stays in the clear: ids, foreign keys, timestamps,
//! flags, and *blind indexes* (keyed HMACs of a normalised value, e.g. an
//! email) under a separate index key that rotation never changes.
//! [`columns::SEALED`] lists every sealed column; migration of older
//! stores, re-encryption after `keys rotate` and `keys status` all read
//! that one table.

mod blind_index;
mod columns;
mod envelope;
mod keyring;
mod legacy;
mod local;
#[cfg(test)]
mod tests;

pub use columns::{KeyUsage, ResealReport};
pub(super) use columns::{Pass, Record, Table, reseal, tables, usage};
pub use envelope::SealError;
pub use keyring::{
    DataKeyInfo, KeyError, KeyFuture, KeyWrapper, Keyring, KeyringSettings, WrappedDataKey,
};
pub use legacy::{LegacySealer, derive_key};
pub use local::LocalKeyWrapper;
