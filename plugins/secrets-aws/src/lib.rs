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

struct AwsSecrets {
    client: aws::Client,
}

impl SecretsBackend for AwsSecrets {
    fn init() -> Result<Self, PluginError> {
        let (settings, _) = aws_guest::AwsSettings::read(&[])?;
        Ok(Self {
            client: aws::Client::new(&settings),
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
