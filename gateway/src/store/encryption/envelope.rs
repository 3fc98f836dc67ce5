//! The sealed value's text form, `pc1.<data key id>.<base64url(nonce ‖
//! ciphertext ‖ tag)>`, and AES-256-GCM over it. The data key's id is in
//! the clear so a reader knows which key to unwrap and `keys status` can
//! count what each key covers without opening anything.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce};
use ring::rand::{SecureRandom, SystemRandom};

/// The prefix of every sealed value.
pub(super) const PREFIX: &str = "pc1.";

/// Length of a data key id: `dk_` then 12 hex digits.
pub(super) const KEY_ID_LEN: usize = 15;

/// Why a value could not be sealed or opened. Messages name the record,
/// never its content.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The stored bytes are not a sealed value of this record, or were
    /// changed, or were sealed for another record.
    #[error(
        "stored record `{record}` ({column}) failed its integrity check: it was changed, moved from another record, or sealed under another key"
    )]
    Integrity {
        /// The record, as `table/id`.
        record: String,
        /// The column.
        column: String,
    },
    /// The data key a value was sealed under cannot be used.
    #[error("data key `{key}` cannot be used: {reason}")]
    KeyUnavailable {
        /// The data key's id.
        key: String,
        /// Why (the key provider's error, or that the key is unknown).
        reason: String,
    },
    /// The store's keys have not been unlocked yet.
    #[error("the store's encryption keys are not unlocked")]
    Locked,
    /// The system random generator failed.
    #[error("no randomness available")]
    Randomness,
    /// A key could not be derived or loaded.
    #[error("cannot derive an encryption key")]
    Key,
}

/// The data key id a sealed value names, if it is one.
pub(super) fn key_id_of(sealed: &str) -> Option<&str> {
    let rest = sealed.strip_prefix(PREFIX)?;
    let (id, _) = rest.split_once('.')?;
    (id.len() == KEY_ID_LEN && id.starts_with("dk_")).then_some(id)
}

/// Seals `plaintext` under `key` (whose id is `key_id`) bound to `aad`.
pub(super) fn seal(
    key: &LessSafeKey,
    key_id: &str,
    aad: &[u8],
    plaintext: &[u8],
    random: &SystemRandom,
) -> Result<String, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    random.fill(&mut nonce).map_err(|_| SealError::Randomness)?;
    let mut body = Vec::with_capacity(NONCE_LEN + plaintext.len() + AES_256_GCM.tag_len());
    body.extend_from_slice(&nonce);
    body.extend_from_slice(plaintext);
    let (_, in_out) = body.split_at_mut(NONCE_LEN);
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
        .map_err(|_| SealError::Randomness)?;
    body.extend_from_slice(tag.as_ref());
    let mut text = String::with_capacity(PREFIX.len() + KEY_ID_LEN + 1 + body.len() * 4 / 3 + 4);
    text.push_str(PREFIX);
    text.push_str(key_id);
    text.push('.');
    URL_SAFE_NO_PAD.encode_string(&body, &mut text);
    Ok(text)
}

/// Opens the body of a sealed value (after its key id) with `key`;
/// `None` if it does not authenticate.
pub(super) fn open(key: &LessSafeKey, aad: &[u8], sealed: &str) -> Option<Vec<u8>> {
    let rest = sealed.strip_prefix(PREFIX)?;
    let (_, body) = rest.split_once('.')?;
    let mut bytes = URL_SAFE_NO_PAD.decode(body).ok()?;
    if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        return None;
    }
    let nonce = Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN]).ok()?;
    let plaintext = key
        .open_within(nonce, Aad::from(aad), &mut bytes, NONCE_LEN..)
        .ok()?;
    Some(plaintext.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::aead::UnboundKey;

    fn key(byte: u8) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[byte; 32]).unwrap())
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_associated_data() {
        let random = SystemRandom::new();
        let sealed = seal(&key(1), "dk_000000000001", b"users/u1", b"alice", &random).unwrap();
        assert_eq!(key_id_of(&sealed), Some("dk_000000000001"));
        assert!(!sealed.contains("alice"));
        assert_eq!(open(&key(1), b"users/u1", &sealed).unwrap(), b"alice");
        assert_eq!(open(&key(1), b"users/u2", &sealed), None);
        assert_eq!(open(&key(2), b"users/u1", &sealed), None);
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(open(&key(1), b"users/u1", &tampered), None);
        assert_eq!(key_id_of("plain text"), None);
        assert_eq!(open(&key(1), b"users/u1", "pc1.dk_000000000001."), None);
    }
}
