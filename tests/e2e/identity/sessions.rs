//! Sessions and access tokens: cookies, revocation effective on the next
//! request, logout, disabled users, and forged tokens of every kind.

use super::{Fixture, call, code, login};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Method;
use portcullis::data_dir::DataDir;
use portcullis::identity::access_token::{Claims, SigningKeys};
use portcullis::store::Store;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const HANK: &str = "hank@example.com";
const HANK_PASSWORD: &str = "maple comet 63 harbor";

fn cookie_of(reply: &portcullis_tests::Reply) -> String {
    let set = reply.headers["set-cookie"].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(set.contains(attribute), "{set} lacks {attribute}");
    }
    set.split(';').next().unwrap().to_string()
}

async fn with_cookie(
    f: &Fixture,
    method: Method,
    path: &str,
    cookie: &str,
) -> portcullis_tests::Reply {
    f.client
        .send(method, path, &[("cookie", cookie)], b"")
        .await
        .unwrap()
}

#[tokio::test]
async fn revoked_sessions_fail_on_the_next_request_by_cookie_and_by_token() {
    let f = Fixture::start().await;
    let hank_id = f.create_user(HANK, HANK_PASSWORD, &["ops"]).await;
    let laptop = login(&f.client, HANK, HANK_PASSWORD).await;
    let phone = login(&f.client, HANK, HANK_PASSWORD).await;
    let laptop_cookie = cookie_of(&laptop);
    let phone_cookie = cookie_of(&phone);
    let phone_token = phone.json()["access_token"].as_str().unwrap().to_string();
    let phone_session = phone.json()["session_id"].as_str().unwrap().to_string();

    assert_eq!(
        with_cookie(&f, Method::GET, "/v1/items/1", &phone_cookie)
            .await
            .status,
        200
    );
    assert_eq!(
        call(
            &f.client,
            Method::GET,
            "/v1/items/1",
            Some(&phone_token),
            None
        )
        .await
        .status,
        200
    );

    // The laptop lists the sessions and ends the phone's.
    let listed = with_cookie(&f, Method::GET, "/api/v1/me/sessions", &laptop_cookie)
        .await
        .json();
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let ended = with_cookie(
        &f,
        Method::DELETE,
        &format!("/api/v1/me/sessions/{phone_session}"),
        &laptop_cookie,
    )
    .await;
    assert_eq!(ended.status, 204, "{}", ended.text());
    let by_cookie = with_cookie(&f, Method::GET, "/v1/items/1", &phone_cookie).await;
    assert_eq!(by_cookie.status, 401, "{}", by_cookie.text());
    let by_token = call(
        &f.client,
        Method::GET,
        "/v1/items/1",
        Some(&phone_token),
        None,
    )
    .await;
    assert_eq!(by_token.status, 401, "{}", by_token.text());
    assert_eq!(
        with_cookie(&f, Method::GET, "/v1/items/1", &laptop_cookie)
            .await
            .status,
        200
    );

    // A cross-site state change with the cookie is refused.
    let cross = f
        .client
        .send(
            Method::POST,
            "/auth/logout",
            &[
                ("cookie", &laptop_cookie),
                ("origin", "https://evil.example"),
            ],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(cross.status, 403, "{}", cross.text());

    // Logout ends the laptop's session and clears the cookie.
    let logout = with_cookie(&f, Method::POST, "/auth/logout", &laptop_cookie).await;
    assert_eq!(logout.status, 204, "{}", logout.text());
    assert!(
        logout.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        with_cookie(&f, Method::GET, "/v1/items/1", &laptop_cookie)
            .await
            .status,
        401
    );

    // An administrator ends all of a user's sessions; disabling does too.
    let again = login(&f.client, HANK, HANK_PASSWORD).await;
    let token = again.json()["access_token"].as_str().unwrap().to_string();
    let all = f
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{hank_id}/sessions"),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(all.json()["revoked"], 1, "{}", all.text());
    assert_eq!(
        call(&f.client, Method::GET, "/v1/items/1", Some(&token), None)
            .await
            .status,
        401
    );
    let fresh = login(&f.client, HANK, HANK_PASSWORD).await;
    let token = fresh.json()["access_token"].as_str().unwrap().to_string();
    let disabled = f
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{hank_id}"),
            &f.admin,
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.text());
    assert_eq!(
        call(&f.client, Method::GET, "/v1/items/1", Some(&token), None)
            .await
            .status,
        401
    );
    let refused = login(&f.client, HANK, HANK_PASSWORD).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(code(&refused), "account_disabled");
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn parts(token: &str) -> (Value, Value, String) {
    let mut pieces = token.split('.');
    let header =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(pieces.next().unwrap()).unwrap()).unwrap();
    let payload =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(pieces.next().unwrap()).unwrap()).unwrap();
    (header, payload, pieces.next().unwrap().to_string())
}

/// The gateway's own signing keys, read from its store as the gateway does.
async fn gateway_keys(f: &Fixture) -> SigningKeys {
    let data = DataDir::prepare(&f.gateway.dir().join("data")).unwrap();
    // No key-provider plugin in this configuration: the data keys are
    // wrapped under the local key, as the gateway does.
    let store = Store::open_sqlite_with_local_key(&data.store_path(), &data.local_key().unwrap())
        .await
        .unwrap();
    let mut keys = SigningKeys::new("portcullis", "portcullis-api");
    for key in store.active_signing_keys().await.unwrap() {
        keys.add(key.pkcs8.expose_secret()).unwrap();
    }
    keys
}

#[tokio::test]
async fn forged_access_tokens_are_refused() {
    let f = Fixture::start().await;
    f.create_user(HANK, HANK_PASSWORD, &["ops"]).await;
    let signed_in = login(&f.client, HANK, HANK_PASSWORD).await.json();
    let token = signed_in["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        call(&f.client, Method::GET, "/v1/items/1", Some(&token), None)
            .await
            .status,
        200
    );
    let (header, payload, signature) = parts(&token);
    assert_eq!(header["alg"], "EdDSA");
    let kid = header["kid"].as_str().unwrap().to_string();

    // The JWKS publishes the key that verifies it.
    let jwks = f.client.get("/.well-known/jwks.json").await.unwrap().json();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("signing key in the JWKS")
        .clone();
    assert_eq!(jwk["kty"], "OKP");
    let public_key = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();

    let mut forged = Vec::new();
    // alg: none.
    forged.push((
        "alg none",
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "kid": kid})),
            b64(&payload)
        ),
    ));
    // HS256 keyed with the public key (algorithm confusion).
    let hs_header = b64(&json!({"alg": "HS256", "kid": kid, "typ": "at+jwt"}));
    let input = format!("{hs_header}.{}", b64(&payload));
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &public_key),
        input.as_bytes(),
    );
    forged.push((
        "HS256 with the public key",
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref())),
    ));
    // A modified payload with the original signature.
    let mut elevated = payload.clone();
    elevated["sub"] = json!("usr_someone_else");
    elevated["exp"] = json!(payload["exp"].as_i64().unwrap() + 86_400);
    forged.push((
        "modified payload",
        format!("{}.{}.{signature}", b64(&header), b64(&elevated)),
    ));
    // An unknown key with our issuer.
    let mut stranger = SigningKeys::new("portcullis", "portcullis-api");
    stranger.rotate().unwrap();
    let claims: Claims = serde_json::from_value(payload.clone()).unwrap();
    forged.push(("unknown kid", stranger.issue(&claims).unwrap()));
    // Expired, but signed with the gateway's real key for a live session.
    let real = gateway_keys(&f).await;
    let mut old = claims.clone();
    old.iat -= 3_600;
    old.exp = old.iat + 300;
    forged.push(("expired", real.issue(&old).unwrap()));
    // Control: the real key and live claims verify, so the cases above
    // fail for the reason they test.
    let control = real.issue(&claims).unwrap();
    assert_eq!(
        call(&f.client, Method::GET, "/v1/items/1", Some(&control), None)
            .await
            .status,
        200
    );

    for (what, token) in forged {
        let reply = call(&f.client, Method::GET, "/v1/items/1", Some(&token), None).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text());
        let expected = if what == "expired" {
            "credential_expired"
        } else {
            "invalid_credentials"
        };
        assert_eq!(code(&reply), expected, "{what}");
    }
    assert!(
        f.upstream.seen().len() == 2,
        "only the two genuine requests went through"
    );
}

#[tokio::test]
async fn gateways_sharing_a_store_share_logins_and_revocations() {
    let f = Fixture::start().await;
    f.create_user(HANK, HANK_PASSWORD, &["ops"]).await;
    let token = super::access_token(&f.client, HANK, HANK_PASSWORD).await;
    let secret = f.enroll_totp(&token).await;

    // A second gateway on the same data directory (store and local key).
    let shared = f.gateway.dir().join("data").display().to_string();
    let config = super::identity_config(&f.upstream, "").replace("{dir}/data", &shared);
    let second = portcullis_tests::Gateway::with_config(&config)
        .await
        .unwrap_or_else(|failure| panic!("second gateway: {failure:?}"));
    assert!(second.printed("bootstrap administrator: ").is_none());
    let other =
        portcullis_tests::Client::new(second.addr, f.gateway.certificate(), rustls::ALL_VERSIONS);

    // The password step on one gateway, the second factor on the other.
    let step = login(&f.client, HANK, HANK_PASSWORD).await.json();
    let flow = step["flow_id"].as_str().unwrap().to_string();
    let done =
        super::continue_login(&other, &flow, json!({"code": super::pyotp(&secret, 1)})).await;
    assert_eq!(done.status, 200, "{}", done.text());
    let session = done.json()["session_id"].as_str().unwrap().to_string();
    let token = done.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        call(&f.client, Method::GET, "/v1/items/1", Some(&token), None)
            .await
            .status,
        200
    );
    assert_eq!(
        call(&other, Method::GET, "/v1/items/1", Some(&token), None)
            .await
            .status,
        200
    );

    // Revoked on one gateway: the other refuses it within its cache TTL.
    let revoked = f
        .call(
            Method::DELETE,
            &format!("/api/v1/me/sessions/{session}"),
            &token,
            None,
        )
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.text());
    assert_eq!(
        call(&f.client, Method::GET, "/v1/items/1", Some(&token), None)
            .await
            .status,
        401
    );
    let mut refused = false;
    for _ in 0..40 {
        if call(&other, Method::GET, "/v1/items/1", Some(&token), None)
            .await
            .status
            == 401
        {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        refused,
        "the second gateway still accepts a revoked session"
    );
    assert_eq!(second.stop().await, Some(0));
}
