//! Agent public keys and their ids.
//!
//! An agent key's id is derived from the key itself, so the id a seal is
//! bound to cannot be moved onto another key.

use crate::encoding::{FormatError, decode_fixed, encode_base64url, key_id};
use crate::suite::PUBLIC_KEY_LEN;
use std::fmt;

/// Prefix of every agent key id.
const AGENT_KEY_ID_PREFIX: &str = "agk_";
/// Hex digits of an agent key id after its prefix (128 bits of SHA-256).
const AGENT_KEY_ID_HEX: usize = 32;

/// A data-plane agent's X25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AgentPublicKey([u8; PUBLIC_KEY_LEN]);

impl AgentPublicKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; PUBLIC_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Reads the base64url form (the API's and the key files').
    pub fn from_base64url(text: &str) -> Result<Self, FormatError> {
        decode_fixed(text, "an agent public key").map(Self)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.0
    }

    /// The base64url form.
    pub fn to_base64url(&self) -> String {
        encode_base64url(&self.0)
    }

    /// Its id: `agk_` and the first 128 bits of SHA-256 over a label and
    /// the key, in hex.
    pub fn id(&self) -> AgentKeyId {
        let mut input = b"portcullis agent key id\0".to_vec();
        input.extend_from_slice(&self.0);
        AgentKeyId(key_id(AGENT_KEY_ID_PREFIX, &input, AGENT_KEY_ID_HEX / 2))
    }
}

impl fmt::Debug for AgentPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentPublicKey({})", self.id())
    }
}

/// The id of an agent key (`agk_` and 32 lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentKeyId(String);

impl AgentKeyId {
    /// Reads an id, checking its shape (not that any key has it).
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix(AGENT_KEY_ID_PREFIX)?;
        let well_formed = hex.len() == AGENT_KEY_ID_HEX
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        well_formed.then(|| Self(text.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_key_and_parse_back() {
        let a = AgentPublicKey::from_bytes([1; 32]);
        let b = AgentPublicKey::from_bytes([2; 32]);
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id(), a.id());
        assert_eq!(AgentKeyId::parse(a.id().as_str()), Some(a.id()));
        assert_eq!(
            AgentPublicKey::from_base64url(&a.to_base64url()).ok(),
            Some(a)
        );
    }

    #[test]
    fn malformed_ids_are_refused() {
        for text in [
            "",
            "agk_",
            "agk_0123",
            "agk_0123456789ABCDEF0123456789abcdef",
            "agx_0123456789abcdef0123456789abcdef",
            "agk_0123456789abcdef0123456789abcdef0",
        ] {
            assert_eq!(AgentKeyId::parse(text), None, "{text}");
        }
    }
}
