//! API keys: valid, expired, revoked, typo'd (refused before any lookup),
//! lifetime limits, scopes, and nothing secret in the database file.

use super::{Fixture, call, code};
use http::Method;
use serde_json::json;
use std::time::Duration;

/// The gateway's count of API keys looked up in the store.
async fn store_lookups(f: &Fixture) -> u64 {
    let metrics = f.client.get("/metrics").await.unwrap().text();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("portcullis_api_key_store_lookups_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("lookup counter missing:\n{metrics}"))
}

async fn create_key(f: &Fixture, token: &str, body: serde_json::Value) -> (String, String) {
    let reply = f
        .call(Method::POST, "/api/v1/me/api-keys", token, Some(body))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let body = reply.json();
    (
        body["api_key"]["id"].as_str().unwrap().to_string(),
        body["key"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn api_keys_work_until_expired_or_revoked_and_typos_never_reach_the_store() {
    let f = Fixture::start().await;
    f.create_user(
        "gina@example.com",
        "juniper signal 21 anchor",
        &["ops", "admins"],
    )
    .await;
    let gina = super::access_token(&f.client, "gina@example.com", "juniper signal 21 anchor").await;

    // Valid → 200, through the proxy and on the API.
    let (id, key) = create_key(&f, &gina, json!({"name": "ci", "expires_in_seconds": 3600})).await;
    assert!(key.starts_with(&format!("pcs_{id}_")), "{key}");
    let ok = call(&f.client, Method::GET, "/v1/items/7", Some(&key), None).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let me = call(&f.client, Method::GET, "/api/v1/me", Some(&key), None)
        .await
        .json();
    assert_eq!(me["amr"], json!(["api_key"]));
    assert_eq!(me["api_key_id"], id);

    // One character changed (each part of the key) → 401, and the store is
    // never asked: the checksum catches it first.
    let before = store_lookups(&f).await;
    let secret_at = key.len() - 20;
    for position in [6, secret_at, key.len() - 1] {
        let mut bytes = key.clone().into_bytes();
        bytes[position] = if bytes[position] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(bytes).unwrap();
        let reply = call(&f.client, Method::GET, "/v1/items/7", Some(&typo), None).await;
        assert_eq!(reply.status, 401, "{}", reply.text());
        assert_eq!(code(&reply), "invalid_credentials");
    }
    assert_eq!(
        store_lookups(&f).await,
        before,
        "typos must not cause lookups"
    );

    // Revoked → 401 api_key_revoked on the very next request.
    let (revoked_id, revoked_key) = create_key(
        &f,
        &gina,
        json!({"name": "old", "expires_in_seconds": 3600}),
    )
    .await;
    assert_eq!(
        call(
            &f.client,
            Method::GET,
            "/v1/items/7",
            Some(&revoked_key),
            None
        )
        .await
        .status,
        200
    );
    let revoke = f
        .call(
            Method::DELETE,
            &format!("/api/v1/me/api-keys/{revoked_id}"),
            &gina,
            None,
        )
        .await;
    assert_eq!(revoke.status, 204, "{}", revoke.text());
    let refused = call(
        &f.client,
        Method::GET,
        "/v1/items/7",
        Some(&revoked_key),
        None,
    )
    .await;
    assert_eq!(refused.status, 401);
    assert_eq!(code(&refused), "api_key_revoked");

    // Expired → 401 api_key_expired (a 2-second key).
    let (_, short_key) =
        create_key(&f, &gina, json!({"name": "short", "expires_in_seconds": 2})).await;
    assert_eq!(
        call(
            &f.client,
            Method::GET,
            "/v1/items/7",
            Some(&short_key),
            None
        )
        .await
        .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let expired = call(
        &f.client,
        Method::GET,
        "/v1/items/7",
        Some(&short_key),
        None,
    )
    .await;
    assert_eq!(expired.status, 401, "{}", expired.text());
    assert_eq!(code(&expired), "api_key_expired");

    // The list: no secrets, statuses, and the 7-day warning.
    let (soon_id, _) = create_key(
        &f,
        &gina,
        json!({"name": "soon", "expires_in_seconds": 86_400}),
    )
    .await;
    let listed = f
        .call(Method::GET, "/api/v1/me/api-keys", &gina, None)
        .await;
    let text = listed.text();
    assert!(
        !text.contains(&key[4 + 12 + 1..]),
        "the list never shows secrets"
    );
    let keys = listed.json()["api_keys"].as_array().unwrap().clone();
    let find = |id: &str| keys.iter().find(|k| k["id"] == id).unwrap().clone();
    assert_eq!(find(&revoked_id)["status"], "revoked");
    assert_eq!(find(&soon_id)["expiring_soon"], true);
    assert_eq!(find(&id)["expiring_soon"], true, "1 hour is within 7 days");
    assert!(find(&id)["last_used_at"].is_i64());

    // Expiry is mandatory and bounded by the organization's maximum.
    let missing = f
        .call(
            Method::POST,
            "/api/v1/me/api-keys",
            &gina,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert!(
        missing.json()["message"]
            .as_str()
            .unwrap()
            .contains("expiry is required")
    );
    let too_long = f
        .call(
            Method::POST,
            "/api/v1/me/api-keys",
            &gina,
            Some(json!({"name": "x", "expires_in_seconds": 91 * 86_400})),
        )
        .await;
    assert_eq!(too_long.status, 400, "{}", too_long.text());
    assert!(
        too_long.json()["message"]
            .as_str()
            .unwrap()
            .contains("90 days")
    );

    // A narrower scope: an `ops`-only key cannot do what `admins` can.
    let (_, ops_key) = create_key(
        &f,
        &gina,
        json!({"name": "ops-only", "expires_in_seconds": 600, "scope": ["ops"]}),
    )
    .await;
    assert_eq!(
        call(&f.client, Method::GET, "/v1/items/7", Some(&ops_key), None)
            .await
            .status,
        200
    );
    let admin_only = call(
        &f.client,
        Method::GET,
        "/api/v1/users",
        Some(&ops_key),
        None,
    )
    .await;
    assert_eq!(admin_only.status, 403, "{}", admin_only.text());
    let wider = f
        .call(
            Method::POST,
            "/api/v1/me/api-keys",
            &gina,
            Some(json!({"name": "x", "expires_in_seconds": 60, "scope": ["auditors"]})),
        )
        .await;
    assert_eq!(wider.status, 400, "a scope cannot widen the owner's groups");
    let minted = call(
        &f.client,
        Method::POST,
        "/api/v1/me/api-keys",
        Some(&key),
        Some(json!({"name": "child", "expires_in_seconds": 60})),
    )
    .await;
    assert_eq!(minted.status, 403, "API keys cannot mint API keys");

    // The database files never contain a key secret.
    let data = f.gateway.dir().join("data");
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            for secret in [&key, &revoked_key, &short_key, &ops_key] {
                let secret_part = &secret[4 + 12 + 1..4 + 12 + 1 + 43];
                assert!(
                    !bytes
                        .windows(secret_part.len())
                        .any(|w| w == secret_part.as_bytes()),
                    "{} contains an API key secret",
                    path.display()
                );
            }
        }
    }
    f.assert_not_logged(&[&key[4 + 12 + 1..], &ops_key[4 + 12 + 1..]]);
}
