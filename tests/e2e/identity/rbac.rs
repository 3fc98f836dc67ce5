//! Role-based access control through the `authz-rbac` plugin: predefined
//! and custom roles on organization, environment and connection scopes,
//! the tenant boundary, API keys limited to owner ∩ key, MFA-required
//! permissions, changes effective on the next request, and shadow mode.

use super::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Fixture, access_token, call, code, continue_login, login, pyotp,
};
use crate::paths;
use http::Method;
use serde_json::{Value, json};

/// `settings:manage` alone needs the second factor, so the administrator
/// can set the scene with a password sign-in.
const SETTINGS_NEED_MFA: &str = "\n[authz]\nmfa_required = [\"settings:manage\"]\n";

async fn rbac() -> Fixture {
    Fixture::start_rbac(SETTINGS_NEED_MFA, "", "").await
}

impl Fixture {
    async fn post(&self, path: &str, body: Value) -> Value {
        let reply = self.call(Method::POST, path, &self.admin, Some(body)).await;
        assert_eq!(reply.status, 201, "{path}: {}", reply.text());
        reply.json()
    }

    async fn bind(&self, subject: &str, role: &str, scope: Value) -> String {
        self.post(
            "/api/v1/bindings",
            json!({"subject": subject, "role": role, "scope": scope}),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn environment(&self, name: &str) -> String {
        self.post("/api/v1/environments", json!({"name": name}))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn connection(&self, env: &str, name: &str) -> String {
        self.post(
            &format!("/api/v1/environments/{env}/connections"),
            json!({"name": name, "kind": "postgres", "host": "db.internal", "port": 5432, "database": "orders"}),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A user bound to `role` on `scope`, signed in: (id, access token).
    async fn member(&self, name: &str, role: Option<(&str, Value)>) -> (String, String) {
        let email = format!("{name}@example.com");
        let password = "harbor quartz 19 meadow";
        let id = self.create_user(&email, password, &[]).await;
        if let Some((role, scope)) = role {
            self.bind(&format!("user:{id}"), role, scope).await;
        }
        (id, access_token(&self.client, &email, password).await)
    }
}

fn pattern_covers(pattern: &str, permission: &str) -> bool {
    if pattern == "*" || pattern == permission {
        return true;
    }
    match (pattern.split_once(':'), permission.split_once(':')) {
        (Some((pr, pa)), Some((r, a))) => (pr == "*" || pr == r) && (pa == "*" || pa == a),
        _ => false,
    }
}

/// Whether the catalogue's predefined `role` grants `permission`.
fn role_grants(catalogue: &Value, role: &str, permission: &str) -> bool {
    let role = catalogue["predefined_roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == role)
        .unwrap();
    let listed = |key: &str| -> Vec<String> {
        role[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    listed("grants")
        .iter()
        .any(|g| pattern_covers(g, permission))
        && !listed("except").iter().any(|e| e == permission)
}

#[tokio::test]
async fn every_predefined_role_on_every_scope_decides_every_permission() {
    let f = rbac().await;
    let catalogue = f
        .call(Method::GET, "/api/v1/authz/permissions", &f.admin, None)
        .await
        .json();
    let permissions: Vec<String> = catalogue["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert!(permissions.len() >= 17, "{permissions:?}");
    let env_a = f.environment("prod-a").await;
    let env_b = f.environment("prod-b").await;
    let conn_a = f.connection(&env_a, "orders-a").await;
    let conn_b = f.connection(&env_b, "orders-b").await;
    let org = "orgs/org_default";
    // (resource, which levels it is at): org, environment A, connection A.
    let resources = [
        (org.to_string(), [true, false, false]),
        (format!("{org}/environments/{env_a}"), [true, true, false]),
        (format!("{org}/connections/{conn_a}"), [true, true, true]),
        (format!("{org}/connections/{conn_b}"), [true, false, false]),
        (format!("{org}/environments/{env_b}"), [true, false, false]),
    ];
    let scopes = [
        ("organization", json!({"kind": "organization"})),
        ("environment", json!({"kind": "environment", "id": env_a})),
        ("connection", json!({"kind": "connection", "id": conn_a})),
    ];
    let mut checked = 0;
    for role in ["admin", "operator", "viewer"] {
        for (level, (scope_name, scope)) in scopes.iter().enumerate() {
            let id = f
                .create_user(
                    &format!("{role}-{scope_name}@example.com"),
                    "harbor quartz 19 meadow",
                    &[],
                )
                .await;
            f.bind(&format!("user:{id}"), role, scope.clone()).await;
            for permission in &permissions {
                for (resource, at) in &resources {
                    let expected = role_grants(&catalogue, role, permission) && at[level];
                    let receipt = f
                        .call(
                            Method::POST,
                            "/api/v1/authz/explain",
                            &f.admin,
                            Some(json!({"subject": format!("user:{id}"), "action": permission, "resource": resource, "amr": ["pwd", "mfa"]})),
                        )
                        .await;
                    assert_eq!(receipt.status, 200, "{}", receipt.text());
                    let receipt = receipt.json();
                    assert_eq!(
                        receipt["allowed"], expected,
                        "{role} on {scope_name}: {permission} on {resource}: {receipt}"
                    );
                    if expected {
                        assert_eq!(receipt["role"], role);
                        assert!(receipt["binding"].as_str().unwrap().starts_with("bnd_"));
                        assert!(receipt["policy_version"].as_u64().unwrap() > 1);
                    } else {
                        assert_ne!(receipt["basis"], "granted");
                    }
                    // Another organization's resource is never granted.
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 3 * 3 * permissions.len() * resources.len());

    // A custom role: exactly its permissions, on its scope.
    let role = f
        .post(
            "/api/v1/roles",
            json!({"name": "connection reader", "permissions": ["connections:read"]}),
        )
        .await;
    let role_id = role["id"].as_str().unwrap();
    assert_eq!(role["effective_permissions"], json!(["connections:read"]));
    let (reader, reader_token) = f
        .member(
            "reader",
            Some((role_id, json!({"kind": "connection", "id": conn_b}))),
        )
        .await;
    for (action, resource, expected) in [
        (
            "connections:read",
            format!("{org}/connections/{conn_b}"),
            true,
        ),
        (
            "connections:read",
            format!("{org}/connections/{conn_a}"),
            false,
        ),
        (
            "connections:write",
            format!("{org}/connections/{conn_b}"),
            false,
        ),
        (
            "connections:read",
            format!("orgs/org_other/connections/{conn_b}"),
            false,
        ),
    ] {
        let receipt = f
            .call(
                Method::POST,
                "/api/v1/authz/explain",
                &f.admin,
                Some(json!({"subject": format!("user:{reader}"), "action": action, "resource": resource})),
            )
            .await
            .json();
        assert_eq!(
            receipt["allowed"], expected,
            "{action} {resource}: {receipt}"
        );
    }
    let get = |token: &str, conn: &str| {
        let path = format!("/api/v1/connections/{conn}");
        let token = token.to_string();
        let f = &f;
        async move { f.call(Method::GET, &path, &token, None).await }
    };
    assert_eq!(get(&reader_token, &conn_b).await.status, 200);
    assert_eq!(get(&reader_token, &conn_a).await.status, 403);
    // Predefined roles are not editable; a role in use is not deletable.
    let edit = f
        .call(
            Method::PATCH,
            "/api/v1/roles/admin",
            &f.admin,
            Some(json!({"name": "boss"})),
        )
        .await;
    assert_eq!(edit.status, 409, "{}", edit.text());
    let in_use = f
        .call(
            Method::DELETE,
            &format!("/api/v1/roles/{role_id}"),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(in_use.status, 409, "{}", in_use.text());
    let unknown = f
        .call(
            Method::POST,
            "/api/v1/roles",
            &f.admin,
            Some(json!({"name": "typo", "permissions": ["conections:read"]})),
        )
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.text());
    assert!(unknown.text().contains("conections:read"));
}

#[tokio::test]
async fn requests_are_decided_by_role_scope_and_tenant() {
    let f = rbac().await;
    let env_a = f.environment("prod-a").await;
    let env_b = f.environment("prod-b").await;
    let conn_a = f.connection(&env_a, "orders-a").await;
    let conn_b = f.connection(&env_b, "orders-b").await;
    let (_, operator) = f
        .member(
            "operator",
            Some(("operator", json!({"kind": "environment", "id": env_a}))),
        )
        .await;
    let (_, viewer) = f
        .member("viewer", Some(("viewer", json!({"kind": "organization"}))))
        .await;
    let (_, nobody) = f.member("nobody", None).await;
    let conn = |id: &str| format!("/api/v1/connections/{id}");
    let status = |reply: super::Reply| reply.status;

    // Operator on environment A: its connections, nothing in B, no users.
    assert_eq!(
        status(f.call(Method::GET, &conn(&conn_a), &operator, None).await),
        200
    );
    let other = f.call(Method::GET, &conn(&conn_b), &operator, None).await;
    assert_eq!(other.status, 403, "{}", other.text());
    assert_eq!(code(&other), "forbidden");
    let created = f
        .call(
            Method::POST,
            &format!("/api/v1/environments/{env_a}/connections"),
            &operator,
            Some(json!({"name": "events", "kind": "mysql", "host": "10.0.0.7", "port": 3306})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["tls_mode"], "verify-full", "safe default");
    assert_eq!(
        status(f.call(Method::GET, "/api/v1/users", &operator, None).await),
        403
    );
    assert_eq!(
        status(
            f.call(
                Method::DELETE,
                &format!("/api/v1/environments/{env_b}"),
                &operator,
                None
            )
            .await
        ),
        403
    );

    // Viewer: reads everything but the audit log, writes nothing.
    assert_eq!(
        status(f.call(Method::GET, &conn(&conn_b), &viewer, None).await),
        200
    );
    assert_eq!(
        status(f.call(Method::GET, "/api/v1/users", &viewer, None).await),
        200
    );
    for (method, path, body) in [
        (Method::PATCH, conn(&conn_a), Some(json!({"port": 6543}))),
        (
            Method::POST,
            "/api/v1/environments".to_string(),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, conn(&conn_a), None),
        (
            Method::POST,
            "/api/v1/roles".to_string(),
            Some(json!({"name": "r", "permissions": ["*"]})),
        ),
        (
            Method::POST,
            "/api/v1/users".to_string(),
            Some(json!({"email": "v@example.com"})),
        ),
    ] {
        let reply = f.call(method.clone(), &path, &viewer, body).await;
        assert_eq!(
            reply.status,
            403,
            "viewer {method} {path}: {}",
            reply.text()
        );
    }
    // Nobody bound: nothing (deny by default).
    assert_eq!(
        status(
            f.call(Method::GET, "/api/v1/environments", &nobody, None)
                .await
        ),
        403
    );
    assert_eq!(
        status(f.call(Method::GET, &conn(&conn_a), &nobody, None).await),
        403
    );

    // Another organization's administrator sees nothing of this one.
    let org_b = f
        .post(
            "/api/v1/orgs",
            json!({"name": "tenant-b", "first_admin_email": "boss@tenant-b.example"}),
        )
        .await;
    let one_time = org_b["first_admin"]["one_time_password"].as_str().unwrap();
    let first = login(&f.client, "boss@tenant-b.example", one_time).await;
    let token = first.json()["access_token"].as_str().unwrap().to_string();
    let changed = f
        .call(
            Method::POST,
            "/api/v1/me/password",
            &token,
            Some(json!({"current_password": one_time, "new_password": "granite violet 55 comet"})),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.text());
    let boss = access_token(
        &f.client,
        "boss@tenant-b.example",
        "granite violet 55 comet",
    )
    .await;
    assert_eq!(
        f.call(Method::GET, "/api/v1/environments", &boss, None)
            .await
            .json()["environments"],
        json!([])
    );
    for path in [
        conn(&conn_a),
        format!("/api/v1/environments/{env_a}"),
        format!("/api/v1/environments/{env_a}/connections"),
    ] {
        let reply = f.call(Method::GET, &path, &boss, None).await;
        assert_eq!(reply.status, 404, "org B reads {path}: {}", reply.text());
    }
    let bind_across = f
        .call(
            Method::POST,
            "/api/v1/bindings",
            &boss,
            Some(json!({"subject": "group:anyone", "role": "admin", "scope": {"kind": "environment", "id": env_a}})),
        )
        .await;
    assert_eq!(bind_across.status, 404, "{}", bind_across.text());

    // An API key may do what both its owner and its own binding allow.
    let key = f
        .call(
            Method::POST,
            "/api/v1/me/api-keys",
            &f.admin,
            Some(json!({"name": "read-only", "expires_in_seconds": 600, "role": "viewer"})),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.text());
    let key = key.json()["key"].as_str().unwrap().to_string();
    assert_eq!(
        status(f.call(Method::GET, &conn(&conn_b), &key, None).await),
        200
    );
    assert_eq!(
        status(
            f.call(
                Method::PATCH,
                &conn(&conn_b),
                &key,
                Some(json!({"port": 6543}))
            )
            .await
        ),
        403,
        "the admin's key bound to viewer cannot write"
    );

    // A change through the API is enforced from the next request.
    let bindings = f
        .call(Method::GET, "/api/v1/bindings", &f.admin, None)
        .await
        .json();
    let operator_binding = bindings["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["role"] == "operator")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deleted = f
        .call(
            Method::DELETE,
            &format!("/api/v1/bindings/{operator_binding}"),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        status(f.call(Method::GET, &conn(&conn_a), &operator, None).await),
        403
    );
    let audited = |action: &'static str| {
        let f = &f;
        async move {
            f.call(
                Method::GET,
                &format!("/api/v1/audit?action={action}"),
                &f.admin,
                None,
            )
            .await
        }
    };
    let changes = audited("record.changed").await.json();
    assert!(
        changes["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["details"]["record"] == "binding"
                && e["details"]["change"] == "deleted"
                && e["details"]["id"] == operator_binding.as_str()),
        "the binding's deletion is in the audit log: {changes}"
    );
    // Denials are written in the background; give the writer a moment.
    let mut denied = serde_json::Value::Null;
    for _ in 0..50 {
        denied = audited("access.denied").await.json();
        if !denied["events"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        denied["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["outcome"] == "denied"),
        "denials are in the audit log: {denied}"
    );

    // An environment with connections goes only when asked to cascade.
    let refused = f
        .call(
            Method::DELETE,
            &format!("/api/v1/environments/{env_a}"),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert!(refused.text().contains("cascade"));
    assert_eq!(
        status(f.call(Method::GET, &conn(&conn_a), &f.admin, None).await),
        200,
        "nothing was lost"
    );
    let cascaded = f
        .call(
            Method::DELETE,
            &format!("/api/v1/environments/{env_a}?cascade=true"),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(cascaded.status, 204, "{}", cascaded.text());
    assert_eq!(
        status(f.call(Method::GET, &conn(&conn_a), &f.admin, None).await),
        404
    );
}

#[tokio::test]
async fn mfa_required_permissions_are_refused_until_the_second_factor() {
    let f = rbac().await;
    let patch = json!({"name": "renamed"});
    let refused = f
        .call(
            Method::PATCH,
            "/api/v1/orgs/org_default",
            &f.admin,
            Some(patch.clone()),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(code(&refused), "mfa_required");
    let secret = f.enroll_totp(&f.admin).await;
    let flow = login(&f.client, ADMIN_EMAIL, ADMIN_PASSWORD).await.json()["flow_id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = continue_login(&f.client, &flow, json!({"code": pyotp(&secret, 1)})).await;
    assert_eq!(second.status, 200, "{}", second.text());
    let stepped = second.json()["access_token"].as_str().unwrap().to_string();
    let allowed = f
        .call(
            Method::PATCH,
            "/api/v1/orgs/org_default",
            &stepped,
            Some(patch),
        )
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    // The effective permissions say which grants need the second factor.
    let me = f
        .call(Method::GET, "/api/v1/me", &stepped, None)
        .await
        .json();
    let id = me["user"]["id"]
        .as_str()
        .or(me["id"].as_str())
        .unwrap_or_default()
        .to_string();
    let effective = f
        .call(
            Method::GET,
            &format!("/api/v1/authz/effective?subject=user:{id}"),
            &stepped,
            None,
        )
        .await;
    assert_eq!(effective.status, 200, "{}", effective.text());
    assert_eq!(effective.json()["grants"][0]["role"], "admin");
    assert_eq!(
        effective.json()["grants"][0]["mfa_required"],
        json!(["settings:manage"])
    );
}

#[tokio::test]
async fn a_shadow_authorizer_is_compared_and_never_decides() {
    let shadow = format!(
        "[plugins.shadow]\npath = \"{}\"\n",
        paths::component("fixture_deny_all").display()
    );
    let f = Fixture::start_rbac(SETTINGS_NEED_MFA, &shadow, "shadow_authorizer = \"shadow\"").await;
    // RBAC allows the administrator; the shadow would deny: the active
    // decision applies, and the disagreement is logged and counted.
    let listed = f.call(Method::GET, "/api/v1/users", &f.admin, None).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    let log = f.gateway.log();
    assert!(log.contains("authorizers disagree"), "{log}");
    assert!(log.contains("deny-all fixture"), "both receipts are logged");
    let metrics = call(&f.client, Method::GET, "/metrics", None, None)
        .await
        .text();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("portcullis_authz_shadow_disagreements_total{")
                && l.contains("active_allowed")
        })
        .unwrap_or_else(|| panic!("no disagreement counted:\n{metrics}"));
    let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 1.0, "{line}");
}

/// Cedar policies in the plugin's configuration: administrators (group
/// `admins`) run their own organization; changing settings needs the
/// second factor.
const CEDAR_POLICIES: &str = r#"
@id("admins-run-their-organization")
permit(principal in Group::"admins", action, resource) when { resource.org == principal.org };
@id("settings-need-the-second-factor")
forbid(principal, action == Action::"settings:manage", resource) unless { context.mfa };
"#;

#[tokio::test]
async fn cedar_replaces_rbac_by_configuration_alone() {
    let block = format!(
        "[plugins.authz]\npath = \"{}\"\nmemory_limit_mib = 256\n\n[plugins.authz.config]\npolicies = '''{CEDAR_POLICIES}'''\n\n",
        paths::component("authz_cedar").display()
    );
    let f = Fixture::start_authorized("", &block, "").await;
    // The bootstrap administrator is in `admins`: a Cedar policy, not a
    // binding, lets them in.
    let env = f.environment("prod").await;
    let conn = f.connection(&env, "orders").await;
    let me = f
        .call(Method::GET, "/api/v1/me", &f.admin, None)
        .await
        .json();
    let admin_id = me["user"]["id"].as_str().unwrap().to_string();
    let receipt = f
        .call(
            Method::POST,
            "/api/v1/authz/explain",
            &f.admin,
            Some(json!({
                "subject": format!("user:{admin_id}"),
                "action": "connections:read",
                "resource": format!("orgs/org_default/connections/{conn}"),
            })),
        )
        .await;
    assert_eq!(receipt.status, 200, "{}", receipt.text());
    let receipt = receipt.json();
    assert_eq!(receipt["allowed"], true, "{receipt}");
    assert_eq!(receipt["binding"], "admins-run-their-organization");
    assert!(
        receipt["policy_version"].as_u64().unwrap() > 1,
        "the snapshot's resource tree reached Cedar: {receipt}"
    );
    // Someone outside `admins` gets nothing; settings need the second factor.
    let (_, outsider) = f.member("outsider", None).await;
    assert_eq!(
        f.call(Method::GET, "/api/v1/users", &outsider, None)
            .await
            .status,
        403
    );
    let settings = f
        .call(
            Method::PATCH,
            "/api/v1/orgs/org_default",
            &f.admin,
            Some(json!({"name": "renamed"})),
        )
        .await;
    assert_eq!(settings.status, 403, "{}", settings.text());
    assert!(
        f.gateway.log().contains("settings-need-the-second-factor"),
        "the deciding forbid is named in the log"
    );
}
