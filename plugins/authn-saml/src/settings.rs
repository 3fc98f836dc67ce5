//! The plugin's configuration.

use portcullis_sdk::crypto::{self, PublicKey, SignatureAlgorithm};
use portcullis_sdk::{PluginError, crypto::CryptoError};
use serde::Deserialize;

/// Largest clock skew an operator may allow, in seconds.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;
/// Most IdP certificates trusted at once (the current and the next one,
/// while the IdP rotates).
const MAX_CERTIFICATES: usize = 2;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    idp_entity_id: String,
    idp_sso_url: String,
    idp_certificates: Vec<String>,
    #[serde(default)]
    sp_entity_id: Option<String>,
    #[serde(default = "default_skew")]
    clock_skew_secs: u64,
    #[serde(default = "default_email")]
    email_attribute: String,
    #[serde(default = "default_groups")]
    groups_attribute: String,
    #[serde(default = "default_name")]
    name_attribute: String,
    #[serde(default = "default_max_bytes")]
    max_response_bytes: usize,
}

fn default_skew() -> u64 {
    60
}
fn default_email() -> String {
    "email".into()
}
fn default_groups() -> String {
    "groups".into()
}
fn default_name() -> String {
    "displayName".into()
}
fn default_max_bytes() -> usize {
    256 * 1024
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The IdP's entity id: the `Issuer` of its responses and assertions.
    pub idp_entity_id: String,
    /// Its single sign-on endpoint (HTTP-Redirect binding).
    pub idp_sso_url: String,
    /// The certificates (PEM) whose keys may sign; one or two.
    pub idp_certificates: Vec<String>,
    /// This service provider's entity id (default: the gateway's metadata
    /// URL of this provider).
    pub sp_entity_id: Option<String>,
    /// Clock skew allowed on validity windows.
    pub clock_skew_secs: u64,
    /// The attribute carrying the email.
    pub email_attribute: String,
    /// The attribute carrying groups.
    pub groups_attribute: String,
    /// The attribute carrying the display name.
    pub name_attribute: String,
    /// Largest `SAMLResponse` accepted (decoded).
    pub max_response_bytes: usize,
}

fn invalid(key: &str, why: impl std::fmt::Display) -> PluginError {
    PluginError::InvalidConfig(format!("{key}: {why}"))
}

impl Settings {
    /// Reads and checks the configuration.
    pub fn parse() -> Result<Self, PluginError> {
        let raw: Raw = portcullis_sdk::config::get()?;
        if raw.idp_entity_id.trim().is_empty() {
            return Err(invalid("idp_entity_id", "must not be empty"));
        }
        if !(raw.idp_sso_url.starts_with("https://") || raw.idp_sso_url.starts_with("http://")) {
            return Err(invalid("idp_sso_url", "expected an http(s) URL"));
        }
        if raw.idp_certificates.is_empty() || raw.idp_certificates.len() > MAX_CERTIFICATES {
            return Err(invalid(
                "idp_certificates",
                format!(
                    "one or {MAX_CERTIFICATES} PEM certificates (the current one, and the next while the IdP rotates)"
                ),
            ));
        }
        for (i, pem) in raw.idp_certificates.iter().enumerate() {
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(invalid(
                    &format!("idp_certificates[{i}]"),
                    "expected a PEM `CERTIFICATE`",
                ));
            }
            // The host parses it now, so a broken one is refused at once
            // rather than at the first sign-in.
            let probe = crypto::verify_signature(
                SignatureAlgorithm::Rs256,
                &PublicKey::Pem(pem.clone()),
                b"probe",
                b"probe",
            );
            if let Err(CryptoError::InvalidKey(why)) = probe {
                return Err(invalid(&format!("idp_certificates[{i}]"), why));
            }
        }
        if raw.clock_skew_secs > MAX_CLOCK_SKEW_SECS {
            return Err(invalid(
                "clock_skew_secs",
                format!("at most {MAX_CLOCK_SKEW_SECS} seconds"),
            ));
        }
        Ok(Self {
            idp_entity_id: raw.idp_entity_id,
            idp_sso_url: raw.idp_sso_url,
            idp_certificates: raw.idp_certificates,
            sp_entity_id: raw.sp_entity_id,
            clock_skew_secs: raw.clock_skew_secs,
            email_attribute: raw.email_attribute,
            groups_attribute: raw.groups_attribute,
            name_attribute: raw.name_attribute,
            max_response_bytes: raw.max_response_bytes,
        })
    }
}
