//! Persistence over `sqlx`, with versioned migrations.
//!
//! The embedded default is a SQLite file in the data directory. Callers see
//! only [`Store`] and the handles it gives out, so a PostgreSQL backend can
//! sit behind the same methods.

mod api_keys;
mod audit;
mod authz;
mod credentials;
mod directory;
mod kv;
mod login_flows;
mod migrations;
mod sealing;
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
pub use kv::KvNamespace;
pub use login_flows::LoginFlowRecord;
pub use sealing::{SealError, Sealer, derive_key};
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

/// A handle to the gateway's database; cheap to clone. Values that may be
/// secret are sealed by its [`Sealer`] before they reach the database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    sealer: Arc<Sealer>,
    audit: Arc<AuditState>,
}

impl Store {
    /// Opens (creating if needed) the SQLite store at `path`, owner-only,
    /// and brings its schema up to date. `sealer` seals secret values.
    pub async fn open_sqlite(path: &Path, sealer: Sealer) -> Result<Self, StoreError> {
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
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        let store = Self {
            pool,
            sealer: Arc::new(sealer),
            audit: Arc::default(),
        };
        migrations::apply(&store.pool).await?;
        Ok(store)
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
        Ok(Self {
            pool,
            sealer: Arc::new(Sealer::ephemeral()?),
            audit: Arc::default(),
        })
    }

    /// The private key-value namespace `namespace` (one per plugin instance).
    pub fn kv(&self, namespace: &str) -> KvNamespace {
        KvNamespace::new(self.pool.clone(), self.sealer.clone(), namespace)
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
