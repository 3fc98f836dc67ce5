//! Checkpoints: the head of a chain (its sequence number and hash) signed
//! with the gateway's Ed25519 audit key. The public keys are published at
//! `/.well-known/portcullis-audit-key`, old ones kept after a rotation, so
//! anyone holding them can check a chain offline.

use super::chain::Digest;
use base64::Engine as _;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// Domain separation for checkpoint signatures.
const DOMAIN: &[u8] = b"portcullis-audit-checkpoint-v1\n";

/// A signed chain head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The chain.
    pub chain: String,
    /// The last sequence number it covers.
    pub seq: i64,
    /// The hash of that record (hex).
    #[serde(with = "hex::serde")]
    pub hash: Digest,
    /// When it was signed (Unix milliseconds).
    pub at: i64,
    /// The signing key's id.
    pub key_id: String,
    /// The Ed25519 signature (hex).
    #[serde(with = "hex::serde")]
    pub signature: Vec<u8>,
}

/// What is signed: chain, sequence number, hash and time, unambiguously.
fn message(chain: &str, seq: i64, hash: &Digest, at: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(DOMAIN.len() + chain.len() + 56);
    out.extend_from_slice(DOMAIN);
    out.extend_from_slice(&u32::try_from(chain.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(chain.as_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(hash);
    out.extend_from_slice(&at.to_be_bytes());
    out
}

/// The id of a public key: `ak_` and the first 8 bytes of its SHA-256.
pub fn key_id(public_key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
    format!("ak_{}", hex::encode(&digest.as_ref()[..8]))
}

/// Why a key could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The stored key is not an Ed25519 PKCS#8 document.
    #[error("the audit signing key is not a valid Ed25519 key")]
    Invalid,
    /// The system random source failed.
    #[error("could not generate an audit signing key")]
    Generate,
}

/// The private half, held by the gateway.
pub struct SigningKey {
    id: String,
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new key and its PKCS#8 document (to be stored sealed).
    pub fn generate() -> Result<(Self, Vec<u8>), KeyError> {
        let rng = ring::rand::SystemRandom::new();
        let document = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Generate)?;
        let key = Self::from_pkcs8(document.as_ref())?;
        Ok((key, document.as_ref().to_vec()))
    }

    /// The key stored as `document`.
    pub fn from_pkcs8(document: &[u8]) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8(document).map_err(|_| KeyError::Invalid)?;
        Ok(Self {
            id: key_id(pair.public_key().as_ref()),
            pair,
        })
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The public half (32 bytes).
    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// The checkpoint of `chain` at `seq` with `hash`, signed now (`at`).
    pub fn sign(&self, chain: &str, seq: i64, hash: Digest, at: i64) -> Checkpoint {
        let signature = self.pair.sign(&message(chain, seq, &hash, at));
        Checkpoint {
            chain: chain.to_string(),
            seq,
            hash,
            at,
            key_id: self.id.clone(),
            signature: signature.as_ref().to_vec(),
        }
    }
}

/// A published verification key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PublicKey {
    /// Its id (what checkpoints name).
    pub key_id: String,
    /// The raw 32-byte Ed25519 public key, base64url without padding.
    pub public_key: String,
    /// When it was made (Unix seconds).
    pub created_at: i64,
    /// When it stopped signing, if it has (it still verifies what it
    /// signed).
    #[serde(default)]
    pub retired_at: Option<i64>,
}

/// The document served at `/.well-known/portcullis-audit-key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeySet {
    /// Always `Ed25519`.
    pub algorithm: String,
    /// Every key that ever signed a checkpoint, newest first.
    pub keys: Vec<PublicKey>,
}

/// Why a checkpoint does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Signed by a key not in the set.
    #[error("signed by unknown key `{0}`")]
    UnknownKey(String),
    /// The signature does not match.
    #[error("its signature does not verify with key `{0}`")]
    BadSignature(String),
}

impl KeySet {
    /// A set of one raw public key (as given on the command line).
    pub fn of_raw(public_key: &[u8]) -> Self {
        Self {
            algorithm: "Ed25519".into(),
            keys: vec![PublicKey {
                key_id: key_id(public_key),
                public_key: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public_key),
                created_at: 0,
                retired_at: None,
            }],
        }
    }

    /// Reads a key file: the JSON key set, or one raw key in base64url,
    /// base64 or hex.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(set) = serde_json::from_str::<Self>(text) {
            return Some(set);
        }
        let decodings = [
            hex::decode(text).ok(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .ok(),
            base64::engine::general_purpose::STANDARD.decode(text).ok(),
        ];
        decodings
            .into_iter()
            .flatten()
            .find(|raw| raw.len() == 32)
            .map(|raw| Self::of_raw(&raw))
    }

    /// Checks `checkpoint`'s signature.
    pub fn verify(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.key_id == checkpoint.key_id)
            .ok_or_else(|| CheckpointError::UnknownKey(checkpoint.key_id.clone()))?;
        let bad = || CheckpointError::BadSignature(key.key_id.clone());
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&key.public_key)
            .map_err(|_| bad())?;
        // The id is derived from the key: a set listing a key under
        // another key's id verifies nothing.
        if key_id(&raw) != key.key_id {
            return Err(bad());
        }
        let message = message(
            &checkpoint.chain,
            checkpoint.seq,
            &checkpoint.hash,
            checkpoint.at,
        );
        UnparsedPublicKey::new(&ED25519, &raw)
            .verify(&message, &checkpoint.signature)
            .map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_only_unchanged_and_with_its_key() {
        let (key, _) = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap().0;
        let set = KeySet::of_raw(&key.public_key());
        let checkpoint = key.sign("org_a", 7, [3; 32], 1000);
        assert_eq!(set.verify(&checkpoint), Ok(()));
        for changed in [
            Checkpoint {
                seq: 8,
                ..checkpoint.clone()
            },
            Checkpoint {
                chain: "org_b".into(),
                ..checkpoint.clone()
            },
            Checkpoint {
                hash: [4; 32],
                ..checkpoint.clone()
            },
            Checkpoint {
                at: 1001,
                ..checkpoint.clone()
            },
        ] {
            assert!(set.verify(&changed).is_err(), "{changed:?}");
        }
        let forged = other.sign("org_a", 7, [3; 32], 1000);
        assert_eq!(
            set.verify(&forged),
            Err(CheckpointError::UnknownKey(other.id().to_string()))
        );
        // Another key listed under this key's id does not verify.
        let mut lying = KeySet::of_raw(&other.public_key());
        lying.keys[0].key_id = key.id().to_string();
        assert!(lying.verify(&checkpoint).is_err());
    }

    #[test]
    fn key_files_are_read_in_each_encoding() {
        let (key, _) = SigningKey::generate().unwrap();
        let raw = key.public_key();
        let set = KeySet::of_raw(&raw);
        for text in [
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw),
            base64::engine::general_purpose::STANDARD.encode(&raw),
            hex::encode(&raw),
            serde_json::to_string(&set).unwrap(),
        ] {
            assert_eq!(KeySet::parse(&text).unwrap().keys[0].key_id, key.id());
        }
        assert!(KeySet::parse("not a key").is_none());
    }
}
