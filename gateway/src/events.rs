//! Typed security events, emitted through one interface. Today the sink
//! writes them to the log (target `portcullis::event`, one JSON object per
//! event); the audit log will be another sink behind the same trait.

use serde::Serialize;
use std::sync::Arc;

/// Something that happened which an auditor wants to see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// An authorizer refused a request.
    AccessDenied {
        /// Who (`user:<id>`, or the principal's subject).
        subject: String,
        /// The organization, if any.
        org: Option<String>,
        /// The permission asked for.
        action: String,
        /// The resource.
        resource: String,
        /// What decided (`no_binding`, `scope_mismatch`, `mfa_required`, …).
        basis: String,
        /// The authorizer's reason.
        reason: String,
        /// The snapshot version decided on.
        policy_version: u64,
    },
    /// A role was created, changed or deleted.
    RoleChanged {
        /// `created`, `updated` or `deleted`.
        change: &'static str,
        /// Organization.
        org: String,
        /// Role id.
        role_id: String,
        /// Who did it (user id).
        by: String,
    },
    /// A binding was created or deleted.
    BindingChanged {
        /// `created` or `deleted`.
        change: &'static str,
        /// Organization.
        org: String,
        /// Binding id.
        binding_id: String,
        /// The bound subject.
        subject: String,
        /// The role.
        role: String,
        /// `organization`, `environment:<id>` or `connection:<id>`.
        scope: String,
        /// Who did it (user id).
        by: String,
    },
}

/// Where events go.
pub trait EventSink: Send + Sync + std::fmt::Debug {
    /// Records one event; must not block.
    fn emit(&self, event: &Event);
}

/// Writes each event as JSON to the log.
#[derive(Debug, Default)]
pub struct LogSink;

impl EventSink for LogSink {
    fn emit(&self, event: &Event) {
        match serde_json::to_string(event) {
            Ok(json) => tracing::info!(target: "portcullis::event", event = %json),
            Err(error) => tracing::error!(%error, "an event could not be serialized"),
        }
    }
}

/// The gateway's event interface: cheap to clone, shared by every part
/// that emits.
#[derive(Debug, Clone)]
pub struct Events(Arc<dyn EventSink>);

impl Events {
    /// Events into `sink`.
    pub fn new(sink: Arc<dyn EventSink>) -> Self {
        Self(sink)
    }

    /// Events into the log.
    pub fn to_log() -> Self {
        Self(Arc::new(LogSink))
    }

    /// Emits `event`.
    pub fn emit(&self, event: Event) {
        self.0.emit(&event);
    }
}
