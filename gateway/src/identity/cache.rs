//! A small read-mostly cache whose entries go stale after a time-to-live,
//! so that changes made elsewhere (another gateway, the offline admin
//! command) are picked up within a bound while the hot path reads memory.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Most entries kept; beyond this the cache starts over.
const CAPACITY: usize = 65_536;

/// Entries by string key, each trusted for `ttl` after it was loaded.
#[derive(Debug)]
pub struct TtlCache<V> {
    entries: RwLock<HashMap<String, (Arc<V>, Instant)>>,
    ttl: Duration,
}

impl<V> TtlCache<V> {
    /// An empty cache whose entries stay fresh for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            ttl,
        }
    }

    /// The entry for `key` if it is still fresh.
    pub fn get(&self, key: &str) -> Option<Arc<V>> {
        let entries = self.entries.read().ok()?;
        let (value, loaded) = entries.get(key)?;
        (loaded.elapsed() < self.ttl).then(|| value.clone())
    }

    /// Stores `value` for `key`, fresh from now.
    pub fn insert(&self, key: &str, value: Arc<V>) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(key.to_string(), (value, Instant::now()));
        }
    }

    /// The entry for `key`: from the cache when fresh, else from `load`
    /// (remembered when found). `None` if `load` finds nothing.
    pub async fn get_or_load<E>(
        &self,
        key: &str,
        load: impl Future<Output = Result<Option<V>, E>>,
    ) -> Result<Option<Arc<V>>, E> {
        if let Some(value) = self.get(key) {
            return Ok(Some(value));
        }
        let Some(value) = load.await? else {
            return Ok(None);
        };
        let value = Arc::new(value);
        self.insert(key, value.clone());
        Ok(Some(value))
    }

    /// Forgets `key`, so the next read goes to the store.
    pub fn remove(&self, key: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_go_stale_and_can_be_removed() {
        let cache = TtlCache::new(Duration::from_millis(50));
        cache.insert("a", Arc::new(1));
        assert_eq!(cache.get("a").as_deref(), Some(&1));
        cache.remove("a");
        assert_eq!(cache.get("a"), None);
        cache.insert("b", Arc::new(2));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("b"), None, "stale entries are not returned");
    }
}
