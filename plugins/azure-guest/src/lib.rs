//! What the bundled Azure plugins (`secrets-azure`, `keys-azure`) share: their connection settings,
//! checked once; a Microsoft Entra ID credential (OAuth 2.0 client
//! credentials) that asks the authority the vault's 401 challenge names;
//! and what `azure_core` needs to run in a wasm32-wasip2 guest — a
//! transport over `wasi:http` (so the gateway's egress allow-list and CA
//! bundles apply) and an async runtime whose retry sleeps use `wasi`
//! clocks (its default would start a thread, which a guest cannot).

mod credential;
mod runtime;
mod transport;

pub use credential::EntraCredential;

use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use portcullis_sdk::PluginError;
use serde::Deserialize;
use std::sync::Arc;

/// The Entra ID authority host when the vault has not named one yet.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// How a plugin reaches a Key Vault: the `[plugins.NAME.config]` keys
/// every Azure plugin has.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureSettings {
    /// The vault, e.g. `https://contoso.vault.azure.net`.
    pub vault_url: String,
    /// The Entra ID tenant (directory) id the vault and the application
    /// belong to; a challenge naming another tenant is refused.
    pub tenant_id: String,
    /// The application (client) id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// Where tokens come from before the vault has named its authority.
    #[serde(default)]
    pub authority_host: Option<String>,
    /// The Key Vault REST API version; the SDK's current one by default.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Attempts per call (the SDK's exponential retry, which waits as long
    /// as a 429's `Retry-After` asks): 1 to 5.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Whether the resource a challenge names must be the vault's own
    /// domain (as the SDK checks by default). Only a private endpoint or a
    /// test double under another name needs `false`.
    #[serde(default = "default_true")]
    pub verify_challenge_resource: bool,
}

fn default_attempts() -> u32 {
    3
}

fn default_true() -> bool {
    true
}

impl AzureSettings {
    /// Reads the plugin's configuration: the keys named in `own` are the
    /// plugin's own and come back as they are; everything else must be an
    /// [`AzureSettings`] key (a misspelt key is refused, naming it), and is
    /// checked.
    pub fn read(own: &[&str]) -> Result<(Self, portcullis_sdk::config::OwnKeys), PluginError> {
        let (settings, mine) = portcullis_sdk::config::get_with_own::<Self>(own)?;
        settings.check()?;
        Ok((settings, mine))
    }

    /// Checks the settings; the error names the key.
    pub fn check(&self) -> Result<(), PluginError> {
        let invalid = |why: &str| Err(PluginError::InvalidConfig(why.into()));
        if !self.vault_url.starts_with("https://") {
            return invalid(
                "`vault_url` must be an https:// URL (Key Vault is served over TLS only)",
            );
        }
        if !is_tenant_id(&self.tenant_id) {
            return invalid(
                "`tenant_id` must be a directory id or domain (letters, digits, `-` and `.`)",
            );
        }
        if self.client_id.trim().is_empty() || self.client_secret.is_empty() {
            return invalid("`client_id` and `client_secret` must not be empty");
        }
        if let Some(host) = &self.authority_host
            && !host.starts_with("https://")
        {
            return invalid("`authority_host` must be an https:// URL");
        }
        if !(1..=5).contains(&self.max_attempts) {
            return invalid("`max_attempts` must be 1 to 5");
        }
        Ok(())
    }

    /// The credential and the client options every Key Vault client is
    /// built with; installs the guest's async runtime on first use.
    pub fn client_parts(&self) -> (Arc<EntraCredential>, ClientOptions) {
        runtime::install();
        let challenges = transport::Challenges::default();
        let credential = Arc::new(EntraCredential::new(self, challenges.clone()));
        let options = ClientOptions {
            transport: Some(Transport::new(Arc::new(transport::WasiTransport::new(
                challenges,
            )))),
            retry: RetryOptions::exponential(ExponentialRetryOptions {
                max_retries: self.max_attempts - 1,
                ..ExponentialRetryOptions::default()
            }),
            ..ClientOptions::default()
        };
        (credential, options)
    }
}

/// A tenant is a GUID or a verified domain: nothing that could change the
/// path of the token endpoint.
fn is_tenant_id(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 253
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !tenant.starts_with('.')
        && !tenant.contains("..")
}

/// Runs a future of the Azure SDK to its end. Every wait inside it is a
/// blocking `wasi` call (the transport, the retry sleep), so polling it in
/// a loop on this thread is all it needs.
pub fn run<F: std::future::Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}

/// An SDK error as the gateway reports it: the HTTP status and the
/// service's error code where there is one, the message otherwise (never
/// a request body, which could hold a secret).
pub fn describe(error: &azure_core::Error) -> String {
    use azure_core::error::ErrorKind;
    match error.kind() {
        ErrorKind::HttpResponse {
            status, error_code, ..
        } => match error_code {
            Some(code) => format!("HTTP {} {code}", u16::from(*status)),
            None => format!("HTTP {}", u16::from(*status)),
        },
        _ => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_cannot_reshape_the_token_path() {
        assert!(is_tenant_id("72f988bf-86f1-41af-91ab-2d7cd011db47"));
        assert!(is_tenant_id("contoso.onmicrosoft.com"));
        for bad in ["", "a/b", "../common", "t?x=1", "t#", ".x", "a..b", "a b"] {
            assert!(!is_tenant_id(bad), "{bad}");
        }
    }
}
