//! Encryption at rest, end to end: what the API is given never reaches a
//! file of the data directory in the clear, and `portcullis keys rotate`
//! run beside a serving gateway loses no request and leaves every record
//! readable, all of them re-sealed under the new data key.

use super::{ADMIN_EMAIL, Fixture, access_token, call};
use crate::paths;
use http::Method;
use portcullis_tests::oidc::OidcProvider;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn known_plaintexts_written_through_the_api_never_reach_the_data_directory() {
    let provider = OidcProvider::shared();
    let egress = format!("http://{}", provider.authority());
    let block = format!(
        "{}{}",
        super::rbac_authorizer(),
        super::oidc_template(&[&egress])
    );
    let f = Fixture::start_authorized("\n[authz]\nmfa_required = []\n", &block, "").await;

    let password = "plaintext-password-marker-77";
    let email = "carol.atrest@example.com";
    let display_name = "Carol Atrest-Marker";
    let created = f
        .call(
            Method::POST,
            "/api/v1/users",
            &f.admin,
            Some(json!({"email": email, "password": password, "display_name": display_name, "groups": ["admins"]})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let carol = access_token(&f.client, email, password).await;
    let totp_secret = f.enroll_totp(&carol).await;
    let role = f
        .call(
            Method::POST,
            "/api/v1/roles",
            &f.admin,
            Some(json!({"name": "role-marker-atrest", "permissions": ["connections:read"]})),
        )
        .await;
    assert_eq!(role.status, 201, "{}", role.text());
    let env = f
        .call(
            Method::POST,
            "/api/v1/environments",
            &f.admin,
            Some(json!({"name": "env-marker-atrest"})),
        )
        .await;
    assert_eq!(env.status, 201, "{}", env.text());
    let env_id = env.json()["id"].as_str().unwrap().to_string();
    let conn = f
        .call(
            Method::POST,
            &format!("/api/v1/environments/{env_id}/connections"),
            &f.admin,
            Some(json!({"name": "orders", "kind": "postgres", "host": "db-marker-atrest.internal", "port": 5432})),
        )
        .await;
    assert_eq!(conn.status, 201, "{}", conn.text());
    let client_secret = "idp-client-secret-marker-atrest";
    let idp = f
        .call(
            Method::POST,
            "/api/v1/identity-providers",
            &f.admin,
            Some(json!({
                "name": "okta-marker-atrest",
                "plugin": "oidc",
                "config": {"preset": "okta", "issuer": provider.issuer, "client_id": "client-atrest"},
                "secrets": {"client_secret": client_secret},
            })),
        )
        .await;
    assert_eq!(idp.status, 201, "{}", idp.text());

    // What was written reads back through the API.
    let users = f
        .call(Method::GET, "/api/v1/users", &f.admin, None)
        .await
        .json();
    assert!(users.to_string().contains(display_name), "{users}");
    let connection: Value = f
        .call(
            Method::GET,
            &format!("/api/v1/environments/{env_id}/connections"),
            &f.admin,
            None,
        )
        .await
        .json();
    assert!(connection.to_string().contains("db-marker-atrest.internal"));

    let data = f.gateway.dir().join("data");
    let mut checked = 0;
    for file in files(&data) {
        let bytes = std::fs::read(&file).unwrap();
        for plaintext in [
            password,
            email,
            display_name,
            totp_secret.as_str(),
            "role-marker-atrest",
            "env-marker-atrest",
            "db-marker-atrest",
            client_secret,
            "okta-marker-atrest",
            ADMIN_EMAIL,
        ] {
            assert!(
                !bytes
                    .windows(plaintext.len())
                    .any(|w| w.eq_ignore_ascii_case(plaintext.as_bytes())),
                "`{plaintext}` is in {} in the clear",
                file.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 3, "the store, its WAL and the keys were read");
}

/// `portcullis keys ARGS --config` on the fixture's configuration.
fn keys(f: &Fixture, args: &[&str]) -> std::process::Output {
    std::process::Command::new(paths::binary())
        .arg("keys")
        .args(args)
        .arg("--config")
        .arg(f.gateway.dir().join("portcullis.toml"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("run portcullis keys")
}

/// Values each data key seals, from `keys status --json`.
fn sealed_by(f: &Fixture) -> (Vec<(String, bool)>, std::collections::BTreeMap<String, i64>) {
    let output = keys(f, &["status", "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let status: Value = serde_json::from_slice(&output.stdout).unwrap();
    let data_keys = status["data_keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["purpose"] == "records")
        .map(|k| {
            (
                k["id"].as_str().unwrap().to_string(),
                k["current"].as_bool().unwrap(),
            )
        })
        .collect();
    let mut values = std::collections::BTreeMap::new();
    for usage in status["usage"].as_array().unwrap() {
        *values
            .entry(usage["key"].as_str().unwrap().to_string())
            .or_default() += usage["values"].as_i64().unwrap();
    }
    (data_keys, values)
}

#[tokio::test]
async fn keys_rotate_while_traffic_runs_loses_no_request_and_every_record_stays_readable() {
    let f = Arc::new(Fixture::start().await);
    for i in 0..40 {
        let created = f
            .call(
                Method::POST,
                "/api/v1/environments",
                &f.admin,
                Some(json!({"name": format!("before-{i}")})),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
    }
    let (before, _) = sealed_by(&f);
    assert_eq!(before.len(), 1, "{before:?}");
    let old_key = before[0].0.clone();

    // Reads and writes from four clients until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for client in 0..4 {
        let (f, stop, served) = (f.clone(), stop.clone(), served.clone());
        clients.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let reply = if n % 3 == 0 {
                    f.call(
                        Method::POST,
                        "/api/v1/environments",
                        &f.admin,
                        Some(json!({"name": format!("during-{client}-{n}")})),
                    )
                    .await
                } else {
                    call(
                        &f.client,
                        Method::GET,
                        "/api/v1/environments",
                        Some(&f.admin),
                        None,
                    )
                    .await
                };
                if !matches!(reply.status.as_u16(), 200 | 201) {
                    failures.push(format!("{}: {}", reply.status, reply.text()));
                }
                served.fetch_add(1, Ordering::SeqCst);
            }
            failures
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rotated = tokio::task::spawn_blocking({
        let f = f.clone();
        move || keys(&f, &["rotate"])
    })
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&rotated.stdout).to_string();
    assert!(
        rotated.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(printed.contains("new data key dk_"), "{printed}");
    // Past the gateway's next key check, so it seals under the new key.
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, Ordering::SeqCst);
    let mut failures = Vec::new();
    for client in clients {
        failures.extend(client.await.unwrap());
    }
    assert!(failures.is_empty(), "requests failed: {failures:?}");
    assert!(served.load(Ordering::SeqCst) > 40, "traffic ran throughout");

    // Everything still reads, and soon nothing is sealed under the old key.
    let listed = f
        .call(Method::GET, "/api/v1/environments", &f.admin, None)
        .await;
    assert_eq!(listed.status, 200);
    for i in 0..40 {
        assert!(
            listed.text().contains(&format!("\"before-{i}\"")),
            "before-{i}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (data_keys, values) = sealed_by(&f);
        let current: Vec<_> = data_keys.iter().filter(|(_, c)| *c).collect();
        assert_eq!(current.len(), 1, "{data_keys:?}");
        assert_ne!(current[0].0, old_key, "the new key is current");
        if values.get(&old_key).copied().unwrap_or(0) == 0 {
            assert!(!values.contains_key("unsealed"), "{values:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "values still sealed under the old key: {values:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (_, values) = sealed_by(&f);
    assert!(values.values().sum::<i64>() > 40, "{values:?}");
}

#[tokio::test]
async fn a_store_sealed_under_kms_keeps_serving_through_a_kms_outage_and_new_unwraps_fail_clearly()
{
    use portcullis_tests::aws::{ACCESS_KEY_ID, Moto, REGION, SECRET_ACCESS_KEY};
    // Its own KMS, so this test alone can take it down.
    let moto = Moto::start();
    let key_arn = moto.create_key("portcullis store").await;
    let extra = format!(
        r#"
[encryption]
key_provider = "kms"

[plugins.kms]
path = "{path}"
allow_hosts = ["http://{authority}"]
deadline_ms = 10000

[plugins.kms.config]
region = "{REGION}"
key_id = "{key_arn}"
endpoint_url = "{endpoint}"
access_key_id = "{ACCESS_KEY_ID}"
secret_access_key = "{SECRET_ACCESS_KEY}"
max_attempts = 1
"#,
        path = paths::component("keys_aws_kms").display(),
        authority = moto.authority(),
        endpoint = moto.endpoint,
    );
    let f = Fixture::start_with(&extra).await;
    // The data keys are KMS-wrapped under that key.
    let output = keys(&f, &["status", "--json"]);
    let status: Value = serde_json::from_slice(&output.stdout).unwrap();
    for key in status["data_keys"].as_array().unwrap() {
        assert_eq!(key["provider"], "kms", "{status}");
        assert_eq!(key["master_key_id"], key_arn.as_str(), "{status}");
    }
    let create = |name: &'static str| {
        let f = &f;
        async move {
            f.call(
                Method::POST,
                "/api/v1/environments",
                &f.admin,
                Some(json!({"name": name})),
            )
            .await
        }
    };
    assert_eq!(create("before-outage").await.status, 201);

    drop(moto);
    // Reads and writes go on from the data keys held in memory.
    assert_eq!(create("during-outage").await.status, 201);
    let listed = f
        .call(Method::GET, "/api/v1/environments", &f.admin, None)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert!(listed.text().contains("before-outage") && listed.text().contains("during-outage"));
    let users = f.call(Method::GET, "/api/v1/users", &f.admin, None).await;
    assert_eq!(users.status, 200, "{}", users.text());
    // What needs the KMS now fails, saying so: another process cannot
    // unwrap the store's keys, so neither rotation nor status run.
    let rotated = keys(&f, &["rotate"]);
    assert!(!rotated.status.success());
    let error = String::from_utf8_lossy(&rotated.stderr);
    assert!(
        error.contains("the key provider is unavailable") && error.contains("`kms`"),
        "{error}"
    );
    assert!(!error.contains(SECRET_ACCESS_KEY), "{error}");
}
