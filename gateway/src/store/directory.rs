//! Organizations and users: who exists, in which organization, in which
//! groups, and whether they may sign in. Credentials are not here: they
//! belong to the identity provider that checks them.

use super::encryption::tables::{ORGS, USERS};
use super::{Store, StoreError};
use crate::audit::{Change, ChangeKind, RecordKind};
use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// An organization and its identity settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgRecord {
    /// Stable id.
    pub id: String,
    /// Unique display name.
    pub name: String,
    /// Local users must enroll a second factor before they get full access.
    pub mfa_required: bool,
    /// Longest lifetime an API key may be created with, in days.
    pub api_key_max_lifetime_days: i64,
    /// Creation time (Unix seconds).
    pub created_at: i64,
}

/// A user of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRecord {
    /// Stable id (also the subject in tokens).
    pub id: String,
    /// The organization.
    pub org_id: String,
    /// Email, unique across the gateway, compared case-insensitively.
    pub email: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Groups, as the authorizer sees them.
    pub groups: Vec<String>,
    /// A disabled user cannot sign in and their credentials stop working.
    pub disabled: bool,
    /// The password was set by someone else and must be changed first.
    pub password_must_change: bool,
    /// May do cross-organization operations (create and list
    /// organizations, administer any of them). Only the bootstrap
    /// administrator has it unless a platform operator grants it.
    pub platform_operator: bool,
    /// Creation time (Unix seconds).
    pub created_at: i64,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// New display name (`Some(None)` clears it).
    pub display_name: Option<Option<String>>,
    /// New groups.
    pub groups: Option<Vec<String>>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// Require or clear a password change.
    pub password_must_change: Option<bool>,
    /// Grant or withdraw the platform-operator capability.
    pub platform_operator: Option<bool>,
}

/// Changes to an organization's settings.
#[derive(Debug, Clone, Default)]
pub struct OrgChanges {
    /// New name.
    pub name: Option<String>,
    /// Require MFA for local users.
    pub mfa_required: Option<bool>,
    /// Longest API key lifetime, in days.
    pub api_key_max_lifetime_days: Option<i64>,
}

const USER_COLUMNS: &str = "id, org_id, email, display_name, groups, disabled, password_must_change, platform_operator, created_at";
const ORG_COLUMNS: &str = "id, name, mfa_required, api_key_max_lifetime_days, created_at";

impl Store {
    async fn org_from_row(&self, row: &SqliteRow) -> Result<OrgRecord, StoreError> {
        let id: String = row.try_get("id")?;
        let record = ORGS.record(&[&id], Some(&id));
        Ok(OrgRecord {
            name: self
                .open_text(&record, "name", row.try_get("name")?)
                .await?,
            id,
            mfa_required: row.try_get("mfa_required")?,
            api_key_max_lifetime_days: row.try_get("api_key_max_lifetime_days")?,
            created_at: row.try_get("created_at")?,
        })
    }

    async fn user_from_row(&self, row: &SqliteRow) -> Result<UserRecord, StoreError> {
        let id: String = row.try_get("id")?;
        let org_id: String = row.try_get("org_id")?;
        let record = USERS.record(&[&id], Some(&org_id));
        let groups = self.open(&record, "groups", row.try_get("groups")?).await?;
        Ok(UserRecord {
            email: self
                .open_text(&record, "email", row.try_get("email")?)
                .await?,
            display_name: self
                .open_opt(&record, "display_name", row.try_get("display_name")?)
                .await?,
            groups: serde_json::from_slice(&groups).map_err(|_| record.integrity("groups"))?,
            id,
            org_id,
            disabled: row.try_get("disabled")?,
            password_must_change: row.try_get("password_must_change")?,
            platform_operator: row.try_get("platform_operator")?,
            created_at: row.try_get("created_at")?,
        })
    }

    fn email_index(&self, email: &str) -> Result<String, StoreError> {
        self.blind(&USERS, "email_index", None, email)
    }
}

fn json(groups: &[String]) -> String {
    serde_json::to_string(groups).unwrap_or_else(|_| "[]".into())
}

impl Store {
    /// Creates an organization; `false` if the name is taken.
    pub async fn insert_org(&self, org: &OrgRecord) -> Result<bool, StoreError> {
        let mut tx = self.change().await?;
        let record = ORGS.record(&[&org.id], Some(&org.id));
        let done = sqlx::query(
            "INSERT INTO orgs (id, name, name_index, mfa_required, api_key_max_lifetime_days, created_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&org.id)
        .bind(self.seal(&record, "name", org.name.as_bytes())?)
        .bind(self.blind(&ORGS, "name_index", None, &org.name)?)
        .bind(org.mfa_required)
        .bind(org.api_key_max_lifetime_days)
        .bind(org.created_at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let created = Change::new(RecordKind::Org, &org.id, Some(&org.id), ChangeKind::Created)
            .value("name", &org.name);
        self.commit_recorded(tx, [created.into()]).await?;
        Ok(true)
    }

    /// Every organization, oldest first.
    pub async fn list_orgs(&self) -> Result<Vec<OrgRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ORG_COLUMNS} FROM orgs ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(map_rows!(self, rows, org_from_row))
    }

    /// An organization by id.
    pub async fn org(&self, id: &str) -> Result<Option<OrgRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(self.org_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    /// Applies `changes` to organization `id`; the updated record, or
    /// `None` if there is no such organization.
    pub async fn update_org(
        &self,
        id: &str,
        changes: &OrgChanges,
    ) -> Result<Option<OrgRecord>, StoreError> {
        let record = ORGS.record(&[id], Some(id));
        let name = changes
            .name
            .as_deref()
            .map(|name| {
                Ok::<_, StoreError>((
                    self.seal(&record, "name", name.as_bytes())?,
                    self.blind(&ORGS, "name_index", None, name)?,
                ))
            })
            .transpose()?;
        let mut tx = self.change().await?;
        let done = sqlx::query(
            "UPDATE orgs SET name = COALESCE(?, name), name_index = COALESCE(?, name_index),
                             mfa_required = COALESCE(?, mfa_required),
                             api_key_max_lifetime_days = COALESCE(?, api_key_max_lifetime_days)
             WHERE id = ?",
        )
        .bind(name.as_ref().map(|(sealed, _)| sealed))
        .bind(name.as_ref().map(|(_, index)| index))
        .bind(changes.mfa_required)
        .bind(changes.api_key_max_lifetime_days)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let updated = Change::new(RecordKind::Org, id, Some(id), ChangeKind::Updated)
            .field("name", changes.name.is_some())
            .field("mfa_required", changes.mfa_required.is_some())
            .field(
                "api_key_max_lifetime_days",
                changes.api_key_max_lifetime_days.is_some(),
            );
        self.commit_recorded(tx, [updated.into()]).await?;
        self.org(id).await
    }

    /// Deletes organization `id` if nobody belongs to it; whether it did.
    pub async fn delete_empty_org(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.change().await?;
        let done = sqlx::query(
            "DELETE FROM orgs WHERE id = ? AND NOT EXISTS (SELECT 1 FROM users WHERE org_id = orgs.id)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let deleted = Change::new(RecordKind::Org, id, Some(id), ChangeKind::Deleted);
        self.commit_recorded(tx, [deleted.into()]).await?;
        Ok(true)
    }

    /// Creates a user; `false` if the email is taken.
    pub async fn insert_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let record = USERS.record(&[&user.id], Some(&user.org_id));
        let mut tx = self.change().await?;
        let done = sqlx::query(&format!(
            "INSERT INTO users ({USER_COLUMNS}, email_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
        ))
        .bind(&user.id)
        .bind(&user.org_id)
        .bind(self.seal(&record, "email", user.email.trim().as_bytes())?)
        .bind(self.seal_opt(&record, "display_name", user.display_name.as_deref())?)
        .bind(self.seal(&record, "groups", json(&user.groups).as_bytes())?)
        .bind(user.disabled)
        .bind(user.password_must_change)
        .bind(user.platform_operator)
        .bind(user.created_at)
        .bind(self.email_index(&user.email)?)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        // No email: the log is permanent, and the id is enough to find it.
        let created = Change::new(
            RecordKind::User,
            &user.id,
            Some(&user.org_id),
            ChangeKind::Created,
        )
        .value("groups", user.groups.join(" "))
        .field("display_name", user.display_name.is_some())
        .field("disabled", user.disabled)
        .field("password_must_change", user.password_must_change)
        .field("platform_operator", user.platform_operator);
        self.commit_recorded(tx, [created.into()]).await?;
        Ok(true)
    }

    /// A user by id.
    pub async fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(self.user_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    /// A user by email (case-insensitive).
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email_index = ?"
        ))
        .bind(self.email_index(email)?)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some(self.user_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    /// The users of an organization, oldest first.
    pub async fn list_users(&self, org_id: &str) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE org_id = ? ORDER BY created_at, id"
        ))
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(map_rows!(self, rows, user_from_row))
    }

    /// How many users exist in all organizations.
    pub async fn count_users(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Applies `changes` to user `id`; the updated record, if the user exists.
    pub async fn update_user(
        &self,
        id: &str,
        changes: &UserChanges,
    ) -> Result<Option<UserRecord>, StoreError> {
        let mut tx = self.change().await?;
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut user = self.user_from_row(&row).await?;
        let mut updated = Change::new(
            RecordKind::User,
            id,
            Some(&user.org_id),
            ChangeKind::Updated,
        )
        .field("display_name", changes.display_name.is_some())
        .field("groups", changes.groups.is_some())
        .field("disabled", changes.disabled.is_some())
        .field(
            "password_must_change",
            changes.password_must_change.is_some(),
        )
        .field("platform_operator", changes.platform_operator.is_some());
        if let Some(groups) = &changes.groups {
            updated = updated.value("groups", groups.join(" "));
        }
        for (name, value) in [
            ("disabled", changes.disabled),
            ("platform_operator", changes.platform_operator),
        ] {
            if let Some(value) = value {
                updated = updated.value(name, value.to_string());
            }
        }
        if let Some(display_name) = &changes.display_name {
            user.display_name.clone_from(display_name);
        }
        if let Some(groups) = &changes.groups {
            user.groups.clone_from(groups);
        }
        if let Some(disabled) = changes.disabled {
            user.disabled = disabled;
        }
        if let Some(must_change) = changes.password_must_change {
            user.password_must_change = must_change;
        }
        if let Some(operator) = changes.platform_operator {
            user.platform_operator = operator;
        }
        let record = USERS.record(&[id], Some(&user.org_id));
        sqlx::query(
            "UPDATE users SET display_name = ?, groups = ?, disabled = ?, password_must_change = ?,
                              platform_operator = ?
             WHERE id = ?",
        )
        .bind(self.seal_opt(&record, "display_name", user.display_name.as_deref())?)
        .bind(self.seal(&record, "groups", json(&user.groups).as_bytes())?)
        .bind(user.disabled)
        .bind(user.password_must_change)
        .bind(user.platform_operator)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        self.commit_recorded(tx, [updated.into()]).await?;
        Ok(Some(user))
    }

    /// Deletes a user with their sessions and API keys; whether it existed.
    pub async fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.change().await?;
        let org: Option<String> =
            sqlx::query_scalar("DELETE FROM users WHERE id = ? RETURNING org_id")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(org) = org else { return Ok(false) };
        let deleted = Change::new(RecordKind::User, id, Some(&org), ChangeKind::Deleted);
        self.commit_recorded(tx, [deleted.into()]).await?;
        Ok(true)
    }
}
