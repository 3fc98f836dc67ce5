//! Single-use recovery codes: 10 per user, 60 random bits each, shown once
//! and stored only as SHA-256 digests.

/// Codes issued at a time.
pub const COUNT: usize = 10;

const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// Formats 8 random bytes as `xxxx-xxxx-xxxx` (12 characters of a 32-letter
/// alphabet without look-alikes: 60 bits).
pub fn format(random: [u8; 8]) -> String {
    let mut value = u64::from_le_bytes(random);
    let mut out = String::with_capacity(14);
    for i in 0..12 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(char::from(ALPHABET[(value & 31) as usize]));
        value >>= 5;
    }
    out
}

/// The canonical form of a code as typed: lower case, separators and
/// spaces removed. `None` if it cannot be a code.
pub fn normalise(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == 12 && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_normalises() {
        let code = format([0xff, 0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        let typed = code.to_uppercase().replace('-', " ");
        assert_eq!(normalise(&typed), Some(code.replace('-', "")));
        assert_eq!(normalise("too-short"), None);
        assert_eq!(
            normalise("0000-0000-0000"),
            None,
            "0 is not in the alphabet"
        );
        assert_ne!(format([1; 8]), format([2; 8]));
    }
}
