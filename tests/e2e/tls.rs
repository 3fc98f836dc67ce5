//! TLS: the embedded defaults serve over TLS 1.2 and 1.3 only; the plain
//! port redirects; HSTS is sent.

use portcullis_tests::paths;
use portcullis_tests::{Client, Gateway, Upstream};
use std::process::Command;

fn plugin_dir() -> std::path::PathBuf {
    paths::component("authz_static")
        .parent()
        .expect("plugin dir")
        .to_path_buf()
}

async fn embedded() -> Gateway {
    match Gateway::embedded(&plugin_dir(), "127.0.0.1:0").await {
        Ok(gateway) => gateway,
        Err(failure) => panic!(
            "embedded gateway did not start (exit {:?}):\n{}",
            failure.code, failure.stderr
        ),
    }
}

#[tokio::test]
async fn embedded_defaults_serve_healthz_over_tls_1_3_and_1_2() {
    let gateway = embedded().await;
    let cert = gateway.certificate();
    for (version, expected) in [
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
    ] {
        let client = Client::new(gateway.addr, cert.clone(), &[version]);
        let reply = client.get("/healthz").await.expect("healthz");
        assert_eq!(reply.status, 200);
        assert_eq!(reply.tls_version, Some(expected));
        assert_eq!(reply.json()["status"], "ok");
        let hsts = reply.headers["strict-transport-security"].to_str().unwrap();
        assert!(hsts.starts_with("max-age=31536000"), "{hsts}");
        assert!(reply.headers.contains_key("x-request-id"));
    }
    // The printed fingerprint is the served certificate's.
    let digest = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(gateway.dir().join("data/tls/cert.pem"))
        .output()
        .expect("openssl x509");
    let printed = String::from_utf8_lossy(&digest.stdout);
    assert!(
        printed.trim().ends_with(&gateway.fingerprint),
        "{printed} vs {}",
        gateway.fingerprint
    );
    // The embedded default also created its key file, owner-only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(gateway.dir().join("data/local.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        gateway.stop().await,
        Some(0),
        "SIGTERM should stop the gateway cleanly"
    );
}

fn s_client(addr: std::net::SocketAddr, version_flag: &str) -> (bool, String) {
    let output = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            version_flag,
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client (install openssl)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let negotiated = text.contains(&format!(
        "Protocol  : {}",
        match version_flag {
            "-tls1_1" => "TLSv1.1",
            "-tls1_2" => "TLSv1.2",
            _ => "TLSv1.3",
        }
    )) || text.contains(&format!(
        "New, {}",
        match version_flag {
            "-tls1_1" => "TLSv1.1",
            "-tls1_2" => "TLSv1.2",
            _ => "TLSv1.3",
        }
    ));
    (output.status.success() && negotiated, text)
}

#[tokio::test]
async fn tls_1_1_handshake_is_refused_while_1_2_and_1_3_succeed_with_openssl() {
    let gateway = embedded().await;
    let (ok12, text12) = s_client(gateway.addr, "-tls1_2");
    assert!(ok12, "TLS 1.2 should succeed:\n{text12}");
    let (ok13, text13) = s_client(gateway.addr, "-tls1_3");
    assert!(ok13, "TLS 1.3 should succeed:\n{text13}");
    let (ok11, text11) = s_client(gateway.addr, "-tls1_1");
    assert!(!ok11, "TLS 1.1 must be refused:\n{text11}");
    assert!(
        text11.contains("alert protocol version")
            || text11.contains("alert handshake failure")
            || text11.contains("unsupported protocol")
            || text11.contains("no protocols available"),
        "TLS 1.1 should fail on the protocol version:\n{text11}"
    );
}

#[tokio::test]
async fn plain_http_only_redirects_to_https() {
    let upstream = Upstream::start().await;
    let config = super::config(
        &upstream,
        &paths::component("fixture_allow_all").display().to_string(),
        "",
    )
    .replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\nhttp_redirect_listen = \"127.0.0.1:0\"",
    );
    let gateway = super::start(&config).await;
    let http_addr = gateway.http_addr.expect("redirect listener");
    let output = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            &format!("http://localhost:{}/v1/items/1?x=1", http_addr.port()),
        ])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        text,
        format!(
            "308 https://localhost:{}/v1/items/1?x=1",
            gateway.addr.port()
        )
    );
    assert!(
        upstream.seen().is_empty(),
        "the plain port must never proxy"
    );
}
