//! What a sealed credential is bound to.

use crate::encoding::canonical;
use crate::keys::AgentKeyId;

/// The label of the HPKE `info` and AAD of a connection credential; a new
/// format gets a new label.
const LABEL: &str = "portcullis connection credential v1";

/// Where a sealed credential belongs: its organization, environment and
/// connection, the agent key it is sealed to and its version. The
/// canonical encoding of all five is the HPKE `info` (so it is in the key
/// schedule) and the AAD of the one message, so a ciphertext moved to
/// another connection, environment, organization or agent, or replayed as
/// another version, does not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialContext<'a> {
    /// The organization's id.
    pub org: &'a str,
    /// The environment's id.
    pub environment: &'a str,
    /// The connection's id.
    pub connection: &'a str,
    /// The agent key it is sealed to.
    pub agent_key: &'a AgentKeyId,
    /// The credential's version (1 for the first, then one more per
    /// replacement).
    pub version: u64,
}

impl CredentialContext<'_> {
    /// The canonical encoding, used as HPKE `info` and as AAD.
    pub fn encode(&self) -> Vec<u8> {
        canonical(
            LABEL,
            &[
                self.org.as_bytes(),
                self.environment.as_bytes(),
                self.connection.as_bytes(),
                self.agent_key.as_str().as_bytes(),
                &self.version.to_be_bytes(),
            ],
        )
    }
}
