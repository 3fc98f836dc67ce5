//! Portcullis: the security gateway of a bring-your-own-cloud data
//! platform's control plane.
//!
//! The core is small and trusted — TLS ([`tls`]), routing and proxying
//! ([`http`]), storage ([`store`]) — and everything a customer may swap is a
//! sandboxed WebAssembly plugin ([`plugin`]).

pub mod api;
pub mod audit;
pub mod authz;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod data_dir;
pub mod http;
pub mod identity;
pub mod memory;
pub mod metrics;
pub mod plugin;
pub mod secrets;
pub mod server;
pub mod store;
pub mod tls;
