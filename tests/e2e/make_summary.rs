//! `make test`'s summary: every test group runs even when an earlier one
//! fails, the last line totals them, and the run fails. Checked with a
//! stand-in `cargo` whose workspace tests fail and plugin tests pass.

use std::os::unix::fs::PermissionsExt;

#[test]
fn every_group_runs_and_the_total_is_printed_when_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let cargo = dir.path().join("cargo");
    std::fs::write(
        &cargo,
        "#!/bin/bash\ncase \"$*\" in\n  *'test --workspace'*) echo 'test result: FAILED. 3 passed; 1 failed; 0 ignored'; exit 101;;\n  *'test --lib'*) echo 'test result: ok. 2 passed; 0 failed; 0 ignored'; exit 0;;\nesac\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let output = std::process::Command::new("make")
        .arg("-C")
        .arg(repo)
        .args(["--no-print-directory", "test-groups"])
        .arg(format!("CARGO={}", cargo.display()))
        .arg(format!("CARGO_TARGET_DIR={}", dir.path().display()))
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .expect("make");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "a failing group must fail the run:\n{stdout}"
    );
    assert!(
        stdout.contains("2 passed; 0 failed"),
        "the second group ran:\n{stdout}"
    );
    assert_eq!(
        stdout.lines().last(),
        Some("5 passed, 1 failed"),
        "{stdout}"
    );
}
