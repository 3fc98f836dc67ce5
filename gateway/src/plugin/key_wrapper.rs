//! A key-provider plugin as the store's key wrapper. It holds the registry
//! the plugin was loaded into for the store (a registry of its own,
//! started before the store can be read) and looks the plugin up by name
//! on every call. (The registry holds the store for its plugins' key-value
//! records, and the store holds this: both live as long as the process.)

use super::registry::PluginRegistry;
use super::worlds::{Attribute, GuestError, WrappedKey, guest_text};
use crate::store::{KeyError, KeyFuture, KeyWrapper, WrappedDataKey};
use secrecy::SecretBox;
use std::sync::Arc;

/// The key-provider plugin instance `name` of a registry.
#[derive(Debug)]
pub struct PluginKeyWrapper {
    registry: Arc<PluginRegistry>,
    name: String,
}

impl PluginKeyWrapper {
    /// Wraps with plugin `name` of `registry`, keeping the registry.
    pub fn holding(registry: Arc<PluginRegistry>, name: &str) -> Self {
        Self {
            registry,
            name: name.to_string(),
        }
    }

    fn plugin(&self) -> Result<Arc<super::KeyProviderPlugin>, KeyError> {
        self.registry.key_provider(&self.name).ok_or_else(|| {
            KeyError::Unavailable(format!("key provider `{}` is not loaded", self.name))
        })
    }
}

fn attributes(context: &[(String, String)]) -> Vec<Attribute> {
    context
        .iter()
        .map(|(name, value)| Attribute {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// An outage (unreachable, throttled, the call failed) or a refusal.
fn key_error(name: &str, error: &GuestError) -> KeyError {
    let text = format!("`{name}`: {}", guest_text(error));
    match error {
        GuestError::Unavailable(_) | GuestError::Throttled(_) => KeyError::Unavailable(text),
        _ => KeyError::Refused(text),
    }
}

fn data_key(name: &str, bytes: Vec<u8>) -> Result<SecretBox<[u8; 32]>, KeyError> {
    let mut bytes = zeroize::Zeroizing::new(bytes);
    let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        KeyError::Refused(format!("`{name}` returned a data key that is not 256 bits"))
    })?;
    zeroize::Zeroize::zeroize(&mut *bytes);
    Ok(SecretBox::new(Box::new(key)))
}

impl KeyWrapper for PluginKeyWrapper {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn generate<'a>(
        &'a self,
        context: &'a [(String, String)],
    ) -> KeyFuture<'a, (SecretBox<[u8; 32]>, WrappedDataKey)> {
        Box::pin(async move {
            let plugin = self.plugin()?;
            let generated = plugin
                .generate_key(&attributes(context))
                .await
                .map_err(|e| KeyError::Unavailable(format!("`{}`: {e}", self.name)))?
                .map_err(|e| key_error(&self.name, &e))?;
            let key = data_key(&self.name, generated.plaintext)?;
            Ok((
                key,
                WrappedDataKey {
                    master_key_id: generated.wrapped.key_id,
                    ciphertext: generated.wrapped.ciphertext,
                },
            ))
        })
    }

    fn wrap<'a>(
        &'a self,
        key: &'a [u8; 32],
        context: &'a [(String, String)],
    ) -> KeyFuture<'a, WrappedDataKey> {
        Box::pin(async move {
            let plugin = self.plugin()?;
            let wrapped = plugin
                .wrap_key(key, &attributes(context))
                .await
                .map_err(|e| KeyError::Unavailable(format!("`{}`: {e}", self.name)))?
                .map_err(|e| key_error(&self.name, &e))?;
            Ok(WrappedDataKey {
                master_key_id: wrapped.key_id,
                ciphertext: wrapped.ciphertext,
            })
        })
    }

    fn unwrap<'a>(
        &'a self,
        wrapped: &'a WrappedDataKey,
        context: &'a [(String, String)],
    ) -> KeyFuture<'a, SecretBox<[u8; 32]>> {
        Box::pin(async move {
            let plugin = self.plugin()?;
            let wrapped = WrappedKey {
                key_id: wrapped.master_key_id.clone(),
                ciphertext: wrapped.ciphertext.clone(),
            };
            let bytes = plugin
                .unwrap_key(&wrapped, &attributes(context))
                .await
                .map_err(|e| KeyError::Unavailable(format!("`{}`: {e}", self.name)))?
                .map_err(|e| key_error(&self.name, &e))?;
            data_key(&self.name, bytes)
        })
    }
}
