//! The plugin's configuration and the provider presets (Okta, Microsoft
//! Entra ID, Google Workspace) that set defaults and check it.

use openidconnect::core::CoreJwsSigningAlgorithm;
use portcullis_sdk::PluginError;
use serde::Deserialize;

/// Largest clock skew an operator may allow, in seconds.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;
/// Entra ID's multi-tenant issuer template.
const ENTRA_TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Which kind of provider this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Any OpenID provider.
    #[default]
    Generic,
    /// Okta: groups from the `groups` claim.
    Okta,
    /// Microsoft Entra ID (Azure AD).
    Entra,
    /// Google Workspace.
    Google,
}

/// The configuration as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    preset: Preset,
    issuer: Option<String>,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    redirect_uri: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    allowed_algorithms: Option<Vec<String>>,
    #[serde(default = "default_skew")]
    clock_skew_secs: u64,
    #[serde(default = "default_max_age")]
    max_token_age_secs: u64,
    #[serde(default = "default_jwks_cache")]
    jwks_cache_secs: u64,
    #[serde(default = "default_discovery_cache")]
    discovery_cache_secs: u64,
    #[serde(default = "default_refetch")]
    jwks_refetch_interval_secs: u64,
    #[serde(default)]
    groups_claim: Option<String>,
    #[serde(default)]
    userinfo: bool,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    allowed_tenants: Vec<String>,
    #[serde(default)]
    allowed_domains: Vec<String>,
    #[serde(default)]
    graph_groups: bool,
    #[serde(default)]
    graph_url: Option<String>,
    #[serde(default)]
    graph_token_url: Option<String>,
    #[serde(default)]
    directory_groups: bool,
    #[serde(default)]
    service_account_email: Option<String>,
    #[serde(default)]
    service_account_key: Option<String>,
    #[serde(default)]
    directory_admin: Option<String>,
    #[serde(default)]
    google_token_url: Option<String>,
    #[serde(default)]
    directory_url: Option<String>,
}

fn default_skew() -> u64 {
    60
}
fn default_max_age() -> u64 {
    600
}
fn default_jwks_cache() -> u64 {
    600
}
fn default_discovery_cache() -> u64 {
    3600
}
fn default_refetch() -> u64 {
    30
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The preset.
    pub preset: Preset,
    /// The issuer: discovery is read from `{issuer}/.well-known/openid-configuration`.
    /// For a multi-tenant Entra configuration it holds `{tenantid}`.
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret (confidential clients).
    pub client_secret: Option<String>,
    /// A fixed redirect URI; otherwise the gateway's callback URL.
    pub redirect_uri: Option<String>,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// Signature algorithms accepted.
    pub algorithms: Vec<CoreJwsSigningAlgorithm>,
    /// Clock skew allowed on `exp` and `iat`.
    pub clock_skew_secs: u64,
    /// Oldest `iat` accepted.
    pub max_token_age_secs: u64,
    /// How long a fetched JWKS is used.
    pub jwks_cache_secs: u64,
    /// How long the discovery document is used.
    pub discovery_cache_secs: u64,
    /// Least time between two refetches of the JWKS for an unknown `kid`.
    pub jwks_refetch_interval_secs: u64,
    /// The claim carrying groups.
    pub groups_claim: String,
    /// Whether to call the userinfo endpoint.
    pub userinfo: bool,
    /// Entra tenants accepted (multi-tenant configurations).
    pub allowed_tenants: Vec<String>,
    /// Google Workspace domains (`hd`) accepted.
    pub allowed_domains: Vec<String>,
    /// Entra: resolve a groups overage through Microsoft Graph.
    pub graph: Option<GraphSettings>,
    /// Google: read groups from the Admin SDK Directory API.
    pub directory: Option<DirectorySettings>,
}

/// How the Google Workspace directory is read for a user's groups: as a
/// service account with domain-wide delegation, acting as an admin.
#[derive(Clone)]
pub struct DirectorySettings {
    /// The service account (`client_email` of its key file).
    pub service_account_email: String,
    /// Its private key (`private_key` of its key file), PEM PKCS#8.
    pub service_account_key: String,
    /// The Workspace admin it acts as.
    pub admin: String,
    /// Google's token endpoint.
    pub token_url: String,
    /// The Admin SDK's base URL.
    pub api_url: String,
}

impl std::fmt::Debug for DirectorySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectorySettings")
            .field("service_account_email", &self.service_account_email)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

/// Where Microsoft Graph is reached for a groups overage, with the app's
/// own client credentials.
#[derive(Debug, Clone)]
pub struct GraphSettings {
    /// Graph's base URL (`https://graph.microsoft.com`).
    pub api_url: String,
    /// The token endpoint, `{tenantid}` standing for the user's tenant.
    pub token_url: String,
}

fn invalid(key: &str, why: impl std::fmt::Display) -> PluginError {
    PluginError::InvalidConfig(format!("{key}: {why}"))
}

fn algorithm(name: &str) -> Option<CoreJwsSigningAlgorithm> {
    use CoreJwsSigningAlgorithm as J;
    Some(match name {
        "RS256" => J::RsaSsaPkcs1V15Sha256,
        "RS384" => J::RsaSsaPkcs1V15Sha384,
        "RS512" => J::RsaSsaPkcs1V15Sha512,
        "PS256" => J::RsaSsaPssSha256,
        "PS384" => J::RsaSsaPssSha384,
        "PS512" => J::RsaSsaPssSha512,
        "ES256" => J::EcdsaP256Sha256,
        "ES384" => J::EcdsaP384Sha384,
        "EdDSA" => J::EdDsa,
        "HS256" => J::HmacSha256,
        "HS384" => J::HmacSha384,
        "HS512" => J::HmacSha512,
        _ => return None,
    })
}

fn https_url(key: &str, value: &str) -> Result<(), PluginError> {
    if value.starts_with("https://") || value.starts_with("http://") {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("expected an http(s) URL, found `{value}`"),
        ))
    }
}

impl Settings {
    /// Checks `raw` JSON and applies the preset's defaults.
    pub fn parse() -> Result<Self, PluginError> {
        let raw: Raw = portcullis_sdk::config::get()?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: Raw) -> Result<Self, PluginError> {
        if raw.client_id.trim().is_empty() {
            return Err(invalid("client_id", "must not be empty"));
        }
        if raw.clock_skew_secs > MAX_CLOCK_SKEW_SECS {
            return Err(invalid(
                "clock_skew_secs",
                format!("at most {MAX_CLOCK_SKEW_SECS} seconds"),
            ));
        }
        let issuer = match (raw.preset, raw.issuer, &raw.tenant_id) {
            (_, Some(issuer), _) => issuer,
            (Preset::Entra, None, Some(tenant)) => {
                format!("https://login.microsoftonline.com/{tenant}/v2.0")
            }
            (Preset::Google, None, _) => "https://accounts.google.com".into(),
            (_, None, _) => return Err(invalid("issuer", "required")),
        };
        https_url("issuer", &issuer)?;
        if let Some(uri) = &raw.redirect_uri {
            https_url("redirect_uri", uri)?;
        }
        let algorithms = match raw.allowed_algorithms {
            None => vec![
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            ],
            Some(names) if names.is_empty() => {
                return Err(invalid(
                    "allowed_algorithms",
                    "must name at least one algorithm",
                ));
            }
            Some(names) => {
                let mut algorithms = Vec::new();
                for name in &names {
                    let alg = algorithm(name).ok_or_else(|| {
                        invalid(
                            "allowed_algorithms",
                            format!("`{name}` is not a supported JWS algorithm (never `none`)"),
                        )
                    })?;
                    let symmetric = matches!(
                        alg,
                        CoreJwsSigningAlgorithm::HmacSha256
                            | CoreJwsSigningAlgorithm::HmacSha384
                            | CoreJwsSigningAlgorithm::HmacSha512
                    );
                    if symmetric && raw.client_secret.is_none() {
                        return Err(invalid(
                            "allowed_algorithms",
                            format!(
                                "`{name}` needs a client_secret (it is keyed with it, never with a public key)"
                            ),
                        ));
                    }
                    algorithms.push(alg);
                }
                algorithms
            }
        };
        let multi_tenant = issuer.contains(ENTRA_TENANT_PLACEHOLDER);
        match raw.preset {
            Preset::Entra => {
                let is_common = issuer.contains("/common/") || issuer.contains("/organizations/");
                if is_common {
                    return Err(invalid(
                        "issuer",
                        "a multi-tenant Entra ID issuer is written with `{tenantid}` (e.g. https://login.microsoftonline.com/{tenantid}/v2.0), with `allowed_tenants`",
                    ));
                }
                if multi_tenant && raw.allowed_tenants.is_empty() {
                    return Err(invalid(
                        "allowed_tenants",
                        "a multi-tenant issuer needs the tenant ids it accepts",
                    ));
                }
                if !multi_tenant && raw.tenant_id.is_none() && raw.allowed_tenants.is_empty() {
                    return Err(invalid(
                        "tenant_id",
                        "required for Entra ID (its `tid` is pinned)",
                    ));
                }
            }
            Preset::Google if raw.allowed_domains.is_empty() => {
                return Err(invalid(
                    "allowed_domains",
                    "Google Workspace needs the domains (`hd`) it accepts",
                ));
            }
            _ if multi_tenant => {
                return Err(invalid(
                    "issuer",
                    "`{tenantid}` is only for the entra preset",
                ));
            }
            _ => {}
        }
        let mut allowed_tenants = raw.allowed_tenants;
        if let Some(tenant) = raw.tenant_id {
            allowed_tenants.push(tenant);
        }
        let graph = if raw.graph_groups {
            if raw.preset != Preset::Entra {
                return Err(invalid("graph_groups", "only for the entra preset"));
            }
            if raw.client_secret.is_none() {
                return Err(invalid(
                    "graph_groups",
                    "needs `client_secret` (the app reads Graph with its own credentials)",
                ));
            }
            let api_url = raw
                .graph_url
                .unwrap_or_else(|| "https://graph.microsoft.com".into())
                .trim_end_matches('/')
                .to_string();
            https_url("graph_url", &api_url)?;
            let token_url = raw.graph_token_url.unwrap_or_else(|| {
                format!(
                    "https://login.microsoftonline.com/{ENTRA_TENANT_PLACEHOLDER}/oauth2/v2.0/token"
                )
            });
            https_url("graph_token_url", &token_url)?;
            Some(GraphSettings { api_url, token_url })
        } else {
            None
        };
        let directory = if raw.directory_groups {
            if raw.preset != Preset::Google {
                return Err(invalid("directory_groups", "only for the google preset"));
            }
            let required = |value: Option<String>, key: &str| {
                value
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| invalid(key, "required with `directory_groups`"))
            };
            let service_account_key = required(raw.service_account_key, "service_account_key")?;
            if !service_account_key.contains("-----BEGIN PRIVATE KEY-----") {
                return Err(invalid(
                    "service_account_key",
                    "expected the key file's `private_key` (a PEM `PRIVATE KEY`)",
                ));
            }
            let token_url = raw
                .google_token_url
                .unwrap_or_else(|| "https://oauth2.googleapis.com/token".into());
            https_url("google_token_url", &token_url)?;
            let api_url = raw
                .directory_url
                .unwrap_or_else(|| "https://admin.googleapis.com".into())
                .trim_end_matches('/')
                .to_string();
            https_url("directory_url", &api_url)?;
            Some(DirectorySettings {
                service_account_email: required(
                    raw.service_account_email,
                    "service_account_email",
                )?,
                service_account_key,
                admin: required(raw.directory_admin, "directory_admin")?,
                token_url,
                api_url,
            })
        } else {
            None
        };
        let groups_claim = raw.groups_claim.unwrap_or_else(|| "groups".into());
        let mut scopes = raw.scopes;
        if scopes.is_empty() {
            scopes = vec!["email".into(), "profile".into()];
        }
        scopes.retain(|s| s != "openid");
        Ok(Self {
            preset: raw.preset,
            issuer,
            client_id: raw.client_id,
            client_secret: raw.client_secret,
            redirect_uri: raw.redirect_uri,
            scopes,
            algorithms,
            clock_skew_secs: raw.clock_skew_secs,
            max_token_age_secs: raw.max_token_age_secs,
            jwks_cache_secs: raw.jwks_cache_secs,
            discovery_cache_secs: raw.discovery_cache_secs,
            jwks_refetch_interval_secs: raw.jwks_refetch_interval_secs,
            groups_claim,
            userinfo: raw.userinfo,
            allowed_tenants,
            allowed_domains: raw
                .allowed_domains
                .into_iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            graph,
            directory,
        })
    }

    /// The issuer discovery is read from. For a multi-tenant Entra
    /// configuration, the first allowed tenant's.
    pub fn discovery_issuer(&self) -> String {
        match self.allowed_tenants.first() {
            Some(tenant) if self.issuer.contains(ENTRA_TENANT_PLACEHOLDER) => {
                self.issuer.replace(ENTRA_TENANT_PLACEHOLDER, tenant)
            }
            _ => self.issuer.clone(),
        }
    }

    /// Whether `issuer` (a token's `iss`, with its `tid`) is this
    /// provider's: exactly the issuer, or the template filled with an
    /// allowed tenant that is the token's own `tid`.
    pub fn accepts_issuer(&self, issuer: &str, tid: Option<&str>) -> bool {
        if !self.issuer.contains(ENTRA_TENANT_PLACEHOLDER) {
            return issuer == self.issuer;
        }
        let Some(tid) = tid else { return false };
        self.allowed_tenants.iter().any(|t| t == tid)
            && issuer == self.issuer.replace(ENTRA_TENANT_PLACEHOLDER, tid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: serde_json::Value) -> Result<Settings, PluginError> {
        Settings::from_raw(serde_json::from_value(json).map_err(|e| invalid("json", e))?)
    }

    fn error_of(json: serde_json::Value) -> String {
        match raw(json) {
            Err(PluginError::InvalidConfig(why)) => why,
            other => format!("not refused: {other:?}"),
        }
    }

    #[test]
    fn presets_check_what_their_provider_needs() {
        assert!(error_of(serde_json::json!({"client_id": "c"})).starts_with("issuer:"));
        assert!(
            error_of(serde_json::json!({"preset": "entra", "client_id": "c", "issuer": "https://login.microsoftonline.com/common/v2.0"}))
                .contains("{tenantid}")
        );
        assert!(
            error_of(serde_json::json!({"preset": "entra", "client_id": "c", "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"}))
                .starts_with("allowed_tenants:")
        );
        assert!(
            error_of(serde_json::json!({"preset": "google", "client_id": "c"}))
                .starts_with("allowed_domains:")
        );
        assert!(
            error_of(
                serde_json::json!({"client_id": "c", "issuer": "https://i", "clock_skew_secs": 301})
            )
            .starts_with("clock_skew_secs:")
        );
        assert!(
            error_of(serde_json::json!({"client_id": "c", "issuer": "https://i", "allowed_algorithms": ["none"]}))
                .contains("never `none`")
        );
        assert!(
            error_of(serde_json::json!({"client_id": "c", "issuer": "https://i", "allowed_algorithms": ["HS256"]}))
                .contains("client_secret")
        );
        let entra =
            raw(serde_json::json!({"preset": "entra", "client_id": "c", "tenant_id": "t1"}))
                .unwrap_or_else(|e| unreachable!("{e:?}"));
        assert_eq!(entra.issuer, "https://login.microsoftonline.com/t1/v2.0");
    }

    #[test]
    fn a_multi_tenant_issuer_accepts_only_allowed_tenants_as_their_own_tid() {
        let settings = raw(serde_json::json!({
            "preset": "entra", "client_id": "c",
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
            "allowed_tenants": ["t1", "t2"],
        }))
        .unwrap_or_else(|e| unreachable!("{e:?}"));
        let iss = |t: &str| format!("https://login.microsoftonline.com/{t}/v2.0");
        assert!(settings.accepts_issuer(&iss("t1"), Some("t1")));
        assert!(settings.accepts_issuer(&iss("t2"), Some("t2")));
        assert!(!settings.accepts_issuer(&iss("t3"), Some("t3")));
        assert!(!settings.accepts_issuer(&iss("t1"), Some("t2")));
        assert!(!settings.accepts_issuer(&iss("t1"), None));
        assert_eq!(settings.discovery_issuer(), iss("t1"));
    }

    #[test]
    fn graph_groups_are_for_entra_with_a_client_secret() {
        let okta = error_of(
            serde_json::json!({"preset": "okta", "client_id": "c", "issuer": "https://i", "client_secret": "s", "graph_groups": true}),
        );
        assert!(
            okta.starts_with("graph_groups: only for the entra preset"),
            "{okta}"
        );
        let public = error_of(
            serde_json::json!({"preset": "entra", "client_id": "c", "tenant_id": "t", "graph_groups": true}),
        );
        assert!(public.contains("needs `client_secret`"), "{public}");
        let url = error_of(
            serde_json::json!({"preset": "entra", "client_id": "c", "tenant_id": "t", "client_secret": "s", "graph_groups": true, "graph_url": "graph.microsoft.com"}),
        );
        assert!(url.starts_with("graph_url:"), "{url}");
    }
}
