//! Tenant isolation: nobody in organization B can read or change anything
//! of organization A. The endpoints tried are every operation of the
//! OpenAPI document (built from the endpoint table), so a new endpoint is
//! covered as soon as it exists.

use super::{ADMIN_EMAIL, ADMIN_PASSWORD, Fixture, access_token, call, code, login};
use http::Method;
use portcullis_tests::Reply;
use serde_json::{Map, Value, json};

const ALICE: &str = "alice@a.example";
const ALICE_PASSWORD: &str = "orchard lantern 58 copper";
const B_ADMIN: &str = "admin@b.example";
const B_ADMIN_PASSWORD: &str = "granite willow 31 harbour";
const B_USER: &str = "user@b.example";
const B_USER_PASSWORD: &str = "saffron tunnel 77 meadow";

/// Organization A's resources, as ids to put in paths and bodies.
struct TenantA {
    org: String,
    user: String,
    session: String,
    key_id: String,
    user_token: String,
    key: String,
    environment: String,
    connection: String,
    role: String,
    binding: String,
    identity_provider: String,
}

/// Creates one of A's policy resources as A's administrator; its id.
async fn created_id(f: &Fixture, path: &str, body: Value) -> String {
    let reply = f.call(Method::POST, path, &f.admin, Some(body)).await;
    assert_eq!(reply.status, 201, "{path}: {}", reply.text());
    reply.json()["id"].as_str().unwrap().to_string()
}

async fn api_key(f: &Fixture, token: &str, name: &str) -> (String, String) {
    let reply = f
        .call(
            Method::POST,
            "/api/v1/me/api-keys",
            token,
            Some(json!({"name": name, "expires_in_seconds": 3600})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let body = reply.json();
    (
        body["api_key"]["id"].as_str().unwrap().to_string(),
        body["key"].as_str().unwrap().to_string(),
    )
}

/// A value for a request property, pointing at A's resources where the
/// property names one.
fn value_for(name: &str, schema: &Value, a: &TenantA) -> Value {
    if name.ends_with("_id") {
        return Value::String(a.user.clone());
    }
    match schema["type"].as_str() {
        Some("boolean") => Value::Bool(true),
        Some("integer") => json!(3600),
        Some("array") => json!(["admins"]),
        Some("object") => json!({}),
        _ => Value::String(format!("set-by-b-{name}")),
    }
}

/// A body for `schema` (a `$ref` into the document): its required
/// properties, or else its first one.
fn body_for(document: &Value, reference: &Value, a: &TenantA) -> Value {
    let name = reference["$ref"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let mut schema = &document["components"]["schemas"][name];
    // A body that is one of several forms: the first form.
    if schema["properties"].is_null() && schema["oneOf"][0].is_object() {
        schema = &schema["oneOf"][0];
    }
    let properties = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    // Required properties, and those of the first alternative of an `anyOf`.
    let mut required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(first) = schema["anyOf"][0]["required"].as_array() {
        required.extend(first.iter().filter_map(Value::as_str));
    }
    let mut body = Map::new();
    for (property, property_schema) in &properties {
        if required.contains(&property.as_str()) || property.ends_with("_id") {
            body.insert(property.clone(), value_for(property, property_schema, a));
        }
    }
    if body.is_empty()
        && let Some((property, property_schema)) = properties.iter().next()
    {
        body.insert(property.clone(), value_for(property, property_schema, a));
    }
    Value::Object(body)
}

/// The operations that name a resource: those with path parameters, those
/// whose body or query names an owner, and those spanning organizations.
fn naming_operations(document: &Value, a: &TenantA) -> Vec<(Method, String, Option<Value>)> {
    let mut operations = Vec::new();
    for (template, item) in document["paths"].as_object().unwrap() {
        if !template.starts_with("/api/v1/") {
            continue;
        }
        for (method, operation) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let body = operation["requestBody"]["content"]["application/json"]["schema"]
                .as_object()
                .map(|r| body_for(document, &Value::Object(r.clone()), a));
            let names_owner = body
                .as_ref()
                .is_some_and(|b| b.as_object().unwrap().keys().any(|k| k.ends_with("_id")));
            let spans_orgs = operation["x-portcullis-platform-operator"] == true;
            let path = template
                .replace("{org_id}", &a.org)
                .replace("{user_id}", &a.user)
                .replace("{session_id}", &a.session)
                .replace("{key_id}", &a.key_id)
                .replace("{env_id}", &a.environment)
                .replace("{conn_id}", &a.connection)
                .replace("{role_id}", &a.role)
                .replace("{binding_id}", &a.binding)
                .replace("{idp_id}", &a.identity_provider);
            assert!(
                !path.contains('{'),
                "a path parameter this test does not fill: {path}"
            );
            if template.contains('{') || names_owner || spans_orgs {
                operations.push((method.clone(), path.clone(), body.clone()));
            }
            if template == "/api/v1/api-keys" && method == Method::GET {
                operations.push((method.clone(), format!("{path}?owner_id={}", a.user), None));
            }
            // Operations naming A's resources in their body or query.
            let subject = format!("user:{}", a.user);
            match (template.as_str(), &method) {
                ("/api/v1/bindings", &Method::POST) => {
                    operations.push((method.clone(), path.clone(), Some(json!({"subject": subject, "role": "admin"}))));
                    operations.push((
                        method,
                        path,
                        Some(json!({"subject": "group:admins", "role": "admin", "scope": {"kind": "environment", "id": a.environment}})),
                    ));
                }
                ("/api/v1/authz/explain", &Method::POST) => operations.push((
                    method,
                    path,
                    Some(json!({"subject": subject, "action": "users:read", "resource": "orgs/org_default"})),
                )),
                ("/api/v1/authz/effective", &Method::GET) => {
                    operations.push((method, format!("{path}?subject={subject}"), None));
                }
                _ => {}
            }
        }
    }
    operations
}

async fn as_caller(
    f: &Fixture,
    method: &Method,
    path: &str,
    token: &str,
    body: &Option<Value>,
) -> Reply {
    call(&f.client, method.clone(), path, Some(token), body.clone()).await
}

#[tokio::test]
async fn nobody_in_another_organization_can_name_this_ones_resources() {
    // With the OIDC template, so A can have an identity provider.
    let block = format!(
        "{}{}",
        super::static_authorizer(),
        super::oidc_template(&[])
    );
    let f = Fixture::start_authorized("", &block, "").await;

    // Organization A (the default one): a user with a session and a key.
    let user = f.create_user(ALICE, ALICE_PASSWORD, &["ops"]).await;
    let signed_in = login(&f.client, ALICE, ALICE_PASSWORD).await;
    let user_token = signed_in.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let session = signed_in.json()["session_id"].as_str().unwrap().to_string();
    let (key_id, key) = api_key(&f, &user_token, "a-key").await;
    let environment = created_id(&f, "/api/v1/environments", json!({"name": "prod"})).await;
    let connection = created_id(
        &f,
        &format!("/api/v1/environments/{environment}/connections"),
        json!({"name": "orders", "kind": "postgres", "host": "db.internal", "port": 5432}),
    )
    .await;
    let role = created_id(
        &f,
        "/api/v1/roles",
        json!({"name": "reader", "permissions": ["connections:read"]}),
    )
    .await;
    let binding = created_id(
        &f,
        "/api/v1/bindings",
        json!({"subject": format!("user:{user}"), "role": role, "scope": {"kind": "connection", "id": connection}}),
    )
    .await;
    let identity_provider = created_id(
        &f,
        "/api/v1/identity-providers",
        json!({"name": "a-sso", "plugin": "oidc", "config": {"issuer": "https://idp.a.test", "client_id": "a"}, "secrets": {"client_secret": "a-secret"}}),
    )
    .await;
    let a = TenantA {
        identity_provider,
        environment,
        connection,
        role,
        binding,
        org: "org_default".into(),
        user,
        session,
        key_id,
        user_token,
        key,
    };

    // Organization B with its first administrator, made by the platform
    // operator (the bootstrap administrator).
    let (org_b, b_admin) = f.second_org("tenant-b", B_ADMIN, B_ADMIN_PASSWORD).await;
    let made = f
        .call(
            Method::POST,
            "/api/v1/users",
            &b_admin,
            Some(json!({"email": B_USER, "password": B_USER_PASSWORD})),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text());
    assert_eq!(made.json()["user"]["org_id"], org_b);
    let b_user = access_token(&f.client, B_USER, B_USER_PASSWORD).await;
    let (_, b_key) = api_key(&f, &b_admin, "b-key").await;

    let document = f.client.get("/api/v1/openapi.json").await.unwrap().json();
    let operations = naming_operations(&document, &a);
    assert!(
        operations.len() >= 15,
        "only {} operations found",
        operations.len()
    );
    for (caller, token) in [
        ("B's admin", &b_admin),
        ("B's API key", &b_key),
        ("B's user", &b_user),
    ] {
        for (method, path, body) in &operations {
            let reply = as_caller(&f, method, path, token, body).await;
            assert!(
                reply.status == 403 || reply.status == 404,
                "{caller}: {method} {path} answered {}: {}",
                reply.status,
                reply.text()
            );
            // An administrator of B passes every permission check in B, so
            // anything of A must be plain "not found". Forbidden outright:
            // operations spanning organizations, and naming another owner
            // for a key of one's own.
            // (Operations across organizations: `/api/v1/orgs` and
            // everything under `/api/v1/platform/`.)
            let spans = path == "/api/v1/orgs" || path.starts_with("/api/v1/platform/");
            let own_key = path == "/api/v1/me/api-keys";
            if caller == "B's admin" && !spans && !own_key {
                assert_eq!(
                    reply.status,
                    404,
                    "{caller}: {method} {path}: {}",
                    reply.text()
                );
            }
            if spans || own_key {
                assert_eq!(reply.status, 403, "{caller}: {method} {path}");
            }
        }
    }

    // Organization A is as it was.
    let org = f
        .call(Method::GET, "/api/v1/orgs/org_default", &f.admin, None)
        .await;
    assert_eq!(org.status, 200);
    assert_eq!(org.json()["name"], "default");
    let alice = f
        .call(
            Method::GET,
            &format!("/api/v1/users/{}", a.user),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(alice.json()["disabled"], false, "{}", alice.text());
    assert!(alice.json()["display_name"].is_null(), "{}", alice.text());
    assert_eq!(alice.json()["groups"], json!(["ops"]));
    for credential in [&a.user_token, &a.key] {
        let me = f.call(Method::GET, "/api/v1/me", credential, None).await;
        assert_eq!(
            me.status,
            200,
            "A's session and key still work: {}",
            me.text()
        );
    }
    assert_eq!(login(&f.client, ALICE, ALICE_PASSWORD).await.status, 200);
    for path in [
        format!("/api/v1/environments/{}", a.environment),
        format!("/api/v1/connections/{}", a.connection),
        format!("/api/v1/roles/{}", a.role),
    ] {
        let still = f.call(Method::GET, &path, &f.admin, None).await;
        assert_eq!(still.status, 200, "{path} survived B: {}", still.text());
        assert!(
            !still.text().contains("set-by-b"),
            "{path} was changed by B: {}",
            still.text()
        );
    }
    let bindings = f
        .call(Method::GET, "/api/v1/bindings", &f.admin, None)
        .await
        .json();
    let ids: Vec<&str> = bindings["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&a.binding.as_str()), "A's binding survived B");
    let orgs = f.call(Method::GET, "/api/v1/orgs", &f.admin, None).await;
    assert_eq!(
        orgs.json()["orgs"].as_array().unwrap().len(),
        2,
        "no org was created by B"
    );
    assert_eq!(
        code(&as_caller(&f, &Method::GET, "/api/v1/orgs", &b_admin, &None).await),
        "forbidden"
    );
}

#[tokio::test]
async fn only_platform_operators_span_organizations() {
    let f = Fixture::start().await;
    let created = f
        .call(
            Method::POST,
            "/api/v1/orgs",
            &f.admin,
            Some(json!({"name": "tenant-c"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert!(created.json()["first_admin"].is_null());
    let org_c = created.json()["org"]["id"].as_str().unwrap().to_string();

    // The bootstrap administrator is a platform operator: every org.
    let listed = f.call(Method::GET, "/api/v1/orgs", &f.admin, None).await;
    assert_eq!(listed.status, 200);
    let other = f
        .call(
            Method::GET,
            &format!("/api/v1/orgs/{org_c}"),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(other.status, 200, "{}", other.text());

    // Not through an API key, and not an ordinary administrator.
    let (_, admin_key) = api_key(&f, &f.admin, "platform?").await;
    for (method, path) in [
        (Method::GET, "/api/v1/orgs".to_string()),
        (Method::GET, format!("/api/v1/orgs/{org_c}")),
    ] {
        let reply = f.call(method, &path, &admin_key, None).await;
        assert!(
            reply.status == 403 || reply.status == 404,
            "{path}: {}",
            reply.text()
        );
    }
    let second = f
        .create_user(
            "second-admin@a.example",
            "quartz meadow 19 falcon",
            &["admins"],
        )
        .await;
    let second_token = access_token(
        &f.client,
        "second-admin@a.example",
        "quartz meadow 19 falcon",
    )
    .await;
    assert_eq!(
        f.call(Method::GET, "/api/v1/orgs", &second_token, None)
            .await
            .status,
        403
    );
    let denied = f
        .call(
            Method::POST,
            "/api/v1/orgs",
            &second_token,
            Some(json!({"name": "tenant-d"})),
        )
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        f.call(
            Method::GET,
            &format!("/api/v1/orgs/{org_c}"),
            &second_token,
            None
        )
        .await
        .status,
        404
    );
    let own = f
        .call(Method::GET, "/api/v1/orgs/org_default", &second_token, None)
        .await;
    assert_eq!(
        own.status, 200,
        "an administrator sees their own organization"
    );

    // Only a platform operator can grant the capability.
    let grant = json!({"platform_operator": true});
    let refused = f
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{second}"),
            &second_token,
            Some(grant.clone()),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    let granted = f
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{second}"),
            &f.admin,
            Some(grant),
        )
        .await;
    assert_eq!(granted.status, 200, "{}", granted.text());
    assert_eq!(granted.json()["platform_operator"], true);
    let now_operator = access_token(
        &f.client,
        "second-admin@a.example",
        "quartz meadow 19 falcon",
    )
    .await;
    assert_eq!(
        f.call(Method::GET, "/api/v1/orgs", &now_operator, None)
            .await
            .status,
        200
    );
    let _ = (ADMIN_EMAIL, ADMIN_PASSWORD);
}

#[tokio::test]
async fn proxied_routes_name_the_callers_own_organization() {
    let f = Fixture::start().await;
    let reply = f.call(Method::GET, "/v1/org-items/7", &f.admin, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let log = f.gateway.log();
    assert!(
        log.contains("orgs/org_default/items/7"),
        "the authorizer was asked about the caller's organization:\n{log}"
    );
}
