//! What authorization decides on: environments and connections (the
//! resource tree), custom roles and bindings. Every write bumps the policy
//! version in the same transaction, so a gateway that sees a new version
//! knows its snapshot is stale.

use super::encryption::tables::{BINDINGS, CONNECTIONS, ENVIRONMENTS, ROLES};
use super::{Store, StoreError, conflict_as};
use crate::audit::{Change, ChangeKind, Event, RecordKind};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

/// An environment: a group of connections (agents attach to one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentRecord {
    /// `env_…`.
    pub id: String,
    /// Organization.
    pub org_id: String,
    /// Unique within the organization.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A database connection's metadata (its credentials live elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    /// `con_…`.
    pub id: String,
    /// Organization.
    pub org_id: String,
    /// The environment it belongs to.
    pub environment_id: String,
    /// Unique within the environment.
    pub name: String,
    /// `postgres`, `mysql`, …
    pub kind: String,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database name.
    pub database: Option<String>,
    /// `disable`, `require`, `verify-ca` or `verify-full`.
    pub tls_mode: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// Changes to a connection; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ConnectionChanges {
    /// New name.
    pub name: Option<String>,
    /// New kind.
    pub kind: Option<String>,
    /// New host.
    pub host: Option<String>,
    /// New port.
    pub port: Option<u16>,
    /// New database (`Some(None)` clears it).
    pub database: Option<Option<String>>,
    /// New TLS mode.
    pub tls_mode: Option<String>,
}

/// A custom role: a named set of permission patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    /// `rol_…`.
    pub id: String,
    /// Organization.
    pub org_id: String,
    /// Unique within the organization (and never a predefined role's).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Catalogue patterns (`connections:read`, `connections:*`, `*`).
    pub permissions: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A subject bound to a role on a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingRecord {
    /// `bnd_…`.
    pub id: String,
    /// Organization.
    pub org_id: String,
    /// `user:<id>`, `group:<name>` or `api_key:<id>`.
    pub subject: String,
    /// A predefined role's name or a custom role's id.
    pub role_id: String,
    /// `organization`, `environment` or `connection`.
    pub scope_kind: String,
    /// The environment's or connection's id (none for the organization).
    pub scope_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Who created it (user id, or `bootstrap` / `migration`).
    pub created_by: String,
}

/// What a delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Deleted, with this many dependent records.
    Deleted(u64),
    /// Nothing by that id in the organization.
    Missing,
    /// Refused: this many records still depend on it.
    InUse(u64),
}

/// Everything a policy snapshot is built from, read in one transaction.
#[derive(Debug, Clone, Default)]
pub struct PolicyRecords {
    /// The version these records are at.
    pub version: i64,
    /// Custom roles of every organization.
    pub roles: Vec<RoleRecord>,
    /// `(connection id, organization, environment id)` of every connection.
    pub connections: Vec<(String, String, String)>,
    /// Every binding.
    pub bindings: Vec<BindingRecord>,
}

const ENV_COLUMNS: &str = "id, org_id, name, description, created_at, updated_at";
const CONN_COLUMNS: &str = "id, org_id, environment_id, name, kind, host, port, database, tls_mode, created_at, updated_at";
const ROLE_COLUMNS: &str = "id, org_id, name, description, permissions, created_at, updated_at";
const BINDING_COLUMNS: &str =
    "id, org_id, subject, role_id, scope_kind, scope_id, created_at, created_by";

impl Store {
    async fn environment_from_row(&self, row: &SqliteRow) -> Result<EnvironmentRecord, StoreError> {
        let id: String = row.try_get("id")?;
        let org_id: String = row.try_get("org_id")?;
        let record = ENVIRONMENTS.record(&[&id], Some(&org_id));
        Ok(EnvironmentRecord {
            name: self
                .open_text(&record, "name", row.try_get("name")?)
                .await?,
            description: self
                .open_opt(&record, "description", row.try_get("description")?)
                .await?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            id,
            org_id,
        })
    }

    async fn connection_from_row(&self, row: &SqliteRow) -> Result<ConnectionRecord, StoreError> {
        let id: String = row.try_get("id")?;
        let org_id: String = row.try_get("org_id")?;
        let record = CONNECTIONS.record(&[&id], Some(&org_id));
        let port: i64 = row.try_get("port")?;
        Ok(ConnectionRecord {
            environment_id: row.try_get("environment_id")?,
            name: self
                .open_text(&record, "name", row.try_get("name")?)
                .await?,
            kind: row.try_get("kind")?,
            host: self
                .open_text(&record, "host", row.try_get("host")?)
                .await?,
            port: u16::try_from(port).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            database: self
                .open_opt(&record, "database", row.try_get("database")?)
                .await?,
            tls_mode: row.try_get("tls_mode")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            id,
            org_id,
        })
    }

    async fn role_from_row(&self, row: &SqliteRow) -> Result<RoleRecord, StoreError> {
        let id: String = row.try_get("id")?;
        let org_id: String = row.try_get("org_id")?;
        let record = ROLES.record(&[&id], Some(&org_id));
        let permissions = self
            .open(&record, "permissions", row.try_get("permissions")?)
            .await?;
        Ok(RoleRecord {
            name: self
                .open_text(&record, "name", row.try_get("name")?)
                .await?,
            description: self
                .open_opt(&record, "description", row.try_get("description")?)
                .await?,
            permissions: serde_json::from_slice(&permissions)
                .map_err(|_| record.integrity("permissions"))?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            id,
            org_id,
        })
    }

    async fn binding_from_row(&self, row: &SqliteRow) -> Result<BindingRecord, StoreError> {
        let id: String = row.try_get("id")?;
        let org_id: String = row.try_get("org_id")?;
        let record = BINDINGS.record(&[&id], Some(&org_id));
        Ok(BindingRecord {
            subject: self
                .open_text(&record, "subject", row.try_get("subject")?)
                .await?,
            role_id: row.try_get("role_id")?,
            scope_kind: row.try_get("scope_kind")?,
            scope_id: row.try_get("scope_id")?,
            created_at: row.try_get("created_at")?,
            created_by: row.try_get("created_by")?,
            id,
            org_id,
        })
    }

    fn subject_index(&self, subject: &str) -> Result<String, StoreError> {
        self.blind(&BINDINGS, "subject_index", None, subject)
    }

    /// A sealed text and its blind index, for a named column.
    fn sealed_name(
        &self,
        table: &'static super::encryption::Table,
        record: &super::encryption::Record,
        within: &str,
        name: &str,
    ) -> Result<(String, String), StoreError> {
        Ok((
            self.seal(record, "name", name.as_bytes())?,
            self.blind(table, "name_index", Some(within), name)?,
        ))
    }
}

/// Marks the policy changed, inside the writing transaction.
async fn bump(tx: &mut Transaction<'_, Sqlite>) -> Result<(), StoreError> {
    sqlx::query("UPDATE policy_version SET version = version + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Deletes row `id` of `table` if it belongs to `org`; whether it did.
/// `table` is one of this module's constants, never input.
async fn delete_in_org(
    tx: &mut Transaction<'_, Sqlite>,
    table: &'static str,
    org_id: &str,
    id: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(&format!("DELETE FROM {table} WHERE org_id = ? AND id = ?"))
        .bind(org_id)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

fn permissions_json(permissions: &[String]) -> String {
    serde_json::to_string(permissions).unwrap_or_else(|_| "[]".into())
}

impl Store {
    /// Row `id` of `table` if it belongs to `org`. `table` and `columns`
    /// are this module's constants, never input.
    async fn one_in_org(
        &self,
        table: &'static str,
        columns: &'static str,
        org_id: &str,
        id: &str,
    ) -> Result<Option<SqliteRow>, StoreError> {
        Ok(sqlx::query(&format!(
            "SELECT {columns} FROM {table} WHERE org_id = ? AND id = ?"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The policy version: it increases with every change to roles,
    /// bindings, environments or connections.
    pub async fn policy_version(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT version FROM policy_version WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Everything a policy snapshot needs, consistent at one version.
    pub async fn policy_records(&self) -> Result<PolicyRecords, StoreError> {
        let mut tx = self.pool.begin().await?;
        let version = sqlx::query_scalar("SELECT version FROM policy_version WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let role_rows = sqlx::query(&format!("SELECT {ROLE_COLUMNS} FROM roles ORDER BY id"))
            .fetch_all(&mut *tx)
            .await?;
        let connections = sqlx::query_as::<_, (String, String, String)>(
            "SELECT id, org_id, environment_id FROM connections ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let binding_rows = sqlx::query(&format!(
            "SELECT {BINDING_COLUMNS} FROM bindings ORDER BY id"
        ))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let roles = map_rows!(self, role_rows, role_from_row);
        let bindings = map_rows!(self, binding_rows, binding_from_row);
        Ok(PolicyRecords {
            version,
            roles,
            connections,
            bindings,
        })
    }

    // Environments ------------------------------------------------------

    /// Creates an environment ([`StoreError::Conflict`] if the name is taken).
    pub async fn insert_environment(&self, env: &EnvironmentRecord) -> Result<(), StoreError> {
        let record = ENVIRONMENTS.record(&[&env.id], Some(&env.org_id));
        let (name, name_index) =
            self.sealed_name(&ENVIRONMENTS, &record, &env.org_id, &env.name)?;
        let mut tx = self.change().await?;
        sqlx::query(&format!(
            "INSERT INTO environments ({ENV_COLUMNS}, name_index) VALUES (?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&env.id)
        .bind(&env.org_id)
        .bind(name)
        .bind(self.seal_opt(&record, "description", env.description.as_deref())?)
        .bind(env.created_at)
        .bind(env.updated_at)
        .bind(name_index)
        .execute(&mut *tx)
        .await
        .map_err(conflict_as("an environment with this name"))?;
        bump(&mut tx).await?;
        let created = Change::new(
            RecordKind::Environment,
            &env.id,
            Some(&env.org_id),
            ChangeKind::Created,
        )
        .value("name", &env.name)
        .field("description", env.description.is_some());
        self.commit_recorded(tx, [created.into()]).await?;
        Ok(())
    }

    /// The organization's environments, by name.
    pub async fn environments(&self, org_id: &str) -> Result<Vec<EnvironmentRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ENV_COLUMNS} FROM environments WHERE org_id = ?"
        ))
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        let mut environments = map_rows!(self, rows, environment_from_row);
        environments.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(environments)
    }

    /// One environment of the organization.
    pub async fn environment(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<EnvironmentRecord>, StoreError> {
        match self
            .one_in_org("environments", ENV_COLUMNS, org_id, id)
            .await?
        {
            Some(row) => Ok(Some(self.environment_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    /// Renames or re-describes an environment (`description` of
    /// `Some(None)` clears it); the updated record, or `None` if missing.
    pub async fn update_environment(
        &self,
        org_id: &str,
        id: &str,
        name: Option<&str>,
        description: Option<Option<&str>>,
        now: i64,
    ) -> Result<Option<EnvironmentRecord>, StoreError> {
        let record = ENVIRONMENTS.record(&[id], Some(org_id));
        let sealed_name = name
            .map(|name| self.sealed_name(&ENVIRONMENTS, &record, org_id, name))
            .transpose()?;
        let mut tx = self.change().await?;
        let done = sqlx::query(
            "UPDATE environments SET name = COALESCE(?, name), name_index = COALESCE(?, name_index),
                 description = CASE WHEN ? THEN ? ELSE description END, updated_at = ?
             WHERE org_id = ? AND id = ?",
        )
        .bind(sealed_name.as_ref().map(|(sealed, _)| sealed))
        .bind(sealed_name.as_ref().map(|(_, index)| index))
        .bind(description.is_some())
        .bind(self.seal_opt(&record, "description", description.flatten())?)
        .bind(now)
        .bind(org_id)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(conflict_as("an environment with this name"))?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        bump(&mut tx).await?;
        let updated = Change::new(
            RecordKind::Environment,
            id,
            Some(org_id),
            ChangeKind::Updated,
        )
        .field("name", name.is_some())
        .field("description", description.is_some());
        self.commit_recorded(tx, [updated.into()]).await?;
        self.environment(org_id, id).await
    }

    /// Deletes an environment. With connections, it is refused unless
    /// `cascade`, which deletes them too. Bindings scoped to what is
    /// deleted go with it.
    pub async fn delete_environment(
        &self,
        org_id: &str,
        id: &str,
        cascade: bool,
    ) -> Result<Removal, StoreError> {
        let mut tx = self.change().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT id FROM environments WHERE org_id = ? AND id = ?")
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Ok(Removal::Missing);
        }
        let connections: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM connections WHERE environment_id = ?")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        let connections = u64::try_from(connections).unwrap_or(0);
        if connections > 0 && !cascade {
            return Ok(Removal::InUse(connections));
        }
        sqlx::query(
            "DELETE FROM bindings WHERE org_id = ? AND scope_kind = 'connection'
                 AND scope_id IN (SELECT id FROM connections WHERE environment_id = ?)",
        )
        .bind(org_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM bindings WHERE org_id = ? AND scope_kind = 'environment' AND scope_id = ?",
        )
        .bind(org_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM connections WHERE environment_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM environments WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        bump(&mut tx).await?;
        let deleted = Change::new(
            RecordKind::Environment,
            id,
            Some(org_id),
            ChangeKind::Deleted,
        )
        .value("connections_deleted", connections.to_string());
        self.commit_recorded(tx, [deleted.into()]).await?;
        Ok(Removal::Deleted(connections))
    }

    // Connections -------------------------------------------------------

    /// Creates a connection ([`StoreError::Conflict`] if its environment
    /// has one of that name).
    pub async fn insert_connection(&self, conn: &ConnectionRecord) -> Result<(), StoreError> {
        let record = CONNECTIONS.record(&[&conn.id], Some(&conn.org_id));
        let (name, name_index) =
            self.sealed_name(&CONNECTIONS, &record, &conn.environment_id, &conn.name)?;
        let mut tx = self.change().await?;
        sqlx::query(&format!(
            "INSERT INTO connections ({CONN_COLUMNS}, name_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&conn.id)
        .bind(&conn.org_id)
        .bind(&conn.environment_id)
        .bind(name)
        .bind(&conn.kind)
        .bind(self.seal(&record, "host", conn.host.as_bytes())?)
        .bind(i64::from(conn.port))
        .bind(self.seal_opt(&record, "database", conn.database.as_deref())?)
        .bind(&conn.tls_mode)
        .bind(conn.created_at)
        .bind(conn.updated_at)
        .bind(name_index)
        .execute(&mut *tx)
        .await
        .map_err(conflict_as(
            "a connection with this name in the environment",
        ))?;
        bump(&mut tx).await?;
        let created = Change::new(
            RecordKind::Connection,
            &conn.id,
            Some(&conn.org_id),
            ChangeKind::Created,
        )
        .value("environment_id", &conn.environment_id)
        .value("name", &conn.name)
        .value("kind", &conn.kind);
        self.commit_recorded(tx, [created.into()]).await?;
        Ok(())
    }

    /// The connections of one environment, by name.
    pub async fn connections(
        &self,
        org_id: &str,
        environment_id: &str,
    ) -> Result<Vec<ConnectionRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONN_COLUMNS} FROM connections WHERE org_id = ? AND environment_id = ?"
        ))
        .bind(org_id)
        .bind(environment_id)
        .fetch_all(&self.pool)
        .await?;
        let mut connections = map_rows!(self, rows, connection_from_row);
        connections.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(connections)
    }

    /// One connection of the organization.
    pub async fn connection(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        match self
            .one_in_org("connections", CONN_COLUMNS, org_id, id)
            .await?
        {
            Some(row) => Ok(Some(self.connection_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    /// Applies `changes`; the updated record, or `None` if missing.
    pub async fn update_connection(
        &self,
        org_id: &str,
        id: &str,
        changes: &ConnectionChanges,
        now: i64,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        // The name's index is scoped by the environment, which a change
        // never moves.
        let environment_id: Option<String> = sqlx::query_scalar(
            "SELECT environment_id FROM connections WHERE org_id = ? AND id = ?",
        )
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(environment_id) = environment_id else {
            return Ok(None);
        };
        let record = CONNECTIONS.record(&[id], Some(org_id));
        let sealed_name = changes
            .name
            .as_deref()
            .map(|name| self.sealed_name(&CONNECTIONS, &record, &environment_id, name))
            .transpose()?;
        let mut tx = self.change().await?;
        let done = sqlx::query(
            "UPDATE connections SET name = COALESCE(?, name), name_index = COALESCE(?, name_index),
                 kind = COALESCE(?, kind),
                 host = COALESCE(?, host), port = COALESCE(?, port),
                 database = CASE WHEN ? THEN ? ELSE database END,
                 tls_mode = COALESCE(?, tls_mode), updated_at = ?
             WHERE org_id = ? AND id = ?",
        )
        .bind(sealed_name.as_ref().map(|(sealed, _)| sealed))
        .bind(sealed_name.as_ref().map(|(_, index)| index))
        .bind(&changes.kind)
        .bind(
            changes
                .host
                .as_deref()
                .map(|host| self.seal(&record, "host", host.as_bytes()))
                .transpose()?,
        )
        .bind(changes.port.map(i64::from))
        .bind(changes.database.is_some())
        .bind(self.seal_opt(
            &record,
            "database",
            changes.database.clone().flatten().as_deref(),
        )?)
        .bind(&changes.tls_mode)
        .bind(now)
        .bind(org_id)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(conflict_as(
            "a connection with this name in the environment",
        ))?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        bump(&mut tx).await?;
        let updated = Change::new(
            RecordKind::Connection,
            id,
            Some(org_id),
            ChangeKind::Updated,
        )
        .field("name", changes.name.is_some())
        .field("kind", changes.kind.is_some())
        .field("host", changes.host.is_some())
        .field("port", changes.port.is_some())
        .field("database", changes.database.is_some())
        .field("tls_mode", changes.tls_mode.is_some());
        self.commit_recorded(tx, [updated.into()]).await?;
        self.connection(org_id, id).await
    }

    /// Deletes a connection and the bindings scoped to it.
    pub async fn delete_connection(&self, org_id: &str, id: &str) -> Result<Removal, StoreError> {
        let mut tx = self.change().await?;
        if !delete_in_org(&mut tx, "connections", org_id, id).await? {
            return Ok(Removal::Missing);
        }
        let bindings = sqlx::query(
            "DELETE FROM bindings WHERE org_id = ? AND scope_kind = 'connection' AND scope_id = ?",
        )
        .bind(org_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        bump(&mut tx).await?;
        let deleted = Change::new(
            RecordKind::Connection,
            id,
            Some(org_id),
            ChangeKind::Deleted,
        )
        .value("bindings_deleted", bindings.rows_affected().to_string());
        self.commit_recorded(tx, [deleted.into()]).await?;
        Ok(Removal::Deleted(bindings.rows_affected()))
    }

    // Roles -------------------------------------------------------------

    /// Creates a custom role ([`StoreError::Conflict`] if the name is taken).
    pub async fn insert_role(&self, role: &RoleRecord) -> Result<(), StoreError> {
        let record = ROLES.record(&[&role.id], Some(&role.org_id));
        let (name, name_index) = self.sealed_name(&ROLES, &record, &role.org_id, &role.name)?;
        let mut tx = self.change().await?;
        sqlx::query(&format!(
            "INSERT INTO roles ({ROLE_COLUMNS}, name_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&role.id)
        .bind(&role.org_id)
        .bind(name)
        .bind(self.seal_opt(&record, "description", role.description.as_deref())?)
        .bind(self.seal(
            &record,
            "permissions",
            permissions_json(&role.permissions).as_bytes(),
        )?)
        .bind(role.created_at)
        .bind(role.updated_at)
        .bind(name_index)
        .execute(&mut *tx)
        .await
        .map_err(conflict_as("a role with this name"))?;
        bump(&mut tx).await?;
        let created = Change::new(
            RecordKind::Role,
            &role.id,
            Some(&role.org_id),
            ChangeKind::Created,
        )
        .value("name", &role.name)
        .value("permissions", role.permissions.join(" "));
        self.commit_recorded(tx, [created.into()]).await?;
        Ok(())
    }

    /// The organization's custom roles, by name.
    pub async fn roles(&self, org_id: &str) -> Result<Vec<RoleRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ROLE_COLUMNS} FROM roles WHERE org_id = ?"
        ))
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        let mut roles = map_rows!(self, rows, role_from_row);
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(roles)
    }

    /// One custom role of the organization.
    pub async fn role(&self, org_id: &str, id: &str) -> Result<Option<RoleRecord>, StoreError> {
        match self.one_in_org("roles", ROLE_COLUMNS, org_id, id).await? {
            Some(row) => Ok(Some(self.role_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    /// Replaces a custom role's name, description or permissions.
    pub async fn update_role(
        &self,
        org_id: &str,
        id: &str,
        name: Option<&str>,
        description: Option<Option<&str>>,
        permissions: Option<&[String]>,
        now: i64,
    ) -> Result<Option<RoleRecord>, StoreError> {
        let record = ROLES.record(&[id], Some(org_id));
        let sealed_name = name
            .map(|name| self.sealed_name(&ROLES, &record, org_id, name))
            .transpose()?;
        let mut tx = self.change().await?;
        let done = sqlx::query(
            "UPDATE roles SET name = COALESCE(?, name), name_index = COALESCE(?, name_index),
                 description = CASE WHEN ? THEN ? ELSE description END,
                 permissions = COALESCE(?, permissions), updated_at = ?
             WHERE org_id = ? AND id = ?",
        )
        .bind(sealed_name.as_ref().map(|(sealed, _)| sealed))
        .bind(sealed_name.as_ref().map(|(_, index)| index))
        .bind(description.is_some())
        .bind(self.seal_opt(&record, "description", description.flatten())?)
        .bind(
            permissions
                .map(|p| self.seal(&record, "permissions", permissions_json(p).as_bytes()))
                .transpose()?,
        )
        .bind(now)
        .bind(org_id)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(conflict_as("a role with this name"))?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        bump(&mut tx).await?;
        let mut updated = Change::new(RecordKind::Role, id, Some(org_id), ChangeKind::Updated)
            .field("name", name.is_some())
            .field("description", description.is_some())
            .field("permissions", permissions.is_some());
        if let Some(permissions) = permissions {
            updated = updated.value("permissions", permissions.join(" "));
        }
        self.commit_recorded(tx, [updated.into()]).await?;
        self.role(org_id, id).await
    }

    /// Deletes a custom role no binding uses.
    pub async fn delete_role(&self, org_id: &str, id: &str) -> Result<Removal, StoreError> {
        let mut tx = self.change().await?;
        let used: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM bindings WHERE org_id = ? AND role_id = ?")
                .bind(org_id)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if used > 0 {
            return Ok(Removal::InUse(u64::try_from(used).unwrap_or(0)));
        }
        if !delete_in_org(&mut tx, "roles", org_id, id).await? {
            return Ok(Removal::Missing);
        }
        bump(&mut tx).await?;
        let deleted = Change::new(RecordKind::Role, id, Some(org_id), ChangeKind::Deleted);
        self.commit_recorded(tx, [deleted.into()]).await?;
        Ok(Removal::Deleted(0))
    }

    // Bindings ----------------------------------------------------------

    /// Creates a binding ([`StoreError::Conflict`] if the same one exists).
    pub async fn insert_binding(&self, binding: &BindingRecord) -> Result<(), StoreError> {
        let mut tx = self.change().await?;
        self.insert_binding_in(&mut tx, binding).await?;
        bump(&mut tx).await?;
        self.commit_recorded(tx, [binding_created(binding)]).await?;
        Ok(())
    }

    async fn insert_binding_in(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        binding: &BindingRecord,
    ) -> Result<(), StoreError> {
        let record = BINDINGS.record(&[&binding.id], Some(&binding.org_id));
        sqlx::query(&format!(
            "INSERT INTO bindings ({BINDING_COLUMNS}, subject_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&binding.id)
        .bind(&binding.org_id)
        .bind(self.seal(&record, "subject", binding.subject.as_bytes())?)
        .bind(&binding.role_id)
        .bind(&binding.scope_kind)
        .bind(&binding.scope_id)
        .bind(binding.created_at)
        .bind(&binding.created_by)
        .bind(self.subject_index(&binding.subject)?)
        .execute(&mut **tx)
        .await
        .map_err(conflict_as("the same binding"))?;
        Ok(())
    }

    /// The organization's bindings, optionally of one subject.
    pub async fn bindings(
        &self,
        org_id: &str,
        subject: Option<&str>,
    ) -> Result<Vec<BindingRecord>, StoreError> {
        let index = subject.map(|s| self.subject_index(s)).transpose()?;
        let rows = sqlx::query(&format!(
            "SELECT {BINDING_COLUMNS} FROM bindings WHERE org_id = ? AND (? IS NULL OR subject_index = ?)
             ORDER BY created_at, id"
        ))
        .bind(org_id)
        .bind(&index)
        .bind(&index)
        .fetch_all(&self.pool)
        .await?;
        Ok(map_rows!(self, rows, binding_from_row))
    }

    /// One binding of the organization.
    pub async fn binding(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<BindingRecord>, StoreError> {
        match self
            .one_in_org("bindings", BINDING_COLUMNS, org_id, id)
            .await?
        {
            Some(row) => Ok(Some(self.binding_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    /// Deletes a binding.
    pub async fn delete_binding(&self, org_id: &str, id: &str) -> Result<Removal, StoreError> {
        let mut tx = self.change().await?;
        if !delete_in_org(&mut tx, "bindings", org_id, id).await? {
            return Ok(Removal::Missing);
        }
        bump(&mut tx).await?;
        let deleted = Change::new(RecordKind::Binding, id, Some(org_id), ChangeKind::Deleted);
        self.commit_recorded(tx, [deleted.into()]).await?;
        Ok(Removal::Deleted(0))
    }

    /// Deletes every binding of `subject` (a deleted user or API key).
    pub async fn delete_bindings_of(&self, subject: &str) -> Result<u64, StoreError> {
        let mut tx = self.change().await?;
        let deleted: Vec<(String, String)> =
            sqlx::query_as("DELETE FROM bindings WHERE subject_index = ? RETURNING id, org_id")
                .bind(self.subject_index(subject)?)
                .fetch_all(&mut *tx)
                .await?;
        if deleted.is_empty() {
            return Ok(0);
        }
        bump(&mut tx).await?;
        let events = deleted.iter().map(|(id, org)| {
            Change::new(RecordKind::Binding, id, Some(org), ChangeKind::Deleted)
                .value("subject", subject)
                .into()
        });
        self.commit_recorded(tx, events.collect::<Vec<_>>()).await?;
        Ok(deleted.len() as u64)
    }

    /// Writes many bindings in one transaction (bulk loads, benchmarks).
    pub async fn insert_bindings(&self, bindings: &[BindingRecord]) -> Result<(), StoreError> {
        let mut tx = self.change().await?;
        for binding in bindings {
            self.insert_binding_in(&mut tx, binding).await?;
        }
        bump(&mut tx).await?;
        self.commit_recorded(tx, bindings.iter().map(binding_created).collect::<Vec<_>>())
            .await?;
        Ok(())
    }
}

/// The event of a new binding: who, which role, where.
fn binding_created(binding: &BindingRecord) -> Event {
    let scope = match &binding.scope_id {
        Some(id) => format!("{}:{id}", binding.scope_kind),
        None => binding.scope_kind.clone(),
    };
    Change::new(
        RecordKind::Binding,
        &binding.id,
        Some(&binding.org_id),
        ChangeKind::Created,
    )
    .value("subject", &binding.subject)
    .value("role", &binding.role_id)
    .value("scope", scope)
    .into()
}
