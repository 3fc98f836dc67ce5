//! Persistence over `sqlx`, with versioned migrations.
//!
//! The embedded default is a SQLite file in the data directory. Callers see
//! only [`Store`] and the handles it gives out, so a PostgreSQL backend can
//! sit behind the same methods.

/// Maps every row with one of the store's async row mappers, in order
/// (a row's sealed values are opened as it is mapped).
macro_rules! map_rows {
    ($store:expr, $rows:expr, $map:ident) => {{
        let mut out = Vec::with_capacity($rows.len());
        for row in $rows.iter() {
            out.push($store.$map(row).await?);
        }
        out
    }};
}

mod api_keys;
mod audit;
mod authz;
mod credentials;
mod directory;
mod encryption;
mod kv;
mod login_flows;
mod migrations;
mod sessions;
mod signing_keys;
mod sso;

pub use api_keys::ApiKeyRecord;
pub use audit::{AuditFilter, AuditKeyRecord, AuditState};
pub use authz::{
    BindingRecord, ConnectionChanges, ConnectionRecord, EnvironmentRecord, PolicyRecords, Removal,
    RoleRecord,
};
pub use credentials::{AgentKeyRecord, CredentialForm, CredentialRecord, SealingSettings};
pub use directory::{OrgChanges, OrgRecord, UserChanges, UserRecord};
pub use encryption::{
    DataKeyInfo, KeyError, KeyFuture, KeyUsage, KeyWrapper, KeyringSettings, LegacySealer,
    LocalKeyWrapper, ResealReport, SealError, WrappedDataKey, derive_key,
};
pub use kv::KvNamespace;
pub use login_flows::LoginFlowRecord;
pub use sessions::{SessionPrincipal, SessionRecord};
pub use signing_keys::SigningKeyRecord;
pub use sso::{IdentityProviderRecord, ProviderSettings, SsoIdentityRecord};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why a store operation failed. Messages never contain stored values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("cannot open the store at `{path}`: {source}")]
    Open {
        /// The database file.
        path: String,
        /// The cause.
        source: sqlx::Error,
    },
    /// A migration failed; the store was left at the previous version.
    #[error("store migration {version} ({name}) failed: {source}")]
    Migration {
        /// The migration's version.
        version: i64,
        /// The migration's name.
        name: &'static str,
        /// The cause.
        source: sqlx::Error,
    },
    /// The store is newer than this gateway.
    #[error(
        "the store is at schema version {found}, newer than this gateway's {supported}; upgrade the gateway"
    )]
    TooNew {
        /// Version in the database.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// A query failed.
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored value could not be sealed or opened.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The write would break a uniqueness rule (a name already taken).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The change's audit event could not be written, so the change was
    /// not made.
    #[error("the audit log cannot be written: {0}")]
    AuditUnavailable(sqlx::Error),
}

/// [`StoreError::Conflict`] for a unique-constraint violation, the error
/// itself otherwise.
fn conflict_as(what: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |error| match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(what.to_string())
        }
        _ => StoreError::Query(error),
    }
}

/// A handle to the gateway's database; cheap to clone. Record payloads
/// are sealed under its data keys before they reach the database (envelope
/// encryption: see the `encryption` module); it reads and writes nothing until [`Store::unlock`].
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    keyring: Arc<encryption::Keyring>,
    audit: Arc<AuditState>,
}

/// What each data key covers: `portcullis keys status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeysStatus {
    /// Every data key, oldest first.
    pub data_keys: Vec<DataKeyInfo>,
    /// How many values each seals, per table.
    pub usage: Vec<KeyUsage>,
}

impl Store {
    /// Opens (creating if needed) the SQLite store at `path`, owner-only,
    /// and brings its schema up to date. Its data keys are locked until
    /// [`Store::unlock`].
    pub async fn open_sqlite(path: &Path, keys: KeyringSettings) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            create_private_file(path).map_err(|e| open_error(sqlx::Error::Io(e)))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Freed pages are zeroed, so no old value survives in the file.
            .pragma("secure_delete", "on")
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        let store = Self {
            keyring: Arc::new(encryption::Keyring::new(pool.clone(), keys)),
            pool,
            audit: Arc::default(),
        };
        migrations::apply(&store.pool).await?;
        Ok(store)
    }

    /// Unlocks the data keys with `provider` (making the first ones in a
    /// new store) and seals every value an older store kept in the clear
    /// or in format 1 (opened with `legacy`), before anything is served.
    pub async fn unlock(
        &self,
        provider: Arc<dyn KeyWrapper>,
        legacy: Option<&LegacySealer>,
    ) -> Result<(), StoreError> {
        self.keyring.unlock(provider).await?;
        let mut migrated = 0;
        for table in encryption::tables::ALL {
            let report = encryption::reseal(
                &self.pool,
                &self.keyring,
                legacy,
                table,
                encryption::Pass::Unsealed,
            )
            .await?;
            migrated += report.rows;
        }
        if migrated > 0 {
            // Rewrites the file without the pages the clear values were in.
            sqlx::query("VACUUM").execute(&self.pool).await?;
            tracing::info!(
                records = migrated,
                "sealed the records an older store kept in the clear"
            );
        }
        Ok(())
    }

    /// Opens the SQLite store at `path` and unlocks it with data keys
    /// wrapped under the local key `root` (no key-provider plugin): for
    /// tools, tests and benchmarks.
    pub async fn open_sqlite_with_local_key(
        path: &Path,
        root: &secrecy::SecretBox<[u8; 32]>,
    ) -> Result<Self, StoreError> {
        let store = Self::open_sqlite(path, KeyringSettings::default()).await?;
        let local =
            LocalKeyWrapper::from_local_key(root).map_err(|e| SealError::KeyUnavailable {
                key: "local".into(),
                reason: e.to_string(),
            })?;
        let legacy = LegacySealer::from_local_key(root)?;
        store.unlock(Arc::new(local), Some(&legacy)).await?;
        Ok(store)
    }

    /// Re-seals under the current data key every value sealed under an
    /// older one (after a rotation), in batches, while serving.
    pub async fn reencrypt(&self) -> Result<ResealReport, StoreError> {
        let mut total = ResealReport::default();
        for table in encryption::tables::ALL {
            let report = encryption::reseal(
                &self.pool,
                &self.keyring,
                None,
                table,
                encryption::Pass::NotCurrent,
            )
            .await?;
            total.rows += report.rows;
            total.skipped += report.skipped;
        }
        Ok(total)
    }

    /// Makes a new current data key and re-wraps every data key under the
    /// key provider's current master key version; the new key's id.
    pub async fn rotate_data_key(&self) -> Result<String, StoreError> {
        Ok(self.keyring.rotate().await?)
    }

    /// Picks up a rotation another process made and re-checks keys held
    /// longer than their maximum age with the key provider.
    pub async fn refresh_keys(&self) -> Result<(), StoreError> {
        Ok(self.keyring.refresh().await?)
    }

    /// The id of the data key new values are sealed under.
    pub fn current_data_key(&self) -> Result<String, StoreError> {
        Ok(self.keyring.current_key_id()?)
    }

    /// The data keys and what each covers.
    pub async fn keys_status(&self) -> Result<KeysStatus, StoreError> {
        Ok(KeysStatus {
            data_keys: self.keyring.data_keys().await?,
            usage: encryption::usage(&self.pool).await?,
        })
    }

    /// Seals `value` as `column` of `record`.
    fn seal(
        &self,
        record: &encryption::Record,
        column: &str,
        value: &[u8],
    ) -> Result<String, StoreError> {
        Ok(self.keyring.seal(&record.aad(column), value)?)
    }

    /// Seals an optional text value (absence stays absent).
    fn seal_opt(
        &self,
        record: &encryption::Record,
        column: &str,
        value: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        value
            .map(|v| self.seal(record, column, v.as_bytes()))
            .transpose()
    }

    /// Opens `column` of `record`.
    async fn open(
        &self,
        record: &encryption::Record,
        column: &str,
        sealed: &str,
    ) -> Result<Vec<u8>, StoreError> {
        self.keyring
            .open(&record.aad(column), sealed)
            .await?
            .ok_or_else(|| record.integrity(column).into())
    }

    /// Opens a text value.
    async fn open_text(
        &self,
        record: &encryption::Record,
        column: &str,
        sealed: &str,
    ) -> Result<String, StoreError> {
        String::from_utf8(self.open(record, column, sealed).await?)
            .map_err(|_| record.integrity(column).into())
    }

    /// Opens an optional text value.
    async fn open_opt(
        &self,
        record: &encryption::Record,
        column: &str,
        sealed: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        match sealed {
            Some(sealed) => Ok(Some(self.open_text(record, column, sealed).await?)),
            None => Ok(None),
        }
    }

    /// The blind index `column` of `table` for `value`, scoped by `within`.
    fn blind(
        &self,
        table: &'static encryption::Table,
        column: &str,
        within: Option<&str>,
        value: &str,
    ) -> Result<String, StoreError> {
        let index = self.keyring.index()?;
        Ok(table.index_value(&index, column, within, value))
    }

    /// An in-memory store, for tests and tools.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .shared_cache(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: ":memory:".into(),
                source,
            })?;
        migrations::apply(&pool).await?;
        let store = Self {
            keyring: Arc::new(encryption::Keyring::new(
                pool.clone(),
                KeyringSettings::default(),
            )),
            pool,
            audit: Arc::default(),
        };
        let local = LocalKeyWrapper::ephemeral().map_err(|e| SealError::KeyUnavailable {
            key: "local".into(),
            reason: e.to_string(),
        })?;
        store.unlock(Arc::new(local), None).await?;
        Ok(store)
    }

    /// The private key-value namespace `namespace` (one per plugin instance).
    pub fn kv(&self, namespace: &str) -> KvNamespace {
        KvNamespace::new(self.clone(), namespace)
    }

    /// Deletes plugin key-value records that have expired; how many.
    pub async fn purge_expired_kv(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM plugin_kv WHERE expires_at IS NOT NULL AND expires_at <= unixepoch()",
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// The schema version the store is at.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        migrations::current_version(&self.pool).await
    }
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map(drop)
}
