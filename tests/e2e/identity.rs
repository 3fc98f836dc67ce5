//! Identity end to end: local accounts with TOTP (codes from pyotp, an
//! independent implementation), sessions and access tokens, API keys, the
//! admin API and its OpenAPI document, bootstrap.

mod api_contract;
mod api_keys;
mod at_rest;
mod audit;
mod bootstrap;
mod cli;
mod credentials;
mod csrf;
mod login;
mod openapi;
mod rbac;
mod sessions;
mod sso_oidc;
mod sso_saml;
mod takeover;
mod tenants;
mod throttling;

use super::paths;
use http::Method;
use portcullis_tests::{Client, Gateway, Reply, Upstream};
use serde_json::{Value, json};

/// The bootstrap administrator's email.
const ADMIN_EMAIL: &str = "admin@portcullis.local";
/// The password the administrator sets at first sign-in.
const ADMIN_PASSWORD: &str = "castle gate lantern 42";

/// A gateway with local accounts, the static authorizer (`admins` may do
/// anything, `ops` may read items) and a proxy route to `upstream`.
fn identity_config(upstream: &Upstream, extra: &str) -> String {
    identity_config_with(upstream, extra, &static_authorizer(), "")
}

/// The static authorizer's plugin block.
fn static_authorizer() -> String {
    format!(
        r#"[plugins.authz]
path = "{authz}"

[plugins.authz.config]
default = "deny"
rules = [
  {{ groups = ["admins"], actions = ["*"], resources = ["*"] }},
  {{ groups = ["ops"], actions = ["items.read"], resources = ["*"] }},
  {{ groups = ["ops"], actions = ["vault.read"], resources = ["*"], amr = ["mfa"] }},
]

"#,
        authz = paths::component("authz_static").display(),
    )
}

/// The `oidc` template plugin's block (`authn-oidc` with no settings:
/// identity providers of organizations are instances of it), allowed to
/// reach `allow_hosts`.
fn oidc_template(allow_hosts: &[&str]) -> String {
    format!(
        r#"[plugins.oidc]
path = "{path}"
allow_hosts = {hosts:?}
deadline_ms = 10000

"#,
        path = paths::component("authn_oidc").display(),
        hosts = allow_hosts,
    )
}

/// The RBAC authorizer's plugin block (roles and bindings from the store).
fn rbac_authorizer() -> String {
    format!(
        r#"[plugins.authz]
path = "{authz}"
instances = 2
memory_limit_mib = 256

"#,
        authz = paths::component("authz_rbac").display(),
    )
}

/// [`identity_config`] with `authz_block` as the `authz` plugin.
fn identity_config_with(
    upstream: &Upstream,
    extra: &str,
    authz_block: &str,
    auth_extra: &str,
) -> String {
    format!(
        r#"
data_dir = "{{dir}}/data"

[server]
listen = "127.0.0.1:0"
# Tests play clients at other addresses through X-Forwarded-For.
trusted_proxies = ["127.0.0.0/8"]

[auth]
authorizer = "authz"
{auth_extra}

[identity]
local_provider = "local"
{extra}

{authz_block}[plugins.local]
path = "{local}"
instances = 2
deadline_ms = 10000

[plugins.local.config.throttle_account]
free_attempts = 3
base_delay_secs = 1
max_delay_secs = 4

[plugins.local.config.throttle_account_total]
free_attempts = 8
base_delay_secs = 30
max_delay_secs = 60

[plugins.local.config.throttle_ip]
free_attempts = 1000

[[routes]]
name = "items"
methods = ["GET", "POST"]
path = "/v1/items/{{id}}"
upstream = "{upstream}"
permission = {{ action = "items.read", resource = "items/{{id}}" }}

[[routes]]
name = "org-items"
methods = ["GET"]
path = "/v1/org-items/{{id}}"
upstream = "{upstream}"
permission = {{ action = "items.read", resource = "orgs/{{org}}/items/{{id}}" }}

[[routes]]
name = "vault"
methods = ["GET"]
path = "/v1/vault/{{id}}"
upstream = "{upstream}"
permission = {{ action = "vault.read", resource = "vault/{{id}}" }}
"#,
        local = paths::component("authn_local").display(),
        upstream = upstream.url(),
    )
}

/// A running identity gateway with a signed-in administrator.
struct Fixture {
    gateway: Gateway,
    client: Client,
    upstream: Upstream,
    /// The administrator's access token (full access).
    admin: String,
}

impl Fixture {
    async fn start() -> Self {
        Self::start_with("").await
    }

    async fn start_with(extra: &str) -> Self {
        let upstream = Upstream::start().await;
        let config = identity_config(&upstream, extra);
        Self::start_on(upstream, &config).await
    }

    /// A gateway deciding with the RBAC authorizer; `extra` goes into the
    /// configuration's top level tables, `auth_extra` into `[auth]`.
    async fn start_rbac(extra: &str, authz_extra: &str, auth_extra: &str) -> Self {
        let block = format!("{}{authz_extra}\n", rbac_authorizer());
        Self::start_authorized(extra, &block, auth_extra).await
    }

    /// A gateway deciding with the authorizer plugin block `block`.
    async fn start_authorized(extra: &str, block: &str, auth_extra: &str) -> Self {
        let upstream = Upstream::start().await;
        let config = identity_config_with(&upstream, extra, block, auth_extra);
        Self::start_on(upstream, &config).await
    }

    async fn start_on(upstream: Upstream, config: &str) -> Self {
        let gateway = Gateway::with_config(config)
            .await
            .unwrap_or_else(|failure| panic!("gateway failed to start: {failure:?}"));
        let client = gateway.client();
        let one_time = gateway
            .printed("one-time password (shown once; must be changed at first sign-in): ")
            .expect("bootstrap password printed");
        let first = login(&client, ADMIN_EMAIL, &one_time).await;
        assert_eq!(first.status, 200, "{}", first.text());
        let token = first.json()["access_token"].as_str().unwrap().to_string();
        let changed = call(
            &client,
            Method::POST,
            "/api/v1/me/password",
            Some(&token),
            Some(json!({"current_password": one_time, "new_password": ADMIN_PASSWORD})),
        )
        .await;
        assert_eq!(changed.status, 204, "{}", changed.text());
        let admin = access_token(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        Self {
            gateway,
            client,
            upstream,
            admin,
        }
    }

    /// Creates a user in the default organization; returns their id.
    async fn create_user(&self, email: &str, password: &str, groups: &[&str]) -> String {
        let reply = call(
            &self.client,
            Method::POST,
            "/api/v1/users",
            Some(&self.admin),
            Some(json!({"email": email, "password": password, "groups": groups})),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()["user"]["id"].as_str().unwrap().to_string()
    }

    async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Reply {
        call(&self.client, method, path, Some(token), body).await
    }

    /// Creates organization `name` (as the platform operator) with its
    /// first administrator `email`, who replaces the one-time password
    /// with `password`; the organization's id and that administrator's
    /// access token.
    async fn second_org(&self, name: &str, email: &str, password: &str) -> (String, String) {
        let created = self
            .call(
                Method::POST,
                "/api/v1/orgs",
                &self.admin,
                Some(json!({"name": name, "first_admin_email": email})),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
        let org = created.json()["org"]["id"].as_str().unwrap().to_string();
        let one_time = created.json()["first_admin"]["one_time_password"]
            .as_str()
            .unwrap()
            .to_string();
        let first = access_token(&self.client, email, &one_time).await;
        let changed = self
            .call(
                Method::POST,
                "/api/v1/me/password",
                &first,
                Some(json!({"current_password": one_time, "new_password": password})),
            )
            .await;
        assert_eq!(changed.status, 204, "{}", changed.text());
        (org, access_token(&self.client, email, password).await)
    }

    /// Enrolls TOTP for the holder of `token` with pyotp's current code;
    /// returns the secret.
    async fn enroll_totp(&self, token: &str) -> String {
        let secret = self
            .call(Method::POST, "/api/v1/me/mfa/totp", token, None)
            .await
            .json()["secret"]
            .as_str()
            .unwrap()
            .to_string();
        let confirmed = self
            .call(
                Method::POST,
                "/api/v1/me/mfa/totp/confirm",
                token,
                Some(json!({"code": pyotp(&secret, 0)})),
            )
            .await;
        assert_eq!(confirmed.status, 200, "{}", confirmed.text());
        secret
    }

    /// Asserts that nothing in `secrets` reached the gateway's log.
    fn assert_not_logged(&self, secrets: &[&str]) {
        let log = self.gateway.log();
        for secret in secrets {
            assert!(!log.contains(secret), "secret `{secret}` found in the log");
        }
    }
}

/// Sends a JSON request with an optional bearer token.
async fn call(
    client: &Client,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let authorization = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![];
    if let Some(value) = &authorization {
        headers.push(("authorization", value.as_str()));
    }
    let bytes = match &body {
        Some(body) => {
            headers.push(("content-type", "application/json"));
            serde_json::to_vec(body).unwrap()
        }
        None => Vec::new(),
    };
    client.send(method, path, &headers, &bytes).await.unwrap()
}

/// `POST /auth/login` with email and password.
async fn login(client: &Client, email: &str, password: &str) -> Reply {
    call(
        client,
        Method::POST,
        "/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

/// `POST /auth/login/continue` with `fields` and the flow id.
async fn continue_login(client: &Client, flow: &str, fields: Value) -> Reply {
    let mut body = fields;
    body["flow_id"] = Value::String(flow.to_string());
    call(
        client,
        Method::POST,
        "/auth/login/continue",
        None,
        Some(body),
    )
    .await
}

/// Signs in with a password only and returns the access token.
async fn access_token(client: &Client, email: &str, password: &str) -> String {
    let reply = login(client, email, password).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["status"], "authenticated", "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// The TOTP code pyotp computes for `secret`, `steps` 30-second steps from now.
fn pyotp(secret: &str, steps: i64) -> String {
    let python = "python3";
    let mut command = std::process::Command::new(python);
    if let Ok(path) = std::env::var("PORTCULLIS_TEST_PYTHONPATH") {
        command.env("PYTHONPATH", path);
    }
    let output = command
        .args([
            "-c",
            "import pyotp, sys, time; print(pyotp.TOTP(sys.argv[1]).at(int(time.time()) + 30 * int(sys.argv[2])))",
            secret,
            &steps.to_string(),
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (make test-deps installs pyotp): {e}"));
    assert!(
        output.status.success(),
        "pyotp failed (make test-deps installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The error code of a JSON error reply.
/// The value `reply` sets cookie `name` to; `None` when it does not set it
/// or clears it.
fn set_cookie(reply: &Reply, name: &str) -> Option<String> {
    cookie_values(reply, name).find(|value| !value.is_empty())
}

/// Whether `reply` clears cookie `name` (sets it empty).
fn clears_cookie(reply: &Reply, name: &str) -> bool {
    cookie_values(reply, name).any(|value| value.is_empty())
}

fn cookie_values<'a>(reply: &'a Reply, name: &'a str) -> impl Iterator<Item = String> + 'a {
    reply
        .headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(move |v| {
            let (n, value) = v.split(';').next()?.split_once('=')?;
            (n == name).then(|| value.to_string())
        })
}

/// Where a redirect sends the browser.
fn location(reply: &Reply) -> String {
    reply
        .headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location: {} {}", reply.status, reply.text()))
        .to_string()
}

fn code(reply: &Reply) -> String {
    reply.json()["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
