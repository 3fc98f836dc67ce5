//! Single sign-on with OpenID Connect, end to end: the `authn-oidc` plugin
//! against the `oidc-provider` npm package on loopback, driven as a
//! browser would (redirects and cookies). Identity providers are created
//! at run time through the API; sign-ins end in sessions whose groups,
//! namespaced by provider, are mapped to roles by bindings. Then every
//! forged or replayed answer the gateway must refuse.

use super::{Fixture, clears_cookie, code, location, set_cookie};
use http::Method;
use portcullis_tests::browser::Browser;
use portcullis_tests::oidc::{OidcProvider, client_secret};
use portcullis_tests::{Client, Reply};
use serde_json::{Value, json};

/// Every permission may be used without the second factor here, so the
/// administrator can configure providers with a password sign-in.
const NO_MFA_RULES: &str = "\n[authz]\nmfa_required = []\n";

/// A gateway deciding with RBAC, with the `oidc` template plugin.
async fn gateway(provider: &OidcProvider) -> Fixture {
    let egress = format!("http://{}", provider.authority());
    let block = format!(
        "{}{}",
        super::rbac_authorizer(),
        super::oidc_template(&[&egress])
    );
    Fixture::start_authorized(NO_MFA_RULES, &block, "").await
}

const FLOW_COOKIE: &str = "__Host-portcullis-sso";

/// One test's provider client and the gateway's identity provider for it.
struct Sso<'a> {
    provider: &'a OidcProvider,
    client_id: String,
    idp: String,
}

/// A login started at the gateway: the flow cookie and where the
/// provider sends the browser back to.
struct Started {
    flow: String,
    callback: String,
}

impl Sso<'_> {
    /// Creates an identity provider for a fresh client of `provider`.
    async fn create<'a>(f: &Fixture, provider: &'a OidcProvider, n: usize, token: &str) -> Sso<'a> {
        let client_id = format!("client-{n}");
        let created = f
            .call(
                Method::POST,
                "/api/v1/identity-providers",
                token,
                Some(json!({
                    "name": format!("acme okta {n}"),
                    "plugin": "oidc",
                    "config": {
                        "preset": "okta",
                        "issuer": provider.issuer,
                        "client_id": client_id,
                        "scopes": ["email", "profile", "groups"],
                    },
                    "secrets": {"client_secret": client_secret(n)},
                })),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
        Sso {
            provider,
            client_id,
            idp: created.json()["id"].as_str().unwrap().to_string(),
        }
    }

    /// Starts a login and signs `login` in at the provider.
    async fn start(&self, client: &Client, login: &str) -> Started {
        let begun = client
            .get(&format!("/auth/sso/{}?return_to=/console/home", self.idp))
            .await
            .unwrap();
        assert_eq!(begun.status, 302, "{}", begun.text());
        let flow = set_cookie(&begun, FLOW_COOKIE).expect("the flow is bound to the browser");
        let authorization = location(&begun);
        assert!(
            authorization.starts_with(&format!("{}/auth?", self.provider.issuer)),
            "{authorization}"
        );
        for part in [
            "code_challenge_method=S256",
            "code_challenge=",
            "nonce=",
            "state=",
        ] {
            assert!(authorization.contains(part), "{part} in {authorization}");
        }
        let callback = self.provider.sign_in(&authorization, login).await;
        let prefix = format!("https://localhost/auth/sso/{}/callback?", self.idp);
        assert!(callback.starts_with(&prefix), "{callback}");
        Started {
            flow,
            callback: callback.trim_start_matches("https://localhost").to_string(),
        }
    }

    /// Sends the provider's answer back to the gateway with `flow`.
    async fn finish(&self, client: &Client, callback: &str, flow: &str) -> Reply {
        let cookie = format!("{FLOW_COOKIE}={flow}");
        client
            .get_with(callback, &[("cookie", cookie.as_str())])
            .await
            .unwrap()
    }

    /// A whole login of `login`; the reply to the callback.
    async fn login(&self, client: &Client, login: &str) -> Reply {
        let started = self.start(client, login).await;
        self.finish(client, &started.callback, &started.flow).await
    }

    /// A whole login that succeeds: the session cookie header.
    async fn session(&self, f: &Fixture, login: &str) -> String {
        let done = self.login(&f.client, login).await;
        assert_eq!(done.status, 302, "{}", done.text());
        assert_eq!(location(&done), "/console/home");
        let cookie = f.gateway_session_cookie();
        let value = set_cookie(&done, &cookie).expect("a session cookie");
        format!("{cookie}={value}")
    }
}

impl Fixture {
    fn gateway_session_cookie(&self) -> String {
        "portcullis_session".into()
    }

    async fn with_cookie(&self, method: Method, path: &str, cookie: &str) -> Reply {
        self.client
            .send(method, path, &[("cookie", cookie)], b"")
            .await
            .unwrap()
    }

    async fn bind_group(&self, group: &str, role: &str) {
        let bound = self
            .call(
                Method::POST,
                "/api/v1/bindings",
                &self.admin,
                Some(json!({"subject": format!("group:{group}"), "role": role, "scope": {"kind": "organization"}})),
            )
            .await;
        assert_eq!(bound.status, 201, "{}", bound.text());
    }
}

#[tokio::test]
async fn an_oidc_login_ends_in_a_session_whose_provider_groups_map_to_roles() {
    let provider = OidcProvider::shared();
    let f = gateway(provider).await;
    let n = OidcProvider::take_client();
    let sso = Sso::create(&f, provider, n, &f.admin).await;

    // The secret is stored, named, and never shown.
    let shown = f
        .call(
            Method::GET,
            &format!("/api/v1/identity-providers/{}", sso.idp),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(shown.status, 200, "{}", shown.text());
    assert_eq!(shown.json()["secrets"], json!(["client_secret"]));
    assert!(
        !shown.text().contains(&client_secret(n)),
        "{}",
        shown.text()
    );
    let metadata = f
        .client
        .get(&format!("/auth/sso/{}/metadata", sso.idp))
        .await
        .unwrap();
    assert_eq!(
        metadata.json()["callback_url"],
        format!("https://localhost/auth/sso/{}/callback", sso.idp)
    );

    // Engineers at the provider operate; an IdP group called `admins`
    // is not the local `admins` group and grants nothing.
    f.bind_group(&format!("{}/engineers", sso.idp), "operator")
        .await;
    f.bind_group("admins", "admin").await;
    let session = sso.session(&f, "alice").await;
    let me = f.with_cookie(Method::GET, "/api/v1/me", &session).await;
    assert_eq!(me.status, 200, "{}", me.text());
    let me = me.json();
    assert_eq!(me["email"], "alice@acme.test");
    assert_eq!(me["issuer"], sso.idp.as_str());
    assert!(
        me["amr"].as_array().unwrap().contains(&json!("sso")),
        "{me}"
    );
    let groups = me["groups"].as_array().unwrap();
    assert!(
        groups.contains(&json!(format!("{}/engineers", sso.idp))),
        "{me}"
    );
    assert!(
        groups.contains(&json!(format!("{}/admins", sso.idp))),
        "{me}"
    );
    assert!(!groups.contains(&json!("admins")), "{me}");
    assert_eq!(me["user"]["email"], "alice@acme.test");

    let environments = f
        .with_cookie(Method::GET, "/api/v1/environments", &session)
        .await;
    assert_eq!(environments.status, 200, "{}", environments.text());
    let users = f.with_cookie(Method::GET, "/api/v1/users", &session).await;
    assert_eq!(
        users.status,
        403,
        "operators do not read users: {}",
        users.text()
    );

    // The user was created just in time, once: a second login is the same user.
    let user_id = me["user"]["id"].as_str().unwrap().to_string();
    let again = sso.session(&f, "alice").await;
    let me_again = f
        .with_cookie(Method::GET, "/api/v1/me", &again)
        .await
        .json();
    assert_eq!(me_again["user"]["id"], user_id.as_str());

    // Groups are refreshed at every login: without `engineers` at the
    // provider, the next session has no operator rights.
    provider
        .set_account(
            &format!("frank{n}"),
            json!({"email": format!("frank{n}@acme.test"), "email_verified": true, "groups": ["engineers"]}),
        )
        .await;
    let frank = sso.session(&f, &format!("frank{n}")).await;
    let allowed = f
        .with_cookie(Method::GET, "/api/v1/environments", &frank)
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    provider
        .set_account(
            &format!("frank{n}"),
            json!({"email": format!("frank{n}@acme.test"), "email_verified": true, "groups": []}),
        )
        .await;
    let frank = sso.session(&f, &format!("frank{n}")).await;
    let refused = f
        .with_cookie(Method::GET, "/api/v1/environments", &frank)
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text());

    f.assert_not_logged(&[&client_secret(n)]);
}

#[tokio::test]
async fn forged_replayed_and_misbound_oidc_answers_are_refused() {
    let provider = OidcProvider::shared();
    let f = gateway(provider).await;
    let n = OidcProvider::take_client();
    let sso = Sso::create(&f, provider, n, &f.admin).await;

    // Replay: the same answer twice. The flow ended at the first.
    let started = sso.start(&f.client, "alice").await;
    let first = sso
        .finish(&f.client, &started.callback, &started.flow)
        .await;
    assert_eq!(first.status, 302, "{}", first.text());
    let replayed = sso
        .finish(&f.client, &started.callback, &started.flow)
        .await;
    assert_eq!(replayed.status, 403, "{}", replayed.text());
    assert_eq!(code(&replayed), "login_flow_unknown");

    // A code replayed into another login of this browser: its `state`
    // is not that login's.
    let other = sso.start(&f.client, "alice").await;
    let misbound = sso.finish(&f.client, &started.callback, &other.flow).await;
    assert_eq!(misbound.status, 401, "{}", misbound.text());

    // The right state with a wrong one substituted.
    let wrong_state = sso.start(&f.client, "alice").await;
    let tampered = regex_replace_state(&wrong_state.callback);
    let refused = sso.finish(&f.client, &tampered, &wrong_state.flow).await;
    assert_eq!(refused.status, 401, "{}", refused.text());

    // No flow cookie: another browser cannot finish this login.
    let elsewhere = sso.start(&f.client, "alice").await;
    let no_cookie = f.client.get(&elsewhere.callback).await.unwrap();
    assert_eq!(no_cookie.status, 403, "{}", no_cookie.text());
    assert_eq!(code(&no_cookie), "login_flow_unknown");

    // Each forged ID token, from the real token endpoint, is refused, and
    // the log says which check refused it.
    for (mode, check) in [
        ("expired", "ID token: Expired: ID token expired at"),
        ("future", "ID token: Expired: issued in the future"),
        ("issuer", "ID token: Invalid issuer"),
        ("nonce", "ID token: Invalid nonce: nonce mismatch"),
        ("audience", "ID token: Invalid audiences: must contain"),
        (
            "tampered",
            "Signature verification failed: Crypto error: signature does not verify",
        ),
        (
            "alg-none",
            "Signature verification failed: No signature found",
        ),
        (
            "hs256-public-key",
            "Disallowed signature algorithm: algorithm `HS256`",
        ),
        (
            "unknown-kid",
            "Signature verification failed: No matching key found",
        ),
    ] {
        provider.set_mode(&sso.client_id, Some(mode)).await;
        let reply = sso.login(&f.client, "alice").await;
        assert_eq!(reply.status, 401, "{mode}: {}", reply.text());
        assert_eq!(code(&reply), "invalid_credentials", "{mode}");
        assert!(
            set_cookie(&reply, &f.gateway_session_cookie()).is_none(),
            "{mode}: no session"
        );
        assert!(
            f.gateway.log().contains(check),
            "{mode}: the log names the check `{check}`"
        );
    }
    provider.set_mode(&sso.client_id, None).await;
    assert!(
        f.gateway
            .log()
            .contains("OIDC login refused: `state` is not this login's"),
        "the log names the state check"
    );

    // An email the provider does not vouch for creates no account.
    let unverified = sso.login(&f.client, "eve").await;
    assert_eq!(unverified.status, 403, "{}", unverified.text());
    assert_eq!(code(&unverified), "email_not_verified");

    // The honest login still works after all that.
    let done = sso.login(&f.client, "alice").await;
    assert_eq!(done.status, 302, "{}", done.text());
}

/// `callback` with its `state` parameter replaced.
fn regex_replace_state(callback: &str) -> String {
    let (path, query) = callback.split_once('?').unwrap();
    let query: Vec<String> = query
        .split('&')
        .map(|pair| {
            if pair.starts_with("state=") {
                "state=not-this-logins-state".to_string()
            } else {
                pair.to_string()
            }
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

#[tokio::test]
async fn a_burst_of_tokens_with_unknown_keys_refetches_the_jwks_at_most_once() {
    // Its own provider: the count of JWKS fetches is the assertion.
    let provider = OidcProvider::start();
    let f = gateway(&provider).await;
    let sso = Sso::create(&f, &provider, 0, &f.admin).await;
    let done = sso.login(&f.client, "alice").await;
    assert_eq!(done.status, 302, "{}", done.text());
    let before = provider.jwks_fetches().await;
    provider.set_mode(&sso.client_id, Some("unknown-kid")).await;
    for _ in 0..5 {
        let reply = sso.login(&f.client, "alice").await;
        assert_eq!(reply.status, 401, "{}", reply.text());
    }
    let after = provider.jwks_fetches().await;
    assert!(
        after - before <= 1,
        "five tokens with unknown keys fetched the JWKS {} times",
        after - before
    );
    assert!(
        f.gateway.log().contains(
            "signed with a key the JWKS does not have (refetched recently; not again yet)"
        ),
        "the log says why the JWKS was not fetched again"
    );
}

#[tokio::test]
async fn identity_providers_are_per_organization_and_checked_by_their_plugin() {
    let provider = OidcProvider::shared();
    let f = gateway(provider).await;

    // Settings the plugin refuses are refused with its reason; a plugin
    // that is not configured is named.
    let bad = f
        .call(
            Method::POST,
            "/api/v1/identity-providers",
            &f.admin,
            Some(json!({"name": "bad", "plugin": "oidc", "config": {"issuer": provider.issuer, "client_id": "c", "allowed_algorithms": ["none"]}})),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("allowed_algorithms"), "{}", bad.text());
    let unknown = f
        .call(
            Method::POST,
            "/api/v1/identity-providers",
            &f.admin,
            Some(json!({"name": "x", "plugin": "saml-nowhere", "config": {}})),
        )
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.text());
    assert!(
        unknown.text().contains("saml-nowhere"),
        "{}",
        unknown.text()
    );

    // Two organizations, each with its own provider.
    let n_a = OidcProvider::take_client();
    let n_b = OidcProvider::take_client();
    let sso_a = Sso::create(&f, provider, n_a, &f.admin).await;
    let (org_b, admin_b) = f
        .second_org("Beta", "admin@beta.test", "beta harbour 2026 lantern")
        .await;
    let sso_b = Sso::create(&f, provider, n_b, &admin_b).await;
    let listed = f
        .call(Method::GET, "/api/v1/identity-providers", &admin_b, None)
        .await
        .json();
    let ids: Vec<&str> = listed["identity_providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [sso_b.idp.as_str()], "each organization sees its own");
    let across = f
        .call(
            Method::GET,
            &format!("/api/v1/identity-providers/{}", sso_a.idp),
            &admin_b,
            None,
        )
        .await;
    assert_eq!(across.status, 404, "{}", across.text());

    // A login started at one organization's provider cannot be finished
    // at the other's.
    let started = sso_a.start(&f.client, "alice").await;
    let at_b = started.callback.replace(&sso_a.idp, &sso_b.idp);
    let crossed = sso_b.finish(&f.client, &at_b, &started.flow).await;
    assert_eq!(crossed.status, 403, "{}", crossed.text());

    // The same person cannot take an account in the other organization:
    // the email belongs to the first one's user, so it is not linked.
    let session_a = sso_a.session(&f, "alice").await;
    let me_a = f
        .with_cookie(Method::GET, "/api/v1/me", &session_a)
        .await
        .json();
    assert_eq!(me_a["user"]["org_id"], "org_default");
    let at_beta = sso_b.login(&f.client, "alice").await;
    assert_eq!(at_beta.status, 403, "{}", at_beta.text());
    assert_eq!(code(&at_beta), "account_link_refused");
    let b_users = f
        .with_cookie(Method::GET, &format!("/api/v1/orgs/{org_b}"), &session_a)
        .await;
    assert_eq!(b_users.status, 404, "{}", b_users.text());

    // Home-realm discovery answers by domain, whether or not the user exists.
    let domains = f
        .call(
            Method::PUT,
            &format!("/api/v1/orgs/{org_b}/domains"),
            &admin_b,
            Some(json!({"verified_domains": ["Beta.Test"]})),
        )
        .await;
    assert_eq!(domains.status, 200, "{}", domains.text());
    assert_eq!(domains.json()["verified_domains"], json!(["beta.test"]));
    let taken = f
        .call(
            Method::PUT,
            "/api/v1/orgs/org_default/domains",
            &f.admin,
            Some(json!({"verified_domains": ["beta.test"]})),
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.text());
    let discover = |email: &'static str| {
        let client = f.client.clone();
        async move {
            super::call(
                &client,
                Method::POST,
                "/auth/sso/discover",
                None,
                Some(json!({ "email": email })),
            )
            .await
            .json()
        }
    };
    let known = discover("admin@beta.test").await;
    let unknown = discover("nobody-at-all@beta.test").await;
    assert_eq!(known, unknown);
    assert_eq!(known["provider_id"], sso_b.idp.as_str());
    assert_eq!(
        discover("someone@elsewhere.test").await["provider_id"],
        Value::Null
    );

    // Deleting a provider ends its logins.
    let deleted = f
        .call(
            Method::DELETE,
            &format!("/api/v1/identity-providers/{}", sso_b.idp),
            &admin_b,
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    let gone = f
        .client
        .get(&format!("/auth/sso/{}", sso_b.idp))
        .await
        .unwrap();
    assert_eq!(gone.status, 404, "{}", gone.text());
}

#[tokio::test]
async fn signing_out_of_an_oidc_session_ends_it_here_and_hands_the_provider_its_id_token_hint() {
    let provider = OidcProvider::shared();
    let f = gateway(provider).await;
    let n = OidcProvider::take_client();
    let sso = Sso::create(&f, provider, n, &f.admin).await;
    let cookie = sso.session(&f, "carol").await;
    let me = f.with_cookie(Method::GET, "/api/v1/me", &cookie).await;
    assert_eq!(me.status, 200, "{}", me.text());

    let logout = f
        .with_cookie(Method::POST, "/auth/sso/logout", &cookie)
        .await;
    assert_eq!(logout.status, 200, "{}", logout.text());
    assert!(
        clears_cookie(&logout, &f.gateway_session_cookie()),
        "the cookie is cleared"
    );
    let url = logout.json()["logout_url"]
        .as_str()
        .unwrap_or_else(|| panic!("a logout URL: {}", logout.text()))
        .to_string();
    assert!(
        url.starts_with(&format!("{}/session/end?", provider.issuer)),
        "{url}"
    );
    let (_, query) = url.split_once('?').unwrap();
    let params: Vec<(String, String)> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(n, v)| (percent_decoded(n), percent_decoded(v)))
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} in {url}"))
    };
    assert_eq!(param("client_id"), sso.client_id);
    assert_eq!(param("post_logout_redirect_uri"), "https://localhost/");
    assert_eq!(param("id_token_hint").split('.').count(), 3, "a JWT");

    // The session is over here, whatever the provider does next.
    let after = f.with_cookie(Method::GET, "/api/v1/me", &cookie).await;
    assert_eq!(after.status, 401, "{}", after.text());
    let again = f
        .with_cookie(Method::POST, "/auth/sso/logout", &cookie)
        .await;
    assert_eq!(again.status, 401, "{}", again.text());

    // oidc-provider accepts the hint it issued (it asks the user to
    // confirm), and refuses one that was tampered with.
    let confirm = Browser::default().get(&url).await;
    assert_eq!(confirm.status, 200, "{}", confirm.text());
    assert!(confirm.text().contains("logout"), "{}", confirm.text());
    let hint = param("id_token_hint");
    let tampered = url.replace(&hint, &format!("{hint}x"));
    let refused = Browser::default().get(&tampered).await;
    assert_eq!(refused.status, 400, "{}", refused.text());

    // A password session has no provider logout.
    let local = f
        .call(Method::POST, "/auth/sso/logout", &f.admin, None)
        .await;
    assert_eq!(local.status, 200, "{}", local.text());
    assert_eq!(local.json()["logout_url"], serde_json::Value::Null);
}

/// Creates identity provider `body` as the administrator; its id. What
/// comes back never holds a private key.
async fn create_provider(f: &Fixture, body: Value) -> String {
    let created = f
        .call(
            Method::POST,
            "/api/v1/identity-providers",
            &f.admin,
            Some(body),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert!(
        !created.text().contains("PRIVATE KEY"),
        "{}",
        created.text()
    );
    created.json()["id"].as_str().unwrap().to_string()
}

/// `value` with `%XX` escapes and `+` decoded (a query component).
fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn an_entra_groups_overage_is_read_from_microsoft_graph_or_refuses_the_login() {
    let provider = OidcProvider::shared();
    let f = gateway(provider).await;
    let n = OidcProvider::take_client();
    let client_id = format!("client-{n}");
    provider.set_mode(&client_id, Some("entra-overage")).await;
    provider
        .set_account(
            "dana",
            json!({"email": "dana@acme.test", "email_verified": true, "name": "Dana",
                   "groups": ["7d0c3a4e-eng", "91b2f6aa-ops"]}),
        )
        .await;
    let entra = |name: &str, graph: bool| {
        json!({
            "name": name,
            "plugin": "oidc",
            "config": {
                "preset": "entra",
                "issuer": provider.issuer,
                "tenant_id": "tenant-test",
                "client_id": client_id,
                "scopes": ["email", "profile"],
                "graph_groups": graph,
                "graph_url": format!("{}/graph", provider.issuer),
                "graph_token_url": format!("{}/graph/{{tenantid}}/oauth2/v2.0/token", provider.issuer),
            },
            "secrets": {"client_secret": client_secret(n)},
        })
    };

    // Without Graph: refused, never a login without groups.
    let without = Sso {
        provider,
        client_id: client_id.clone(),
        idp: create_provider(&f, entra("entra without graph", false)).await,
    };
    let refused = without.login(&f.client, "dana").await;
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert!(
        f.gateway
            .log()
            .lines()
            .any(|l| l.contains("groups overage") && l.contains("not configured")),
        "the log says why"
    );

    // With Graph: the groups come from getMemberGroups.
    let calls = provider.graph_calls().await;
    let with = Sso {
        provider,
        client_id: client_id.clone(),
        idp: create_provider(&f, entra("entra with graph", true)).await,
    };
    let cookie = with.session(&f, "dana").await;
    let me = f
        .with_cookie(Method::GET, "/api/v1/me", &cookie)
        .await
        .json();
    let groups = me["groups"].as_array().unwrap();
    for group in ["7d0c3a4e-eng", "91b2f6aa-ops"] {
        assert!(
            groups.contains(&json!(format!("{}/{group}", with.idp))),
            "{me}"
        );
    }
    assert_eq!(me["email"], "dana@acme.test", "{me}");
    assert_eq!(provider.graph_calls().await, calls + 1);
    provider.set_mode(&client_id, None).await;
}

#[tokio::test]
async fn google_workspace_groups_are_read_from_the_directory_as_the_service_account() {
    let provider = OidcProvider::shared();
    let f = gateway(provider).await;
    let n = OidcProvider::take_client();
    let client_id = format!("client-{n}");
    provider
        .set_mode(&client_id, Some("google-workspace"))
        .await;
    provider
        .set_account(
            "erin",
            json!({"email": "erin@acme.test", "email_verified": true, "name": "Erin",
                   "groups": ["eng", "ops", "oncall"]}),
        )
        .await;
    let account = provider.service_account().await;
    let key = account["private_key"].as_str().unwrap().to_string();
    let google = |name: &str, service_account: &str| {
        json!({
            "name": name,
            "plugin": "oidc",
            "config": {
                "preset": "google",
                "issuer": provider.issuer,
                "client_id": client_id,
                "allowed_domains": ["acme.test"],
                "scopes": ["email", "profile"],
                "directory_groups": true,
                "service_account_email": service_account,
                "directory_admin": "admin@acme.test",
                "google_token_url": format!("{}/google/token", provider.issuer),
                "directory_url": format!("{}/google", provider.issuer),
            },
            "secrets": {"client_secret": client_secret(n), "service_account_key": key},
        })
    };

    // A service account the directory does not know: refused, and why.
    let stranger = Sso {
        provider,
        client_id: client_id.clone(),
        idp: create_provider(
            &f,
            google(
                "google as a stranger",
                "someone@else.iam.gserviceaccount.com",
            ),
        )
        .await,
    };
    let refused = stranger.login(&f.client, "erin").await;
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert!(
        f.gateway
            .log()
            .lines()
            .any(|l| l.contains("Google directory") && l.contains("unknown service account")),
        "the log says which check failed: {}",
        f.gateway
            .log()
            .lines()
            .filter(|l| l.contains("refused"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The service account: a JWT signed by the host with its key, then the
    // groups page by page.
    let calls = provider.service_account().await["directory_calls"]
        .as_u64()
        .unwrap();
    let sso = Sso {
        provider,
        client_id: client_id.clone(),
        idp: create_provider(
            &f,
            google(
                "google workspace",
                account["client_email"].as_str().unwrap(),
            ),
        )
        .await,
    };
    let cookie = sso.session(&f, "erin").await;
    let me = f
        .with_cookie(Method::GET, "/api/v1/me", &cookie)
        .await
        .json();
    let groups = me["groups"].as_array().unwrap();
    for group in ["eng", "ops", "oncall"] {
        assert!(
            groups.contains(&json!(format!("{}/{group}@acme.test", sso.idp))),
            "{me}"
        );
    }
    let after = provider.service_account().await["directory_calls"]
        .as_u64()
        .unwrap();
    assert_eq!(after, calls + 2, "three groups in pages of two");
    provider.set_mode(&client_id, None).await;
}
