//! `authn-saml`: sign-in through a SAML 2.0 identity provider, in pure
//! Rust with one XML parser (`roxmltree`) and no C.
//!
//! SP-initiated login: an AuthnRequest over the HTTP-Redirect binding,
//! the response over HTTP-POST to the gateway's ACS
//! (`/auth/sso/{id}/callback`). Responses are checked by `response`
//! (structure, signatures over exclusive c14n against the configured IdP
//! certificates only, issuer, audience, recipient, destination,
//! InResponseTo, validity windows with a capped skew), then the assertion
//! ID is recorded in the plugin's store until the assertion expires, so
//! a replay is refused by any gateway sharing the store. Logins the IdP
//! starts itself are refused unless `allow_idp_initiated` is set; then a
//! response that claims to answer a request (`InResponseTo`) is still
//! refused when no login of the gateway is in progress, and a replay is
//! refused by the same cache.
//!
//! ```toml
//! [plugins.saml]
//! path = "authn_saml.wasm"
//! allow_hosts = []          # or the hosts of IdP metadata URLs
//! ```
//!
//! An organization's provider then sets the IdP's metadata URL (read
//! again every hour), its metadata document, or its `idp_entity_id`,
//! `idp_sso_url` and `idp_certificates` (see the README, "Single
//! sign-on"). A metadata URL needs its host in `allow_hosts`.

mod c14n;
mod dsig;
mod metadata;
mod request;
mod response;
mod settings;
mod time;

use base64::Engine;
use metadata::IdentityProvider;
use portcullis_sdk::{
    Attribute, AuthProvider, LoginInput, LoginStep, PluginError, Principal, ProviderDescription,
    ServiceEndpoints, StepResult, crypto, kv, log,
};
use request::AuthnRequest;
use response::Expected;
use serde::{Deserialize, Serialize};
use settings::{IdpSource, Settings};

/// What the plugin keeps between the redirect and the ACS post.
#[derive(Serialize, Deserialize)]
struct Pending {
    request_id: String,
    relay_state: String,
    acs_url: String,
    sp_entity_id: String,
}

struct Saml {
    /// `None`: configured with nothing, the template of identity
    /// providers configured at run time.
    settings: Option<Settings>,
    /// The IdP's metadata last read from its URL, and when (Unix seconds).
    fetched: Option<(i64, IdentityProvider)>,
}

/// After a failed metadata refresh, how long until the next try.
const METADATA_RETRY_SECS: i64 = 60;

impl Saml {
    /// The IdP's facts for this sign-in: the fixed ones, or the metadata
    /// last read from its URL, read again once `refresh_secs` have passed.
    /// A failed refresh keeps the last good document (logged, tried again
    /// a minute later), unless that document itself has expired.
    fn idp(&mut self) -> Result<(&Settings, IdentityProvider), PluginError> {
        let settings = configured(&self.settings)?;
        let now = now();
        let idp = match &settings.idp {
            IdpSource::Fixed(idp) => idp.clone(),
            IdpSource::Url {
                url,
                entity_id,
                refresh_secs,
            } => {
                let due = self.fetched.as_ref().is_none_or(|(at, _)| {
                    now - at >= i64::try_from(*refresh_secs).unwrap_or(i64::MAX)
                });
                if due {
                    let fresh =
                        settings::fetch_metadata(url, entity_id.as_deref(), now).and_then(|idp| {
                            settings::check_idp(&idp, "idp_metadata_url")
                                .map(|()| idp)
                                .map_err(|e| format!("{e:?}"))
                        });
                    match (fresh, self.fetched.take()) {
                        (Ok(idp), _) => self.fetched = Some((now, idp)),
                        (Err(why), Some((_, last))) => {
                            log::warn(&format!(
                                "SAML metadata refresh from {url} failed, keeping the last document: {why}"
                            ));
                            let retry_at = now - i64::try_from(*refresh_secs).unwrap_or(0)
                                + METADATA_RETRY_SECS;
                            self.fetched = Some((retry_at, last));
                        }
                        (Err(why), None) => {
                            log::error(&format!("SAML metadata from {url} unavailable: {why}"));
                            return Err(PluginError::Unavailable(
                                "the identity provider's metadata cannot be read".into(),
                            ));
                        }
                    }
                }
                self.fetched
                    .as_ref()
                    .map(|(_, idp)| idp.clone())
                    .ok_or_else(|| internal("no metadata"))?
            }
        };
        if idp.valid_until.is_some_and(|until| until <= now) {
            log::error("SAML IdP metadata has expired (validUntil is past)");
            return Err(PluginError::Unavailable(
                "the identity provider's metadata has expired".into(),
            ));
        }
        Ok((settings, idp))
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn random_hex() -> String {
    portcullis_sdk::hex::encode(&portcullis_sdk::random::bytes::<20>())
}

/// A refused login, logged with the check that failed.
fn refused(check: &str) -> PluginError {
    log::warn(&format!("SAML login refused: {check}"));
    PluginError::InvalidCredentials
}

fn internal(why: impl std::fmt::Display) -> PluginError {
    PluginError::Internal(why.to_string())
}

fn configured(settings: &Option<Settings>) -> Result<&Settings, PluginError> {
    settings.as_ref().ok_or_else(|| {
        PluginError::InvalidConfig(
            "this instance has no IdP: it is the template of identity providers configured at run time".into(),
        )
    })
}

/// Records `assertion_id` as used until `until`; `false` if it was already.
fn first_use(assertion_id: &str, until: i64) -> Result<bool, PluginError> {
    let key = format!(
        "assertion:{}",
        portcullis_sdk::hex::encode(&crypto::digest(
            crypto::HashAlgorithm::Sha256,
            assertion_id.as_bytes()
        ))
    );
    let expires = u64::try_from(until.max(now() + 1)).unwrap_or(u64::MAX);
    kv::compare_and_swap_expiring(&key, None, Some(b"used"), expires)
        .map_err(|e| PluginError::Unavailable(format!("replay cache: {e:?}")))
}

/// This provider's SP entity id: the configured one, or the gateway's
/// metadata URL for it.
fn sp_entity_id(settings: &Settings, metadata_url: String) -> String {
    settings.sp_entity_id.clone().unwrap_or(metadata_url)
}

fn begin(
    settings: &Settings,
    idp: &IdentityProvider,
    input: &LoginInput,
) -> Result<StepResult, PluginError> {
    let acs_url = input
        .field("redirect_uri")
        .ok_or_else(|| PluginError::InvalidInput("the gateway sent no redirect_uri".into()))?
        .to_string();
    let metadata_url = input
        .field("metadata_url")
        .ok_or_else(|| PluginError::InvalidInput("the gateway sent no metadata_url".into()))?;
    let sp_entity_id = sp_entity_id(settings, metadata_url.to_string());
    let pending = Pending {
        request_id: format!("_{}", random_hex()),
        relay_state: random_hex(),
        acs_url,
        sp_entity_id,
    };
    let request = AuthnRequest {
        id: &pending.request_id,
        destination: &idp.sso_url,
        acs_url: &pending.acs_url,
        issuer: &pending.sp_entity_id,
        now: now(),
    };
    Ok(StepResult {
        step: LoginStep::Redirect(
            request
                .redirect_url(
                    &pending.relay_state,
                    settings.signing.as_ref().map(|s| s.private_key.as_str()),
                )
                .map_err(internal)?,
        ),
        state: serde_json::to_vec(&pending).map_err(internal)?,
    })
}

fn finish(
    settings: &Settings,
    idp: &IdentityProvider,
    state: &[u8],
    input: &LoginInput,
) -> Result<StepResult, PluginError> {
    // No state: a response no login of the gateway asked for (the IdP
    // started the login). The gateway sends its ACS and metadata URLs.
    let (request_id, acs_url, sp_entity_id) = if state.is_empty() {
        if !settings.allow_idp_initiated {
            return Err(refused(
                "an unsolicited response (a login the IdP started) is refused: `allow_idp_initiated` is off",
            ));
        }
        let gateway_field = |name: &str| {
            input
                .field(name)
                .map(str::to_string)
                .ok_or_else(|| PluginError::InvalidInput(format!("the gateway sent no {name}")))
        };
        let acs_url = gateway_field("redirect_uri")?;
        let sp_entity_id = sp_entity_id(settings, gateway_field("metadata_url")?);
        (None, acs_url, sp_entity_id)
    } else {
        let pending: Pending =
            serde_json::from_slice(state).map_err(|_| refused("login state unreadable"))?;
        let relay_state = input
            .field("RelayState")
            .ok_or_else(|| refused("no RelayState"))?;
        if !crypto::constant_time_equals(relay_state.as_bytes(), pending.relay_state.as_bytes()) {
            return Err(refused("RelayState is not this login's"));
        }
        (
            Some(pending.request_id),
            pending.acs_url,
            pending.sp_entity_id,
        )
    };
    let encoded = input
        .field("SAMLResponse")
        .ok_or_else(|| refused("no SAMLResponse"))?;
    if encoded.len() > settings.max_response_bytes.saturating_mul(4) / 3 + 4 {
        return Err(refused("the SAMLResponse is larger than allowed"));
    }
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| refused("the SAMLResponse is not base64"))?;
    if bytes.len() > settings.max_response_bytes {
        return Err(refused("the SAMLResponse is larger than allowed"));
    }
    let xml = String::from_utf8(bytes).map_err(|_| refused("the SAMLResponse is not UTF-8"))?;
    let expected = Expected {
        request_id: request_id.as_deref(),
        acs_url: &acs_url,
        sp_entity_id: &sp_entity_id,
        idp_entity_id: &idp.entity_id,
        certificates: &idp.certificates,
        skew: i64::try_from(settings.clock_skew_secs).unwrap_or(0),
        now: now(),
    };
    let started = std::time::Instant::now();
    let asserted = response::validate(&xml, &expected).map_err(|why| refused(&why))?;
    // For `make bench` (benches/sso.rs): the ACS validation's own time.
    log::info(&format!(
        "SAML response validated in {} us",
        started.elapsed().as_micros()
    ));
    if !first_use(&asserted.assertion_id, asserted.usable_until)? {
        return Err(refused("the assertion was already used (replay)"));
    }
    // An attribute is named by its `Name` or its `FriendlyName`.
    let values = |name: &str| -> Vec<String> {
        asserted
            .attributes
            .iter()
            .filter(|a| a.name == name || a.friendly_name.as_deref() == Some(name))
            .flat_map(|a| a.values.iter().cloned())
            .collect()
    };
    let email_format = asserted.name_id_format.as_deref()
        == Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress");
    let email = values(&settings.email_attribute)
        .into_iter()
        .next()
        .or_else(|| email_format.then(|| asserted.name_id.clone()))
        .filter(|e| e.contains('@'));
    let mut attributes = vec![Attribute {
        name: "issuer".into(),
        value: idp.entity_id.clone(),
    }];
    if email.is_some() {
        // The IdP signed it; SAML has no separate verification flag.
        attributes.push(Attribute {
            name: "email_verified".into(),
            value: "true".into(),
        });
    }
    let principal = Principal {
        subject: asserted.name_id.clone(),
        issuer: idp.entity_id.clone(),
        organization: None,
        email,
        display_name: values(&settings.name_attribute).into_iter().next(),
        groups: values(&settings.groups_attribute),
        amr: vec!["sso".into()],
        attributes,
    };
    Ok(StepResult {
        step: LoginStep::Authenticated(principal),
        state: Vec::new(),
    })
}

impl AuthProvider for Saml {
    fn init() -> Result<Self, PluginError> {
        let raw: serde_json::Map<String, serde_json::Value> = portcullis_sdk::config::get()?;
        if raw.is_empty() {
            return Ok(Self {
                settings: None,
                fetched: None,
            });
        }
        let now = now();
        let (settings, fetched) = Settings::parse(now)?;
        Ok(Self {
            settings: Some(settings),
            fetched: fetched.map(|idp| (now, idp)),
        })
    }

    fn begin_login(&mut self, input: &LoginInput) -> Result<StepResult, PluginError> {
        let (settings, idp) = self.idp()?;
        begin(settings, &idp, input)
    }

    fn continue_login(
        &mut self,
        state: &[u8],
        input: &LoginInput,
    ) -> Result<StepResult, PluginError> {
        let (settings, idp) = self.idp()?;
        finish(settings, &idp, state, input)
    }

    /// SP metadata for the IdP's administrator, and the IdP certificates
    /// trusted now (for their expiry).
    fn describe(
        &mut self,
        endpoints: &ServiceEndpoints,
    ) -> Result<ProviderDescription, PluginError> {
        let (settings, idp) = self.idp()?;
        let entity_id = sp_entity_id(settings, endpoints.metadata_url.clone());
        Ok(ProviderDescription {
            metadata: Some((
                metadata::MEDIA_TYPE.to_string(),
                metadata::service_provider(
                    &entity_id,
                    &endpoints.callback_url,
                    settings.signing.as_ref().map(|s| s.certificate.as_str()),
                ),
            )),
            trusted_certificates: idp.certificates,
            accepts_unsolicited: settings.allow_idp_initiated,
        })
    }
}

portcullis_sdk::export_auth_provider!(Saml);
