//! Time-based one-time passwords (RFC 6238) as authenticator apps use
//! them: HMAC-SHA-1, 6 digits, 30-second steps, and the `otpauth://` URI
//! they import.

/// Seconds per time step.
pub const STEP_SECONDS: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Secret length in bytes (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The time step `unix_seconds` falls in.
pub fn step_at(unix_seconds: u64) -> u64 {
    unix_seconds / STEP_SECONDS
}

/// The code for `step`, given an HMAC-SHA-1 function over the secret.
pub fn code(step: u64, hmac_sha1: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let mac = hmac_sha1(&step.to_be_bytes());
    truncate(&mac)
}

/// Dynamic truncation (RFC 4226 section 5.3) to [`DIGITS`] digits.
fn truncate(mac: &[u8]) -> String {
    if mac.len() < 20 {
        return String::new();
    }
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let value = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    format!(
        "{:0width$}",
        value % 10u32.pow(DIGITS as u32),
        width = DIGITS
    )
}

/// Whether `code` has the shape of a code: exactly [`DIGITS`] ASCII digits.
/// Spaces users copy from apps ("123 456") are ignored.
pub fn normalise(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// The step among `current - 1 ..= current + 1` whose code is `code`, if
/// any. Every candidate is computed and compared, so timing does not say
/// which step matched.
pub fn matching_step(
    code: &str,
    current: u64,
    hmac_sha1: impl Fn(&[u8]) -> Vec<u8>,
    equals: impl Fn(&[u8], &[u8]) -> bool,
) -> Option<u64> {
    let mut found = None;
    for step in [current.saturating_sub(1), current, current + 1] {
        let candidate = self::code(step, &hmac_sha1);
        if equals(candidate.as_bytes(), code.as_bytes()) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// Base32 (RFC 4648) without padding, as authenticator apps expect.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes unpadded base32; `None` on any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let value = BASE32.iter().position(|&b| b == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The `otpauth://totp/ISSUER:ACCOUNT?...` URI (Google Authenticator's
/// key-URI format) for `secret`.
pub fn uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={secret_base32}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        percent_encode(account)
    )
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 4226 appendix D: the HMAC-SHA-1 values for counters 0..=9 under
    /// the secret "12345678901234567890", and the 6-digit codes they give.
    const RFC4226: [(&str, &str); 10] = [
        ("cc93cf18508d94934c64b65d8ba7667fb7cde4b0", "755224"),
        ("75a48a19d4cbe100644e8ac1397eea747a2d33ab", "287082"),
        ("0bacb7fa082fef30782211938bc1c5e70416ff44", "359152"),
        ("66c28227d03a2d5529262ff016a1e6ef76557ece", "969429"),
        ("a904c900a64b35909874b33e61c5938a8e15ed1c", "338314"),
        ("a37e783d7b7233c083d4f62926c7a25f238d0316", "254676"),
        ("bc9cd28561042c83f219324d3c607256c03272ae", "287922"),
        ("a4fb960c0bc06e1eabb804e5b397cdc4b45596fa", "162583"),
        ("1b3c89f65e6c9e883012052823443f048b4332db", "399871"),
        ("1637409809a679dc698207310c8c7fc07290d9e5", "520489"),
    ];

    #[test]
    fn truncation_matches_rfc4226_vectors() {
        for (counter, (mac, expected)) in RFC4226.iter().enumerate() {
            let mac = unhex(mac);
            let got = code(counter as u64, |message| {
                assert_eq!(message, (counter as u64).to_be_bytes());
                mac.clone()
            });
            assert_eq!(&got, expected, "counter {counter}");
        }
    }

    #[test]
    fn matching_step_accepts_one_step_either_side_only() {
        let fake_mac = |message: &[u8]| {
            // Offset 0 (last byte), so the code is the step's low bits.
            let mut mac = vec![0u8; 20];
            mac[..4].copy_from_slice(&message[4..]);
            mac
        };
        let eq = |a: &[u8], b: &[u8]| a == b;
        let now = 1_000;
        for step in [now - 1, now, now + 1] {
            let c = code(step, fake_mac);
            assert_eq!(matching_step(&c, now, fake_mac, eq), Some(step));
        }
        for step in [now - 2, now + 2] {
            let c = code(step, fake_mac);
            assert_eq!(matching_step(&c, now, fake_mac, eq), None);
        }
    }

    #[test]
    fn base32_round_trips_rfc4648_vectors() {
        for (raw, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(raw.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), raw.as_bytes());
        }
        assert_eq!(base32_decode("MZ1W"), None);
    }

    #[test]
    fn normalises_codes_and_builds_uri() {
        assert_eq!(normalise("123 456").as_deref(), Some("123456"));
        assert_eq!(normalise("12345"), None);
        assert_eq!(normalise("12345a"), None);
        assert_eq!(
            uri("Portcullis", "alice@example.com", "ABC"),
            "otpauth://totp/Portcullis:alice@example.com?secret=ABC&issuer=Portcullis&algorithm=SHA1&digits=6&period=30"
        );
        assert!(uri("My Org", "a b", "X").starts_with("otpauth://totp/My%20Org:a%20b?"));
    }
}
