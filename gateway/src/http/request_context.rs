//! What the gateway settles about a request before routing it — its id,
//! its client's address and the host it was served as — carried as the
//! request's one extension (one allocation, not one per fact).

use super::{RequestId, ServedHost};
use http::Extensions;
use std::net::SocketAddr;

/// A request's id, client and served host.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request's id (also sent upstream and in the response).
    pub id: RequestId,
    /// The client's address as the gateway decided it: the TCP peer, or
    /// the hop a trusted proxy named.
    pub client: SocketAddr,
    /// The host the request was served as.
    pub host: ServedHost,
}

impl RequestContext {
    /// The context of the request whose extensions are `extensions`
    /// (`None` only for a request that did not come through the gateway's
    /// handler, as in some unit tests).
    pub fn of(extensions: &Extensions) -> Option<&Self> {
        extensions.get::<Self>()
    }
}
