//! The audit log: complete, tamper-evident, durable, verifiable offline.
//!
//! - [`Event`] is everything the gateway records (one typed enum, schema
//!   [`SCHEMA_VERSION`]); [`Events`] is the handle that records one.
//! - Each organization's events (and the platform's) form a hash
//!   [`chain`]; [`checkpoint`]s sign chain heads with an Ed25519 key
//!   published at `/.well-known/portcullis-audit-key`.
//! - A change to a record commits together with its event (the store does
//!   both in one transaction); other events are written in batches.
//! - [`verify`] finds the first broken link and what it shows; a
//!   [`bundle`] is a chain exported for offline verification.
//! - [`sink`]s copy committed records to stdout or files, as JSON or OCSF.

pub mod bundle;
pub mod chain;
pub mod checkpoint;
pub mod context;
mod event;
pub mod flood;
mod log;
pub mod record;
pub mod sink;
pub mod verify;

pub use event::{Change, ChangeKind, Envelope, Event, Outcome, RecordKind, SCHEMA_VERSION};
pub use log::{AuditError, AuditLog, Events, export, key_set, verify_store};
pub use record::{PLATFORM_CHAIN, Pending, Record};

#[cfg(test)]
mod tests;
