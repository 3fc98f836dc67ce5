//! The sealing older stores used for a few columns (AES-256-GCM under a
//! key derived from the data directory's local key, format version 1):
//! kept to open those values once, when a store is migrated to envelope
//! encryption; and key derivation from the local key.

use super::SealError;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretBox};

/// Derives an independent 256-bit key for `purpose` from `root`
/// (HKDF-SHA256), so one root key never serves two purposes directly.
pub fn derive_key(
    root: &SecretBox<[u8; 32]>,
    purpose: &str,
) -> Result<SecretBox<[u8; 32]>, SealError> {
    let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"portcullis key derivation v1");
    let prk = salt.extract(root.expose_secret());
    let info = [purpose.as_bytes()];
    let mut bytes = Box::new([0u8; 32]);
    prk.expand(&info, ring::hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(bytes.as_mut_slice()))
        .map_err(|_| SealError::Key)?;
    Ok(SecretBox::new(bytes))
}

/// Format version byte at the front of every format-1 value.
pub(super) const VERSION: u8 = 1;

/// The purpose older stores derived their sealing key for.
pub(super) const PURPOSE: &str = "plugin-kv";

/// Opens (and, for tests, seals) format-1 values; the key never leaves
/// this type.
pub struct LegacySealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for LegacySealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LegacySealer(..)")
    }
}

impl LegacySealer {
    /// The sealer older stores used, from the data directory's local key.
    pub fn from_local_key(root: &SecretBox<[u8; 32]>) -> Result<Self, SealError> {
        let bytes = derive_key(root, PURPOSE)?;
        let key =
            UnboundKey::new(&AES_256_GCM, bytes.expose_secret()).map_err(|_| SealError::Key)?;
        Ok(Self {
            key: LessSafeKey::new(key),
        })
    }

    /// Seals as older stores did: `version || nonce || ciphertext+tag`.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Randomness)?;
        let mut body = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut body,
            )
            .map_err(|_| SealError::Randomness)?;
        let mut out = vec![VERSION];
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a value sealed for `context`; `None` if it does not
    /// authenticate.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (&version, rest) = sealed.split_first()?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut body)
            .ok()?;
        Some(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_what_older_stores_sealed_and_nothing_else() {
        let root = SecretBox::new(Box::new([7u8; 32]));
        let sealer = LegacySealer::from_local_key(&root).unwrap();
        let sealed = sealer.seal(b"ns\0key", b"secret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(sealer.open(b"ns\0key", &sealed).unwrap(), b"secret");
        assert_eq!(sealer.open(b"ns\0other", &sealed), None);
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(sealer.open(b"ns\0key", &tampered), None);
        let other = LegacySealer::from_local_key(&SecretBox::new(Box::new([8u8; 32]))).unwrap();
        assert_eq!(other.open(b"ns\0key", &sealed), None);
        assert_eq!(sealer.open(b"ns\0key", b""), None);
    }
}
