//! The audit log end to end: changes and their events commit together
//! (also across `kill -9`), tampering with the raw database is reported at
//! the right event, bundles verify offline, an unwritable log refuses
//! changes and nothing else, and no secret reaches any audit output.

use super::{ADMIN_EMAIL, ADMIN_PASSWORD, Fixture, access_token, call, code, login};
use crate::paths;
use http::Method;
use portcullis_tests::Gateway;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Checkpoints often, so tests see signed heads without waiting.
const AUDIT: &str = "[audit]\ncheckpoint_every_events = 5\ncheckpoint_interval_secs = 1\n";

/// Runs SQL on the gateway's database with Python's sqlite3 (an
/// independent client, as an attacker with file access would use).
fn sql(db: &Path, script: &str) -> String {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys, json\n\
             c = sqlite3.connect(sys.argv[1], timeout=10)\n\
             script = sys.argv[2]\n\
             if script.lstrip().upper().startswith('SELECT'):\n\
             \x20   print(json.dumps([list(r) for r in c.execute(script)]))\n\
             else:\n\
             \x20   c.executescript(script); c.commit()\n",
            &db.display().to_string(),
            script,
        ])
        .output()
        .expect("run python3 sqlite3");
    assert!(
        output.status.success(),
        "sql failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Marks the forged-insertion case.
const FORGE: &str = "forge";

/// Inserts a forged event at `at` in `org_default`, as someone with the
/// file but not the data keys can: records are sealed, so neither their
/// content nor their hash can be made anew; the event before is copied
/// whole into `at` and the later events moved up.
fn forge(db: &Path, at: i64) {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1]); at = int(sys.argv[2])\n\
             c.execute(\"UPDATE audit_events SET seq = seq + 100000 WHERE chain = 'org_default' AND seq >= ?\", (at,))\n\
             c.execute(\"UPDATE audit_events SET seq = seq - 99999 WHERE chain = 'org_default' AND seq > 100000\")\n\
             row = c.execute(\"SELECT at, org_id, actor, action, resource, outcome, record, prev_hash, hash FROM audit_events WHERE chain = 'org_default' AND seq = ?\", (at - 1,)).fetchone()\n\
             c.execute('INSERT INTO audit_events VALUES (?,?,?,?,?,?,?,?,?,?,?)', ('org_default', at) + tuple(row))\n\
             c.commit()\n",
            &db.display().to_string(),
            &at.to_string(),
        ])
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "forging failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Changes one character of the sealed record of event `seq`.
fn tamper_record(chain: &str, seq: &str) -> String {
    format!(
        "UPDATE audit_events SET record = substr(record, 1, length(record) - 3) ||
             CASE substr(record, length(record) - 2, 1) WHEN 'A' THEN 'B' ELSE 'A' END ||
             substr(record, length(record) - 1)
         WHERE {chain} AND seq = {seq}"
    )
}

fn db(dir: &Path) -> PathBuf {
    dir.join("data/portcullis.db")
}

/// `portcullis audit verify ARGS --json`: exit code and the results.
fn verify(args: &[&str]) -> (i32, Value) {
    let output = std::process::Command::new(paths::binary())
        .args(["audit", "verify", "--json"])
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .expect("run portcullis audit verify");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let value = serde_json::from_str(&text).unwrap_or_else(|_| {
        panic!(
            "verify printed no JSON: {text} {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), value)
}

fn verify_store(dir: &Path) -> (i32, Value) {
    let config = dir.join("portcullis.toml");
    verify(&["--config", &config.display().to_string()])
}

/// The result for `chain` in a verification of every chain.
fn result_for<'a>(results: &'a Value, chain: &str) -> &'a Value {
    results
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["chain"] == chain)
        .unwrap_or_else(|| panic!("no chain {chain} in {results}"))
}

/// Makes `n` administrative changes (environments) in the default
/// organization.
async fn changes(f: &Fixture, n: usize, prefix: &str) {
    for i in 0..n {
        let reply = f
            .call(
                Method::POST,
                "/api/v1/environments",
                &f.admin,
                Some(json!({"name": format!("{prefix}-{i}")})),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
}

#[tokio::test]
async fn tampering_with_the_stored_log_is_reported_at_the_right_event_and_kind() {
    let mut f = Fixture::start_with(AUDIT).await;
    changes(&f, 12, "env").await;
    f.gateway.signal(libc::SIGTERM);
    f.gateway.wait_exit().await;
    let dir = f.gateway.dir();
    let db = db(&dir);

    let (status, results) = verify_store(&dir);
    assert_eq!(status, 0, "an untouched log verifies: {results}");
    let org = result_for(&results, "org_default");
    assert_eq!(org["ok"], true);
    assert_eq!(
        org["signed_to"], org["last"],
        "a clean stop signs the head: {org}"
    );
    let last = org["last"].as_i64().unwrap();
    assert!(last >= 12, "{org}");

    // Everything into the main file, so a copy of it is the whole store.
    sql(&db, "PRAGMA wal_checkpoint(TRUNCATE);");
    let pristine = std::fs::read(&db).unwrap();
    let chain = "chain = 'org_default'";
    let cases: Vec<(String, i64, &str)> = vec![
        (
            tamper_record(
                chain,
                &format!(
                    "(SELECT MAX(seq) FROM audit_events WHERE {chain} AND action = 'record.changed')"
                ),
            ),
            -1,
            "modified",
        ),
        (
            format!(
                "UPDATE audit_events SET actor = 'user:someone_else' WHERE {chain} AND seq = 4"
            ),
            4,
            "modified",
        ),
        (
            format!("DELETE FROM audit_events WHERE {chain} AND seq = 6"),
            6,
            "deleted",
        ),
        (
            format!(
                "UPDATE audit_events SET seq = -1 WHERE {chain} AND seq = 7;
                 UPDATE audit_events SET seq = 7 WHERE {chain} AND seq = 8;
                 UPDATE audit_events SET seq = 8 WHERE {chain} AND seq = -1;"
            ),
            7,
            "reordered",
        ),
        (
            // A copy of event 5 pushed in as event 6 with the rest moved up
            // (see `forge`): reported at the event it copies.
            FORGE.to_string(),
            5,
            "inserted",
        ),
        (
            format!(
                "DELETE FROM audit_events WHERE {chain} AND seq > {}",
                last - 3
            ),
            last - 2,
            "truncated",
        ),
    ];
    for (script, seq, kind) in cases {
        std::fs::write(&db, &pristine).unwrap();
        let _ = std::fs::remove_file(db.with_extension("db-wal"));
        let _ = std::fs::remove_file(db.with_extension("db-shm"));
        if script == FORGE {
            forge(&db, 6);
        } else {
            sql(&db, &script);
        }
        let (status, results) = verify_store(&dir);
        assert_eq!(status, 1, "{kind}: verify must fail: {results}");
        let broken = result_for(&results, "org_default");
        assert_eq!(broken["ok"], false, "{kind}: {broken}");
        assert_eq!(broken["kind"], kind, "{script}: {broken}");
        if seq > 0 {
            assert_eq!(broken["seq"], seq, "{script}: {broken}");
        }
    }
    // The edited record's place: the last change's event.
    std::fs::write(&db, &pristine).unwrap();
    let seq: Value = serde_json::from_str(&sql(
        &db,
        &format!("SELECT MAX(seq) FROM audit_events WHERE {chain} AND action = 'record.changed'"),
    ))
    .unwrap();
    let edited_at = seq[0][0].as_i64().unwrap();
    sql(&db, &tamper_record(chain, &edited_at.to_string()));
    let (_, results) = verify_store(&dir);
    assert_eq!(result_for(&results, "org_default")["seq"], edited_at);
    // Sealed at rest: the names in the events are not in the file.
    let bytes = std::fs::read(&db).unwrap();
    assert!(
        !bytes.windows(5).any(|w| w == b"env-3"),
        "audit records are sealed at rest"
    );
}

#[tokio::test]
async fn bundles_export_and_verify_offline_chained_and_a_changed_event_fails() {
    let f = Fixture::start_with(AUDIT).await;
    changes(&f, 3, "first").await;
    let f = &f;
    let export = |after: i64| async move {
        let path = format!("/api/v1/audit/export?after={after}");
        f.call(Method::GET, &path, &f.admin, None).await
    };
    let first = export(0).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert!(first.text().starts_with('{'));
    let header: Value = serde_json::from_str(first.text().lines().next().unwrap()).unwrap();
    assert_eq!(header["chain"], "org_default");
    let to = header["to"].as_i64().unwrap();
    changes(f, 3, "second").await;
    let second = export(to).await;
    assert_eq!(second.status, 200, "{}", second.text());

    let keys = f
        .client
        .get("/.well-known/portcullis-audit-key")
        .await
        .unwrap();
    assert_eq!(keys.status, 200);
    assert_eq!(keys.json()["algorithm"], "Ed25519");

    // Offline: files and the public key only, no gateway involved.
    let offline = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = offline.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let key = file("audit-key.json", &keys.text());
    let one = file("one.jsonl", &first.text());
    let two = file("two.jsonl", &second.text());
    let (status, result) = verify(&["--bundle", &one, "--bundle", &two, "--key", &key]);
    assert_eq!(status, 0, "{result}");
    assert_eq!(result[0]["ok"], true);

    // Out of order, the bundles do not chain.
    let (status, result) = verify(&["--bundle", &two, "--bundle", &one, "--key", &key]);
    assert_eq!(status, 1, "{result}");

    // One event changed: the bundle fails offline, at that event.
    let changed_text = second.text().replacen("second-1", "second-9", 1);
    assert_ne!(changed_text, second.text());
    let changed = file("changed.jsonl", &changed_text);
    let (status, result) = verify(&["--bundle", &one, "--bundle", &changed, "--key", &key]);
    assert_eq!(status, 1, "{result}");
    assert_eq!(result[0]["kind"], "modified", "{result}");

    // Another key (a rotation's new one alone) does not verify the old bundle.
    let rotated = f
        .call(Method::POST, "/api/v1/platform/audit/keys", &f.admin, None)
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    let new_id = rotated.json()["key_id"].as_str().unwrap().to_string();
    let keys_after = f
        .client
        .get("/.well-known/portcullis-audit-key")
        .await
        .unwrap()
        .json();
    let listed: Vec<&str> = keys_after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "the old key stays published: {keys_after}");
    assert_eq!(listed[0], new_id);
    let only_new = json!({"algorithm": "Ed25519", "keys": [keys_after["keys"][0]]});
    let new_key = file("new-key.json", &only_new.to_string());
    let (status, _) = verify(&["--bundle", &one, "--key", &new_key]);
    assert_eq!(
        status, 1,
        "a checkpoint signed by a key not given does not verify"
    );
    // The full set verifies both old and new checkpoints.
    changes(f, 2, "third").await;
    let third = export(0).await;
    let all = file("all.jsonl", &third.text());
    let both = file("both.json", &keys_after.to_string());
    let (status, result) = verify(&["--bundle", &all, "--key", &both]);
    assert_eq!(status, 0, "{result}");

    // A tenant's export is their own chain: nothing of another organization.
    assert!(!third.text().contains("\"chain\":\"platform\""));
}

#[tokio::test]
async fn with_the_audit_log_unwritable_changes_are_refused_and_reads_and_proxying_go_on() {
    let f = Fixture::start_with(AUDIT).await;
    let db = db(&f.gateway.dir());
    sql(
        &db,
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    );
    let refused = f
        .call(
            Method::POST,
            "/api/v1/users",
            &f.admin,
            Some(json!({"email": "lost@example.com", "groups": []})),
        )
        .await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(code(&refused), "audit_unavailable");
    let users = f.call(Method::GET, "/api/v1/users", &f.admin, None).await;
    assert_eq!(users.status, 200, "reads go on");
    assert!(
        !users.text().contains("lost@example.com"),
        "the change was not made"
    );
    let proxied = f.call(Method::GET, "/v1/items/1", &f.admin, None).await;
    assert_eq!(
        proxied.status,
        200,
        "proxied traffic goes on: {}",
        proxied.text()
    );
    let ready = f.client.get("/readyz").await.unwrap();
    assert_eq!(ready.status, 200, "reads and proxying are still served");
    assert_eq!(ready.json()["audit"], "degraded");
    let metrics = f.client.get("/metrics").await.unwrap().text();
    assert!(metrics.contains("portcullis_audit_degraded 1"), "{metrics}");

    sql(&db, "DROP TRIGGER audit_down;");
    let mut recovered = false;
    for _ in 0..40 {
        if f.client.get("/readyz").await.unwrap().json()["audit"] == "ok" {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the writer notices the log is writable again");
    let accepted = f
        .call(
            Method::POST,
            "/api/v1/users",
            &f.admin,
            Some(json!({"email": "kept@example.com", "groups": []})),
        )
        .await;
    assert_eq!(accepted.status, 201, "{}", accepted.text());
    let (status, results) = verify_store(&f.gateway.dir());
    assert_eq!(
        status, 0,
        "the chain has no hole where the refused change was: {results}"
    );
}

#[tokio::test]
async fn after_kill_9_during_a_burst_every_acknowledged_change_has_its_event_and_no_other() {
    let mut f = Fixture::start_with(AUDIT).await;
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for worker in 0..4 {
        let client = f.gateway.client();
        let token = f.admin.clone();
        let acknowledged = acknowledged.clone();
        clients.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("burst-{worker}-{i}");
                let reply = call(
                    &client,
                    Method::POST,
                    "/api/v1/environments",
                    Some(&token),
                    Some(json!({ "name": name })),
                )
                .await;
                if reply.status != 201 {
                    break;
                }
                let id = reply.json()["id"].as_str().unwrap().to_string();
                acknowledged.lock().unwrap().push(id);
            }
        }));
    }
    // Let the burst run, then kill the gateway mid-flight.
    for _ in 0..100 {
        if acknowledged.lock().unwrap().len() >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f.gateway.signal(libc::SIGKILL);
    for client in clients {
        let _ = tokio::time::timeout(Duration::from_secs(30), client).await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 10,
        "the burst ran: {}",
        acknowledged.len()
    );

    f.gateway = f.gateway.restart().await.expect("restart");
    f.client = f.gateway.client();
    let admin = access_token(&f.client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let listed = f
        .call(Method::GET, "/api/v1/environments", &admin, None)
        .await
        .json();
    let existing: std::collections::BTreeSet<String> = listed["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let mut audited = std::collections::BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/audit?action=record.changed&resource=orgs/org_default/environments&limit=1000&cursor={c}"),
            None => "/api/v1/audit?action=record.changed&resource=orgs/org_default/environments&limit=1000".into(),
        };
        let page = f.call(Method::GET, &path, &admin, None).await.json();
        for event in page["events"].as_array().unwrap() {
            audited.insert(event["details"]["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    for id in &acknowledged {
        assert!(existing.contains(id), "acknowledged {id} was kept");
        assert!(audited.contains(id), "acknowledged {id} has its event");
    }
    assert_eq!(
        audited, existing,
        "an event for every change made and for none other"
    );
    let (status, results) = verify_store(&f.gateway.dir());
    assert_eq!(status, 0, "the chain verifies after kill -9: {results}");
}

#[tokio::test]
async fn no_audit_output_of_the_suites_scenarios_holds_a_secret() {
    let sink_extra = "[[audit.sinks]]\nkind = \"file\"\npath = \"{dir}/audit.jsonl\"\n\n[[audit.sinks]]\nkind = \"file\"\nformat = \"ocsf\"\npath = \"{dir}/audit.ocsf.jsonl\"\n";
    let f = Fixture::start_with(&format!("{AUDIT}{sink_extra}")).await;
    let mut secrets: Vec<String> = vec![ADMIN_PASSWORD.into(), f.admin.clone()];

    // A user with a password, a wrong password, TOTP, recovery codes.
    let password = "violet harbor engine 77";
    secrets.push(password.into());
    let user_id = f
        .create_user("carol@example.com", password, &["admins"])
        .await;
    let wrong = login(&f.client, "carol@example.com", "not her password at all").await;
    assert_ne!(wrong.status, 200);
    secrets.push("not her password at all".into());
    let carol = access_token(&f.client, "carol@example.com", password).await;
    secrets.push(carol.clone());
    let totp = f.enroll_totp(&carol).await;
    secrets.push(totp);
    // A session cookie.
    let signed_in = login(&f.client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    if let Some(cookie) = signed_in.headers.get("set-cookie") {
        let cookie = cookie.to_str().unwrap();
        let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
        secrets.push(value.to_string());
    }
    // An API key, used, and an administrator's password reset.
    let key = f
        .call(
            Method::POST,
            "/api/v1/api-keys",
            &f.admin,
            Some(json!({"name": "ci", "owner_id": user_id, "expires_in_seconds": 86400})),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.text());
    let key = key.json()["key"].as_str().unwrap().to_string();
    secrets.push(key.clone());
    let _ = f.call(Method::GET, "/api/v1/users", &key, None).await;
    let reset = f
        .call(
            Method::POST,
            &format!("/api/v1/users/{user_id}/password-reset"),
            &f.admin,
            None,
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.text());
    secrets.push(
        reset.json()["one_time_password"]
            .as_str()
            .unwrap()
            .to_string(),
    );

    // Everything written: the store, both sinks, the log's audit lines.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let dir = f.gateway.dir();
    let stored = sql(&db(&dir), "SELECT record FROM audit_events");
    let file = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap_or_default();
    let ocsf = std::fs::read_to_string(dir.join("audit.ocsf.jsonl")).unwrap_or_default();
    let export = f
        .call(Method::GET, "/api/v1/audit/export", &f.admin, None)
        .await;
    assert_eq!(export.status, 200, "{}", export.text());
    let export = export.text();
    // The store holds the records sealed; the file sink has them as
    // committed.
    assert!(
        !stored.contains("auth.succeeded"),
        "sealed at rest: {stored}"
    );
    assert!(
        file.contains("auth.succeeded") && file.contains("auth.failed"),
        "{file}"
    );
    assert!(
        file.contains("mfa.enrolled") && file.contains("credential.changed"),
        "{file}"
    );
    assert!(
        file.contains("record.changed"),
        "the file sink has the records"
    );
    assert!(
        ocsf.contains("\"class_uid\":3002") && ocsf.contains("\"class_uid\":6003"),
        "{ocsf}"
    );
    let log: String = f
        .gateway
        .log()
        .lines()
        .filter(|l| l.contains("portcullis::audit"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!log.is_empty());
    for secret in &secrets {
        assert!(secret.len() >= 8, "{secret}");
        for (name, text) in [
            ("store", &stored),
            ("file", &file),
            ("ocsf", &ocsf),
            ("export", &export),
            ("log", &log),
        ] {
            assert!(
                !text.contains(secret.as_str()),
                "a secret reached the audit {name}"
            );
        }
    }
}

/// The audit log of a gateway restarted on its data directory continues
/// the same chains (checked by verify over both runs).
#[tokio::test]
async fn a_restarted_gateway_continues_its_chains() {
    let f = Fixture::start_with(AUDIT).await;
    changes(&f, 2, "before").await;
    let gateway: Gateway = f.gateway.restart().await.expect("restart");
    let client = gateway.client();
    let admin = access_token(&client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let reply = call(
        &client,
        Method::POST,
        "/api/v1/environments",
        Some(&admin),
        Some(json!({"name": "after"})),
    )
    .await;
    assert_eq!(reply.status, 201);
    let (status, results) = verify_store(&gateway.dir());
    assert_eq!(status, 0, "{results}");
}

#[tokio::test]
async fn each_organization_reads_and_exports_only_its_own_chain() {
    let f = Fixture::start_with(AUDIT).await;
    let (org_b, b_admin) = f
        .second_org("tenant-b", "admin@b.example", "granite willow 31 harbour")
        .await;
    let a_env = f
        .call(
            Method::POST,
            "/api/v1/environments",
            &f.admin,
            Some(json!({"name": "a-only"})),
        )
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b_env = f
        .call(
            Method::POST,
            "/api/v1/environments",
            &b_admin,
            Some(json!({"name": "b-only"})),
        )
        .await;
    assert_eq!(b_env.status, 201, "{}", b_env.text());

    let page = f
        .call(Method::GET, "/api/v1/audit?limit=1000", &b_admin, None)
        .await;
    assert_eq!(page.status, 200, "{}", page.text());
    let events = page.json()["events"].as_array().unwrap().clone();
    assert!(!events.is_empty());
    for event in &events {
        assert_eq!(event["chain"], org_b.as_str(), "{event}");
        assert_eq!(event["org"], org_b.as_str(), "{event}");
    }
    assert!(!page.text().contains(&a_env), "B reads nothing of A");
    assert!(page.text().contains("b-only"));
    let export = f
        .call(Method::GET, "/api/v1/audit/export", &b_admin, None)
        .await;
    assert_eq!(export.status, 200, "{}", export.text());
    assert!(!export.text().contains(&a_env));
    for line in export.text().lines() {
        let value: Value = serde_json::from_str(line).unwrap();
        let chain = value["chain"]
            .as_str()
            .or_else(|| value["checkpoint"]["chain"].as_str())
            .map(str::to_string)
            .or_else(|| {
                value["record"]
                    .as_str()
                    .and_then(|r| serde_json::from_str::<Value>(r).ok())
                    .and_then(|r| r["chain"].as_str().map(str::to_string))
            });
        assert_eq!(chain.as_deref(), Some(org_b.as_str()), "{line}");
    }
    // The platform's chain is for platform operators only.
    let refused = f
        .call(Method::GET, "/api/v1/platform/audit", &b_admin, None)
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    let platform = f
        .call(Method::GET, "/api/v1/platform/audit", &f.admin, None)
        .await;
    assert_eq!(platform.status, 200, "{}", platform.text());
    assert!(
        platform.text().contains("plugin.loaded"),
        "{}",
        platform.text()
    );
    // A's administrator reads A's chain, not B's.
    let a_page = f
        .call(Method::GET, "/api/v1/audit?limit=1000", &f.admin, None)
        .await;
    assert!(a_page.text().contains(&a_env));
    assert!(!a_page.text().contains("b-only"));
}

#[tokio::test]
async fn a_flood_of_refused_credentials_is_recorded_up_to_a_rate_and_counted() {
    // A small burst and a slow refill, so that even a loaded machine sends
    // the flood far faster than the log may record it: 200 refusals take
    // well under the 180 s it would take the bucket to let them all in.
    const BURST: usize = 20;
    let f = Fixture::start_with(&format!(
        "{AUDIT}refusal_burst = {BURST}\nrefusals_per_second = 1.0\n"
    ))
    .await;
    let sprayed = 200;
    let mut flood = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let client = f.client.clone();
        flood.spawn(async move {
            for i in (worker..sprayed).step_by(8) {
                let token = format!("not-a-token-{i}");
                let reply = call(&client, Method::GET, "/api/v1/me", Some(&token), None).await;
                assert_eq!(reply.status, 401);
            }
        });
    }
    while let Some(done) = flood.join_next().await {
        done.expect("a spraying task");
    }
    // The bucket refills one token a second.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let last = f
        .call(Method::GET, "/api/v1/me", "not-a-token-last", None)
        .await;
    assert_eq!(last.status, 401);
    // The writer commits in batches and may lag behind a loaded machine:
    // a recorded event from mid-flood also carries a count, so wait until
    // everything sent has been accounted for (or give up and fail below).
    let accounted = |page: &Value| {
        page["events"].as_array().map_or(0, |events| {
            events.len().saturating_sub(1) as u64
                + events
                    .iter()
                    .map(|e| e["details"]["suppressed_before"].as_u64().unwrap_or(0))
                    .sum::<u64>()
        })
    };
    let mut page = Value::Null;
    for _ in 0..300 {
        page = f
            .call(
                Method::GET,
                "/api/v1/platform/audit?action=auth.failed&limit=1000",
                &f.admin,
                None,
            )
            .await
            .json();
        let newest = &page["events"][0]["details"]["suppressed_before"];
        if newest.as_u64().is_some_and(|n| n > 0) && accounted(&page) >= sprayed as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = page["events"].as_array().unwrap();
    assert!(
        events.len() < sprayed,
        "a flood is not recorded one for one: {} events",
        events.len()
    );
    assert!(
        events.len() >= BURST,
        "up to the burst is recorded: {}",
        events.len()
    );
    let suppressed = events[0]["details"]["suppressed_before"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        suppressed > 0,
        "the next refusal counts the left-out ones: {}",
        events[0]
    );
    // Recorded ones during the flood carry their own counts, as the
    // bucket refilled.
    assert_eq!(
        accounted(&page),
        sprayed as u64,
        "every refusal is either recorded or counted"
    );
    let metrics = f.client.get("/metrics").await.unwrap().text();
    assert!(
        metrics.contains("portcullis_audit_events_suppressed "),
        "{metrics}"
    );
}

/// `portcullis admin --json` answers on standard output: a stdout audit
/// sink in the configuration must not mix records into it, and what it
/// changes is still recorded (in the store, as `cli:admin`).
#[tokio::test]
async fn the_admin_cli_answers_clean_json_with_a_stdout_sink_and_its_changes_are_audited() {
    let f = Fixture::start_with(&format!("{AUDIT}[[audit.sinks]]\nkind = \"stdout\"\n")).await;
    let config = f.gateway.dir().join("portcullis.toml");
    let output = std::process::Command::new(paths::binary())
        .args(["admin", "--config", &config.display().to_string(), "--json"])
        .args(["users", "create", "--email", "cli-made@example.com"])
        .env("RUST_LOG", "warn")
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .expect("run portcullis admin");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let answer: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON answer ({e}): {text}"));
    let user_id = answer["user"]["id"].as_str().unwrap().to_string();
    let page = f
        .call(
            Method::GET,
            &format!("/api/v1/audit?actor=cli:admin&resource=orgs/org_default/users/{user_id}"),
            &f.admin,
            None,
        )
        .await
        .json();
    assert_eq!(
        page["events"][0]["details"]["change"], "created",
        "the CLI's change is recorded as cli:admin: {page}"
    );
}
