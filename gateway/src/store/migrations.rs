//! Versioned schema migrations, applied in order, each in its own
//! transaction, recorded in `schema_migrations`. Released migrations are
//! never edited: a change is a new migration.

use super::StoreError;
use sqlx::SqlitePool;

/// One schema step.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "plugin key-value store",
    sql: "CREATE TABLE plugin_kv (
              namespace TEXT NOT NULL,
              key TEXT NOT NULL,
              value BLOB NOT NULL, -- sealed: AES-256-GCM, row identity as AAD
              version INTEGER NOT NULL DEFAULT 1, -- bumped on every write, for compare-and-swap
              updated_at INTEGER NOT NULL,
              PRIMARY KEY (namespace, key)
          ) WITHOUT ROWID;",
}];

/// Newest schema version this build knows.
fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The version recorded in the database (0 for a new one).
pub(super) async fn current_version(pool: &SqlitePool) -> Result<i64, StoreError> {
    let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(pool)
        .await?;
    Ok(version.unwrap_or(0))
}

/// Brings the schema up to date.
pub(super) async fn apply(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             applied_at INTEGER NOT NULL
         )",
    )
    .execute(pool)
    .await?;
    let current = current_version(pool).await?;
    if current > latest() {
        return Err(StoreError::TooNew {
            found: current,
            supported: latest(),
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        let failed = |source| StoreError::Migration {
            version: migration.version,
            name: migration.name,
            source,
        };
        let mut tx = pool.begin().await.map_err(failed)?;
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, unixepoch())",
        )
        .bind(migration.version)
        .bind(migration.name)
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied store migration"
        );
    }
    Ok(())
}
