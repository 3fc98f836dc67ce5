//! Secret references in plugin settings, resolved through the
//! `secrets-aws` plugin against AWS Secrets Manager (moto on loopback):
//! the current value, a version stage, a version id and a JSON key; a
//! rotated value picked up at reload; and references that cannot be
//! resolved stopping a start, or keeping the running plugin at a reload,
//! with errors that name the reference and never a value.

mod azure;
mod file;

use super::{ALICE, ALICE_TOKEN_SHA256, sha256_hex};
use portcullis_tests::aws::{ACCESS_KEY_ID, Moto, REGION, SECRET_ACCESS_KEY};
use portcullis_tests::{Gateway, Upstream, paths};
use std::time::Duration;

/// A gateway whose static tokens come from `tokens` (TOML of
/// `[[plugins.tokens.config.tokens]]` tables), resolved through the
/// secrets backend `backend` (its `[plugins.…]` tables).
fn gateway_config(upstream: &Upstream, backend: &str, tokens: &str) -> String {
    format!(
        r#"
data_dir = "{{dir}}/data"

[server]
listen = "127.0.0.1:0"

[auth]
authorizer = "authz"
providers = ["tokens"]

[plugins.authz]
path = "{allow}"
{backend}
[plugins.tokens]
path = "{tokens_plugin}"
{tokens}

[[routes]]
name = "items"
methods = ["GET"]
path = "/v1/items/{{id}}"
upstream = "{upstream}"
permission = {{ action = "items.read", resource = "items/{{id}}" }}
"#,
        allow = paths::component("fixture_allow_all").display(),
        tokens_plugin = paths::component("authn_static_token").display(),
        upstream = upstream.url(),
    )
}

/// [`gateway_config`] with the `aws` secrets backend at `endpoint`.
fn secrets_config(upstream: &Upstream, endpoint: &str, tokens: &str) -> String {
    let authority = endpoint.trim_start_matches("http://");
    let backend = format!(
        r#"
[plugins.aws]
path = "{aws}"
allow_hosts = ["http://{authority}"]
deadline_ms = 10000

[plugins.aws.config]
region = "{REGION}"
endpoint_url = "{endpoint}"
access_key_id = "{ACCESS_KEY_ID}"
secret_access_key = "{SECRET_ACCESS_KEY}"
max_attempts = 1
"#,
        aws = paths::component("secrets_aws").display(),
    );
    gateway_config(upstream, &backend, tokens)
}

fn token(sha256_reference: &str, subject: &str) -> String {
    format!(
        r#"
[[plugins.tokens.config.tokens]]
sha256 = "{sha256_reference}"
subject = "{subject}"
"#
    )
}

async fn status_with(gateway: &Gateway, authorization: &str) -> u16 {
    gateway
        .client()
        .get_with("/v1/items/1", &[("authorization", authorization)])
        .await
        .unwrap()
        .status
        .as_u16()
}

async fn reload(gateway: &Gateway, expect: &str) {
    gateway.signal(libc::SIGHUP);
    assert!(
        gateway.wait_for_log(expect, Duration::from_secs(30)).await,
        "no `{expect}` in:\n{}",
        gateway.log()
    );
}

#[tokio::test]
async fn references_resolve_at_start_and_a_rotated_secret_is_picked_up_at_reload() {
    let moto = Moto::shared();
    let upstream = Upstream::start().await;
    let bob_sha = sha256_hex("bob-token");
    // The current value, its JSON key, and the version each name.
    let first = moto
        .create_secret(
            "ci/tokens",
            &format!(r#"{{"sha256": "{ALICE_TOKEN_SHA256}", "note": "first"}}"#),
        )
        .await;
    let tokens = [
        token("secret://aws/ci/tokens#sha256", "current"),
        token(
            "secret://aws/ci/tokens#sha256?version=AWSPREVIOUS",
            "previous",
        ),
        token(
            &format!("secret://aws/ci/tokens#sha256?version={first}"),
            "first",
        ),
    ];
    // AWSPREVIOUS does not exist before the first rotation: only the
    // current and the first version are referenced at start.
    let at_start = format!("{}{}", tokens[0], tokens[2]);
    let gateway = Gateway::with_config(&secrets_config(&upstream, &moto.endpoint, &at_start))
        .await
        .unwrap_or_else(|f| panic!("gateway failed to start: {f:?}"));
    assert_eq!(status_with(&gateway, ALICE).await, 200, "{}", gateway.log());
    assert_eq!(status_with(&gateway, "Bearer bob-token").await, 401);

    // Rotation: the current value is bob's now, the previous alice's.
    moto.rotate_secret(
        "ci/tokens",
        &format!(r#"{{"sha256": "{bob_sha}", "note": "second"}}"#),
    )
    .await;
    // Until a reload, the resolved value stays.
    assert_eq!(status_with(&gateway, ALICE).await, 200);
    reload(&gateway, "plugin swapped in").await;
    assert_eq!(
        status_with(&gateway, "Bearer bob-token").await,
        200,
        "{}",
        gateway.log()
    );
    // Alice's hash is still the first version's, so she still gets in.
    assert_eq!(status_with(&gateway, ALICE).await, 200);

    // No resolved value reached the log.
    let log = gateway.log();
    for value in [ALICE_TOKEN_SHA256, bob_sha.as_str(), SECRET_ACCESS_KEY] {
        assert!(!log.contains(value), "`{value}` in the log");
    }
    gateway.stop().await;

    // A gateway referencing the previous stage, after the rotation.
    let both = format!("{}{}", tokens[0], tokens[1]);
    let gateway = Gateway::with_config(&secrets_config(&upstream, &moto.endpoint, &both))
        .await
        .unwrap_or_else(|f| panic!("gateway failed to start: {f:?}"));
    assert_eq!(
        status_with(&gateway, ALICE).await,
        200,
        "AWSPREVIOUS is alice's"
    );
    assert_eq!(
        status_with(&gateway, "Bearer bob-token").await,
        200,
        "AWSCURRENT is bob's"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn an_unresolvable_reference_names_itself_and_the_backends_answer_never_a_value() {
    let moto = Moto::shared();
    let upstream = Upstream::start().await;
    moto.create_secret("app/not-json", "plain-text-value-Zq81")
        .await;
    for (reference, expected) in [
        (
            "secret://aws/app/missing",
            "plugins.tokens.config.tokens[0].sha256: secret reference `secret://aws/app/missing` could not be resolved: backend `aws`: not found",
        ),
        (
            "secret://aws/app/not-json#sha256",
            "secret reference `secret://aws/app/not-json#sha256` could not be resolved: the secret is not a JSON object, so it has no key `sha256`",
        ),
        (
            "secret://vault/app/db",
            "secret reference `secret://vault/app/db` could not be resolved: no secrets-backend plugin `vault` is configured",
        ),
        (
            "secret://authz/app/db",
            "secret reference `secret://authz/app/db` could not be resolved: plugin `authz` is not a secrets backend (it is an authorizer plugin)",
        ),
        ("secret://aws", "is not a secret reference"),
    ] {
        let config = secrets_config(&upstream, &moto.endpoint, &token(reference, "x"));
        let failure = Gateway::with_config(&config)
            .await
            .err()
            .unwrap_or_else(|| panic!("{reference}: the gateway started"));
        assert!(
            failure.stderr.contains(expected),
            "{reference}:\n{}",
            failure.stderr
        );
        assert!(!failure.stderr.contains("plain-text-value-Zq81"));
        assert!(!failure.stderr.contains(SECRET_ACCESS_KEY));
    }
}

#[tokio::test]
async fn a_secrets_backend_outage_keeps_the_gateway_serving_on_what_it_resolved() {
    // Its own moto, so stopping it disturbs no other test.
    let moto = Moto::start();
    let upstream = Upstream::start().await;
    moto.create_secret(
        "ci/tokens",
        &format!(r#"{{"sha256": "{ALICE_TOKEN_SHA256}"}}"#),
    )
    .await;
    let config = secrets_config(
        &upstream,
        &moto.endpoint,
        &token("secret://aws/ci/tokens#sha256", "alice"),
    );
    let gateway = Gateway::with_config(&config)
        .await
        .unwrap_or_else(|f| panic!("gateway failed to start: {f:?}"));
    assert_eq!(status_with(&gateway, ALICE).await, 200);
    let endpoint = moto.endpoint.clone();
    drop(moto);
    reload(
        &gateway,
        "plugin reload failed; keeping the running version",
    )
    .await;
    let log = gateway.log();
    assert!(
        log.contains("secret reference `secret://aws/ci/tokens#sha256` could not be resolved: backend `aws`: unavailable: Secrets Manager could not be reached"),
        "{endpoint}: {log}"
    );
    assert_eq!(status_with(&gateway, ALICE).await, 200, "still serving");
    gateway.stop().await;
}

#[tokio::test]
async fn a_rotated_secret_reaches_its_plugin_within_the_refresh_interval() {
    let moto = Moto::shared();
    let upstream = Upstream::start().await;
    moto.create_secret(
        "ci/refreshed",
        &format!(r#"{{"sha256": "{ALICE_TOKEN_SHA256}"}}"#),
    )
    .await;
    let tokens = format!(
        "{}\n[secrets]\nrefresh_secs = 1\n",
        token("secret://aws/ci/refreshed#sha256", "refreshed")
    );
    let gateway = Gateway::with_config(&secrets_config(&upstream, &moto.endpoint, &tokens))
        .await
        .unwrap_or_else(|f| panic!("gateway failed to start: {f:?}"));
    assert_eq!(status_with(&gateway, ALICE).await, 200);
    moto.rotate_secret(
        "ci/refreshed",
        &format!(r#"{{"sha256": "{}"}}"#, sha256_hex("bob-token")),
    )
    .await;
    assert!(
        gateway
            .wait_for_log(
                "a secret reference changed value; the plugin was restarted with it",
                Duration::from_secs(20)
            )
            .await,
        "{}",
        gateway.log()
    );
    assert_eq!(status_with(&gateway, "Bearer bob-token").await, 200);
    assert_eq!(
        status_with(&gateway, ALICE).await,
        401,
        "the old value is gone"
    );
    gateway.stop().await;
}
