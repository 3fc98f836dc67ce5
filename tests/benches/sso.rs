//! What a single sign-on callback costs the gateway, against the real
//! peers the tests use (oidc-provider, pysaml2 + xmlsec1) on loopback:
//!
//! - `oidc/callback_verify`: parsing and verifying the ID token (signature
//!   through the host's crypto, claims, nonce) — the callback's own work,
//!   the token exchange (a round trip to the provider) excluded;
//! - `saml/acs_validate`: validating the posted response (parse, exclusive
//!   c14n, digest and signature checks, conditions).
//!
//! Each login is a whole browser flow; the figures are what the plugins
//! measure around that work and log (`… in N us`), over `SSO_BENCH_LOGINS`
//! logins (default 40) after 3 warm-up ones: median, p10 and p90. Run by
//! `make bench` with release plugins and a release gateway.
#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a benchmark whose setup fails must stop loudly"
)]

use http::Method;
use portcullis_tests::oidc::{OidcProvider, client_secret};
use portcullis_tests::saml::SamlIdp;
use portcullis_tests::{Client, Gateway, Reply, paths};
use serde_json::json;

const FLOW_COOKIE: &str = "__Host-portcullis-sso";

fn config(oidc: &OidcProvider) -> String {
    format!(
        r#"
data_dir = "{{dir}}/data"

[server]
listen = "127.0.0.1:0"

[auth]
authorizer = "authz"

[identity]
local_provider = "local"

[authz]
mfa_required = []

[plugins.local]
path = "{local}"

[plugins.authz]
path = "{authz}"
instances = 2
memory_limit_mib = 256

[plugins.oidc]
path = "{oidc}"
allow_hosts = ["http://{authority}"]

[plugins.saml]
path = "{saml}"
"#,
        local = paths::component("authn_local").display(),
        authz = paths::component("authz_rbac").display(),
        oidc = paths::component("authn_oidc").display(),
        saml = paths::component("authn_saml").display(),
        authority = oidc.authority(),
    )
}

fn header(reply: &Reply, name: http::HeaderName, prefix: &str) -> String {
    reply
        .headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}: {} {}", reply.status, reply.text()))
        .to_string()
}

async fn json_call(
    client: &Client,
    method: Method,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> Reply {
    let authorization = format!("Bearer {token}");
    client
        .send(
            method,
            path,
            &[
                ("authorization", &authorization),
                ("content-type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
        .await
        .unwrap()
}

/// Signs the bootstrap administrator in; an access token.
async fn admin(gateway: &Gateway) -> String {
    let client = gateway.client();
    let one_time = gateway
        .printed("one-time password (shown once; must be changed at first sign-in): ")
        .expect("bootstrap password");
    let login = |password: String| {
        let client = client.clone();
        async move {
            client
                .send(
                    Method::POST,
                    "/auth/login",
                    &[("content-type", "application/json")],
                    json!({"email": "admin@portcullis.local", "password": password})
                        .to_string()
                        .as_bytes(),
                )
                .await
                .unwrap()
                .json()["access_token"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let first = login(one_time.clone()).await;
    let new_password = "bench harbour lantern 2026";
    json_call(
        &client,
        Method::POST,
        "/api/v1/me/password",
        &first,
        json!({"current_password": one_time, "new_password": new_password}),
    )
    .await;
    login(new_password.to_string()).await
}

async fn provider(gateway: &Gateway, token: &str, body: serde_json::Value) -> String {
    let client = gateway.client();
    let created = json_call(
        &client,
        Method::POST,
        "/api/v1/identity-providers",
        token,
        body,
    )
    .await;
    assert_eq!(created.status, 201, "{}\n{}", created.text(), gateway.log());
    created.json()["id"].as_str().unwrap().to_string()
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

async fn oidc_login(client: &Client, oidc: &OidcProvider, id: &str) {
    let begun = client.get(&format!("/auth/sso/{id}")).await.unwrap();
    let flow = cookie_value(&header(&begun, http::header::SET_COOKIE, FLOW_COOKIE));
    let location = header(&begun, http::header::LOCATION, "http");
    let back = oidc.sign_in(&location, "benchuser").await;
    let done = client
        .get_with(
            back.trim_start_matches("https://localhost"),
            &[("cookie", &flow)],
        )
        .await
        .unwrap();
    assert_eq!(done.status, 302, "{}", done.text());
}

async fn saml_login(client: &Client, idp: &SamlIdp, id: &str) {
    let begun = client.get(&format!("/auth/sso/{id}")).await.unwrap();
    let flow = cookie_value(&header(&begun, http::header::SET_COOKIE, FLOW_COOKIE));
    let location = header(&begun, http::header::LOCATION, "http");
    let answer = idp.answer(&location, "alice", None).await;
    let done = client
        .send(
            Method::POST,
            &answer.acs_path,
            &[
                ("cookie", &flow),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            answer.form().as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(done.status, 302, "{}", done.text());
}

/// The microsecond figures the log has after `marker`, in order.
fn logged(log: &str, marker: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|line| {
            let rest = &line[line.find(marker)? + marker.len()..];
            rest.split_whitespace().next()?.parse().ok()
        })
        .collect()
}

fn report(name: &str, mut figures: Vec<u64>) {
    figures.sort_unstable();
    let at = |q: f64| figures[((figures.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name}: median {} us, p10 {} us, p90 {} us over {} logins",
        at(0.5),
        at(0.1),
        at(0.9),
        figures.len()
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let logins: usize = std::env::var("SSO_BENCH_LOGINS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    let oidc = OidcProvider::start();
    let idp = SamlIdp::start();
    let gateway = Gateway::with_config(&config(&oidc))
        .await
        .unwrap_or_else(|failure| panic!("gateway failed to start: {failure:?}"));
    let client = gateway.client();
    let token = admin(&gateway).await;
    let oidc_id = provider(
        &gateway,
        &token,
        json!({"name": "bench-oidc", "plugin": "oidc",
               "config": {"issuer": oidc.issuer, "client_id": "client-0"},
               "secrets": {"client_secret": client_secret(0)}}),
    )
    .await;
    let saml_id = provider(
        &gateway,
        &token,
        json!({"name": "bench-saml", "plugin": "saml",
               "config": {"idp_entity_id": idp.entity_id(), "idp_sso_url": idp.sso_url(), "idp_certificates": [idp.certificate]}}),
    )
    .await;
    for _ in 0..logins + 3 {
        oidc_login(&client, &oidc, &oidc_id).await;
        saml_login(&client, &idp, &saml_id).await;
    }
    let log = gateway.log();
    let skip_warm_up = |figures: Vec<u64>| figures.into_iter().skip(3).collect::<Vec<_>>();
    report(
        "oidc/callback_verify",
        skip_warm_up(logged(&log, "ID token verified in ")),
    );
    report(
        "saml/acs_validate",
        skip_warm_up(logged(&log, "SAML response validated in ")),
    );
}
