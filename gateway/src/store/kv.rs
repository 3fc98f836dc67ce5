//! Namespaced key-value storage for plugins. A namespace handle can only
//! ever address its own rows: the namespace is bound into every query and,
//! as associated data, into every sealed value.

use super::{Sealer, StoreError};
use sqlx::SqlitePool;
use std::sync::Arc;

/// A stored row: its version, and its value unless it has expired.
struct Current {
    value: Option<Vec<u8>>,
    version: i64,
}

/// One plugin instance's private key space.
#[derive(Clone, Debug)]
pub struct KvNamespace {
    pool: SqlitePool,
    sealer: Arc<Sealer>,
    namespace: Arc<str>,
}

impl KvNamespace {
    pub(super) fn new(pool: SqlitePool, sealer: Arc<Sealer>, namespace: &str) -> Self {
        Self {
            pool,
            sealer,
            namespace: namespace.into(),
        }
    }

    /// The associated data binding a value to its row.
    fn context(&self, key: &str) -> Vec<u8> {
        let mut context = Vec::with_capacity(self.namespace.len() + key.len() + 8);
        context.extend_from_slice(b"kv\0");
        context.extend_from_slice(self.namespace.as_bytes());
        context.push(0);
        context.extend_from_slice(key.as_bytes());
        context
    }

    /// The row of `key`: its version and, unless it has expired, its value.
    async fn current(&self, key: &str) -> Result<Option<Current>, StoreError> {
        // The database's clock decides expiry, as it does for the purge.
        let row: Option<(Vec<u8>, i64, bool)> = sqlx::query_as(
            "SELECT value, version, COALESCE(expires_at <= unixepoch(), 0)
             FROM plugin_kv WHERE namespace = ? AND key = ?",
        )
        .bind(&*self.namespace)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        let Some((sealed, version, expired)) = row else {
            return Ok(None);
        };
        let value = if expired {
            None
        } else {
            Some(self.sealer.open(&self.context(key), &sealed)?)
        };
        Ok(Some(Current { value, version }))
    }

    /// Reads a value (an expired one reads as absent).
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.current(key).await?.and_then(|row| row.value))
    }

    /// Writes a value that never expires.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let sealed = self.sealer.seal(&self.context(key), value)?;
        sqlx::query(
            "INSERT INTO plugin_kv (namespace, key, value, version, updated_at, expires_at) VALUES (?, ?, ?, 1, unixepoch(), NULL)
             ON CONFLICT (namespace, key) DO UPDATE
             SET value = excluded.value, version = plugin_kv.version + 1, updated_at = excluded.updated_at, expires_at = NULL",
        )
        .bind(&*self.namespace)
        .bind(key)
        .bind(sealed)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes a key.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM plugin_kv WHERE namespace = ? AND key = ?")
            .bind(&*self.namespace)
            .bind(key)
            .execute(&self.pool)
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
        let ns = &*self.namespace;
        let version = current.map(|row| row.version);
        let affected = match (version, new) {
            (None, None) => return Ok(true),
            (None, Some(new)) => {
                let sealed = self.sealer.seal(&self.context(key), new)?;
                sqlx::query(
                    "INSERT INTO plugin_kv (namespace, key, value, version, updated_at, expires_at) VALUES (?, ?, ?, 1, unixepoch(), ?)
                     ON CONFLICT (namespace, key) DO NOTHING",
                )
                .bind(ns)
                .bind(key)
                .bind(sealed)
                .bind(expires_at)
                .execute(&self.pool)
                .await?
                .rows_affected()
            }
            (Some(version), Some(new)) => {
                let sealed = self.sealer.seal(&self.context(key), new)?;
                sqlx::query(
                    "UPDATE plugin_kv SET value = ?, version = version + 1, updated_at = unixepoch(), expires_at = ?
                     WHERE namespace = ? AND key = ? AND version = ?",
                )
                .bind(sealed)
                .bind(expires_at)
                .bind(ns)
                .bind(key)
                .bind(version)
                .execute(&self.pool)
                .await?
                .rows_affected()
            }
            (Some(version), None) => {
                sqlx::query("DELETE FROM plugin_kv WHERE namespace = ? AND key = ? AND version = ?")
                    .bind(ns)
                    .bind(key)
                    .bind(version)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
            }
        };
        Ok(affected == 1)
    }

    /// Keys starting with `prefix`, in order.
    pub async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        // substr comparison avoids LIKE's wildcard characters in `prefix`.
        Ok(sqlx::query_scalar(
            "SELECT key FROM plugin_kv WHERE namespace = ? AND substr(key, 1, length(?)) = ?
                 AND (expires_at IS NULL OR expires_at > unixepoch()) ORDER BY key",
        )
        .bind(&*self.namespace)
        .bind(prefix)
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{Sealer, Store};
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
            let store = Store::open_sqlite(&path, Sealer::derive(&root, "kv").unwrap())
                .await
                .unwrap();
            store
                .kv("authn")
                .set("totp/alice", b"JBSWY3DPEHPK3PXP-plaintext-marker")
                .await
                .unwrap();
            store.kv("authn").set("totp/bob", b"other").await.unwrap();
            // Copy alice's sealed value into bob's row: it must not open there.
            sqlx::query("UPDATE plugin_kv SET value = (SELECT value FROM plugin_kv WHERE key = 'totp/alice') WHERE key = 'totp/bob'")
                .execute(&store.pool)
                .await
                .unwrap();
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
        let reopened = Store::open_sqlite(&path, Sealer::derive(&root, "kv").unwrap())
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
        let wrong_key = Store::open_sqlite(
            &path,
            Sealer::derive(&SecretBox::new(Box::new([1u8; 32])), "kv").unwrap(),
        )
        .await
        .unwrap();
        assert!(wrong_key.kv("authn").get("totp/alice").await.is_err());
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
