//! API keys: one row per key, holding only a keyed hash of its secret.

use super::encryption::tables::API_KEYS;
use super::{Store, StoreError};
use crate::audit::{Change, ChangeKind, RecordKind};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// One API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public key id (the part after `pcs_`).
    pub id: String,
    /// Organization.
    pub org_id: String,
    /// The user the key acts as.
    pub owner_id: String,
    /// Name given at creation.
    pub name: String,
    /// Groups the key is limited to (a subset of the owner's); `None` = the owner's.
    pub scope: Option<Vec<String>>,
    /// HMAC-SHA-256 of the secret.
    pub secret_hash: [u8; 32],
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Who created it (user id).
    pub created_by: String,
    /// Expiry (Unix seconds); mandatory.
    pub expires_at: i64,
    /// Last successful use (Unix seconds), written back lazily.
    pub last_used_at: Option<i64>,
    /// Revocation time.
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, org_id, owner_id, name, scope, secret_hash, created_at, created_by, expires_at, last_used_at, revoked_at";

impl Store {
    async fn api_key_from_row(&self, row: &SqliteRow) -> Result<ApiKeyRecord, StoreError> {
        let id: String = row.try_get("id")?;
        let org_id: String = row.try_get("org_id")?;
        let record = API_KEYS.record(&[&id], Some(&org_id));
        let hash: Vec<u8> = row.try_get("secret_hash")?;
        let scope = self
            .open_opt(&record, "scope", row.try_get("scope")?)
            .await?;
        Ok(ApiKeyRecord {
            owner_id: row.try_get("owner_id")?,
            name: self
                .open_text(&record, "name", row.try_get("name")?)
                .await?,
            scope: scope
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(|_| record.integrity("scope"))?,
            secret_hash: hash
                .try_into()
                .map_err(|_| sqlx::Error::Decode("API key hash is not 32 bytes".into()))?,
            created_at: row.try_get("created_at")?,
            created_by: row.try_get("created_by")?,
            expires_at: row.try_get("expires_at")?,
            last_used_at: row.try_get("last_used_at")?,
            revoked_at: row.try_get("revoked_at")?,
            id,
            org_id,
        })
    }
}

impl Store {
    /// Records a new key.
    pub async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let record = API_KEYS.record(&[&key.id], Some(&key.org_id));
        let scope = key
            .scope
            .as_ref()
            .map(|s| serde_json::to_string(s).unwrap_or_else(|_| "[]".into()));
        let mut tx = self.change().await?;
        sqlx::query(&format!(
            "INSERT INTO api_keys ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&key.id)
        .bind(&key.org_id)
        .bind(&key.owner_id)
        .bind(self.seal(&record, "name", key.name.as_bytes())?)
        .bind(self.seal_opt(&record, "scope", scope.as_deref())?)
        .bind(&key.secret_hash[..])
        .bind(key.created_at)
        .bind(&key.created_by)
        .bind(key.expires_at)
        .bind(key.last_used_at)
        .bind(key.revoked_at)
        .execute(&mut *tx)
        .await?;
        let created = Change::new(
            RecordKind::ApiKey,
            &key.id,
            Some(&key.org_id),
            ChangeKind::Created,
        )
        .value("owner_id", &key.owner_id)
        .value("expires_at", key.expires_at.to_string())
        .field("scope", key.scope.is_some());
        self.commit_recorded(tx, [created.into()]).await
    }

    /// A key by id.
    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(self.api_key_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    /// Keys of an organization, optionally of one owner, newest first.
    pub async fn list_api_keys(
        &self,
        org_id: &str,
        owner_id: Option<&str>,
    ) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE org_id = ? AND (? IS NULL OR owner_id = ?)
             ORDER BY created_at DESC, id"
        ))
        .bind(org_id)
        .bind(owner_id)
        .bind(owner_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(map_rows!(self, rows, api_key_from_row))
    }

    /// Revokes a key at `now`; whether a live key was revoked.
    pub async fn revoke_api_key(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.change().await?;
        let org: Option<String> = sqlx::query_scalar(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING org_id",
        )
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(org) = org else { return Ok(false) };
        let revoked = Change::new(RecordKind::ApiKey, id, Some(&org), ChangeKind::Deleted);
        self.commit_recorded(tx, [revoked.into()]).await?;
        Ok(true)
    }

    /// Revokes every live key owned by `owner_id` at `now`; their ids.
    pub async fn revoke_api_keys_of(
        &self,
        owner_id: &str,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.change().await?;
        let revoked: Vec<(String, String)> = sqlx::query_as(
            "UPDATE api_keys SET revoked_at = ? WHERE owner_id = ? AND revoked_at IS NULL RETURNING id, org_id",
        )
        .bind(now)
        .bind(owner_id)
        .fetch_all(&mut *tx)
        .await?;
        let events = revoked.iter().map(|(id, org)| {
            Change::new(RecordKind::ApiKey, id, Some(org), ChangeKind::Deleted).into()
        });
        self.commit_recorded(tx, events.collect::<Vec<_>>()).await?;
        Ok(revoked.into_iter().map(|(id, _)| id).collect())
    }

    /// Records a key's last use.
    pub async fn touch_api_key(&self, id: &str, used_at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?",
        )
        .bind(used_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
