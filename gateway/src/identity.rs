//! Who is calling: credentials the gateway itself issues and verifies.

pub mod api_key;
