//! Issuing, listing and revoking API keys.

use super::directory::check_groups;
use super::{Identity, IdentityError, now};
use crate::store::ApiKeyRecord;
use secrecy::SecretString;

const SECONDS_PER_DAY: i64 = 86_400;

/// An API key to issue.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// A name to recognise it by.
    pub name: String,
    /// The user it acts as.
    pub owner_id: String,
    /// Groups it is limited to; must be a subset of the owner's.
    pub scope: Option<Vec<String>>,
    /// Expiry (Unix seconds); mandatory.
    pub expires_at: i64,
}

impl Identity {
    /// Issues a key in `org_id`; returns the record and the key, which is
    /// shown once and never stored.
    pub async fn create_api_key(
        &self,
        org_id: &str,
        created_by: &str,
        new: NewApiKey,
    ) -> Result<(ApiKeyRecord, SecretString), IdentityError> {
        let name = new.name.trim();
        if !(1..=100).contains(&name.chars().count()) || name.chars().any(char::is_control) {
            return Err(IdentityError::InvalidInput(
                "`name` must be 1–100 characters without control characters".into(),
            ));
        }
        let org = self.org(org_id).await?;
        let owner = self.user_in(org_id, &new.owner_id).await?;
        if owner.disabled {
            return Err(IdentityError::InvalidInput("the owner is disabled".into()));
        }
        let now = now();
        if new.expires_at <= now {
            return Err(IdentityError::InvalidInput(
                "the expiry must be in the future".into(),
            ));
        }
        let max = org
            .api_key_max_lifetime_days
            .saturating_mul(SECONDS_PER_DAY);
        if new.expires_at - now > max {
            return Err(IdentityError::InvalidInput(format!(
                "the expiry is beyond this organization's maximum API key lifetime of {} days",
                org.api_key_max_lifetime_days
            )));
        }
        if let Some(scope) = &new.scope {
            check_groups(scope)?;
            if let Some(outside) = scope.iter().find(|g| !owner.groups.contains(g)) {
                return Err(IdentityError::InvalidInput(format!(
                    "the scope can only narrow the owner's groups; the owner is not in `{outside}`"
                )));
            }
        }
        let issued = self
            .api_key_hasher
            .issue()
            .map_err(|_| IdentityError::Internal)?;
        let record = ApiKeyRecord {
            id: issued.id,
            org_id: org_id.to_string(),
            owner_id: owner.id,
            name: name.to_string(),
            scope: new.scope,
            secret_hash: issued.hash,
            created_at: now,
            created_by: created_by.to_string(),
            expires_at: new.expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        self.store.insert_api_key(&record).await?;
        tracing::info!(key = %record.id, owner = %record.owner_id, expires_at = record.expires_at, "API key created");
        Ok((record, issued.token))
    }

    /// Keys of `org_id`, optionally only those of `owner_id`.
    pub async fn list_api_keys(
        &self,
        org_id: &str,
        owner_id: Option<&str>,
    ) -> Result<Vec<ApiKeyRecord>, IdentityError> {
        Ok(self.store.list_api_keys(org_id, owner_id).await?)
    }

    /// Revokes key `id` of `org_id` (and of `owner_id`, when given); it is
    /// refused from the very next request.
    pub async fn revoke_api_key(
        &self,
        org_id: &str,
        id: &str,
        owner_id: Option<&str>,
    ) -> Result<(), IdentityError> {
        let key = self
            .store
            .api_key(id)
            .await?
            .filter(|k| k.org_id == org_id && owner_id.is_none_or(|o| o == k.owner_id))
            .ok_or(IdentityError::NotFound("API key"))?;
        self.store.revoke_api_key(&key.id, now()).await?;
        self.api_keys.remove(&key.id);
        tracing::info!(key = %key.id, "API key revoked");
        Ok(())
    }
}

impl Identity {
    /// Revokes every live API key of `owner_id`, from the next request on;
    /// how many. A password change or reset calls it: a key minted by
    /// whoever knew the old password must not outlive it. (Revoked, not
    /// suspended: nothing could later tell the owner's keys from an
    /// intruder's, so none may come back.)
    pub async fn revoke_api_keys_of(&self, owner_id: &str) -> Result<usize, IdentityError> {
        let revoked = self.store.revoke_api_keys_of(owner_id, now()).await?;
        for id in &revoked {
            self.api_keys.remove(id);
        }
        Ok(revoked.len())
    }
}
