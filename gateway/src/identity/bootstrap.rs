//! First start: the default organization and an administrator whose
//! one-time password is shown once and must be changed at first sign-in.

use super::{Identity, IdentityError, NewUser, now};
use crate::store::{OrgRecord, UserChanges};
use secrecy::SecretString;

/// Id of the organization every embedded gateway starts with.
pub const DEFAULT_ORG_ID: &str = "org_default";
/// Group the bootstrap administrator is put in.
pub const ADMIN_GROUP: &str = "admins";

/// The administrator created on first start.
#[derive(Debug)]
pub struct BootstrapAdmin {
    /// Their user id.
    pub user_id: String,
    /// Their organization.
    pub org_id: String,
    /// Their email.
    pub email: String,
    /// The one-time password.
    pub password: SecretString,
}

impl Identity {
    /// Makes sure the default organization exists and, when there are no
    /// users at all and local accounts are enabled, creates the bootstrap
    /// administrator. Returns it only when it was just created.
    pub async fn bootstrap(&self) -> Result<Option<BootstrapAdmin>, IdentityError> {
        self.ensure_default_org().await?;
        if self.config.local_provider.is_none() || self.store.count_users().await? > 0 {
            return Ok(None);
        }
        self.create_bootstrap_admin().await.map(Some)
    }

    /// Creates the default organization if it does not exist.
    pub async fn ensure_default_org(&self) -> Result<(), IdentityError> {
        self.store
            .insert_org(&OrgRecord {
                id: DEFAULT_ORG_ID.into(),
                name: "default".into(),
                mfa_required: false,
                api_key_max_lifetime_days: 90,
                created_at: now(),
            })
            .await?;
        Ok(())
    }

    async fn create_bootstrap_admin(&self) -> Result<BootstrapAdmin, IdentityError> {
        let email = self.config.bootstrap_admin_email.clone();
        let (user, password) = self
            .create_user(
                DEFAULT_ORG_ID,
                NewUser {
                    email: email.clone(),
                    display_name: Some("Administrator".into()),
                    groups: vec![ADMIN_GROUP.into()],
                    password: None,
                    password_temporary: false,
                },
            )
            .await?;
        let operator = UserChanges {
            platform_operator: Some(true),
            ..UserChanges::default()
        };
        self.store.update_user(&user.id, &operator).await?;
        tracing::warn!(user = %user.id, %email, "created the bootstrap administrator (a platform operator); its one-time password is printed once on standard output");
        let password = password.ok_or(IdentityError::Internal)?;
        Ok(BootstrapAdmin {
            user_id: user.id.clone(),
            org_id: DEFAULT_ORG_ID.into(),
            email,
            password,
        })
    }
}
