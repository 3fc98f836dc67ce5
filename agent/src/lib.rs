//! The data-plane agent's side of zero-knowledge credentials: its X25519
//! key pair, and opening a credential sealed to it.
//!
//! This is the only code that opens a sealed credential. The gateway
//! crate does not depend on this one (a test checks it over
//! `cargo metadata`), so the control plane has no code path that could.

use hpke::{Deserializable as _, Kem as _, OpModeR, Serializable as _};
use portcullis_sealing::suite::{Aead, Kdf, Kem, PUBLIC_KEY_LEN, TAG_LEN};
use portcullis_sealing::{
    AgentPublicKey, CredentialContext, FormatError, SealedCredential, decode_base64url,
    encode_base64url,
};
use std::fmt;
use zeroize::Zeroizing;

/// Why a sealed credential did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The credential holds no seal for this agent's key.
    #[error("the credential is not sealed to agent key {0}")]
    NotARecipient(String),
    /// The seal is not in the expected encoding.
    #[error("the seal for agent key {agent_key} is malformed: {reason}")]
    Malformed {
        /// The agent key.
        agent_key: String,
        /// What is wrong.
        reason: String,
    },
    /// Decryption failed: the ciphertext was changed, or it belongs to
    /// another organization, environment, connection or version.
    #[error(
        "the credential for connection `{connection}` (version {version}) failed its integrity check: it was altered or sealed for another connection, environment, organization or version"
    )]
    Integrity {
        /// The connection it was opened for.
        connection: String,
        /// The version it claims.
        version: u64,
    },
    /// The private key file is not one this agent wrote.
    #[error("the agent private key is not 32 bytes of base64url")]
    BadPrivateKey,
}

/// Where the agent expects a credential to belong; the version is read
/// from the sealed credential, and is bound into its seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected<'a> {
    /// The organization.
    pub org: &'a str,
    /// The environment.
    pub environment: &'a str,
    /// The connection.
    pub connection: &'a str,
}

/// An agent's X25519 key pair.
pub struct AgentKeyPair {
    private: <Kem as hpke::Kem>::PrivateKey,
    public: AgentPublicKey,
}

impl AgentKeyPair {
    /// A new key pair from the system's randomness.
    pub fn generate() -> Self {
        let (private, public) = Kem::gen_keypair();
        Self::from_parts(private, &public)
    }

    fn from_parts(
        private: <Kem as hpke::Kem>::PrivateKey,
        public: &<Kem as hpke::Kem>::PublicKey,
    ) -> Self {
        let mut bytes = [0u8; PUBLIC_KEY_LEN];
        bytes.copy_from_slice(&public.to_bytes());
        Self {
            private,
            public: AgentPublicKey::from_bytes(bytes),
        }
    }

    /// Reads the private key file's form (base64url of the 32 bytes).
    pub fn from_private_base64url(text: &str) -> Result<Self, OpenError> {
        let bytes = Zeroizing::new(
            decode_base64url(text, "an agent private key").map_err(|_| OpenError::BadPrivateKey)?,
        );
        let private = <Kem as hpke::Kem>::PrivateKey::from_bytes(&bytes)
            .map_err(|_| OpenError::BadPrivateKey)?;
        let public = Kem::sk_to_pk(&private);
        Ok(Self::from_parts(private, &public))
    }

    /// The private key file's form.
    pub fn to_private_base64url(&self) -> Zeroizing<String> {
        let bytes = Zeroizing::new(self.private.to_bytes().to_vec());
        Zeroizing::new(encode_base64url(&bytes))
    }

    /// The public half, to be endorsed by the trust key and enrolled.
    pub fn public(&self) -> AgentPublicKey {
        self.public
    }

    /// Opens the seal made for this agent's key, if it belongs where
    /// `expected` says.
    pub fn open(
        &self,
        sealed: &SealedCredential,
        expected: &Expected<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let id = self.public.id();
        let recipient = sealed
            .recipient(id.as_str())
            .ok_or_else(|| OpenError::NotARecipient(id.to_string()))?;
        let malformed = |error: FormatError| OpenError::Malformed {
            agent_key: id.to_string(),
            reason: error.to_string(),
        };
        let enc = decode_base64url(&recipient.enc, "the encapsulated key").map_err(malformed)?;
        let ciphertext =
            decode_base64url(&recipient.ciphertext, "the ciphertext").map_err(malformed)?;
        if ciphertext.len() < TAG_LEN {
            return Err(OpenError::Malformed {
                agent_key: id.to_string(),
                reason: format!("the ciphertext is shorter than its {TAG_LEN}-byte tag"),
            });
        }
        let integrity = || OpenError::Integrity {
            connection: expected.connection.to_string(),
            version: sealed.version,
        };
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&enc).map_err(|_| {
            OpenError::Malformed {
                agent_key: id.to_string(),
                reason: format!("the encapsulated key must be {PUBLIC_KEY_LEN} bytes"),
            }
        })?;
        let bound = CredentialContext {
            org: expected.org,
            environment: expected.environment,
            connection: expected.connection,
            agent_key: &id,
            version: sealed.version,
        }
        .encode();
        hpke::single_shot_open::<Aead, Kdf, Kem>(
            &OpModeR::Base,
            &self.private,
            &enc,
            &bound,
            &ciphertext,
            &bound,
        )
        .map(Zeroizing::new)
        .map_err(|_| integrity())
    }
}

impl fmt::Debug for AgentKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AgentKeyPair({}, private half redacted)",
            self.public.id()
        )
    }
}

#[cfg(test)]
mod tests;
