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

tokio::task_local! {
    static CURRENT: String;
}

/// Runs `future` with `id` as the current request id, so that errors
/// rendered anywhere inside it carry the id.
pub async fn scope<F: std::future::Future>(id: String, future: F) -> F::Output {
    CURRENT.scope(id, future).await
}

/// The id of the request being handled on this task ("" outside one).
pub fn current() -> String {
    CURRENT.try_with(Clone::clone).unwrap_or_default()
}
