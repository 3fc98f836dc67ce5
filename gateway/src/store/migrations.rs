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

const MIGRATIONS: &[Migration] = &[
    Migration {
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
    },
    Migration {
        version: 2,
        name: "organizations, users, sessions, API keys and signing keys",
        sql: "CREATE TABLE orgs (
                  id TEXT PRIMARY KEY,
                  name TEXT NOT NULL UNIQUE,
                  mfa_required INTEGER NOT NULL DEFAULT 0,
                  api_key_max_lifetime_days INTEGER NOT NULL DEFAULT 90,
                  created_at INTEGER NOT NULL
              );
              CREATE TABLE users (
                  id TEXT PRIMARY KEY,
                  org_id TEXT NOT NULL REFERENCES orgs(id),
                  email TEXT NOT NULL UNIQUE COLLATE NOCASE,
                  display_name TEXT,
                  groups TEXT NOT NULL DEFAULT '[]', -- JSON array
                  disabled INTEGER NOT NULL DEFAULT 0,
                  password_must_change INTEGER NOT NULL DEFAULT 0,
                  created_at INTEGER NOT NULL
              );
              CREATE INDEX users_org ON users(org_id);
              CREATE TABLE sessions (
                  id TEXT PRIMARY KEY,
                  secret_hash BLOB NOT NULL, -- HMAC-SHA-256 of the cookie secret; the secret is never stored
                  user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
                  org_id TEXT,
                  principal TEXT NOT NULL, -- JSON: subject, issuer, email, amr
                  pending TEXT NOT NULL DEFAULT '[]', -- JSON: actions required before full access
                  created_at INTEGER NOT NULL,
                  last_seen_at INTEGER NOT NULL,
                  expires_at INTEGER NOT NULL,
                  revoked_at INTEGER,
                  client_ip TEXT NOT NULL DEFAULT '',
                  user_agent TEXT NOT NULL DEFAULT ''
              );
              CREATE INDEX sessions_user ON sessions(user_id);
              CREATE TABLE api_keys (
                  id TEXT PRIMARY KEY,
                  org_id TEXT NOT NULL REFERENCES orgs(id),
                  owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                  name TEXT NOT NULL,
                  scope TEXT, -- JSON array of groups, NULL = the owner's
                  secret_hash BLOB NOT NULL, -- HMAC-SHA-256 of the secret; the secret is never stored
                  created_at INTEGER NOT NULL,
                  created_by TEXT NOT NULL,
                  expires_at INTEGER NOT NULL,
                  last_used_at INTEGER,
                  revoked_at INTEGER
              );
              CREATE INDEX api_keys_org ON api_keys(org_id);
              CREATE INDEX api_keys_owner ON api_keys(owner_id);
              CREATE TABLE signing_keys (
                  kid TEXT PRIMARY KEY,
                  private_key BLOB NOT NULL, -- sealed PKCS#8
                  created_at INTEGER NOT NULL,
                  retired_at INTEGER
              );",
    },
    Migration {
        version: 3,
        name: "login flows in progress",
        sql: "CREATE TABLE login_flows (
                  id_hash TEXT PRIMARY KEY, -- SHA-256 of the flow id; the id itself is never stored
                  provider TEXT NOT NULL,
                  state BLOB NOT NULL, -- sealed plugin state, bound to the row
                  started_at INTEGER NOT NULL
              ) WITHOUT ROWID;
              CREATE INDEX login_flows_started ON login_flows(started_at);",
    },
    Migration {
        version: 4,
        name: "platform operators",
        // Cross-organization operations (creating and listing
        // organizations) belong to platform operators only. A store made
        // before this migration keeps its bootstrap administrator (the
        // first administrator of the default organization) as one.
        sql: "ALTER TABLE users ADD COLUMN platform_operator INTEGER NOT NULL DEFAULT 0;
              UPDATE users SET platform_operator = 1 WHERE id = (
                  SELECT id FROM users
                  WHERE org_id = 'org_default' AND groups LIKE '%\"admins\"%'
                  ORDER BY created_at, id LIMIT 1
              );",
    },
    Migration {
        version: 5,
        name: "expiring plugin key-value records",
        sql: "ALTER TABLE plugin_kv ADD COLUMN expires_at INTEGER; -- Unix seconds; NULL never expires
              CREATE INDEX plugin_kv_expires ON plugin_kv(expires_at) WHERE expires_at IS NOT NULL;",
    },
    Migration {
        version: 6,
        name: "environments, connections, roles, bindings and the policy version",
        sql: "CREATE TABLE environments (
                  id TEXT PRIMARY KEY,
                  org_id TEXT NOT NULL REFERENCES orgs(id),
                  name TEXT NOT NULL,
                  description TEXT,
                  created_at INTEGER NOT NULL,
                  updated_at INTEGER NOT NULL,
                  UNIQUE (org_id, name)
              );
              CREATE TABLE connections (
                  id TEXT PRIMARY KEY,
                  org_id TEXT NOT NULL REFERENCES orgs(id),
                  environment_id TEXT NOT NULL REFERENCES environments(id),
                  name TEXT NOT NULL,
                  kind TEXT NOT NULL,
                  host TEXT NOT NULL,
                  port INTEGER NOT NULL,
                  database TEXT,
                  tls_mode TEXT NOT NULL,
                  created_at INTEGER NOT NULL,
                  updated_at INTEGER NOT NULL,
                  UNIQUE (environment_id, name)
              );
              CREATE INDEX connections_environment ON connections(environment_id);
              CREATE TABLE roles (
                  id TEXT PRIMARY KEY,
                  org_id TEXT NOT NULL REFERENCES orgs(id),
                  name TEXT NOT NULL,
                  description TEXT,
                  permissions TEXT NOT NULL, -- JSON array of catalogue patterns
                  created_at INTEGER NOT NULL,
                  updated_at INTEGER NOT NULL,
                  UNIQUE (org_id, name)
              );
              CREATE TABLE bindings (
                  id TEXT PRIMARY KEY,
                  org_id TEXT NOT NULL REFERENCES orgs(id),
                  subject TEXT NOT NULL, -- user:<id> | group:<name> | api_key:<id>
                  role_id TEXT NOT NULL, -- a predefined role's name or a custom role's id
                  scope_kind TEXT NOT NULL, -- organization | environment | connection
                  scope_id TEXT,
                  created_at INTEGER NOT NULL,
                  created_by TEXT NOT NULL,
                  UNIQUE (org_id, subject, role_id, scope_kind, scope_id)
              );
              CREATE INDEX bindings_subject ON bindings(subject);
              CREATE TABLE policy_version (
                  id INTEGER PRIMARY KEY CHECK (id = 1),
                  version INTEGER NOT NULL
              );
              INSERT INTO policy_version (id, version) VALUES (1, 1);
              -- Platform operators administered their organization before
              -- roles existed: they keep doing so, now through a binding.
              INSERT INTO bindings (id, org_id, subject, role_id, scope_kind, scope_id, created_at, created_by)
                  SELECT 'bnd_' || id, org_id, 'user:' || id, 'admin', 'organization', NULL, unixepoch(), 'migration'
                  FROM users WHERE platform_operator = 1;",
    },
    Migration {
        version: 7,
        name: "the audit log: hash chains, checkpoints and signing keys",
        // One chain per organization (and `platform`), so each tenant can
        // export and verify theirs whole. The columns after `seq` copy
        // fields of `record` for queries; `record` is what is hashed.
        sql: "CREATE TABLE audit_events (
                  chain TEXT NOT NULL,
                  seq INTEGER NOT NULL,
                  at INTEGER NOT NULL, -- Unix milliseconds
                  org_id TEXT,
                  actor TEXT NOT NULL,
                  action TEXT NOT NULL,
                  resource TEXT,
                  outcome TEXT NOT NULL,
                  record TEXT NOT NULL, -- the JSON hashed into the chain, byte for byte
                  prev_hash BLOB NOT NULL,
                  hash BLOB NOT NULL, -- SHA-256 over the domain, prev_hash and record
                  PRIMARY KEY (chain, seq)
              ) WITHOUT ROWID;
              CREATE INDEX audit_events_at ON audit_events(chain, at);
              CREATE TABLE audit_checkpoints (
                  chain TEXT NOT NULL,
                  seq INTEGER NOT NULL,
                  hash BLOB NOT NULL,
                  at INTEGER NOT NULL,
                  key_id TEXT NOT NULL,
                  signature BLOB NOT NULL, -- Ed25519 over chain, seq, hash and at
                  PRIMARY KEY (chain, seq)
              ) WITHOUT ROWID;
              CREATE TABLE audit_keys (
                  id TEXT PRIMARY KEY,
                  public_key BLOB NOT NULL,
                  private_key BLOB NOT NULL, -- sealed PKCS#8
                  created_at INTEGER NOT NULL,
                  retired_at INTEGER
              );",
    },
    Migration {
        version: 8,
        name: "single sign-on: identity providers, linked identities, verified domains",
        sql: "CREATE TABLE identity_providers (
                  id TEXT PRIMARY KEY,
                  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
                  name TEXT NOT NULL,
                  plugin TEXT NOT NULL, -- the configured auth-provider plugin it instantiates
                  settings BLOB NOT NULL, -- sealed JSON: the plugin config and its secrets
                  revision INTEGER NOT NULL DEFAULT 1, -- bumped on every change
                  created_at INTEGER NOT NULL,
                  updated_at INTEGER NOT NULL,
                  UNIQUE (org_id, name)
              );
              CREATE INDEX identity_providers_org ON identity_providers(org_id);
              CREATE TABLE sso_identities (
                  provider_id TEXT NOT NULL REFERENCES identity_providers(id) ON DELETE CASCADE,
                  subject TEXT NOT NULL, -- the provider's stable id of the person
                  issuer TEXT NOT NULL,
                  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                  created_at INTEGER NOT NULL,
                  PRIMARY KEY (provider_id, subject)
              ) WITHOUT ROWID;
              CREATE INDEX sso_identities_user ON sso_identities(user_id);
              CREATE TABLE org_domains (
                  domain TEXT NOT NULL UNIQUE COLLATE NOCASE, -- one organization per domain
                  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
                  created_at INTEGER NOT NULL
              );
              CREATE INDEX org_domains_org ON org_domains(org_id);",
    },
    Migration {
        version: 9,
        name: "single sign-on: what a provider keeps with each session (for its logout)",
        sql: "CREATE TABLE sso_sessions (
                  session_id TEXT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
                  provider_id TEXT NOT NULL REFERENCES identity_providers(id) ON DELETE CASCADE,
                  state BLOB NOT NULL -- sealed: the provider's session state (e.g. its ID token)
              ) WITHOUT ROWID;",
    },
    Migration {
        version: 10,
        name: "zero-knowledge connection credentials: trust keys, agent keys, sealed credentials",
        // Nothing here opens a credential: the gateway keeps public keys,
        // the customer's endorsements of them and ciphertext.
        sql: "CREATE TABLE org_sealing (
                  org_id TEXT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
                  trust_public_key TEXT, -- base64url Ed25519; its private half is the customer's
                  server_side_sealing INTEGER NOT NULL DEFAULT 0, -- accept plaintext and seal it here (weaker)
                  updated_at INTEGER NOT NULL
              );
              CREATE TABLE agent_keys (
                  environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
                  id TEXT NOT NULL, -- agk_..., derived from the key
                  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
                  public_key TEXT NOT NULL, -- base64url X25519
                  endorsement TEXT NOT NULL, -- the trust key's Ed25519 signature over org, environment and key
                  name TEXT,
                  created_at INTEGER NOT NULL,
                  PRIMARY KEY (environment_id, id)
              ) WITHOUT ROWID;
              CREATE TABLE connection_credentials (
                  connection_id TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
                  org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
                  version INTEGER NOT NULL, -- only grows, also across a removal, so an old seal cannot return
                  form TEXT NOT NULL, -- sealed | reference | removed
                  body TEXT NOT NULL, -- sealed: the recipients' ciphertexts (JSON); reference: the reference
                  sealed_by TEXT NOT NULL, -- customer | gateway
                  updated_at INTEGER NOT NULL
              );",
    },
    Migration {
        version: 11,
        name: "encryption at rest: data keys and blind indexes",
        // Record payloads are sealed in place by the gateway once its key
        // provider has unlocked the data keys (`Store::unlock`), so this
        // step only adds what that needs. Uniqueness and lookups move to
        // the blind indexes; the older UNIQUE constraints on the sealed
        // columns stay (a table rebuild would cascade deletes through the
        // foreign keys) but can no longer match: every sealed value has a
        // fresh nonce.
        sql: "CREATE TABLE data_keys (
                  id TEXT PRIMARY KEY, -- dk_ and 12 hex digits, named in every value it seals
                  seq INTEGER NOT NULL UNIQUE, -- creation order; the newest records key is the current one
                  purpose TEXT NOT NULL, -- records | index
                  provider TEXT NOT NULL, -- the key provider that wrapped it
                  master_key_id TEXT NOT NULL, -- the provider's key id and version
                  wrapped BLOB NOT NULL, -- only ever stored wrapped
                  created_at INTEGER NOT NULL
              );
              CREATE UNIQUE INDEX data_keys_one_index_key ON data_keys(purpose) WHERE purpose = 'index';
              ALTER TABLE orgs ADD COLUMN name_index TEXT;
              CREATE UNIQUE INDEX orgs_name_index ON orgs(name_index);
              ALTER TABLE users ADD COLUMN email_index TEXT;
              CREATE UNIQUE INDEX users_email_index ON users(email_index);
              ALTER TABLE environments ADD COLUMN name_index TEXT;
              CREATE UNIQUE INDEX environments_name_index ON environments(org_id, name_index);
              ALTER TABLE connections ADD COLUMN name_index TEXT;
              CREATE UNIQUE INDEX connections_name_index ON connections(environment_id, name_index);
              ALTER TABLE roles ADD COLUMN name_index TEXT;
              CREATE UNIQUE INDEX roles_name_index ON roles(org_id, name_index);
              ALTER TABLE bindings ADD COLUMN subject_index TEXT;
              CREATE UNIQUE INDEX bindings_unique ON bindings(org_id, subject_index, role_id, scope_kind, scope_id);
              CREATE INDEX bindings_subject_index ON bindings(subject_index);
              ALTER TABLE identity_providers ADD COLUMN name_index TEXT;
              CREATE UNIQUE INDEX identity_providers_name_index ON identity_providers(org_id, name_index);
              ALTER TABLE sso_identities ADD COLUMN subject_index TEXT;
              CREATE UNIQUE INDEX sso_identities_subject_index ON sso_identities(provider_id, subject_index);
              ALTER TABLE org_domains ADD COLUMN domain_index TEXT;
              CREATE UNIQUE INDEX org_domains_domain_index ON org_domains(domain_index);
              ALTER TABLE plugin_kv ADD COLUMN key_index TEXT;
              CREATE UNIQUE INDEX plugin_kv_key_index ON plugin_kv(namespace, key_index);",
    },
];

/// Newest schema version this build knows.
pub(super) fn latest() -> i64 {
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
    apply_up_to(pool, latest()).await
}

/// Applies the migrations up to `target` (tests make older stores).
pub(super) async fn apply_up_to(pool: &SqlitePool, target: i64) -> Result<(), StoreError> {
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
    for migration in MIGRATIONS
        .iter()
        .filter(|m| m.version > current && m.version <= target)
    {
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
