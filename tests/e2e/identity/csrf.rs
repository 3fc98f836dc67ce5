//! Cross-site request forgery: a session cookie alone never makes an
//! unsafe request count, wherever it goes — API or proxied route.

use super::{ADMIN_EMAIL, ADMIN_PASSWORD, Fixture, code, login};
use http::Method;

#[tokio::test]
async fn cookie_authenticated_changes_must_come_from_the_gateways_origin() {
    let f = Fixture::start().await;
    let signed_in = login(&f.client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let set = signed_in.headers["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    let cookie = set.split(';').next().unwrap().to_string();
    let cookie = cookie.as_str();

    let cross_site: &[&[(&str, &str)]] = &[
        &[("origin", "https://evil.example")],
        &[("origin", "https://sibling.localhost")],
        &[("origin", "http://localhost")],
        &[("origin", "null")],
        &[("sec-fetch-site", "same-site")],
        &[("sec-fetch-site", "cross-site")],
        &[
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://evil.example"),
        ],
    ];
    for target in ["/v1/items/1", "/auth/token", "/api/v1/me/sessions/none"] {
        let method = match target {
            "/api/v1/me/sessions/none" => Method::DELETE,
            _ => Method::POST,
        };
        for extra in cross_site {
            let mut headers = vec![("cookie", cookie)];
            headers.extend_from_slice(extra);
            let reply = f
                .client
                .send(method.clone(), target, &headers, b"")
                .await
                .unwrap();
            assert_eq!(
                reply.status,
                403,
                "{method} {target} {extra:?}: {}",
                reply.text()
            );
            assert_eq!(code(&reply), "forbidden");
        }
    }
    assert!(
        f.upstream.seen().is_empty(),
        "no forged request reached the upstream"
    );

    // The same requests from the gateway's own origin, and safe ones from
    // anywhere, go through.
    let same = [
        ("cookie", cookie),
        ("origin", "https://localhost"),
        ("sec-fetch-site", "same-origin"),
    ];
    let proxied = f
        .client
        .send(Method::POST, "/v1/items/1", &same, b"")
        .await
        .unwrap();
    assert_eq!(proxied.status, 200, "{}", proxied.text());
    let token = f
        .client
        .send(Method::POST, "/auth/token", &same, b"")
        .await
        .unwrap();
    assert_eq!(token.status, 200, "{}", token.text());
    let safe = f
        .client
        .send(
            Method::GET,
            "/v1/items/2",
            &[("cookie", cookie), ("origin", "https://evil.example")],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(safe.status, 200, "{}", safe.text());
    // A bearer credential is not ambient: no origin rule applies.
    let bearer = format!("Bearer {}", f.admin);
    let api = f
        .client
        .send(
            Method::POST,
            "/v1/items/3",
            &[
                ("authorization", &bearer),
                ("origin", "https://evil.example"),
            ],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(api.status, 200, "{}", api.text());
}
