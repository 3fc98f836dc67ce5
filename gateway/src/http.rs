//! The HTTP side: the router, request identity and authorization, the
//! reverse proxy, and the one place errors become responses.

pub mod error;
mod headers;
pub mod identify;
pub mod permission;
pub mod proxy;
mod redirect;
pub mod request_id;
pub mod router;

pub use error::ApiError;
pub use redirect::redirect_to_https;
pub use request_id::RequestId;
pub use router::{GatewayState, build_router};
