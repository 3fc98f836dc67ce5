//! Request ids: one per request, in logs, error bodies, the response and
//! the upstream request.

use http::{HeaderName, HeaderValue};
use std::fmt;

/// The header carrying the request id.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being handled, kept in request extensions: 128
/// random bits as 32 lower-case hex digits, held inline (copying one
/// allocates nothing).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; 32]);

impl RequestId {
    /// A new random id, from the thread's random generator (seeded from
    /// the OS, so no system call per request).
    pub fn new() -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let bits = rand::random::<u128>();
        let mut text = [0u8; 32];
        for (i, digit) in text.iter_mut().enumerate() {
            let nibble = (bits >> (124 - 4 * i)) & 0xf;
            *digit = DIGITS[usize::try_from(nibble).unwrap_or(0)];
        }
        Self(text)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The id as a header value.
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_bytes(&self.0).unwrap_or(HeaderValue::from_static(""))
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

tokio::task_local! {
    static CURRENT: RequestId;
}

/// Runs `future` with `id` as the current request id, so that errors
/// rendered anywhere inside it carry the id.
pub async fn scope<F: std::future::Future>(id: RequestId, future: F) -> F::Output {
    CURRENT.scope(id, future).await
}

/// The id of the request being handled on this task ("" outside one).
pub fn current() -> String {
    CURRENT
        .try_with(|id| id.as_str().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::RequestId;

    #[test]
    fn ids_are_32_hex_digits_and_differ() {
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|_| RequestId::new().as_str().to_string())
            .collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        );
    }

    #[test]
    fn the_text_is_the_random_bits_in_hex() {
        let id = RequestId::new();
        let value = u128::from_str_radix(id.as_str(), 16).unwrap();
        assert_eq!(format!("{value:032x}"), id.as_str());
        assert_eq!(id.header_value().to_str().unwrap(), id.as_str());
    }
}
