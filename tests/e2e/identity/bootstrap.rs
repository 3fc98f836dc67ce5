//! First start of the embedded default: one administrator, a one-time
//! password printed once, changed at first sign-in.

use super::{ADMIN_EMAIL, call, code, login};
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
