//! Connection exhaustion: slow bodies, idle HTTP/1 and HTTP/2 connections,
//! and the HTTP/2 stream cap.

use super::gateway;
use crate::ALICE;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMITS: &str =
    "body_read_timeout_ms = 800\nidle_timeout_ms = 1000\nhttp2_max_concurrent_streams = 7";

/// Sends a request head announcing a 100-byte body, then only part of it;
/// returns what the gateway answered and how long it took.
async fn drip(
    client: &portcullis_tests::Client,
    target: &str,
    authorization: &str,
) -> (String, Duration) {
    let mut stream = client.connect().await.unwrap();
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n{authorization}\r\n{{\"email\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buffer)).await;
    assert!(
        read.is_ok(),
        "{target}: the gateway kept waiting for the body"
    );
    (
        String::from_utf8_lossy(&buffer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn bodies_dripped_slower_than_the_deadline_get_408() {
    let (upstream, gateway) = gateway(LIMITS).await;
    let client = gateway.client();
    for (target, authorization) in [
        ("/auth/login", String::new()),
        ("/v1/admin/upload", format!("Authorization: {ALICE}\r\n")),
    ] {
        let (answer, took) = drip(&client, target, &authorization).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{target}: {answer}");
        assert!(answer.contains("body_timeout"), "{target}: {answer}");
        assert!(
            took < Duration::from_secs(3),
            "{target}: answered after {took:?}"
        );
    }
    assert!(
        upstream.seen().iter().all(|s| s.body.len() < 100),
        "no partial body was passed off as complete"
    );
}

#[tokio::test]
async fn idle_http1_connections_are_closed() {
    let (_upstream, gateway) = gateway(LIMITS).await;
    let mut stream = gateway.client().connect().await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 512];
    let n = stream.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "an idle keep-alive connection stayed open");
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "closed too early: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn http2_connections_have_a_stream_cap_and_an_idle_timeout() {
    let (_upstream, gateway) = gateway(LIMITS).await;
    let tls = gateway.client().connect_h2().await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (client, mut connection) = h2::client::handshake(tls).await.unwrap();
    let mut client = client.ready().await.unwrap();
    let request = http::Request::get("https://localhost/healthz")
        .body(())
        .unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    let status = tokio::select! {
        response = response => response.unwrap().status(),
        _ = &mut connection => panic!("the connection ended before the response"),
    };
    assert_eq!(status, 200);
    assert_eq!(
        connection.max_concurrent_send_streams(),
        7,
        "the server's SETTINGS_MAX_CONCURRENT_STREAMS"
    );

    // The connection stays idle; the gateway closes it (GOAWAY).
    let started = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(5), &mut connection).await;
    assert!(ended.is_ok(), "an idle HTTP/2 connection stayed open");
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "closed too early: {:?}",
        started.elapsed()
    );
    drop(client);
}

/// Reads from `stream` until a whole response head has arrived.
async fn read_head<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("a response head in time")
            .expect("read");
        assert!(n > 0, "the connection closed before a whole head");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A request refused before its body arrived leaves that body on the
/// connection, so the gateway cannot read another request there: the
/// refusal must say `Connection: close`, or a keep-alive client sends
/// its next request into a connection that is closing (what clients
/// report as an unexpected EOF). Either the next request is answered, or
/// the refusal said the connection ends.
#[tokio::test]
async fn a_refusal_sent_before_the_body_arrived_says_the_connection_ends() {
    let (upstream, gateway) = gateway(LIMITS).await;
    let client = gateway.client();
    let body = br#"{"name":"staging"}"#;
    for (target, authorization, status) in [
        ("/api/v1/environments", String::new(), "401"),
        (
            "/v1/admin/upload",
            format!("Authorization: {}\r\n", super::BOB),
            "403",
        ),
    ] {
        let mut stream = client.connect().await.unwrap();
        let head = format!(
            "POST {target} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{authorization}\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.flush().await.unwrap();
        let answer = read_head(&mut stream).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{target}: {answer}"
        );
        // The body, then the next request, arrive after the refusal.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = stream.write_all(body).await;
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await;
        let _ = stream.flush().await;
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
        let rest = String::from_utf8_lossy(&rest);
        let says_close = answer
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n");
        assert!(
            says_close || rest.contains("HTTP/1.1 200"),
            "{target}: the gateway dropped a connection it had not said it would close:\n{answer}{rest}"
        );
    }
    assert!(upstream.seen().is_empty(), "nothing refused was forwarded");
}
