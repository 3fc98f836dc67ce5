//! Who is calling: credentials the gateway itself issues and verifies.

pub mod access_token;
pub mod api_key;
