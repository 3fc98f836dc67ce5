//! One canonical path: what the gateway matches is what it forwards.

use super::{BOB, code, gateway};
use crate::ALICE;

#[tokio::test]
async fn encoded_paths_are_matched_and_forwarded_in_canonical_form() {
    let (upstream, gateway) = gateway("").await;
    let client = gateway.client();

    // Encoded unreserved characters cannot dodge the protected route:
    // bob reaches the catch-all, but not `/v1/admin/…` spelled another way.
    let plain = client
        .get_with("/v1/docs", &[("authorization", BOB)])
        .await
        .unwrap();
    assert_eq!(plain.status, 200, "{}", plain.text());
    for disguised in [
        "/v1/%61dmin/users",
        "/v1/%61%64%6D%69%6E/users",
        "/v1/admin/%75sers",
    ] {
        let reply = client
            .get_with(disguised, &[("authorization", BOB)])
            .await
            .unwrap();
        assert_eq!(reply.status, 403, "{disguised}: {}", reply.text());
        let anonymous = client.get(disguised).await.unwrap();
        assert_eq!(anonymous.status, 401, "{disguised}: {}", anonymous.text());
    }
    assert_eq!(
        upstream.seen().len(),
        1,
        "only the plain request reached the upstream"
    );

    // The upstream gets exactly the canonical path the gateway matched;
    // the query string is passed as it was.
    let reply = client
        .get_with(
            "/v1/%61dmin/us%65rs%20list?next=%2Fx",
            &[("authorization", ALICE)],
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(upstream.seen()[1].path, "/v1/admin/users%20list?next=%2Fx");

    // The API routes on the canonical path too.
    let api = client.get("/api/v1/%75sers").await.unwrap();
    assert_eq!(api.status, 401, "{}", api.text());
    assert_eq!(code(&api), "unauthenticated");
}

#[tokio::test]
async fn paths_without_one_meaning_are_refused_before_anything_else() {
    let (upstream, gateway) = gateway("").await;
    let client = gateway.client();
    for ambiguous in [
        "/v1/admin;x/users",
        "/v1/admin%3Bx/users",
        "/v1/admin%3bx/users",
        "/v1/admin%2Fusers",
        "/v1/admin%2fusers",
        "/v1/admin%5Cusers",
        "/v1/%2561dmin/users",
        "/v1/%252e%252e/admin/users",
        "/v1/admin/%00",
        "/v1/admin/%0d%0a",
        "/v1/admin/%c3",
        "/v1/admin/%ff%fe",
        "/v1/admin/%zz",
        "/v1/admin/%4",
        "/v1/admin/../admin/users",
        "/v1/./admin/users",
        "/v1/%2e%2e/admin/users",
        "/v1/.%2E/admin/users",
        "/v1//admin/users",
        "/v1/admin/users%3F.json",
        "/v1/admin/users%23frag",
    ] {
        for token in [BOB, ALICE] {
            let reply = client
                .get_with(ambiguous, &[("authorization", token)])
                .await
                .unwrap();
            assert_eq!(reply.status, 400, "{ambiguous}: {}", reply.text());
            assert_eq!(code(&reply), "bad_request", "{ambiguous}");
            assert!(
                reply.json()["message"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("ambiguous request path"),
                "{ambiguous}: {}",
                reply.text()
            );
        }
    }
    assert!(
        upstream.seen().is_empty(),
        "nothing ambiguous reached the upstream"
    );
}

#[tokio::test]
async fn with_case_insensitive_upstreams_case_cannot_dodge_a_route() {
    let (upstream, gateway) = gateway("case_insensitive_paths = true").await;
    let client = gateway.client();
    for disguised in ["/V1/ADMIN/users", "/v1/Admin/users", "/V1/%41dmin/users"] {
        let reply = client
            .get_with(disguised, &[("authorization", BOB)])
            .await
            .unwrap();
        assert_eq!(reply.status, 403, "{disguised}: {}", reply.text());
    }
    assert!(upstream.seen().is_empty());
    let reply = client
        .get_with("/V1/Admin/Users%C3%A9", &[("authorization", ALICE)])
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(upstream.seen()[0].path, "/v1/admin/users%C3%A9");
}
