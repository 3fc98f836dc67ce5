//! The API keeps the contract its OpenAPI document states: schemathesis
//! (pinned, installed by `make test-deps`) generates requests from
//! `/api/v1/openapi.json` — valid ones and ones that break the schema —
//! and checks every answer: no 5xx, statuses, content types and bodies as
//! documented, invalid input refused, valid input accepted. The few rules
//! no schema can state are listed in `tests/schemathesis.toml`.

use super::{Fixture, code};
use http::Method;
use std::io::Write;

/// Test cases per operation; each run is seeded, so it is repeatable.
const EXAMPLES_PER_OPERATION: &str = "25";

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_contract_violation() {
    let f = Fixture::start().await;
    // Something for the operations on users to find (tests/schemathesis.toml
    // points `{user_id}` at it).
    let victim = f
        .create_user("victim@example.com", "indigo falcon 27 marsh", &["ops"])
        .await;
    // Schemathesis keeps a cache in its working directory: a temporary one.
    let workdir = tempfile::tempdir().unwrap();

    let mut ca = tempfile::NamedTempFile::new().unwrap();
    let pem = std::fs::read_to_string(f.gateway.dir().join("data/tls/cert.pem")).unwrap();
    ca.write_all(pem.as_bytes()).unwrap();
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemathesis.toml");
    let url = format!(
        "https://localhost:{}/api/v1/openapi.json",
        f.gateway.addr.port()
    );
    let authorization = format!("Authorization: Bearer {}", f.admin);

    let mut command = tokio::process::Command::new("python3");
    command
        .current_dir(workdir.path())
        .env("PORTCULLIS_SCHEMATHESIS_USER_ID", &victim);
    if let Ok(path) = std::env::var("PORTCULLIS_TEST_PYTHONPATH") {
        command.env("PYTHONPATH", path);
    }
    let output = command
        .args(["-m", "schemathesis.cli", "--no-color", "--config-file"])
        .arg(&config)
        .args(["run", &url, "--header", &authorization, "--tls-verify"])
        .arg(ca.path())
        .args([
            "--max-examples",
            EXAMPLES_PER_OPERATION,
            "--seed",
            "20261201",
            "--generation-database",
            "none",
            // The stateful phase chains calls and ends the administrator's
            // own session halfway (as it may); the rest would then be 401.
            "--phases",
            "examples,coverage,fuzzing",
            "--exclude-path",
            "/auth/logout",
            "--exclude-path",
            "/auth/sso/logout",
            "--checks",
            "all",
            "--exclude-checks",
            // These need a second identity and resources schemathesis
            // cannot create; tenant isolation has its own test.
            "ignored_auth,object_level_authorization,use_after_free,ensure_resource_availability",
            "--workers",
            "1",
        ])
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run schemathesis (make test-deps installs it): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{text}"
    );
    // The summary's "N generated, N passed" line.
    let generated: u64 = text
        .lines()
        .find_map(|line| line.trim().split_once(" generated, ")?.0.parse().ok())
        .unwrap_or_else(|| panic!("no test case count in:\n{text}"));
    assert!(generated >= 500, "only {generated} test cases:\n{text}");
    println!("schemathesis: {generated} test cases, no failures");
    assert!(!text.contains("failures"), "{text}");
    f.assert_not_logged(&["indigo falcon 27 marsh"]);
}

#[tokio::test]
async fn bodies_of_another_json_kind_or_with_null_for_a_value_are_refused() {
    let f = Fixture::start().await;
    let bearer = format!("Bearer {}", f.admin);
    for body in [
        "[null, true]",
        "[\"renamed\"]",
        "\"renamed\"",
        "42",
        "null",
        "{\"mfa_required\": null}",
    ] {
        let reply = f
            .client
            .send(
                Method::PATCH,
                "/api/v1/orgs/org_default",
                &[
                    ("authorization", &bearer),
                    ("content-type", "application/json"),
                ],
                body.as_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        assert_eq!(code(&reply), "bad_request", "{body}");
    }
    let org = f
        .call(Method::GET, "/api/v1/orgs/org_default", &f.admin, None)
        .await;
    assert_eq!(org.json()["name"], "default");
    assert_eq!(org.json()["mfa_required"], false);
}
