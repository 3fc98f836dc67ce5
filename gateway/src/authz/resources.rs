//! Environments and connections: the resource tree bindings are scoped to.

use super::{Authz, AuthzError, check_description, check_name, new_id};
use crate::store::{ConnectionChanges, ConnectionRecord, EnvironmentRecord, Removal};

/// Connection kinds the platform knows.
pub const CONNECTION_KINDS: &[&str] = &[
    "postgres",
    "mysql",
    "mariadb",
    "sqlserver",
    "oracle",
    "redshift",
    "snowflake",
    "clickhouse",
    "mongodb",
];

/// TLS modes, as libpq names them.
pub const TLS_MODES: &[&str] = &["disable", "require", "verify-ca", "verify-full"];

/// The fields of an environment; on create `name` is required.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentInput {
    /// Name, unique in the organization.
    pub name: Option<String>,
    /// Description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), AuthzError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(AuthzError::Invalid(format!(
            "`{field}` must be one of {}",
            allowed.join(", ")
        )))
    }
}

fn check_host(host: &str) -> Result<(), AuthzError> {
    let ip = host.parse::<std::net::IpAddr>().is_ok();
    let name = (1..=253).contains(&host.len())
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ip || name {
        Ok(())
    } else {
        Err(AuthzError::Invalid(
            "`host` must be a host name or an IP address".into(),
        ))
    }
}

fn check_connection(input: &ConnectionChanges) -> Result<(), AuthzError> {
    if let Some(name) = &input.name {
        check_name("name", name)?;
    }
    if let Some(kind) = &input.kind {
        one_of("kind", kind, CONNECTION_KINDS)?;
    }
    if let Some(host) = &input.host {
        check_host(host)?;
    }
    if input.port == Some(0) {
        return Err(AuthzError::Invalid("`port` must be 1–65535".into()));
    }
    if let Some(Some(database)) = &input.database {
        check_name("database", database)?;
    }
    if let Some(mode) = &input.tls_mode {
        one_of("tls_mode", mode, TLS_MODES)?;
    }
    Ok(())
}

fn required<T: Clone>(field: &str, value: &Option<T>) -> Result<T, AuthzError> {
    value
        .clone()
        .ok_or_else(|| AuthzError::Invalid(format!("`{field}` is required")))
}

impl Authz {
    /// Creates an environment.
    pub async fn create_environment(
        &self,
        org: &str,
        input: &EnvironmentInput,
    ) -> Result<EnvironmentRecord, AuthzError> {
        let name = required("name", &input.name)?;
        check_name("name", &name)?;
        let description = input.description.clone().flatten();
        check_description(description.as_deref())?;
        let now = crate::identity::now();
        let env = EnvironmentRecord {
            id: new_id("env_")?,
            org_id: org.to_string(),
            name,
            description,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_environment(&env).await?;
        self.refresh().await?;
        Ok(env)
    }

    /// Changes an environment.
    pub async fn update_environment(
        &self,
        org: &str,
        id: &str,
        input: &EnvironmentInput,
    ) -> Result<EnvironmentRecord, AuthzError> {
        if let Some(name) = &input.name {
            check_name("name", name)?;
        }
        if let Some(description) = &input.description {
            check_description(description.as_deref())?;
        }
        let updated = self
            .store
            .update_environment(
                org,
                id,
                input.name.as_deref(),
                input.description.as_ref().map(Option::as_deref),
                crate::identity::now(),
            )
            .await?
            .ok_or(AuthzError::NotFound("environment"))?;
        self.refresh().await?;
        Ok(updated)
    }

    /// Deletes an environment; one with connections only with `cascade`.
    /// Returns how many connections went with it.
    pub async fn delete_environment(
        &self,
        org: &str,
        id: &str,
        cascade: bool,
    ) -> Result<u64, AuthzError> {
        match self.store.delete_environment(org, id, cascade).await? {
            Removal::Deleted(connections) => {
                self.refresh().await?;
                Ok(connections)
            }
            Removal::Missing => Err(AuthzError::NotFound("environment")),
            Removal::InUse(n) => Err(AuthzError::InUse(format!(
                "the environment still has {n} connection(s); delete them first, or pass ?cascade=true to delete them with it"
            ))),
        }
    }

    /// Creates a connection in environment `env`.
    pub async fn create_connection(
        &self,
        org: &str,
        env: &str,
        input: &ConnectionChanges,
    ) -> Result<ConnectionRecord, AuthzError> {
        // What the path names comes first: another tenant's environment is
        // not found, whatever the body holds.
        if self.store.environment(org, env).await?.is_none() {
            return Err(AuthzError::NotFound("environment"));
        }
        check_connection(input)?;
        let now = crate::identity::now();
        let conn = ConnectionRecord {
            id: new_id("con_")?,
            org_id: org.to_string(),
            environment_id: env.to_string(),
            name: required("name", &input.name)?,
            kind: required("kind", &input.kind)?,
            host: required("host", &input.host)?,
            port: required("port", &input.port)?,
            database: input.database.clone().flatten(),
            tls_mode: input
                .tls_mode
                .clone()
                .unwrap_or_else(|| "verify-full".into()),
            created_at: now,
            updated_at: now,
        };
        self.store.insert_connection(&conn).await?;
        self.refresh().await?;
        Ok(conn)
    }

    /// Changes a connection.
    pub async fn update_connection(
        &self,
        org: &str,
        id: &str,
        input: &ConnectionChanges,
    ) -> Result<ConnectionRecord, AuthzError> {
        check_connection(input)?;
        let updated = self
            .store
            .update_connection(org, id, input, crate::identity::now())
            .await?
            .ok_or(AuthzError::NotFound("connection"))?;
        self.refresh().await?;
        Ok(updated)
    }

    /// Deletes a connection (and the bindings scoped to it).
    pub async fn delete_connection(&self, org: &str, id: &str) -> Result<(), AuthzError> {
        match self.store.delete_connection(org, id).await? {
            Removal::Deleted(_) => {
                self.refresh().await?;
                Ok(())
            }
            Removal::Missing | Removal::InUse(_) => Err(AuthzError::NotFound("connection")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_fields_are_checked() {
        let good = ConnectionChanges {
            name: Some("orders".into()),
            kind: Some("postgres".into()),
            host: Some("db.internal".into()),
            port: Some(5432),
            database: Some(Some("orders".into())),
            tls_mode: Some("require".into()),
        };
        assert!(check_connection(&good).is_ok());
        for bad in [
            ConnectionChanges {
                kind: Some("excel".into()),
                ..good.clone()
            },
            ConnectionChanges {
                host: Some("db internal".into()),
                ..good.clone()
            },
            ConnectionChanges {
                host: Some("-db".into()),
                ..good.clone()
            },
            ConnectionChanges {
                port: Some(0),
                ..good.clone()
            },
            ConnectionChanges {
                tls_mode: Some("prefer".into()),
                ..good.clone()
            },
            ConnectionChanges {
                name: Some(" x".into()),
                ..good.clone()
            },
        ] {
            assert!(check_connection(&bad).is_err(), "{bad:?}");
        }
        assert!(check_host("10.0.0.1").is_ok() && check_host("::1").is_ok());
    }
}
