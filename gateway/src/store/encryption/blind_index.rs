//! Blind indexes: keyed HMAC-SHA256 of a normalised value, so the store
//! can look a record up by, and keep unique, a value it only holds
//! sealed. The key is the store's index key, which never leaves memory
//! unwrapped and is not changed by data key rotation.

use ring::hmac;

/// Hex digits kept of each HMAC (128 bits).
const DIGITS: usize = 32;

/// Computes blind indexes; the key never leaves this type.
pub struct BlindIndex {
    key: hmac::Key,
}

impl std::fmt::Debug for BlindIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndex(..)")
    }
}

impl BlindIndex {
    /// An index over the 256-bit `key`.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    fn digest(&self, parts: &[&[u8]]) -> String {
        let mut context = hmac::Context::with_key(&self.key);
        for part in parts {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
        let mut text = hex::encode(context.sign().as_ref());
        text.truncate(DIGITS);
        text
    }

    /// The index of `value` for `scope` (a table and column, with the
    /// organization when uniqueness is per organization), so equal
    /// values in different scopes have unrelated indexes.
    pub fn of(&self, scope: &str, value: &str) -> String {
        self.digest(&[b"value", scope.as_bytes(), value.as_bytes()])
    }

    /// The index of a plugin key-value key: one HMAC per `/`-terminated
    /// prefix, then one of the whole key, each followed by `.`, so a
    /// listing by a prefix that ends at a `/` is a prefix match on the
    /// index.
    pub fn of_kv_key(&self, namespace: &str, key: &str) -> String {
        let mut index = self.kv_boundaries(namespace, key);
        index.push_str(&self.digest(&[b"kv-key", namespace.as_bytes(), key.as_bytes()]));
        index.push('.');
        index
    }

    /// What the index of every key starting with `prefix` starts with.
    /// Keys with that index prefix start with `prefix` up to its last
    /// `/`; a caller listing by a prefix that does not end with `/` must
    /// still filter the opened keys.
    pub fn of_kv_prefix(&self, namespace: &str, prefix: &str) -> String {
        self.kv_boundaries(namespace, prefix)
    }

    fn kv_boundaries(&self, namespace: &str, key: &str) -> String {
        let mut index = String::new();
        for (at, _) in key.match_indices('/') {
            index.push_str(&self.digest(&[
                b"kv-prefix",
                namespace.as_bytes(),
                &key.as_bytes()[..=at],
            ]));
            index.push('.');
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_keyed_scoped_and_prefix_preserving_for_kv_keys() {
        let index = BlindIndex::new(&[1; 32]);
        let other = BlindIndex::new(&[2; 32]);
        assert_eq!(
            index.of("users.email", "a@x"),
            index.of("users.email", "a@x")
        );
        assert_ne!(
            index.of("users.email", "a@x"),
            other.of("users.email", "a@x")
        );
        assert_ne!(index.of("users.email", "a@x"), index.of("orgs.name", "a@x"));
        assert!(!index.of("users.email", "a@x").contains("a@x"));

        let key = index.of_kv_key("ns", "email/a@x/1.2.3.4");
        assert!(key.starts_with(&index.of_kv_prefix("ns", "email/")));
        assert!(key.starts_with(&index.of_kv_prefix("ns", "email/a@x/")));
        assert!(key.starts_with(&index.of_kv_prefix("ns", "")));
        assert!(!key.starts_with(&index.of_kv_prefix("ns", "email/b@x/")));
        assert!(!key.starts_with(&index.of_kv_prefix("other", "email/")));
        // A key equal to the prefix is listed under it.
        assert!(
            index
                .of_kv_key("ns", "email/")
                .starts_with(&index.of_kv_prefix("ns", "email/"))
        );
        assert_ne!(index.of_kv_key("ns", "a/b"), index.of_kv_key("ns", "a/c"));
    }
}
