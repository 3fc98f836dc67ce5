//! Password rules and argon2id hashing.
//!
//! Rules: at least [`MIN_LENGTH`] characters (counted as Unicode scalar
//! values), at most [`MAX_LENGTH`] (hashing is deliberately expensive, so
//! unbounded input would be a denial-of-service lever), not one of the
//! 10,000 most common passwords, and not containing the local part of the
//! user's email address.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::collections::HashSet;
use std::sync::OnceLock;

/// Fewest characters a password may have.
pub const MIN_LENGTH: usize = 12;
/// Most characters a password may have.
pub const MAX_LENGTH: usize = 256;

/// The list shipped with the plugin, most common first.
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// A password rule that was broken; the text is shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weakness {
    /// Shorter than [`MIN_LENGTH`].
    TooShort,
    /// Longer than [`MAX_LENGTH`].
    TooLong,
    /// One of the most common passwords.
    Common,
    /// Contains the email's local part.
    ContainsEmail,
}

impl std::fmt::Display for Weakness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooShort => write!(f, "password must be at least {MIN_LENGTH} characters"),
            Self::TooLong => write!(f, "password must be at most {MAX_LENGTH} characters"),
            Self::Common => f.write_str("password is one of the 10,000 most common passwords"),
            Self::ContainsEmail => f.write_str("password must not contain your email name"),
        }
    }
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON_PASSWORDS.lines().filter(|l| !l.is_empty()).collect())
}

/// Checks `password` against the rules for a user with `email`.
pub fn check_strength(password: &str, email: &str) -> Result<(), Weakness> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(Weakness::TooShort);
    }
    if length > MAX_LENGTH {
        return Err(Weakness::TooLong);
    }
    let lowered = password.to_lowercase();
    if common_passwords().contains(lowered.as_str()) {
        return Err(Weakness::Common);
    }
    let local_part = email.split('@').next().unwrap_or_default().to_lowercase();
    // A one- or two-letter local part would forbid half the alphabet.
    if local_part.chars().count() >= 3 && lowered.contains(&local_part) {
        return Err(Weakness::ContainsEmail);
    }
    Ok(())
}

/// argon2id with the OWASP Password Storage Cheat Sheet's first
/// recommendation: 19 MiB of memory, 2 passes, 1 lane.
fn hasher() -> Result<Argon2<'static>, String> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| e.to_string())?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with a fresh 128-bit salt; returns the PHC string.
pub fn hash(password: &str, salt: [u8; 16]) -> Result<String, String> {
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string `stored`. The parameters come
/// from `stored`, so hashes made under older parameters still verify.
pub fn verify(password: &str, stored: &str) -> bool {
    let (Ok(parsed), Ok(hasher)) = (PasswordHash::new(stored), hasher()) else {
        return false;
    };
    hasher.verify_password(password.as_bytes(), &parsed).is_ok()
}

/// A hash of a password nobody has, verified for unknown users so that a
/// wrong email takes as long as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password never accepted", [7; 16]).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforces_length_common_list_and_email() {
        assert_eq!(check_strength("short", "a@b.c"), Err(Weakness::TooShort));
        assert_eq!(
            check_strength(&"x".repeat(300), "a@b.c"),
            Err(Weakness::TooLong)
        );
        // In the shipped list and long enough to pass the length rule.
        assert!(COMMON_PASSWORDS.lines().any(|l| l == "qwerty123456"));
        assert_eq!(
            check_strength("qwerty123456", "a@b.c"),
            Err(Weakness::Common)
        );
        // Compared case-insensitively.
        assert_eq!(
            check_strength("QWERTY123456", "a@b.c"),
            Err(Weakness::Common)
        );
        assert_eq!(
            check_strength("my-Alice.Smith-horse", "alice.smith@example.com"),
            Err(Weakness::ContainsEmail)
        );
        assert_eq!(
            check_strength("correct horse battery", "alice@example.com"),
            Ok(())
        );
        assert_eq!(common_passwords().len(), 10_000);
    }

    #[test]
    fn hashes_with_owasp_argon2id_and_verifies() {
        let stored = hash("correct horse battery", [1; 16]).unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterx", &stored));
        assert!(!verify("correct horse battery", "not a phc string"));
        let other_salt = hash("correct horse battery", [2; 16]).unwrap();
        assert_ne!(stored, other_salt);
    }
}
