//! `portcullis:plugin/kv`: the plugin's private, namespaced store.

use crate::plugin::bindings::kv::{Host, KvError};
use crate::plugin::state::HostState;
use crate::store::StoreError;

/// Longest key accepted, in bytes.
const MAX_KEY_BYTES: usize = 512;
/// Largest value accepted, in bytes.
const MAX_VALUE_BYTES: usize = 1024 * 1024;

fn check_key(key: &str) -> Result<(), KvError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(KvError::TooLarge(format!(
            "key longer than {MAX_KEY_BYTES} bytes"
        )));
    }
    Ok(())
}

fn check_value(value: Option<&[u8]>) -> Result<(), KvError> {
    match value {
        Some(v) if v.len() > MAX_VALUE_BYTES => Err(KvError::TooLarge(format!(
            "value larger than {MAX_VALUE_BYTES} bytes"
        ))),
        _ => Ok(()),
    }
}

fn unavailable(plugin: &str, error: StoreError) -> KvError {
    tracing::error!(plugin, error = %error, "plugin kv operation failed");
    KvError::Unavailable("the store is unavailable".into())
}

impl Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, KvError>> {
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        Ok(self
            .context
            .kv
            .get(&key)
            .await
            .map_err(|e| unavailable(&self.context.name, e)))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), KvError>> {
        if let Err(e) = check_key(&key).and_then(|()| check_value(Some(&value))) {
            return Ok(Err(e));
        }
        Ok(self
            .context
            .kv
            .set(&key, &value)
            .await
            .map_err(|e| unavailable(&self.context.name, e)))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), KvError>> {
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        Ok(self
            .context
            .kv
            .delete(&key)
            .await
            .map_err(|e| unavailable(&self.context.name, e)))
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> wasmtime::Result<Result<bool, KvError>> {
        if let Err(e) = check_key(&key).and_then(|()| check_value(new.as_deref())) {
            return Ok(Err(e));
        }
        Ok(self
            .context
            .kv
            .compare_and_swap(&key, expected.as_deref(), new.as_deref(), None)
            .await
            .map_err(|e| unavailable(&self.context.name, e)))
    }

    async fn compare_and_swap_expiring(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        expires_at: u64,
    ) -> wasmtime::Result<Result<bool, KvError>> {
        if let Err(e) = check_key(&key).and_then(|()| check_value(new.as_deref())) {
            return Ok(Err(e));
        }
        let expires_at = i64::try_from(expires_at).unwrap_or(i64::MAX);
        Ok(self
            .context
            .kv
            .compare_and_swap(&key, expected.as_deref(), new.as_deref(), Some(expires_at))
            .await
            .map_err(|e| unavailable(&self.context.name, e)))
    }

    async fn list_keys(
        &mut self,
        prefix: String,
    ) -> wasmtime::Result<Result<Vec<String>, KvError>> {
        if let Err(e) = check_key(&prefix) {
            return Ok(Err(e));
        }
        Ok(self
            .context
            .kv
            .list_keys(&prefix)
            .await
            .map_err(|e| unavailable(&self.context.name, e)))
    }
}
