//! Single sign-on with SAML 2.0, end to end: the `authn-saml` plugin
//! against a real IdP that signs (pysaml2 with Debian's xmlsec1) on
//! loopback. The honest login is pysaml2's own response; every attack is a
//! response signed by the same xmlsec1 with one thing wrong, or tampered
//! with after signing. Then two organizations, one on OIDC and one on
//! SAML, side by side.

use super::{Fixture, code};
use http::Method;
use portcullis_tests::oidc::{OidcProvider, client_secret};
use portcullis_tests::saml::SamlIdp;
use portcullis_tests::{Client, Reply};
use serde_json::json;

const NO_MFA_RULES: &str = "\n[authz]\nmfa_required = []\n";
const FLOW_COOKIE: &str = "__Host-portcullis-sso";
const SESSION_COOKIE: &str = "portcullis_session";

fn saml_template() -> String {
    format!(
        "[plugins.saml]\npath = \"{}\"\ndeadline_ms = 10000\n\n",
        crate::paths::component("authn_saml").display()
    )
}

async fn gateway(extra_plugins: &str) -> Fixture {
    let block = format!(
        "{}{}{extra_plugins}",
        super::rbac_authorizer(),
        saml_template()
    );
    Fixture::start_authorized(NO_MFA_RULES, &block, "").await
}

fn set_cookie(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (n, value) = v.split(';').next()?.split_once('=')?;
            (n == name && !value.is_empty()).then(|| value.to_string())
        })
}

fn location(reply: &Reply) -> String {
    reply
        .headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location: {} {}", reply.status, reply.text()))
        .to_string()
}

/// Creates a SAML identity provider for `idp` with `token`; its id.
async fn create(f: &Fixture, idp: &SamlIdp, token: &str, name: &str) -> String {
    let created = f
        .call(
            Method::POST,
            "/api/v1/identity-providers",
            token,
            Some(json!({
                "name": name,
                "plugin": "saml",
                "config": {
                    "idp_entity_id": idp.entity_id(),
                    "idp_sso_url": idp.sso_url(),
                    "idp_certificates": [idp.certificate],
                },
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    created.json()["id"].as_str().unwrap().to_string()
}

/// A started login: the flow cookie and the IdP URL.
async fn start(client: &Client, provider: &str) -> (String, String) {
    let begun = client
        .get(&format!("/auth/sso/{provider}?return_to=/console"))
        .await
        .unwrap();
    assert_eq!(begun.status, 302, "{}", begun.text());
    let flow = set_cookie(&begun, FLOW_COOKIE).expect("flow cookie");
    (flow, location(&begun))
}

/// Posts `form` to the ACS `path` with the flow cookie.
async fn post_acs(client: &Client, path: &str, form: &str, flow: Option<&str>) -> Reply {
    let cookie = flow.map(|f| format!("{FLOW_COOKIE}={f}"));
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(cookie) = &cookie {
        headers.push(("cookie", cookie.as_str()));
    }
    client
        .send(Method::POST, path, &headers, form.as_bytes())
        .await
        .unwrap()
}

/// A whole login of `login` with `mode`; the ACS's reply.
async fn login(
    f: &Fixture,
    idp: &SamlIdp,
    provider: &str,
    login: &str,
    mode: Option<&str>,
) -> Reply {
    let (flow, redirect) = start(&f.client, provider).await;
    let answer = idp.answer(&redirect, login, mode).await;
    post_acs(&f.client, &answer.acs_path, &answer.form(), Some(&flow)).await
}

async fn session(f: &Fixture, idp: &SamlIdp, provider: &str, who: &str) -> String {
    let done = login(f, idp, provider, who, None).await;
    assert_eq!(done.status, 302, "{}", done.text());
    assert_eq!(location(&done), "/console");
    format!(
        "{SESSION_COOKIE}={}",
        set_cookie(&done, SESSION_COOKIE).expect("session cookie")
    )
}

async fn with_cookie(f: &Fixture, path: &str, cookie: &str) -> Reply {
    f.client
        .send(Method::GET, path, &[("cookie", cookie)], b"")
        .await
        .unwrap()
}

async fn bind_group(f: &Fixture, token: &str, group: &str, role: &str) {
    let bound = f
        .call(
            Method::POST,
            "/api/v1/bindings",
            token,
            Some(json!({"subject": format!("group:{group}"), "role": role, "scope": {"kind": "organization"}})),
        )
        .await;
    assert_eq!(bound.status, 201, "{}", bound.text());
}

#[tokio::test]
async fn a_saml_login_with_pysaml2_maps_its_groups_and_every_attack_is_refused() {
    let idp = SamlIdp::shared();
    let f = gateway("").await;
    let provider = create(&f, idp, &f.admin, "acme saml").await;

    // The AuthnRequest is one pysaml2 reads (it answered), for our ACS.
    bind_group(&f, &f.admin, &format!("{provider}/engineers"), "operator").await;
    let cookie = session(&f, idp, &provider, "alice").await;
    let me = with_cookie(&f, "/api/v1/me", &cookie).await.json();
    assert_eq!(me["email"], "alice@acme.test", "{me}");
    assert_eq!(me["user"]["display_name"], "Alice", "{me}");
    let groups = me["groups"].as_array().unwrap();
    assert!(
        groups.contains(&json!(format!("{provider}/engineers"))),
        "{me}"
    );
    assert!(!groups.contains(&json!("admins")), "{me}");
    let environments = with_cookie(&f, "/api/v1/environments", &cookie).await;
    assert_eq!(environments.status, 200, "{}", environments.text());

    // Replay: the same response again, in the same flow or a new one.
    let (flow, redirect) = start(&f.client, &provider).await;
    let answer = idp.answer(&redirect, "alice", None).await;
    let first = post_acs(&f.client, &answer.acs_path, &answer.form(), Some(&flow)).await;
    assert_eq!(first.status, 302, "{}", first.text());
    let again = post_acs(&f.client, &answer.acs_path, &answer.form(), Some(&flow)).await;
    assert_eq!(again.status, 403, "{}", again.text());
    assert_eq!(code(&again), "login_flow_unknown");
    let (other_flow, _) = start(&f.client, &provider).await;
    let into_other = post_acs(
        &f.client,
        &answer.acs_path,
        &answer.form(),
        Some(&other_flow),
    )
    .await;
    assert_eq!(into_other.status, 401, "{}", into_other.text());
    // An unsolicited response (the IdP starting the login) is refused.
    let (_, redirect) = start(&f.client, &provider).await;
    let unsolicited = idp.answer(&redirect, "alice", None).await;
    let no_flow = post_acs(&f.client, &unsolicited.acs_path, &unsolicited.form(), None).await;
    assert_eq!(no_flow.status, 403, "{}", no_flow.text());

    for (mode, check) in [
        (
            "modified-attribute",
            "the digest does not match the signed element",
        ),
        ("wrap-before", "exactly one assertion"),
        ("wrap-after", "exactly one assertion"),
        ("wrap-inside", "exactly one assertion"),
        (
            "move-signature",
            "the signature's reference is not the signed element",
        ),
        (
            "other-key",
            "the signature is not by a configured IdP certificate",
        ),
        (
            "unsigned",
            "neither the response nor the assertion is signed",
        ),
        ("sha1", "SHA-1 is refused"),
        ("audience", "the assertion is for another audience"),
        ("recipient", "Recipient is not this gateway's ACS"),
        ("destination", "Destination is not this gateway's ACS"),
        ("expired", "has expired"),
        ("not-yet-valid", "not yet valid"),
        ("unknown-in-response-to", "answers another request"),
        ("comment-in-name-id", "NameID must hold only text"),
        ("dtd-entities", "a DTD is refused"),
        ("issuer", "Issuer is not the configured IdP"),
    ] {
        let reply = login(&f, idp, &provider, "alice", Some(mode)).await;
        assert_eq!(reply.status, 401, "{mode}: {}", reply.text());
        assert_eq!(code(&reply), "invalid_credentials", "{mode}");
        assert!(
            set_cookie(&reply, SESSION_COOKIE).is_none(),
            "{mode}: no session"
        );
        let log = f.gateway.log();
        assert!(
            log.lines()
                .any(|l| l.contains("SAML login refused") && l.contains(check)),
            "{mode}: the log names the check `{check}`"
        );
    }

    // Still fine after all that.
    let done = login(&f, idp, &provider, "alice", None).await;
    assert_eq!(done.status, 302, "{}", done.text());
}

#[tokio::test]
async fn a_saml_provider_refuses_settings_it_cannot_use() {
    let idp = SamlIdp::shared();
    let f = gateway("").await;
    for (config, key) in [
        (
            json!({"idp_entity_id": idp.entity_id(), "idp_sso_url": idp.sso_url(), "idp_certificates": []}),
            "idp_certificates",
        ),
        (
            json!({"idp_entity_id": idp.entity_id(), "idp_sso_url": idp.sso_url(), "idp_certificates": ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]}),
            "idp_certificates[0]",
        ),
        (
            json!({"idp_entity_id": idp.entity_id(), "idp_sso_url": "ftp://x", "idp_certificates": [idp.certificate]}),
            "idp_sso_url",
        ),
        (
            json!({"idp_entity_id": idp.entity_id(), "idp_sso_url": idp.sso_url(), "idp_certificates": [idp.certificate], "clock_skew_secs": 3600}),
            "clock_skew_secs",
        ),
    ] {
        let refused = f
            .call(
                Method::POST,
                "/api/v1/identity-providers",
                &f.admin,
                Some(json!({"name": "bad", "plugin": "saml", "config": config})),
            )
            .await;
        assert_eq!(refused.status, 400, "{key}: {}", refused.text());
        assert!(refused.text().contains(key), "{key}: {}", refused.text());
    }
}

#[tokio::test]
async fn two_organizations_sign_in_side_by_side_with_oidc_and_saml() {
    let idp = SamlIdp::shared();
    let oidc = OidcProvider::shared();
    let egress = format!("http://{}", oidc.authority());
    let f = gateway(&super::oidc_template(&[&egress])).await;

    // Organization A on OIDC, organization B on SAML, configured at run time.
    let n = OidcProvider::take_client();
    let created = f
        .call(
            Method::POST,
            "/api/v1/identity-providers",
            &f.admin,
            Some(json!({
                "name": "a-oidc", "plugin": "oidc",
                "config": {"issuer": oidc.issuer, "client_id": format!("client-{n}"), "scopes": ["email", "profile", "groups"]},
                "secrets": {"client_secret": client_secret(n)},
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let oidc_provider = created.json()["id"].as_str().unwrap().to_string();
    let (org_b, admin_b) = f
        .second_org("Beta", "admin@beta.test", "beta harbour 2026 lantern")
        .await;
    let saml_provider = create(&f, idp, &admin_b, "b-saml").await;
    // In B, the local `admins` group administers; B's IdP also asserts a
    // group called `admins`.
    bind_group(&f, &admin_b, "admins", "admin").await;

    // B's user signs in with SAML and lands in B, with no admin rights.
    let b_session = session(&f, idp, &saml_provider, "alice").await;
    let me = with_cookie(&f, "/api/v1/me", &b_session).await.json();
    assert_eq!(me["user"]["org_id"], org_b.as_str(), "{me}");
    assert!(
        me["groups"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("{saml_provider}/admins"))),
        "{me}"
    );
    let users = with_cookie(&f, "/api/v1/users", &b_session).await;
    assert_eq!(
        users.status,
        403,
        "an IdP group named `admins` grants nothing: {}",
        users.text()
    );
    let a_org = with_cookie(&f, "/api/v1/orgs/org_default", &b_session).await;
    assert_eq!(a_org.status, 404, "{}", a_org.text());

    // A's user signs in with OIDC and lands in A.
    let begun = f
        .client
        .get(&format!("/auth/sso/{oidc_provider}"))
        .await
        .unwrap();
    let flow = set_cookie(&begun, FLOW_COOKIE).unwrap();
    let back = oidc.sign_in(&location(&begun), &format!("ann{n}")).await;
    let callback = back.trim_start_matches("https://localhost");
    let cookie = format!("{FLOW_COOKIE}={flow}");
    let done = f
        .client
        .get_with(callback, &[("cookie", cookie.as_str())])
        .await
        .unwrap();
    assert_eq!(done.status, 302, "{}", done.text());
    let a_session = format!(
        "{SESSION_COOKIE}={}",
        set_cookie(&done, SESSION_COOKIE).unwrap()
    );
    let me_a = with_cookie(&f, "/api/v1/me", &a_session).await.json();
    assert_eq!(me_a["user"]["org_id"], "org_default", "{me_a}");

    // A login started at A's provider cannot be finished at B's ACS.
    let (flow_a, _) = start(&f.client, &oidc_provider).await;
    let (_, redirect_b) = start(&f.client, &saml_provider).await;
    let answer_b = idp.answer(&redirect_b, "alice", None).await;
    let crossed = post_acs(
        &f.client,
        &answer_b.acs_path,
        &answer_b.form(),
        Some(&flow_a),
    )
    .await;
    assert_eq!(crossed.status, 403, "{}", crossed.text());
    assert_eq!(code(&crossed), "login_flow_unknown");
}
