//! The caller's own credentials: password change, TOTP enrollment,
//! recovery codes, and an administrator's MFA reset.

use super::{Caller, Identity, IdentityError, from_guest, pending};
use crate::audit::Event;
use crate::plugin::{MfaStatus, TotpEnrollment};
use crate::store::UserChanges;
use secrecy::{ExposeSecret, SecretString};

impl Identity {
    /// Changes the caller's password after checking the current one. Ends
    /// the caller's other sessions and lifts a required password change.
    pub async fn change_own_password(
        &self,
        caller: &Caller,
        current: &SecretString,
        new: &SecretString,
        client_ip: &str,
    ) -> Result<(), IdentityError> {
        let user = caller.require_user()?.clone();
        if caller.is_api_key() {
            return Err(IdentityError::Forbidden(
                "API keys cannot change passwords; sign in".into(),
            ));
        }
        let provider = self.local_provider()?;
        from_guest(
            provider.name(),
            provider
                .change_password(
                    &user.id,
                    current.expose_secret(),
                    new.expose_secret(),
                    client_ip,
                )
                .await,
        )?;
        if user.password_must_change {
            self.update_user(
                &user.org_id,
                &user.id,
                &UserChanges {
                    password_must_change: Some(false),
                    ..UserChanges::default()
                },
            )
            .await?;
        }
        self.complete_pending(caller, pending::CHANGE_PASSWORD)
            .await?;
        let ended = self
            .revoke_sessions_of(&user.id, caller.session_id.as_deref())
            .await?;
        let keys_revoked = self.revoke_api_keys_of(&user.id).await?;
        tracing::info!(user = %user.id, other_sessions_ended = ended, keys_revoked, "password changed");
        self.events.emit(Event::CredentialChanged {
            user_id: user.id.clone(),
            credential: "password".into(),
            org: Some(user.org_id.clone()),
        });
        Ok(())
    }

    fn require_session_user(&self, caller: &Caller) -> Result<String, IdentityError> {
        let user = caller.require_user()?;
        if caller.is_api_key() {
            return Err(IdentityError::Forbidden(
                "API keys cannot manage second factors; sign in".into(),
            ));
        }
        Ok(user.id.clone())
    }

    /// The caller's second factors.
    pub async fn mfa_status(&self, user_id: &str) -> Result<MfaStatus, IdentityError> {
        let provider = self.local_provider()?;
        from_guest(provider.name(), provider.mfa_status(user_id).await)
    }

    /// Whether `user_id` has a second factor enrolled.
    pub async fn has_second_factor(&self, user_id: &str) -> Result<bool, IdentityError> {
        Ok(self.mfa_status(user_id).await?.totp)
    }

    /// Starts TOTP enrollment for the caller.
    pub async fn begin_totp_enrollment(
        &self,
        caller: &Caller,
    ) -> Result<TotpEnrollment, IdentityError> {
        let user_id = self.require_session_user(caller)?;
        let provider = self.local_provider()?;
        from_guest(
            provider.name(),
            provider.begin_totp_enrollment(&user_id).await,
        )
    }

    /// Confirms the caller's TOTP enrollment with a first code; returns the
    /// recovery codes. The session now counts as multi-factor.
    pub async fn confirm_totp_enrollment(
        &self,
        caller: &Caller,
        code: &str,
    ) -> Result<Vec<String>, IdentityError> {
        let user_id = self.require_session_user(caller)?;
        let provider = self.local_provider()?;
        let codes = from_guest(
            provider.name(),
            provider.confirm_totp_enrollment(&user_id, code).await,
        )?;
        self.complete_pending(caller, pending::ENROLL_MFA).await?;
        tracing::info!(user = %user_id, "TOTP enrolled");
        self.events.emit(Event::MfaEnrolled {
            user_id: user_id.clone(),
            method: "totp".into(),
            org: caller.org_id().map(str::to_string),
        });
        Ok(codes)
    }

    /// Replaces the caller's recovery codes.
    pub async fn regenerate_recovery_codes(
        &self,
        caller: &Caller,
    ) -> Result<Vec<String>, IdentityError> {
        let user_id = self.require_session_user(caller)?;
        // A state the request cannot fix by itself being different: 409.
        if !self.has_second_factor(&user_id).await? {
            return Err(IdentityError::Conflict(
                "enroll an authenticator before creating recovery codes".into(),
            ));
        }
        let provider = self.local_provider()?;
        let codes = from_guest(
            provider.name(),
            provider.regenerate_recovery_codes(&user_id).await,
        )?;
        tracing::info!(user = %user_id, "recovery codes regenerated");
        self.events.emit(Event::CredentialChanged {
            user_id: user_id.clone(),
            credential: "recovery_codes".into(),
            org: caller.org_id().map(str::to_string),
        });
        Ok(codes)
    }

    /// Removes every second factor of a user of `org_id` (lost device).
    pub async fn reset_mfa(&self, org_id: &str, user_id: &str) -> Result<(), IdentityError> {
        self.user_in(org_id, user_id).await?;
        let provider = self.local_provider()?;
        from_guest(provider.name(), provider.reset_mfa(user_id).await)?;
        tracing::info!(user = %user_id, "MFA reset by an administrator");
        self.events.emit(Event::MfaReset {
            user_id: user_id.to_string(),
            org: Some(org_id.to_string()),
        });
        Ok(())
    }
}
