//! Giving memory back to the operating system after a burst of allocation.
//!
//! Compiling plugins allocates far more than the gateway keeps: with
//! every bundled plugin, glibc's allocator held on to about 67 MiB of freed
//! compiler memory in its per-thread arenas, nearly half of the process's
//! resident memory (`make bench-proxy`: 140 MiB idle before, 73 MiB after).
//! After such a burst the gateway asks the allocator to return what is free.

/// Returns the allocator's free memory to the operating system (glibc:
/// `malloc_trim`); elsewhere nothing is needed or possible, and it does
/// nothing. Takes a few milliseconds: call it after rare events only.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `malloc_trim` only returns free heap pages to the kernel;
        // it takes no pointers and is safe to call at any time from any thread.
        let released = unsafe { libc::malloc_trim(0) };
        tracing::debug!(
            released = released != 0,
            "returned free memory to the system"
        );
    }
}
