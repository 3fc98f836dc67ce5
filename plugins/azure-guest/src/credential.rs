//! A Microsoft Entra ID token from the client-credentials grant, asked of
//! the authority the vault's challenge named (in the configured tenant
//! only) and kept until shortly before it expires.

use super::transport::Challenges;
use super::{AzureSettings, DEFAULT_AUTHORITY_HOST};
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::time::{Duration, OffsetDateTime};
use std::sync::Mutex;

/// A token is renewed this long before it expires.
const RENEW_BEFORE_SECS: i64 = 300;

/// The application's identity in Entra ID.
pub struct EntraCredential {
    tenant_id: String,
    client_id: String,
    client_secret: String,
    authority_host: String,
    challenges: Challenges,
    /// The last token, the scope and authority it was issued for.
    cached: Mutex<Option<(String, String, AccessToken)>>,
}

impl std::fmt::Debug for EntraCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraCredential")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn failed(message: String) -> azure_core::Error {
    azure_core::Error::with_message(ErrorKind::Credential, message)
}

impl EntraCredential {
    pub(super) fn new(settings: &AzureSettings, challenges: Challenges) -> Self {
        Self {
            tenant_id: settings.tenant_id.clone(),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            authority_host: settings
                .authority_host
                .clone()
                .unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.into())
                .trim_end_matches('/')
                .to_string(),
            challenges,
            cached: Mutex::new(None),
        }
    }

    /// The authority to ask: the one the vault's challenge named, which
    /// must be in the configured tenant (a vault cannot send the client
    /// secret to another directory), or else the configured host's.
    fn authority(&self) -> azure_core::Result<String> {
        let Some(named) = self.challenges.authority() else {
            return Ok(format!("{}/{}", self.authority_host, self.tenant_id));
        };
        let tenant = named.rsplit('/').next().unwrap_or_default();
        if !named.starts_with("https://") || !tenant.eq_ignore_ascii_case(&self.tenant_id) {
            return Err(failed(format!(
                "the vault's challenge names authority `{named}`, which is not tenant `{}`",
                self.tenant_id
            )));
        }
        Ok(named)
    }

    fn request_token(&self, authority: &str, scope: &str) -> azure_core::Result<AccessToken> {
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope={}",
            form_encode(&self.client_id),
            form_encode(&self.client_secret),
            form_encode(scope)
        );
        let url = format!("{authority}/oauth2/v2.0/token");
        let request = portcullis_sdk::http::Request::post(
            &url,
            "application/x-www-form-urlencoded",
            form.into_bytes(),
        );
        let response = portcullis_sdk::http::send(&request).map_err(|e| {
            failed(format!(
                "Entra ID token endpoint `{url}` could not be reached: {e}"
            ))
        })?;
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
        if response.status != 200 {
            // Entra's `error` code, and the AADSTS number that opens its
            // description (the rest can carry trace ids, never the secret).
            let code = body["error"].as_str().unwrap_or("no error code");
            let aadsts = body["error_description"]
                .as_str()
                .and_then(|d| d.split(':').next())
                .filter(|d| d.starts_with("AADSTS"))
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            return Err(failed(format!(
                "Entra ID refused the client credentials: HTTP {} {code}{aadsts}",
                response.status
            )));
        }
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| failed("Entra ID answered without an access_token".into()))?;
        let lifetime = body["expires_in"].as_i64().unwrap_or(0).clamp(0, 86_400);
        Ok(AccessToken::new(
            token.to_string(),
            OffsetDateTime::now_utc() + Duration::seconds(lifetime),
        ))
    }
}

#[async_trait::async_trait]
impl TokenCredential for EntraCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let scope = scopes.join(" ");
        let authority = self.authority()?;
        let fresh_until = OffsetDateTime::now_utc() + Duration::seconds(RENEW_BEFORE_SECS);
        if let Ok(cached) = self.cached.lock()
            && let Some((for_scope, at, token)) = cached.as_ref()
            && *for_scope == scope
            && *at == authority
            && token.expires_on > fresh_until
        {
            return Ok(token.clone());
        }
        let token = self.request_token(&authority, &scope)?;
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((scope, authority, token.clone()));
        }
        Ok(token)
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_encoded() {
        assert_eq!(
            form_encode("https://vault.azure.net/.default"),
            "https%3A%2F%2Fvault.azure.net%2F.default"
        );
        assert_eq!(form_encode("a b&c=d"), "a+b%26c%3Dd");
    }
}
