//! Per-instance memory cap that remembers whether it said no, so a guest
//! that aborts after a refused allocation is reported as "exceeded its
//! memory" rather than as an anonymous trap.

use wasmtime::ResourceLimiter;

/// Caps linear memory and table growth of one instance.
pub struct MemoryLimiter {
    max_memory_bytes: usize,
    denied: bool,
    peak: usize,
}

/// Most table elements an instance may have; generous for any Rust guest.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryLimiter {
    /// A limiter allowing `max_memory_bytes` of linear memory per memory.
    pub fn new(max_memory_bytes: usize) -> Self {
        Self {
            max_memory_bytes,
            denied: false,
            peak: 0,
        }
    }

    /// Whether a growth request was refused since the instance was created.
    pub fn denied(&self) -> bool {
        self.denied
    }

    /// The largest linear memory granted so far, in bytes.
    pub fn peak(&self) -> usize {
        self.peak
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory_bytes {
            self.denied = true;
            return Err(wasmtime::Error::msg(format!(
                "plugin exceeded its memory limit of {} bytes",
                self.max_memory_bytes
            )));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
