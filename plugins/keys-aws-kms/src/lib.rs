//! `keys-aws-kms`: data keys from and wrapped by an AWS KMS key, through
//! the AWS SDK for Rust inside the guest. `generate-key` is
//! GenerateDataKey (AES_256), `wrap-key` Encrypt and `unwrap-key`
//! Decrypt; the gateway's context (record table, organization, …) is the
//! KMS encryption context, so KMS refuses to unwrap a key under another.
//!
//! ```toml
//! [plugins.kms]
//! path = "/opt/portcullis/plugins/keys_aws_kms.wasm"
//! allow_hosts = ["kms.eu-west-1.amazonaws.com"]
//!
//! [plugins.kms.config]
//! region = "eu-west-1"
//! key_id = "arn:aws:kms:eu-west-1:123456789012:key/…"   # or alias/portcullis
//! access_key_id = "AKIA…"
//! secret_access_key = "…"
//! # session_token, endpoint_url (a VPC endpoint), max_attempts (1–5, default 3)
//! ```
//!
//! A wrapped key records the KMS key ARN that wrapped it (KMS answers it),
//! so after the configured key changes, older keys still unwrap with the
//! key that wrapped them.

mod kms;

use portcullis_sdk::{Attribute, GeneratedKey, KeyProvider, PluginError, WrappedKey};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    region: String,
    key_id: String,
    #[serde(default)]
    endpoint_url: Option<String>,
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
    #[serde(default = "default_attempts")]
    max_attempts: u32,
}

fn default_attempts() -> u32 {
    3
}

struct AwsKms {
    key_id: String,
    client: kms::Client,
}

impl KeyProvider for AwsKms {
    fn init() -> Result<Self, PluginError> {
        let config: Config = portcullis_sdk::config::get()?;
        for (key, value) in [("region", &config.region), ("key_id", &config.key_id)] {
            if value.trim().is_empty() {
                return Err(PluginError::InvalidConfig(format!(
                    "`{key}` must not be empty"
                )));
            }
        }
        if !(1..=5).contains(&config.max_attempts) {
            return Err(PluginError::InvalidConfig(
                "`max_attempts` must be 1 to 5".into(),
            ));
        }
        Ok(Self {
            key_id: config.key_id.clone(),
            client: kms::Client::new(&kms::Settings {
                region: config.region,
                endpoint_url: config.endpoint_url,
                access_key_id: config.access_key_id,
                secret_access_key: config.secret_access_key,
                session_token: config.session_token,
                max_attempts: config.max_attempts,
            }),
        })
    }

    fn generate_key(&mut self, context: &[Attribute]) -> Result<GeneratedKey, PluginError> {
        self.client.generate_data_key(&self.key_id, context)
    }

    fn wrap_key(
        &mut self,
        plaintext: &[u8],
        context: &[Attribute],
    ) -> Result<WrappedKey, PluginError> {
        self.client.encrypt(&self.key_id, plaintext, context)
    }

    fn unwrap_key(
        &mut self,
        wrapped: &WrappedKey,
        context: &[Attribute],
    ) -> Result<Vec<u8>, PluginError> {
        self.client.decrypt(wrapped, context)
    }
}

portcullis_sdk::export_key_provider!(AwsKms);
