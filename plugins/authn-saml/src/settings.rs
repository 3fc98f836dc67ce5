//! The plugin's configuration.

use crate::metadata::{self, IdentityProvider};
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
    #[serde(default)]
    idp_entity_id: Option<String>,
    #[serde(default)]
    idp_sso_url: Option<String>,
    #[serde(default)]
    idp_certificates: Option<Vec<String>>,
    #[serde(default)]
    idp_metadata_url: Option<String>,
    #[serde(default)]
    idp_metadata: Option<String>,
    #[serde(default = "default_refresh")]
    metadata_refresh_secs: u64,
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
    #[serde(default)]
    allow_idp_initiated: bool,
    #[serde(default)]
    sp_private_key: Option<String>,
    #[serde(default)]
    sp_certificate: Option<String>,
}

fn default_refresh() -> u64 {
    3600
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

/// Shortest and longest metadata refresh interval, in seconds.
pub const METADATA_REFRESH_SECS: std::ops::RangeInclusive<u64> = 60..=7 * 24 * 3600;

/// Where the IdP's facts (entity id, endpoint, certificates) come from.
#[derive(Debug, Clone)]
pub enum IdpSource {
    /// Given in the settings, or read once from a metadata document there.
    Fixed(IdentityProvider),
    /// Read from the IdP's metadata URL, and read again every
    /// `refresh_secs`.
    Url {
        /// The metadata URL.
        url: String,
        /// The entity to pick from a document describing several.
        entity_id: Option<String>,
        /// How often the document is read again.
        refresh_secs: u64,
    },
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The IdP.
    pub idp: IdpSource,
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
    /// Whether logins the IdP starts (unsolicited responses) are accepted.
    pub allow_idp_initiated: bool,
    /// The key AuthnRequests are signed with, and its certificate (for the
    /// SP metadata); `None`: requests are not signed.
    pub signing: Option<SpSigning>,
}

/// This SP's request-signing key and certificate.
#[derive(Clone)]
pub struct SpSigning {
    /// PEM PKCS#8 private key (RSA).
    pub private_key: String,
    /// Its certificate, PEM.
    pub certificate: String,
}

impl std::fmt::Debug for SpSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpSigning").finish_non_exhaustive()
    }
}

fn invalid(key: &str, why: impl std::fmt::Display) -> PluginError {
    PluginError::InvalidConfig(format!("{key}: {why}"))
}

fn http_url(key: &str, url: &str) -> Result<(), PluginError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(invalid(key, "expected an http(s) URL"))
    }
}

/// Checks the IdP's facts wherever they came from; `key` names where
/// they were read, for the error.
pub fn check_idp(idp: &IdentityProvider, key: &str) -> Result<(), PluginError> {
    let at = |field: &str| {
        if key.is_empty() {
            field.to_string()
        } else {
            format!("{key} ({field})")
        }
    };
    if idp.entity_id.trim().is_empty() {
        return Err(invalid(&at("idp_entity_id"), "must not be empty"));
    }
    http_url(&at("idp_sso_url"), &idp.sso_url)?;
    if idp.certificates.is_empty() || idp.certificates.len() > MAX_CERTIFICATES {
        return Err(invalid(
            &at("idp_certificates"),
            format!(
                "one or {MAX_CERTIFICATES} certificates (the current one, and the next while the IdP rotates); found {}",
                idp.certificates.len()
            ),
        ));
    }
    for (i, pem) in idp.certificates.iter().enumerate() {
        let key = at(&format!("idp_certificates[{i}]"));
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(invalid(&key, "expected a PEM `CERTIFICATE`"));
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
            return Err(invalid(&key, why));
        }
    }
    Ok(())
}

/// Reads the IdP's metadata document at `url`.
pub fn fetch_metadata(
    url: &str,
    entity_id: Option<&str>,
    now: i64,
) -> Result<IdentityProvider, String> {
    let response = portcullis_sdk::http::get(url).map_err(|e| format!("cannot fetch: {e:?}"))?;
    if response.status != 200 {
        return Err(format!("the server answered HTTP {}", response.status));
    }
    let xml = String::from_utf8(response.body).map_err(|_| "the document is not UTF-8")?;
    metadata::identity_provider(&xml, entity_id, now)
}

impl Settings {
    /// Reads and checks the configuration; `now` in Unix seconds. With a
    /// metadata URL, the document is read here, and returned with the
    /// settings.
    pub fn parse(now: i64) -> Result<(Self, Option<IdentityProvider>), PluginError> {
        let raw: Raw = portcullis_sdk::config::get()?;
        let explicit = raw.idp_sso_url.is_some() || raw.idp_certificates.is_some();
        let sources = [
            explicit,
            raw.idp_metadata_url.is_some(),
            raw.idp_metadata.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(invalid(
                "idp_metadata_url",
                "set exactly one of `idp_metadata_url`, `idp_metadata` (the document), or `idp_entity_id` + `idp_sso_url` + `idp_certificates`",
            ));
        }
        if !METADATA_REFRESH_SECS.contains(&raw.metadata_refresh_secs) {
            return Err(invalid(
                "metadata_refresh_secs",
                format!(
                    "between {} and {} seconds",
                    METADATA_REFRESH_SECS.start(),
                    METADATA_REFRESH_SECS.end()
                ),
            ));
        }
        let mut fetched = None;
        let idp = if let Some(url) = raw.idp_metadata_url {
            http_url("idp_metadata_url", &url)?;
            // Read now, so a wrong URL is refused when the provider is
            // configured, not at the first sign-in.
            let first = fetch_metadata(&url, raw.idp_entity_id.as_deref(), now)
                .map_err(|why| invalid("idp_metadata_url", why))?;
            check_idp(&first, "idp_metadata_url")?;
            fetched = Some(first);
            IdpSource::Url {
                url,
                entity_id: raw.idp_entity_id,
                refresh_secs: raw.metadata_refresh_secs,
            }
        } else if let Some(xml) = raw.idp_metadata {
            let idp = metadata::identity_provider(&xml, raw.idp_entity_id.as_deref(), now)
                .map_err(|why| invalid("idp_metadata", why))?;
            check_idp(&idp, "idp_metadata")?;
            IdpSource::Fixed(idp)
        } else {
            let idp = IdentityProvider {
                entity_id: raw.idp_entity_id.unwrap_or_default(),
                sso_url: raw.idp_sso_url.unwrap_or_default(),
                certificates: raw.idp_certificates.unwrap_or_default(),
                valid_until: None,
            };
            check_idp(&idp, "")?;
            IdpSource::Fixed(idp)
        };
        if raw.clock_skew_secs > MAX_CLOCK_SKEW_SECS {
            return Err(invalid(
                "clock_skew_secs",
                format!("at most {MAX_CLOCK_SKEW_SECS} seconds"),
            ));
        }
        let signing = match (raw.sp_private_key, raw.sp_certificate) {
            (None, None) => None,
            (Some(private_key), Some(certificate)) => {
                let probe = crypto::sign(SignatureAlgorithm::Rs256, &private_key, b"probe")
                    .map_err(|e| invalid("sp_private_key", format!("{e:?}")))?;
                let matches = crypto::verify_signature(
                    SignatureAlgorithm::Rs256,
                    &PublicKey::Pem(certificate.clone()),
                    b"probe",
                    &probe,
                )
                .map_err(|e| invalid("sp_certificate", format!("{e:?}")))?;
                if !matches {
                    return Err(invalid(
                        "sp_certificate",
                        "is not the certificate of `sp_private_key`",
                    ));
                }
                Some(SpSigning {
                    private_key,
                    certificate,
                })
            }
            _ => {
                return Err(invalid(
                    "sp_private_key",
                    "signing requests needs both `sp_private_key` (secret) and `sp_certificate`",
                ));
            }
        };
        let settings = Self {
            idp,
            sp_entity_id: raw.sp_entity_id,
            clock_skew_secs: raw.clock_skew_secs,
            email_attribute: raw.email_attribute,
            groups_attribute: raw.groups_attribute,
            name_attribute: raw.name_attribute,
            max_response_bytes: raw.max_response_bytes,
            allow_idp_initiated: raw.allow_idp_initiated,
            signing,
        };
        Ok((settings, fetched))
    }
}
