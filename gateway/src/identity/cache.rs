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

/// Values derived from two cached records, rebuilt only when either record
/// is: an entry is valid while both records it was built from are the very
/// ones (the same `Arc`s) the caches hand out now. So a change that reloads
/// either record is seen at once, and otherwise the value is shared rather
/// than rebuilt on every request.
#[derive(Debug)]
pub struct DerivedCache<A, B, V> {
    entries: RwLock<HashMap<String, Derived<A, B, V>>>,
}

#[derive(Debug)]
struct Derived<A, B, V> {
    first: Arc<A>,
    second: Arc<B>,
    value: Arc<V>,
}

impl<A, B, V> Default for DerivedCache<A, B, V> {
    fn default() -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
        }
    }
}

impl<A, B, V> DerivedCache<A, B, V> {
    /// The value for `key` derived from `first` and `second`: the one built
    /// before from these same records, or a new one from `build`.
    pub fn get_or_build(
        &self,
        key: &str,
        first: &Arc<A>,
        second: &Arc<B>,
        build: impl FnOnce() -> V,
    ) -> Arc<V> {
        if let Ok(entries) = self.entries.read()
            && let Some(entry) = entries.get(key)
            && Arc::ptr_eq(&entry.first, first)
            && Arc::ptr_eq(&entry.second, second)
        {
            return entry.value.clone();
        }
        let value = Arc::new(build());
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(
                key.to_string(),
                Derived {
                    first: first.clone(),
                    second: second.clone(),
                    value: value.clone(),
                },
            );
        }
        value
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

    #[test]
    fn derived_values_are_shared_until_either_record_is_replaced() {
        let cache: DerivedCache<u8, u8, String> = DerivedCache::default();
        let (a, b) = (Arc::new(1u8), Arc::new(2u8));
        let first = cache.get_or_build("k", &a, &b, || "built 1".into());
        let again = cache.get_or_build("k", &a, &b, || "built 2".into());
        assert!(
            Arc::ptr_eq(&first, &again),
            "same records: the value is reused"
        );
        // An equal but reloaded record is another version: rebuilt.
        let reloaded = Arc::new(1u8);
        let rebuilt = cache.get_or_build("k", &reloaded, &b, || "built 3".into());
        assert_eq!(*rebuilt, "built 3");
        let other_second = Arc::new(2u8);
        let rebuilt = cache.get_or_build("k", &reloaded, &other_second, || "built 4".into());
        assert_eq!(*rebuilt, "built 4");
    }
}
