//! Encryption at rest against a real SQLite file: what reaches the file,
//! moved ciphertexts, the migration of an older store, rotation with
//! re-sealing, and a key provider that fails after start.

use super::keyring::{KeyError, KeyFuture, KeyWrapper, WrappedDataKey};
use super::legacy::LegacySealer;
use super::local::LocalKeyWrapper;
use crate::store::{EnvironmentRecord, KeyringSettings, OrgRecord, Store, StoreError, UserRecord};
use secrecy::{ExposeSecret, SecretBox};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

fn root(byte: u8) -> SecretBox<[u8; 32]> {
    SecretBox::new(Box::new([byte; 32]))
}

fn user(id: &str, email: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        org_id: "org_default".into(),
        email: email.into(),
        display_name: Some(format!("Display {id} Marker")),
        groups: vec!["dba-team-marker".into()],
        disabled: false,
        password_must_change: false,
        platform_operator: false,
        created_at: 1,
    }
}

fn org() -> OrgRecord {
    OrgRecord {
        id: "org_default".into(),
        name: "Acme Org Marker".into(),
        mfa_required: false,
        api_key_max_lifetime_days: 90,
        created_at: 1,
    }
}

/// The whole file (after a checkpoint) and its WAL.
async fn file_bytes(store: &Store, path: &Path) -> Vec<u8> {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&store.pool)
        .await
        .unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    bytes.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[tokio::test]
async fn records_reach_the_file_sealed_and_lookups_go_through_blind_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Store::open_sqlite_with_local_key(&path, &root(1))
        .await
        .unwrap();
    assert!(store.insert_org(&org()).await.unwrap());
    assert!(
        store
            .insert_user(&user("usr_a", "Alice.Marker@Example.com"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_user(&user("usr_b", "alice.marker@example.COM"))
            .await
            .unwrap(),
        "the email stays unique, case-insensitively, through its blind index"
    );
    let found = store
        .user_by_email(" ALICE.MARKER@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, "usr_a");
    assert_eq!(found.display_name.as_deref(), Some("Display usr_a Marker"));
    store
        .insert_environment(&EnvironmentRecord {
            id: "env_1".into(),
            org_id: "org_default".into(),
            name: "production-marker".into(),
            description: None,
            created_at: 1,
            updated_at: 1,
        })
        .await
        .unwrap();
    store
        .kv("authn")
        .set("email/alice.marker@example.com", b"hash-marker")
        .await
        .unwrap();
    assert_eq!(
        store.kv("authn").list_keys("email/").await.unwrap(),
        ["email/alice.marker@example.com"]
    );
    let bytes = file_bytes(&store, &path).await;
    for plaintext in [
        "alice.marker",
        "Display usr_a",
        "dba-team-marker",
        "Acme Org Marker",
        "production-marker",
        "hash-marker",
    ] {
        assert!(!contains(&bytes, plaintext), "`{plaintext}` is in the file");
    }
    let status = store.keys_status().await.unwrap();
    assert!(
        status.usage.iter().all(|u| u.key != "unsealed"),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_fails_naming_the_record() {
    let store = Store::open_in_memory().await.unwrap();
    store.insert_org(&org()).await.unwrap();
    store
        .insert_user(&user("usr_a", "a@example.com"))
        .await
        .unwrap();
    store
        .insert_user(&user("usr_b", "b@example.com"))
        .await
        .unwrap();
    // Swap the two sealed emails (each is a valid ciphertext, of the other row).
    sqlx::raw_sql(
        "CREATE TEMP TABLE moved AS SELECT id, email FROM users;
         UPDATE users SET email = 'placeholder' WHERE id = 'usr_a';
         UPDATE users SET email = (SELECT email FROM moved WHERE id = 'usr_a') WHERE id = 'usr_b';
         UPDATE users SET email = (SELECT email FROM moved WHERE id = 'usr_b') WHERE id = 'usr_a';",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    let error = store.user("usr_b").await.unwrap_err();
    assert!(
        matches!(&error, StoreError::Seal(super::SealError::Integrity { record, column })
            if record == "users/usr_b" && column == "email"),
        "{error}"
    );
    assert!(error.to_string().contains("users/usr_b"), "{error}");
    assert!(store.user("usr_a").await.is_err());
    // Moved to another organization: the organization is bound too.
    store
        .insert_user(&user("usr_c", "c@example.com"))
        .await
        .unwrap();
    sqlx::raw_sql(
        "PRAGMA foreign_keys = OFF;
         UPDATE users SET org_id = 'org_other' WHERE id = 'usr_c';",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    let error = store.user("usr_c").await.unwrap_err().to_string();
    assert!(error.contains("users/usr_c"), "{error}");
}

#[tokio::test]
async fn an_older_store_is_sealed_in_place_when_it_is_first_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let local = root(5);
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        crate::store::migrations::apply_up_to(&pool, 10)
            .await
            .unwrap();
        let legacy = LegacySealer::from_local_key(&local).unwrap();
        let value = legacy
            .seal(b"kv\0authn\0email/old@example.com", b"old-secret-marker")
            .unwrap();
        let settings = legacy
            .seal(
                b"identity-provider\0idp_okta\0org_default",
                br#"{"config":{},"secrets":{"client_secret":"idp-secret-marker"}}"#,
            )
            .unwrap();
        sqlx::raw_sql(
            "INSERT INTO orgs (id, name, created_at) VALUES ('org_default', 'Old Org Marker', 1);
             INSERT INTO users (id, org_id, email, display_name, groups, created_at)
                 VALUES ('usr_old', 'org_default', 'Old@Example.com', 'Old Name Marker', '[\"old-group\"]', 1);
             INSERT INTO environments (id, org_id, name, created_at, updated_at)
                 VALUES ('env_old', 'org_default', 'old-env-marker', 1, 1);
             INSERT INTO connections (id, org_id, environment_id, name, kind, host, port, tls_mode, created_at, updated_at)
                 VALUES ('con_old', 'org_default', 'env_old', 'old-conn', 'postgres', 'db.old-host-marker.internal', 5432, 'require', 1, 1);",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO plugin_kv (namespace, key, value, version, updated_at) VALUES ('authn', 'email/old@example.com', ?, 1, 1)")
            .bind(value)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO identity_providers (id, org_id, name, plugin, settings, created_at, updated_at) VALUES ('idp_okta', 'org_default', 'Okta', 'oidc', ?, 1, 1)")
            .bind(settings)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let store = Store::open_sqlite_with_local_key(&path, &local)
        .await
        .unwrap();
    let user = store
        .user_by_email("old@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.display_name.as_deref(), Some("Old Name Marker"));
    assert_eq!(user.groups, ["old-group"]);
    assert_eq!(
        store.org("org_default").await.unwrap().unwrap().name,
        "Old Org Marker"
    );
    let conn = store
        .connection("org_default", "con_old")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conn.host, "db.old-host-marker.internal");
    assert_eq!(
        store
            .kv("authn")
            .get("email/old@example.com")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"old-secret-marker"[..])
    );
    let provider = store.identity_provider("idp_okta").await.unwrap().unwrap();
    assert_eq!(
        provider.settings.secrets["client_secret"],
        "idp-secret-marker"
    );
    let bytes = file_bytes(&store, &path).await;
    for plaintext in [
        "Old Org Marker",
        "old@example.com",
        "Old Name Marker",
        "old-env-marker",
        "old-host-marker",
    ] {
        assert!(
            !contains(&bytes, plaintext),
            "`{plaintext}` is still in the file"
        );
    }
}

#[tokio::test]
async fn rotation_keeps_old_records_readable_and_re_sealing_moves_them() {
    let store = Store::open_in_memory().await.unwrap();
    store.insert_org(&org()).await.unwrap();
    for i in 0..300 {
        store
            .insert_user(&user(&format!("usr_{i}"), &format!("u{i}@example.com")))
            .await
            .unwrap();
    }
    let first = store.current_data_key().unwrap();
    let second = store.rotate_data_key().await.unwrap();
    assert_ne!(first, second);
    // Old values open; new ones are sealed under the new key.
    assert_eq!(
        store.user("usr_7").await.unwrap().unwrap().email,
        "u7@example.com"
    );
    store
        .insert_user(&user("usr_new", "new@example.com"))
        .await
        .unwrap();
    let covered = |status: &crate::store::KeysStatus, key: &str| -> i64 {
        status
            .usage
            .iter()
            .filter(|u| u.key == key)
            .map(|u| u.values)
            .sum()
    };
    let before = store.keys_status().await.unwrap();
    assert!(covered(&before, &first) >= 900, "{before:?}");
    assert!(covered(&before, &second) >= 3);
    let report = store.reencrypt().await.unwrap();
    assert!(report.rows >= 300, "{report:?}");
    let after = store.keys_status().await.unwrap();
    assert_eq!(covered(&after, &first), 0, "{after:?}");
    assert_eq!(
        store.user("usr_299").await.unwrap().unwrap().email,
        "u299@example.com"
    );
    assert!(
        store
            .user_by_email("u42@example.com")
            .await
            .unwrap()
            .is_some()
    );
    assert!(after.data_keys.iter().any(|k| k.id == second && k.current));
}

/// A key provider that can be made unreachable or refusing.
#[derive(Debug)]
struct Switchable {
    inner: LocalKeyWrapper,
    mode: AtomicU8,
}

const UP: u8 = 0;
const DOWN: u8 = 1;
const REFUSING: u8 = 2;

impl Switchable {
    fn check(&self) -> Result<(), KeyError> {
        match self.mode.load(Ordering::SeqCst) {
            DOWN => Err(KeyError::Unavailable("connection refused".into())),
            REFUSING => Err(KeyError::Refused("AccessDeniedException".into())),
            _ => Ok(()),
        }
    }
}

impl KeyWrapper for Switchable {
    fn name(&self) -> String {
        "switchable".into()
    }
    fn generate<'a>(
        &'a self,
        context: &'a [(String, String)],
    ) -> KeyFuture<'a, (SecretBox<[u8; 32]>, WrappedDataKey)> {
        Box::pin(async move {
            self.check()?;
            self.inner.generate(context).await
        })
    }
    fn wrap<'a>(
        &'a self,
        key: &'a [u8; 32],
        context: &'a [(String, String)],
    ) -> KeyFuture<'a, WrappedDataKey> {
        Box::pin(async move {
            self.check()?;
            self.inner.wrap(key, context).await
        })
    }
    fn unwrap<'a>(
        &'a self,
        wrapped: &'a WrappedDataKey,
        context: &'a [(String, String)],
    ) -> KeyFuture<'a, SecretBox<[u8; 32]>> {
        Box::pin(async move {
            self.check()?;
            self.inner.unwrap(wrapped, context).await
        })
    }
}

#[tokio::test]
async fn a_key_provider_outage_keeps_serving_from_memory_and_a_refusal_drops_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outage.db");
    let provider = Arc::new(Switchable {
        inner: LocalKeyWrapper::from_local_key(&root(7)).unwrap(),
        mode: AtomicU8::new(UP),
    });
    let settings = KeyringSettings {
        max_age: Duration::from_millis(1),
    };
    let store = Store::open_sqlite(&path, settings).await.unwrap();
    store.unlock(provider.clone(), None).await.unwrap();
    store.insert_org(&org()).await.unwrap();
    store
        .insert_user(&user("usr_a", "a@example.com"))
        .await
        .unwrap();

    provider.mode.store(DOWN, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.refresh_keys().await.unwrap();
    assert_eq!(
        store.user("usr_a").await.unwrap().unwrap().email,
        "a@example.com"
    );
    store
        .insert_user(&user("usr_b", "b@example.com"))
        .await
        .unwrap();
    let rotation = store.rotate_data_key().await.unwrap_err().to_string();
    assert!(
        rotation.contains("cannot make a new data key") && rotation.contains("unavailable"),
        "{rotation}"
    );
    // Another process's store cannot start without the provider.
    let second = Store::open_sqlite(&path, KeyringSettings::default())
        .await
        .unwrap();
    let error = second
        .unlock(provider.clone(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("connection refused"), "{error}");

    provider.mode.store(REFUSING, Ordering::SeqCst);
    store.refresh_keys().await.unwrap();
    let read = store.user("usr_a").await.unwrap_err().to_string();
    assert!(read.contains("AccessDeniedException"), "{read}");
    let write = store
        .insert_user(&user("usr_c", "c@example.com"))
        .await
        .unwrap_err()
        .to_string();
    assert!(write.contains("no longer granted"), "{write}");
    assert!(!write.contains(&hex::encode(root(7).expose_secret())));

    provider.mode.store(UP, Ordering::SeqCst);
    store.refresh_keys().await.unwrap();
    assert_eq!(
        store.user("usr_b").await.unwrap().unwrap().email,
        "b@example.com"
    );
}
