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

struct AwsKms {
    key_id: String,
    client: kms::Client,
}

impl KeyProvider for AwsKms {
    fn init() -> Result<Self, PluginError> {
        let (aws, own) = aws_guest::AwsSettings::read(&["key_id"])?;
        let key_id = own
            .get("key_id")
            .and_then(|v| v.as_str())
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| {
                PluginError::InvalidConfig(
                    "`key_id` is required: the KMS key's ARN, id or `alias/…`".into(),
                )
            })?
            .to_string();
        Ok(Self {
            client: kms::Client::new(&aws),
            key_id,
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
