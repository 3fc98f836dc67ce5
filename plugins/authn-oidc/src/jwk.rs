//! A JSON Web Key whose signatures the gateway checks natively (the host
//! `crypto` interface), plugged into `openidconnect` through its
//! [`JsonWebKey`] trait. RSA in a guest is several times slower than on
//! the host, and the host's implementation is the audited one.

use openidconnect::core::{
    CoreJsonWebKey, CoreJsonWebKeyType, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm,
};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyId, SignatureVerificationError};
use portcullis_sdk::crypto::{self, HashAlgorithm, PublicKey, SignatureAlgorithm};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One key of a provider's JWKS: `openidconnect`'s parsed view for key
/// selection, and the key's JSON text for the host.
#[derive(Clone, Debug)]
pub struct HostJwk {
    parsed: CoreJsonWebKey,
    /// The key as the provider published it (public keys), for the host.
    json: String,
    /// The shared secret of a symmetric key (HS*), only ever the client
    /// secret: `openidconnect` builds it with [`JsonWebKey::new_symmetric`].
    secret: Option<Vec<u8>>,
}

impl<'de> Deserialize<'de> for HostJwk {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let json = value.to_string();
        let parsed = CoreJsonWebKey::deserialize(value).map_err(serde::de::Error::custom)?;
        if *parsed.key_type() == CoreJsonWebKeyType::Symmetric {
            // A symmetric key published in a JWKS would let anyone who reads
            // the JWKS sign tokens: never accepted from a provider.
            return Err(serde::de::Error::custom(
                "symmetric keys are not accepted in a JWKS",
            ));
        }
        Ok(Self {
            parsed,
            json,
            secret: None,
        })
    }
}

impl Serialize for HostJwk {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.parsed.serialize(serializer)
    }
}

/// The host algorithm for a JWS algorithm, if the host implements it.
fn host_algorithm(alg: &CoreJwsSigningAlgorithm) -> Option<SignatureAlgorithm> {
    use CoreJwsSigningAlgorithm as J;
    Some(match alg {
        J::RsaSsaPkcs1V15Sha256 => SignatureAlgorithm::Rs256,
        J::RsaSsaPkcs1V15Sha384 => SignatureAlgorithm::Rs384,
        J::RsaSsaPkcs1V15Sha512 => SignatureAlgorithm::Rs512,
        J::RsaSsaPssSha256 => SignatureAlgorithm::Ps256,
        J::RsaSsaPssSha384 => SignatureAlgorithm::Ps384,
        J::RsaSsaPssSha512 => SignatureAlgorithm::Ps512,
        J::EcdsaP256Sha256 => SignatureAlgorithm::Es256,
        J::EcdsaP384Sha384 => SignatureAlgorithm::Es384,
        J::EdDsa => SignatureAlgorithm::Ed25519,
        _ => return None,
    })
}

/// The HMAC digest of an `HS*` algorithm.
fn hmac_algorithm(alg: &CoreJwsSigningAlgorithm) -> Option<HashAlgorithm> {
    use CoreJwsSigningAlgorithm as J;
    match alg {
        J::HmacSha256 => Some(HashAlgorithm::Sha256),
        J::HmacSha384 => Some(HashAlgorithm::Sha384),
        J::HmacSha512 => Some(HashAlgorithm::Sha512),
        _ => None,
    }
}

/// The key type an algorithm needs.
fn key_type_of(alg: &CoreJwsSigningAlgorithm) -> Option<CoreJsonWebKeyType> {
    use CoreJwsSigningAlgorithm as J;
    Some(match alg {
        J::RsaSsaPkcs1V15Sha256
        | J::RsaSsaPkcs1V15Sha384
        | J::RsaSsaPkcs1V15Sha512
        | J::RsaSsaPssSha256
        | J::RsaSsaPssSha384
        | J::RsaSsaPssSha512 => CoreJsonWebKeyType::RSA,
        J::EcdsaP256Sha256 | J::EcdsaP384Sha384 => CoreJsonWebKeyType::EllipticCurve,
        J::EdDsa => CoreJsonWebKeyType::OctetKeyPair,
        J::HmacSha256 | J::HmacSha384 | J::HmacSha512 => CoreJsonWebKeyType::Symmetric,
        _ => return None,
    })
}

impl JsonWebKey for HostJwk {
    type KeyUse = CoreJsonWebKeyUse;
    type SigningAlgorithm = CoreJwsSigningAlgorithm;

    fn key_id(&self) -> Option<&JsonWebKeyId> {
        self.parsed.key_id()
    }

    fn key_type(&self) -> &CoreJsonWebKeyType {
        self.parsed.key_type()
    }

    fn key_use(&self) -> Option<&CoreJsonWebKeyUse> {
        self.parsed.key_use()
    }

    fn signing_alg(&self) -> JsonWebKeyAlgorithm<&CoreJwsSigningAlgorithm> {
        self.parsed.signing_alg()
    }

    fn new_symmetric(key: Vec<u8>) -> Self {
        Self {
            parsed: CoreJsonWebKey::new_symmetric(key.clone()),
            json: String::new(),
            secret: Some(key),
        }
    }

    fn verify_signature(
        &self,
        signature_alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureVerificationError> {
        let invalid = |why: &str| Err(SignatureVerificationError::InvalidKey(why.into()));
        if key_type_of(signature_alg).as_ref() != Some(self.key_type()) {
            return invalid("the key's type does not fit the token's algorithm");
        }
        if let JsonWebKeyAlgorithm::Algorithm(alg) = self.signing_alg()
            && alg != signature_alg
        {
            return invalid("the key is published for another algorithm");
        }
        if let JsonWebKeyAlgorithm::Unsupported = self.signing_alg() {
            return invalid("the key is not published for signing");
        }
        if let Some(hash) = hmac_algorithm(signature_alg) {
            let Some(secret) = &self.secret else {
                return invalid("no shared secret");
            };
            let expected = crypto::hmac(hash, secret, message);
            return if crypto::constant_time_equals(&expected, signature) {
                Ok(())
            } else {
                Err(SignatureVerificationError::CryptoError(
                    "signature does not verify".into(),
                ))
            };
        }
        let Some(algorithm) = host_algorithm(signature_alg) else {
            return Err(SignatureVerificationError::UnsupportedAlg(format!(
                "{signature_alg:?}"
            )));
        };
        match crypto::verify_signature(
            algorithm,
            &PublicKey::Jwk(self.json.clone()),
            message,
            signature,
        ) {
            Ok(true) => Ok(()),
            Ok(false) => Err(SignatureVerificationError::CryptoError(
                "signature does not verify".into(),
            )),
            Err(error) => Err(SignatureVerificationError::InvalidKey(format!("{error:?}"))),
        }
    }

    fn hash_bytes(&self, bytes: &[u8], alg: &CoreJwsSigningAlgorithm) -> Result<Vec<u8>, String> {
        use CoreJwsSigningAlgorithm as J;
        let hash = match alg {
            J::RsaSsaPkcs1V15Sha256 | J::RsaSsaPssSha256 | J::EcdsaP256Sha256 | J::HmacSha256 => {
                HashAlgorithm::Sha256
            }
            J::RsaSsaPkcs1V15Sha384 | J::RsaSsaPssSha384 | J::EcdsaP384Sha384 | J::HmacSha384 => {
                HashAlgorithm::Sha384
            }
            J::RsaSsaPkcs1V15Sha512 | J::RsaSsaPssSha512 | J::HmacSha512 | J::EdDsa => {
                HashAlgorithm::Sha512
            }
            other => return Err(format!("no hash for {other:?}")),
        };
        Ok(crypto::digest(hash, bytes))
    }
}
