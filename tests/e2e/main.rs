//! End-to-end tests: the real `portcullis` binary over TLS, real upstream
//! servers on loopback, real plugin components built by `make test`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed step should stop the test with context"
)]

mod config_errors;
mod faults;
mod hardening;
mod identity;
mod inspect;
mod keys;
mod limits;
mod make_summary;
mod policy_rollout;
mod proxy;
mod reload;
mod secrets;
mod tls;

use portcullis_tests::paths;
use portcullis_tests::{Gateway, Upstream};

/// `alice-token`'s SHA-256, as the static-token provider stores it.
const ALICE_TOKEN_SHA256: &str = "9c220f200955d76c0a38d308225e0ef10c5f971acaf2f8d1d8f732affa5bd1dc";
/// SHA-256 of `text`, in lower-case hex (as the static-token provider
/// stores tokens).
fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Authorization header value for alice.
const ALICE: &str = "Bearer alice-token";

/// A gateway config with the static-token provider (alice, in `admins`),
/// the authorizer component `authorizer` and routes to `upstream`.
fn config(upstream: &Upstream, authorizer: &str, extra: &str) -> String {
    format!(
        r#"
data_dir = "{{dir}}/data"

[server]
listen = "127.0.0.1:0"

[auth]
authorizer = "authz"
providers = ["tokens"]

[plugins.authz]
path = "{authorizer}"
deadline_ms = 300
memory_limit_mib = 32
instances = 4
allow_hosts = ["http://127.0.0.1:{port}"]

[plugins.authz.config]
allowed_url = "{upstream}/egress"
denied_url = "http://blocked.invalid/"
stalled_url = "{upstream}/stall"
socket_port = {port}

[plugins.tokens]
path = "{tokens}"

[[plugins.tokens.config.tokens]]
sha256 = "{ALICE_TOKEN_SHA256}"
subject = "alice"
email = "alice@example.com"
groups = ["admins", "ops"]

[[routes]]
name = "items"
methods = ["GET", "POST"]
path = "/v1/items/{{id}}"
upstream = "{upstream}"
permission = {{ action = "items.read", resource = "items/{{id}}" }}

[[routes]]
name = "fault"
methods = ["GET"]
path = "/fault/{{kind}}"
upstream = "{upstream}"
permission = {{ action = "fault", resource = "{{kind}}" }}

[[routes]]
name = "public"
methods = ["GET"]
path = "/public/{{*rest}}"
upstream = "{upstream}"
allow_anonymous = true
permission = {{ action = "public.read", resource = "public/{{rest}}" }}
{extra}
"#,
        authorizer = authorizer,
        port = upstream.port(),
        upstream = upstream.url(),
        tokens = paths::component("authn_static_token").display(),
    )
}

/// Starts a gateway or fails the test with its log.
async fn start(config: &str) -> Gateway {
    match Gateway::with_config(config).await {
        Ok(gateway) => gateway,
        Err(failure) => panic!(
            "gateway did not start (exit {:?}):\n{}",
            failure.code, failure.stderr
        ),
    }
}

/// An upstream and a gateway in front of it, with the fixture component
/// `fixture` (crate file name) as the authorizer.
async fn gateway_with(fixture: &str) -> (Upstream, Gateway) {
    let upstream = Upstream::start().await;
    let gateway = start(&config(
        &upstream,
        &paths::component(fixture).display().to_string(),
        "",
    ))
    .await;
    (upstream, gateway)
}

/// Asserts that the gateway logs `needle` within two seconds.
async fn assert_logged(gateway: &Gateway, needle: &str) {
    assert!(
        gateway
            .wait_for_log(needle, std::time::Duration::from_secs(2))
            .await,
        "expected `{needle}` in the log:\n{}",
        gateway.log()
    );
}
