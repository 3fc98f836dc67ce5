//! The plugin's private key-value store, namespaced to this plugin instance
//! and kept in the gateway's database, every value encrypted at rest.

use crate::__raw::kv as raw;
pub use crate::__raw::kv::KvError;

/// Reads a value; `None` if absent.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
    raw::get(key)
}

/// Writes a value.
pub fn set(key: &str, value: &[u8]) -> Result<(), KvError> {
    raw::set(key, value)
}

/// Deletes a key (absent keys succeed).
pub fn delete(key: &str) -> Result<(), KvError> {
    raw::delete(key)
}

/// Atomically replaces `expected` by `new` (`None` = absent). Returns whether
/// the swap happened, so two instances never both win a race.
pub fn compare_and_swap(
    key: &str,
    expected: Option<&[u8]>,
    new: Option<&[u8]>,
) -> Result<bool, KvError> {
    raw::compare_and_swap(key, expected, new)
}

/// [`compare_and_swap`], and the new value expires at `expires_at` (Unix
/// seconds): afterwards the key reads as absent and the gateway deletes
/// it. Use it for records that must not outlive their purpose.
pub fn compare_and_swap_expiring(
    key: &str,
    expected: Option<&[u8]>,
    new: Option<&[u8]>,
    expires_at: u64,
) -> Result<bool, KvError> {
    raw::compare_and_swap_expiring(key, expected, new, expires_at)
}

/// Lists the keys that start with `prefix`.
pub fn list_keys(prefix: &str) -> Result<Vec<String>, KvError> {
    raw::list_keys(prefix)
}
