//! The one HPKE cipher suite credentials are sealed with (RFC 9180 §7):
//! base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM. The
//! agent opens with the same types, so the suite is named once.

/// The key encapsulation mechanism (KEM id 0x0020).
pub type Kem = hpke::kem::X25519HkdfSha256;
/// The key derivation function (KDF id 0x0001).
pub type Kdf = hpke::kdf::HkdfSha256;
/// The AEAD (AEAD id 0x0002).
pub type Aead = hpke::aead::AesGcm256;

/// Bytes of an X25519 public key, and of the encapsulated key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Bytes of an AES-256-GCM tag: the shortest ciphertext.
pub const TAG_LEN: usize = 16;
