//! Replacing a plugin file and sending SIGHUP swaps the plugin in without
//! failing a single request.

use super::{ALICE, config, gateway_with, start};
use portcullis_tests::{Upstream, paths};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[tokio::test]
async fn plugin_swap_on_sighup_drops_no_request() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("authz.wasm");
    std::fs::copy(paths::component("fixture_allow_all"), &live).unwrap();
    let gateway = start(&config(&upstream, &live.display().to_string(), "")).await;
    let client = gateway.client();

    let running = Arc::new(AtomicBool::new(true));
    let mut workers = Vec::new();
    for _ in 0..3 {
        let client = client.clone();
        let running = running.clone();
        workers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            while running.load(Ordering::Relaxed) {
                let outcome = client
                    .get_with("/v1/items/1", &[("authorization", ALICE)])
                    .await
                    .map(|r| r.status.as_u16());
                outcomes.push(outcome.map_err(|e| e.to_string()));
            }
            outcomes
        }));
    }

    tokio::time::sleep(Duration::from_millis(400)).await;
    // Replace the file atomically, as a deployment tool would.
    let staged = dir.path().join("authz.wasm.new");
    std::fs::copy(paths::component("fixture_deny_all"), &staged).unwrap();
    std::fs::rename(&staged, &live).unwrap();
    gateway.signal(libc::SIGHUP);
    assert!(
        gateway
            .wait_for_log("plugin swapped in", Duration::from_secs(20))
            .await,
        "{}",
        gateway.log()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    running.store(false, Ordering::Relaxed);

    let mut outcomes = Vec::new();
    for worker in workers {
        let sequence = worker.await.unwrap();
        let first_denied = sequence.iter().position(|o| matches!(o, Ok(403)));
        if let Some(first) = first_denied {
            assert!(
                sequence[first..].iter().all(|o| matches!(o, Ok(403))),
                "after a worker saw the new plugin it must never see the old one: {sequence:?}"
            );
        }
        outcomes.extend(sequence);
    }
    let failures: Vec<_> = outcomes
        .iter()
        .filter(|o| !matches!(o, Ok(200) | Ok(403)))
        .collect();
    assert!(
        failures.is_empty(),
        "requests failed during the swap: {failures:?}"
    );
    let allowed = outcomes.iter().filter(|o| matches!(o, Ok(200))).count();
    let denied = outcomes.iter().filter(|o| matches!(o, Ok(403))).count();
    assert!(
        allowed > 0 && denied > 0,
        "traffic ran on both versions: {allowed} allowed, {denied} denied"
    );
    let reply = client
        .get_with("/v1/items/1", &[("authorization", ALICE)])
        .await
        .unwrap();
    assert_eq!(reply.status, 403, "new behaviour from the next request");
}

#[tokio::test]
async fn a_broken_replacement_keeps_the_running_plugin() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("authz.wasm");
    std::fs::copy(paths::component("fixture_allow_all"), &live).unwrap();
    let gateway = start(&config(&upstream, &live.display().to_string(), "")).await;

    std::fs::write(&live, b"\0asm garbage").unwrap();
    gateway.signal(libc::SIGHUP);
    assert!(
        gateway
            .wait_for_log(
                "plugin reload failed; keeping the running version",
                Duration::from_secs(20)
            )
            .await,
        "{}",
        gateway.log()
    );
    let reply = gateway
        .client()
        .get_with("/v1/items/1", &[("authorization", ALICE)])
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "the previous plugin still serves");
}

#[tokio::test]
async fn sighup_reloads_the_certificate_for_new_connections() {
    let (_upstream, gateway) = gateway_with("fixture_allow_all").await;
    let old = gateway.certificate();
    let tls = gateway.dir().join("data/tls");
    std::fs::remove_file(tls.join("cert.pem")).unwrap();
    std::fs::remove_file(tls.join("key.pem")).unwrap();
    gateway.signal(libc::SIGHUP);
    assert!(
        gateway
            .wait_for_log("reload complete", Duration::from_secs(20))
            .await,
        "{}",
        gateway.log()
    );
    let new = gateway.certificate();
    assert_ne!(old, new, "a new self-signed certificate was generated");

    let fresh = portcullis_tests::Client::new(gateway.addr, new, rustls::ALL_VERSIONS);
    assert_eq!(
        fresh.get("/healthz").await.unwrap().status,
        200,
        "new connections get the new certificate"
    );
    let stale = portcullis_tests::Client::new(gateway.addr, old, rustls::ALL_VERSIONS);
    assert!(
        stale.get("/healthz").await.is_err(),
        "the old certificate is no longer served"
    );
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let (upstream, gateway) = gateway_with("fixture_allow_all").await;
    let client = gateway.client();
    let slow = tokio::spawn(async move {
        client
            .get_with(
                "/v1/items/1",
                &[("authorization", ALICE), ("x-test-delay-ms", "1500")],
            )
            .await
    });
    // Wait until the request is at the upstream, then ask the gateway to stop.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while upstream.seen().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let addr = gateway.addr;
    let certificate = gateway.certificate();
    gateway.signal(libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let late = portcullis_tests::Client::new(addr, certificate, rustls::ALL_VERSIONS)
        .get("/healthz")
        .await;
    assert!(
        late.is_err(),
        "no new connections are served while draining"
    );
    let reply = slow
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(reply.status, 200);
    assert_eq!(gateway.stop_wait().await, Some(0));
}
