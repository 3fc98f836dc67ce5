//! `portcullis-agent keygen` and `open`, as an operator runs them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed step should stop the test with context"
)]

use portcullis_sealing::AgentPublicKey;
use portcullis_sealing::seal::{Destination, seal};
use std::io::Write as _;
use std::process::{Command, Output, Stdio};

fn agent(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis-agent"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run portcullis-agent");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn keygen_then_open_a_credential_sealed_to_it_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("agent.key");
    let key_arg = key.to_str().unwrap();
    let made = agent(&["keygen", "--out", key_arg], b"");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the private key is its owner's only");
    }
    let public = AgentPublicKey::from_base64url(String::from_utf8(made.stdout).unwrap().trim())
        .expect("keygen prints the public key");
    let private = std::fs::read_to_string(&key).unwrap();
    assert!(!String::from_utf8_lossy(&made.stderr).contains(private.trim()));

    // An existing key is never replaced.
    let again = agent(&["keygen", "--out", key_arg], b"");
    assert!(!again.status.success());
    assert_eq!(std::fs::read_to_string(&key).unwrap(), private);

    let sealed = seal(
        b"pg-password-7Qx",
        &Destination {
            org: "org_a",
            environment: "env_1",
            connection: "con_1",
            version: 1,
        },
        &[public],
    )
    .unwrap();
    let json = serde_json::to_vec(&sealed).unwrap();
    let open = |connection: &str| {
        agent(
            &[
                "open",
                "--key",
                key_arg,
                "--org",
                "org_a",
                "--environment",
                "env_1",
                "--connection",
                connection,
            ],
            &json,
        )
    };
    let opened = open("con_1");
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    assert_eq!(opened.stdout, b"pg-password-7Qx");
    let elsewhere = open("con_2");
    assert!(!elsewhere.status.success());
    assert!(
        String::from_utf8_lossy(&elsewhere.stderr).contains("failed its integrity check"),
        "{}",
        String::from_utf8_lossy(&elsewhere.stderr)
    );
    assert!(elsewhere.stdout.is_empty());
}
