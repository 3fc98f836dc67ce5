//! Test harness: start the real `portcullis` binary, talk to it over TLS,
//! and run upstream servers on loopback. Everything started here is
//! stopped when its handle is dropped.
#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "test support code: a broken harness should fail the test loudly"
)]

pub mod aws;
pub mod azure;
pub mod bench;
pub mod browser;
pub mod client;
pub mod gateway;
pub mod oidc;
pub mod paths;
pub mod peer;
pub mod saml;
pub mod upstream;

pub use client::{Client, Reply, Session};
pub use gateway::Gateway;
pub use upstream::Upstream;
