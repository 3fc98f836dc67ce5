//! Who is acting and from where, for every event recorded while a request
//! is handled: set once by the API's enforcement layer around the handler,
//! read by whatever records an event underneath it (the store included),
//! so no service passes the actor along by hand.

use std::future::Future;

/// The actor of events recorded outside any request (start-up, reloads,
/// maintenance).
pub const SYSTEM: &str = "system";

/// Who and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// `user:<id>`, `api_key:<id>` (with its owner), a provider's subject,
    /// or [`SYSTEM`].
    pub actor: String,
    /// The client's address.
    pub client: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
}

impl Context {
    /// The context of work the gateway does on its own.
    pub fn system() -> Self {
        Self {
            actor: SYSTEM.into(),
            client: None,
            user_agent: None,
            request_id: None,
        }
    }
}

tokio::task_local! {
    static CURRENT: Context;
}

/// Runs `work` with `context` as the current one.
pub async fn scope<F: Future>(context: Context, work: F) -> F::Output {
    CURRENT.scope(context, work).await
}

/// The current context: the request's, or [`Context::system`].
pub fn current() -> Context {
    CURRENT
        .try_with(Clone::clone)
        .unwrap_or_else(|_| Context::system())
}
