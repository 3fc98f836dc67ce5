//! `keys-azure`: data keys wrapped by an Azure Key Vault RSA key
//! (`wrapKey` / `unwrapKey` with RSA-OAEP-256), through Microsoft's
//! `azure_security_keyvault_keys` client inside the guest. `generate-key`
//! is the SDK's default: 32 bytes of host randomness, then `wrap-key`.
//!
//! ```toml
//! [plugins.vault-keys]
//! path = "/opt/portcullis/plugins/keys_azure.wasm"
//! allow_hosts = ["contoso.vault.azure.net", "login.microsoftonline.com", "login.windows.net"]
//!
//! [plugins.vault-keys.config]
//! vault_url = "https://contoso.vault.azure.net"
//! key_name = "portcullis-kek"
//! # key_version = "…"      # the key's current version by default
//! tenant_id = "…"
//! client_id = "…"
//! client_secret = "…"
//! ```
//!
//! RSA-OAEP takes no associated data, so the gateway's context (record
//! table, organization, …) is bound inside what is wrapped: the data key
//! followed by the SHA-256 of the canonical context. Unwrapping under
//! another context yields a digest that does not match, and is refused.
//! A wrapped key records the full key id (with its version) that wrapped
//! it, so after the key is rotated in the vault older data keys still
//! unwrap with the version that wrapped them.

use azure_guest::AzureSettings;
use azure_security_keyvault_keys::models::{
    EncryptionAlgorithm, KeyClientUnwrapKeyOptions, KeyClientWrapKeyOptions, KeyOperationParameters,
};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions};
use portcullis_sdk::crypto::{HashAlgorithm, constant_time_equals, digest};
use portcullis_sdk::{Attribute, KeyProvider, PluginError, WrappedKey};

/// A data key is 32 bytes; the context digest 32 more.
const DATA_KEY_LEN: usize = 32;

struct AzureKeys {
    client: KeyClient,
    /// `{vault}/keys/` — a wrapped key from anywhere else is not ours.
    keys_url: String,
    key_name: String,
    key_version: Option<String>,
}

/// Canonical context: `len:name` and `len:value` lines sorted by name, so
/// no two contexts encode alike.
fn context_digest(context: &[Attribute]) -> Vec<u8> {
    let mut pairs: Vec<_> = context
        .iter()
        .map(|a| (a.name.as_str(), a.value.as_str()))
        .collect();
    pairs.sort_unstable();
    let mut canonical = b"portcullis keys-azure context v1\n".to_vec();
    for (name, value) in pairs {
        canonical.extend_from_slice(
            format!("{}:{name}\n{}:{value}\n", name.len(), value.len()).as_bytes(),
        );
    }
    digest(HashAlgorithm::Sha256, &canonical)
}

fn own_string(own: &portcullis_sdk::config::OwnKeys, key: &str) -> Option<String> {
    own.get(key)
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn is_key_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Key Vault versions are 32 hex digits; nothing else reaches a URL.
fn is_key_version(version: &str) -> bool {
    version.len() == 32 && version.chars().all(|c| c.is_ascii_hexdigit())
}

impl KeyProvider for AzureKeys {
    fn init() -> Result<Self, PluginError> {
        let (settings, own) = AzureSettings::read(&["key_name", "key_version"])?;
        let key_name = own_string(&own, "key_name")
            .filter(|name| is_key_name(name))
            .ok_or_else(|| {
                PluginError::InvalidConfig(
                    "`key_name` is required: the Key Vault RSA key's name (letters, digits, dashes)"
                        .into(),
                )
            })?;
        let (credential, client_options) = settings.client_parts();
        let mut options = KeyClientOptions {
            client_options,
            verify_challenge_resource: Some(settings.verify_challenge_resource),
            ..KeyClientOptions::default()
        };
        if let Some(version) = &settings.api_version {
            options.api_version.clone_from(version);
        }
        let client = KeyClient::new(&settings.vault_url, credential, Some(options))
            .map_err(|e| PluginError::InvalidConfig(format!("`vault_url`: {e}")))?;
        Ok(Self {
            client,
            keys_url: format!("{}/keys/", settings.vault_url.trim_end_matches('/')),
            key_name,
            key_version: own_string(&own, "key_version"),
        })
    }

    fn wrap_key(
        &mut self,
        plaintext: &[u8],
        context: &[Attribute],
    ) -> Result<WrappedKey, PluginError> {
        if plaintext.len() != DATA_KEY_LEN {
            return Err(PluginError::InvalidInput("a data key is 32 bytes".into()));
        }
        let mut bound = plaintext.to_vec();
        bound.extend_from_slice(&context_digest(context));
        let parameters = KeyOperationParameters {
            algorithm: Some(EncryptionAlgorithm::RsaOaep256),
            value: Some(bound),
            ..KeyOperationParameters::default()
        };
        let options = KeyClientWrapKeyOptions {
            key_version: self.key_version.clone(),
            ..KeyClientWrapKeyOptions::default()
        };
        let result = azure_guest::run(
            self.client.wrap_key(
                &self.key_name,
                parameters
                    .try_into()
                    .map_err(|e| PluginError::Internal(format!("{e}")))?,
                Some(options),
            ),
        )
        .and_then(|response| response.into_model())
        .map_err(refusal)?;
        let key_id = result
            .kid
            .filter(|kid| kid.starts_with(&self.keys_url))
            .ok_or_else(|| {
                PluginError::Unavailable("Key Vault answered without its key id".into())
            })?;
        let ciphertext = result.result.ok_or_else(|| {
            PluginError::Unavailable("Key Vault answered without a wrapped key".into())
        })?;
        Ok(WrappedKey { key_id, ciphertext })
    }

    fn unwrap_key(
        &mut self,
        wrapped: &WrappedKey,
        context: &[Attribute],
    ) -> Result<Vec<u8>, PluginError> {
        // `{vault}/keys/{name}/{version}`, in this vault only.
        let (name, version) = wrapped
            .key_id
            .strip_prefix(&self.keys_url)
            .and_then(|rest| rest.split_once('/'))
            .filter(|(name, version)| is_key_name(name) && is_key_version(version))
            .ok_or(PluginError::NotFound)?;
        let parameters = KeyOperationParameters {
            algorithm: Some(EncryptionAlgorithm::RsaOaep256),
            value: Some(wrapped.ciphertext.clone()),
            ..KeyOperationParameters::default()
        };
        let result = azure_guest::run(
            self.client.unwrap_key(
                name,
                version,
                parameters
                    .try_into()
                    .map_err(|e| PluginError::Internal(format!("{e}")))?,
                Some(KeyClientUnwrapKeyOptions::default()),
            ),
        )
        .and_then(|response| response.into_model())
        .map_err(refusal)?;
        let bound = result.result.unwrap_or_default();
        if bound.len() != DATA_KEY_LEN * 2 {
            return Err(PluginError::InvalidCredentials);
        }
        let (key, bound_to) = bound.split_at(DATA_KEY_LEN);
        if !constant_time_equals(bound_to, &context_digest(context)) {
            // Wrapped for another record, table or organization.
            return Err(PluginError::InvalidCredentials);
        }
        Ok(key.to_vec())
    }
}

/// What the gateway is told of a failed wrap or unwrap.
fn refusal(error: azure_core::Error) -> PluginError {
    use azure_core::error::ErrorKind;
    let why = azure_guest::describe(&error);
    match error.kind() {
        ErrorKind::HttpResponse { status, .. } => match u16::from(*status) {
            404 => PluginError::NotFound,
            // Key Vault cannot decrypt what it is given: tampered, or
            // wrapped by another key.
            400 => PluginError::InvalidInput(format!("Key Vault refused the wrapped key: {why}")),
            401 => PluginError::Unavailable(format!(
                "Key Vault refused the application's token: {why}"
            )),
            429 => PluginError::Unavailable(format!("Key Vault is throttling requests: {why}")),
            _ => PluginError::Unavailable(format!("Key Vault refused the request: {why}")),
        },
        ErrorKind::Credential => PluginError::Unavailable(format!("no token: {why}")),
        _ => PluginError::Unavailable(format!("Key Vault could not be reached: {why}")),
    }
}

portcullis_sdk::export_key_provider!(AzureKeys);
