//! Misbehaving plugins fail closed, the log names the plugin, and the
//! gateway keeps serving.

use super::{ALICE, config, start};
use portcullis_tests::{Gateway, Upstream, paths};
use std::time::{Duration, Instant};

async fn fault_gateway(upstream: &Upstream) -> Gateway {
    start(&config(
        upstream,
        &paths::component("fixture_fault_authorizer")
            .display()
            .to_string(),
        "",
    ))
    .await
}

async fn expect_recovery(gateway: &Gateway) {
    let reply = gateway
        .client()
        .get_with("/fault/fine", &[("authorization", ALICE)])
        .await
        .unwrap();
    assert_eq!(
        reply.status,
        200,
        "the next request must succeed: {}",
        reply.text()
    );
}

#[tokio::test]
async fn a_plugin_that_loops_forever_is_stopped_at_its_deadline() {
    let upstream = Upstream::start().await;
    let gateway = fault_gateway(&upstream).await;
    let started = Instant::now();
    let reply = gateway
        .client()
        .get_with("/fault/loop", &[("authorization", ALICE)])
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["code"], "authorization_unavailable");
    assert!(
        elapsed < Duration::from_secs(3),
        "stopped at its 300 ms deadline, took {elapsed:?}"
    );
    assert!(
        gateway
            .wait_for_log("ran past its 300 ms deadline", Duration::from_secs(2))
            .await,
        "{}",
        gateway.log()
    );
    assert!(gateway.log().contains("plugin=authz"));
    assert!(
        !upstream
            .seen()
            .iter()
            .any(|s| s.path.starts_with("/fault/loop"))
    );
    expect_recovery(&gateway).await;
}

#[tokio::test]
async fn a_plugin_that_allocates_past_its_cap_is_stopped() {
    let upstream = Upstream::start().await;
    let gateway = fault_gateway(&upstream).await;
    let reply = gateway
        .client()
        .get_with("/fault/alloc", &[("authorization", ALICE)])
        .await
        .unwrap();
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["code"], "authorization_unavailable");
    assert!(
        gateway
            .wait_for_log(
                "exceeded its memory limit of 32 MiB",
                Duration::from_secs(2)
            )
            .await,
        "{}",
        gateway.log()
    );
    expect_recovery(&gateway).await;
}

#[tokio::test]
async fn a_plugin_that_traps_fails_closed() {
    let upstream = Upstream::start().await;
    let gateway = fault_gateway(&upstream).await;
    let reply = gateway
        .client()
        .get_with("/fault/trap", &[("authorization", ALICE)])
        .await
        .unwrap();
    assert_eq!(reply.status, 503);
    assert!(
        gateway
            .wait_for_log("plugin `authz` trapped", Duration::from_secs(2))
            .await,
        "{}",
        gateway.log()
    );
    expect_recovery(&gateway).await;
    // Traps are counted per plugin and outcome.
    let metrics = gateway.client().get("/metrics").await.unwrap().text();
    assert!(
        metrics.contains(r#"portcullis_plugin_calls_total{plugin="authz",outcome="trap"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn egress_is_limited_to_the_allow_list() {
    let upstream = Upstream::start().await;
    let gateway = fault_gateway(&upstream).await;
    let client = gateway.client();

    let reply = client
        .get_with("/fault/egress-allowed", &[("authorization", ALICE)])
        .await
        .unwrap();
    assert_eq!(
        reply.status,
        200,
        "an allow-listed host is reachable: {}",
        reply.text()
    );
    assert!(
        upstream.seen().iter().any(|s| s.path == "/egress"),
        "the plugin's request reached the allowed host"
    );

    let reply = client
        .get_with("/fault/egress-denied", &[("authorization", ALICE)])
        .await
        .unwrap();
    assert_eq!(reply.status, 403, "the plugin got an error and denied");
    assert!(
        gateway
            .wait_for_log("plugin egress denied", Duration::from_secs(2))
            .await,
        "{}",
        gateway.log()
    );
    let log = gateway.log();
    let line = log
        .lines()
        .find(|l| l.contains("plugin egress denied"))
        .unwrap();
    assert!(
        line.contains("plugin=authz") && line.contains("host=blocked.invalid"),
        "{line}"
    );
    assert!(
        log.contains("request denied: host is not on this plugin's allow-list"),
        "the plugin saw a clear error"
    );
    expect_recovery(&gateway).await;
}

#[tokio::test]
async fn plugins_keep_state_in_their_private_store() {
    let upstream = Upstream::start().await;
    let gateway = fault_gateway(&upstream).await;
    let client = gateway.client();
    for _ in 0..3 {
        let reply = client
            .get_with("/fault/kv", &[("authorization", ALICE)])
            .await
            .unwrap();
        assert_eq!(reply.status, 200);
    }
    assert!(
        gateway
            .wait_for_log("count=3", Duration::from_secs(2))
            .await,
        "{}",
        gateway.log()
    );
}

#[tokio::test]
async fn plugins_get_no_filesystem_environment_or_sockets() {
    let upstream = Upstream::start().await;
    let gateway = fault_gateway(&upstream).await;
    let reply = gateway
        .client()
        .get_with("/fault/sandbox", &[("authorization", ALICE)])
        .await
        .unwrap();
    assert!(
        gateway
            .wait_for_log("sandbox escapes:", Duration::from_secs(2))
            .await,
        "{}",
        gateway.log()
    );
    let log = gateway.log();
    let line = log
        .lines()
        .find(|l| l.contains("sandbox escapes:"))
        .unwrap();
    assert!(line.contains("sandbox escapes: []"), "{line}");
    assert_eq!(reply.status, 200);
}
