//! Misbehaving plugins fail closed, the log names the plugin, and the
//! gateway keeps serving.

use super::{ALICE, assert_logged, gateway_with};
use portcullis_tests::{Gateway, Reply};
use std::time::{Duration, Instant};

/// Asks the fault fixture to misbehave as `kind`, as alice.
async fn fault(gateway: &Gateway, kind: &str) -> Reply {
    gateway
        .client()
        .get_with(&format!("/fault/{kind}"), &[("authorization", ALICE)])
        .await
        .unwrap()
}

/// The request after a failure must succeed: the gateway replaced the instance.
async fn expect_recovery(gateway: &Gateway) {
    let reply = fault(gateway, "fine").await;
    assert_eq!(
        reply.status,
        200,
        "the next request must succeed: {}",
        reply.text()
    );
}

/// A failing plugin call: 503, the documented code, the cause logged, recovery.
async fn expect_fail_closed(gateway: &Gateway, kind: &str, logged: &str) {
    let reply = fault(gateway, kind).await;
    assert_eq!(reply.status, 503, "{kind}: {}", reply.text());
    assert_eq!(reply.json()["code"], "authorization_unavailable");
    assert_logged(gateway, logged).await;
    let log = gateway.log();
    let line = log.lines().find(|l| l.contains(logged)).unwrap();
    assert!(
        line.contains("plugin=authz"),
        "the log names the plugin: {line}"
    );
    expect_recovery(gateway).await;
}

/// `kind` fails closed because the plugin ran past its deadline, and is
/// stopped soon after it.
async fn expect_stopped_at_deadline(gateway: &Gateway, kind: &str) {
    let started = Instant::now();
    expect_fail_closed(gateway, kind, "ran past its 300 ms deadline").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{kind}: stopped at its deadline, took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_plugin_that_loops_forever_is_stopped_at_its_deadline() {
    let (upstream, gateway) = gateway_with("fixture_fault_authorizer").await;
    expect_stopped_at_deadline(&gateway, "loop").await;
    assert!(
        !upstream
            .seen()
            .iter()
            .any(|s| s.path.starts_with("/fault/loop"))
    );
}

#[tokio::test]
async fn a_plugin_called_directly_fails_closed_on_every_fault() {
    // The fixture's source without the cases that can wait on the host:
    // the gateway links it for direct calls, with no fiber to switch to,
    // and the faults still end as they do on a fiber.
    let (upstream, gateway) = gateway_with("fixture_direct_fault_authorizer").await;
    assert_logged(&gateway, r#"calls="direct""#).await;
    expect_stopped_at_deadline(&gateway, "loop").await;
    expect_fail_closed(&gateway, "alloc", "exceeded its memory limit of 32 MiB").await;
    // A panic writes its message to stderr (a blocking write, answered at
    // once) and traps.
    expect_fail_closed(&gateway, "trap", "plugin `authz` trapped").await;
    let reply = fault(&gateway, "print").await;
    assert_eq!(reply.status, 200, "writing to stdio: {}", reply.text());
    let reply = fault(&gateway, "two-faced").await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    let seen = upstream.seen();
    assert!(seen.iter().any(|s| s.path.starts_with("/fault/print")));
    for refused in [
        "/fault/loop",
        "/fault/alloc",
        "/fault/trap",
        "/fault/two-faced",
    ] {
        assert!(
            !seen.iter().any(|s| s.path.starts_with(refused)),
            "{refused} never reached the upstream"
        );
    }
}

#[tokio::test]
async fn a_plugin_waiting_on_the_host_is_stopped_at_its_deadline() {
    // The fixture imports HTTP, so its calls run under the wall-clock
    // deadline as well as the epoch one; here no guest code runs while it
    // waits for an answer that does not come, so only the former can act.
    let (_upstream, gateway) = gateway_with("fixture_fault_authorizer").await;
    assert_logged(&gateway, r#"calls="on-fiber""#).await;
    expect_stopped_at_deadline(&gateway, "stall").await;
}

#[tokio::test]
async fn an_authorizer_that_denies_and_then_allows_when_explaining_is_refused() {
    // A proxied request is asked for the verdict; a denial is asked again
    // for its receipt. An authorizer that then says yes does not turn the
    // denial into an allow.
    let (upstream, gateway) = gateway_with("fixture_fault_authorizer").await;
    let reply = fault(&gateway, "two-faced").await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert!(
        !upstream
            .seen()
            .iter()
            .any(|s| s.path.starts_with("/fault/two-faced")),
        "the request never reached the upstream"
    );
    assert_logged(&gateway, "then allowed when asked for its receipt; denying").await;
}

#[tokio::test]
async fn a_plugin_that_allocates_past_its_cap_is_stopped() {
    let (_upstream, gateway) = gateway_with("fixture_fault_authorizer").await;
    expect_fail_closed(&gateway, "alloc", "exceeded its memory limit of 32 MiB").await;
}

#[tokio::test]
async fn a_plugin_that_traps_fails_closed() {
    let (_upstream, gateway) = gateway_with("fixture_fault_authorizer").await;
    expect_fail_closed(&gateway, "trap", "plugin `authz` trapped").await;
    // Traps are counted per plugin and outcome.
    let metrics = gateway.client().get("/metrics").await.unwrap().text();
    assert!(
        metrics.contains(r#"portcullis_plugin_calls_total{plugin="authz",outcome="trap"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn egress_is_limited_to_the_allow_list() {
    let (upstream, gateway) = gateway_with("fixture_fault_authorizer").await;
    let reply = fault(&gateway, "egress-allowed").await;
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

    let reply = fault(&gateway, "egress-denied").await;
    assert_eq!(reply.status, 403, "the plugin got an error and denied");
    assert_logged(&gateway, "plugin egress denied").await;
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
    let (_upstream, gateway) = gateway_with("fixture_fault_authorizer").await;
    for _ in 0..3 {
        assert_eq!(fault(&gateway, "kv").await.status, 200);
    }
    assert_logged(&gateway, "count=3").await;
}

#[tokio::test]
async fn plugins_get_no_filesystem_environment_or_sockets() {
    let (_upstream, gateway) = gateway_with("fixture_fault_authorizer").await;
    let reply = fault(&gateway, "sandbox").await;
    assert_logged(&gateway, "sandbox escapes:").await;
    let log = gateway.log();
    let line = log
        .lines()
        .find(|l| l.contains("sandbox escapes:"))
        .unwrap();
    assert!(line.contains("sandbox escapes: []"), "{line}");
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn callers_do_not_queue_without_bound_when_every_instance_is_busy() {
    let upstream = portcullis_tests::Upstream::start().await;
    let text = super::config(
        &upstream,
        &portcullis_tests::paths::component("fixture_fault_authorizer")
            .display()
            .to_string(),
        "",
    )
    .replace("instances = 4", "instances = 1");
    let gateway = super::start(&text).await;
    // One instance, three calls that each hold it for the whole 300 ms
    // deadline: the last in line waits longer than a deadline and must be
    // refused instead of queueing.
    let client = gateway.client();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .get_with("/fault/loop", &[("authorization", ALICE)])
                    .await
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().status, 503);
    }
    assert_logged(&gateway, "is overloaded: all 1 instances stayed busy").await;
    expect_recovery(&gateway).await;
}
