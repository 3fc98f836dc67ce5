//! The key provider of last resort: data keys wrapped under a key derived
//! from the data directory's local key file, in the gateway itself. Used
//! when the configuration names no key-provider plugin (and by in-memory
//! stores, with a random key). It protects as much as the key file's
//! permissions do; production deployments name a KMS.

use super::keyring::{KeyError, KeyFuture, KeyWrapper, WrappedDataKey, canonical_context};
use super::legacy::derive_key;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretBox};

/// The key id recorded for data keys it wraps.
const KEY_ID: &str = "local-1";

/// Wraps data keys under the local key.
pub struct LocalKeyWrapper {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for LocalKeyWrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalKeyWrapper(..)")
    }
}

impl LocalKeyWrapper {
    /// A wrapper under a key derived from the data directory's `root` key.
    pub fn from_local_key(root: &SecretBox<[u8; 32]>) -> Result<Self, KeyError> {
        let derived = derive_key(root, "store-master-key")
            .map_err(|_| KeyError::Refused("cannot derive the local master key".into()))?;
        let key = UnboundKey::new(&AES_256_GCM, derived.expose_secret())
            .map_err(|_| KeyError::Refused("cannot load the local master key".into()))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            random: SystemRandom::new(),
        })
    }

    /// A wrapper under a random key (for in-memory stores).
    pub fn ephemeral() -> Result<Self, KeyError> {
        let mut root = [0u8; 32];
        SystemRandom::new()
            .fill(&mut root)
            .map_err(|_| KeyError::Unavailable("no randomness available".into()))?;
        Self::from_local_key(&SecretBox::new(Box::new(root)))
    }

    fn wrap_now(
        &self,
        key: &[u8; 32],
        context: &[(String, String)],
    ) -> Result<WrappedDataKey, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| KeyError::Unavailable("no randomness available".into()))?;
        let mut body = key.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(canonical_context(context)),
                &mut body,
            )
            .map_err(|_| KeyError::Refused("cannot wrap the data key".into()))?;
        let mut ciphertext = nonce.to_vec();
        ciphertext.extend_from_slice(&body);
        Ok(WrappedDataKey {
            master_key_id: KEY_ID.into(),
            ciphertext,
        })
    }

    fn unwrap_now(
        &self,
        wrapped: &WrappedDataKey,
        context: &[(String, String)],
    ) -> Result<SecretBox<[u8; 32]>, KeyError> {
        let refused = || KeyError::Refused("the wrapped data key does not open".into());
        if wrapped.master_key_id != KEY_ID || wrapped.ciphertext.len() < NONCE_LEN {
            return Err(refused());
        }
        let (nonce, body) = wrapped.ciphertext.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refused())?;
        let mut body = body.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(canonical_context(context)), &mut body)
            .map_err(|_| refused())?;
        let bytes: [u8; 32] = plaintext.try_into().map_err(|_| refused())?;
        zeroize::Zeroize::zeroize(&mut body);
        Ok(SecretBox::new(Box::new(bytes)))
    }
}

impl KeyWrapper for LocalKeyWrapper {
    fn name(&self) -> String {
        "local key file".into()
    }

    fn generate<'a>(
        &'a self,
        context: &'a [(String, String)],
    ) -> KeyFuture<'a, (SecretBox<[u8; 32]>, WrappedDataKey)> {
        Box::pin(async move {
            let mut key = Box::new([0u8; 32]);
            self.random
                .fill(key.as_mut_slice())
                .map_err(|_| KeyError::Unavailable("no randomness available".into()))?;
            let key = SecretBox::new(key);
            let wrapped = self.wrap_now(key.expose_secret(), context)?;
            Ok((key, wrapped))
        })
    }

    fn wrap<'a>(
        &'a self,
        key: &'a [u8; 32],
        context: &'a [(String, String)],
    ) -> KeyFuture<'a, WrappedDataKey> {
        Box::pin(async move { self.wrap_now(key, context) })
    }

    fn unwrap<'a>(
        &'a self,
        wrapped: &'a WrappedDataKey,
        context: &'a [(String, String)],
    ) -> KeyFuture<'a, SecretBox<[u8; 32]>> {
        Box::pin(async move { self.unwrap_now(wrapped, context) })
    }
}
