//! Namespaced key-value storage for plugins. A namespace handle can only
//! ever address its own rows: the namespace is bound into every query.

use super::StoreError;
use sqlx::SqlitePool;
use std::sync::Arc;

/// One plugin instance's private key space.
#[derive(Clone, Debug)]
pub struct KvNamespace {
    pool: SqlitePool,
    namespace: Arc<str>,
}

impl KvNamespace {
    pub(super) fn new(pool: SqlitePool, namespace: &str) -> Self {
        Self {
            pool,
            namespace: namespace.into(),
        }
    }

    /// Reads a value.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM plugin_kv WHERE namespace = ? AND key = ?")
                .bind(&*self.namespace)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Writes a value.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO plugin_kv (namespace, key, value, updated_at) VALUES (?, ?, ?, unixepoch())
             ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(&*self.namespace)
        .bind(key)
        .bind(value)
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

    /// Replaces `expected` by `new` in one statement, so concurrent callers
    /// cannot both succeed. Returns whether the swap happened.
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let ns = &*self.namespace;
        let affected = match (expected, new) {
            (None, Some(new)) => sqlx::query(
                "INSERT INTO plugin_kv (namespace, key, value, updated_at) VALUES (?, ?, ?, unixepoch())
                 ON CONFLICT (namespace, key) DO NOTHING",
            )
            .bind(ns)
            .bind(key)
            .bind(new)
            .execute(&self.pool)
            .await?
            .rows_affected(),
            (Some(old), Some(new)) => sqlx::query(
                "UPDATE plugin_kv SET value = ?, updated_at = unixepoch()
                 WHERE namespace = ? AND key = ? AND value = ?",
            )
            .bind(new)
            .bind(ns)
            .bind(key)
            .bind(old)
            .execute(&self.pool)
            .await?
            .rows_affected(),
            (Some(old), None) => sqlx::query("DELETE FROM plugin_kv WHERE namespace = ? AND key = ? AND value = ?")
                .bind(ns)
                .bind(key)
                .bind(old)
                .execute(&self.pool)
                .await?
                .rows_affected(),
            (None, None) => return Ok(self.get(key).await?.is_none()),
        };
        Ok(affected == 1)
    }

    /// Keys starting with `prefix`, in order.
    pub async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        // substr comparison avoids LIKE's wildcard characters in `prefix`.
        Ok(sqlx::query_scalar(
            "SELECT key FROM plugin_kv WHERE namespace = ? AND substr(key, 1, length(?)) = ? ORDER BY key",
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
    use crate::store::Store;

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
            !a.compare_and_swap("secret", None, Some(b"x"))
                .await
                .unwrap()
        );
        assert!(
            !a.compare_and_swap("secret", Some(b"wrong"), Some(b"x"))
                .await
                .unwrap()
        );
        assert!(
            a.compare_and_swap("secret", Some(b"mine"), Some(b"x"))
                .await
                .unwrap()
        );
        assert!(a.compare_and_swap("fresh", None, Some(b"1")).await.unwrap());
        assert!(a.compare_and_swap("fresh", Some(b"1"), None).await.unwrap());
        assert_eq!(a.get("fresh").await.unwrap(), None);
        a.set("p%_x", b"1").await.unwrap();
        assert_eq!(a.list_keys("p%").await.unwrap(), vec!["p%_x".to_string()]);
        assert_eq!(store.schema_version().await.unwrap(), 1);
    }
}
