//! `portcullis:plugin/log`: guest log records into `tracing`.

use crate::plugin::bindings::log::{Host, Level};
use crate::plugin::state::HostState;

/// Longest log message kept; the rest is cut so a plugin cannot flood logs.
const MAX_MESSAGE_CHARS: usize = 4096;

/// The message as one safe line: control characters (newlines, escape
/// sequences) are shown escaped, so a plugin cannot forge log lines.
fn sanitize(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_CHARS));
    for c in message.chars().take(MAX_MESSAGE_CHARS) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl Host for HostState {
    fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let plugin = self.context.name.as_str();
        let message = sanitize(&message);
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

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_cannot_forge_log_lines() {
        let forged =
            super::sanitize("ok\n2026-01-01T00:00:00Z  INFO fake: admin logged in\u{1b}[2J");
        assert!(
            !forged.contains('\n') && !forged.contains('\u{1b}'),
            "{forged}"
        );
        assert!(forged.starts_with("ok\\n2026"));
        assert_eq!(
            super::sanitize(&"x".repeat(10_000)).len(),
            super::MAX_MESSAGE_CHARS
        );
    }
}
