//! Turning what a request presents (a session cookie, an access token, an
//! API key or a provider's credential) into a [`Caller`]. Any doubt denies.

use super::access_token::{TokenError, unverified_issuer};
use super::{Identity, IdentityError, api_key, from_guest, now, pending};
use crate::plugin::{Credential, GuestError, GuestResult, Principal, RequestInfo};
use crate::store::{ApiKeyRecord, SessionRecord, UserRecord};
use std::sync::Arc;

/// Seconds between writes of a session's or key's last use to the store.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// What the request presented.
#[derive(Debug)]
pub enum Presented {
    /// An `Authorization` credential.
    Credential(Credential),
    /// The session cookie's value.
    SessionCookie(String),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who, as the authorizer sees them (groups filled from the directory);
    /// shared, as callers of one API key reuse one principal.
    pub principal: Arc<Principal>,
    /// The directory user, when the caller is one.
    pub user: Option<Arc<UserRecord>>,
    /// The session the request belongs to (cookie or access token).
    pub session_id: Option<String>,
    /// When that session signed in (Unix seconds).
    pub signed_in_at: Option<i64>,
    /// The API key used, if any.
    pub api_key_id: Option<String>,
    /// Actions required before full access.
    pub pending: Vec<String>,
}

impl Caller {
    /// A caller outside the directory: anonymous, or verified by a
    /// provider's credential.
    pub fn outside_directory(principal: Principal) -> Self {
        Self {
            principal: Arc::new(principal),
            user: None,
            session_id: None,
            signed_in_at: None,
            api_key_id: None,
            pending: Vec::new(),
        }
    }

    /// The caller's organization, for directory users.
    pub fn org_id(&self) -> Option<&str> {
        self.user.as_deref().map(|u| u.org_id.as_str())
    }

    /// Refuses callers that still have actions pending (restricted sessions).
    pub fn require_full_access(&self) -> Result<(), IdentityError> {
        if self.pending.is_empty() {
            Ok(())
        } else {
            Err(IdentityError::ActionsPending(self.pending.clone()))
        }
    }

    /// The directory user, or a refusal for callers that are not one.
    pub fn require_user(&self) -> Result<&Arc<UserRecord>, IdentityError> {
        self.user
            .as_ref()
            .ok_or_else(|| IdentityError::Forbidden("only directory users can do this".into()))
    }

    /// Whether the caller authenticated with an API key.
    pub fn is_api_key(&self) -> bool {
        self.api_key_id.is_some()
    }

    /// Whether the caller may act across organizations: a directory user
    /// with the platform-operator capability, signed in themselves (an API
    /// key never carries it).
    pub fn is_platform_operator(&self) -> bool {
        !self.is_api_key() && self.user.as_deref().is_some_and(|u| u.platform_operator)
    }
}

/// A directory user as the authorizer sees them, with `groups` and the
/// authentication methods `amr`; the gateway vouches for it (issuer
/// `portcullis`).
pub fn directory_principal(user: &UserRecord, groups: Vec<String>, amr: Vec<String>) -> Principal {
    Principal {
        subject: user.id.clone(),
        issuer: "portcullis".into(),
        email: Some(user.email.clone()),
        display_name: user.display_name.clone(),
        groups,
        amr,
        attributes: Vec::new(),
        organization: Some(user.org_id.clone()),
    }
}

/// The principal of a request made with `key`: its owner, with the groups
/// the key is limited to, authenticated by API key.
pub fn api_key_principal(owner: &UserRecord, key: &ApiKeyRecord) -> Principal {
    let groups = match &key.scope {
        Some(scope) => owner
            .groups
            .iter()
            .filter(|g| scope.contains(g))
            .cloned()
            .collect(),
        None => owner.groups.clone(),
    };
    directory_principal(owner, groups, vec!["api_key".into()])
}

fn token_error(error: TokenError) -> IdentityError {
    match error {
        TokenError::Expired => IdentityError::CredentialExpired,
        other => {
            tracing::debug!(error = %other, "access token refused");
            IdentityError::InvalidCredentials
        }
    }
}

impl Identity {
    /// Authenticates what a request presented. `request` describes the
    /// request to plugins; it is only built when a plugin is asked.
    pub async fn resolve(
        &self,
        presented: Presented,
        request: impl FnOnce() -> RequestInfo,
    ) -> Result<Caller, IdentityError> {
        match presented {
            Presented::SessionCookie(value) => self.resolve_cookie(&value).await,
            Presented::Credential(Credential::Bearer(token))
                if token.starts_with(api_key::PREFIX) =>
            {
                self.resolve_api_key(&token).await
            }
            Presented::Credential(Credential::Bearer(token))
                if unverified_issuer(&token).as_deref() == Some(self.signer.issuer()) =>
            {
                self.resolve_access_token(&token).await
            }
            Presented::Credential(credential) => {
                self.resolve_with_providers(&credential, &request()).await
            }
        }
    }

    /// The cookie's secret is checked before anything else about the
    /// session: a session id alone learns nothing (not whether it expired)
    /// and changes nothing (not its last use).
    async fn resolve_cookie(&self, value: &str) -> Result<Caller, IdentityError> {
        let (id, secret) =
            super::sessions::split_cookie(value).ok_or(IdentityError::InvalidCredentials)?;
        let session = self.stored_session(id).await?;
        if !self
            .session_hasher
            .verify_parts(id, secret, &session.secret_hash)
        {
            return Err(IdentityError::InvalidCredentials);
        }
        let session = self.check_live(session).await?;
        self.caller_for_session(&session).await
    }

    async fn resolve_access_token(&self, token: &str) -> Result<Caller, IdentityError> {
        let claims = self.signer.verify(token, now()).map_err(token_error)?;
        let session = self.live_session(&claims.sid).await?;
        if session.principal.subject != claims.sub {
            return Err(IdentityError::InvalidCredentials);
        }
        self.caller_for_session(&session).await
    }

    /// The session `id` if it is live now: not revoked, not past its
    /// absolute or idle timeout. Records activity lazily. Only for callers
    /// that already proved the session (a verified access token).
    pub(super) async fn live_session(&self, id: &str) -> Result<Arc<SessionRecord>, IdentityError> {
        let session = self.stored_session(id).await?;
        self.check_live(session).await
    }

    /// The stored session `id`, live or not.
    async fn stored_session(&self, id: &str) -> Result<Arc<SessionRecord>, IdentityError> {
        self.sessions
            .get_or_load(id, self.store.session(id))
            .await?
            .ok_or(IdentityError::InvalidCredentials)
    }

    /// `session` if it is live now; records activity lazily.
    async fn check_live(
        &self,
        session: Arc<SessionRecord>,
    ) -> Result<Arc<SessionRecord>, IdentityError> {
        let now = now();
        if session.revoked_at.is_some() {
            return Err(IdentityError::InvalidCredentials);
        }
        let idle = i64::try_from(self.config.session_idle_timeout_secs).unwrap_or(i64::MAX);
        if now >= session.expires_at || now - session.last_seen_at > idle {
            return Err(IdentityError::CredentialExpired);
        }
        if now - session.last_seen_at >= TOUCH_INTERVAL_SECS {
            self.store.touch_session(&session.id, now).await?;
            let mut touched = (*session).clone();
            touched.last_seen_at = now;
            self.sessions.insert(&session.id, Arc::new(touched));
        }
        Ok(session)
    }

    async fn caller_for_session(&self, session: &SessionRecord) -> Result<Caller, IdentityError> {
        let p = &session.principal;
        let user = match &session.user_id {
            Some(id) => {
                let user = self
                    .cached_user(id)
                    .await?
                    .ok_or(IdentityError::InvalidCredentials)?;
                if user.disabled {
                    return Err(IdentityError::AccountDisabled);
                }
                Some(user)
            }
            None => None,
        };
        let groups = user
            .as_ref()
            .map_or_else(|| p.groups.clone(), |u| u.groups.clone());
        let mut pending = session.pending.clone();
        if user.as_ref().is_some_and(|u| u.password_must_change)
            && !pending.iter().any(|a| a == pending::CHANGE_PASSWORD)
        {
            pending.push(pending::CHANGE_PASSWORD.into());
        }
        Ok(Caller {
            principal: Arc::new(Principal {
                subject: p.subject.clone(),
                issuer: p.issuer.clone(),
                email: p.email.clone(),
                display_name: user.as_ref().and_then(|u| u.display_name.clone()),
                groups,
                amr: p.amr.clone(),
                attributes: Vec::new(),
                organization: user
                    .as_ref()
                    .map(|u| u.org_id.clone())
                    .or_else(|| session.org_id.clone()),
            }),
            user,
            session_id: Some(session.id.clone()),
            signed_in_at: Some(session.created_at),
            api_key_id: None,
            pending,
        })
    }

    /// Verifies an API key: checksum first (no lookup for a typo), then the
    /// keyed hash in constant time, then revocation and expiry.
    pub async fn resolve_api_key(&self, token: &str) -> Result<Caller, IdentityError> {
        let presented = api_key::parse(token).map_err(|error| {
            tracing::debug!(%error, "API key refused before lookup");
            IdentityError::InvalidCredentials
        })?;
        let lookup = async {
            self.metrics.api_key_lookup();
            self.store.api_key(presented.id).await
        };
        let record = self
            .api_keys
            .get_or_load(presented.id, lookup)
            .await?
            .ok_or(IdentityError::InvalidCredentials)?;
        if !self.api_key_hasher.verify(&presented, &record.secret_hash) {
            return Err(IdentityError::InvalidCredentials);
        }
        if record.revoked_at.is_some() {
            self.events.emit(crate::audit::Event::AuthFailed {
                method: "api_key".into(),
                provider: None,
                reason: "api_key_revoked".into(),
                org: Some(record.org_id.clone()),
            });
            return Err(IdentityError::ApiKeyRevoked);
        }
        let now = now();
        if now >= record.expires_at {
            // The secret matched: its holder, not a guesser, is using it.
            self.events
                .emit(crate::audit::Event::ApiKeyUsedAfterExpiry {
                    key_id: record.id.clone(),
                    org: Some(record.org_id.clone()),
                });
            return Err(IdentityError::ApiKeyExpired);
        }
        let owner = self
            .cached_user(&record.owner_id)
            .await?
            .ok_or(IdentityError::InvalidCredentials)?;
        if owner.disabled {
            // Only expiry and revocation get their own codes.
            return Err(IdentityError::InvalidCredentials);
        }
        if record
            .last_used_at
            .is_none_or(|t| now - t >= TOUCH_INTERVAL_SECS)
        {
            self.store.touch_api_key(&record.id, now).await?;
            let mut touched = (*record).clone();
            touched.last_used_at = Some(now);
            self.api_keys.insert(&record.id, Arc::new(touched));
        }
        let principal = self
            .api_key_principals
            .get_or_build(&record.id, &owner, &record, || {
                api_key_principal(&owner, &record)
            });
        Ok(Caller {
            principal,
            user: Some(owner),
            session_id: None,
            signed_in_at: None,
            api_key_id: Some(record.id.clone()),
            pending: Vec::new(),
        })
    }

    /// Asks the configured providers in turn; the first that recognises the
    /// credential decides. `unsupported-credential` passes the credential
    /// to the next provider; every other answer is final (so a provider
    /// that knows the credential and says `invalid-credentials` cannot be
    /// overruled by a later one). Every answer is logged at debug and
    /// counted by kind; the credential never is.
    async fn resolve_with_providers(
        &self,
        credential: &Credential,
        request: &RequestInfo,
    ) -> Result<Caller, IdentityError> {
        for provider in self.plugins.providers() {
            let answer = provider.verify_credential(credential, request).await;
            let kind = answer_kind(&answer);
            self.metrics.provider_answer(provider.name(), kind);
            tracing::debug!(plugin = provider.name(), answer = kind, request_id = %request.request_id, "auth provider answered");
            match answer {
                Ok(Err(GuestError::UnsupportedCredential)) => continue,
                // On a request, an unknown or malformed credential is just wrong.
                Ok(Err(GuestError::NotFound | GuestError::InvalidInput(_))) => {
                    return Err(IdentityError::InvalidCredentials);
                }
                answer => {
                    return from_guest(provider.name(), answer).map(Caller::outside_directory);
                }
            }
        }
        tracing::debug!(request_id = %request.request_id, "no auth provider recognised the credential");
        Err(IdentityError::InvalidCredentials)
    }
}

/// The kind of a provider's answer, for logs and metrics.
fn answer_kind(answer: &GuestResult<Principal>) -> &'static str {
    match answer {
        Ok(Ok(_)) => "authenticated",
        Ok(Err(GuestError::InvalidCredentials)) => "invalid_credentials",
        Ok(Err(GuestError::Expired)) => "expired",
        Ok(Err(GuestError::UnsupportedCredential)) => "unsupported",
        Ok(Err(GuestError::NotFound)) => "not_found",
        Ok(Err(GuestError::InvalidInput(_))) => "invalid_input",
        Ok(Err(GuestError::Throttled(_))) => "throttled",
        Ok(Err(_)) => "failed",
        Err(_) => "call_failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthConfig, IdentityConfig};
    use crate::metrics::Metrics;
    use crate::plugin::{PluginEngine, PluginRegistry};
    use crate::store::{SessionPrincipal, Store};
    use secrecy::SecretBox;

    async fn identity() -> Identity {
        let store = Store::open_in_memory().await.unwrap();
        let metrics = Metrics::new();
        let plugins = PluginRegistry::load(
            PluginEngine::new().unwrap(),
            &Default::default(),
            &AuthConfig::default(),
            store.clone(),
            metrics.clone(),
        )
        .await
        .unwrap();
        let config = IdentityConfig {
            session_idle_timeout_secs: 600,
            cache_ttl_ms: 0,
            ..IdentityConfig::default()
        };
        Identity::new(
            store,
            Arc::new(plugins),
            config,
            &SecretBox::new(Box::new([3; 32])),
            metrics,
            crate::audit::Events::discard(),
        )
        .await
        .unwrap()
    }

    /// Stores a session for an external subject; returns its cookie value.
    async fn session(identity: &Identity, id: &str, last_seen: i64, expires: i64) -> String {
        let secret = "s".repeat(43);
        let record = SessionRecord {
            id: id.to_string(),
            secret_hash: identity.session_hasher.hash(id, &secret),
            user_id: None,
            org_id: None,
            principal: SessionPrincipal {
                subject: "sso-user".into(),
                issuer: "sso".into(),
                email: None,
                amr: vec!["sso".into()],
                groups: vec!["ops".into()],
            },
            pending: Vec::new(),
            created_at: last_seen,
            last_seen_at: last_seen,
            expires_at: expires,
            revoked_at: None,
            client_ip: String::new(),
            user_agent: String::new(),
        };
        identity.store.insert_session(&record).await.unwrap();
        format!("{id}.{secret}")
    }

    fn request() -> RequestInfo {
        RequestInfo {
            method: "GET".into(),
            path: "/".into(),
            query: None,
            headers: Vec::new(),
            client_ip: String::new(),
            request_id: String::new(),
        }
    }

    async fn resolve(identity: &Identity, cookie: String) -> Result<Caller, IdentityError> {
        identity
            .resolve(Presented::SessionCookie(cookie), request)
            .await
    }

    #[tokio::test]
    async fn sessions_end_when_idle_expired_revoked_or_presented_with_a_wrong_secret() {
        let identity = identity().await;
        let now = now();
        let live = session(&identity, &"a".repeat(22), now, now + 3_600).await;
        let caller = resolve(&identity, live.clone()).await.unwrap();
        assert_eq!(caller.principal.groups, ["ops"]);
        assert_eq!(caller.principal.amr, ["sso"]);

        let idle = session(&identity, &"b".repeat(22), now - 601, now + 3_600).await;
        assert!(matches!(
            resolve(&identity, idle).await,
            Err(IdentityError::CredentialExpired)
        ));
        let ended = session(&identity, &"c".repeat(22), now - 10, now - 1).await;
        assert!(matches!(
            resolve(&identity, ended).await,
            Err(IdentityError::CredentialExpired)
        ));
        // A wrong secret learns nothing: an expired session answers
        // "invalid" like an unknown one, and its last use is not touched.
        let stale_id = "d".repeat(22);
        session(&identity, &stale_id, now - 601, now + 3_600).await;
        let guess = format!("{stale_id}.{}", "t".repeat(43));
        assert!(matches!(
            resolve(&identity, guess).await,
            Err(IdentityError::InvalidCredentials)
        ));
        let stored = identity.store.session(&stale_id).await.unwrap().unwrap();
        assert_eq!(stored.last_seen_at, now - 601);
        let unknown = format!("{}.{}", "e".repeat(22), "t".repeat(43));
        assert!(matches!(
            resolve(&identity, unknown).await,
            Err(IdentityError::InvalidCredentials)
        ));
        let live_guess_id = "f".repeat(22);
        session(&identity, &live_guess_id, now - 120, now + 3_600).await;
        let guess = format!("{live_guess_id}.{}", "t".repeat(43));
        assert!(resolve(&identity, guess).await.is_err());
        let stored = identity
            .store
            .session(&live_guess_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.last_seen_at,
            now - 120,
            "a guess must not refresh last use"
        );
        let wrong_secret = format!("{}.{}", "a".repeat(22), "t".repeat(43));
        assert!(matches!(
            resolve(&identity, wrong_secret).await,
            Err(IdentityError::InvalidCredentials)
        ));
        assert!(identity.revoke_session(&"a".repeat(22)).await.unwrap());
        assert!(matches!(
            resolve(&identity, live).await,
            Err(IdentityError::InvalidCredentials)
        ));
    }
}
