//! Forwarding headers: the gateway alone says who the client is and
//! which host it served; nothing the client sends rewrites the request.

use super::{code, gateway};
use crate::ALICE;
use portcullis_tests::Upstream;

fn header(upstream: &Upstream, index: usize, name: &str) -> Vec<String> {
    upstream.seen()[index]
        .headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// Headers a client might forge, in every spelling upstreams accept.
const FORGED: &[(&str, &str)] = &[
    ("forwarded", "for=6.6.6.6;host=evil.example;proto=http"),
    ("x-forwarded-for", "6.6.6.6"),
    ("x-forwarded-host", "evil.example"),
    ("x-forwarded-proto", "http"),
    ("x-forwarded-port", "80"),
    ("x-forwarded-prefix", "/admin"),
    ("x-forwarded-server", "evil"),
    ("x-forwarded-uri", "/v1/admin/other"),
    ("x-real-ip", "6.6.6.6"),
    ("true-client-ip", "6.6.6.6"),
    ("x-client-ip", "6.6.6.6"),
    ("cf-connecting-ip", "6.6.6.6"),
    ("x-original-url", "/v1/admin/other"),
    ("x-rewrite-url", "/v1/admin/other"),
    ("x-original-uri", "/v1/admin/other"),
    ("x-http-method-override", "DELETE"),
    ("x-http-method", "DELETE"),
    ("x-method-override", "DELETE"),
    ("x_forwarded_for", "6.6.6.6"),
    ("x_forwarded_host", "evil.example"),
    ("x_real_ip", "6.6.6.6"),
    ("x_original_url", "/v1/admin/other"),
    ("x_http_method_override", "DELETE"),
    ("x_portcullis_subject", "root"),
    ("x-portcullis_groups", "admins"),
];

#[tokio::test]
async fn forged_forwarding_rewrite_and_underscore_headers_never_reach_the_upstream() {
    let (upstream, gateway) = gateway("").await;
    let client = gateway.client();
    let mut headers = vec![("authorization", ALICE), ("host", "gw.example:8443")];
    headers.extend_from_slice(FORGED);
    let reply = client.get_with("/v1/admin/x", &headers).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    for (name, _) in FORGED {
        let normalized = name.replace('_', "-");
        let seen = header(&upstream, 0, name);
        let ours = ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"];
        if ours.contains(&normalized.as_str()) && !name.contains('_') {
            continue;
        }
        assert!(seen.is_empty(), "`{name}` reached the upstream: {seen:?}");
    }
    assert_eq!(header(&upstream, 0, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(header(&upstream, 0, "x-forwarded-proto"), ["https"]);
    assert_eq!(
        header(&upstream, 0, "x-forwarded-host"),
        ["gw.example:8443"],
        "the validated Host the gateway served"
    );

    for bad_host in ["evil.example/x", "evil.example:8443@x", "a b"] {
        let reply = client
            .get_with(
                "/v1/admin/x",
                &[("authorization", ALICE), ("host", bad_host)],
            )
            .await;
        if let Ok(reply) = reply {
            assert_eq!(reply.status, 400, "{bad_host}: {}", reply.text());
            assert_eq!(code(&reply), "bad_request");
        }
    }
    assert_eq!(upstream.seen().len(), 1, "a bad Host reaches nothing");
}

#[tokio::test]
async fn the_public_host_and_trusted_proxies_decide_the_forwarded_values() {
    let (upstream, gateway) = gateway(
        "public_host = \"gw.example.com\"\ntrusted_proxies = [\"127.0.0.0/8\", \"10.0.0.0/8\"]",
    )
    .await;
    let client = gateway.client();
    let reply = client
        .get_with(
            "/v1/admin/x",
            &[
                ("authorization", ALICE),
                ("host", "evil.example"),
                // The client forged the first entry; two trusted balancers
                // appended the real client and each other.
                ("x-forwarded-for", "6.6.6.6, 198.51.100.4, 10.1.2.3"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(header(&upstream, 0, "x-forwarded-host"), ["gw.example.com"]);
    assert_eq!(
        header(&upstream, 0, "x-forwarded-for"),
        ["198.51.100.4"],
        "the nearest hop no trusted proxy added"
    );

    // Without a chain, the trusted peer itself is the client.
    let reply = client
        .get_with("/v1/admin/y", &[("authorization", ALICE)])
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(header(&upstream, 1, "x-forwarded-for"), ["127.0.0.1"]);
}
