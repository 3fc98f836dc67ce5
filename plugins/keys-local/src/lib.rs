//! `keys-local`: wraps data keys with AES-256-GCM under a key-encryption
//! key given in the configuration (the embedded default passes the local
//! key file). The wrap context is bound as associated data, so a key
//! unwrapped under another context fails.
//!
//! ```toml
//! [plugins.keys.config]
//! key_id = "local-1"
//! key_hex = "…64 hex digits…"
//! ```

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use portcullis_sdk::{Attribute, KeyProvider, PluginError, WrappedKey};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    key_id: String,
    key_hex: String,
}

const NONCE_LEN: usize = 12;

/// Canonical associated data: `name=value` lines sorted by name.
fn associated_data(key_id: &str, context: &[Attribute]) -> Vec<u8> {
    let mut pairs: Vec<_> = context
        .iter()
        .map(|a| (a.name.as_str(), a.value.as_str()))
        .collect();
    pairs.sort_unstable();
    let mut out = format!("kid={key_id}\n").into_bytes();
    for (name, value) in pairs {
        out.extend_from_slice(format!("{}={}\n", name.len(), name).as_bytes());
        out.extend_from_slice(format!("{}={}\n", value.len(), value).as_bytes());
    }
    out
}

struct LocalKey {
    key_id: String,
    cipher: Aes256Gcm,
}

impl KeyProvider for LocalKey {
    fn init() -> Result<Self, PluginError> {
        let config: Config = portcullis_sdk::config::get()?;
        let key = portcullis_sdk::hex::decode(&config.key_hex)
            .filter(|k| k.len() == 32)
            .ok_or_else(|| PluginError::InvalidConfig("key_hex: expected 64 hex digits".into()))?;
        let cipher = Aes256Gcm::new_from_slice(&key)
            .map_err(|_| PluginError::InvalidConfig("key_hex: wrong key length".into()))?;
        Ok(Self {
            key_id: config.key_id,
            cipher,
        })
    }

    fn wrap_key(
        &mut self,
        plaintext: &[u8],
        context: &[Attribute],
    ) -> Result<WrappedKey, PluginError> {
        let nonce: [u8; NONCE_LEN] = portcullis_sdk::random::bytes::<NONCE_LEN>();
        let aad = associated_data(&self.key_id, context);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| PluginError::Internal("encryption failed".into()))?;
        let mut ciphertext = nonce.to_vec();
        ciphertext.extend_from_slice(&sealed);
        Ok(WrappedKey {
            key_id: self.key_id.clone(),
            ciphertext,
        })
    }

    fn unwrap_key(
        &mut self,
        wrapped: &WrappedKey,
        context: &[Attribute],
    ) -> Result<Vec<u8>, PluginError> {
        if wrapped.key_id != self.key_id {
            return Err(PluginError::NotFound);
        }
        if wrapped.ciphertext.len() < NONCE_LEN {
            return Err(PluginError::InvalidInput("wrapped key too short".into()));
        }
        let (nonce, sealed) = wrapped.ciphertext.split_at(NONCE_LEN);
        let aad = associated_data(&self.key_id, context);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| PluginError::InvalidCredentials)
    }
}

portcullis_sdk::export_key_provider!(LocalKey);
