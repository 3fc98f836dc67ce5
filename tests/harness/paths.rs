//! Where the built binary and plugin components are. `make test` builds
//! them first; a missing one fails the test loudly with the command to run.

use std::path::PathBuf;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo().join("target"), PathBuf::from)
}

/// The `portcullis` binary under test.
pub fn binary() -> PathBuf {
    let path = std::env::var_os("PORTCULLIS_BIN")
        .map_or_else(|| target_dir().join("debug/portcullis"), PathBuf::from);
    assert!(
        path.exists(),
        "gateway binary `{}` is missing: run `make test` (or `cargo build -p portcullis`)",
        path.display()
    );
    path
}

/// A plugin or fixture component by crate file name (e.g. `authz_static`),
/// from the `debug` build, or the profile named by `PORTCULLIS_WASM_PROFILE`
/// (benchmarks use `release`).
pub fn component(name: &str) -> PathBuf {
    let profile = std::env::var("PORTCULLIS_WASM_PROFILE").unwrap_or_else(|_| "debug".into());
    let path = target_dir()
        .join("wasm32-wasip2")
        .join(profile)
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "component `{}` is missing: run `make test` (it builds plugins and fixtures)",
        path.display()
    );
    path
}
