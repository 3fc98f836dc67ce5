//! Byte encodings: the canonical strings that are signed or bound into a
//! seal, and base64url (no padding) for keys and ciphertexts in JSON and
//! files.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A value that is not in the expected encoding; names what it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Not base64url.
    #[error("{what} is not base64url (RFC 4648 §5, without padding)")]
    NotBase64 {
        /// What was being read.
        what: &'static str,
    },
    /// Decoded to the wrong number of bytes.
    #[error("{what} must be {expected} bytes, not {found}")]
    Length {
        /// What was being read.
        what: &'static str,
        /// The length it must have.
        expected: usize,
        /// The length it had.
        found: usize,
    },
}

/// `bytes` as base64url without padding.
pub fn encode_base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding (surrounding whitespace ignored, as
/// in a key file); `what` names the value in the error.
pub fn decode_base64url(text: &str, what: &'static str) -> Result<Vec<u8>, FormatError> {
    URL_SAFE_NO_PAD
        .decode(text.trim())
        .map_err(|_| FormatError::NotBase64 { what })
}

/// Decodes base64url into exactly `N` bytes.
pub(crate) fn decode_fixed<const N: usize>(
    text: &str,
    what: &'static str,
) -> Result<[u8; N], FormatError> {
    let bytes = decode_base64url(text, what)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| FormatError::Length {
        what,
        expected: N,
        found: bytes.len(),
    })
}

/// `prefix` and the first `bytes` bytes of SHA-256 over `input`, in
/// lower-case hex: the id of a key.
pub(crate) fn key_id(prefix: &str, input: &[u8], bytes: usize) -> String {
    let hash = ring::digest::digest(&ring::digest::SHA256, input);
    let mut id = String::with_capacity(prefix.len() + 2 * bytes);
    id.push_str(prefix);
    for b in &hash.as_ref()[..bytes] {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// The canonical encoding of a labelled tuple: the label and then each
/// field, every one preceded by its length as four big-endian bytes. No
/// two different tuples encode the same, so a value cannot slide from one
/// field into the next (an organization `a` with environment `bc` is not
/// organization `ab` with environment `c`).
pub(crate) fn canonical(label: &str, fields: &[&[u8]]) -> Vec<u8> {
    let total = 4 + label.len() + fields.iter().map(|f| 4 + f.len()).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    for part in std::iter::once(label.as_bytes()).chain(fields.iter().copied()) {
        let length = u32::try_from(part.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_cannot_slide_into_each_other() {
        assert_ne!(
            canonical("l", &[b"a", b"bc"]),
            canonical("l", &[b"ab", b"c"])
        );
        assert_ne!(canonical("l", &[b"a"]), canonical("la", &[]));
    }

    #[test]
    fn fixed_lengths_are_enforced_and_named() {
        let text = encode_base64url(&[7u8; 31]);
        assert_eq!(
            decode_fixed::<32>(&text, "an agent public key"),
            Err(FormatError::Length {
                what: "an agent public key",
                expected: 32,
                found: 31
            })
        );
        assert_eq!(
            decode_fixed::<32>("not base64!", "an agent public key"),
            Err(FormatError::NotBase64 {
                what: "an agent public key"
            })
        );
        assert_eq!(
            decode_fixed::<32>(&encode_base64url(&[7u8; 32]), "k"),
            Ok([7u8; 32])
        );
    }
}
