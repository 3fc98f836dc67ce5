//! No account takeover through the admin API: API keys cannot manage
//! passwords, second factors or sessions; nobody resets their own
//! credentials through the admin endpoints; sensitive changes need a
//! recent sign-in with the second factor; a password change or reset
//! revokes the account's API keys; secrets shown once are never cached.

use super::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Fixture, access_token, call, code, continue_login, login, pyotp,
};
use http::Method;
use serde_json::{Value, json};

async fn new_key(f: &Fixture, token: &str, path: &str, body: Value) -> String {
    let reply = f.call(Method::POST, path, token, Some(body)).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.headers["cache-control"], "no-store");
    reply.json()["key"].as_str().unwrap().to_string()
}

async fn admin_id(f: &Fixture) -> String {
    let me = f.call(Method::GET, "/api/v1/me", &f.admin, None).await;
    me.json()["user"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_api_key_cannot_reset_or_take_over_any_account() {
    let f = Fixture::start().await;
    let admin = admin_id(&f).await;
    let other = f
        .create_user("ops2@example.com", "velvet canyon 44 ember", &["admins"])
        .await;
    let key = new_key(
        &f,
        &f.admin,
        "/api/v1/me/api-keys",
        json!({"name": "ci", "expires_in_seconds": 600}),
    )
    .await;
    for target in [&admin, &other] {
        for (method, path) in [
            (
                Method::POST,
                format!("/api/v1/users/{target}/password-reset"),
            ),
            (Method::DELETE, format!("/api/v1/users/{target}/mfa")),
            (Method::GET, format!("/api/v1/users/{target}/sessions")),
            (Method::DELETE, format!("/api/v1/users/{target}/sessions")),
        ] {
            let reply = f.call(method.clone(), &path, &key, None).await;
            assert_eq!(reply.status, 403, "{method} {path}: {}", reply.text());
        }
    }
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/me/password",
            Some(
                json!({"current_password": ADMIN_PASSWORD, "new_password": "another long passphrase 9"}),
            ),
        ),
        (Method::GET, "/api/v1/me/mfa", None),
        (Method::POST, "/api/v1/me/mfa/totp", None),
        (
            Method::POST,
            "/api/v1/me/mfa/totp/confirm",
            Some(json!({"code": "123456"})),
        ),
        (Method::POST, "/api/v1/me/mfa/recovery-codes", None),
        (Method::GET, "/api/v1/me/sessions", None),
        (
            Method::POST,
            "/api/v1/me/api-keys",
            Some(json!({"name": "x", "expires_in_seconds": 60})),
        ),
        (
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"name": "x", "expires_in_seconds": 60})),
        ),
    ] {
        let reply = f.call(method.clone(), path, &key, body).await;
        assert_eq!(reply.status, 403, "{method} {path}: {}", reply.text());
    }
    // The admin's password is unchanged and no second factor appeared.
    assert_eq!(
        login(&f.client, ADMIN_EMAIL, ADMIN_PASSWORD).await.json()["status"],
        "authenticated"
    );

    // Signed in, an administrator still cannot reset their own credentials
    // through the admin endpoints (that would skip proving the current ones).
    for (method, path) in [
        (
            Method::POST,
            format!("/api/v1/users/{admin}/password-reset"),
        ),
        (Method::DELETE, format!("/api/v1/users/{admin}/mfa")),
    ] {
        let reply = f.call(method.clone(), &path, &f.admin, None).await;
        assert_eq!(reply.status, 403, "{method} {path}: {}", reply.text());
    }
    // …but can reset someone else's, and the one-time password is not cached.
    let reset = f
        .call(
            Method::POST,
            &format!("/api/v1/users/{other}/password-reset"),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.text());
    assert_eq!(reset.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn a_password_change_or_reset_revokes_the_accounts_api_keys() {
    let f = Fixture::start().await;
    let id = f
        .create_user("kim@example.com", "lilac harbor 27 stone", &["ops"])
        .await;
    let created = f
        .call(
            Method::POST,
            "/api/v1/api-keys",
            &f.admin,
            Some(json!({"name": "by-admin", "owner_id": id, "expires_in_seconds": 600})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let by_admin = created.json()["key"].as_str().unwrap().to_string();
    let kim = access_token(&f.client, "kim@example.com", "lilac harbor 27 stone").await;
    let own = new_key(
        &f,
        &kim,
        "/api/v1/me/api-keys",
        json!({"name": "own", "expires_in_seconds": 600}),
    )
    .await;
    for key in [&by_admin, &own] {
        assert_eq!(
            f.call(Method::GET, "/v1/items/1", key, None).await.status,
            200
        );
    }
    let changed = f
        .call(
            Method::POST,
            "/api/v1/me/password",
            &kim,
            Some(json!({"current_password": "lilac harbor 27 stone", "new_password": "orchid valley 81 river"})),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.text());
    for key in [&by_admin, &own] {
        let reply = f.call(Method::GET, "/v1/items/1", key, None).await;
        assert_eq!(reply.status, 401, "{}", reply.text());
        assert_eq!(code(&reply), "api_key_revoked");
    }

    let kim = access_token(&f.client, "kim@example.com", "orchid valley 81 river").await;
    let fresh = new_key(
        &f,
        &kim,
        "/api/v1/me/api-keys",
        json!({"name": "fresh", "expires_in_seconds": 600}),
    )
    .await;
    assert_eq!(
        f.call(Method::GET, "/v1/items/1", &fresh, None)
            .await
            .status,
        200
    );
    let reset = f
        .call(
            Method::POST,
            &format!("/api/v1/users/{id}/password-reset"),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(reset.status, 200);
    assert_eq!(
        code(&f.call(Method::GET, "/v1/items/1", &fresh, None).await),
        "api_key_revoked"
    );
}

#[tokio::test]
async fn sensitive_changes_need_a_recent_sign_in_with_the_second_factor() {
    let f = Fixture::start_with("step_up_max_age_secs = 2").await;
    let fresh_login = login(&f.client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let token = fresh_login.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // A first enrollment right after signing in needs nothing more.
    let secret = f.enroll_totp(&token).await;
    tokio::time::sleep(std::time::Duration::from_millis(3_100)).await;

    // The session is older than the step-up window: refused, saying why.
    let refreshed = call(&f.client, Method::POST, "/auth/token", Some(&token), None).await;
    let refreshed = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    for stale in [&token, &refreshed] {
        for (path, body) in [
            ("/api/v1/me/mfa/totp", None),
            ("/api/v1/me/mfa/recovery-codes", None),
            (
                "/api/v1/me/api-keys",
                Some(json!({"name": "late", "expires_in_seconds": 60})),
            ),
            (
                "/api/v1/api-keys",
                Some(json!({"name": "late", "expires_in_seconds": 60})),
            ),
        ] {
            let reply = f.call(Method::POST, path, stale, body).await;
            assert_eq!(reply.status, 403, "{path}: {}", reply.text());
            assert_eq!(code(&reply), "step_up_required", "{path}");
        }
    }
    assert_eq!(
        f.call(Method::GET, "/api/v1/me/api-keys", &token, None)
            .await
            .status,
        200
    );

    // Signing in again with the second factor opens the window again.
    let first = login(&f.client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let flow = first.json()["flow_id"].as_str().unwrap().to_string();
    let second = continue_login(&f.client, &flow, json!({"code": pyotp(&secret, 1)})).await;
    assert_eq!(second.status, 200, "{}", second.text());
    // The flow id travelled in the body: no URL, so no access log, has it.
    assert!(
        !f.gateway.log().contains(&flow),
        "the login flow id reached the log"
    );
    let old_style = call(
        &f.client,
        Method::POST,
        &format!("/auth/login/{flow}"),
        None,
        Some(json!({"code": "000000"})),
    )
    .await;
    assert_eq!(old_style.status, 404, "{}", old_style.text());
    let stepped_up = second.json()["access_token"].as_str().unwrap().to_string();
    let codes = f
        .call(
            Method::POST,
            "/api/v1/me/mfa/recovery-codes",
            &stepped_up,
            None,
        )
        .await;
    assert_eq!(codes.status, 200, "{}", codes.text());
    assert_eq!(codes.headers["cache-control"], "no-store");
    let enrollment = f
        .call(Method::POST, "/api/v1/me/mfa/totp", &stepped_up, None)
        .await;
    assert_eq!(enrollment.status, 200, "{}", enrollment.text());
    assert_eq!(enrollment.headers["cache-control"], "no-store");
}
