//! An organization's trust key: the Ed25519 key pair whose private half
//! the customer keeps, and whose endorsement of an agent key (for one
//! organization and environment) is what makes sealing to that key
//! acceptable.

use crate::encoding::{FormatError, canonical, decode_fixed, encode_base64url, key_id};
use crate::keys::AgentPublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use std::fmt;
use zeroize::Zeroizing;

/// The label of the statement an endorsement signs.
const ENDORSEMENT_LABEL: &str = "portcullis agent key endorsement v1";
const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

/// Why a trust key or an endorsement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// A key or signature in the wrong encoding.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The private key file is not a PKCS#8 Ed25519 key in PEM.
    #[error("the trust key is not an Ed25519 private key in PKCS#8 PEM (`{PEM_BEGIN}`)")]
    NotAPrivateKey,
    /// The system's random number generator failed.
    #[error("no randomness for a new key")]
    Randomness,
    /// The endorsement was not made by this trust key for this agent key,
    /// organization and environment.
    #[error(
        "agent key {agent_key} is not endorsed by trust key {trust_key} for organization `{org}` and environment `{environment}`"
    )]
    NotEndorsed {
        /// The agent key's id.
        agent_key: String,
        /// The trust key's id.
        trust_key: String,
        /// The organization.
        org: String,
        /// The environment.
        environment: String,
    },
}

/// The statement an endorsement signs.
fn statement(org: &str, environment: &str, agent: &AgentPublicKey) -> Vec<u8> {
    canonical(
        ENDORSEMENT_LABEL,
        &[org.as_bytes(), environment.as_bytes(), agent.as_bytes()],
    )
}

/// The customer's trust key pair. Its private half never reaches the
/// control plane.
pub struct TrustKeyPair {
    pair: Ed25519KeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl TrustKeyPair {
    /// A new key pair from the system's randomness.
    pub fn generate() -> Result<Self, TrustError> {
        let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| TrustError::Randomness)?;
        Self::from_pkcs8(Zeroizing::new(document.as_ref().to_vec()))
    }

    fn from_pkcs8(pkcs8: Zeroizing<Vec<u8>>) -> Result<Self, TrustError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
            .map_err(|_| TrustError::NotAPrivateKey)?;
        Ok(Self { pair, pkcs8 })
    }

    /// Reads the PEM form written by [`Self::to_pem`].
    pub fn from_pem(text: &str) -> Result<Self, TrustError> {
        let body = text
            .trim()
            .strip_prefix(PEM_BEGIN)
            .and_then(|rest| rest.strip_suffix(PEM_END))
            .ok_or(TrustError::NotAPrivateKey)?;
        let base64: Zeroizing<String> = Zeroizing::new(body.split_whitespace().collect());
        let der = STANDARD
            .decode(base64.as_bytes())
            .map_err(|_| TrustError::NotAPrivateKey)?;
        Self::from_pkcs8(Zeroizing::new(der))
    }

    /// The private key as PKCS#8 PEM, for the customer's key file.
    pub fn to_pem(&self) -> Zeroizing<String> {
        let base64 = Zeroizing::new(STANDARD.encode(self.pkcs8.as_slice()));
        let mut pem = Zeroizing::new(String::with_capacity(base64.len() + 80));
        pem.push_str(PEM_BEGIN);
        pem.push('\n');
        for line in base64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str(PEM_END);
        pem.push('\n');
        pem
    }

    /// The public half.
    pub fn public(&self) -> TrustPublicKey {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(self.pair.public_key().as_ref());
        TrustPublicKey(bytes)
    }

    /// Endorses `agent` as a key credentials of `environment` in `org` may
    /// be sealed to.
    pub fn endorse(&self, org: &str, environment: &str, agent: &AgentPublicKey) -> Endorsement {
        let signature = self.pair.sign(&statement(org, environment, agent));
        let mut bytes = [0u8; 64];
        bytes.copy_from_slice(signature.as_ref());
        Endorsement(bytes)
    }
}

impl fmt::Debug for TrustKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TrustKeyPair({}, private half redacted)",
            self.public().id()
        )
    }
}

/// The public half of a trust key: what the control plane stores and what
/// the customer's CLI pins.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TrustPublicKey([u8; 32]);

impl TrustPublicKey {
    /// Reads the base64url form.
    pub fn from_base64url(text: &str) -> Result<Self, FormatError> {
        decode_fixed(text, "a trust public key").map(Self)
    }

    /// The base64url form.
    pub fn to_base64url(&self) -> String {
        encode_base64url(&self.0)
    }

    /// Its id: `trk_` and the first 64 bits of SHA-256 over the key, in hex.
    pub fn id(&self) -> String {
        key_id("trk_", &self.0, 8)
    }

    /// Checks that `endorsement` is this key's signature over `agent` for
    /// `org` and `environment`.
    pub fn verify(
        &self,
        org: &str,
        environment: &str,
        agent: &AgentPublicKey,
        endorsement: &Endorsement,
    ) -> Result<(), TrustError> {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(&statement(org, environment, agent), &endorsement.0)
            .map_err(|_| TrustError::NotEndorsed {
                agent_key: agent.id().to_string(),
                trust_key: self.id(),
                org: org.to_string(),
                environment: environment.to_string(),
            })
    }
}

impl fmt::Debug for TrustPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustPublicKey({})", self.id())
    }
}

/// A trust key's signature over an agent key, an organization and an
/// environment.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Endorsement([u8; 64]);

impl Endorsement {
    /// Reads the base64url form.
    pub fn from_base64url(text: &str) -> Result<Self, FormatError> {
        decode_fixed(text, "an endorsement").map(Self)
    }

    /// The base64url form.
    pub fn to_base64url(&self) -> String {
        encode_base64url(&self.0)
    }
}

impl fmt::Debug for Endorsement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Endorsement(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(byte: u8) -> AgentPublicKey {
        AgentPublicKey::from_bytes([byte; 32])
    }

    #[test]
    fn an_endorsement_verifies_for_exactly_what_it_signed() {
        let trust = TrustKeyPair::generate().expect("key");
        let public = trust.public();
        let endorsement = trust.endorse("org_a", "env_1", &agent(1));
        assert_eq!(
            public.verify("org_a", "env_1", &agent(1), &endorsement),
            Ok(())
        );
        for (org, env, key) in [
            ("org_b", "env_1", agent(1)),
            ("org_a", "env_2", agent(1)),
            ("org_a", "env_1", agent(2)),
            ("org_aenv", "_1", agent(1)),
        ] {
            let refused = public.verify(org, env, &key, &endorsement);
            assert!(
                matches!(refused, Err(TrustError::NotEndorsed { .. })),
                "{org}/{env}: {refused:?}"
            );
        }
        let other = TrustKeyPair::generate().expect("key").public();
        assert!(
            other
                .verify("org_a", "env_1", &agent(1), &endorsement)
                .is_err()
        );
    }

    #[test]
    fn a_tampered_endorsement_is_refused() {
        let trust = TrustKeyPair::generate().expect("key");
        let text = trust.endorse("o", "e", &agent(1)).to_base64url();
        let mut bytes = crate::decode_base64url(&text, "e").expect("b64");
        bytes[10] ^= 0x40;
        let text = encode_base64url(&bytes);
        let tampered = Endorsement::from_base64url(&text).expect("still 64 bytes");
        assert!(
            trust
                .public()
                .verify("o", "e", &agent(1), &tampered)
                .is_err()
        );
    }

    #[test]
    fn the_pem_form_round_trips_and_garbage_is_refused() {
        let trust = TrustKeyPair::generate().expect("key");
        let again = TrustKeyPair::from_pem(&trust.to_pem()).expect("read back");
        assert_eq!(again.public(), trust.public());
        let endorsement = again.endorse("o", "e", &agent(3));
        assert!(
            trust
                .public()
                .verify("o", "e", &agent(3), &endorsement)
                .is_ok()
        );
        for text in [
            "",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            "hello",
        ] {
            assert_eq!(
                TrustKeyPair::from_pem(text).err(),
                Some(TrustError::NotAPrivateKey)
            );
        }
        assert!(!format!("{trust:?}").contains(&*trust.to_pem()));
    }
}
