//! `secrets-file`, the embedded secrets backend: secrets written with
//! `portcullis secrets set` (value on standard input) into the gateway's
//! own store, sealed at rest; references to them resolve at start, a new
//! version is picked up at reload, older versions stay readable by number,
//! and a missing one stops the start naming the reference.

use super::{ALICE, ALICE_TOKEN_SHA256, gateway_config, reload, sha256_hex, status_with, token};
use portcullis_tests::{Gateway, Upstream, paths};
use std::io::Write as _;
use std::path::Path;

fn backend() -> String {
    format!(
        "\n[plugins.file]\npath = \"{}\"\n",
        paths::component("secrets_file").display()
    )
}

/// `portcullis secrets set NAME` on the configuration in `dir`, `value` on
/// standard input; what it printed.
fn set_secret(dir: &Path, name: &str, value: &str) -> String {
    let mut child = std::process::Command::new(paths::binary())
        .args(["secrets", "set", name, "--config"])
        .arg(dir.join("portcullis.toml"))
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run portcullis secrets set");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{value}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn file_secrets_resolve_at_start_rotate_at_reload_and_are_sealed_at_rest() {
    let upstream = Upstream::start().await;
    let tokens = format!(
        "{}{}",
        token("secret://file/ci/tokens", "current"),
        token("secret://file/ci/tokens?version=1", "first")
    );
    let config = gateway_config(&upstream, &backend(), &tokens);

    // Not written yet: the start stops, naming the reference.
    let failure = match Gateway::with_config(&config).await {
        Ok(_) => panic!("a reference to a missing secret must stop the start"),
        Err(failure) => failure,
    };
    assert!(
        failure.stderr.contains("secret://file/ci/tokens") && failure.stderr.contains("not found"),
        "{}",
        failure.stderr
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("portcullis.toml"),
        config.replace("{dir}", &dir.path().display().to_string()),
    )
    .unwrap();
    // The configuration's own references cannot resolve yet: the first
    // secret is written through one with only the backend.
    let bare = format!("data_dir = \"{{dir}}/data\"\n{}", backend());
    let bare_dir = dir.path().join("bare");
    std::fs::create_dir(&bare_dir).unwrap();
    std::fs::write(
        bare_dir.join("portcullis.toml"),
        bare.replace("{dir}", &dir.path().display().to_string()),
    )
    .unwrap();
    let printed = set_secret(&bare_dir, "ci/tokens", ALICE_TOKEN_SHA256);
    assert!(printed.contains("version 1"), "{printed}");

    let gateway = Gateway::with_config_in(dir, &config)
        .await
        .unwrap_or_else(|f| panic!("gateway failed to start: {f:?}"));
    assert_eq!(status_with(&gateway, ALICE).await, 200, "{}", gateway.log());
    assert_eq!(status_with(&gateway, "Bearer bob-token").await, 401);

    // A new version, written beside the running gateway, is picked up at
    // reload; version 1 still resolves to alice's.
    let bob_sha = sha256_hex("bob-token");
    let printed = set_secret(&gateway.dir(), "ci/tokens", &bob_sha);
    assert!(printed.contains("version 2"), "{printed}");
    reload(&gateway, "plugin swapped in").await;
    assert_eq!(status_with(&gateway, "Bearer bob-token").await, 200);
    assert_eq!(status_with(&gateway, ALICE).await, 200);

    // Neither value is anywhere in the data directory, nor in the log.
    let data = gateway.dir().join("data");
    for entry in std::fs::read_dir(&data).unwrap().flatten() {
        if entry.path().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            for value in [ALICE_TOKEN_SHA256, bob_sha.as_str()] {
                assert!(
                    !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                    "`{value}` in {}",
                    entry.path().display()
                );
            }
        }
    }
    let log = gateway.log();
    assert!(!log.contains(ALICE_TOKEN_SHA256) && !log.contains(&bob_sha));
    gateway.stop().await;
}
