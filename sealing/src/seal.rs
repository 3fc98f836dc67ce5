//! Sealing a credential to agent keys.

use crate::context::CredentialContext;
use crate::encoding::encode_base64url;
use crate::envelope::{Recipient, SealedCredential};
use crate::keys::AgentPublicKey;
use crate::suite::{Aead, Kdf, Kem};
use hpke::{Deserializable as _, Kem as _, OpModeS, Serializable as _};

/// Where a credential is going: everything its seals are bound to but the
/// agent key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination<'a> {
    /// The organization's id.
    pub org: &'a str,
    /// The environment's id (the one the agent keys were endorsed for).
    pub environment: &'a str,
    /// The connection's id.
    pub connection: &'a str,
    /// The version the sealed credential will have.
    pub version: u64,
}

/// Why a credential could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Nobody to seal to: the environment has no agent key.
    #[error("the environment has no agent key to seal to; enroll an agent first")]
    NoRecipients,
    /// The same key twice.
    #[error("agent key {0} is listed twice")]
    DuplicateRecipient(String),
    /// HPKE refused the key (e.g. a low-order X25519 point).
    #[error("agent key {0} is not a usable X25519 public key")]
    UnusableKey(String),
}

/// Seals `plaintext` to each of `recipients`, each seal bound to
/// `destination` and the recipient's key id (see [`CredentialContext`]).
pub fn seal(
    plaintext: &[u8],
    destination: &Destination<'_>,
    recipients: &[AgentPublicKey],
) -> Result<SealedCredential, SealError> {
    if recipients.is_empty() {
        return Err(SealError::NoRecipients);
    }
    let mut sealed = Vec::with_capacity(recipients.len());
    for (i, key) in recipients.iter().enumerate() {
        let id = key.id();
        if recipients[..i].contains(key) {
            return Err(SealError::DuplicateRecipient(id.to_string()));
        }
        let unusable = || SealError::UnusableKey(id.to_string());
        let public =
            <Kem as hpke::Kem>::PublicKey::from_bytes(key.as_bytes()).map_err(|_| unusable())?;
        let bound = CredentialContext {
            org: destination.org,
            environment: destination.environment,
            connection: destination.connection,
            agent_key: &id,
            version: destination.version,
        }
        .encode();
        let (enc, ciphertext) = hpke::single_shot_seal::<Aead, Kdf, Kem>(
            &OpModeS::Base,
            &public,
            &bound,
            plaintext,
            &bound,
        )
        .map_err(|_| unusable())?;
        sealed.push(Recipient {
            agent_key_id: id.to_string(),
            enc: encode_base64url(&enc.to_bytes()),
            ciphertext: encode_base64url(&ciphertext),
        });
    }
    Ok(SealedCredential {
        version: destination.version,
        recipients: sealed,
    })
}

/// A fresh X25519 key pair's public half, for tests that need a recipient
/// and never open (the private half is dropped).
#[doc(hidden)]
pub fn throwaway_recipient() -> AgentPublicKey {
    let (_, public) = Kem::gen_keypair();
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&public.to_bytes());
    AgentPublicKey::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TO: Destination<'static> = Destination {
        org: "org_a",
        environment: "env_1",
        connection: "con_1",
        version: 1,
    };

    #[test]
    fn each_recipient_gets_its_own_seal() {
        let a = throwaway_recipient();
        let b = throwaway_recipient();
        let sealed = seal(b"pw", &TO, &[a, b]).expect("sealed");
        assert_eq!(sealed.version, 1);
        assert_eq!(sealed.recipients.len(), 2);
        assert!(sealed.recipient(a.id().as_str()).is_some());
        assert!(sealed.recipient(b.id().as_str()).is_some());
        assert_ne!(sealed.recipients[0].enc, sealed.recipients[1].enc);
        assert!(!sealed.recipients[0].ciphertext.contains("pw"));
    }

    #[test]
    fn nobody_twice_or_a_bad_key_is_refused() {
        let a = throwaway_recipient();
        assert_eq!(seal(b"pw", &TO, &[]), Err(SealError::NoRecipients));
        assert_eq!(
            seal(b"pw", &TO, &[a, a]),
            Err(SealError::DuplicateRecipient(a.id().to_string()))
        );
        // The all-zero point has small order: the shared secret would be
        // zero, which RFC 9180 §7.1.4 requires refusing.
        let zero = AgentPublicKey::from_bytes([0; 32]);
        assert_eq!(
            seal(b"pw", &TO, &[zero]),
            Err(SealError::UnusableKey(zero.id().to_string()))
        );
    }
}
