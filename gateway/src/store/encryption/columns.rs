//! Which columns hold sealed values, how each row is named in their
//! associated data, and the blind indexes computed from them: one table
//! ([`tables`]) that the store's reads and writes, the migration of older
//! stores, re-encryption after a rotation and `keys status` all follow.

use super::blind_index::BlindIndex;
use super::envelope::{KEY_ID_LEN, PREFIX, SealError};
use super::keyring::Keyring;
use super::legacy::{LegacySealer, VERSION as LEGACY_VERSION};
use serde::Serialize;
use sqlx::{Row as _, SqlitePool};
use std::collections::BTreeMap;

/// How a blind index's input is normalised.
#[derive(Debug, Clone, Copy)]
pub(in crate::store) enum Normalise {
    /// As stored.
    Exact,
    /// Trimmed and ASCII-lowercased (emails, domains).
    CaseInsensitive,
}

impl Normalise {
    fn apply(self, value: &str) -> String {
        match self {
            Self::Exact => value.to_string(),
            Self::CaseInsensitive => value.trim().to_ascii_lowercase(),
        }
    }
}

/// A blind index column computed from a sealed column.
#[derive(Debug)]
pub(in crate::store) struct Index {
    /// The index column.
    pub column: &'static str,
    /// The sealed column it is computed from.
    pub from: &'static str,
    /// The column its uniqueness is scoped by (mixed into the HMAC).
    pub within: Option<&'static str>,
    /// How the value is normalised first.
    pub normalise: Normalise,
}

/// How older stores bound a format-1 value of a column: its associated
/// data, from the row's values.
type LegacyContext = fn(&dyn Fn(&str) -> String) -> Vec<u8>;

/// A table holding sealed values.
#[derive(Debug)]
pub(in crate::store) struct Table {
    /// Its name.
    pub name: &'static str,
    /// The columns (clear, stable for the row's life) whose values,
    /// joined by `/`, name the row in associated data.
    identity: &'static [&'static str],
    /// The organization column, if any.
    org: Option<&'static str>,
    /// Its primary key, to update a row during re-encryption.
    primary_key: &'static [&'static str],
    /// The sealed columns.
    sealed: &'static [&'static str],
    /// Blind indexes over sealed columns.
    indexes: &'static [Index],
    /// The column older stores sealed in format 1, and how.
    legacy: Option<Legacy>,
}

/// A column older stores sealed in format 1.
#[derive(Debug)]
pub(in crate::store) struct Legacy {
    /// The column.
    column: &'static str,
    /// The clear columns its context is made of.
    reads: &'static [&'static str],
    /// Its associated data, from those columns' values.
    context: LegacyContext,
}

/// Every table with sealed values.
pub(in crate::store) mod tables {
    use super::{Index, Legacy, Normalise, Table};

    /// Organizations.
    pub static ORGS: Table = Table {
        name: "orgs",
        identity: &["id"],
        org: Some("id"),
        primary_key: &["id"],
        sealed: &["name"],
        indexes: &[Index {
            column: "name_index",
            from: "name",
            within: None,
            normalise: Normalise::Exact,
        }],
        legacy: None,
    };
    /// Users.
    pub static USERS: Table = Table {
        name: "users",
        identity: &["id"],
        org: Some("org_id"),
        primary_key: &["id"],
        sealed: &["email", "display_name", "groups"],
        indexes: &[Index {
            column: "email_index",
            from: "email",
            within: None,
            normalise: Normalise::CaseInsensitive,
        }],
        legacy: None,
    };
    /// Sessions.
    pub static SESSIONS: Table = Table {
        name: "sessions",
        identity: &["id"],
        org: Some("org_id"),
        primary_key: &["id"],
        sealed: &["principal", "client_ip", "user_agent"],
        indexes: &[],
        legacy: None,
    };
    /// API keys (their secrets are only ever stored as keyed hashes).
    pub static API_KEYS: Table = Table {
        name: "api_keys",
        identity: &["id"],
        org: Some("org_id"),
        primary_key: &["id"],
        sealed: &["name", "scope"],
        indexes: &[],
        legacy: None,
    };
    /// Token signing keys.
    pub static SIGNING_KEYS: Table = Table {
        name: "signing_keys",
        identity: &["kid"],
        org: None,
        primary_key: &["kid"],
        sealed: &["private_key"],
        indexes: &[],
        legacy: Some(Legacy {
            column: "private_key",
            reads: &["kid"],
            context: |row| format!("signing-key\0{}", row("kid")).into_bytes(),
        }),
    };
    /// Login flows in progress.
    pub static LOGIN_FLOWS: Table = Table {
        name: "login_flows",
        identity: &["id_hash"],
        org: None,
        primary_key: &["id_hash"],
        sealed: &["state"],
        indexes: &[],
        legacy: Some(Legacy {
            column: "state",
            reads: &["id_hash"],
            context: |row| format!("login-flow\0{}", row("id_hash")).into_bytes(),
        }),
    };
    /// Plugins' key-value records: keys and values sealed.
    pub static PLUGIN_KV: Table = Table {
        name: "plugin_kv",
        identity: &["namespace", "key_index"],
        org: None,
        primary_key: &["namespace", "key"],
        sealed: &["key", "value"],
        // Computed by `BlindIndex::of_kv_key`, not `of` (see `index_value`).
        indexes: &[Index {
            column: "key_index",
            from: "key",
            within: Some("namespace"),
            normalise: Normalise::Exact,
        }],
        legacy: Some(Legacy {
            column: "value",
            reads: &["namespace", "key"],
            context: |row| format!("kv\0{}\0{}", row("namespace"), row("key")).into_bytes(),
        }),
    };
    /// Environments.
    pub static ENVIRONMENTS: Table = Table {
        name: "environments",
        identity: &["id"],
        org: Some("org_id"),
        primary_key: &["id"],
        sealed: &["name", "description"],
        indexes: &[Index {
            column: "name_index",
            from: "name",
            within: Some("org_id"),
            normalise: Normalise::Exact,
        }],
        legacy: None,
    };
    /// Database connections.
    pub static CONNECTIONS: Table = Table {
        name: "connections",
        identity: &["id"],
        org: Some("org_id"),
        primary_key: &["id"],
        sealed: &["name", "host", "database"],
        indexes: &[Index {
            column: "name_index",
            from: "name",
            within: Some("environment_id"),
            normalise: Normalise::Exact,
        }],
        legacy: None,
    };
    /// Custom roles.
    pub static ROLES: Table = Table {
        name: "roles",
        identity: &["id"],
        org: Some("org_id"),
        primary_key: &["id"],
        sealed: &["name", "description", "permissions"],
        indexes: &[Index {
            column: "name_index",
            from: "name",
            within: Some("org_id"),
            normalise: Normalise::Exact,
        }],
        legacy: None,
    };
    /// Role bindings.
    pub static BINDINGS: Table = Table {
        name: "bindings",
        identity: &["id"],
        org: Some("org_id"),
        primary_key: &["id"],
        sealed: &["subject"],
        // Not scoped by organization: a deleted user's or key's bindings
        // are found by subject alone.
        indexes: &[Index {
            column: "subject_index",
            from: "subject",
            within: None,
            normalise: Normalise::Exact,
        }],
        legacy: None,
    };
    /// Audit events: the record hashed into the chain. The chain's hashes
    /// bind each record to its place; the associated data binds it to
    /// its chain.
    pub static AUDIT_EVENTS: Table = Table {
        name: "audit_events",
        identity: &["chain"],
        org: Some("org_id"),
        primary_key: &["chain", "seq"],
        sealed: &["record"],
        indexes: &[],
        legacy: None,
    };
    /// Audit checkpoint signing keys.
    pub static AUDIT_KEYS: Table = Table {
        name: "audit_keys",
        identity: &["id"],
        org: None,
        primary_key: &["id"],
        sealed: &["private_key"],
        indexes: &[],
        legacy: Some(Legacy {
            column: "private_key",
            reads: &["id"],
            context: |row| format!("audit_keys/{}", row("id")).into_bytes(),
        }),
    };
    /// Identity providers: name and settings (with their secrets).
    pub static IDENTITY_PROVIDERS: Table = Table {
        name: "identity_providers",
        identity: &["id"],
        org: Some("org_id"),
        primary_key: &["id"],
        sealed: &["name", "settings"],
        indexes: &[Index {
            column: "name_index",
            from: "name",
            within: Some("org_id"),
            normalise: Normalise::Exact,
        }],
        legacy: Some(Legacy {
            column: "settings",
            reads: &["id", "org_id"],
            context: |row| {
                format!("identity-provider\0{}\0{}", row("id"), row("org_id")).into_bytes()
            },
        }),
    };
    /// People linked to an identity provider.
    pub static SSO_IDENTITIES: Table = Table {
        name: "sso_identities",
        identity: &["provider_id", "subject_index"],
        org: None,
        primary_key: &["provider_id", "subject"],
        sealed: &["subject", "issuer"],
        indexes: &[Index {
            column: "subject_index",
            from: "subject",
            within: Some("provider_id"),
            normalise: Normalise::Exact,
        }],
        legacy: None,
    };
    /// What a provider keeps with each session.
    pub static SSO_SESSIONS: Table = Table {
        name: "sso_sessions",
        identity: &["session_id"],
        org: None,
        primary_key: &["session_id"],
        sealed: &["state"],
        indexes: &[],
        legacy: Some(Legacy {
            column: "state",
            reads: &["session_id", "provider_id"],
            context: |row| {
                format!("sso-session\0{}\0{}", row("session_id"), row("provider_id")).into_bytes()
            },
        }),
    };
    /// Verified email domains.
    pub static ORG_DOMAINS: Table = Table {
        name: "org_domains",
        identity: &["domain_index"],
        org: Some("org_id"),
        primary_key: &["domain"],
        sealed: &["domain"],
        indexes: &[Index {
            column: "domain_index",
            from: "domain",
            within: None,
            normalise: Normalise::CaseInsensitive,
        }],
        legacy: None,
    };
    /// Agents' public keys: their names.
    pub static AGENT_KEYS: Table = Table {
        name: "agent_keys",
        identity: &["environment_id", "id"],
        org: Some("org_id"),
        primary_key: &["environment_id", "id"],
        sealed: &["name"],
        indexes: &[],
        legacy: None,
    };
    /// Connection credentials: the sealed-for-agents ciphertext or the
    /// reference.
    pub static CONNECTION_CREDENTIALS: Table = Table {
        name: "connection_credentials",
        identity: &["connection_id"],
        org: Some("org_id"),
        primary_key: &["connection_id"],
        sealed: &["body"],
        indexes: &[],
        legacy: None,
    };

    /// All of them.
    pub static ALL: [&Table; 19] = [
        &ORGS,
        &USERS,
        &SESSIONS,
        &API_KEYS,
        &SIGNING_KEYS,
        &LOGIN_FLOWS,
        &PLUGIN_KV,
        &ENVIRONMENTS,
        &CONNECTIONS,
        &ROLES,
        &BINDINGS,
        &AUDIT_EVENTS,
        &AUDIT_KEYS,
        &IDENTITY_PROVIDERS,
        &SSO_IDENTITIES,
        &SSO_SESSIONS,
        &ORG_DOMAINS,
        &AGENT_KEYS,
        &CONNECTION_CREDENTIALS,
    ];
}

/// One row of a table, as associated data names it.
#[derive(Debug, Clone)]
pub(in crate::store) struct Record {
    table: &'static Table,
    identity: String,
    org: String,
}

impl Record {
    /// The associated data of `column` of this record.
    pub(in crate::store) fn aad(&self, column: &str) -> Vec<u8> {
        let mut bytes = b"portcullis-record-v1".to_vec();
        for part in [self.table.name, &self.identity, &self.org, column] {
            bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
            bytes.extend_from_slice(part.as_bytes());
        }
        bytes
    }

    /// The integrity error for `column` of this record.
    pub(in crate::store) fn integrity(&self, column: &str) -> SealError {
        SealError::Integrity {
            record: format!("{}/{}", self.table.name, self.identity),
            column: column.to_string(),
        }
    }
}

impl Table {
    /// The record whose identity columns hold `identity` (in order) in
    /// organization `org`.
    pub(in crate::store) fn record(&'static self, identity: &[&str], org: Option<&str>) -> Record {
        debug_assert_eq!(identity.len(), self.identity.len(), "{}", self.name);
        Record {
            table: self,
            identity: identity.join("/"),
            org: org.unwrap_or_default().to_string(),
        }
    }

    /// The blind index `column` of `value`, scoped by `within` (the value
    /// of the index's scoping column, if it has one).
    pub(in crate::store) fn index_value(
        &self,
        index: &BlindIndex,
        column: &str,
        within: Option<&str>,
        value: &str,
    ) -> String {
        let spec = self.indexes.iter().find(|i| i.column == column);
        debug_assert!(
            spec.is_some(),
            "{}.{column} is not a blind index",
            self.name
        );
        let value = spec.map_or(Normalise::Exact, |s| s.normalise).apply(value);
        if self.name == tables::PLUGIN_KV.name {
            return index.of_kv_key(within.unwrap_or_default(), &value);
        }
        let scope = format!("{}.{column}\0{}", self.name, within.unwrap_or_default());
        index.of(&scope, &value)
    }
}

/// A stored value as SQLite holds it.
#[derive(Debug, Clone)]
enum Stored {
    Null,
    Text(String),
    Blob(Vec<u8>),
}

/// What a re-encryption pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ResealReport {
    /// Rows re-sealed.
    pub rows: u64,
    /// Rows that changed under the pass (written meanwhile) and were left.
    pub skipped: u64,
}

/// Which values a pass re-seals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) enum Pass {
    /// Values not sealed at all, or in format 1 (migrating a store).
    Unsealed,
    /// Every value not under the current data key (after a rotation).
    NotCurrent,
}

const BATCH: i64 = 256;

/// Re-seals `table`'s values that `pass` selects under the current data
/// key, filling blind indexes, in batches.
pub(in crate::store) async fn reseal(
    pool: &SqlitePool,
    keyring: &Keyring,
    legacy: Option<&LegacySealer>,
    table: &'static Table,
    pass: Pass,
) -> Result<ResealReport, crate::store::StoreError> {
    let current = keyring.current_key_id()?;
    let current_prefix = format!("{PREFIX}{current}.");
    let needs = table
        .sealed
        .iter()
        .map(|c| match pass {
            Pass::Unsealed => format!(
                "({c} IS NOT NULL AND (typeof({c}) != 'text' OR substr({c}, 1, {}) != '{PREFIX}'))",
                PREFIX.len()
            ),
            Pass::NotCurrent => format!(
                "({c} IS NOT NULL AND (typeof({c}) != 'text' OR substr({c}, 1, {}) != '{current_prefix}'))",
                current_prefix.len()
            ),
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    let mut clear: Vec<&str> = table.identity.to_vec();
    clear.extend(table.org);
    clear.extend(table.primary_key.iter().copied());
    clear.extend(table.indexes.iter().filter_map(|i| i.within));
    clear.extend(table.indexes.iter().map(|i| i.column));
    if let Some(legacy) = &table.legacy {
        clear.extend(legacy.reads.iter().copied());
    }
    clear.retain(|c| !table.sealed.contains(c));
    clear.sort_unstable();
    clear.dedup();
    let select = format!(
        "SELECT {}, {} FROM {} WHERE {needs} LIMIT {BATCH}",
        clear
            .iter()
            .map(|c| format!("CAST({c} AS TEXT) AS {c}"))
            .collect::<Vec<_>>()
            .join(", "),
        table
            .sealed
            .iter()
            .map(|c| format!("{c}, typeof({c}) AS {c}__type"))
            .collect::<Vec<_>>()
            .join(", "),
        table.name
    );
    let index = keyring.index()?;
    let mut report = ResealReport::default();
    loop {
        let rows = sqlx::query(&select).fetch_all(pool).await?;
        if rows.is_empty() {
            return Ok(report);
        }
        let mut changed = 0;
        // One write transaction per batch: one commit per 256 rows.
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        for row in &rows {
            let mut values: BTreeMap<&str, Option<String>> = BTreeMap::new();
            for c in &clear {
                values.insert(c, row.try_get::<Option<String>, _>(*c)?);
            }
            let mut stored = Vec::new();
            for c in table.sealed {
                let kind: String = row.try_get(format!("{c}__type").as_str())?;
                let value = match kind.as_str() {
                    "null" => Stored::Null,
                    "blob" => Stored::Blob(row.try_get::<Vec<u8>, _>(*c)?),
                    _ => Stored::Text(row.try_get::<String, _>(*c)?),
                };
                stored.push(value);
            }
            changed += reseal_row(&mut tx, keyring, legacy, &index, table, values, stored).await?;
        }
        tx.commit().await?;
        report.rows += changed;
        report.skipped += rows.len() as u64 - changed;
        if changed == 0 {
            return Ok(report);
        }
    }
}

async fn reseal_row(
    conn: &mut sqlx::SqliteConnection,
    keyring: &Keyring,
    legacy: Option<&LegacySealer>,
    index: &BlindIndex,
    table: &'static Table,
    mut values: BTreeMap<&'static str, Option<String>>,
    stored: Vec<Stored>,
) -> Result<u64, crate::store::StoreError> {
    let text = |values: &BTreeMap<&str, Option<String>>, c: &str| {
        values.get(c).cloned().flatten().unwrap_or_default()
    };
    let identity_of = |values: &BTreeMap<&str, Option<String>>| {
        let parts: Vec<String> = table.identity.iter().map(|c| text(values, c)).collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        table.record(&parts, table.org.map(|o| text(values, o)).as_deref())
    };
    let before = identity_of(&values);
    // Plain and sealed-under-a-data-key values first: the format-1
    // context may need them (a key-value record's key).
    let mut plain: Vec<Option<Vec<u8>>> = vec![None; stored.len()];
    for (i, (column, value)) in table.sealed.iter().zip(&stored).enumerate() {
        plain[i] = match value {
            Stored::Null => None,
            Stored::Text(text) if super::envelope::key_id_of(text).is_some() => Some(
                keyring
                    .open(&before.aad(column), text)
                    .await?
                    .ok_or_else(|| before.integrity(column))?,
            ),
            Stored::Text(text) => Some(text.clone().into_bytes()),
            Stored::Blob(_) => None,
        };
        if let (Some(bytes), Stored::Text(_)) = (&plain[i], value) {
            values.insert(column, Some(String::from_utf8_lossy(bytes).into_owned()));
        }
    }
    for (i, (column, value)) in table.sealed.iter().zip(&stored).enumerate() {
        let Stored::Blob(blob) = value else { continue };
        let opened = match (&table.legacy, legacy) {
            (Some(spec), Some(sealer))
                if spec.column == *column && blob.first() == Some(&LEGACY_VERSION) =>
            {
                let lookup = |c: &str| text(&values, c);
                sealer.open(&(spec.context)(&lookup), blob)
            }
            _ => Some(blob.clone()),
        };
        plain[i] = Some(opened.ok_or_else(|| before.integrity(column))?);
    }
    // Blind indexes from the plaintext, then the identity they are part of.
    let mut index_values = Vec::new();
    for spec in table.indexes {
        let position = table.sealed.iter().position(|c| *c == spec.from);
        let Some(Some(source)) = position.map(|p| plain[p].clone()) else {
            index_values.push(None);
            continue;
        };
        let source = String::from_utf8_lossy(&source).into_owned();
        let within = spec.within.map(|w| text(&values, w));
        let value = table.index_value(index, spec.column, within.as_deref(), &source);
        values.insert(spec.column, Some(value.clone()));
        index_values.push(Some(value));
    }
    let after = identity_of(&values);
    let mut sets = Vec::new();
    let mut resealed = Vec::new();
    for (i, column) in table.sealed.iter().enumerate() {
        sets.push(format!("{column} = ?"));
        resealed.push(match &plain[i] {
            Some(bytes) => Some(keyring.seal(&after.aad(column), bytes)?),
            None => None,
        });
    }
    for spec in table.indexes {
        sets.push(format!("{} = ?", spec.column));
    }
    let mut conditions: Vec<String> = table
        .primary_key
        .iter()
        .filter(|c| !table.sealed.contains(c))
        // Text compares equal to an integer column's value by affinity,
        // and the primary key's index is used.
        .map(|c| format!("{c} = ?"))
        .collect();
    conditions.extend(table.sealed.iter().map(|c| format!("{c} IS ?")));
    let sql = format!(
        "UPDATE {} SET {} WHERE {}",
        table.name,
        sets.join(", "),
        conditions.join(" AND ")
    );
    let mut query = sqlx::query(&sql);
    for value in resealed {
        query = query.bind(value);
    }
    for value in index_values {
        query = query.bind(value);
    }
    for c in table
        .primary_key
        .iter()
        .filter(|c| !table.sealed.contains(c))
    {
        query = query.bind(text(&values, c));
    }
    for value in stored {
        query = match value {
            Stored::Null => query.bind(None::<String>),
            Stored::Text(text) => query.bind(text),
            Stored::Blob(blob) => query.bind(blob),
        };
    }
    Ok(query.execute(conn).await?.rows_affected())
}

/// How many values each data key seals, per table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyUsage {
    /// The data key's id, or `unsealed` for values not sealed yet.
    pub key: String,
    /// The table.
    pub table: String,
    /// How many values.
    pub values: i64,
}

/// What each data key covers.
pub(in crate::store) async fn usage(pool: &SqlitePool) -> Result<Vec<KeyUsage>, sqlx::Error> {
    let mut usage = Vec::new();
    for table in tables::ALL {
        for column in table.sealed {
            let sql = format!(
                "SELECT CASE WHEN typeof({column}) = 'text' AND substr({column}, 1, {p}) = '{PREFIX}'
                             THEN substr({column}, {start}, {KEY_ID_LEN}) ELSE 'unsealed' END AS key,
                        COUNT(*) AS n
                 FROM {table} WHERE {column} IS NOT NULL GROUP BY 1",
                p = PREFIX.len(),
                start = PREFIX.len() + 1,
                table = table.name,
            );
            for row in sqlx::query(&sql).fetch_all(pool).await? {
                usage.push(KeyUsage {
                    key: row.try_get("key")?,
                    table: table.name.to_string(),
                    values: row.try_get("n")?,
                });
            }
        }
    }
    Ok(usage)
}
