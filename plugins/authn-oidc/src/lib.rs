//! `authn-oidc`: sign-in through an OpenID Connect provider (Okta,
//! Microsoft Entra ID, Google Workspace or any other), built on the
//! `openidconnect` crate, with signatures checked by the gateway's native
//! crypto.
//!
//! The flow is the authorization code flow with PKCE (S256). `state` and
//! `nonce` are random per login and kept in the login state the gateway
//! stores server-side, bound to the browser; the gateway ends the flow at
//! the callback, so both are single-use. The ID token's issuer, audience
//! (and `azp`), expiry, issue time (with a capped clock skew), nonce and
//! signature (from an algorithm allow-list; never `none`, never an HMAC
//! keyed with a public key) are checked before any claim is read.
//!
//! ```toml
//! [plugins.okta]
//! path = "authn_oidc.wasm"
//! allow_hosts = ["acme.okta.com"]
//! [plugins.okta.config]
//! preset = "okta"                  # generic | okta | entra | google
//! issuer = "https://acme.okta.com"
//! client_id = "0oa…"
//! client_secret = "…"
//! ```
//!
//! See the README ("Single sign-on") for every key.

mod claims;
mod documents;
mod google;
mod graph;
mod jwk;
mod settings;

use claims::{Extra, GroupLookup, principal_of};
use jwk::HostJwk;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IdToken,
    IdTokenVerifier, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, Scope, SignatureVerificationError, TokenResponse,
};
use portcullis_sdk::{AuthProvider, LoginInput, LoginStep, PluginError, StepResult, crypto, log};
use serde::{Deserialize, Serialize};
use settings::Settings;

/// The ID token with the claims this plugin reads beyond the standard ones.
type OidcIdToken =
    IdToken<Extra, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// What the plugin keeps between the redirect and the callback.
#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    redirect_uri: String,
}

/// What the plugin keeps with a session it signed in: the ID token (the
/// `id_token_hint` of its logout) and where the provider ends sessions.
#[derive(Serialize, Deserialize)]
struct SessionState {
    id_token: String,
    end_session_endpoint: Option<String>,
}

struct Oidc {
    /// `None`: configured with nothing, as the template that organizations'
    /// identity providers (configured at run time) are instances of.
    settings: Option<Settings>,
}

/// 32 random bytes from the host, base64url without padding (43 chars).
fn random_token() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = portcullis_sdk::random::bytes::<33>();
    let mut out = String::with_capacity(44);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
        }
    }
    out
}

/// A refused login, logged with the check that failed.
fn refused(check: &str) -> PluginError {
    log::warn(&format!("OIDC login refused: {check}"));
    PluginError::InvalidCredentials
}

/// An error with the errors that caused it: `openidconnect` keeps the
/// reason a signature failed (wrong key, algorithm not allowed, …) in the
/// source.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

fn internal(why: impl std::fmt::Display) -> PluginError {
    PluginError::Internal(why.to_string())
}

/// Sends an `openidconnect` request through the gateway's HTTP.
fn send(
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, portcullis_sdk::http::HttpError> {
    let (parts, body) = request.into_parts();
    let mut outgoing = portcullis_sdk::http::Request {
        method: parts.method.as_str().to_string(),
        url: parts.uri.to_string(),
        headers: Vec::new(),
        body,
    };
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            outgoing
                .headers
                .push((name.as_str().to_string(), value.to_string()));
        }
    }
    let response = portcullis_sdk::http::send(&outgoing)?;
    let mut builder = openidconnect::http::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(response.body)
        .map_err(|e| portcullis_sdk::http::HttpError::Transport(e.to_string()))
}

/// The settings of a configured instance; the template refuses logins.
fn configured(settings: &Option<Settings>) -> Result<&Settings, PluginError> {
    settings.as_ref().ok_or_else(|| {
        PluginError::InvalidConfig(
            "this instance has no `issuer`: it is the template of identity providers configured at run time".into(),
        )
    })
}

struct Configured<'a> {
    settings: &'a Settings,
}

impl Configured<'_> {
    fn client(
        &self,
        metadata: openidconnect::core::CoreProviderMetadata,
        redirect_uri: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        PluginError,
    > {
        let redirect = RedirectUrl::new(redirect_uri.to_string())
            .map_err(|e| PluginError::InvalidInput(format!("redirect URI: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    fn verifier(
        &self,
        keys: openidconnect::JsonWebKeySet<HostJwk>,
    ) -> Result<IdTokenVerifier<'static, HostJwk>, PluginError> {
        let issuer = IssuerUrl::new(self.settings.discovery_issuer()).map_err(internal)?;
        let client_id = ClientId::new(self.settings.client_id.clone());
        let verifier = match &self.settings.client_secret {
            Some(secret) => IdTokenVerifier::new_confidential_client(
                client_id,
                ClientSecret::new(secret.clone()),
                issuer,
                keys,
            ),
            None => IdTokenVerifier::new_public_client(client_id, issuer, keys),
        };
        let skew = i64::try_from(self.settings.clock_skew_secs).unwrap_or(0);
        let max_age = i64::try_from(self.settings.max_token_age_secs).unwrap_or(i64::MAX);
        Ok(verifier
            .set_allowed_algs(self.settings.algorithms.clone())
            // Expiry is checked against a clock set back by the skew.
            .set_time_fn(move || chrono::Utc::now() - chrono::Duration::seconds(skew))
            .set_issue_time_verifier_fn(move |iat| {
                let now = chrono::Utc::now();
                if iat > now + chrono::Duration::seconds(skew) {
                    Err(format!("issued in the future ({iat})"))
                } else if now - iat > chrono::Duration::seconds(max_age.saturating_add(skew)) {
                    Err(format!("issued too long ago ({iat})"))
                } else {
                    Ok(())
                }
            })
            // A multi-tenant Entra issuer is checked against the template
            // below, with the token's own `tid`.
            .require_issuer_match(!self.settings.issuer.contains("{tenantid}")))
    }

    /// Verifies `token` against the cached JWKS and, if it names a key the
    /// cache lacks, once more against a refetched one (rate-limited).
    fn verified_claims(
        &self,
        token: &OidcIdToken,
        jwks_uri: &str,
        nonce: &Nonce,
    ) -> Result<openidconnect::IdTokenClaims<Extra, CoreGenderClaim>, PluginError> {
        let keys = documents::jwks(jwks_uri, self.settings.jwks_cache_secs)?;
        match token.claims(&self.verifier(keys)?, nonce) {
            Ok(claims) => return Ok(claims.clone()),
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {}
            Err(error) => return Err(refused(&format!("ID token: {}", with_causes(&error)))),
        }
        let Some(keys) =
            documents::jwks_for_unknown_key(jwks_uri, self.settings.jwks_refetch_interval_secs)?
        else {
            return Err(refused(
                "ID token: signed with a key the JWKS does not have (refetched recently; not again yet)",
            ));
        };
        token
            .claims(&self.verifier(keys)?, nonce)
            .cloned()
            .map_err(|error| refused(&format!("ID token: {}", with_causes(&error))))
    }
}

impl AuthProvider for Oidc {
    fn init() -> Result<Self, PluginError> {
        let raw: serde_json::Map<String, serde_json::Value> = portcullis_sdk::config::get()?;
        if raw.is_empty() {
            return Ok(Self { settings: None });
        }
        Ok(Self {
            settings: Some(Settings::parse()?),
        })
    }

    fn begin_login(&mut self, input: &LoginInput) -> Result<StepResult, PluginError> {
        Configured {
            settings: configured(&self.settings)?,
        }
        .begin_login(input)
    }

    fn continue_login(
        &mut self,
        state: &[u8],
        input: &LoginInput,
    ) -> Result<StepResult, PluginError> {
        Configured {
            settings: configured(&self.settings)?,
        }
        .continue_login(state, input)
    }

    fn end_session(
        &mut self,
        session_state: &[u8],
        post_logout_url: &str,
    ) -> Result<Option<String>, PluginError> {
        Configured {
            settings: configured(&self.settings)?,
        }
        .end_session(session_state, post_logout_url)
    }
}

impl Configured<'_> {
    fn begin_login(&self, input: &LoginInput) -> Result<StepResult, PluginError> {
        let redirect_uri = match (&self.settings.redirect_uri, input.field("redirect_uri")) {
            (Some(fixed), _) => fixed.clone(),
            (None, Some(callback)) => callback.to_string(),
            (None, None) => {
                return Err(PluginError::InvalidInput(
                    "the gateway sent no redirect_uri".into(),
                ));
            }
        };
        let metadata = documents::discovery(
            &self.settings.discovery_issuer(),
            self.settings.discovery_cache_secs,
        )?
        .metadata;
        let client = self.client(metadata, &redirect_uri)?;
        let verifier = random_token();
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone()));
        let (state, nonce) = (random_token(), random_token());
        let (state_for_url, nonce_for_url) = (state.clone(), nonce.clone());
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state_for_url),
                move || Nonce::new(nonce_for_url),
            )
            .set_pkce_challenge(challenge);
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let [domain] = self.settings.allowed_domains.as_slice() {
            // A hint for Google's account chooser only: `hd` in the ID
            // token is what is checked.
            request = request.add_extra_param("hd", domain.clone());
        }
        let (url, _, _) = request.url();
        let pending = Pending {
            state,
            nonce,
            verifier,
            redirect_uri,
        };
        Ok(StepResult {
            step: LoginStep::Redirect(url.to_string()),
            state: serde_json::to_vec(&pending).map_err(internal)?,
        })
    }

    fn continue_login(&self, state: &[u8], input: &LoginInput) -> Result<StepResult, PluginError> {
        let pending: Pending =
            serde_json::from_slice(state).map_err(|_| refused("login state unreadable"))?;
        if let Some(error) = input.field("error") {
            let description = input.field("error_description").unwrap_or_default();
            return Err(refused(&format!(
                "the provider answered `{error}` {description}"
            )));
        }
        let returned_state = input.field("state").ok_or_else(|| refused("no `state`"))?;
        if !crypto::constant_time_equals(returned_state.as_bytes(), pending.state.as_bytes()) {
            return Err(refused("`state` is not this login's"));
        }
        let code = input.field("code").ok_or_else(|| refused("no `code`"))?;
        let documents::Discovery {
            metadata,
            end_session_endpoint,
        } = documents::discovery(
            &self.settings.discovery_issuer(),
            self.settings.discovery_cache_secs,
        )?;
        let jwks_uri = metadata.jwks_uri().url().to_string();
        let userinfo_endpoint = metadata.userinfo_endpoint().map(|u| u.url().to_string());
        let client = self.client(metadata, &pending.redirect_uri)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| PluginError::Unavailable(format!("token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request(&send)
            .map_err(|error| match error {
                RequestTokenError::ServerResponse(answer) => refused(&format!(
                    "the token endpoint refused the code: {}",
                    answer.error()
                )),
                other => PluginError::Unavailable(format!("token endpoint: {other}")),
            })?;
        let raw_token = response
            .id_token()
            .ok_or_else(|| refused("the token response has no ID token"))?
            .to_string();
        let started = std::time::Instant::now();
        let token: OidcIdToken = raw_token
            .parse()
            .map_err(|e| refused(&format!("ID token unreadable: {e}")))?;
        let claims = self.verified_claims(&token, &jwks_uri, &Nonce::new(pending.nonce))?;
        // For `make bench` (benches/sso.rs): the callback's own work, the
        // token exchange excluded.
        log::info(&format!(
            "ID token verified in {} us",
            started.elapsed().as_micros()
        ));
        let userinfo = match (&userinfo_endpoint, self.settings.userinfo) {
            (Some(url), true) => Some(claims::userinfo(
                url,
                response.access_token().secret(),
                claims.subject().as_str(),
            )?),
            _ => None,
        };
        let groups_from = |lookup: GroupLookup<'_>| match lookup {
            GroupLookup::EntraOverage { tid, oid } => {
                match (&self.settings.graph, &self.settings.client_secret) {
                    (Some(graph), Some(secret)) => {
                        graph::member_groups(graph, &self.settings.client_id, secret, tid, oid)
                    }
                    _ => Err("Microsoft Graph is not configured".to_string()),
                }
            }
            GroupLookup::GoogleDirectory { email } => match &self.settings.directory {
                Some(directory) => google::user_groups(directory, email, documents::now()),
                None => Err("the Google directory is not configured".to_string()),
            },
        };
        let principal = principal_of(self.settings, &claims, userinfo.as_ref(), &groups_from)
            .map_err(|why| refused(&why))?;
        let session = SessionState {
            id_token: raw_token,
            end_session_endpoint,
        };
        Ok(StepResult {
            step: LoginStep::Authenticated(principal),
            state: serde_json::to_vec(&session).map_err(internal)?,
        })
    }

    /// The provider's logout URL for a session: its `end_session_endpoint`
    /// with the session's ID token as `id_token_hint`, our client id and
    /// where to come back to.
    fn end_session(
        &self,
        state: &[u8],
        post_logout_url: &str,
    ) -> Result<Option<String>, PluginError> {
        let session: SessionState = serde_json::from_slice(state)
            .map_err(|_| PluginError::InvalidInput("the session state is unreadable".into()))?;
        let Some(endpoint) = session.end_session_endpoint else {
            return Ok(None);
        };
        let mut url = openidconnect::url::Url::parse(&endpoint).map_err(|e| {
            PluginError::Unavailable(format!("the provider's end_session_endpoint: {e}"))
        })?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", &session.id_token)
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("post_logout_redirect_uri", post_logout_url)
            .append_pair("state", &random_token());
        Ok(Some(url.to_string()))
    }
}

portcullis_sdk::export_auth_provider!(Oidc);
