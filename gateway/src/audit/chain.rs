//! The hash chain: each record's hash covers the previous record's hash
//! and the record's exact bytes, so changing, removing, inserting or
//! reordering any record breaks every link after it.

use ring::digest;

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// What the first record of a chain links to.
pub const GENESIS: Digest = [0; 32];

/// Domain separation, so a chain hash is never mistaken for another
/// SHA-256 the gateway computes.
const DOMAIN: &[u8] = b"portcullis-audit-chain-v1\n";

/// The hash of `record` (its stored JSON, byte for byte) following `prev`.
pub fn link(prev: &Digest, record: &str) -> Digest {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(DOMAIN);
    context.update(prev);
    context.update(record.as_bytes());
    let mut out = [0; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// `bytes` as a digest, if it is one.
pub fn digest_of(bytes: &[u8]) -> Option<Digest> {
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_depends_on_the_previous_hash_and_every_byte() {
        let first = link(&GENESIS, r#"{"seq":1}"#);
        assert_ne!(first, link(&GENESIS, r#"{"seq":1} "#));
        assert_ne!(link(&first, "x"), link(&GENESIS, "x"));
        assert_eq!(first, link(&GENESIS, r#"{"seq":1}"#));
    }
}
