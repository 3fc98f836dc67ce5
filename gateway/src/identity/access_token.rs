//! Short-lived access tokens the gateway issues to API clients: compact JWS
//! signed with Ed25519 (`alg: EdDSA`), `kid` in the header, verified with a
//! pinned algorithm — the token's own `alg` is checked, never obeyed.
//!
//! Keys rotate with overlap: a new key signs from the moment it is added,
//! older keys keep verifying until they are retired, and all verifying keys
//! are published as a JWKS.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::RwLock;

/// Why a token was refused. Deliberately coarse for clients; precise for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("malformed token")]
    Malformed,
    /// The header names another algorithm than EdDSA (including `none`).
    #[error("token algorithm `{0}` is not accepted")]
    Algorithm(String),
    /// No verifying key has this `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not match.
    #[error("bad token signature")]
    Signature,
    /// Past `exp`.
    #[error("token expired")]
    Expired,
    /// Before `nbf`/`iat`.
    #[error("token not yet valid")]
    NotYetValid,
    /// Wrong issuer or audience.
    #[error("token issued for another issuer or audience")]
    WrongAudience,
    /// A key could not be generated.
    #[error("cannot generate a signing key")]
    KeyGeneration,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer (the gateway's URL).
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Subject.
    pub sub: String,
    /// Session id, for revocation.
    pub sid: String,
    /// How the subject authenticated (RFC 8176).
    #[serde(default)]
    pub amr: Vec<String>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    kid: String,
    #[serde(default)]
    typ: Option<String>,
}

struct SigningKey {
    kid: String,
    pair: Ed25519KeyPair,
}

/// The signing keys of a gateway: the newest signs, all verify.
pub struct SigningKeys {
    keys: Vec<SigningKey>,
    issuer: String,
    audience: String,
    /// Allowed clock skew, in seconds.
    leeway: i64,
    /// Tokens whose signature and claims already verified, by SHA-256 of
    /// the token. Times are re-checked on every hit; retiring a key clears it.
    verified: RwLock<HashMap<[u8; 32], Claims>>,
}

/// Most verified tokens remembered; past this the cache starts over.
const VERIFIED_CACHE_CAPACITY: usize = 16_384;

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field(
                "kids",
                &self.keys.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new Ed25519 key as PKCS#8, to store sealed and [`SigningKeys::add`].
pub fn generate_key() -> Result<SecretBox<Vec<u8>>, TokenError> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| TokenError::KeyGeneration)?;
    Ok(SecretBox::new(Box::new(pkcs8.as_ref().to_vec())))
}

/// The `kid` of a public key: base64url of the first 96 bits of its SHA-256.
pub fn key_id(public_key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
    b64(&digest.as_ref()[..12])
}

/// The issuer claimed by `token`, read without verifying anything: only to
/// decide which verifier is responsible for it.
pub fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct IssuerOnly {
        iss: Option<String>,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<IssuerOnly>(&bytes).ok()?.iss
}

impl SigningKeys {
    /// An empty key set for tokens from `issuer` to `audience`.
    pub fn new(issuer: &str, audience: &str) -> Self {
        Self {
            keys: Vec::new(),
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: 30,
            verified: RwLock::new(HashMap::new()),
        }
    }

    /// Generates a key that signs from now on; returns its `kid`.
    pub fn rotate(&mut self) -> Result<String, TokenError> {
        let pkcs8 = generate_key()?;
        self.add(pkcs8.expose_secret())
    }

    /// Adds a stored key (PKCS#8); the newest added signs. Returns its `kid`.
    pub fn add(&mut self, pkcs8: &[u8]) -> Result<String, TokenError> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| TokenError::KeyGeneration)?;
        let kid = key_id(pair.public_key().as_ref());
        self.keys.retain(|k| k.kid != kid);
        self.keys.push(SigningKey {
            kid: kid.clone(),
            pair,
        });
        if let Ok(mut verified) = self.verified.write() {
            verified.clear();
        }
        Ok(kid)
    }

    /// The `kid`s, oldest first; the last one signs.
    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.kid.clone()).collect()
    }

    /// Stops verifying with all but the newest `keep` keys.
    pub fn retire_all_but(&mut self, keep: usize) {
        let excess = self.keys.len().saturating_sub(keep.max(1));
        self.keys.drain(..excess);
        if let Ok(mut verified) = self.verified.write() {
            verified.clear();
        }
    }

    /// Signs `claims` with the newest key.
    pub fn issue(&self, claims: &Claims) -> Result<String, TokenError> {
        let key = self.keys.last().ok_or(TokenError::UnknownKey)?;
        let header = Header {
            alg: "EdDSA".into(),
            kid: key.kid.clone(),
            typ: Some("at+jwt".into()),
        };
        let header = serde_json::to_vec(&header).map_err(|_| TokenError::Malformed)?;
        let payload = serde_json::to_vec(claims).map_err(|_| TokenError::Malformed)?;
        let signing_input = format!("{}.{}", b64(&header), b64(&payload));
        let signature = key.pair.sign(signing_input.as_bytes());
        Ok(format!("{signing_input}.{}", b64(signature.as_ref())))
    }

    /// Checks the time claims, which change meaning as time passes.
    fn check_times(&self, claims: &Claims, now: i64) -> Result<(), TokenError> {
        if now >= claims.exp + self.leeway {
            return Err(TokenError::Expired);
        }
        if claims.iat > now + self.leeway {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }

    /// Verifies `token` at time `now` (Unix seconds) and returns its claims.
    /// A token verified before is answered from a cache (signature and
    /// audience are fixed properties of the bytes; times are re-checked).
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut id = [0u8; 32];
        id.copy_from_slice(digest.as_ref());
        let cached = self
            .verified
            .read()
            .ok()
            .and_then(|verified| verified.get(&id).cloned());
        if let Some(claims) = cached {
            self.check_times(&claims, now)?;
            return Ok(claims);
        }
        let claims = self.verify_uncached(token)?;
        self.check_times(&claims, now)?;
        if let Ok(mut verified) = self.verified.write() {
            if verified.len() >= VERIFIED_CACHE_CAPACITY {
                verified.clear();
            }
            verified.insert(id, claims.clone());
        }
        Ok(claims)
    }

    /// Signature, algorithm, key and audience checks, without the cache.
    fn verify_uncached(&self, token: &str) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| TokenError::Malformed)
        };
        let parsed: Header =
            serde_json::from_slice(&decode(header)?).map_err(|_| TokenError::Malformed)?;
        if parsed.alg != "EdDSA" {
            return Err(TokenError::Algorithm(parsed.alg));
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == parsed.kid)
            .ok_or(TokenError::UnknownKey)?;
        let signing_input = &token[..header.len() + 1 + payload.len()];
        UnparsedPublicKey::new(&ED25519, key.pair.public_key().as_ref())
            .verify(signing_input.as_bytes(), &decode(signature)?)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims =
            serde_json::from_slice(&decode(payload)?).map_err(|_| TokenError::Malformed)?;
        if claims.iss != self.issuer || claims.aud != self.audience {
            return Err(TokenError::WrongAudience);
        }
        Ok(claims)
    }

    /// The verifying keys as a JSON Web Key Set (RFC 7517).
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
                    "kid": k.kid, "x": b64(k.pair.public_key().as_ref()),
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests;
