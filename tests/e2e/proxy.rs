//! Proxied routes: identity, authorization before forwarding, header hygiene.

use super::{ALICE, config, start};
use portcullis_tests::Upstream;
use portcullis_tests::paths;

fn component(name: &str) -> String {
    paths::component(name).display().to_string()
}

#[tokio::test]
async fn allowed_request_reaches_upstream_with_gateway_identity_only() {
    let upstream = Upstream::start().await;
    let gateway = start(&config(&upstream, &component("fixture_allow_all"), "")).await;
    let client = gateway.client();
    let reply = client
        .get_with(
            "/v1/items/42?full=1",
            &[
                ("authorization", ALICE),
                ("x-portcullis-subject", "root"),
                ("X-Portcullis-Groups", "superusers"),
                ("x-portcullis-forged", "1"),
                ("x-forwarded-for", "10.9.8.7"),
                ("x-request-id", "client-chosen"),
                ("connection", "x-private-hop"),
                ("x-private-hop", "1"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "upstream-ok");

    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.path, "/v1/items/42?full=1");
    assert_eq!(
        request.target, "/v1/items/42?full=1",
        "an upstream gets the origin form, as from a client"
    );
    let header = |name: &str| {
        request
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        header("host"),
        vec![format!("127.0.0.1:{}", upstream.port())],
        "HTTP/1.1 requires a Host; it names the upstream, not the gateway"
    );
    assert_eq!(header("x-portcullis-subject"), vec!["alice"]);
    assert_eq!(header("x-portcullis-groups"), vec!["admins,ops"]);
    assert_eq!(header("x-portcullis-email"), vec!["alice@example.com"]);
    assert_eq!(header("x-portcullis-issuer"), vec!["tokens"]);
    assert!(header("x-portcullis-forged").is_empty());
    assert!(
        header("authorization").is_empty(),
        "credentials must not reach the upstream"
    );
    assert!(header("x-private-hop").is_empty());
    assert_eq!(
        header("x-forwarded-for"),
        vec!["127.0.0.1"],
        "the gateway sets the real client address"
    );
    let upstream_id = header("x-request-id");
    assert_eq!(upstream_id.len(), 1);
    assert_ne!(upstream_id[0], "client-chosen");
    assert_eq!(
        reply.headers["x-request-id"].to_str().unwrap(),
        upstream_id[0]
    );
}

#[tokio::test]
async fn denied_request_gets_json_403_and_upstream_sees_nothing() {
    let upstream = Upstream::start().await;
    let gateway = start(&config(&upstream, &component("fixture_deny_all"), "")).await;
    let reply = gateway
        .client()
        .get_with("/v1/items/7", &[("authorization", ALICE)])
        .await
        .unwrap();
    assert_eq!(reply.status, 403);
    assert_eq!(reply.headers["content-type"], "application/json");
    let body = reply.json();
    assert_eq!(body["code"], "forbidden");
    assert_eq!(body["message"], "not allowed to `items.read` on `items/7`");
    assert_eq!(
        body["request_id"].as_str().unwrap(),
        reply.headers["x-request-id"].to_str().unwrap()
    );
    assert!(
        upstream.seen().is_empty(),
        "a denied request must not reach the upstream"
    );
    assert!(
        gateway.log().contains("deny-all fixture"),
        "the decision's reason is logged"
    );
}

#[tokio::test]
async fn missing_wrong_or_malformed_credentials_are_refused_before_the_upstream() {
    let upstream = Upstream::start().await;
    let gateway = start(&config(&upstream, &component("fixture_allow_all"), "")).await;
    let client = gateway.client();

    let reply = client.get("/v1/items/1").await.unwrap();
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["code"], "unauthenticated");
    assert_eq!(reply.headers["www-authenticate"], "Bearer");

    for bad in [
        "Bearer alice-tokeN",
        "Bearer ",
        "Basic not-base64!",
        "Token alice-token",
    ] {
        let reply = client
            .get_with("/v1/items/1", &[("authorization", bad)])
            .await
            .unwrap();
        assert_eq!(reply.status, 401, "{bad}");
        assert_eq!(reply.json()["code"], "invalid_credentials", "{bad}");
        assert!(
            !reply.text().contains("alice-token"),
            "the credential must not be echoed"
        );
    }
    assert!(
        !gateway.log().contains("alice-tokeN"),
        "credentials must never be logged"
    );
    assert!(upstream.seen().is_empty());

    // Anonymous routes let credential-less requests through the authorizer.
    let reply = client.get("/public/docs/index.html").await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(
        upstream.seen()[0].headers["x-portcullis-subject"],
        "anonymous"
    );
}

#[tokio::test]
async fn ambiguous_paths_and_unknown_routes_are_refused() {
    let upstream = Upstream::start().await;
    let gateway = start(&config(&upstream, &component("fixture_allow_all"), "")).await;
    let client = gateway.client();
    for path in [
        "/public/../v1/items/1",
        "/public/%2e%2e/v1/items/1",
        "/public/a%2Fb",
        "/public//x",
    ] {
        let reply = client
            .get_with(path, &[("authorization", ALICE)])
            .await
            .unwrap();
        assert_eq!(reply.status, 400, "{path}");
        assert_eq!(reply.json()["code"], "bad_request");
    }
    let reply = client.get("/nowhere").await.unwrap();
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["code"], "not_found");
    let reply = client
        .send(
            http::Method::DELETE,
            "/v1/items/1",
            &[("authorization", ALICE)],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 405, "an unrouted method is not forwarded");
    assert_eq!(reply.json()["code"], "method_not_allowed");
    assert_eq!(reply.headers["allow"], "GET, POST");
    assert!(upstream.seen().is_empty());
}
