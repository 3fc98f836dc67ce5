//! `portcullis:plugin/crypto`: signature verification, digests, HMAC and
//! constant-time comparison, done natively with `ring`.

pub mod der;
pub mod keys;

use crate::plugin::bindings::crypto::{
    CryptoError, HashAlgorithm, Host, PublicKey, SignatureAlgorithm,
};
use crate::plugin::state::HostState;
use keys::KeyMaterial;
use ring::signature::{self as sig, VerificationAlgorithm};
use subtle::ConstantTimeEq;

/// The `ring` algorithm for a WIT signature algorithm and the key family it needs.
fn algorithm(alg: SignatureAlgorithm) -> (&'static dyn VerificationAlgorithm, keys::Family) {
    use keys::Family::{Ec256, Ec384, Ed25519, Rsa};
    match alg {
        SignatureAlgorithm::Rs256 => (&sig::RSA_PKCS1_2048_8192_SHA256, Rsa),
        SignatureAlgorithm::Rs384 => (&sig::RSA_PKCS1_2048_8192_SHA384, Rsa),
        SignatureAlgorithm::Rs512 => (&sig::RSA_PKCS1_2048_8192_SHA512, Rsa),
        SignatureAlgorithm::Ps256 => (&sig::RSA_PSS_2048_8192_SHA256, Rsa),
        SignatureAlgorithm::Ps384 => (&sig::RSA_PSS_2048_8192_SHA384, Rsa),
        SignatureAlgorithm::Ps512 => (&sig::RSA_PSS_2048_8192_SHA512, Rsa),
        SignatureAlgorithm::Es256 => (&sig::ECDSA_P256_SHA256_FIXED, Ec256),
        SignatureAlgorithm::Es384 => (&sig::ECDSA_P384_SHA384_FIXED, Ec384),
        SignatureAlgorithm::Es256Der => (&sig::ECDSA_P256_SHA256_ASN1, Ec256),
        SignatureAlgorithm::Es384Der => (&sig::ECDSA_P384_SHA384_ASN1, Ec384),
        SignatureAlgorithm::Ed25519 => (&sig::ED25519, Ed25519),
    }
}

/// Verifies a signature; `Ok(false)` for a wrong signature, an error for an
/// unusable key.
pub fn verify_signature(
    alg: SignatureAlgorithm,
    key: &PublicKey,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let material = match key {
        PublicKey::Jwk(json) => keys::from_jwk(json),
        PublicKey::Pem(pem) => keys::from_pem(pem),
    }
    .map_err(CryptoError::InvalidKey)?;
    let (algorithm, family) = algorithm(alg);
    let KeyMaterial {
        family: key_family,
        bytes,
    } = material;
    if key_family != family {
        return Err(CryptoError::KeyAlgorithmMismatch);
    }
    Ok(sig::UnparsedPublicKey::new(algorithm, bytes)
        .verify(message, signature)
        .is_ok())
}

/// Signs `message` with a PEM PKCS#8 private key (RS256 or ES256).
pub fn sign(
    alg: SignatureAlgorithm,
    private_key_pem: &str,
    message: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let der = keys::private_key_der(private_key_pem).map_err(CryptoError::InvalidKey)?;
    let random = ring::rand::SystemRandom::new();
    match alg {
        SignatureAlgorithm::Rs256 => {
            let pair = sig::RsaKeyPair::from_pkcs8(&der)
                .map_err(|e| CryptoError::InvalidKey(format!("not an RSA private key: {e}")))?;
            let mut signature = vec![0; pair.public().modulus_len()];
            pair.sign(&sig::RSA_PKCS1_SHA256, &random, message, &mut signature)
                .map_err(|_| CryptoError::KeyAlgorithmMismatch)?;
            Ok(signature)
        }
        SignatureAlgorithm::Es256 => {
            let pair =
                sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &random)
                    .map_err(|e| {
                        CryptoError::InvalidKey(format!("not a P-256 private key: {e}"))
                    })?;
            pair.sign(&random, message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| CryptoError::KeyAlgorithmMismatch)
        }
        _ => Err(CryptoError::KeyAlgorithmMismatch),
    }
}

/// Computes a digest.
pub fn digest(alg: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    let algorithm = match alg {
        HashAlgorithm::Sha1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        HashAlgorithm::Sha256 => &ring::digest::SHA256,
        HashAlgorithm::Sha384 => &ring::digest::SHA384,
        HashAlgorithm::Sha512 => &ring::digest::SHA512,
    };
    ring::digest::digest(algorithm, data).as_ref().to_vec()
}

/// Computes an HMAC.
pub fn hmac(alg: HashAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    let algorithm = match alg {
        HashAlgorithm::Sha1 => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        HashAlgorithm::Sha256 => ring::hmac::HMAC_SHA256,
        HashAlgorithm::Sha384 => ring::hmac::HMAC_SHA384,
        HashAlgorithm::Sha512 => ring::hmac::HMAC_SHA512,
    };
    ring::hmac::sign(&ring::hmac::Key::new(algorithm, key), data)
        .as_ref()
        .to_vec()
}

impl Host for HostState {
    fn verify_signature(
        &mut self,
        algorithm: SignatureAlgorithm,
        key: PublicKey,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> wasmtime::Result<Result<bool, CryptoError>> {
        Ok(verify_signature(algorithm, &key, &message, &signature))
    }

    fn sign(
        &mut self,
        algorithm: SignatureAlgorithm,
        private_key_pem: String,
        message: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, CryptoError>> {
        Ok(sign(algorithm, &private_key_pem, &message))
    }

    fn digest(&mut self, algorithm: HashAlgorithm, data: Vec<u8>) -> wasmtime::Result<Vec<u8>> {
        Ok(digest(algorithm, &data))
    }

    fn hmac(
        &mut self,
        algorithm: HashAlgorithm,
        key: Vec<u8>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Vec<u8>> {
        Ok(hmac(algorithm, &key, &data))
    }

    fn constant_time_equals(&mut self, a: Vec<u8>, b: Vec<u8>) -> wasmtime::Result<bool> {
        Ok(a.ct_eq(&b).into())
    }
}

#[cfg(test)]
mod tests;
