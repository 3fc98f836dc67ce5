//! The host side of the plugin capabilities: one module per WIT interface.
//!
//! An *expected* failure goes back to the guest as a WIT value; a broken
//! host invariant traps the instance (which is then discarded).

mod config;
pub mod crypto;
mod kv;
mod log;

use super::bindings::types;
use super::state::HostState;

impl types::Host for HostState {}
