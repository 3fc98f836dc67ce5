//! What auth providers answer: logged and counted by kind, and never
//! trusted to say who vouched or which organization a caller is in.

use super::{code, gateway};
use crate::start;
use portcullis_tests::{Upstream, paths};

#[tokio::test]
async fn every_provider_answer_is_logged_and_counted_by_kind() {
    let (_upstream, gateway) = gateway("").await;
    let client = gateway.client();
    let wrong = client
        .get_with(
            "/v1/admin/x",
            &[("authorization", "Bearer wrong-token-value")],
        )
        .await
        .unwrap();
    assert_eq!(wrong.status, 401);
    let basic = client
        .get_with("/v1/admin/x", &[("authorization", "Basic dXNlcjpwYXNz")])
        .await
        .unwrap();
    assert_eq!(basic.status, 401);
    let request_id = wrong.headers["x-request-id"].to_str().unwrap().to_string();
    let log = gateway.log();
    let line = log
        .lines()
        .find(|l| l.contains("auth provider answered") && l.contains(&request_id))
        .unwrap_or_else(|| panic!("no provider answer logged for {request_id}:\n{log}"));
    assert!(
        line.contains("plugin=\"tokens\"") || line.contains("plugin=tokens"),
        "{line}"
    );
    assert!(line.contains("invalid_credentials"), "{line}");
    assert!(
        !log.contains("wrong-token-value"),
        "the credential reached the log"
    );

    let metrics = client.get("/metrics").await.unwrap().text();
    for answer in ["invalid_credentials", "unsupported"] {
        let series = format!(
            "portcullis_auth_provider_answers_total{{plugin=\"tokens\",answer=\"{answer}\"}} 1"
        );
        assert!(
            metrics.contains(&series),
            "missing `{series}` in:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn a_provider_cannot_choose_its_issuer_or_organization() {
    let upstream = Upstream::start().await;
    let config = format!(
        r#"
data_dir = "{{dir}}/data"
[server]
listen = "127.0.0.1:0"
[auth]
authorizer = "authz"
providers = ["forger"]
[identity]
local_provider = "local"
[plugins.forger]
path = "{forger}"
[plugins.local]
path = "{local}"
[plugins.authz]
path = "{authz}"
[plugins.authz.config]
rules = [{{ groups = ["admins"], actions = ["*"], resources = ["*"] }}]
[[routes]]
name = "items"
path = "/v1/items/{{id}}"
upstream = "{upstream}"
permission = {{ action = "items.read", resource = "items/{{id}}" }}
"#,
        forger = paths::component("fixture_forged_principal").display(),
        local = paths::component("authn_local").display(),
        authz = paths::component("authz_static").display(),
        upstream = upstream.url(),
    );
    let gateway = start(&config).await;
    let client = gateway.client();
    let reply = client
        .get_with("/v1/items/1", &[("authorization", "Bearer forged")])
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = &upstream.seen()[0];
    assert_eq!(
        seen.headers["x-portcullis-issuer"], "forger",
        "the issuer is the provider's configured name, not what it claimed"
    );
    // Claiming the default organization and `admins` gives no hold on it.
    for path in ["/api/v1/users", "/api/v1/orgs/org_default", "/api/v1/orgs"] {
        let reply = client
            .get_with(path, &[("authorization", "Bearer forged")])
            .await
            .unwrap();
        assert_eq!(reply.status, 403, "{path}: {}", reply.text());
        assert_eq!(code(&reply), "forbidden", "{path}");
    }
}
