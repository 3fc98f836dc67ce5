//! Sealing of stored values: AES-256-GCM under a key derived from the
//! gateway's local key, with the row's identity as associated data, so a
//! value copied to another row (or namespace) fails to open.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretBox};

/// Why a value could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The stored bytes are not a sealed value, or were sealed for another
    /// row or under another key.
    #[error("stored value failed authentication (tampered, moved, or sealed under another key)")]
    Authentication,
    /// The system random generator failed.
    #[error("no randomness available")]
    Randomness,
    /// The sealing key could not be derived.
    #[error("cannot derive the sealing key")]
    Key,
}

/// Seals and opens values; the key never leaves this type.
pub struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

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

/// Format version byte at the front of every sealed value.
const VERSION: u8 = 1;

impl Sealer {
    /// A sealer for `purpose`, with a key derived from `root`.
    pub fn derive(root: &SecretBox<[u8; 32]>, purpose: &str) -> Result<Self, SealError> {
        let bytes = derive_key(root, purpose)?;
        let key =
            UnboundKey::new(&AES_256_GCM, bytes.expose_secret()).map_err(|_| SealError::Key)?;
        Ok(Self {
            key: LessSafeKey::new(key),
            random: SystemRandom::new(),
        })
    }

    /// A sealer with a random key, for in-memory stores.
    pub fn ephemeral() -> Result<Self, SealError> {
        let mut root = [0u8; 32];
        SystemRandom::new()
            .fill(&mut root)
            .map_err(|_| SealError::Randomness)?;
        Self::derive(&SecretBox::new(Box::new(root)), "ephemeral")
    }

    /// Seals `plaintext` bound to `context`: `version || nonce || ciphertext+tag`.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SealError::Randomness)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + AES_256_GCM.tag_len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut body,
            )
            .map_err(|_| SealError::Authentication)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a value sealed for `context`.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError::Authentication)?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return Err(SealError::Authentication);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Authentication)?;
        let mut body = body.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut body)
            .map_err(|_| SealError::Authentication)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_with_context_and_detects_tampering() {
        let root = SecretBox::new(Box::new([7u8; 32]));
        let sealer = Sealer::derive(&root, "kv").unwrap();
        let sealed = sealer.seal(b"ns\0key", b"secret").unwrap();
        assert!(
            !sealed.windows(6).any(|w| w == b"secret"),
            "no plaintext in the sealed bytes"
        );
        assert_eq!(sealer.open(b"ns\0key", &sealed).unwrap(), b"secret");
        assert_eq!(
            sealer.open(b"ns\0other", &sealed),
            Err(SealError::Authentication)
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            sealer.open(b"ns\0key", &tampered),
            Err(SealError::Authentication)
        );
        assert_eq!(
            Sealer::derive(&root, "other")
                .unwrap()
                .open(b"ns\0key", &sealed),
            Err(SealError::Authentication)
        );
        assert_eq!(sealer.open(b"ns\0key", b""), Err(SealError::Authentication));
    }
}
