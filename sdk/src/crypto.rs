//! Native cryptography provided by the gateway: signature verification,
//! signing with a key the plugin holds, digests, HMAC and constant-time
//! comparison.

use crate::__raw::crypto as raw;
pub use crate::__raw::crypto::{CryptoError, HashAlgorithm, PublicKey, SignatureAlgorithm};

/// Verifies `signature` over `message` with `key`. `Ok(false)` means the
/// signature does not match.
pub fn verify_signature(
    algorithm: SignatureAlgorithm,
    key: &PublicKey,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    raw::verify_signature(algorithm, key, message, signature)
}

/// Signs `message` with a PEM PKCS#8 private key the plugin holds
/// (`Rs256` or `Es256`; the signature in JWS form).
pub fn sign(
    algorithm: SignatureAlgorithm,
    private_key_pem: &str,
    message: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    raw::sign(algorithm, private_key_pem, message)
}

/// Computes a digest.
pub fn digest(algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    raw::digest(algorithm, data)
}

/// Computes an HMAC.
pub fn hmac(algorithm: HashAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    raw::hmac(algorithm, key, data)
}

/// Compares in time that depends only on the lengths.
pub fn constant_time_equals(a: &[u8], b: &[u8]) -> bool {
    raw::constant_time_equals(a, b)
}
