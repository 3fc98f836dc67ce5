//! Cryptographically secure randomness from the host.

/// Returns `N` random bytes from the host's secure generator.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let random = wasi::random::random::get_random_bytes(N as u64);
    for (slot, byte) in out.iter_mut().zip(random) {
        *slot = byte;
    }
    out
}
