//! `portcullis admin` on the data directory of a running gateway.

use super::{call, code, login};
use crate::paths;
use http::Method;
use portcullis_tests::Gateway;
use std::time::Duration;

fn admin(gateway: &Gateway, plugins: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(paths::binary())
        .arg("admin")
        .arg("--data-dir")
        .arg(gateway.dir().join("data"))
        .arg("--plugin-dir")
        .arg(plugins)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .expect("run portcullis admin")
}

/// Runs `portcullis admin ARGS`, which must succeed; returns its stdout.
fn admin_ok(gateway: &Gateway, plugins: &std::path::Path, args: &[&str]) -> String {
    let output = admin(gateway, plugins, args);
    assert!(
        output.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn printed_after<'a>(output: &'a str, prefix: &str) -> &'a str {
    output
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` in:\n{output}"))
        .trim()
}

#[tokio::test]
async fn admin_cli_manages_users_and_keys_of_a_running_gateway() {
    let plugins = paths::component("authz_static")
        .parent()
        .unwrap()
        .to_path_buf();
    let gateway = Gateway::embedded(&plugins, "127.0.0.1:0").await.unwrap();
    let client = gateway.client();

    let out = admin_ok(
        &gateway,
        &plugins,
        &[
            "users",
            "create",
            "--email",
            "ivy@example.com",
            "--group",
            "admins",
        ],
    );
    let password = printed_after(
        &out,
        "one-time password (shown once; must be changed at first sign-in): ",
    );
    let first = login(&client, "ivy@example.com", password).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(
        first.json()["pending"],
        serde_json::json!(["change_password"])
    );

    let out = admin_ok(
        &gateway,
        &plugins,
        &[
            "api-keys",
            "create",
            "--owner",
            "ivy@example.com",
            "--name",
            "ops-bot",
            "--expires-in",
            "1h",
        ],
    );
    let key = printed_after(&out, "key (shown once): ").to_string();
    let id = out.split('\t').next().unwrap().to_string();
    let me = call(&client, Method::GET, "/api/v1/me", Some(&key), None).await;
    assert_eq!(me.status, 200, "{}", me.text());

    let too_long = admin(
        &gateway,
        &plugins,
        &[
            "api-keys",
            "create",
            "--owner",
            "ivy@example.com",
            "--name",
            "x",
            "--expires-in",
            "91d",
        ],
    );
    assert!(!too_long.status.success());
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("90 days"));

    let listed = admin_ok(
        &gateway,
        &plugins,
        &["api-keys", "list", "--owner", "ivy@example.com"],
    );
    assert!(
        listed.contains(&id) && listed.contains("expiring-soon"),
        "{listed}"
    );
    assert!(!listed.contains(&key[17..]), "the list never shows secrets");

    admin_ok(&gateway, &plugins, &["api-keys", "revoke", &id]);
    // Another process changed the store: the gateway sees it within its
    // cache TTL (2 s by default).
    let mut last = None;
    for _ in 0..40 {
        let reply = call(&client, Method::GET, "/api/v1/me", Some(&key), None).await;
        if reply.status == 401 {
            last = Some(code(&reply));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.as_deref(), Some("api_key_revoked"));

    // The platform-operator capability, granted and withdrawn offline.
    let granted = admin_ok(
        &gateway,
        &plugins,
        &[
            "--json",
            "users",
            "grant-platform-operator",
            "ivy@example.com",
        ],
    );
    assert!(granted.contains("\"platform_operator\":true"), "{granted}");
    let withdrawn = admin_ok(
        &gateway,
        &plugins,
        &[
            "--json",
            "users",
            "revoke-platform-operator",
            "ivy@example.com",
        ],
    );
    assert!(
        withdrawn.contains("\"platform_operator\":false"),
        "{withdrawn}"
    );

    admin_ok(&gateway, &plugins, &["users", "disable", "ivy@example.com"]);
    let refused = login(&client, "ivy@example.com", password).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    let unknown = admin(
        &gateway,
        &plugins,
        &["users", "disable", "nobody@example.com"],
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no such user"));
    assert!(!gateway.log().contains(password));
}
