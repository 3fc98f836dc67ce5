//! Organizations and users, with their credentials kept in step in the
//! local accounts provider.

use super::{Identity, IdentityError, from_guest, now};
use crate::store::{OrgChanges, OrgRecord, UserChanges, UserRecord};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// Characters in a generated one-time password (base62: ~119 bits).
const ONE_TIME_PASSWORD_LEN: usize = 20;
/// Characters in generated ids after their prefix.
const ID_LEN: usize = 16;
/// Longest API key lifetime an organization may allow, in days.
pub const MAX_API_KEY_LIFETIME_DAYS: i64 = 3_650;

/// A user to create.
#[derive(Debug)]
pub struct NewUser {
    /// Email (the login name).
    pub email: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// Initial password; without one a one-time password is generated and
    /// must be changed at first sign-in.
    pub password: Option<SecretString>,
    /// Whether a given password must be changed at first sign-in (a
    /// generated one always must).
    pub password_temporary: bool,
}

fn check_email(email: &str) -> Result<(), IdentityError> {
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(IdentityError::InvalidInput(
            "`email` must be an address like name@example.com".into(),
        ))
    }
}

/// Checks group names: 1–64 characters of letters, digits, `-`, `_`, `.`, `:`.
pub fn check_groups(groups: &[String]) -> Result<(), IdentityError> {
    for group in groups {
        let valid = (1..=64).contains(&group.len())
            && group
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if !valid {
            return Err(IdentityError::InvalidInput(format!(
                "group `{}` must be 1–64 letters, digits, `-`, `_`, `.` or `:`",
                group.chars().take(64).collect::<String>()
            )));
        }
    }
    Ok(())
}

fn check_name(field: &str, name: &str) -> Result<(), IdentityError> {
    if (1..=100).contains(&name.chars().count()) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(IdentityError::InvalidInput(format!(
            "`{field}` must be 1–100 characters without control characters"
        )))
    }
}

impl Identity {
    /// A new random id with `prefix`.
    pub(super) fn new_id(&self, prefix: &str) -> Result<String, IdentityError> {
        Ok(format!(
            "{prefix}{}",
            self.session_hasher
                .random(ID_LEN)
                .map_err(|_| IdentityError::Internal)?
        ))
    }

    fn one_time_password(&self) -> Result<SecretString, IdentityError> {
        Ok(SecretString::from(
            self.session_hasher
                .random(ONE_TIME_PASSWORD_LEN)
                .map_err(|_| IdentityError::Internal)?,
        ))
    }

    /// Every organization.
    pub async fn list_orgs(&self) -> Result<Vec<OrgRecord>, IdentityError> {
        Ok(self.store.list_orgs().await?)
    }

    /// One organization.
    pub async fn org(&self, id: &str) -> Result<OrgRecord, IdentityError> {
        self.store
            .org(id)
            .await?
            .ok_or(IdentityError::NotFound("organization"))
    }

    /// Creates an organization with default settings.
    pub async fn create_org(&self, name: &str) -> Result<OrgRecord, IdentityError> {
        check_name("name", name)?;
        let org = OrgRecord {
            id: self.new_id("org_")?,
            name: name.to_string(),
            mfa_required: false,
            api_key_max_lifetime_days: 90,
            created_at: now(),
        };
        if !self.store.insert_org(&org).await? {
            return Err(IdentityError::Conflict(
                "an organization with this name exists".into(),
            ));
        }
        Ok(org)
    }

    /// Removes an organization that has no users yet (undoing a creation
    /// whose next step failed); whether it was removed.
    pub async fn delete_org(&self, id: &str) -> Result<bool, IdentityError> {
        let removed = self.store.delete_empty_org(id).await?;
        self.orgs.remove(id);
        Ok(removed)
    }

    /// Changes an organization's settings.
    pub async fn update_org(
        &self,
        id: &str,
        changes: &OrgChanges,
    ) -> Result<OrgRecord, IdentityError> {
        if let Some(name) = &changes.name {
            check_name("name", name)?;
        }
        if let Some(days) = changes.api_key_max_lifetime_days
            && !(1..=MAX_API_KEY_LIFETIME_DAYS).contains(&days)
        {
            return Err(IdentityError::InvalidInput(format!(
                "`api_key_max_lifetime_days` must be from 1 to {MAX_API_KEY_LIFETIME_DAYS}"
            )));
        }
        let org = self
            .store
            .update_org(id, changes)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Query(sqlx::Error::Database(db))
                    if db.is_unique_violation() =>
                {
                    IdentityError::Conflict("an organization with this name exists".into())
                }
                other => other.into(),
            })?
            .ok_or(IdentityError::NotFound("organization"))?;
        self.orgs.remove(id);
        tracing::info!(org = %id, mfa_required = org.mfa_required, api_key_max_lifetime_days = org.api_key_max_lifetime_days, "organization settings changed");
        Ok(org)
    }

    /// Creates a user in `org_id` with credentials in the local provider.
    /// Returns the one-time password when none was given.
    pub async fn create_user(
        &self,
        org_id: &str,
        new: NewUser,
    ) -> Result<(UserRecord, Option<SecretString>), IdentityError> {
        let email = new.email.clone();
        check_email(&email)?;
        check_groups(&new.groups)?;
        if let Some(name) = &new.display_name {
            check_name("display_name", name)?;
        }
        self.org(org_id).await?;
        let provider = self.local_provider()?;
        let (password, one_time) = match new.password {
            Some(password) => (password, None),
            None => {
                let password = self.one_time_password()?;
                (password.clone(), Some(password))
            }
        };
        let user = UserRecord {
            id: self.new_id("usr_")?,
            org_id: org_id.to_string(),
            email: email.clone(),
            display_name: new.display_name,
            groups: new.groups,
            disabled: false,
            password_must_change: one_time.is_some() || new.password_temporary,
            platform_operator: false,
            created_at: now(),
        };
        if !self.store.insert_user(&user).await? {
            return Err(IdentityError::Conflict(
                "a user with this email exists".into(),
            ));
        }
        let created = provider
            .create_account(&user.id, &email, password.expose_secret())
            .await;
        if let Err(error) = from_guest(provider.name(), created) {
            // Leave no user without credentials behind.
            self.store.delete_user(&user.id).await?;
            return Err(error);
        }
        tracing::info!(user = %user.id, org = %org_id, "user created");
        Ok((user, one_time))
    }

    /// The users of an organization.
    pub async fn list_users(&self, org_id: &str) -> Result<Vec<UserRecord>, IdentityError> {
        Ok(self.store.list_users(org_id).await?)
    }

    /// A user of `org_id` (users of other organizations are not found).
    pub async fn user_in(&self, org_id: &str, id: &str) -> Result<UserRecord, IdentityError> {
        self.store
            .user(id)
            .await?
            .filter(|u| u.org_id == org_id)
            .ok_or(IdentityError::NotFound("user"))
    }

    /// A user by email, in any organization (for the operator CLI).
    pub async fn user_by_email(&self, email: &str) -> Result<UserRecord, IdentityError> {
        self.store
            .user_by_email(email)
            .await?
            .ok_or(IdentityError::NotFound("user"))
    }

    /// Changes a user of `org_id`. Disabling ends their sessions at once.
    pub async fn update_user(
        &self,
        org_id: &str,
        id: &str,
        changes: &UserChanges,
    ) -> Result<UserRecord, IdentityError> {
        let current = self.user_in(org_id, id).await?;
        let mut changes = changes.clone();
        if let Some(groups) = &mut changes.groups {
            check_groups(groups)?;
            // Groups an identity provider asserted (`{provider}/{group}`)
            // are its to change, at the user's next sign-in.
            groups.extend(current.groups.iter().filter(|g| g.contains('/')).cloned());
        }
        if let Some(Some(name)) = &changes.display_name {
            check_name("display_name", name)?;
        }
        let changes = &changes;
        let user = self
            .store
            .update_user(id, changes)
            .await?
            .ok_or(IdentityError::NotFound("user"))?;
        self.users.insert(id, Arc::new(user.clone()));
        if changes.disabled == Some(true) {
            let ended = self.revoke_sessions_of(id, None).await?;
            tracing::info!(user = %id, sessions_ended = ended, "user disabled");
        }
        Ok(user)
    }

    /// Deletes a user of `org_id`, their credentials, sessions and API keys.
    pub async fn delete_user(&self, org_id: &str, id: &str) -> Result<(), IdentityError> {
        self.user_in(org_id, id).await?;
        self.revoke_sessions_of(id, None).await?;
        for key in self.store.list_api_keys(org_id, Some(id)).await? {
            self.api_keys.remove(&key.id);
        }
        if let Ok(provider) = self.local_provider() {
            match from_guest(provider.name(), provider.delete_account(id).await) {
                Ok(()) | Err(IdentityError::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        self.store.delete_user(id).await?;
        self.users.remove(id);
        tracing::info!(user = %id, "user deleted");
        Ok(())
    }

    /// Sets a new one-time password for a user of `org_id`, to be changed at
    /// next sign-in, and ends their sessions. Returns the password.
    pub async fn reset_password(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<SecretString, IdentityError> {
        self.user_in(org_id, id).await?;
        let provider = self.local_provider()?;
        let password = self.one_time_password()?;
        from_guest(
            provider.name(),
            provider.set_password(id, password.expose_secret()).await,
        )?;
        self.update_user(
            org_id,
            id,
            &UserChanges {
                password_must_change: Some(true),
                ..UserChanges::default()
            },
        )
        .await?;
        self.revoke_sessions_of(id, None).await?;
        let keys_revoked = self.revoke_api_keys_of(id).await?;
        tracing::info!(user = %id, keys_revoked, "password reset by an administrator");
        self.events.emit(crate::audit::Event::CredentialChanged {
            user_id: id.to_string(),
            credential: "one_time_password".into(),
            org: Some(org_id.to_string()),
        });
        Ok(password)
    }
}
