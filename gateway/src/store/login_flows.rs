//! Logins in progress, shared by every gateway on the store: the plugin's
//! state between steps, sealed and keyed by a hash of the flow id.

use super::encryption::tables::LOGIN_FLOWS;
use super::{Store, StoreError};

/// A stored login flow.
pub struct LoginFlowRecord {
    /// The auth provider handling it.
    pub provider: String,
    /// The provider's opaque state (opened).
    pub state: Vec<u8>,
    /// When the flow started (Unix seconds).
    pub started_at: i64,
}

impl std::fmt::Debug for LoginFlowRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginFlowRecord")
            .field("provider", &self.provider)
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Records a step of flow `id_hash`; a new flow starts at `now`, an
    /// existing one keeps its start.
    pub async fn save_login_flow(
        &self,
        id_hash: &str,
        provider: &str,
        state: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        let sealed = self.seal(&LOGIN_FLOWS.record(&[id_hash], None), "state", state)?;
        sqlx::query(
            "INSERT INTO login_flows (id_hash, provider, state, started_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (id_hash) DO UPDATE SET provider = excluded.provider, state = excluded.state",
        )
        .bind(id_hash)
        .bind(provider)
        .bind(sealed)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Flow `id_hash`, if stored.
    pub async fn login_flow(&self, id_hash: &str) -> Result<Option<LoginFlowRecord>, StoreError> {
        let row: Option<(String, String, i64)> =
            sqlx::query_as("SELECT provider, state, started_at FROM login_flows WHERE id_hash = ?")
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await?;
        let Some((provider, sealed, started_at)) = row else {
            return Ok(None);
        };
        let record = LOGIN_FLOWS.record(&[id_hash], None);
        Ok(Some(LoginFlowRecord {
            provider,
            state: self.open(&record, "state", &sealed).await?,
            started_at,
        }))
    }

    /// Ends flow `id_hash`.
    pub async fn delete_login_flow(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_flows WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many flows are stored.
    pub async fn count_login_flows(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM login_flows")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Deletes flows started before `cutoff`; how many.
    pub async fn purge_login_flows(&self, cutoff: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM login_flows WHERE started_at < ?")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
