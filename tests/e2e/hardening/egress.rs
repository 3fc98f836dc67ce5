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
