//! The process's memory allocator, and giving memory back to the
//! operating system after a burst of allocation.
//!
//! The gateway allocates with mimalloc. Its per-thread heaps take and
//! free small blocks without locks or system calls; with glibc's
//! allocator the request path spent about a tenth of its time in
//! `malloc`/`free` and their arena locks (`make bench-proxy` profiles).
//!
//! Compiling plugins allocates far more than the gateway keeps. After such
//! a burst (start-up, a reload that swapped a plugin) the gateway asks the
//! allocator to return what is free, so resident memory reflects what is
//! in use.

/// The allocator every thread of the process uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    /// mimalloc: frees what the heaps hold but no longer use; `force`
    /// also collects what other threads freed and returns pages to the OS.
    fn mi_collect(force: bool);
    /// mimalloc: sets an option (see `mi_option_t` in `mimalloc.h`).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in the `mimalloc.h` (v3) that the pinned
/// `libmimalloc-sys` builds, which does not export it: milliseconds before
/// a free page goes back to the OS.
const PURGE_DELAY: std::ffi::c_int = 15;

/// How long a free page stays with the allocator before it goes back to
/// the OS. mimalloc v3's default, a second, kept the memory of compiling
/// plugins resident in threads that then went quiet; returning pages at
/// once made the request path fault pages back in (1.6 page faults per
/// proxied request in `make bench-proxy`). Pages freed and reused within
/// 10 ms, as under load, are not returned.
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// Sets the allocator up for a long-running server whose memory comes in
/// bursts: free pages go back to the OS 10 ms after they are freed.
/// Transparent huge pages are off at build time (the `no_thp` feature):
/// with them a 2 MiB page stays resident for one small live block, and the
/// gateway idled at about twice the memory. Call it first thing in `main`.
pub fn configure_allocator() {
    // SAFETY: `mi_option_set` takes plain integers and may be called at
    // any time; the option only steers later purging.
    unsafe { mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) };
}

/// Returns the allocator's free memory to the operating system. Takes a
/// few milliseconds: call it after rare events only.
pub fn release_free_memory() {
    // SAFETY: `mi_collect` takes no pointers and may be called at any time
    // from any thread; it only releases memory no allocation uses.
    unsafe { mi_collect(true) };
    tracing::debug!("returned free memory to the system");
}
