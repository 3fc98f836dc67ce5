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
