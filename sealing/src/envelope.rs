//! The sealed form of a credential, as the API carries it.

use serde::{Deserialize, Serialize};

/// A credential sealed to each agent key of its environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedCredential {
    /// Its version; bound into every recipient's seal.
    pub version: u64,
    /// One seal per agent key.
    pub recipients: Vec<Recipient>,
}

/// The credential sealed to one agent key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    /// The agent key (`agk_…`).
    pub agent_key_id: String,
    /// HPKE's encapsulated key, base64url (32 bytes).
    pub enc: String,
    /// The AES-256-GCM ciphertext with its tag, base64url.
    pub ciphertext: String,
}

impl SealedCredential {
    /// The seal for `agent_key_id`, if there is one.
    pub fn recipient(&self, agent_key_id: &str) -> Option<&Recipient> {
        self.recipients
            .iter()
            .find(|r| r.agent_key_id == agent_key_id)
    }
}
