//! `authn-static-token`: an example identity provider that accepts bearer
//! tokens listed (as SHA-256 digests) in its configuration.
//!
//! ```toml
//! [plugins.tokens.config]
//! [[plugins.tokens.config.tokens]]
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! subject = "ci-bot"
//! groups = ["deployers"]
//! ```
//!
//! Tokens are compared by digest in constant time through the host.

use portcullis_sdk::crypto::{self, HashAlgorithm};
use portcullis_sdk::{AuthProvider, Credential, PluginError, Principal, RequestInfo};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Token {
    sha256: String,
    subject: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    tokens: Vec<Token>,
}

struct StaticTokens {
    tokens: Vec<(Vec<u8>, Token)>,
    issuer: String,
}

impl AuthProvider for StaticTokens {
    fn init() -> Result<Self, PluginError> {
        let config: Config = portcullis_sdk::config::get()?;
        let mut tokens = Vec::with_capacity(config.tokens.len());
        for (i, token) in config.tokens.into_iter().enumerate() {
            let digest = portcullis_sdk::hex::decode(&token.sha256)
                .filter(|d| d.len() == 32)
                .ok_or_else(|| {
                    PluginError::InvalidConfig(format!(
                        "tokens[{i}].sha256: expected 64 hex digits"
                    ))
                })?;
            tokens.push((digest, token));
        }
        Ok(Self {
            tokens,
            issuer: portcullis_sdk::config::instance_name(),
        })
    }

    fn verify_credential(
        &mut self,
        credential: &Credential,
        _: &RequestInfo,
    ) -> Result<Principal, PluginError> {
        let Credential::Bearer(presented) = credential else {
            return Err(PluginError::UnsupportedCredential);
        };
        let digest = crypto::digest(HashAlgorithm::Sha256, presented.as_bytes());
        // Compare against every entry so timing does not reveal which matched.
        let mut found = None;
        for (expected, token) in &self.tokens {
            if crypto::constant_time_equals(expected, &digest) {
                found = Some(token);
            }
        }
        let token = found.ok_or(PluginError::InvalidCredentials)?;
        Ok(Principal {
            subject: token.subject.clone(),
            issuer: self.issuer.clone(),
            email: token.email.clone(),
            display_name: None,
            groups: token.groups.clone(),
            amr: vec!["api_key".into()],
            attributes: Vec::new(),
            organization: None,
        })
    }
}

portcullis_sdk::export_auth_provider!(StaticTokens);
