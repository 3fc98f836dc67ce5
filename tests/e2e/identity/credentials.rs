//! Zero-knowledge connection credentials: the trust key made and used on
//! the customer's side (`portcullis trust`), agent keys enrolled only with
//! its endorsement, credentials sealed by `portcullis seal` to exactly the
//! endorsed keys and opened only by those agents (`portcullis-agent`), and
//! a gateway that refuses plaintext unless told otherwise and has no code
//! that opens a credential.

use super::{Fixture, code};
use crate::paths;
use http::Method;
use portcullis_agent::{AgentKeyPair, Expected, OpenError};
use portcullis_sealing::seal::{Destination, seal};
use portcullis_sealing::{SealedCredential, TrustKeyPair};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Nothing needs the second factor, so the administrator's password
/// sign-in can set the trust key.
const NO_MFA: &str = "\n[authz]\nmfa_required = []\n";
const ORG: &str = "org_default";

async fn fixture() -> Fixture {
    Fixture::start_rbac(NO_MFA, "", "").await
}

/// Runs the gateway binary with `args` (and `stdin`, with the admin's
/// token in the environment); its output.
fn portcullis(args: &[&str], stdin: Option<&[u8]>, token: Option<&str>) -> std::process::Output {
    use std::io::Write as _;
    let mut command = std::process::Command::new(paths::binary());
    command
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("PORTCULLIS_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(token) = token {
        command.env("PORTCULLIS_TOKEN", token);
    }
    let mut child = command.spawn().expect("run portcullis");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn succeeded(output: &std::process::Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The customer's machine: a trust key made by `portcullis trust init`.
struct Customer {
    dir: tempfile::TempDir,
}

impl Customer {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("trust");
        let printed = succeeded(
            &portcullis(
                &["trust", "init", "--out-dir", out.to_str().unwrap()],
                None,
                None,
            ),
            "trust init",
        );
        let customer = Self { dir };
        assert_eq!(printed.trim(), customer.public_key());
        customer
    }

    fn private_key(&self) -> PathBuf {
        self.dir.path().join("trust/trust-key.pem")
    }

    fn public_key_file(&self) -> PathBuf {
        self.dir.path().join("trust/trust-key.pub")
    }

    fn public_key(&self) -> String {
        std::fs::read_to_string(self.public_key_file())
            .unwrap()
            .trim()
            .to_string()
    }

    /// `portcullis trust sign-agent`: the enrollment body.
    fn endorse(&self, env: &str, agent: &AgentKeyPair) -> Value {
        let printed = succeeded(
            &portcullis(
                &[
                    "trust",
                    "sign-agent",
                    "--trust-key",
                    self.private_key().to_str().unwrap(),
                    "--org",
                    ORG,
                    "--environment",
                    env,
                    "--agent-public-key",
                    &agent.public().to_base64url(),
                ],
                None,
                None,
            ),
            "trust sign-agent",
        );
        serde_json::from_str(&printed).unwrap()
    }

    /// `portcullis seal` of `credential` for `conn`, as the admin.
    fn seal(&self, f: &Fixture, conn: &str, credential: &[u8]) -> std::process::Output {
        let gateway = format!("https://127.0.0.1:{}", f.gateway.addr.port());
        let ca = ca_file(f);
        portcullis(
            &[
                "seal",
                "--gateway",
                &gateway,
                "--connection",
                conn,
                "--trust-public-key",
                self.public_key_file().to_str().unwrap(),
                "--ca-file",
                ca.to_str().unwrap(),
            ],
            Some(credential),
            Some(&f.admin),
        )
    }
}

/// The gateway's self-signed certificate, the CA `portcullis seal` trusts.
fn ca_file(f: &Fixture) -> PathBuf {
    let path = f.gateway.dir().join("data/tls/cert.pem");
    assert!(path.exists(), "{}", path.display());
    path
}

impl Fixture {
    async fn json(&self, method: Method, path: &str, body: Option<Value>, status: u16) -> Value {
        let reply = self.call(method, path, &self.admin, body).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.text());
        if reply.text().is_empty() {
            Value::Null
        } else {
            reply.json()
        }
    }

    async fn set_trust_key(&self, public_key: &str) {
        let settings = self
            .json(
                Method::PATCH,
                &format!("/api/v1/orgs/{ORG}/sealing"),
                Some(json!({"trust_public_key": public_key})),
                200,
            )
            .await;
        assert_eq!(settings["trust_public_key"], public_key);
        assert!(
            settings["trust_key_id"]
                .as_str()
                .unwrap()
                .starts_with("trk_")
        );
        assert_eq!(settings["server_side_sealing"], false, "off by default");
    }

    async fn new_environment(&self, name: &str) -> String {
        self.json(
            Method::POST,
            "/api/v1/environments",
            Some(json!({"name": name})),
            201,
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn new_connection(&self, env: &str, name: &str) -> String {
        self.json(
            Method::POST,
            &format!("/api/v1/environments/{env}/connections"),
            Some(json!({"name": name, "kind": "postgres", "host": "orders-db.internal", "port": 5432})),
            201,
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn enroll(&self, env: &str, body: Value) -> Value {
        self.json(
            Method::POST,
            &format!("/api/v1/environments/{env}/agent-keys"),
            Some(body),
            201,
        )
        .await
    }

    async fn credential(&self, conn: &str) -> Value {
        self.json(
            Method::GET,
            &format!("/api/v1/connections/{conn}/credential"),
            None,
            200,
        )
        .await
    }

    async fn put_credential(&self, conn: &str, body: Value) -> super::Reply {
        self.call(
            Method::PUT,
            &format!("/api/v1/connections/{conn}/credential"),
            &self.admin,
            Some(body),
        )
        .await
    }
}

fn sealed_of(view: &Value) -> SealedCredential {
    serde_json::from_value(view["sealed"].clone()).unwrap()
}

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if std::fs::read(&path)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test]
async fn a_credential_sealed_on_the_customers_side_opens_only_with_its_agents_keys() {
    let f = fixture().await;
    let customer = Customer::new();
    f.set_trust_key(&customer.public_key()).await;
    let env = f.new_environment("prod").await;
    let conn = f.new_connection(&env, "orders").await;
    let other_conn = f.new_connection(&env, "billing").await;

    let (a, b, outsider) = (
        AgentKeyPair::generate(),
        AgentKeyPair::generate(),
        AgentKeyPair::generate(),
    );
    for agent in [&a, &b] {
        let enrolled = f.enroll(&env, customer.endorse(&env, agent)).await;
        assert_eq!(enrolled["id"], agent.public().id().as_str());
        assert_eq!(enrolled["trusted"], true);
    }

    let password = b"pg-orders-Vq7#tz94-credential";
    let output = customer.seal(&f, &conn, password);
    succeeded(&output, "portcullis seal");
    let stored = f.credential(&conn).await;
    assert_eq!(stored["form"], "sealed");
    assert_eq!(stored["version"], 1);
    assert_eq!(stored["sealed_by"], "customer");
    assert_eq!(stored["missing_recipients"], json!([]));
    assert_eq!(stored["unknown_recipients"], json!([]));
    let sealed = sealed_of(&stored);
    assert_eq!(sealed.recipients.len(), 2);

    let here = Expected {
        org: ORG,
        environment: &env,
        connection: &conn,
    };
    for agent in [&a, &b] {
        assert_eq!(agent.open(&sealed, &here).unwrap().as_slice(), password);
    }
    assert_eq!(
        outsider.open(&sealed, &here),
        Err(OpenError::NotARecipient(outsider.public().id().to_string()))
    );

    // The gateway cannot tell a seal moved to another connection (it
    // cannot open one), so it stores it; the agent refuses it.
    let moved = f
        .put_credential(&other_conn, json!({"sealed": sealed}))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text());
    let moved = sealed_of(&f.credential(&other_conn).await);
    let there = Expected {
        connection: &other_conn,
        ..here
    };
    assert!(matches!(
        a.open(&moved, &there),
        Err(OpenError::Integrity { .. })
    ));

    // An old credential cannot be replayed over a newer one.
    let replayed = f.put_credential(&conn, json!({"sealed": sealed})).await;
    assert_eq!(replayed.status, 409, "{}", replayed.text());
    assert_eq!(code(&replayed), "credential_version_conflict");

    // Sealing again moves to version 2; the agents open the new one.
    succeeded(&customer.seal(&f, &conn, b"rotated-pw-2"), "seal again");
    let second = sealed_of(&f.credential(&conn).await);
    assert_eq!(second.version, 2);
    assert_eq!(a.open(&second, &here).unwrap().as_slice(), b"rotated-pw-2");

    // The plaintext is in no file of the data directory, nor the log.
    let data = f.gateway.dir().join("data");
    assert_eq!(files_containing(&data, password), Vec::<PathBuf>::new());
    f.assert_not_logged(&[std::str::from_utf8(password).unwrap()]);
}

#[tokio::test]
async fn an_agent_key_the_trust_key_did_not_endorse_is_never_sealed_to() {
    let f = fixture().await;
    let customer = Customer::new();
    f.set_trust_key(&customer.public_key()).await;
    let env = f.new_environment("prod").await;
    let other_env = f.new_environment("staging").await;
    let conn = f.new_connection(&env, "orders").await;
    let agent = AgentKeyPair::generate();
    f.enroll(&env, customer.endorse(&env, &agent)).await;

    // The gateway refuses an endorsement by another key, or for another
    // environment, or a tampered one.
    let intruder_trust = TrustKeyPair::generate().unwrap();
    let intruder = AgentKeyPair::generate();
    let forged = json!({
        "public_key": intruder.public().to_base64url(),
        "endorsement": intruder_trust.endorse(ORG, &env, &intruder.public()).to_base64url(),
    });
    let elsewhere = customer.endorse(&other_env, &intruder);
    let mut tampered = customer.endorse(&env, &intruder);
    tampered["public_key"] = AgentKeyPair::generate().public().to_base64url().into();
    for body in [forged.clone(), elsewhere, tampered] {
        let refused = f
            .call(
                Method::POST,
                &format!("/api/v1/environments/{env}/agent-keys"),
                &f.admin,
                Some(body),
            )
            .await;
        assert_eq!(refused.status, 422, "{}", refused.text());
        assert_eq!(code(&refused), "endorsement_invalid");
    }
    // Enrolling needs a trust key, and the same key twice is a conflict.
    let again = f
        .call(
            Method::POST,
            &format!("/api/v1/environments/{env}/agent-keys"),
            &f.admin,
            Some(customer.endorse(&env, &agent)),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.text());
    assert_eq!(code(&again), "agent_key_exists");

    // A control plane that swaps the trust key for its own can enroll the
    // intruder's key — but `portcullis seal` checks against the key pinned
    // on the customer's machine, refuses, and uploads nothing.
    f.set_trust_key(&intruder_trust.public().to_base64url())
        .await;
    f.enroll(&env, forged).await;
    let listed = f
        .json(
            Method::GET,
            &format!("/api/v1/environments/{env}/agent-keys"),
            None,
            200,
        )
        .await;
    let mut trusted: Vec<(String, bool)> = listed["agent_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["id"].as_str().unwrap().to_string(),
                k["trusted"].as_bool().unwrap(),
            )
        })
        .collect();
    trusted.sort();
    let mut expected = vec![
        (agent.public().id().to_string(), false),
        (intruder.public().id().to_string(), true),
    ];
    expected.sort();
    assert_eq!(trusted, expected);
    let output = customer.seal(&f, &conn, b"never-sealed-to-the-intruder");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to seal") && stderr.contains(intruder.public().id().as_str()),
        "{stderr}"
    );
    let none = f
        .call(
            Method::GET,
            &format!("/api/v1/connections/{conn}/credential"),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(none.status, 404, "nothing was uploaded: {}", none.text());

    // A credential sealed to the customer's agent alone is now refused by
    // the gateway: that key is no longer trusted there.
    let to_agent = seal(
        b"pw",
        &Destination {
            org: ORG,
            environment: &env,
            connection: &conn,
            version: 1,
        },
        &[agent.public()],
    )
    .unwrap();
    let refused = f.put_credential(&conn, json!({"sealed": to_agent})).await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert_eq!(code(&refused), "recipients_mismatch");
}

#[tokio::test]
async fn plaintext_references_and_tenants_are_held_to_their_rules() {
    let f = fixture().await;
    let customer = Customer::new();
    f.set_trust_key(&customer.public_key()).await;
    let env = f.new_environment("prod").await;
    let conn = f.new_connection(&env, "orders").await;
    let (a, b) = (AgentKeyPair::generate(), AgentKeyPair::generate());
    for agent in [&a, &b] {
        f.enroll(&env, customer.endorse(&env, agent)).await;
    }

    // Plaintext is refused by default, and says what to do instead.
    let plaintext = "server-side-Xk29-secret";
    let refused = f
        .put_credential(&conn, json!({"plaintext": plaintext}))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(code(&refused), "server_side_sealing_disabled");
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("portcullis seal")
    );

    // A customer-side seal must cover every trusted agent key.
    let destination = Destination {
        org: ORG,
        environment: &env,
        connection: &conn,
        version: 1,
    };
    let to_a_only = seal(b"pw", &destination, &[a.public()]).unwrap();
    let partial = f.put_credential(&conn, json!({"sealed": to_a_only})).await;
    assert_eq!(partial.status, 422, "{}", partial.text());
    assert_eq!(code(&partial), "recipients_mismatch");
    assert!(
        partial.text().contains(b.public().id().as_str()),
        "{}",
        partial.text()
    );
    let mut malformed =
        serde_json::to_value(seal(b"pw", &destination, &[a.public(), b.public()]).unwrap())
            .unwrap();
    malformed["recipients"][1]["enc"] = "c2hvcnQ".into();
    let malformed = f.put_credential(&conn, json!({"sealed": malformed})).await;
    assert_eq!(malformed.status, 400, "{}", malformed.text());
    assert!(
        malformed.text().contains("recipients[1].enc"),
        "{}",
        malformed.text()
    );

    // With server-side sealing on, the plaintext is sealed at once to the
    // trusted agent keys, and stored nowhere.
    f.json(
        Method::PATCH,
        &format!("/api/v1/orgs/{ORG}/sealing"),
        Some(json!({"server_side_sealing": true})),
        200,
    )
    .await;
    let accepted = f
        .put_credential(&conn, json!({"plaintext": plaintext}))
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    let stored = accepted.json();
    assert_eq!(stored["sealed_by"], "gateway");
    assert!(!accepted.text().contains(plaintext));
    let here = Expected {
        org: ORG,
        environment: &env,
        connection: &conn,
    };
    for agent in [&a, &b] {
        let opened = agent.open(&sealed_of(&stored), &here).unwrap();
        assert_eq!(opened.as_slice(), plaintext.as_bytes());
    }
    let data = f.gateway.dir().join("data");
    assert_eq!(
        files_containing(&data, plaintext.as_bytes()),
        Vec::<PathBuf>::new()
    );
    f.assert_not_logged(&[plaintext]);

    // A reference only the agent resolves; a malformed one says what is
    // expected.
    let reference = f
        .put_credential(
            &conn,
            json!({"reference": "aws-sm://prod/orders-db#password"}),
        )
        .await;
    assert_eq!(reference.status, 200, "{}", reference.text());
    assert_eq!(reference.json()["form"], "reference");
    assert_eq!(reference.json()["version"], 2);
    let bad = f
        .put_credential(&conn, json!({"reference": "vault://orders"}))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("aws-sm://"), "{}", bad.text());
    let two_forms = f
        .put_credential(&conn, json!({"reference": "aws-sm://a", "plaintext": "x"}))
        .await;
    assert_eq!(two_forms.status, 400, "{}", two_forms.text());

    // Removing keeps the version counting, so an old seal cannot return.
    f.json(
        Method::DELETE,
        &format!("/api/v1/connections/{conn}/credential"),
        None,
        204,
    )
    .await;
    let removed = f.credential(&conn).await;
    assert_eq!(
        (removed["form"].clone(), removed["version"].clone()),
        (json!("removed"), json!(3))
    );
    let stale = f.put_credential(&conn, json!({"sealed": to_a_only})).await;
    assert_eq!(code(&stale), "credential_version_conflict");

    // Another organization sees nothing of this one's keys and credentials.
    let (_, other_admin) = f
        .second_org("Globex", "root@globex.example", "another long passphrase 7")
        .await;
    for (method, path, body) in [
        (
            Method::GET,
            format!("/api/v1/connections/{conn}/credential"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/connections/{conn}/credential"),
            Some(json!({"reference": "aws-sm://theirs"})),
        ),
        (
            Method::GET,
            format!("/api/v1/environments/{env}/agent-keys"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/environments/{env}/agent-keys"),
            Some(customer.endorse(&env, &AgentKeyPair::generate())),
        ),
    ] {
        let reply = f.call(method.clone(), &path, &other_admin, body).await;
        assert!(
            reply.status == 404 || reply.status == 403,
            "{method} {path}: {} {}",
            reply.status,
            reply.text()
        );
    }
    let theirs = f
        .call(
            Method::GET,
            &format!("/api/v1/orgs/{ORG}/sealing"),
            &other_admin,
            None,
        )
        .await;
    assert!(
        theirs.status == 403 || theirs.status == 404,
        "{}",
        theirs.text()
    );
}

/// The gateway crate's dependencies (normal and build, transitively), by
/// package name, from `cargo metadata`.
fn gateway_dependencies() -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The host's platform only: the packages it needs are the ones built,
    // so nothing is downloaded.
    let host = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8(host.stdout).unwrap();
    let host = host
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc names its host");
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", host])
        .current_dir(paths::repo())
        .output()
        .expect("cargo metadata");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: std::collections::HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: std::collections::HashMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root = names
        .iter()
        .find(|(_, name)| **name == "portcullis")
        .map(|(id, _)| *id)
        .expect("the gateway package");
    let mut seen = std::collections::HashSet::new();
    let mut pending = vec![root];
    while let Some(id) = pending.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let not_dev_only = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].as_str() != Some("dev"));
            let dep_id = dep["pkg"].as_str().unwrap();
            if not_dev_only && seen.insert(dep_id) {
                pending.push(dep_id);
            }
        }
    }
    seen.into_iter().map(|id| names[id].to_string()).collect()
}

#[test]
fn the_gateway_has_no_code_that_opens_a_sealed_credential() {
    let dependencies = gateway_dependencies();
    assert!(
        dependencies.iter().any(|d| d == "portcullis-sealing"),
        "the walk found the gateway's dependencies: {dependencies:?}"
    );
    assert!(
        !dependencies.iter().any(|d| d == "portcullis-agent"),
        "the gateway crate depends on the agent's opening code"
    );
    // Nor does it (or the sealing crate it uses) call HPKE's receiving side.
    for dir in ["gateway/src", "sealing/src"] {
        let mut pending = vec![paths::repo().join(dir)];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    for opener in ["single_shot_open", "setup_receiver", "OpModeR"] {
                        assert!(!text.contains(opener), "{} uses {opener}", path.display());
                    }
                }
            }
        }
    }
}
