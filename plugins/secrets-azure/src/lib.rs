//! `secrets-azure`: Azure Key Vault secrets as a secrets backend, through
//! Microsoft's `azure_security_keyvault_secrets` client running inside the
//! guest. The first request goes out without a token; the vault's 401
//! challenge names the Entra ID authority and the resource, and the token
//! is asked of that authority (in the configured tenant only) with the
//! application's client credentials. Throttled calls (429) are retried
//! after the vault's `Retry-After`.
//!
//! ```toml
//! [plugins.azure]
//! path = "/opt/portcullis/plugins/secrets_azure.wasm"
//! allow_hosts = ["contoso.vault.azure.net", "login.microsoftonline.com", "login.windows.net"]
//!
//! [plugins.azure.config]
//! vault_url = "https://contoso.vault.azure.net"
//! tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47"
//! client_id = "…"
//! client_secret = "…"
//! # api_version = "2025-07-01"
//! # max_attempts = 3
//! ```
//!
//! `get-secret(name, version)`: `name` is the secret's name in the vault;
//! `version` a version id, the current one without it. The answer's
//! version is the version id read.

use azure_guest::AzureSettings;
use azure_security_keyvault_secrets::models::SecretClientGetSecretOptions;
use azure_security_keyvault_secrets::{ResourceExt as _, SecretClient, SecretClientOptions};
use portcullis_sdk::{PluginError, Secret, SecretsBackend};

struct AzureSecrets {
    client: SecretClient,
}

/// Key Vault secret names: 1 to 127 letters, digits and dashes.
fn is_secret_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Version ids are 32 hex digits.
fn is_version(version: &str) -> bool {
    version.len() == 32 && version.chars().all(|c| c.is_ascii_hexdigit())
}

impl SecretsBackend for AzureSecrets {
    fn init() -> Result<Self, PluginError> {
        let (settings, _) = AzureSettings::read(&[])?;
        let (credential, client_options) = settings.client_parts();
        let mut options = SecretClientOptions {
            client_options,
            verify_challenge_resource: Some(settings.verify_challenge_resource),
            ..SecretClientOptions::default()
        };
        if let Some(version) = &settings.api_version {
            options.api_version.clone_from(version);
        }
        let client = SecretClient::new(&settings.vault_url, credential, Some(options))
            .map_err(|e| PluginError::InvalidConfig(format!("`vault_url`: {e}")))?;
        Ok(Self { client })
    }

    fn get_secret(&mut self, name: &str, version: Option<&str>) -> Result<Secret, PluginError> {
        if !is_secret_name(name) {
            return Err(PluginError::InvalidInput(
                "a Key Vault secret name is 1 to 127 letters, digits and dashes".into(),
            ));
        }
        if let Some(version) = version
            && !is_version(version)
        {
            return Err(PluginError::InvalidInput(
                "a Key Vault secret version is 32 hexadecimal digits".into(),
            ));
        }
        let options = SecretClientGetSecretOptions {
            secret_version: version.map(str::to_string),
            ..SecretClientGetSecretOptions::default()
        };
        let secret = azure_guest::run(self.client.get_secret(name, Some(options)))
            .and_then(|response| response.into_model())
            .map_err(refusal)?;
        if secret
            .attributes
            .as_ref()
            .and_then(|a| a.enabled)
            .is_some_and(|enabled| !enabled)
        {
            return Err(PluginError::Unavailable("the secret is disabled".into()));
        }
        let read_version = secret
            .resource_id()
            .ok()
            .and_then(|id| id.version)
            .unwrap_or_default();
        let value = secret
            .value
            .ok_or_else(|| PluginError::Unavailable("Key Vault answered without a value".into()))?;
        Ok(Secret {
            value: value.into_bytes(),
            version: read_version,
        })
    }
}

/// What the gateway is told of a failed read.
fn refusal(error: azure_core::Error) -> PluginError {
    use azure_core::error::ErrorKind;
    if let ErrorKind::HttpResponse { status, .. } = error.kind()
        && u16::from(*status) == 404
    {
        return PluginError::NotFound;
    }
    let why = azure_guest::describe(&error);
    let what = match error.kind() {
        ErrorKind::HttpResponse { status, .. } => match u16::from(*status) {
            401 => "Key Vault refused the application's token",
            429 => "Key Vault is throttling requests",
            _ => "Key Vault refused the request",
        },
        ErrorKind::Credential => "no token",
        _ => "Key Vault could not be reached",
    };
    PluginError::Unavailable(format!("{what}: {why}"))
}

portcullis_sdk::export_secrets_backend!(AzureSecrets);
