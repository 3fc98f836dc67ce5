//! Single sign-on with SAML 2.0, end to end: the `authn-saml` plugin
//! against a real IdP that signs (pysaml2 with Debian's xmlsec1) on
//! loopback. The honest login is pysaml2's own response; every attack is a
//! response signed by the same xmlsec1 with one thing wrong, or tampered
//! with after signing. Then two organizations, one on OIDC and one on
//! SAML, side by side.

use super::{Fixture, code, location, set_cookie};
use http::Method;
use portcullis_tests::oidc::{OidcProvider, client_secret};
use portcullis_tests::saml::SamlIdp;
use portcullis_tests::{Client, Reply};
use serde_json::json;

const NO_MFA_RULES: &str = "\n[authz]\nmfa_required = []\n";
const FLOW_COOKIE: &str = "__Host-portcullis-sso";
const SESSION_COOKIE: &str = "portcullis_session";

/// The SAML template plugin; it may read the shared IdP's metadata.
fn saml_template() -> String {
    format!(
        "[plugins.saml]\npath = \"{}\"\ndeadline_ms = 10000\nallow_hosts = [\"{}\"]\n\n",
        crate::paths::component("authn_saml").display(),
        SamlIdp::shared().base,
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

/// Creates identity provider `body` with `token`; its view.
async fn create_provider(f: &Fixture, token: &str, body: serde_json::Value) -> serde_json::Value {
    let reply = f
        .call(
            Method::POST,
            "/api/v1/identity-providers",
            token,
            Some(body),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()
}

/// Creates a SAML identity provider for `idp` with `token`; its id.
async fn create(f: &Fixture, idp: &SamlIdp, token: &str, name: &str) -> String {
    let view = create_provider(
        f,
        token,
        json!({
            "name": name,
            "plugin": "saml",
            "config": {
                "idp_entity_id": idp.entity_id(),
                "idp_sso_url": idp.sso_url(),
                "idp_certificates": [idp.certificate],
            },
        }),
    )
    .await;
    view["id"].as_str().unwrap().to_string()
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
    let created = create_provider(&f, &f.admin, json!({
                "name": "a-oidc", "plugin": "oidc",
                "config": {"issuer": oidc.issuer, "client_id": format!("client-{n}"), "scopes": ["email", "profile", "groups"]},
                "secrets": {"client_secret": client_secret(n)},
            })).await;
    let oidc_provider = created["id"].as_str().unwrap().to_string();
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

/// SHA-256 of a PEM certificate's DER, hex.
fn fingerprint(pem: &str) -> String {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    ring::digest::digest(&ring::digest::SHA256, &der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

async fn expiring_gauge(f: &Fixture) -> String {
    let metrics = f.client.get("/metrics").await.unwrap().text();
    metrics
        .lines()
        .find(|l| l.starts_with("portcullis_sso_certificates_expiring "))
        .unwrap_or_else(|| panic!("no expiry gauge: {metrics}"))
        .to_string()
}

#[tokio::test]
async fn saml_sp_metadata_is_what_pysaml2_reads_and_trusted_certificates_show_their_expiry() {
    let idp = SamlIdp::shared();
    let f = gateway("").await;
    assert_eq!(
        expiring_gauge(&f).await,
        "portcullis_sso_certificates_expiring 0"
    );
    // The current certificate and the next one, which expires soon.
    let created = create_provider(
        &f,
        &f.admin,
        json!({
            "name": "rotating",
            "plugin": "saml",
            "config": {
                "idp_entity_id": idp.entity_id(),
                "idp_sso_url": idp.sso_url(),
                "idp_certificates": [idp.certificate, idp.expiring_certificate],
            },
        }),
    )
    .await;
    let view = created;
    let provider = view["id"].as_str().unwrap().to_string();
    let certificates = view["certificates"].as_array().expect("certificates");
    assert_eq!(certificates.len(), 2, "{view}");
    assert_eq!(certificates[0]["subject"], "idp", "{view}");
    assert_eq!(
        certificates[0]["sha256_fingerprint"],
        fingerprint(&idp.certificate)
    );
    assert_eq!(certificates[0]["expires_soon"], false, "{view}");
    assert_eq!(certificates[1]["subject"], "expiring", "{view}");
    assert_eq!(
        certificates[1]["sha256_fingerprint"],
        fingerprint(&idp.expiring_certificate)
    );
    assert_eq!(certificates[1]["expires_soon"], true, "{view}");
    let left = certificates[1]["not_after"].as_i64().unwrap() - now();
    assert!(
        (9 * 86_400..=10 * 86_400 + 60).contains(&left),
        "expires in 10 days: {left}s"
    );
    assert_eq!(
        expiring_gauge(&f).await,
        "portcullis_sso_certificates_expiring 1"
    );

    // The SP metadata: XML pysaml2 reads, naming the entity id and ACS
    // the gateway's AuthnRequests use; served so no browser runs it.
    let metadata = f
        .client
        .get(&format!("/auth/sso/{provider}/metadata"))
        .await
        .unwrap();
    assert_eq!(metadata.status, 200, "{}", metadata.text());
    let header = |name: &str| {
        metadata
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("content-type"), "application/samlmetadata+xml");
    assert!(header("content-security-policy").contains("sandbox"));
    assert_eq!(header("x-content-type-options"), "nosniff");
    let (status, read) = idp.read_sp_metadata(&metadata.text()).await;
    assert_eq!(status, 200, "pysaml2 refused our SP metadata: {read}");
    let (_, redirect) = start(&f.client, &provider).await;
    let answer = idp.answer(&redirect, "alice", None).await;
    assert_eq!(read["entity_id"], answer.sp_entity_id.as_str(), "{read}");
    assert_eq!(
        read["acs_url"],
        format!("https://localhost{}", answer.acs_path),
        "{read}"
    );
    let (status, _) = idp
        .read_sp_metadata("<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"x\"><md:SPSSODescriptor/></md:EntityDescriptor>")
        .await;
    assert_eq!(status, 400, "the peer does check what it reads");

    // Rotation done: the expiring certificate is dropped.
    let updated = f
        .call(
            Method::PATCH,
            &format!("/api/v1/identity-providers/{provider}"),
            &f.admin,
            Some(json!({"config": {
                "idp_entity_id": idp.entity_id(),
                "idp_sso_url": idp.sso_url(),
                "idp_certificates": [idp.certificate],
            }})),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    assert_eq!(updated.json()["certificates"].as_array().unwrap().len(), 1);
    assert_eq!(
        expiring_gauge(&f).await,
        "portcullis_sso_certificates_expiring 0"
    );
}

#[tokio::test]
async fn a_saml_provider_configured_from_idp_metadata_follows_its_rotation() {
    let idp = SamlIdp::shared();
    let f = gateway("").await;
    let name = format!("rotation-{}", now());
    let created = create_provider(
        &f,
        &f.admin,
        json!({
            "name": "from metadata",
            "plugin": "saml",
            "config": {"idp_metadata_url": idp.metadata_url(&name), "metadata_refresh_secs": 60},
        }),
    )
    .await;
    let provider = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        created["certificates"][0]["sha256_fingerprint"],
        fingerprint(&idp.certificate)
    );
    let honest = login(&f, idp, &provider, "alice", None).await;
    assert_eq!(honest.status, 302, "{}", honest.text());
    let other_key = login(&f, idp, &provider, "alice", Some("other-key")).await;
    assert_eq!(other_key.status, 401, "{}", other_key.text());

    // The IdP rotates to the other key; until the metadata is read again
    // the gateway still trusts the old certificate, then only the new one.
    let fetches = idp.rotate_metadata(&name).await;
    assert!(fetches >= 1, "the metadata was read: {fetches}");
    let before_refresh = login(&f, idp, &provider, "alice", None).await;
    assert_eq!(before_refresh.status, 302, "{}", before_refresh.text());
    tokio::time::sleep(std::time::Duration::from_secs(62)).await;
    let old_key = login(&f, idp, &provider, "alice", None).await;
    assert_eq!(old_key.status, 401, "{}", old_key.text());
    let new_key = login(&f, idp, &provider, "alice", Some("other-key")).await;
    assert_eq!(new_key.status, 302, "{}", new_key.text());
    let view = f
        .call(
            Method::GET,
            &format!("/api/v1/identity-providers/{provider}"),
            &f.admin,
            None,
        )
        .await
        .json();
    assert_eq!(view["certificates"][0]["subject"], "someone-else", "{view}");
}

#[tokio::test]
async fn a_saml_provider_takes_an_idp_metadata_document_and_refuses_unusable_metadata() {
    let idp = SamlIdp::shared();
    let f = gateway("").await;
    let document = portcullis_tests::browser::Browser::default()
        .get(&idp.metadata_url("document"))
        .await
        .text();
    let created = create_provider(
        &f,
        &f.admin,
        json!({"name": "pasted", "plugin": "saml", "config": {"idp_metadata": document}}),
    )
    .await;
    let provider = created["id"].as_str().unwrap().to_string();
    let done = login(&f, idp, &provider, "bob", None).await;
    assert_eq!(done.status, 302, "{}", done.text());

    let unreachable = "http://127.0.0.1:9/metadata";
    for (config, says) in [
        (
            json!({"idp_metadata": document, "idp_sso_url": idp.sso_url(), "idp_certificates": [idp.certificate]}),
            "set exactly one of",
        ),
        (json!({"idp_metadata_url": unreachable}), "idp_metadata_url"),
        (
            json!({"idp_metadata_url": format!("{}/sso", idp.base)}),
            "idp_metadata_url",
        ),
        (
            json!({"idp_metadata": document, "idp_entity_id": "https://other.test/"}),
            "no identity provider `https://other.test/`",
        ),
        (
            json!({"idp_metadata": document.replacen("<ns0:EntityDescriptor", "<!DOCTYPE x [<!ENTITY e \"e\">]><ns0:EntityDescriptor", 1)}),
            "DTD",
        ),
        (
            json!({"idp_metadata_url": idp.metadata_url("x"), "metadata_refresh_secs": 5}),
            "metadata_refresh_secs",
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
        assert_eq!(refused.status, 400, "{says}: {}", refused.text());
        assert!(refused.text().contains(says), "{says}: {}", refused.text());
    }
}

#[tokio::test]
async fn an_identity_provider_that_cannot_start_is_not_started_again_on_every_request() {
    let idp = SamlIdp::shared();
    let mut f = gateway("").await;
    let name = format!("down-{}", now());
    let created = create_provider(&f, &f.admin, json!({"name": "flaky", "plugin": "saml", "config": {"idp_metadata_url": idp.metadata_url(&name)}})).await;
    let provider = created["id"].as_str().unwrap().to_string();

    // The IdP's metadata goes away; a restarted gateway cannot start the
    // provider (it reads the metadata to start).
    idp.metadata_mode(&name, "down").await;
    f.gateway = f.gateway.restart().await.expect("restart");
    f.client = f.gateway.client();
    assert!(
        f.gateway
            .wait_for_log(
                "cannot describe its certificates",
                std::time::Duration::from_secs(20)
            )
            .await,
        "the boot-time certificate watch tried it"
    );
    let before = idp.metadata_mode(&name, "down").await;
    for _ in 0..5 {
        let begun = f
            .client
            .get(&format!("/auth/sso/{provider}"))
            .await
            .unwrap();
        assert_eq!(begun.status, 503, "{}", begun.text());
        let metadata = f
            .client
            .get(&format!("/auth/sso/{provider}/metadata"))
            .await
            .unwrap();
        assert_eq!(metadata.status, 503, "{}", metadata.text());
    }
    let after = idp.metadata_mode(&name, "down").await;
    assert_eq!(
        after, before,
        "ten public requests within the retry delay started nothing"
    );
    assert!(f.gateway.log().contains("is tried again 30 s after that"));
}

#[tokio::test]
async fn a_login_the_idp_starts_is_refused_unless_enabled_and_then_only_once_and_unsolicited() {
    let idp = SamlIdp::shared();
    let f = gateway("").await;
    let log_has = |check: &str| {
        f.gateway
            .log()
            .lines()
            .any(|l| l.contains("SAML login refused") && l.contains(check))
    };

    // Off (the default): a response no login of the gateway asked for is
    // refused before any provider sees it.
    let off = create(&f, idp, &f.admin, "sp-initiated only").await;
    let acs_path = |id: &str| format!("/auth/sso/{id}/callback");
    let sp = |id: &str| format!("https://localhost/auth/sso/{id}/metadata");
    let answer = idp
        .unsolicited(&acs_path(&off), &sp(&off), "alice", None)
        .await;
    let refused = post_acs(&f.client, &answer.acs_path, &answer.form(), None).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(code(&refused), "login_flow_unknown");

    let created = create_provider(
        &f,
        &f.admin,
        json!({"name": "idp-initiated", "plugin": "saml", "config": {
            "idp_entity_id": idp.entity_id(),
            "idp_sso_url": idp.sso_url(),
            "idp_certificates": [idp.certificate],
            "allow_idp_initiated": true,
        }}),
    )
    .await;
    let on = created["id"].as_str().unwrap().to_string();

    let answer = idp.unsolicited(&acs_path(&on), &sp(&on), "bob", None).await;
    let signed_in = post_acs(&f.client, &answer.acs_path, &answer.form(), None).await;
    assert_eq!(signed_in.status, 302, "{}", signed_in.text());
    assert_eq!(location(&signed_in), "/");
    let cookie = set_cookie(&signed_in, SESSION_COOKIE).expect("a session");
    let me = with_cookie(&f, "/api/v1/me", &format!("{SESSION_COOKIE}={cookie}")).await;
    assert_eq!(me.json()["email"], "bob@acme.test", "{}", me.text());

    // The same response again, from anywhere: refused by the replay cache.
    let again = post_acs(&f.client, &answer.acs_path, &answer.form(), None).await;
    assert_eq!(again.status, 401, "{}", again.text());
    assert!(log_has("already used (replay)"));
    // Claiming to answer a request nobody made.
    let claims = idp
        .unsolicited(&acs_path(&on), &sp(&on), "bob", Some("_forged"))
        .await;
    let refused = post_acs(&f.client, &claims.acs_path, &claims.form(), None).await;
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert!(log_has("must not answer a request"));
    // Within a login this browser started, an unsolicited response is not
    // the answer (it does not carry that login's RelayState, nor answer
    // its request).
    let (flow, _) = start(&f.client, &on).await;
    let fresh = idp.unsolicited(&acs_path(&on), &sp(&on), "bob", None).await;
    let refused = post_acs(&f.client, &fresh.acs_path, &fresh.form(), Some(&flow)).await;
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert!(log_has("RelayState is not this login's"));
    // And SP-initiated logins still work.
    let done = login(&f, idp, &on, "alice", None).await;
    assert_eq!(done.status, 302, "{}", done.text());
}

/// A `[[identity_providers]]` entry for the shared IdP's metadata `url`.
fn declared(id: &str, url: &str) -> String {
    format!(
        "[[identity_providers]]\nid = \"{id}\"\norg = \"org_default\"\nname = \"Declared Acme\"\nplugin = \"saml\"\n[identity_providers.config]\nidp_metadata_url = \"{url}\"\n\n"
    )
}

#[tokio::test]
async fn an_identity_provider_declared_in_the_configuration_file_signs_in_and_the_api_cannot_change_it()
 {
    let idp = SamlIdp::shared();
    let id = "idp_declared_acme";
    let f = gateway(&declared(id, &idp.metadata_url("declared"))).await;
    let listed = f
        .call(Method::GET, "/api/v1/identity-providers", &f.admin, None)
        .await
        .json();
    let provider = listed["identity_providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("declared provider listed: {listed}"));
    assert_eq!(provider["name"], "Declared Acme");
    assert_eq!(provider["org_id"], "org_default");
    let done = login(&f, idp, id, "alice", None).await;
    assert_eq!(done.status, 302, "{}", done.text());

    for (method, body) in [
        (Method::PATCH, Some(json!({"name": "renamed"}))),
        (Method::DELETE, None),
    ] {
        let refused = f
            .call(
                method.clone(),
                &format!("/api/v1/identity-providers/{id}"),
                &f.admin,
                body,
            )
            .await;
        assert_eq!(refused.status, 409, "{method}: {}", refused.text());
        assert!(
            refused
                .text()
                .contains("declared in the configuration file"),
            "{}",
            refused.text()
        );
    }

    // One its plugin refuses keeps the gateway from starting, named.
    let upstream = portcullis_tests::Upstream::start().await;
    let block = format!(
        "{}{}{}",
        super::rbac_authorizer(),
        saml_template(),
        declared("idp_broken", "http://127.0.0.1:9/metadata")
    );
    let config = super::identity_config_with(&upstream, NO_MFA_RULES, &block, "");
    let failure = portcullis_tests::Gateway::with_config(&config)
        .await
        .err()
        .expect("the gateway refuses to start");
    assert!(
        failure.stderr.contains("identity_providers[0]")
            && failure.stderr.contains("idp_metadata_url"),
        "{}",
        failure.stderr
    );
}

#[tokio::test]
async fn authn_requests_are_signed_with_the_providers_key_and_the_idp_checks_them() {
    let idp = SamlIdp::shared();
    let f = gateway("").await;
    let (key, certificate) = idp.sp_keypair().await;
    let config = json!({
        "idp_entity_id": idp.entity_id(),
        "idp_sso_url": idp.sso_url(),
        "idp_certificates": [idp.certificate],
        "sp_certificate": certificate,
    });
    let view = create_provider(
        &f,
        &f.admin,
        json!({"name": "signing", "plugin": "saml", "config": config, "secrets": {"sp_private_key": key}}),
    )
    .await;
    assert!(!view.to_string().contains("PRIVATE KEY"), "{view}");
    let provider = view["id"].as_str().unwrap().to_string();

    let (flow, redirect) = start(&f.client, &provider).await;
    assert!(
        redirect.contains("&SigAlg=") && redirect.contains("&Signature="),
        "{redirect}"
    );
    let answer = idp.answer(&redirect, "alice", None).await;
    assert_eq!(answer.request_signature, "valid");
    let done = post_acs(&f.client, &answer.acs_path, &answer.form(), Some(&flow)).await;
    assert_eq!(done.status, 302, "{}", done.text());
    // The IdP tells a request changed after signing.
    let (_, redirect) = start(&f.client, &provider).await;
    let tampered = redirect.replacen("RelayState=", "RelayState=x", 1);
    assert_eq!(
        idp.answer(&tampered, "alice", None).await.request_signature,
        "invalid"
    );

    // The metadata names the signing certificate, and pysaml2 reads it.
    let metadata = f
        .client
        .get(&format!("/auth/sso/{provider}/metadata"))
        .await
        .unwrap()
        .text();
    assert!(
        metadata.contains("AuthnRequestsSigned=\"true\""),
        "{metadata}"
    );
    let body: String = certificate
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(metadata.contains(&body), "{metadata}");
    let (status, read) = idp.read_sp_metadata(&metadata).await;
    assert_eq!(status, 200, "{read}");

    // A certificate that is not the key's is refused.
    let refused = f
        .call(
            Method::POST,
            "/api/v1/identity-providers",
            &f.admin,
            Some(json!({"name": "mismatch", "plugin": "saml",
                "config": {"idp_entity_id": idp.entity_id(), "idp_sso_url": idp.sso_url(),
                           "idp_certificates": [idp.certificate], "sp_certificate": idp.certificate},
                "secrets": {"sp_private_key": idp.sp_keypair().await.0}})),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(
        refused.text().contains("sp_certificate"),
        "{}",
        refused.text()
    );
    assert!(
        !refused.text().contains("PRIVATE KEY"),
        "{}",
        refused.text()
    );
}
