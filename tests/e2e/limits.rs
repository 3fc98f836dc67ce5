//! Limits: body size, header size, slow clients.

use super::{ALICE, config, start};
use portcullis_tests::{Upstream, paths};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn limited(upstream: &Upstream) -> String {
    config(upstream, &paths::component("fixture_allow_all").display().to_string(), "").replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\nmax_body_bytes = 1024\nmax_header_bytes = 8192\nheader_read_timeout_ms = 500",
    )
}

#[tokio::test]
async fn oversized_bodies_and_headers_are_refused() {
    let upstream = Upstream::start().await;
    let gateway = start(&limited(&upstream)).await;
    let client = gateway.client();

    let reply = client
        .send(
            http::Method::POST,
            "/v1/items/1",
            &[("authorization", ALICE)],
            &[b'x'; 1000],
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "a body under the limit passes");
    assert_eq!(upstream.seen()[0].body.len(), 1000);

    let reply = client
        .send(
            http::Method::POST,
            "/v1/items/1",
            &[("authorization", ALICE)],
            &[b'x'; 4096],
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["code"], "payload_too_large");
    assert_eq!(
        upstream.seen().len(),
        1,
        "the oversized body never reached the upstream"
    );

    let big = "v".repeat(16 * 1024);
    let outcome = client.get_with("/healthz", &[("x-big", &big)]).await;
    match outcome {
        Ok(reply) => assert_eq!(reply.status, 431),
        Err(error) => panic!("expected 431, got {error}"),
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off_after_the_header_timeout() {
    let upstream = Upstream::start().await;
    let gateway = start(&limited(&upstream)).await;
    let mut stream = gateway.client().connect().await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buffer)).await;
    assert!(
        read.is_ok(),
        "the gateway must close a connection that never finishes its headers"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        started.elapsed()
    );
    let text = String::from_utf8_lossy(&buffer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

#[tokio::test]
async fn the_connection_cap_holds_across_serving_threads() {
    // Three threads share the listening socket and the cap of two.
    let upstream = Upstream::start().await;
    let text = config(
        &upstream,
        &paths::component("fixture_allow_all").display().to_string(),
        "",
    )
    .replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\nmax_connections = 2\nthreads = 3",
    );
    let gateway = start(&text).await;
    assert!(
        gateway.log().contains("serving_threads=3"),
        "{}",
        gateway.log()
    );
    let client = gateway.client();
    let mut first = client.session().await.unwrap();
    let mut second = client.session().await.unwrap();
    assert_eq!(first.get("/healthz").await.unwrap(), 200);
    assert_eq!(second.get("/healthz").await.unwrap(), 200);
    // A third connection waits in the accept queue while two are open...
    let third = tokio::spawn(async move {
        let mut session = client.session().await?;
        session.get("/healthz").await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !third.is_finished(),
        "a third connection was served past the cap of two"
    );
    // ...and is served as soon as one of them closes.
    drop(first);
    let served = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("the waiting connection is served once another closes")
        .unwrap()
        .unwrap();
    assert_eq!(served, 200);
    assert_eq!(second.get("/healthz").await.unwrap(), 200);
}
