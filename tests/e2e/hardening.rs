//! The request path under attack: encoded paths, forged forwarding and
//! rewrite headers, slow bodies, idle connections, plugin egress.

mod connections;
mod egress;
mod forwarding;
mod paths;
mod providers;

use super::{sha256_hex, start};
use portcullis_tests::{Gateway, Reply, Upstream, paths as components};

/// `bob-token`: a caller in group `ops`, who may only read public routes.
const BOB: &str = "Bearer bob-token";

/// A gateway with static tokens (alice in `admins`, bob in `ops`), the
/// static authorizer (admins may do anything; anyone, anonymous
/// included, may read public routes) and two routes to `upstream`: a
/// protected `/v1/admin/…` and a weaker catch-all `/v1/…`.
fn config(upstream: &Upstream, server_extra: &str) -> String {
    format!(
        r#"
data_dir = "{{dir}}/data"

[server]
listen = "127.0.0.1:0"
{server_extra}

[auth]
authorizer = "authz"
providers = ["tokens"]

[plugins.authz]
path = "{authz}"

[plugins.authz.config]
default = "deny"
rules = [
  {{ groups = ["admins"], actions = ["*"], resources = ["*"] }},
  {{ subjects = ["*"], actions = ["public.read"], resources = ["*"] }},
]

[plugins.tokens]
path = "{tokens}"

[[plugins.tokens.config.tokens]]
sha256 = "{alice}"
subject = "alice"
groups = ["admins"]

[[plugins.tokens.config.tokens]]
sha256 = "{bob}"
subject = "bob"
groups = ["ops"]

[[routes]]
name = "admin"
path = "/v1/admin/{{*rest}}"
upstream = "{upstream}"
permission = {{ action = "admin.manage", resource = "admin/{{rest}}" }}

[[routes]]
name = "catch-all"
path = "/v1/{{*rest}}"
upstream = "{upstream}"
allow_anonymous = true
permission = {{ action = "public.read", resource = "public/{{rest}}" }}
"#,
        authz = components::component("authz_static").display(),
        tokens = components::component("authn_static_token").display(),
        alice = sha256_hex("alice-token"),
        bob = sha256_hex("bob-token"),
        upstream = upstream.url(),
    )
}

async fn gateway(server_extra: &str) -> (Upstream, Gateway) {
    let upstream = Upstream::start().await;
    let gateway = start(&config(&upstream, server_extra)).await;
    (upstream, gateway)
}

fn code(reply: &Reply) -> String {
    reply.json()["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
