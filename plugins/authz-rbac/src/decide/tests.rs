use super::decide;
use crate::policy::Policy;
use portcullis_sdk::{CheckRequest, DecisionBasis, PrincipalView};
use serde_json::{Value, json};

fn snapshot(roles: Value, connections: Value, bindings: Value) -> Policy {
    let doc = json!({
        "format": 1, "version": 7,
        "mfa_required": ["users:manage"],
        "roles": roles, "connections": connections, "bindings": bindings,
    });
    match Policy::parse(&doc.to_string()) {
        Ok(policy) => policy,
        Err(error) => unreachable!("test snapshot refused: {error}"),
    }
}

fn request<'a>(
    user: &'a str,
    org: &'a str,
    action: &'a str,
    resource: &'a str,
) -> CheckRequest<'a> {
    CheckRequest {
        principal: PrincipalView {
            subject: user,
            issuer: "local",
            organization: Some(org),
            user_id: Some(user),
            amr: vec!["pwd"],
            ..PrincipalView::default()
        },
        action,
        resource,
        context: Vec::new(),
    }
}

fn standard() -> Policy {
    snapshot(
        json!([
            {"id": "admin", "org": null, "permissions": ["*"]},
            {"id": "operator", "org": null, "permissions": ["connections:read", "connections:write"]},
        ]),
        json!([
            {"id": "c1", "org": "o1", "environment": "e1"},
            {"id": "c2", "org": "o1", "environment": "e2"},
        ]),
        json!([
            {"id": "b1", "org": "o1", "subject": "user:u1", "role": "operator", "scope": {"kind": "environment", "id": "e1"}},
            {"id": "b2", "org": "o1", "subject": "user:u2", "role": "admin", "scope": {"kind": "organization"}},
            {"id": "b3", "org": "o1", "subject": "api_key:k1", "role": "operator", "scope": {"kind": "connection", "id": "c1"}},
        ]),
    )
}

#[test]
fn environment_scope_covers_its_connections_only() {
    let policy = standard();
    let yes = decide(
        &policy,
        &request("u1", "o1", "connections:read", "orgs/o1/connections/c1"),
    );
    assert!(yes.allowed, "{}", yes.reason);
    assert_eq!(yes.binding.as_deref(), Some("b1"));
    assert_eq!(yes.role.as_deref(), Some("operator"));
    assert_eq!(yes.policy_version, 7);
    let other = decide(
        &policy,
        &request("u1", "o1", "connections:read", "orgs/o1/connections/c2"),
    );
    assert!(!other.allowed);
    assert_eq!(other.basis, DecisionBasis::ScopeMismatch);
    let unknown = decide(
        &policy,
        &request("u1", "o1", "users:read", "orgs/o1/users/u2"),
    );
    assert_eq!(unknown.basis, DecisionBasis::NoBinding);
    // A connection named under an environment it is not in: not covered.
    let misplaced = decide(
        &policy,
        &request(
            "u1",
            "o1",
            "connections:read",
            "orgs/o1/environments/e1/connections/c2",
        ),
    );
    assert!(!misplaced.allowed);
}

#[test]
fn other_organizations_are_never_covered() {
    let policy = standard();
    for resource in ["orgs/o2/connections/c1", "orgs/o2", "orgs/o1x/users/u1"] {
        let d = decide(&policy, &request("u2", "o1", "users:read", resource));
        assert!(!d.allowed, "{resource}");
    }
    let wrong_principal_org = decide(
        &policy,
        &request("u2", "o2", "users:read", "orgs/o2/users/u1"),
    );
    assert!(!wrong_principal_org.allowed);
}

#[test]
fn mfa_required_permissions_need_the_second_factor() {
    let policy = standard();
    let mut asked = request("u2", "o1", "users:manage", "orgs/o1/users/u1");
    let refused = decide(&policy, &asked);
    assert_eq!(refused.basis, DecisionBasis::MfaRequired);
    assert_eq!(refused.binding.as_deref(), Some("b2"));
    asked.principal.amr = vec!["pwd", "otp", "mfa"];
    assert!(decide(&policy, &asked).allowed);
}

#[test]
fn api_keys_get_the_intersection_of_owner_and_key() {
    let policy = standard();
    let mut asked = request("u2", "o1", "connections:read", "orgs/o1/connections/c1");
    asked.principal.api_key_id = Some("k1");
    assert!(decide(&policy, &asked).allowed);
    asked.resource = "orgs/o1/connections/c2";
    let narrowed = decide(&policy, &asked);
    assert!(!narrowed.allowed, "the key's own binding is on c1 only");
    asked.principal.api_key_id = Some("k-unbound");
    assert!(!decide(&policy, &asked).allowed);
    // The owner's limits hold too: u1 may not write users whatever the key.
    let mut owner_limited = request("u1", "o1", "users:read", "orgs/o1/users/u1");
    owner_limited.principal.api_key_id = Some("k1");
    assert!(!decide(&policy, &owner_limited).allowed);
}

#[test]
fn malformed_snapshots_are_refused() {
    for bad in [
        "",
        "{}",
        r#"{"format": 2, "version": 1, "mfa_required": [], "roles": [], "connections": [], "bindings": []}"#,
        r#"{"format": 1, "version": 1, "mfa_required": [], "roles": [], "connections": [], "bindings": [], "extra": 1}"#,
    ] {
        assert!(Policy::parse(bad).is_err(), "{bad}");
    }
}

// ---------------------------------------------------------------------------
// Differential test against a reference evaluator written for this test
// alone: it scans every binding and compares strings, sharing no code with
// the index.

/// xorshift64*: a fixed-seed generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n as u64)).unwrap_or(0)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const ORGS: &[&str] = &["o1", "o2"];
const ENVS: &[&str] = &["e1", "e2", "e3"];
const CONNS: &[&str] = &["c1", "c2", "c3", "c4"];
const USERS: &[&str] = &["u1", "u2", "u3"];
const GROUPS: &[&str] = &["g1", "g2"];
const KEYS: &[&str] = &["k1", "k2"];
const ACTIONS: &[&str] = &[
    "connections:read",
    "connections:write",
    "environments:read",
    "users:manage",
    "users:read",
    "agents:manage",
];

struct Model {
    /// (role id, org or none, permissions)
    roles: Vec<(String, Option<String>, Vec<String>)>,
    /// (conn, org, env)
    conns: Vec<(String, String, String)>,
    /// (id, org, subject, role, scope kind, scope id)
    bindings: Vec<(String, String, String, String, String, String)>,
}

fn random_model(rng: &mut Rng) -> Model {
    let mut roles = vec![("admin".to_string(), None, vec!["*".to_string()])];
    for i in 0..rng.below(4) {
        let org = rng.pick(ORGS).to_string();
        let permissions = ACTIONS
            .iter()
            .filter(|_| rng.chance(40))
            .map(|a| a.to_string())
            .collect();
        roles.push((format!("r{i}"), Some(org), permissions));
    }
    let conns = CONNS
        .iter()
        .map(|c| {
            let org = rng.pick(ORGS);
            (c.to_string(), org.to_string(), rng.pick(ENVS).to_string())
        })
        .collect();
    let mut bindings = Vec::new();
    for i in 0..rng.below(12) {
        let subject = match rng.below(3) {
            0 => format!("user:{}", rng.pick(USERS)),
            1 => format!("group:{}", rng.pick(GROUPS)),
            _ => format!("api_key:{}", rng.pick(KEYS)),
        };
        let role = roles[rng.below(roles.len())].0.clone();
        let (kind, id) = match rng.below(3) {
            0 => ("organization", String::new()),
            1 => ("environment", rng.pick(ENVS).to_string()),
            _ => ("connection", rng.pick(CONNS).to_string()),
        };
        bindings.push((
            format!("b{i}"),
            rng.pick(ORGS).to_string(),
            subject,
            role,
            kind.to_string(),
            id,
        ));
    }
    Model {
        roles,
        conns,
        bindings,
    }
}

fn to_snapshot(model: &Model) -> String {
    let scope = |kind: &str, id: &str| match kind {
        "organization" => json!({"kind": "organization"}),
        other => json!({"kind": other, "id": id}),
    };
    json!({
        "format": 1, "version": 1, "mfa_required": ["users:manage"],
        "roles": model.roles.iter().map(|(id, org, p)| json!({"id": id, "org": org, "permissions": p})).collect::<Vec<_>>(),
        "connections": model.conns.iter().map(|(id, org, env)| json!({"id": id, "org": org, "environment": env})).collect::<Vec<_>>(),
        "bindings": model.bindings.iter().map(|(id, org, s, r, k, i)| json!({"id": id, "org": org, "subject": s, "role": r, "scope": scope(k, i)})).collect::<Vec<_>>(),
    })
    .to_string()
}

/// The specification, spelled out naively.
fn reference(model: &Model, req: &CheckRequest<'_>) -> bool {
    let Some(org) = req.principal.organization else {
        return false;
    };
    let segments: Vec<&str> = req.resource.split('/').collect();
    // (in the org?, environment, connection) the resource designates.
    let (in_org, env, conn): (bool, Option<String>, Option<String>) = if segments[0] != "orgs" {
        (true, None, None)
    } else if segments.get(1) != Some(&org) {
        (false, None, None)
    } else {
        let env_of = |c: &str| {
            model
                .conns
                .iter()
                .find(|(id, o, _)| id == c && o == org)
                .map(|(_, _, e)| e.clone())
        };
        match (
            segments.get(2),
            segments.get(3),
            segments.get(4),
            segments.get(5),
        ) {
            (Some(&"environments"), Some(e), Some(&"connections"), Some(c)) => {
                if env_of(c).as_deref() == Some(*e) {
                    (true, Some(e.to_string()), Some(c.to_string()))
                } else {
                    (true, None, None)
                }
            }
            (Some(&"environments"), Some(e), _, _) => (true, Some(e.to_string()), None),
            (Some(&"connections"), Some(c), _, _) => (true, env_of(c), Some(c.to_string())),
            _ => (true, None, None),
        }
    };
    if !in_org {
        return false;
    }
    let role_grants = |role: &str, binding_org: &str| {
        model
            .roles
            .iter()
            .filter(|(id, o, _)| id == role && (o.is_none() || o.as_deref() == Some(binding_org)))
            .any(|(_, _, p)| p.iter().any(|p| p == "*" || p == req.action))
    };
    let allowed_for = |subjects: &[String]| {
        model
            .bindings
            .iter()
            .any(|(_, b_org, subject, role, kind, id)| {
                b_org == org
                    && subjects.contains(subject)
                    && role_grants(role, b_org)
                    && match kind.as_str() {
                        "organization" => true,
                        "environment" => env.as_deref() == Some(id.as_str()),
                        _ => conn.as_deref() == Some(id.as_str()),
                    }
            })
    };
    let mut own: Vec<String> = req
        .principal
        .user_id
        .map(|u| format!("user:{u}"))
        .into_iter()
        .collect();
    own.extend(req.principal.groups.iter().map(|g| format!("group:{g}")));
    let owner_ok = allowed_for(&own);
    let key_ok = req
        .principal
        .api_key_id
        .is_none_or(|k| allowed_for(&[format!("api_key:{k}")]));
    let mfa_ok = req.action != "users:manage" || req.principal.amr.contains(&"mfa");
    owner_ok && key_ok && mfa_ok
}

#[test]
fn the_index_agrees_with_the_reference_on_random_policies() {
    let seed: u64 = std::env::var("RBAC_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0F_A11_CA5E);
    let mut rng = Rng(seed);
    let mut allowed = 0;
    let mut compared = 0;
    for policy_no in 0..3_000 {
        let model = random_model(&mut rng);
        let policy = match Policy::parse(&to_snapshot(&model)) {
            Ok(policy) => policy,
            Err(error) => unreachable!("seed {seed}: snapshot {policy_no} refused: {error}"),
        };
        for _ in 0..20 {
            let org = rng.pick(ORGS);
            let resource = match rng.below(7) {
                0 => format!("orgs/{}", rng.pick(ORGS)),
                1 => format!("orgs/{}/environments/{}", rng.pick(ORGS), rng.pick(ENVS)),
                2 => format!(
                    "orgs/{}/environments/{}/connections/{}",
                    rng.pick(ORGS),
                    rng.pick(ENVS),
                    rng.pick(CONNS)
                ),
                3 => format!("orgs/{}/connections/{}", rng.pick(ORGS), rng.pick(CONNS)),
                4 => format!("orgs/{}/connections/{}/query", org, rng.pick(CONNS)),
                5 => format!("orgs/{org}/users/{}", rng.pick(USERS)),
                _ => "items/1".to_string(),
            };
            let groups: Vec<&str> = GROUPS.iter().copied().filter(|_| rng.chance(40)).collect();
            let amr = if rng.chance(50) {
                vec!["pwd", "mfa"]
            } else {
                vec!["pwd"]
            };
            let action = if rng.chance(5) {
                "unknown:thing"
            } else {
                rng.pick(ACTIONS)
            };
            let req = CheckRequest {
                principal: PrincipalView {
                    subject: "s",
                    issuer: "local",
                    organization: if rng.chance(5) { None } else { Some(org) },
                    user_id: if rng.chance(10) {
                        None
                    } else {
                        Some(rng.pick(USERS))
                    },
                    api_key_id: if rng.chance(30) {
                        Some(rng.pick(KEYS))
                    } else {
                        None
                    },
                    groups,
                    amr,
                    ..PrincipalView::default()
                },
                action,
                resource: &resource,
                context: Vec::new(),
            };
            let expected = reference(&model, &req);
            let got = decide(&policy, &req);
            assert_eq!(
                got.allowed,
                expected,
                "seed {seed}, policy {policy_no}: {req:?} → {got:?} (reference {expected})\nsnapshot {}",
                to_snapshot(&model)
            );
            compared += 1;
            allowed += usize::from(expected);
        }
    }
    // The generator must exercise both answers.
    assert!(
        allowed > compared / 20 && allowed < compared,
        "{allowed} of {compared} allowed"
    );
    println!("compared {compared} decisions (seed {seed}), {allowed} allowed");
}
