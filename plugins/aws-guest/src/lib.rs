//! What the bundled AWS plugins (`secrets-aws`, `keys-aws-kms`) share:
//! their connection settings, checked once, and an AWS SDK configuration
//! for a wasm32-wasip2 guest — requests over `wasi:http` (so the gateway's
//! egress allow-list applies), retries sleeping on `wasi` clocks.

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::SharedAsyncSleep;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_wasm::wasi::{WasiHttpClientBuilder, WasiSleep};
use aws_types::SdkConfig;
use aws_types::region::Region;
use portcullis_sdk::PluginError;
use serde::Deserialize;

/// How a plugin reaches AWS: the `[plugins.NAME.config]` keys every AWS
/// plugin has.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// The region, e.g. `eu-west-1`.
    pub region: String,
    /// Another endpoint (a VPC endpoint; a test double).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Static credentials: the access key id.
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: String,
    /// For temporary credentials.
    #[serde(default)]
    pub session_token: Option<String>,
    /// Attempts per call (the SDK's standard retry, with backoff, which
    /// honours throttling): 1 to 5.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
}

fn default_attempts() -> u32 {
    3
}

impl AwsSettings {
    /// Reads the plugin's configuration: the keys named in `own` are the
    /// plugin's own and come back as they are; everything else must be an
    /// [`AwsSettings`] key (a misspelt key is refused, naming it), and is
    /// checked.
    pub fn read(own: &[&str]) -> Result<(Self, portcullis_sdk::config::OwnKeys), PluginError> {
        let (settings, mine) = portcullis_sdk::config::get_with_own::<Self>(own)?;
        settings.check()?;
        Ok((settings, mine))
    }

    /// Checks the settings; the error names the key.
    pub fn check(&self) -> Result<(), PluginError> {
        let invalid = |why: &str| Err(PluginError::InvalidConfig(why.into()));
        if self.region.trim().is_empty() {
            return invalid("`region` must not be empty");
        }
        if self.access_key_id.trim().is_empty() || self.secret_access_key.is_empty() {
            return invalid("`access_key_id` and `secret_access_key` must not be empty");
        }
        if !(1..=5).contains(&self.max_attempts) {
            return invalid("`max_attempts` must be 1 to 5");
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return invalid("`endpoint_url` must be an http:// or https:// URL");
        }
        Ok(())
    }

    /// The SDK configuration every service client is built from.
    pub fn sdk_config(&self) -> SdkConfig {
        let credentials = Credentials::from_keys(
            self.access_key_id.clone(),
            self.secret_access_key.clone(),
            self.session_token.clone(),
        );
        let mut config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(WasiHttpClientBuilder::new().build())
            .sleep_impl(SharedAsyncSleep::new(WasiSleep))
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts));
        if let Some(url) = &self.endpoint_url {
            config = config.endpoint_url(url);
        }
        config.build()
    }
}

/// An error and its causes on one line (a transport failure's text holds
/// no request data).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
