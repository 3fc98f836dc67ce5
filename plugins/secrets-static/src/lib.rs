//! `secrets-static`: an example secrets backend serving secrets written in
//! its configuration, for development and tests.
//!
//! ```toml
//! [plugins.dev-secrets.config.secrets]
//! "db/password" = "s3cret"
//! ```

use portcullis_sdk::{PluginError, Secret, SecretsBackend};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    secrets: BTreeMap<String, String>,
}

struct StaticSecrets {
    config: Config,
}

impl SecretsBackend for StaticSecrets {
    fn init() -> Result<Self, PluginError> {
        Ok(Self {
            config: portcullis_sdk::config::get()?,
        })
    }

    fn get_secret(&mut self, name: &str, version: Option<&str>) -> Result<Secret, PluginError> {
        if version.is_some_and(|v| v != "1") {
            return Err(PluginError::NotFound);
        }
        let value = self.config.secrets.get(name).ok_or(PluginError::NotFound)?;
        Ok(Secret {
            value: value.as_bytes().to_vec(),
            version: "1".into(),
        })
    }
}

portcullis_sdk::export_secrets_backend!(StaticSecrets);
