//! One canonical form for request paths, decided before anything looks at
//! the path: the gateway routes on it, authorizes on it and forwards
//! exactly it, so no upstream can read a path differently from how the
//! gateway matched it.
//!
//! The rule:
//! - a percent-encoded unreserved character (`A-Z a-z 0-9 - . _ ~`) is
//!   decoded (`/v1/%61dmin` is `/v1/admin`);
//! - every other percent-encoding is kept, with upper-case hex digits, if
//!   it decodes to a character that cannot change how the path is split
//!   or resolved (`%20`, `%40`, `%C3%A9`, ...);
//! - refused with 400, because they could mean one thing here and another
//!   upstream: an encoded `/`, `\`, `;`, `?`, `#` or `%` (double
//!   encoding), encoded or raw control characters and NUL, encodings that
//!   are not UTF-8, a malformed `%`, a raw `\` or `;` (path parameters,
//!   which some servers strip before resolving), dot segments (`.`, `..`,
//!   also when encoded) and empty segments (`//`; a single trailing `/`
//!   is kept).

use crate::http::ApiError;
use std::borrow::Cow;

/// Why a path has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("must start with `/`")]
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    #[error("malformed percent-encoding")]
    MalformedEncoding,
    /// An encoding of a character that would change the path's meaning.
    #[error("encoded `{0}` is not allowed")]
    EncodedDelimiter(char),
    /// A control character, raw or encoded.
    #[error("control character")]
    Control,
    /// Encoded bytes that are not UTF-8.
    #[error("encoded bytes are not UTF-8")]
    NotUtf8,
    /// A raw character that some servers treat as structure.
    #[error("`{0}` is not allowed in paths")]
    Forbidden(char),
    /// A `.` or `..` segment.
    #[error("dot segment")]
    DotSegment,
    /// An empty segment (`//`).
    #[error("empty segment")]
    EmptySegment,
}

impl From<PathError> for ApiError {
    fn from(error: PathError) -> Self {
        ApiError::BadRequest(format!("ambiguous request path: {error}"))
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Characters whose encoding is refused: decoding them would change how
/// the path is split, resolved or decoded again.
fn is_structural(byte: u8) -> bool {
    matches!(byte, b'/' | b'\\' | b';' | b'?' | b'#' | b'%')
}

/// The canonical form of `path`, or why it has none. A path that is
/// canonical already (the common case) is returned as it is, unallocated.
pub fn canonicalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if !path.contains('%') {
        for &byte in bytes {
            match byte {
                0..=0x1f | 0x7f => return Err(PathError::Control),
                b'\\' | b';' => return Err(PathError::Forbidden(char::from(byte))),
                0x80.. => return Err(PathError::NotUtf8),
                _ => {}
            }
        }
        check_segments(path)?;
        return Ok(Cow::Borrowed(path));
    }
    let mut out = String::with_capacity(path.len());
    // Decoded bytes of the current run of kept encodings, checked as UTF-8.
    let mut pending: Vec<u8> = Vec::new();
    let flush = |pending: &mut Vec<u8>| -> Result<(), PathError> {
        if !pending.is_empty() {
            std::str::from_utf8(pending).map_err(|_| PathError::NotUtf8)?;
            pending.clear();
        }
        Ok(())
    };
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let (Some(high), Some(low)) = (
                bytes.get(i + 1).copied().and_then(hex_value),
                bytes.get(i + 2).copied().and_then(hex_value),
            ) else {
                return Err(PathError::MalformedEncoding);
            };
            let decoded = high << 4 | low;
            i += 3;
            if decoded < 0x20 || decoded == 0x7f {
                return Err(PathError::Control);
            }
            if is_structural(decoded) {
                return Err(PathError::EncodedDelimiter(char::from(decoded)));
            }
            if is_unreserved(decoded) {
                flush(&mut pending)?;
                out.push(char::from(decoded));
            } else {
                if decoded < 0x80 {
                    flush(&mut pending)?;
                }
                pending.push(decoded);
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(high)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(low)]));
                if decoded < 0x80 {
                    pending.clear();
                }
            }
            continue;
        }
        flush(&mut pending)?;
        match byte {
            0..=0x1f | 0x7f => return Err(PathError::Control),
            b'\\' | b';' => return Err(PathError::Forbidden(char::from(byte))),
            0x80.. => return Err(PathError::NotUtf8),
            _ => out.push(char::from(byte)),
        }
        i += 1;
    }
    flush(&mut pending)?;
    check_segments(&out)?;
    Ok(Cow::Owned(out))
}

fn check_segments(path: &str) -> Result<(), PathError> {
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        if *segment == "." || *segment == ".." {
            return Err(PathError::DotSegment);
        }
        if segment.is_empty() && i != last {
            return Err(PathError::EmptySegment);
        }
    }
    Ok(())
}

/// `path` (canonical) with ASCII letters lower-cased outside its
/// percent-escapes, whose hex digits stay upper case.
pub fn lower_case(path: &str) -> Cow<'_, str> {
    if !path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut escape = 0;
    for c in path.chars() {
        if c == '%' {
            escape = 2;
            out.push(c);
        } else if escape > 0 {
            escape -= 1;
            out.push(c);
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_characters_are_decoded_and_hex_is_upper_cased() {
        for (raw, canonical) in [
            ("/", "/"),
            ("/v1/%61dmin/users", "/v1/admin/users"),
            ("/v1/%41%44MIN", "/v1/ADMIN"),
            ("/a/%7euser/%2D%5f", "/a/~user/-_"),
            ("/a/x%20y", "/a/x%20y"),
            ("/a/x%2cy%3d", "/a/x%2Cy%3D"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a/b/", "/a/b/"),
            ("/a/..b/c.d", "/a/..b/c.d"),
            ("/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,="),
        ] {
            assert_eq!(canonicalize(raw).as_deref(), Ok(canonical), "{raw}");
        }
    }

    #[test]
    fn what_could_mean_two_things_is_refused() {
        for (raw, error) in [
            ("v1/x", PathError::NotAbsolute),
            ("/v1/admin;x/users", PathError::Forbidden(';')),
            ("/v1/admin%3bx/users", PathError::EncodedDelimiter(';')),
            ("/v1/a%2Fb", PathError::EncodedDelimiter('/')),
            ("/v1/a%2fb", PathError::EncodedDelimiter('/')),
            ("/v1/a%5Cb", PathError::EncodedDelimiter('\\')),
            ("/v1/a\\b", PathError::Forbidden('\\')),
            ("/v1/%2561dmin", PathError::EncodedDelimiter('%')),
            ("/v1/a%3Fb", PathError::EncodedDelimiter('?')),
            ("/v1/a%23b", PathError::EncodedDelimiter('#')),
            ("/v1/a%00", PathError::Control),
            ("/v1/a%0d%0aX: y", PathError::Control),
            ("/v1/a%7F", PathError::Control),
            ("/v1/a%", PathError::MalformedEncoding),
            ("/v1/a%4", PathError::MalformedEncoding),
            ("/v1/a%zz", PathError::MalformedEncoding),
            ("/v1/%ff", PathError::NotUtf8),
            ("/v1/%c3", PathError::NotUtf8),
            ("/v1/%c3x", PathError::NotUtf8),
            ("/v1/%c3%28", PathError::NotUtf8),
            ("/v1/%e2%82", PathError::NotUtf8),
            ("/a/../b", PathError::DotSegment),
            ("/a/./b", PathError::DotSegment),
            ("/a/%2e%2E/b", PathError::DotSegment),
            ("/a/.%2e", PathError::DotSegment),
            ("/a/%2e", PathError::DotSegment),
            ("/..", PathError::DotSegment),
            ("/a//b", PathError::EmptySegment),
            ("//a", PathError::EmptySegment),
        ] {
            assert_eq!(canonicalize(raw), Err(error), "{raw}");
        }
    }

    #[test]
    fn lower_casing_keeps_escapes_upper_case() {
        assert_eq!(lower_case("/V1/ADMIN/Caf%C3%A9"), "/v1/admin/caf%C3%A9");
        assert!(matches!(lower_case("/v1/admin"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_canonical_form_is_a_fixed_point() {
        for raw in ["/v1/%61dmin/%c3%a9", "/a/x%2cy", "/a/b/"] {
            let once = canonicalize(raw).unwrap();
            assert_eq!(canonicalize(&once).as_deref(), Ok(&*once));
        }
    }
}
