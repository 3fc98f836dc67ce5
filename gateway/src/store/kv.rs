//! Namespaced key-value storage for plugins. A namespace handle can only
//! ever address its own rows: the namespace is bound into every query and,
//! as associated data, into every sealed key and value. Keys are sealed
//! too (they can hold an email); rows are found by their blind index.

use super::encryption::tables::PLUGIN_KV;
use super::{Store, StoreError};
use std::sync::Arc;

/// A stored row: its version, and its value unless it has expired.
struct Current {
    value: Option<Vec<u8>>,
    version: i64,
}

/// One plugin instance's private key space.
#[derive(Clone, Debug)]
pub struct KvNamespace {
    store: Store,
    namespace: Arc<str>,
}

impl KvNamespace {
    pub(super) fn new(store: Store, namespace: &str) -> Self {
        Self {
            store,
            namespace: namespace.into(),
        }
    }

    /// The blind index of `key`, and the record it names.
    fn locate(&self, key: &str) -> Result<(String, super::encryption::Record), StoreError> {
        let index = self
            .store
            .blind(&PLUGIN_KV, "key_index", Some(&self.namespace), key)?;
        let record = PLUGIN_KV.record(&[&self.namespace, &index], None);
        Ok((index, record))
    }

    /// The row of `key`: its version and, unless it has expired, its value.
    async fn current(&self, key: &str) -> Result<Option<Current>, StoreError> {
        let (index, record) = self.locate(key)?;
        // The database's clock decides expiry, as it does for the purge.
        let row: Option<(String, i64, bool)> = sqlx::query_as(
            "SELECT value, version, COALESCE(expires_at <= unixepoch(), 0)
             FROM plugin_kv WHERE namespace = ? AND key_index = ?",
        )
        .bind(&*self.namespace)
        .bind(&index)
        .fetch_optional(&self.store.pool)
        .await?;
        let Some((sealed, version, expired)) = row else {
            return Ok(None);
        };
        let value = if expired {
            None
        } else {
            Some(self.store.open(&record, "value", &sealed).await?)
        };
        Ok(Some(Current { value, version }))
    }

    /// Reads a value (an expired one reads as absent).
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.current(key).await?.and_then(|row| row.value))
    }

    /// Writes a value that never expires.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let (index, record) = self.locate(key)?;
        sqlx::query(
            "INSERT INTO plugin_kv (namespace, key, key_index, value, version, updated_at, expires_at) VALUES (?, ?, ?, ?, 1, unixepoch(), NULL)
             ON CONFLICT (namespace, key_index) DO UPDATE
             SET value = excluded.value, version = plugin_kv.version + 1, updated_at = excluded.updated_at, expires_at = NULL",
        )
        .bind(&*self.namespace)
        .bind(self.store.seal(&record, "key", key.as_bytes())?)
        .bind(&index)
        .bind(self.store.seal(&record, "value", value)?)
        .execute(&self.store.pool)
        .await?;
        Ok(())
    }

    /// Deletes a key.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let (index, _) = self.locate(key)?;
        sqlx::query("DELETE FROM plugin_kv WHERE namespace = ? AND key_index = ?")
            .bind(&*self.namespace)
            .bind(&index)
            .execute(&self.store.pool)
            .await?;
        Ok(())
    }

    /// Replaces `expected` by `new` (`None` meaning absent; an expired
    /// value counts as absent). The write is conditional on the row's
    /// version being the one whose value was compared, so of two
    /// concurrent swaps at most one succeeds. The new value expires at
    /// `expires_at` (Unix seconds), or never. Returns whether this swap
    /// happened.
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        expires_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let current = self.current(key).await?;
        let value = current.as_ref().and_then(|row| row.value.as_deref());
        if value != expected {
            return Ok(false);
        }
        let (index, record) = self.locate(key)?;
        let ns = &*self.namespace;
        let pool = &self.store.pool;
        let version = current.map(|row| row.version);
        let affected = match (version, new) {
            (None, None) => return Ok(true),
            (None, Some(new)) => sqlx::query(
                "INSERT INTO plugin_kv (namespace, key, key_index, value, version, updated_at, expires_at) VALUES (?, ?, ?, ?, 1, unixepoch(), ?)
                 ON CONFLICT (namespace, key_index) DO NOTHING",
            )
            .bind(ns)
            .bind(self.store.seal(&record, "key", key.as_bytes())?)
            .bind(&index)
            .bind(self.store.seal(&record, "value", new)?)
            .bind(expires_at)
            .execute(pool)
            .await?
            .rows_affected(),
            (Some(version), Some(new)) => sqlx::query(
                "UPDATE plugin_kv SET value = ?, version = version + 1, updated_at = unixepoch(), expires_at = ?
                 WHERE namespace = ? AND key_index = ? AND version = ?",
            )
            .bind(self.store.seal(&record, "value", new)?)
            .bind(expires_at)
            .bind(ns)
            .bind(&index)
            .bind(version)
            .execute(pool)
            .await?
            .rows_affected(),
            (Some(version), None) => {
                sqlx::query(
                    "DELETE FROM plugin_kv WHERE namespace = ? AND key_index = ? AND version = ?",
                )
                .bind(ns)
                .bind(&index)
                .bind(version)
                .execute(pool)
                .await?
                .rows_affected()
            }
        };
        Ok(affected == 1)
    }

    /// Keys starting with `prefix`, in order. Rows are narrowed by the
    /// blind index of `prefix` up to its last `/`; the opened keys are
    /// then matched against the whole prefix.
    pub async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let index = self.store.keyring.index()?;
        let index_prefix = index.of_kv_prefix(&self.namespace, prefix);
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT key, key_index FROM plugin_kv
             WHERE namespace = ? AND substr(key_index, 1, length(?)) = ?
               AND (expires_at IS NULL OR expires_at > unixepoch())",
        )
        .bind(&*self.namespace)
        .bind(&index_prefix)
        .bind(&index_prefix)
        .fetch_all(&self.store.pool)
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for (sealed, key_index) in rows {
            let record = PLUGIN_KV.record(&[&self.namespace, &key_index], None);
            let key = self.store.open_text(&record, "key", &sealed).await?;
            if key.starts_with(prefix) {
                keys.push(key);
            }
        }
        keys.sort_unstable();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;
    use crate::store::encryption::tables::PLUGIN_KV;
    use secrecy::SecretBox;

    #[tokio::test]
    async fn namespaces_are_isolated_and_cas_is_exact() {
        let store = Store::open_in_memory().await.unwrap();
        let a = store.kv("plugin-a");
        let b = store.kv("plugin-b");
        a.set("secret", b"mine").await.unwrap();
        assert_eq!(b.get("secret").await.unwrap(), None);
        assert!(b.list_keys("").await.unwrap().is_empty());
        b.delete("secret").await.unwrap();
        assert_eq!(
            a.get("secret").await.unwrap().as_deref(),
            Some(&b"mine"[..])
        );

        assert!(
            !a.compare_and_swap("secret", None, Some(b"x"), None)
                .await
                .unwrap()
        );
        assert!(
            !a.compare_and_swap("secret", Some(b"wrong"), Some(b"x"), None)
                .await
                .unwrap()
        );
        assert!(
            a.compare_and_swap("secret", Some(b"mine"), Some(b"x"), None)
                .await
                .unwrap()
        );
        assert_eq!(a.get("secret").await.unwrap().as_deref(), Some(&b"x"[..]));
        assert!(
            a.compare_and_swap("fresh", None, Some(b"1"), None)
                .await
                .unwrap()
        );
        assert!(
            a.compare_and_swap("fresh", Some(b"1"), None, None)
                .await
                .unwrap()
        );
        assert_eq!(a.get("fresh").await.unwrap(), None);
        a.set("p%_x", b"1").await.unwrap();
        assert_eq!(a.list_keys("p%").await.unwrap(), vec!["p%_x".to_string()]);
        assert_eq!(
            store.schema_version().await.unwrap(),
            crate::store::migrations::latest()
        );
    }

    #[tokio::test]
    async fn values_are_sealed_on_disk_and_bound_to_their_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let root = SecretBox::new(Box::new([9u8; 32]));
        {
            let store = Store::open_sqlite_with_local_key(&path, &root)
                .await
                .unwrap();
            store
                .kv("authn")
                .set("totp/alice", b"JBSWY3DPEHPK3PXP-plaintext-marker")
                .await
                .unwrap();
            store.kv("authn").set("totp/bob", b"other").await.unwrap();
            // Copy alice's sealed value into bob's row: it must not open there.
            let index = |key: &str| {
                store
                    .blind(&PLUGIN_KV, "key_index", Some("authn"), key)
                    .unwrap()
            };
            sqlx::query("UPDATE plugin_kv SET value = (SELECT value FROM plugin_kv WHERE key_index = ?) WHERE key_index = ?")
                .bind(index("totp/alice"))
                .bind(index("totp/bob"))
                .execute(&store.pool)
                .await
                .unwrap();
            let error = store.kv("authn").get("totp/bob").await.unwrap_err();
            assert!(
                error.to_string().contains("plugin_kv/authn/"),
                "the error names the record: {error}"
            );
            assert!(
                store.kv("authn").get("totp/bob").await.is_err(),
                "a moved value fails authentication"
            );
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&store.pool)
                .await
                .unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(8).any(|w| w == b"JBSWY3DP"),
            "the database file must not hold the plaintext"
        );
        assert!(
            !bytes.windows(10).any(|w| w == b"totp/alice"),
            "nor the plaintext key"
        );
        let reopened = Store::open_sqlite_with_local_key(&path, &root)
            .await
            .unwrap();
        assert_eq!(
            reopened
                .kv("authn")
                .get("totp/alice")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"JBSWY3DPEHPK3PXP-plaintext-marker"[..])
        );
        let wrong_key =
            Store::open_sqlite_with_local_key(&path, &SecretBox::new(Box::new([1u8; 32]))).await;
        assert!(
            wrong_key.is_err(),
            "another master key cannot unwrap the store's data keys"
        );
    }

    #[tokio::test]
    async fn expired_values_read_as_absent_and_are_purged() {
        let store = Store::open_in_memory().await.unwrap();
        let kv = store.kv("p");
        let past = crate::identity::now() - 1;
        let future = crate::identity::now() + 3_600;
        assert!(
            kv.compare_and_swap("old", None, Some(b"1"), Some(past))
                .await
                .unwrap()
        );
        assert!(
            kv.compare_and_swap("new", None, Some(b"2"), Some(future))
                .await
                .unwrap()
        );
        assert_eq!(kv.get("old").await.unwrap(), None);
        assert_eq!(kv.list_keys("").await.unwrap(), ["new"]);
        // An expired row is absent for compare-and-swap too.
        assert!(
            !kv.compare_and_swap("old", Some(b"1"), Some(b"3"), None)
                .await
                .unwrap()
        );
        assert!(
            kv.compare_and_swap("old", None, Some(b"3"), Some(past))
                .await
                .unwrap()
        );
        assert_eq!(store.purge_expired_kv().await.unwrap(), 1);
        assert_eq!(kv.get("new").await.unwrap().as_deref(), Some(&b"2"[..]));
        // A plain write never expires.
        kv.set("new", b"4").await.unwrap();
        assert_eq!(kv.get("new").await.unwrap().as_deref(), Some(&b"4"[..]));
    }
}
