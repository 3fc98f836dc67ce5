//! `secrets-file`: the embedded secrets backend. Secrets live in the
//! gateway's own store, in this plugin instance's key-value namespace,
//! which the gateway seals at rest under its data keys (see "Encryption at
//! rest" in the README). Operators write them with
//! `portcullis secrets set NAME` (the value read from standard input);
//! every write is a new version, and older versions stay readable by
//! number.
//!
//! Layout (the `portcullis secrets` command writes the same):
//! `secret/{name}/current` holds the current version number in decimal,
//! `secret/{name}/versions/{n}` the value of version `n`.

use portcullis_sdk::{PluginError, Secret, SecretsBackend, kv};

struct FileSecrets;

fn current_key(name: &str) -> String {
    format!("secret/{name}/current")
}

fn version_key(name: &str, version: u64) -> String {
    format!("secret/{name}/versions/{version}")
}

fn unavailable(error: kv::KvError) -> PluginError {
    PluginError::Unavailable(format!("the gateway's store: {error:?}"))
}

impl SecretsBackend for FileSecrets {
    fn init() -> Result<Self, PluginError> {
        // No settings: refuse any, so a typo is not silently ignored.
        let settings: std::collections::BTreeMap<String, serde::de::IgnoredAny> =
            portcullis_sdk::config::get()?;
        if let Some(key) = settings.keys().next() {
            return Err(PluginError::InvalidConfig(format!(
                "{key}: secrets-file takes no settings (write secrets with `portcullis secrets set`)"
            )));
        }
        Ok(Self)
    }

    fn get_secret(&mut self, name: &str, version: Option<&str>) -> Result<Secret, PluginError> {
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(PluginError::InvalidInput(
                "a secret name is non-empty text without control characters".into(),
            ));
        }
        let version = match version {
            Some(text) => text.parse::<u64>().map_err(|_| {
                PluginError::InvalidInput(format!(
                    "version `{text}`: versions of secrets-file are numbers"
                ))
            })?,
            None => {
                let Some(current) = kv::get(&current_key(name)).map_err(unavailable)? else {
                    return Err(PluginError::NotFound);
                };
                String::from_utf8(current)
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .ok_or_else(|| {
                        PluginError::Internal(format!("the current version of `{name}` is corrupt"))
                    })?
            }
        };
        let value = kv::get(&version_key(name, version))
            .map_err(unavailable)?
            .ok_or(PluginError::NotFound)?;
        Ok(Secret {
            value,
            version: version.to_string(),
        })
    }
}

portcullis_sdk::export_secrets_backend!(FileSecrets);
