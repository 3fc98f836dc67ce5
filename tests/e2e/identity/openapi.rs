//! The served OpenAPI document matches the served routes.

use super::{Fixture, call};
use http::Method;
use serde_json::json;

#[tokio::test]
async fn every_documented_operation_is_served_and_nothing_else_is() {
    let f = Fixture::start().await;
    let reply = f.client.get("/api/v1/openapi.json").await.unwrap();
    assert_eq!(reply.status, 200);
    let document = reply.json();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{}", paths.len());
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "zz_missing"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let documented: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        for method in &documented {
            operations += 1;
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let body = matches!(method, Method::POST | Method::PATCH).then(|| json!({}));
            let reply = call(&f.client, method.clone(), &concrete, Some(&f.admin), body).await;
            let served = !(reply.status == 404 && reply.json()["message"] == "no such route")
                && reply.status != 405;
            assert!(
                served,
                "{method} {path} is documented but not served: {} {}",
                reply.status,
                reply.text()
            );
        }
        // Methods the document does not list are refused with 405 + Allow.
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            if documented.contains(&method.to_string()) {
                continue;
            }
            let reply = call(&f.client, method.clone(), &concrete, Some(&f.admin), None).await;
            assert_eq!(
                reply.status, 405,
                "{method} {path} is served but not documented"
            );
            assert_eq!(reply.json()["code"], "method_not_allowed");
            let allow = reply.headers["allow"].to_str().unwrap().to_string();
            for expected in &documented {
                assert!(
                    allow.contains(expected.as_str()),
                    "{path}: Allow `{allow}` lacks {expected}"
                );
            }
        }
    }
    assert!(operations >= 30, "{operations}");
    // A path the document does not have is not served.
    let unknown = call(
        &f.client,
        Method::GET,
        "/api/v1/nothing-here",
        Some(&f.admin),
        None,
    )
    .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn api_errors_are_json_with_a_code_and_never_echo_input() {
    let f = Fixture::start().await;
    let bearer = format!("Bearer {}", f.admin);
    let send = |content_type: &'static str, body: &'static str| {
        let bearer = bearer.clone();
        let client = f.client.clone();
        async move {
            client
                .send(
                    Method::POST,
                    "/api/v1/users",
                    &[("authorization", &bearer), ("content-type", content_type)],
                    body.as_bytes(),
                )
                .await
                .unwrap()
        }
    };
    let cases = [
        (
            "text/plain",
            r#"{"email":"a@b.c"}"#,
            "Content-Type: application/json",
        ),
        (
            "application/json",
            r#"{"email": "a@b.c", "#,
            "malformed JSON",
        ),
        (
            "application/json",
            r#"{"email": "a@b.c", "groups": "hunter2-secret"}"#,
            "expected a sequence",
        ),
        (
            "application/json",
            r#"{"email": "a@b.c", "pasword": "x"}"#,
            "unknown field `pasword`",
        ),
    ];
    for (content_type, body, expected) in cases {
        let reply = send(content_type, body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        let json = reply.json();
        assert_eq!(json["code"], "bad_request");
        let message = json["message"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert_eq!(
            json["request_id"],
            reply.headers["x-request-id"].to_str().unwrap(),
            "the body names the request id the header carries"
        );
    }
    let anonymous = call(&f.client, Method::GET, "/api/v1/users", None, None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["code"], "unauthenticated");
    assert!(anonymous.headers.contains_key("www-authenticate"));
    let bad_query = call(
        &f.client,
        Method::GET,
        "/api/v1/api-keys?owner_id=a&bogus=1",
        Some(&f.admin),
        None,
    )
    .await;
    assert_eq!(bad_query.status, 400, "{}", bad_query.text());
    assert_eq!(bad_query.json()["code"], "bad_request");
    let missing = call(
        &f.client,
        Method::GET,
        "/api/v1/users/usr_nobody",
        Some(&f.admin),
        None,
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["message"], "no such user");
    let duplicate = call(
        &f.client,
        Method::POST,
        "/api/v1/users",
        Some(&f.admin),
        Some(json!({"email": super::ADMIN_EMAIL.to_uppercase(), "password": "another fine passphrase"})),
    )
    .await;
    assert_eq!(
        duplicate.status,
        409,
        "emails are unique regardless of case: {}",
        duplicate.text()
    );
    assert_eq!(duplicate.json()["code"], "conflict");
}
