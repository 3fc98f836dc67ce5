//! API keys: `pcs_<key id>_<secret>_<checksum>`.
//!
//! - `pcs_` lets secret scanners recognise a leaked key;
//! - the key id (12 base62 characters) is public and indexes the stored record;
//! - the secret is 43 base62 characters (≥ 256 bits of randomness), shown once;
//! - the checksum (6 base62 characters of SHA-256 over the rest) catches typos
//!   and truncation before any lookup.
//!
//! Only a keyed hash (HMAC-SHA256 under a gateway key, over id and secret)
//! is stored; verification recomputes it and compares in constant time.

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretBox, SecretString};

/// The prefix of every key.
pub const PREFIX: &str = "pcs_";
const ID_LEN: usize = 12;
const SECRET_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a presented string is not an API key. Never contains the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyFormatError {
    /// Not `pcs_` + three base62 parts of the right lengths.
    #[error("not a Portcullis API key")]
    Malformed,
    /// Well-formed, but the checksum does not match: a typo or truncation.
    #[error("API key checksum mismatch")]
    Checksum,
    /// The random generator failed while issuing a key.
    #[error("no randomness available")]
    Randomness,
}

/// A syntactically valid key, split into its parts.
pub struct PresentedKey<'a> {
    /// The public key id.
    pub id: &'a str,
    secret: &'a str,
}

impl std::fmt::Debug for PresentedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A newly issued key: the full token (show it once) and what to store.
pub struct IssuedKey {
    /// The public key id.
    pub id: String,
    /// The whole key, for the caller to hand over once.
    pub token: SecretString,
    /// The keyed hash to store.
    pub hash: [u8; 32],
}

fn checksum(body: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
    let mut n = u64::from_be_bytes([
        0,
        0,
        0,
        0,
        digest.as_ref()[0],
        digest.as_ref()[1],
        digest.as_ref()[2],
        digest.as_ref()[3],
    ]);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|b| char::from(*b)).collect()
}

fn is_base62(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Parses and checksums `token` without touching any store.
pub fn parse(token: &str) -> Result<PresentedKey<'_>, ApiKeyFormatError> {
    let rest = token
        .strip_prefix(PREFIX)
        .ok_or(ApiKeyFormatError::Malformed)?;
    let mut parts = rest.split('_');
    let (Some(id), Some(secret), Some(sum), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ApiKeyFormatError::Malformed);
    };
    if !is_base62(id, ID_LEN) || !is_base62(secret, SECRET_LEN) || !is_base62(sum, CHECKSUM_LEN) {
        return Err(ApiKeyFormatError::Malformed);
    }
    let body = &token[..token.len() - CHECKSUM_LEN - 1];
    let expected = checksum(body);
    // The checksum is not secret; a plain comparison is fine.
    if expected != sum {
        return Err(ApiKeyFormatError::Checksum);
    }
    Ok(PresentedKey { id, secret })
}

/// Issues keys and verifies presented ones against stored hashes. Also
/// used, under its own key, for other `id` + `secret` credentials (session
/// cookies).
pub struct KeyedHasher {
    key: hmac::Key,
    random: SystemRandom,
}

impl std::fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHasher(..)")
    }
}

/// `len` uniformly random base62 characters.
pub fn random_base62(random: &SystemRandom, len: usize) -> Result<String, ApiKeyFormatError> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        random
            .fill(&mut buf)
            .map_err(|_| ApiKeyFormatError::Randomness)?;
        // Rejection sampling: 248 = 4 * 62, so every symbol is equally likely.
        for byte in buf.iter().filter(|b| **b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(BASE62[usize::from(*byte % 62)]));
        }
    }
    Ok(out)
}

impl KeyedHasher {
    /// A hasher keyed with `key` (derive it for this purpose only).
    pub fn new(key: &SecretBox<[u8; 32]>) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key.expose_secret()),
            random: SystemRandom::new(),
        }
    }

    /// The HMAC of `id:secret`, fed in pieces (no copy of the secret).
    fn tag(&self, id: &str, secret: &str) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(id.as_bytes());
        context.update(b":");
        context.update(secret.as_bytes());
        context.sign()
    }

    /// The keyed hash of `id` and `secret`.
    pub fn hash(&self, id: &str, secret: &str) -> [u8; 32] {
        let tag = self.tag(id, secret);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(tag.as_ref());
        hash
    }

    /// Whether `id` and `secret` match `hash`, in constant time.
    pub fn verify_parts(&self, id: &str, secret: &str, hash: &[u8; 32]) -> bool {
        let tag = self.tag(id, secret);
        subtle::ConstantTimeEq::ct_eq(tag.as_ref(), &hash[..]).into()
    }

    /// Random base62 text of `len` characters from this hasher's generator.
    pub fn random(&self, len: usize) -> Result<String, ApiKeyFormatError> {
        random_base62(&self.random, len)
    }

    /// Issues a new key.
    pub fn issue(&self) -> Result<IssuedKey, ApiKeyFormatError> {
        let id = random_base62(&self.random, ID_LEN)?;
        let secret = SecretString::from(random_base62(&self.random, SECRET_LEN)?);
        let body = format!("{PREFIX}{id}_{}", secret.expose_secret());
        let token = SecretString::from(format!("{body}_{}", checksum(&body)));
        let hash = self.hash(&id, secret.expose_secret());
        Ok(IssuedKey { id, token, hash })
    }

    /// Whether `presented` matches the stored `hash`, in constant time.
    pub fn verify(&self, presented: &PresentedKey<'_>, hash: &[u8; 32]) -> bool {
        self.verify_parts(presented.id, presented.secret, hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(byte: u8) -> KeyedHasher {
        KeyedHasher::new(&SecretBox::new(Box::new([byte; 32])))
    }

    #[test]
    fn issued_keys_parse_and_verify() {
        let keyed = hasher(1);
        let issued = keyed.issue().unwrap();
        let token = issued.token.expose_secret();
        assert!(token.starts_with("pcs_"));
        assert_eq!(token.len(), 4 + ID_LEN + 1 + SECRET_LEN + 1 + CHECKSUM_LEN);
        let presented = parse(token).unwrap();
        assert_eq!(presented.id, issued.id);
        assert!(keyed.verify(&presented, &issued.hash));
        assert!(
            !hasher(2).verify(&presented, &issued.hash),
            "another gateway key must not verify"
        );
        assert!(
            !format!("{presented:?}").contains(presented.secret),
            "Debug never shows the secret"
        );
    }

    #[test]
    fn every_single_character_change_is_caught_by_the_checksum_or_format() {
        let issued = hasher(1).issue().unwrap();
        let token = issued.token.expose_secret().to_string();
        for i in 4..token.len() {
            let mut bytes = token.clone().into_bytes();
            if bytes[i] == b'_' {
                continue;
            }
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(bytes).unwrap();
            assert!(parse(&changed).is_err(), "change at {i} passed: {changed}");
        }
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_lookup() {
        let issued = hasher(1).issue().unwrap();
        let token = issued.token.expose_secret();
        for bad in [
            "",
            "pcs_",
            "Bearer",
            &token[..token.len() - 1],
            &token.replacen("pcs_", "pcz_", 1),
            &format!("{token}_x"),
            &token.replacen('_', "-", 2),
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_uniform_base62_of_full_length() {
        let keyed = hasher(3);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let issued = keyed.issue().unwrap();
            let secret = parse(issued.token.expose_secret())
                .unwrap()
                .secret
                .to_string();
            assert_eq!(secret.len(), SECRET_LEN);
            seen.extend(secret.chars());
        }
        assert_eq!(seen.len(), 62, "all 62 symbols occur");
    }
}
