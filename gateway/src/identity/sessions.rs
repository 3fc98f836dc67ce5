//! Interactive login through an auth provider, and the sessions it ends in:
//! an opaque cookie (`<session id>.<secret>`, only a keyed hash stored) for
//! browsers and short-lived signed access tokens for API clients.

use super::access_token::Claims;
use super::{Caller, Identity, IdentityError, from_guest, now, pending};
use crate::plugin::{Attribute, Form, LoginInput, LoginStep, Principal, RequestInfo, StepResult};
use crate::store::{SessionPrincipal, SessionRecord, UserRecord};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// Separates the session id from its secret in the cookie.
pub const SESSION_TOKEN_SEPARATOR: char = '.';
const SESSION_ID_LEN: usize = 22;
const SESSION_SECRET_LEN: usize = 43;
const FLOW_ID_LEN: usize = 32;

/// Splits a cookie value into session id and secret, if well-formed.
pub fn split_cookie(value: &str) -> Option<(&str, &str)> {
    let (id, secret) = value.split_once(SESSION_TOKEN_SEPARATOR)?;
    let base62 = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (base62(id, SESSION_ID_LEN) && base62(secret, SESSION_SECRET_LEN)).then_some((id, secret))
}

/// A session just established.
pub struct NewSession {
    /// The cookie value (`<id>.<secret>`); hand it over once.
    pub cookie_value: SecretString,
    /// The session.
    pub session: Arc<SessionRecord>,
    /// An access token for it.
    pub access_token: String,
    /// Seconds the access token lives.
    pub access_token_expires_in: i64,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("session", &self.session.id)
            .finish_non_exhaustive()
    }
}

/// Where a login step leaves the client.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Show this form and post the answer to the flow (or, without a
    /// flow, as a new login).
    Prompt {
        /// The flow to continue, if the provider keeps state between steps.
        flow_id: Option<String>,
        /// The form.
        form: Form,
    },
    /// Send the browser here; it comes back to the flow.
    Redirect {
        /// The flow to continue.
        flow_id: String,
        /// Where to go.
        location: String,
    },
    /// Signed in.
    Authenticated(Box<NewSession>),
}

fn login_input(fields: &[(String, String)], request: &RequestInfo) -> LoginInput {
    LoginInput {
        request: request.clone(),
        fields: fields
            .iter()
            .map(|(name, value)| Attribute {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
    }
}

impl Identity {
    /// Starts a login with `provider` (default: the local accounts one).
    pub async fn begin_login(
        &self,
        provider: Option<&str>,
        fields: &[(String, String)],
        request: &RequestInfo,
        user_agent: &str,
    ) -> Result<LoginOutcome, IdentityError> {
        let name = provider
            .or(self.config.local_provider.as_deref())
            .ok_or_else(|| IdentityError::InvalidInput("name an identity `provider`".into()))?;
        let plugin = self
            .plugins
            .auth_provider(name)
            .ok_or(IdentityError::NotFound("identity provider"))?;
        let flow_id = self
            .session_hasher
            .random(FLOW_ID_LEN)
            .map_err(|_| IdentityError::Internal)?;
        let result = async {
            let step = from_guest(
                name,
                plugin.begin_login(&login_input(fields, request)).await,
            )?;
            self.after_step(name, &flow_id, true, step, request, user_agent)
                .await
        }
        .await;
        self.record_login(Some(name), &result);
        result
    }

    /// Records a finished sign-in or a refused step in the audit log.
    fn record_login(&self, provider: Option<&str>, result: &Result<LoginOutcome, IdentityError>) {
        match result {
            Ok(LoginOutcome::Authenticated(new)) => {
                let principal = &new.session.principal;
                self.events.emit(crate::audit::Event::AuthSucceeded {
                    method: principal.amr.join("+"),
                    provider: provider.unwrap_or(&principal.issuer).to_string(),
                    subject: principal.subject.clone(),
                    org: new.session.org_id.clone(),
                });
            }
            Ok(_) => {}
            Err(error) => self.events.emit(crate::audit::Event::AuthFailed {
                method: "login".into(),
                provider: provider.map(str::to_string),
                reason: error.audit_reason().into(),
                org: None,
            }),
        }
    }

    /// Continues login `flow_id`. A wrong answer keeps the flow open (the
    /// provider's throttling bounds retries); any other failure ends it.
    pub async fn continue_login(
        &self,
        flow_id: &str,
        fields: &[(String, String)],
        request: &RequestInfo,
        user_agent: &str,
    ) -> Result<LoginOutcome, IdentityError> {
        let flow = match self.flows.get(flow_id, now()).await {
            Ok(Some(flow)) => flow,
            Ok(None) => {
                let result = Err(IdentityError::NotFound("login flow"));
                self.record_login(None, &result);
                return result;
            }
            Err(error) => return Err(error),
        };
        let result = self
            .continue_flow(flow_id, &flow, fields, request, user_agent)
            .await;
        self.record_login(Some(&flow.provider), &result);
        result
    }

    async fn continue_flow(
        &self,
        flow_id: &str,
        flow: &super::login::LoginFlow,
        fields: &[(String, String)],
        request: &RequestInfo,
        user_agent: &str,
    ) -> Result<LoginOutcome, IdentityError> {
        let plugin = self
            .plugins
            .auth_provider(&flow.provider)
            .ok_or(IdentityError::ProviderUnavailable)?;
        let result = plugin
            .continue_login(&flow.state, &login_input(fields, request))
            .await;
        let step = match from_guest(&flow.provider, result) {
            Ok(step) => step,
            Err(
                error @ (IdentityError::InvalidCredentials
                | IdentityError::Throttled(_)
                | IdentityError::InvalidInput(_)),
            ) => return Err(error),
            Err(error) => {
                self.flows.finish(flow_id).await?;
                return Err(error);
            }
        };
        self.after_step(&flow.provider, flow_id, false, step, request, user_agent)
            .await
    }

    /// Keeps the flow for the next step, or ends it with a session.
    /// `new`: the step began the flow (nothing is stored for it yet).
    async fn after_step(
        &self,
        provider: &str,
        flow_id: &str,
        new: bool,
        step: StepResult,
        request: &RequestInfo,
        user_agent: &str,
    ) -> Result<LoginOutcome, IdentityError> {
        let keep = |state: Vec<u8>| async move {
            if new {
                self.flows.start(flow_id, provider, &state, now()).await
            } else {
                self.flows.update(flow_id, provider, &state, now()).await
            }
        };
        match step.step {
            LoginStep::Prompt(form) if step.state.is_empty() => {
                // Nothing to continue: the client answers with a new login.
                if !new {
                    self.flows.finish(flow_id).await?;
                }
                Ok(LoginOutcome::Prompt {
                    flow_id: None,
                    form,
                })
            }
            LoginStep::Prompt(form) => {
                keep(step.state).await?;
                Ok(LoginOutcome::Prompt {
                    flow_id: Some(flow_id.to_string()),
                    form,
                })
            }
            LoginStep::Redirect(location) => {
                keep(step.state).await?;
                Ok(LoginOutcome::Redirect {
                    flow_id: flow_id.to_string(),
                    location,
                })
            }
            LoginStep::Authenticated(principal) => {
                if !new {
                    self.flows.finish(flow_id).await?;
                }
                let session = self
                    .establish_session(provider, principal, None, &request.client_ip, user_agent)
                    .await?;
                Ok(LoginOutcome::Authenticated(Box::new(session)))
            }
        }
    }

    /// Creates a session for `principal`, vouched for by `provider`: for
    /// the local accounts provider, as the directory user it names; for a
    /// single sign-on provider, as `sso_user`, the user its identity is
    /// linked to (whose id becomes the session's subject).
    pub(super) async fn establish_session(
        &self,
        provider: &str,
        mut principal: Principal,
        sso_user: Option<Arc<UserRecord>>,
        client_ip: &str,
        user_agent: &str,
    ) -> Result<NewSession, IdentityError> {
        let local = self.config.local_provider.as_deref() == Some(provider);
        let sso = sso_user.is_some();
        let user: Option<Arc<UserRecord>> = if let Some(user) = sso_user {
            principal.subject = user.id.clone();
            Some(user)
        } else if local {
            // Fresh from the store: sign-in must see the latest state.
            let user = self
                .store
                .user(&principal.subject)
                .await?
                .ok_or(IdentityError::InvalidCredentials)?;
            if user.disabled {
                return Err(IdentityError::AccountDisabled);
            }
            let user = Arc::new(user);
            self.users.insert(&user.id, user.clone());
            Some(user)
        } else {
            None
        };
        let mut pending = Vec::new();
        if let Some(user) = &user {
            if user.password_must_change && !sso {
                pending.push(pending::CHANGE_PASSWORD.to_string());
            }
            // A second factor of a single sign-on login is the identity
            // provider's to ask for; it is not enrolled here.
            let org = self.cached_org(&user.org_id).await?;
            if !sso
                && org.is_some_and(|o| o.mfa_required)
                && !principal.amr.iter().any(|m| m == "mfa")
            {
                pending.push(pending::ENROLL_MFA.to_string());
            }
        }
        let id = self
            .session_hasher
            .random(SESSION_ID_LEN)
            .map_err(|_| IdentityError::Internal)?;
        let secret = SecretString::from(
            self.session_hasher
                .random(SESSION_SECRET_LEN)
                .map_err(|_| IdentityError::Internal)?,
        );
        let now = now();
        let record = SessionRecord {
            secret_hash: self.session_hasher.hash(&id, secret.expose_secret()),
            user_id: user.as_ref().map(|u| u.id.clone()),
            org_id: user.as_ref().map(|u| u.org_id.clone()),
            principal: SessionPrincipal {
                subject: principal.subject,
                issuer: principal.issuer,
                email: principal.email,
                amr: principal.amr,
                groups: principal.groups,
            },
            pending,
            created_at: now,
            last_seen_at: now,
            expires_at: now
                + i64::try_from(self.config.session_absolute_timeout_secs).unwrap_or(i64::MAX / 2),
            revoked_at: None,
            client_ip: client_ip.to_string(),
            user_agent: user_agent.chars().take(256).collect(),
            id,
        };
        self.store.insert_session(&record).await?;
        tracing::info!(session = %record.id, subject = %record.principal.subject, provider, amr = ?record.principal.amr, "signed in");
        let access_token = self.issue_access_token(&record)?;
        let cookie_value = SecretString::from(format!(
            "{}{SESSION_TOKEN_SEPARATOR}{}",
            record.id,
            secret.expose_secret()
        ));
        let session = Arc::new(record);
        self.sessions.insert(&session.id, session.clone());
        Ok(NewSession {
            cookie_value,
            session,
            access_token,
            access_token_expires_in: self.signer.token_ttl_secs(),
        })
    }

    /// Signs a new access token for `session`.
    pub fn issue_access_token(&self, session: &SessionRecord) -> Result<String, IdentityError> {
        let now = now();
        let claims = Claims {
            iss: self.signer.issuer().to_string(),
            aud: self.signer.audience().to_string(),
            sub: session.principal.subject.clone(),
            sid: session.id.clone(),
            amr: session.principal.amr.clone(),
            iat: now,
            exp: (now + self.signer.token_ttl_secs()).min(session.expires_at),
        };
        self.signer
            .issue(&claims)
            .map_err(|_| IdentityError::Internal)
    }

    /// A fresh access token for the caller's session.
    pub async fn refresh_access_token(&self, caller: &Caller) -> Result<String, IdentityError> {
        let id = caller
            .session_id
            .as_deref()
            .ok_or_else(|| IdentityError::Forbidden("only sessions get access tokens".into()))?;
        let session = self.live_session(id).await?;
        self.issue_access_token(&session)
    }

    /// Ends session `id`; effective on the very next request.
    pub async fn revoke_session(&self, id: &str) -> Result<bool, IdentityError> {
        let revoked = self.store.revoke_session(id, now()).await?;
        self.sessions.remove(id);
        if revoked {
            tracing::info!(session = %id, "session revoked");
        }
        Ok(revoked)
    }

    /// Ends every session of `user_id` except `keep`; how many ended.
    pub async fn revoke_sessions_of(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> Result<usize, IdentityError> {
        let ended = self.store.revoke_sessions_of(user_id, keep, now()).await?;
        for id in &ended {
            self.sessions.remove(id);
        }
        if !ended.is_empty() {
            tracing::info!(user = %user_id, sessions = ?ended, "sessions revoked");
        }
        Ok(ended.len())
    }

    /// Ends `user_id`'s live session `session_id`; not found unless it is
    /// theirs and live.
    pub async fn revoke_session_of(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<(), IdentityError> {
        let live = self
            .store
            .session(session_id)
            .await?
            .is_some_and(|s| s.user_id.as_deref() == Some(user_id) && self.is_live(&s, now()));
        if !live || !self.revoke_session(session_id).await? {
            return Err(IdentityError::NotFound("session"));
        }
        Ok(())
    }

    /// Whether `session` is neither revoked nor past a timeout at `now`.
    fn is_live(&self, session: &SessionRecord, now: i64) -> bool {
        let idle = i64::try_from(self.config.session_idle_timeout_secs).unwrap_or(i64::MAX);
        session.revoked_at.is_none()
            && now < session.expires_at
            && now - session.last_seen_at <= idle
    }

    /// A user's live sessions, newest first.
    pub async fn sessions_of(&self, user_id: &str) -> Result<Vec<SessionRecord>, IdentityError> {
        let now = now();
        Ok(self
            .store
            .live_sessions_of(user_id, now)
            .await?
            .into_iter()
            .filter(|s| self.is_live(s, now))
            .collect())
    }

    /// Records that the caller's session completed `action` (and, for MFA
    /// enrollment, that it proved a second factor).
    pub(super) async fn complete_pending(
        &self,
        caller: &Caller,
        action: &str,
    ) -> Result<(), IdentityError> {
        let Some(id) = caller.session_id.as_deref() else {
            return Ok(());
        };
        let session = self.live_session(id).await?;
        let pending: Vec<String> = session
            .pending
            .iter()
            .filter(|a| a.as_str() != action)
            .cloned()
            .collect();
        let mut principal = session.principal.clone();
        if action == pending::ENROLL_MFA {
            for method in ["otp", "mfa"] {
                if !principal.amr.iter().any(|m| m == method) {
                    principal.amr.push(method.into());
                }
            }
        }
        self.store
            .update_session_access(id, &pending, &principal)
            .await?;
        self.sessions.remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values_split_only_when_well_formed() {
        let id = "a".repeat(SESSION_ID_LEN);
        let secret = "b".repeat(SESSION_SECRET_LEN);
        assert_eq!(
            split_cookie(&format!("{id}.{secret}")),
            Some((id.as_str(), secret.as_str()))
        );
        assert_eq!(split_cookie(&format!("{id}{secret}")), None);
        assert_eq!(split_cookie(&format!("{id}.{secret}x")), None);
        assert_eq!(split_cookie(&format!("{id}.{}", "b!".repeat(21))), None);
        assert_eq!(split_cookie(""), None);
    }
}
