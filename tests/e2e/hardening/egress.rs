//! Plugin egress: an allow-list entry without a scheme means HTTPS only.

use crate::{assert_logged, config, start};
use portcullis_tests::{Upstream, paths};

#[tokio::test]
async fn a_host_and_port_entry_does_not_allow_plain_http() {
    let upstream = Upstream::start().await;
    let fault = paths::component("fixture_fault_authorizer")
        .display()
        .to_string();
    // The shared config allows `http://127.0.0.1:{port}`; here the entry
    // names the same host and port without the scheme.
    let text = config(&upstream, &fault, "").replace(
        &format!("allow_hosts = [\"http://127.0.0.1:{}\"]", upstream.port()),
        &format!("allow_hosts = [\"127.0.0.1:{}\"]", upstream.port()),
    );
    assert!(text.contains(&format!(
        "allow_hosts = [\"127.0.0.1:{}\"]",
        upstream.port()
    )));
    let gateway = start(&text).await;
    let reply = gateway
        .client()
        .get_with("/fault/egress-allowed", &[("authorization", crate::ALICE)])
        .await
        .unwrap();
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert!(
        upstream.seen().iter().all(|s| s.path != "/egress"),
        "plain HTTP went out on an HTTPS-only entry"
    );
    assert_logged(&gateway, "plugin egress denied").await;
}

/// The shared config with the fault authorizer fetching `url` on
/// `/fault/egress-allowed`, allowed to reach `authority` over HTTPS, with
/// `plugin_extra` in its `[plugins.authz]` table and `server_extra` in
/// `[server]`.
fn fetching(
    upstream: &Upstream,
    url: &str,
    authority: &str,
    plugin_extra: &str,
    server_extra: &str,
) -> String {
    let fault = paths::component("fixture_fault_authorizer")
        .display()
        .to_string();
    let allow = format!("allow_hosts = [\"http://127.0.0.1:{}\"]", upstream.port());
    config(upstream, &fault, "")
        .replace(
            &allow,
            &format!(
                "allow_hosts = [\"http://127.0.0.1:{}\", \"{authority}\"]\n{plugin_extra}",
                upstream.port()
            ),
        )
        .replace(
            &format!("allowed_url = \"{}/egress\"", upstream.url()),
            &format!("allowed_url = \"{url}\""),
        )
        .replace("[server]\n", &format!("[server]\n{server_extra}\n"))
}

async fn egress_status(gateway: &portcullis_tests::Gateway) -> u16 {
    gateway
        .client()
        .get_with("/fault/egress-allowed", &[("authorization", crate::ALICE)])
        .await
        .unwrap()
        .status
        .as_u16()
}

#[tokio::test]
async fn https_egress_trusts_a_private_ca_only_when_configured_and_never_skips_verification() {
    let upstream = Upstream::start().await;
    // A private HTTPS endpoint: another gateway, with its own self-signed
    // certificate (for 127.0.0.1), which no public root vouches for.
    let private = start(&config(
        &upstream,
        &paths::component("fixture_allow_all").display().to_string(),
        "",
    ))
    .await;
    let authority = format!("127.0.0.1:{}", private.addr.port());
    let url = format!("https://{authority}/healthz");
    let its_ca = private.dir().join("data/tls/cert.pem");
    let other = start(&config(
        &upstream,
        &paths::component("fixture_allow_all").display().to_string(),
        "",
    ))
    .await;
    let other_ca = other.dir().join("data/tls/cert.pem");

    // Without a bundle: the Mozilla roots only, so the handshake fails.
    let gateway = start(&fetching(&upstream, &url, &authority, "", "")).await;
    assert_eq!(egress_status(&gateway).await, 403);
    assert_logged(&gateway, "fetch of https://").await;
    gateway.stop().await;

    // Another CA's bundle does not vouch for it either.
    let plugin_bundle = |path: &std::path::Path| format!("ca_bundles = [\"{}\"]", path.display());
    let gateway = start(&fetching(
        &upstream,
        &url,
        &authority,
        &plugin_bundle(&other_ca),
        "",
    ))
    .await;
    assert_eq!(egress_status(&gateway).await, 403);
    gateway.stop().await;

    // Its CA, for this plugin or for every plugin: verified and reached.
    let gateway = start(&fetching(
        &upstream,
        &url,
        &authority,
        &plugin_bundle(&its_ca),
        "",
    ))
    .await;
    assert_eq!(egress_status(&gateway).await, 200, "{}", gateway.log());
    gateway.stop().await;
    let global = format!("egress_ca_bundles = [\"{}\"]", its_ca.display());
    let gateway = start(&fetching(&upstream, &url, &authority, "", &global)).await;
    assert_eq!(egress_status(&gateway).await, 200, "{}", gateway.log());
    gateway.stop().await;

    // A bundle that cannot be read stops the start, naming the key.
    let failure = portcullis_tests::Gateway::with_config(&fetching(
        &upstream,
        &url,
        &authority,
        "ca_bundles = [\"/nonexistent/ca.pem\"]",
        "",
    ))
    .await
    .err()
    .expect("a missing CA bundle stops the start");
    assert!(
        failure
            .stderr
            .contains("plugins.authz.ca_bundles: CA bundle `/nonexistent/ca.pem` cannot be read"),
        "{}",
        failure.stderr
    );
}
