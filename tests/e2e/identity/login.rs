//! Local sign-in: password rules, TOTP enrollment and login with codes from
//! pyotp, replay and wrong codes, recovery codes, throttling, mandatory MFA.

use super::{Fixture, call, code, continue_login, login, pyotp};
use http::Method;
use serde_json::json;
use std::time::Duration;

/// Confirms a TOTP enrollment with `code`.
async fn confirm_totp(f: &Fixture, token: &str, code: &str) -> portcullis_tests::Reply {
    f.call(
        Method::POST,
        "/api/v1/me/mfa/totp/confirm",
        token,
        Some(json!({ "code": code })),
    )
    .await
}

const BOB: &str = "bob@example.com";
const BOB_PASSWORD: &str = "violet harbour 1984 kite";

#[tokio::test]
async fn totp_login_refuses_replayed_and_wrong_codes_and_recovery_codes_work_once() {
    let f = Fixture::start().await;
    f.create_user(BOB, BOB_PASSWORD, &["ops"]).await;

    // Without MFA, the password alone signs in, and says so in `amr`.
    let first = login(&f.client, BOB, BOB_PASSWORD).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["amr"], json!(["pwd"]));
    let token = first.json()["access_token"].as_str().unwrap().to_string();
    // Policy can demand MFA: the vault rule requires `amr` to include it.
    let vault = call(&f.client, Method::GET, "/v1/vault/1", Some(&token), None).await;
    assert_eq!(vault.status, 403, "{}", vault.text());

    // Enrollment: secret, otpauth URI and an SVG QR code.
    let enrollment = f
        .call(Method::POST, "/api/v1/me/mfa/totp", &token, None)
        .await;
    assert_eq!(enrollment.status, 200, "{}", enrollment.text());
    let enrollment = enrollment.json();
    let secret = enrollment["secret"].as_str().unwrap().to_string();
    let uri = enrollment["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Portcullis:bob@example.com?"),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("algorithm=SHA1&digits=6&period=30"), "{uri}");
    assert!(enrollment["qr_svg"].as_str().unwrap().contains("<svg"));

    // A wrong first code does not confirm; pyotp's code does.
    let wrong = pyotp(&secret, 20);
    let refused = confirm_totp(&f, &token, &wrong).await;
    assert_eq!(refused.status, 401, "{}", refused.text());
    let status = f
        .call(Method::GET, "/api/v1/me/mfa", &token, None)
        .await
        .json();
    assert_eq!(
        status["totp"], false,
        "unconfirmed enrollment changes nothing"
    );
    let confirmed = confirm_totp(&f, &token, &pyotp(&secret, 0)).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text());
    let recovery: Vec<String> = confirmed.json()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);

    // Now the password alone only leads to the second step.
    let step = login(&f.client, BOB, BOB_PASSWORD).await.json();
    assert_eq!(step["status"], "prompt", "{step}");
    assert!(step.get("access_token").is_none());
    let fields = step["form"]["fields"].to_string();
    assert!(fields.contains("\"code\""), "{fields}");
    let flow = step["flow_id"].as_str().unwrap().to_string();

    // The next step's code (within the ±1 window) signs in.
    let code_next = pyotp(&secret, 1);
    let done = continue_login(&f.client, &flow, json!({"code": code_next})).await;
    assert_eq!(done.status, 200, "{}", done.text());
    let amr = done.json()["amr"].to_string();
    assert!(
        amr.contains("otp") && amr.contains("mfa") && amr.contains("pwd"),
        "{amr}"
    );
    let mfa_token = done.json()["access_token"].as_str().unwrap().to_string();
    let vault = call(
        &f.client,
        Method::GET,
        "/v1/vault/1",
        Some(&mfa_token),
        None,
    )
    .await;
    assert_eq!(
        vault.status,
        200,
        "with MFA the vault opens: {}",
        vault.text()
    );
    assert!(
        done.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("HttpOnly")
    );

    // The same code again is refused, and so is a wrong one.
    let again = login(&f.client, BOB, BOB_PASSWORD).await.json();
    let flow = again["flow_id"].as_str().unwrap().to_string();
    let replay = continue_login(&f.client, &flow, json!({"code": code_next})).await;
    assert_eq!(replay.status, 401, "{}", replay.text());
    assert_eq!(code(&replay), "invalid_credentials");
    let far = continue_login(&f.client, &flow, json!({"code": pyotp(&secret, 10)})).await;
    assert_eq!(
        far.status, 401,
        "a code 5 minutes ahead is outside the window"
    );
    let junk = continue_login(&f.client, &flow, json!({"code": "12ab56"})).await;
    assert_eq!(junk.status, 401);

    // A recovery code works, exactly once (the flow survived the wrong codes).
    let recovered = continue_login(&f.client, &flow, json!({"recovery_code": recovery[0]})).await;
    assert_eq!(recovered.status, 200, "{}", recovered.text());
    assert!(recovered.json()["amr"].to_string().contains("recovery"));
    let token = recovered.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let reuse = login(&f.client, BOB, BOB_PASSWORD).await.json();
    let flow = reuse["flow_id"].as_str().unwrap().to_string();
    let reused = continue_login(&f.client, &flow, json!({"recovery_code": recovery[0]})).await;
    assert_eq!(reused.status, 401, "{}", reused.text());
    let status = f
        .call(Method::GET, "/api/v1/me/mfa", &token, None)
        .await
        .json();
    assert_eq!(status, json!({"totp": true, "recovery_codes_left": 9}));

    // Regenerated codes replace the old ones.
    let fresh = f
        .call(Method::POST, "/api/v1/me/mfa/recovery-codes", &token, None)
        .await
        .json();
    let fresh: Vec<String> = serde_json::from_value(fresh["recovery_codes"].clone()).unwrap();
    let flow = login(&f.client, BOB, BOB_PASSWORD).await.json()["flow_id"]
        .as_str()
        .unwrap()
        .to_string();
    let old = continue_login(&f.client, &flow, json!({"recovery_code": recovery[1]})).await;
    assert_eq!(old.status, 401, "old recovery codes stop working");
    let new = continue_login(&f.client, &flow, json!({"recovery_code": fresh[0]})).await;
    assert_eq!(new.status, 200, "{}", new.text());

    // An administrator's MFA reset brings back password-only sign-in.
    let bob_id = new.json()["subject"].as_str().unwrap().to_string();
    let reset = f
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{bob_id}/mfa"),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(reset.status, 204, "{}", reset.text());
    assert_eq!(
        login(&f.client, BOB, BOB_PASSWORD).await.json()["status"],
        "authenticated"
    );

    let mut secrets = vec![BOB_PASSWORD, secret.as_str(), code_next.as_str()];
    secrets.extend(recovery.iter().map(String::as_str));
    f.assert_not_logged(&secrets);
}

#[tokio::test]
async fn throttling_backs_off_after_failures_and_releases_after_the_delay() {
    let f = Fixture::start().await;
    // Without fields, the provider says what it needs; there is no flow yet.
    let form = call(
        &f.client,
        Method::POST,
        "/auth/login",
        None,
        Some(json!({})),
    )
    .await
    .json();
    assert_eq!(form["status"], "prompt", "{form}");
    assert!(form["flow_id"].is_null(), "{form}");
    assert!(
        form["form"]["fields"].to_string().contains("password"),
        "{form}"
    );
    f.create_user("carol@example.com", "amber meadow 7 lighthouse", &[])
        .await;
    // Three free failures, then a 1 s delay.
    for attempt in 1..=4 {
        let reply = login(&f.client, "carol@example.com", "wrong password attempt").await;
        assert_eq!(reply.status, 401, "attempt {attempt}: {}", reply.text());
    }
    let blocked = login(&f.client, "carol@example.com", "amber meadow 7 lighthouse").await;
    assert_eq!(blocked.status, 429, "{}", blocked.text());
    assert_eq!(code(&blocked), "too_many_attempts");
    let retry_after: u64 = blocked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=4).contains(&retry_after), "{retry_after}");

    // An unknown account is throttled the same way (no enumeration).
    for _ in 0..4 {
        login(&f.client, "nobody@example.com", "wrong password attempt").await;
    }
    let unknown = login(&f.client, "nobody@example.com", "wrong password attempt").await;
    assert_eq!(unknown.status, 429);

    tokio::time::sleep(Duration::from_millis(1_200 * retry_after)).await;
    let released = login(&f.client, "carol@example.com", "amber meadow 7 lighthouse").await;
    assert_eq!(
        released.status,
        200,
        "the backoff ends: {}",
        released.text()
    );
}

#[tokio::test]
async fn password_rules_are_enforced_with_clear_errors() {
    let f = Fixture::start().await;
    for (password, expected) in [
        ("short pw", "at least 12 characters"),
        ("qwerty123456", "most common passwords"),
        ("dana.smith-rules-2024", "must not contain your email name"),
    ] {
        let reply = f
            .call(
                Method::POST,
                "/api/v1/users",
                &f.admin,
                Some(json!({"email": "dana.smith@example.com", "password": password})),
            )
            .await;
        assert_eq!(reply.status, 400, "{password}: {}", reply.text());
        assert_eq!(code(&reply), "invalid_input");
        let message = reply.json()["message"].as_str().unwrap().to_string();
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains(password), "the password is not echoed");
    }
    // A refused user leaves nothing behind: the email is still free.
    f.create_user("dana.smith@example.com", "granite orchard 55 comet", &[])
        .await;

    // Without a password, the user is invited with a one-time password that
    // must be changed before anything else.
    let invited = f
        .call(
            Method::POST,
            "/api/v1/users",
            &f.admin,
            Some(json!({"email": "erin@example.com", "groups": ["ops"]})),
        )
        .await;
    assert_eq!(invited.status, 201, "{}", invited.text());
    let one_time = invited.json()["one_time_password"]
        .as_str()
        .unwrap()
        .to_string();
    let token = super::access_token(&f.client, "erin@example.com", &one_time).await;
    let blocked = call(&f.client, Method::GET, "/v1/items/1", Some(&token), None).await;
    assert_eq!(blocked.status, 403);
    assert_eq!(code(&blocked), "password_change_required");
    let changed = f
        .call(
            Method::POST,
            "/api/v1/me/password",
            &token,
            Some(json!({"current_password": one_time, "new_password": "qwerty123456"})),
        )
        .await;
    assert_eq!(
        changed.status, 400,
        "the new password follows the rules too"
    );
    let changed = f
        .call(
            Method::POST,
            "/api/v1/me/password",
            &token,
            Some(json!({"current_password": one_time, "new_password": "saffron tundra 31 oboe"})),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.text());
    let allowed = call(&f.client, Method::GET, "/v1/items/1", Some(&token), None).await;
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    // An administrator may set a password and still require a change.
    let temporary = f
        .call(
            Method::POST,
            "/api/v1/users",
            &f.admin,
            Some(json!({"email": "zoe@example.com", "password": "walnut breeze 12 sonnet", "password_temporary": true})),
        )
        .await;
    assert_eq!(temporary.status, 201, "{}", temporary.text());
    assert!(temporary.json()["one_time_password"].is_null());
    let signed_in = login(&f.client, "zoe@example.com", "walnut breeze 12 sonnet")
        .await
        .json();
    assert_eq!(signed_in["pending"], json!(["change_password"]));
    f.assert_not_logged(&[one_time.as_str(), "saffron tundra 31 oboe"]);
}

#[tokio::test]
async fn mandatory_mfa_makes_local_users_enroll_at_next_login() {
    let f = Fixture::start().await;
    f.create_user("frank@example.com", "cobalt river 88 violin", &["ops"])
        .await;
    let patched = f
        .call(
            Method::PATCH,
            "/api/v1/orgs/org_default",
            &f.admin,
            Some(json!({"mfa_required": true})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(patched.json()["mfa_required"], true);

    let signed_in = login(&f.client, "frank@example.com", "cobalt river 88 violin")
        .await
        .json();
    assert_eq!(signed_in["pending"], json!(["enroll_mfa"]));
    let token = signed_in["access_token"].as_str().unwrap().to_string();
    let blocked = call(&f.client, Method::GET, "/v1/items/1", Some(&token), None).await;
    assert_eq!(blocked.status, 403);
    assert_eq!(code(&blocked), "mfa_enrollment_required");
    assert!(f.upstream.seen().is_empty(), "nothing reached the upstream");

    f.enroll_totp(&token).await;
    let me = f.call(Method::GET, "/api/v1/me", &token, None).await.json();
    assert_eq!(me["pending"], json!([]), "{me}");
    assert!(me["amr"].to_string().contains("mfa"));
    let allowed = call(&f.client, Method::GET, "/v1/items/1", Some(&token), None).await;
    assert_eq!(allowed.status, 200, "{}", allowed.text());
}
