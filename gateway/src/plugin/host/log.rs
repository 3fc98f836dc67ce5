//! `portcullis:plugin/log`: guest log records into `tracing`.

use crate::plugin::bindings::log::{Host, Level};
use crate::plugin::state::HostState;

/// Longest log message kept; the rest is cut so a plugin cannot flood logs.
const MAX_MESSAGE_CHARS: usize = 4096;

impl Host for HostState {
    async fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let plugin = self.context.name.as_str();
        let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            Level::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            Level::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        }
        Ok(())
    }
}
