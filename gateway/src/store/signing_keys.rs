//! The gateway's token-signing keys, sealed at rest.

use super::encryption::tables::SIGNING_KEYS;
use super::{Store, StoreError};
use crate::audit::{Change, ChangeKind, RecordKind};
use secrecy::SecretBox;

/// A stored signing key.
pub struct SigningKeyRecord {
    /// Key id, as in tokens' `kid`.
    pub kid: String,
    /// PKCS#8 private key.
    pub pkcs8: SecretBox<Vec<u8>>,
    /// Creation time (Unix seconds).
    pub created_at: i64,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Stores a new signing key, sealed.
    pub async fn insert_signing_key(
        &self,
        kid: &str,
        pkcs8: &[u8],
        created_at: i64,
    ) -> Result<(), StoreError> {
        let sealed = self.seal(&SIGNING_KEYS.record(&[kid], None), "private_key", pkcs8)?;
        let mut tx = self.change().await?;
        sqlx::query("INSERT INTO signing_keys (kid, private_key, created_at) VALUES (?, ?, ?)")
            .bind(kid)
            .bind(sealed)
            .bind(created_at)
            .execute(&mut *tx)
            .await?;
        let created = Change::new(RecordKind::SigningKey, kid, None, ChangeKind::Created);
        self.commit_recorded(tx, [created.into()]).await
    }

    /// Keys not retired, oldest first (keys made in the same second in the
    /// order they were made).
    pub async fn active_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT kid, private_key, created_at FROM signing_keys
             WHERE retired_at IS NULL ORDER BY created_at, rowid",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for (kid, sealed, created_at) in rows {
            let record = SIGNING_KEYS.record(&[&kid], None);
            let pkcs8 = self.open(&record, "private_key", &sealed).await?;
            keys.push(SigningKeyRecord {
                kid,
                pkcs8: SecretBox::new(Box::new(pkcs8)),
                created_at,
            });
        }
        Ok(keys)
    }

    /// Retires a key at `now`: it no longer verifies.
    pub async fn retire_signing_key(&self, kid: &str, now: i64) -> Result<(), StoreError> {
        let mut tx = self.change().await?;
        sqlx::query("UPDATE signing_keys SET retired_at = ? WHERE kid = ?")
            .bind(now)
            .bind(kid)
            .execute(&mut *tx)
            .await?;
        let retired = Change::new(RecordKind::SigningKey, kid, None, ChangeKind::Deleted);
        self.commit_recorded(tx, [retired.into()]).await
    }
}
