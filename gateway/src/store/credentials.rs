//! Zero-knowledge connection credentials at rest: each organization's
//! sealing settings (its trust public key), the agent keys of its
//! environments with the customer's endorsements, and each connection's
//! credential as ciphertext or as a reference. Nothing stored here opens
//! a credential.

use super::encryption::tables::{AGENT_KEYS, CONNECTION_CREDENTIALS};
use super::{Store, StoreError, conflict_as};
use crate::audit::{Change, ChangeKind, Event, RecordKind};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// An organization's sealing settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SealingSettings {
    /// The trust key's public half (base64url Ed25519), once set.
    pub trust_public_key: Option<String>,
    /// Whether the API accepts a plaintext credential and seals it here.
    pub server_side_sealing: bool,
    /// Last change (Unix seconds); 0 while never set.
    pub updated_at: i64,
}

/// An agent key enrolled in an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentKeyRecord {
    /// `agk_…`, derived from the key.
    pub id: String,
    /// The organization.
    pub org_id: String,
    /// The environment it was endorsed for.
    pub environment_id: String,
    /// base64url X25519 public key.
    pub public_key: String,
    /// base64url Ed25519 signature of the trust key.
    pub endorsement: String,
    /// A label.
    pub name: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// How a connection's credential is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialForm {
    /// Ciphertext sealed to the environment's agent keys.
    Sealed,
    /// A reference into the customer's secrets store, resolved by the agent.
    Reference,
    /// Removed; the version stays so an old seal cannot come back.
    Removed,
}

impl CredentialForm {
    fn as_str(self) -> &'static str {
        match self {
            Self::Sealed => "sealed",
            Self::Reference => "reference",
            Self::Removed => "removed",
        }
    }

    fn parse(text: &str) -> Result<Self, sqlx::Error> {
        match text {
            "sealed" => Ok(Self::Sealed),
            "reference" => Ok(Self::Reference),
            "removed" => Ok(Self::Removed),
            other => Err(sqlx::Error::Decode(
                format!("unknown credential form `{other}`").into(),
            )),
        }
    }
}

/// A connection's credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    /// The connection.
    pub connection_id: String,
    /// The organization.
    pub org_id: String,
    /// Grows by one with every replacement.
    pub version: i64,
    /// Sealed, a reference, or removed.
    pub form: CredentialForm,
    /// Sealed: the recipients' JSON; reference: the reference.
    pub body: String,
    /// `customer` (sealed on the customer's side) or `gateway`
    /// (server-side sealing).
    pub sealed_by: String,
    /// Unix seconds.
    pub updated_at: i64,
}

const AGENT_KEY_COLUMNS: &str =
    "id, org_id, environment_id, public_key, endorsement, name, created_at";
const CREDENTIAL_COLUMNS: &str =
    "connection_id, org_id, version, form, body, sealed_by, updated_at";

impl Store {
    async fn agent_key_from_row(&self, row: &SqliteRow) -> Result<AgentKeyRecord, StoreError> {
        let id: String = row.try_get("id")?;
        let org_id: String = row.try_get("org_id")?;
        let environment_id: String = row.try_get("environment_id")?;
        let record = AGENT_KEYS.record(&[&environment_id, &id], Some(&org_id));
        Ok(AgentKeyRecord {
            public_key: row.try_get("public_key")?,
            endorsement: row.try_get("endorsement")?,
            name: self.open_opt(&record, "name", row.try_get("name")?).await?,
            created_at: row.try_get("created_at")?,
            id,
            org_id,
            environment_id,
        })
    }

    async fn credential_from_row(&self, row: &SqliteRow) -> Result<CredentialRecord, StoreError> {
        let connection_id: String = row.try_get("connection_id")?;
        let org_id: String = row.try_get("org_id")?;
        let record = CONNECTION_CREDENTIALS.record(&[&connection_id], Some(&org_id));
        Ok(CredentialRecord {
            version: row.try_get("version")?,
            form: CredentialForm::parse(row.try_get("form")?)?,
            body: self
                .open_text(&record, "body", row.try_get("body")?)
                .await?,
            sealed_by: row.try_get("sealed_by")?,
            updated_at: row.try_get("updated_at")?,
            connection_id,
            org_id,
        })
    }
}

/// The audit event of a change to a connection's credential: its form and
/// version, never its body.
fn credential_change(record: &CredentialRecord, change: ChangeKind) -> Event {
    Change::new(
        RecordKind::ConnectionCredential,
        &record.connection_id,
        Some(&record.org_id),
        change,
    )
    .value("form", record.form.as_str())
    .value("version", record.version.to_string())
    .value("sealed_by", &record.sealed_by)
    .into()
}

impl Store {
    /// The organization's sealing settings (the defaults while never set).
    pub async fn sealing_settings(&self, org_id: &str) -> Result<SealingSettings, StoreError> {
        let row = sqlx::query(
            "SELECT trust_public_key, server_side_sealing, updated_at FROM org_sealing WHERE org_id = ?",
        )
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(SealingSettings::default());
        };
        Ok(SealingSettings {
            trust_public_key: row.try_get("trust_public_key")?,
            server_side_sealing: row.try_get("server_side_sealing")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    /// Replaces the organization's sealing settings.
    pub async fn set_sealing_settings(
        &self,
        org_id: &str,
        settings: &SealingSettings,
    ) -> Result<(), StoreError> {
        let mut tx = self.change().await?;
        let before = sqlx::query_as::<_, (Option<String>, bool)>(
            "SELECT trust_public_key, server_side_sealing FROM org_sealing WHERE org_id = ?",
        )
        .bind(org_id)
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or((None, false));
        sqlx::query(
            "INSERT INTO org_sealing (org_id, trust_public_key, server_side_sealing, updated_at)
             VALUES (?, ?, ?, ?)
             ON CONFLICT (org_id) DO UPDATE SET trust_public_key = excluded.trust_public_key,
                 server_side_sealing = excluded.server_side_sealing, updated_at = excluded.updated_at",
        )
        .bind(org_id)
        .bind(&settings.trust_public_key)
        .bind(settings.server_side_sealing)
        .bind(settings.updated_at)
        .execute(&mut *tx)
        .await?;
        let mut change = Change::new(
            RecordKind::SealingSettings,
            org_id,
            Some(org_id),
            ChangeKind::Updated,
        )
        .field("trust_public_key", before.0 != settings.trust_public_key)
        .field(
            "server_side_sealing",
            before.1 != settings.server_side_sealing,
        )
        .value(
            "server_side_sealing",
            settings.server_side_sealing.to_string(),
        );
        if let Some(key) = &settings.trust_public_key {
            change = change.value("trust_public_key", key);
        }
        self.commit_recorded(tx, [change.into()]).await
    }

    /// The agent keys enrolled in an environment, oldest first.
    pub async fn agent_keys(
        &self,
        org_id: &str,
        environment_id: &str,
    ) -> Result<Vec<AgentKeyRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {AGENT_KEY_COLUMNS} FROM agent_keys WHERE org_id = ? AND environment_id = ?
             ORDER BY created_at, id"
        ))
        .bind(org_id)
        .bind(environment_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(map_rows!(self, rows, agent_key_from_row))
    }

    /// Enrolls an agent key ([`StoreError::Conflict`] if the environment
    /// has it already).
    pub async fn insert_agent_key(&self, key: &AgentKeyRecord) -> Result<(), StoreError> {
        let record = AGENT_KEYS.record(&[&key.environment_id, &key.id], Some(&key.org_id));
        let mut tx = self.change().await?;
        sqlx::query(&format!(
            "INSERT INTO agent_keys ({AGENT_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&key.id)
        .bind(&key.org_id)
        .bind(&key.environment_id)
        .bind(&key.public_key)
        .bind(&key.endorsement)
        .bind(self.seal_opt(&record, "name", key.name.as_deref())?)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict_as("this agent key in the environment"))?;
        let created = Change::new(
            RecordKind::AgentKey,
            &key.id,
            Some(&key.org_id),
            ChangeKind::Created,
        )
        .value("environment_id", &key.environment_id)
        .value("public_key", &key.public_key);
        self.commit_recorded(tx, [created.into()]).await
    }

    /// Removes an agent key from an environment; whether it was there.
    pub async fn delete_agent_key(
        &self,
        org_id: &str,
        environment_id: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.change().await?;
        let done = sqlx::query(
            "DELETE FROM agent_keys WHERE org_id = ? AND environment_id = ? AND id = ?",
        )
        .bind(org_id)
        .bind(environment_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let deleted = Change::new(RecordKind::AgentKey, id, Some(org_id), ChangeKind::Deleted)
            .value("environment_id", environment_id);
        self.commit_recorded(tx, [deleted.into()]).await?;
        Ok(true)
    }

    /// A connection's credential record, removed ones included (their
    /// version still counts).
    pub async fn credential(
        &self,
        org_id: &str,
        connection_id: &str,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM connection_credentials WHERE org_id = ? AND connection_id = ?"
        ))
        .bind(org_id)
        .bind(connection_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some(self.credential_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    /// Stores `record` if the connection's credential is still at
    /// `previous` (0: none yet): false, changing nothing, if another
    /// write came first.
    pub async fn put_credential(
        &self,
        record: &CredentialRecord,
        previous: i64,
    ) -> Result<bool, StoreError> {
        let record_id =
            CONNECTION_CREDENTIALS.record(&[&record.connection_id], Some(&record.org_id));
        let body = self.seal(&record_id, "body", record.body.as_bytes())?;
        let mut tx = self.change().await?;
        let current: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM connection_credentials WHERE connection_id = ?",
        )
        .bind(&record.connection_id)
        .fetch_optional(&mut *tx)
        .await?;
        if current.unwrap_or(0) != previous {
            return Ok(false);
        }
        sqlx::query(&format!(
            "INSERT INTO connection_credentials ({CREDENTIAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (connection_id) DO UPDATE SET version = excluded.version,
                 form = excluded.form, body = excluded.body, sealed_by = excluded.sealed_by,
                 updated_at = excluded.updated_at"
        ))
        .bind(&record.connection_id)
        .bind(&record.org_id)
        .bind(record.version)
        .bind(record.form.as_str())
        .bind(body)
        .bind(&record.sealed_by)
        .bind(record.updated_at)
        .execute(&mut *tx)
        .await?;
        let change = if record.form == CredentialForm::Removed {
            ChangeKind::Deleted
        } else if previous == 0 {
            ChangeKind::Created
        } else {
            ChangeKind::Updated
        };
        self.commit_recorded(tx, [credential_change(record, change)])
            .await?;
        Ok(true)
    }
}
