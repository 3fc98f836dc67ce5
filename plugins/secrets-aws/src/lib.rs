//! `secrets-aws`: AWS Secrets Manager as a secrets backend, through the
//! AWS SDK for Rust running inside the guest (SigV4-signed requests over
//! `wasi:http`, so the gateway's egress allow-list applies).
//!
//! ```toml
//! [plugins.aws-secrets]
//! path = "/opt/portcullis/plugins/secrets_aws.wasm"
//! allow_hosts = ["secretsmanager.eu-west-1.amazonaws.com"]
//!
//! [plugins.aws-secrets.config]
//! region = "eu-west-1"
//! access_key_id = "AKIA…"
//! secret_access_key = "…"        # or in [plugins.aws-secrets.secrets]
//! # session_token = "…"           # temporary credentials
//! # endpoint_url = "https://vpce-….secretsmanager.eu-west-1.vpce.amazonaws.com"
//! ```
//!
//! `get-secret(name, version)`: `name` is a secret name or ARN; `version`
//! is a version id (a UUID) or else a staging label (`AWSPREVIOUS`, a
//! custom one); without it, `AWSCURRENT`. The answer's version is the
//! version id read.

mod aws;

use portcullis_sdk::{PluginError, Secret, SecretsBackend};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    region: String,
    #[serde(default)]
    endpoint_url: Option<String>,
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
    /// Attempts per call (the SDK's standard retry with backoff, which
    /// honours throttling); 1 to 5.
    #[serde(default = "default_attempts")]
    max_attempts: u32,
}

fn default_attempts() -> u32 {
    3
}

struct AwsSecrets {
    client: aws::Client,
}

impl SecretsBackend for AwsSecrets {
    fn init() -> Result<Self, PluginError> {
        let config: Config = portcullis_sdk::config::get()?;
        if config.region.trim().is_empty() {
            return Err(PluginError::InvalidConfig(
                "`region` must not be empty".into(),
            ));
        }
        if !(1..=5).contains(&config.max_attempts) {
            return Err(PluginError::InvalidConfig(
                "`max_attempts` must be 1 to 5".into(),
            ));
        }
        if let Some(url) = &config.endpoint_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(PluginError::InvalidConfig(
                "`endpoint_url` must be an http:// or https:// URL".into(),
            ));
        }
        Ok(Self {
            client: aws::Client::new(&aws::Settings {
                region: config.region,
                endpoint_url: config.endpoint_url,
                access_key_id: config.access_key_id,
                secret_access_key: config.secret_access_key,
                session_token: config.session_token,
                max_attempts: config.max_attempts,
            }),
        })
    }

    fn get_secret(&mut self, name: &str, version: Option<&str>) -> Result<Secret, PluginError> {
        if name.is_empty() || name.len() > 2048 {
            return Err(PluginError::InvalidInput(
                "a secret name or ARN is 1 to 2048 characters".into(),
            ));
        }
        let selector = match version {
            None => aws::Version::Current,
            Some(v) if aws::is_version_id(v) => aws::Version::Id(v.to_string()),
            Some(v) => aws::Version::Stage(v.to_string()),
        };
        self.client.get_secret(name, &selector)
    }
}

portcullis_sdk::export_secrets_backend!(AwsSecrets);
