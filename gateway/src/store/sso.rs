//! Single sign-on records: each organization's identity providers (their
//! settings sealed, secrets included), the provider identities linked to
//! directory users, and the email domains an organization has verified.

use super::encryption::tables::{IDENTITY_PROVIDERS, ORG_DOMAINS, SSO_IDENTITIES, SSO_SESSIONS};
use super::{Store, StoreError, conflict_as};
use crate::audit::{Change, ChangeKind, RecordKind};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// What an identity provider's plugin is configured with.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderSettings {
    /// The plugin's configuration, shown to administrators.
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Settings that are secret (client secrets, private keys): merged into
    /// the configuration the plugin sees, never returned by the API.
    pub secrets: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("config", &self.config.keys().collect::<Vec<_>>())
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ProviderSettings {
    /// The configuration the plugin reads: `config` with `secrets` over it.
    pub fn plugin_config(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut merged = self.config.clone();
        for (key, value) in &self.secrets {
            merged.insert(key.clone(), value.clone());
        }
        merged
    }
}

/// An identity provider of an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityProviderRecord {
    /// Stable id (`idp_…`), in the provider's URLs.
    pub id: String,
    /// The organization whose users sign in through it.
    pub org_id: String,
    /// A name unique in the organization.
    pub name: String,
    /// The configured auth-provider plugin it is an instance of.
    pub plugin: String,
    /// Its configuration.
    pub settings: ProviderSettings,
    /// Increases with every change, so a running instance knows it is stale.
    pub revision: i64,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Last change (Unix seconds).
    pub updated_at: i64,
}

/// A provider identity linked to a directory user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoIdentityRecord {
    /// The identity provider.
    pub provider_id: String,
    /// The provider's stable id of the person.
    pub subject: String,
    /// The issuer that vouched for it.
    pub issuer: String,
    /// The directory user.
    pub user_id: String,
}

const PROVIDER_COLUMNS: &str =
    "id, org_id, name, plugin, settings, revision, created_at, updated_at";

impl Store {
    async fn provider_from_row(
        &self,
        row: &SqliteRow,
    ) -> Result<IdentityProviderRecord, StoreError> {
        let id: String = row.try_get("id")?;
        let org_id: String = row.try_get("org_id")?;
        let record = IDENTITY_PROVIDERS.record(&[&id], Some(&org_id));
        let opened = self
            .open(&record, "settings", row.try_get("settings")?)
            .await?;
        let settings = serde_json::from_slice(&opened).map_err(|_| record.integrity("settings"))?;
        Ok(IdentityProviderRecord {
            name: self
                .open_text(&record, "name", row.try_get("name")?)
                .await?,
            plugin: row.try_get("plugin")?,
            revision: row.try_get("revision")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            settings,
            id,
            org_id,
        })
    }

    /// The sealed name, its blind index and the sealed settings.
    fn seal_provider(
        &self,
        provider: &IdentityProviderRecord,
    ) -> Result<(String, String, String), StoreError> {
        let record = IDENTITY_PROVIDERS.record(&[&provider.id], Some(&provider.org_id));
        let json = serde_json::to_vec(&provider.settings)
            .map_err(|_| StoreError::Seal(super::SealError::Key))?;
        Ok((
            self.seal(&record, "name", provider.name.as_bytes())?,
            self.blind(
                &IDENTITY_PROVIDERS,
                "name_index",
                Some(&provider.org_id),
                &provider.name,
            )?,
            self.seal(&record, "settings", &json)?,
        ))
    }

    /// Creates an identity provider.
    pub async fn insert_identity_provider(
        &self,
        record: &IdentityProviderRecord,
    ) -> Result<(), StoreError> {
        let (name, name_index, settings) = self.seal_provider(record)?;
        let mut tx = self.change().await?;
        sqlx::query(&format!(
            "INSERT INTO identity_providers ({PROVIDER_COLUMNS}, name_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&record.id)
        .bind(&record.org_id)
        .bind(name)
        .bind(&record.plugin)
        .bind(settings)
        .bind(record.revision)
        .bind(record.created_at)
        .bind(record.updated_at)
        .bind(name_index)
        .execute(&mut *tx)
        .await
        .map_err(conflict_as("an identity provider with this name"))?;
        let created = Change::new(
            RecordKind::IdentityProvider,
            &record.id,
            Some(&record.org_id),
            ChangeKind::Created,
        )
        .value("plugin", record.plugin.clone())
        .value("name", record.name.clone());
        self.commit_recorded(tx, [created.into()]).await
    }

    /// Replaces an identity provider's name and settings; bumps its
    /// revision. `false` if it does not exist in `org_id`.
    pub async fn update_identity_provider(
        &self,
        record: &IdentityProviderRecord,
    ) -> Result<bool, StoreError> {
        let (name, name_index, settings) = self.seal_provider(record)?;
        let mut tx = self.change().await?;
        let done = sqlx::query(
            "UPDATE identity_providers SET name = ?, name_index = ?, settings = ?, revision = revision + 1, updated_at = ?
             WHERE id = ? AND org_id = ?",
        )
        .bind(name)
        .bind(name_index)
        .bind(settings)
        .bind(record.updated_at)
        .bind(&record.id)
        .bind(&record.org_id)
        .execute(&mut *tx)
        .await
        .map_err(conflict_as("an identity provider with this name"))?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let updated = Change::new(
            RecordKind::IdentityProvider,
            &record.id,
            Some(&record.org_id),
            ChangeKind::Updated,
        )
        .field("name", true)
        .field("settings", true);
        self.commit_recorded(tx, [updated.into()]).await?;
        Ok(true)
    }

    /// Deletes an identity provider and the identities linked through it.
    pub async fn delete_identity_provider(
        &self,
        id: &str,
        org_id: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.change().await?;
        let done = sqlx::query("DELETE FROM identity_providers WHERE id = ? AND org_id = ?")
            .bind(id)
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let deleted = Change::new(
            RecordKind::IdentityProvider,
            id,
            Some(org_id),
            ChangeKind::Deleted,
        );
        self.commit_recorded(tx, [deleted.into()]).await?;
        Ok(true)
    }

    /// An identity provider by id, whatever its organization.
    pub async fn identity_provider(
        &self,
        id: &str,
    ) -> Result<Option<IdentityProviderRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PROVIDER_COLUMNS} FROM identity_providers WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some(self.provider_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    /// The identity providers of an organization, oldest first.
    pub async fn identity_providers_of(
        &self,
        org_id: &str,
    ) -> Result<Vec<IdentityProviderRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PROVIDER_COLUMNS} FROM identity_providers WHERE org_id = ? ORDER BY created_at, id"
        ))
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(map_rows!(self, rows, provider_from_row))
    }

    /// Every identity provider of every organization, oldest first (for
    /// the gateway's own upkeep, never for a caller).
    pub async fn all_identity_providers(&self) -> Result<Vec<IdentityProviderRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PROVIDER_COLUMNS} FROM identity_providers ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(map_rows!(self, rows, provider_from_row))
    }

    /// Keeps `state` (sealed) with session `session_id`, signed in
    /// through provider `provider_id`; it goes when the session does.
    pub async fn insert_sso_session(
        &self,
        session_id: &str,
        provider_id: &str,
        state: &[u8],
    ) -> Result<(), StoreError> {
        let sealed = self.seal(&SSO_SESSIONS.record(&[session_id], None), "state", state)?;
        sqlx::query("INSERT INTO sso_sessions (session_id, provider_id, state) VALUES (?, ?, ?)")
            .bind(session_id)
            .bind(provider_id)
            .bind(sealed)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The provider and its state kept with session `session_id`.
    pub async fn sso_session(
        &self,
        session_id: &str,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let row = sqlx::query("SELECT provider_id, state FROM sso_sessions WHERE session_id = ?")
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let provider_id: String = row.try_get("provider_id")?;
        let record = SSO_SESSIONS.record(&[session_id], None);
        let state = self.open(&record, "state", row.try_get("state")?).await?;
        Ok(Some((provider_id, state)))
    }

    /// The user a provider identity is linked to.
    pub async fn sso_identity(
        &self,
        provider_id: &str,
        subject: &str,
    ) -> Result<Option<SsoIdentityRecord>, StoreError> {
        let index = self.blind(&SSO_IDENTITIES, "subject_index", Some(provider_id), subject)?;
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT issuer, user_id FROM sso_identities WHERE provider_id = ? AND subject_index = ?",
        )
        .bind(provider_id)
        .bind(&index)
        .fetch_optional(&self.pool)
        .await?;
        let Some((issuer, user_id)) = row else {
            return Ok(None);
        };
        let record = SSO_IDENTITIES.record(&[provider_id, &index], None);
        Ok(Some(SsoIdentityRecord {
            provider_id: provider_id.to_string(),
            subject: subject.to_string(),
            issuer: self.open_text(&record, "issuer", &issuer).await?,
            user_id,
        }))
    }

    /// Links a provider identity to a user; `false` if it is linked already.
    pub async fn link_sso_identity(
        &self,
        identity: &SsoIdentityRecord,
        org_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let index = self.blind(
            &SSO_IDENTITIES,
            "subject_index",
            Some(&identity.provider_id),
            &identity.subject,
        )?;
        let record = SSO_IDENTITIES.record(&[&identity.provider_id, &index], None);
        let mut tx = self.change().await?;
        let done = sqlx::query(
            "INSERT INTO sso_identities (provider_id, subject, subject_index, issuer, user_id, created_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&identity.provider_id)
        .bind(self.seal(&record, "subject", identity.subject.as_bytes())?)
        .bind(&index)
        .bind(self.seal(&record, "issuer", identity.issuer.as_bytes())?)
        .bind(&identity.user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let linked = Change::new(
            RecordKind::User,
            &identity.user_id,
            Some(org_id),
            ChangeKind::Updated,
        )
        .field("sso_identity", true)
        .value("identity_provider", identity.provider_id.clone());
        self.commit_recorded(tx, [linked.into()]).await?;
        Ok(true)
    }

    /// The domains `org_id` has verified, sorted.
    pub async fn org_domains(&self, org_id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT domain, domain_index FROM org_domains WHERE org_id = ?")
                .bind(org_id)
                .fetch_all(&self.pool)
                .await?;
        let mut domains = Vec::with_capacity(rows.len());
        for (sealed, index) in rows {
            let record = ORG_DOMAINS.record(&[&index], Some(org_id));
            domains.push(self.open_text(&record, "domain", &sealed).await?);
        }
        domains.sort_unstable();
        Ok(domains)
    }

    /// The organization that has verified `domain`.
    pub async fn org_of_domain(&self, domain: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT org_id FROM org_domains WHERE domain_index = ?")
                .bind(self.blind(&ORG_DOMAINS, "domain_index", None, domain)?)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Replaces the verified domains of `org_id`. A domain another
    /// organization verified is a conflict, and nothing changes.
    pub async fn set_org_domains(
        &self,
        org_id: &str,
        domains: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.change().await?;
        sqlx::query("DELETE FROM org_domains WHERE org_id = ?")
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        for domain in domains {
            let index = self.blind(&ORG_DOMAINS, "domain_index", None, domain)?;
            let record = ORG_DOMAINS.record(&[&index], Some(org_id));
            sqlx::query(
                "INSERT INTO org_domains (domain, domain_index, org_id, created_at) VALUES (?, ?, ?, ?)",
            )
            .bind(self.seal(&record, "domain", domain.as_bytes())?)
            .bind(&index)
            .bind(org_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(conflict_as(
                "a verification of this domain by another organization",
            ))?;
        }
        let changed = Change::new(RecordKind::Org, org_id, Some(org_id), ChangeKind::Updated)
            .field("verified_domains", true)
            .value("verified_domains", domains.join(" "));
        self.commit_recorded(tx, [changed.into()]).await
    }
}
