//! Request ids: one per request, in logs, error bodies, the response and
//! the upstream request.

use http::HeaderName;

/// The header carrying the request id.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being handled, kept in request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    /// A new random id.
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}
