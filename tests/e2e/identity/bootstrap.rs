//! First start of the embedded default: one administrator, a one-time
//! password printed once, changed at first sign-in.

use super::{ADMIN_EMAIL, call, code, continue_login, login, pyotp};
use crate::paths;
use http::Method;
use portcullis_tests::Gateway;
use serde_json::json;

const PASSWORD_LINE: &str = "one-time password (shown once; must be changed at first sign-in): ";

#[tokio::test]
async fn bootstrap_admin_is_printed_once_and_must_change_the_password() {
    let plugins = paths::component("authz_static")
        .parent()
        .unwrap()
        .to_path_buf();
    let gateway = Gateway::embedded(&plugins, "127.0.0.1:0").await.unwrap();
    assert_eq!(
        gateway.printed("bootstrap administrator: ").as_deref(),
        Some(ADMIN_EMAIL)
    );
    let one_time = gateway.printed(PASSWORD_LINE).expect("password printed");
    assert!(one_time.len() >= 16, "{one_time}");
    assert!(
        !gateway.log().contains(&one_time),
        "the password is not logged"
    );
    let client = gateway.client();

    let first = login(&client, ADMIN_EMAIL, &one_time).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["pending"], json!(["change_password"]));
    let token = first.json()["access_token"].as_str().unwrap().to_string();
    let blocked = call(&client, Method::GET, "/api/v1/users", Some(&token), None).await;
    assert_eq!(blocked.status, 403);
    assert_eq!(code(&blocked), "password_change_required");
    let changed = call(
        &client,
        Method::POST,
        "/api/v1/me/password",
        Some(&token),
        Some(json!({"current_password": one_time, "new_password": "orchid valley 77 sextant"})),
    )
    .await;
    assert_eq!(changed.status, 204, "{}", changed.text());
    let users = call(&client, Method::GET, "/api/v1/users", Some(&token), None).await;
    assert_eq!(users.status, 200, "{}", users.text());
    assert_eq!(users.json()["users"][0]["email"], ADMIN_EMAIL);
    // Without a config file too, the bootstrap administrator is the
    // platform operator, and nobody else is.
    assert_eq!(users.json()["users"][0]["platform_operator"], true);
    let orgs = call(&client, Method::GET, "/api/v1/orgs", Some(&token), None).await;
    assert_eq!(orgs.status, 200, "{}", orgs.text());
    // The embedded policy (RBAC) binds the bootstrap administrator to
    // `admin`, and managing users needs the second factor.
    let new_user = json!({"email": "second@example.com", "password": "walnut signal 48 prairie"});
    let password_only = call(
        &client,
        Method::POST,
        "/api/v1/users",
        Some(&token),
        Some(new_user.clone()),
    )
    .await;
    assert_eq!(password_only.status, 403, "{}", password_only.text());
    assert_eq!(code(&password_only), "mfa_required");
    let secret = call(
        &client,
        Method::POST,
        "/api/v1/me/mfa/totp",
        Some(&token),
        None,
    )
    .await
    .json()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let confirmed = call(
        &client,
        Method::POST,
        "/api/v1/me/mfa/totp/confirm",
        Some(&token),
        Some(json!({"code": pyotp(&secret, 0)})),
    )
    .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text());
    let flow = login(&client, ADMIN_EMAIL, "orchid valley 77 sextant")
        .await
        .json()["flow_id"]
        .as_str()
        .unwrap()
        .to_string();
    let stepped = continue_login(&client, &flow, json!({"code": pyotp(&secret, 1)})).await;
    assert_eq!(stepped.status, 200, "{}", stepped.text());
    let token = stepped.json()["access_token"].as_str().unwrap().to_string();
    let second = call(
        &client,
        Method::POST,
        "/api/v1/users",
        Some(&token),
        Some(new_user),
    )
    .await;
    assert_eq!(second.status, 201, "{}", second.text());
    let second_id = second.json()["user"]["id"].as_str().unwrap().to_string();
    let bound = call(
        &client,
        Method::POST,
        "/api/v1/bindings",
        Some(&token),
        Some(json!({"subject": format!("user:{second_id}"), "role": "admin"})),
    )
    .await;
    assert_eq!(bound.status, 201, "{}", bound.text());
    let second = login(&client, "second@example.com", "walnut signal 48 prairie").await;
    let second = second.json()["access_token"].as_str().unwrap().to_string();
    // A binding to `admin` lets them run their own organization…
    let listed = call(&client, Method::GET, "/api/v1/users", Some(&second), None).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    // …and spans no organizations.
    let refused = call(&client, Method::GET, "/api/v1/orgs", Some(&second), None).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(
        login(&client, ADMIN_EMAIL, &one_time).await.status,
        401,
        "the one-time password is spent"
    );

    // A restart prints no password again; the changed one still works.
    let gateway = gateway.restart().await.unwrap();
    assert!(gateway.printed(PASSWORD_LINE).is_none());
    let client = gateway.client();
    assert_eq!(
        login(&client, ADMIN_EMAIL, "orchid valley 77 sextant")
            .await
            .status,
        200
    );
    assert_eq!(gateway.stop().await, Some(0));
}
