//! The few DER reading and writing steps key parsing needs.

/// A DER tag byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag(pub u8);

impl Tag {
    /// INTEGER.
    pub const INTEGER: Tag = Tag(0x02);
    /// BIT STRING.
    pub const BIT_STRING: Tag = Tag(0x03);
    /// OBJECT IDENTIFIER.
    pub const OID: Tag = Tag(0x06);
    /// SEQUENCE.
    pub const SEQUENCE: Tag = Tag(0x30);
}

/// Reads one element: `(tag, contents, rest)`.
pub fn read(input: &[u8]) -> Result<(Tag, &[u8], &[u8]), String> {
    let truncated = || "truncated DER".to_string();
    let (&tag, rest) = input.split_first().ok_or_else(truncated)?;
    let (&first, mut rest) = rest.split_first().ok_or_else(truncated)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err("bad DER length".into());
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        rest = &rest[count..];
        len
    };
    if rest.len() < len {
        return Err(truncated());
    }
    Ok((Tag(tag), &rest[..len], &rest[len..]))
}

/// Reads one element that must have `tag`: `(contents, rest)`.
pub fn expect(input: &[u8], tag: Tag) -> Result<(&[u8], &[u8]), String> {
    let (found, contents, rest) = read(input)?;
    if found != tag {
        return Err(format!(
            "expected DER tag {:#04x}, found {:#04x}",
            tag.0, found.0
        ));
    }
    Ok((contents, rest))
}

fn write(tag: Tag, contents: &[u8], out: &mut Vec<u8>) {
    out.push(tag.0);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
}

fn unsigned_integer(value: &[u8], out: &mut Vec<u8>) {
    let trimmed = {
        let skip = value
            .iter()
            .take_while(|b| **b == 0)
            .count()
            .min(value.len().saturating_sub(1));
        &value[skip..]
    };
    let mut contents = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        contents.push(0);
    }
    contents.extend_from_slice(trimmed);
    write(Tag::INTEGER, &contents, out);
}

/// A DER `RSAPublicKey` (PKCS#1) from big-endian modulus and exponent.
pub fn rsa_public_key(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(modulus.len() + exponent.len() + 8);
    unsigned_integer(modulus, &mut body);
    unsigned_integer(exponent, &mut body);
    let mut out = Vec::with_capacity(body.len() + 4);
    write(Tag::SEQUENCE, &body, &mut out);
    out
}
