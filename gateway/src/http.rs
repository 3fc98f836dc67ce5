//! The HTTP side: the router, request identity and authorization, the
//! reverse proxy, and the one place errors become responses.

pub mod body_deadline;
pub mod canonical_path;
pub mod client_addr;
pub mod error;
mod headers;
pub mod identify;
pub mod permission;
pub mod proxy;
mod redirect;
pub mod request_context;
pub mod request_id;
pub mod router;
pub mod same_origin;
mod served_host;

pub use error::ApiError;
pub use redirect::redirect_to_https;
pub use request_context::RequestContext;
pub use request_id::RequestId;
pub use router::{Gateway, GatewayState, OWN_ENDPOINTS};
pub use served_host::{ServedHost, is_host_and_port};
