//! Zero-knowledge connection credentials: what the customer's side does.
//!
//! A connection's database credential is sealed with HPKE (RFC 9180, base
//! mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM) to every
//! data-plane agent key of the connection's environment. The control plane
//! stores only the result. It also cannot choose who decrypts: each
//! organization has a **trust key** (Ed25519) whose private half the
//! customer keeps, and an agent key is sealed to only if the trust key
//! endorsed it for that organization and environment.
//!
//! This crate holds the formats both sides agree on and the operations
//! of the customer's side — creating a trust key, endorsing an agent key,
//! verifying an endorsement, sealing. It has no code that opens a sealed
//! credential: that lives in `portcullis-agent`, which the gateway crate
//! does not depend on.

pub mod context;
mod encoding;
pub mod envelope;
pub mod keys;
pub mod seal;
pub mod suite;
pub mod trust;

pub use context::CredentialContext;
pub use encoding::{FormatError, decode_base64url, encode_base64url};
pub use envelope::{Recipient, SealedCredential};
pub use keys::{AgentKeyId, AgentPublicKey};
pub use seal::{SealError, seal};
pub use trust::{Endorsement, TrustError, TrustKeyPair, TrustPublicKey};
