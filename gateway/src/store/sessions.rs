//! Sessions: one row per sign-in, holding only a keyed hash of the
//! session secret.

use super::encryption::tables::SESSIONS;
use super::{Store, StoreError};
use crate::audit::{Change, ChangeKind, RecordKind};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// Who a session belongs to and how they signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPrincipal {
    /// Subject within the issuer (the user id for local users).
    pub subject: String,
    /// The auth provider that vouched for the subject.
    pub issuer: String,
    /// Email, if known.
    pub email: Option<String>,
    /// Authentication methods (RFC 8176).
    pub amr: Vec<String>,
    /// Groups the provider asserted (directory users take theirs from the
    /// directory instead).
    #[serde(default)]
    pub groups: Vec<String>,
}

/// One session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Public id (in tokens' `sid` and in the cookie before the secret).
    pub id: String,
    /// HMAC-SHA-256 of the secret half of the cookie.
    pub secret_hash: [u8; 32],
    /// The directory user, if the subject is one.
    pub user_id: Option<String>,
    /// The user's organization.
    pub org_id: Option<String>,
    /// Who and how.
    pub principal: SessionPrincipal,
    /// Actions required before full access (`change_password`, `enroll_mfa`).
    pub pending: Vec<String>,
    /// Sign-in time (Unix seconds).
    pub created_at: i64,
    /// Last request seen (Unix seconds); written back lazily.
    pub last_seen_at: i64,
    /// Absolute end (Unix seconds).
    pub expires_at: i64,
    /// When it was revoked (logout or administrator).
    pub revoked_at: Option<i64>,
    /// Client address at sign-in.
    pub client_ip: String,
    /// Client `User-Agent` at sign-in.
    pub user_agent: String,
}

const COLUMNS: &str = "id, secret_hash, user_id, org_id, principal, pending, created_at, last_seen_at, expires_at, revoked_at, client_ip, user_agent";

fn decode_error(e: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

impl Store {
    async fn session_from_row(&self, row: &SqliteRow) -> Result<SessionRecord, StoreError> {
        let id: String = row.try_get("id")?;
        let org_id: Option<String> = row.try_get("org_id")?;
        let record = SESSIONS.record(&[&id], org_id.as_deref());
        let hash: Vec<u8> = row.try_get("secret_hash")?;
        let principal = self
            .open(&record, "principal", row.try_get("principal")?)
            .await?;
        let pending: String = row.try_get("pending")?;
        Ok(SessionRecord {
            secret_hash: hash
                .try_into()
                .map_err(|_| sqlx::Error::Decode("session hash is not 32 bytes".into()))?,
            user_id: row.try_get("user_id")?,
            principal: serde_json::from_slice(&principal)
                .map_err(|_| record.integrity("principal"))?,
            pending: serde_json::from_str(&pending).map_err(decode_error)?,
            created_at: row.try_get("created_at")?,
            last_seen_at: row.try_get("last_seen_at")?,
            expires_at: row.try_get("expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
            client_ip: self
                .open_text(&record, "client_ip", row.try_get("client_ip")?)
                .await?,
            user_agent: self
                .open_text(&record, "user_agent", row.try_get("user_agent")?)
                .await?,
            id,
            org_id,
        })
    }

    fn seal_principal(
        &self,
        record: &super::encryption::Record,
        principal: &SessionPrincipal,
    ) -> Result<String, StoreError> {
        let json = serde_json::to_vec(principal).map_err(|e| StoreError::Query(decode_error(e)))?;
        self.seal(record, "principal", &json)
    }
}

impl Store {
    /// Records a new session.
    pub async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        let record = SESSIONS.record(&[&session.id], session.org_id.as_deref());
        let mut tx = self.change().await?;
        sqlx::query(&format!(
            "INSERT INTO sessions ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&session.id)
        .bind(&session.secret_hash[..])
        .bind(&session.user_id)
        .bind(&session.org_id)
        .bind(self.seal_principal(&record, &session.principal)?)
        .bind(
            serde_json::to_string(&session.pending)
                .map_err(|e| StoreError::Query(decode_error(e)))?,
        )
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .bind(session.expires_at)
        .bind(session.revoked_at)
        .bind(self.seal(&record, "client_ip", session.client_ip.as_bytes())?)
        .bind(self.seal(&record, "user_agent", session.user_agent.as_bytes())?)
        .execute(&mut *tx)
        .await?;
        let created = Change::new(
            RecordKind::Session,
            &session.id,
            session.org_id.as_deref(),
            ChangeKind::Created,
        )
        .value("subject", &session.principal.subject)
        .value("issuer", &session.principal.issuer)
        .value("amr", session.principal.amr.join(" "));
        self.commit_recorded(tx, [created.into()]).await
    }

    /// A session by id.
    pub async fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM sessions WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(self.session_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    /// A user's sessions that are neither revoked nor past their absolute
    /// end at `now`, newest first.
    pub async fn live_sessions_of(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sessions
             WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?
             ORDER BY created_at DESC"
        ))
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(map_rows!(self, rows, session_from_row))
    }

    /// Revokes one session at `now`; whether a live one was revoked.
    pub async fn revoke_session(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.change().await?;
        let done: Option<Option<String>> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING org_id",
        )
                .bind(now)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(org) = done else { return Ok(false) };
        let revoked = Change::new(RecordKind::Session, id, org.as_deref(), ChangeKind::Deleted);
        self.commit_recorded(tx, [revoked.into()]).await?;
        Ok(true)
    }

    /// Revokes, at `now`, every session of a user that is not revoked and
    /// not past its absolute end, except `keep`; the revoked ids.
    pub async fn revoke_sessions_of(
        &self,
        user_id: &str,
        keep: Option<&str>,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.change().await?;
        let ids: Vec<(String, Option<String>)> = sqlx::query_as(
            "UPDATE sessions SET revoked_at = ?
             WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND id IS NOT ?
             RETURNING id, org_id",
        )
        .bind(now)
        .bind(user_id)
        .bind(now)
        .bind(keep)
        .fetch_all(&mut *tx)
        .await?;
        let events = ids.iter().map(|(id, org)| {
            Change::new(RecordKind::Session, id, org.as_deref(), ChangeKind::Deleted).into()
        });
        self.commit_recorded(tx, events.collect::<Vec<_>>()).await?;
        Ok(ids.into_iter().map(|(id, _)| id).collect())
    }

    /// Records activity on a session.
    pub async fn touch_session(&self, id: &str, last_seen_at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?")
            .bind(last_seen_at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replaces a session's pending actions and authentication methods.
    pub async fn update_session_access(
        &self,
        id: &str,
        pending: &[String],
        principal: &SessionPrincipal,
    ) -> Result<(), StoreError> {
        let org: Option<Option<String>> =
            sqlx::query_scalar("SELECT org_id FROM sessions WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        let Some(org) = org else { return Ok(()) };
        let record = SESSIONS.record(&[id], org.as_deref());
        sqlx::query("UPDATE sessions SET pending = ?, principal = ? WHERE id = ?")
            .bind(serde_json::to_string(pending).map_err(|e| StoreError::Query(decode_error(e)))?)
            .bind(self.seal_principal(&record, principal)?)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes sessions that ended before `cutoff`; how many.
    pub async fn purge_sessions(&self, cutoff: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM sessions WHERE expires_at < ? OR (revoked_at IS NOT NULL AND revoked_at < ?)",
        )
        .bind(cutoff)
        .bind(cutoff)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
