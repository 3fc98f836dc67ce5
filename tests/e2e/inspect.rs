//! `portcullis plugin inspect` and refusal of incompatible components.

use super::config;
use portcullis_tests::{Gateway, Upstream, paths};
use std::process::Command;

fn inspect(name: &str) -> (Option<i32>, String) {
    let output = Command::new(paths::binary())
        .args(["plugin", "inspect"])
        .arg(paths::component(name))
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn example_plugins_are_loadable_and_name_their_world() {
    for (name, world) in [
        ("authz_static", "authorizer"),
        ("authz_rbac", "authorizer"),
        ("authz_cedar", "authorizer"),
        ("authn_static_token", "auth-provider"),
        ("secrets_static", "secrets-backend"),
        ("keys_local", "key-provider"),
    ] {
        let (code, text) = inspect(name);
        assert_eq!(code, Some(0), "{name}: {text}");
        assert!(
            text.contains(&format!("world:    {world}")),
            "{name}: {text}"
        );
        assert!(text.contains("package:  portcullis:plugin@0.1.0"), "{text}");
        assert!(text.contains("loadable: yes"), "{text}");
    }
}

#[test]
fn inspect_says_which_deadlines_bound_a_plugin() {
    // Nothing the RBAC authorizer imports can wait: the epoch deadline,
    // which interrupts guest code, bounds its calls without a timer.
    let (_, text) = inspect("authz_rbac");
    assert!(
        text.contains("deadline: epoch interruption (every import answers without waiting)"),
        "{text}"
    );
    // The fault fixture imports HTTP and the key-value store.
    let (_, text) = inspect("fixture_fault_authorizer");
    assert!(
        text.contains("deadline: epoch interruption and a wall-clock timeout"),
        "{text}"
    );
}

#[test]
fn a_component_for_another_major_version_is_not_loadable() {
    let (code, text) = inspect("fixture_version_nine");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("loadable: no"), "{text}");
    assert!(
        text.contains("portcullis:plugin@9.0.0") && text.contains("portcullis:plugin@0.1.0"),
        "{text}"
    );
}

#[test]
fn a_file_that_is_not_a_component_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junk.wasm");
    std::fs::write(&file, b"not wasm").unwrap();
    let output = Command::new(paths::binary())
        .args(["plugin", "inspect"])
        .arg(&file)
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("is not a valid WebAssembly component")
    );
}

#[tokio::test]
async fn the_gateway_refuses_to_start_with_an_incompatible_plugin() {
    let upstream = Upstream::start().await;
    let text = config(
        &upstream,
        &paths::component("fixture_version_nine")
            .display()
            .to_string(),
        "",
    );
    let failure = Gateway::with_config(&text)
        .await
        .err()
        .expect("must not start");
    assert_ne!(failure.code, Some(0));
    assert!(
        failure.stderr.contains("portcullis:plugin@9.0.0"),
        "{}",
        failure.stderr
    );
    assert!(
        failure.stderr.contains("portcullis:plugin@0.1.0"),
        "{}",
        failure.stderr
    );
    assert!(
        failure.stderr.contains("plugin `authz`"),
        "{}",
        failure.stderr
    );
}

#[tokio::test]
async fn a_plugin_in_the_wrong_role_is_refused() {
    let upstream = Upstream::start().await;
    let text = config(
        &upstream,
        &paths::component("keys_local").display().to_string(),
        "",
    );
    let failure = Gateway::with_config(&text)
        .await
        .err()
        .expect("must not start");
    assert!(
        failure.stderr.contains("implements the `key-provider` world, but is used as auth.authorizer which needs `authorizer`"),
        "{}",
        failure.stderr
    );
}
