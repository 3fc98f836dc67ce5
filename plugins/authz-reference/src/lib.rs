//! Random role-based policies and requests, and a reference evaluator for
//! them written to be obviously correct: it scans every binding and
//! compares strings, sharing no code with any authorizer. The authorizers'
//! differential tests compare their decisions with [`reference`].
//!
//! The model is the gateway's: roles (predefined ones without an
//! organization), connections in environments, bindings of users, groups
//! and API keys to roles on the organization, an environment or a
//! connection; `users:manage` needs the second factor.

use portcullis_sdk::{CheckRequest, Pairs, PrincipalView, Strings};
use serde_json::json;

/// xorshift64*: a fixed-seed generator, so a failure reproduces.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % u64::try_from(n).unwrap_or(1)).unwrap_or(0)
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// True `percent` % of the time.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// The seed of a differential run: `AUTHZ_DIFF_SEED`, or a fixed one.
pub fn seed() -> u64 {
    std::env::var("AUTHZ_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0FA1_1CA5)
}

/// Organizations.
pub const ORGS: &[&str] = &["o1", "o2"];
/// Environments.
pub const ENVS: &[&str] = &["e1", "e2", "e3"];
/// Connections.
pub const CONNS: &[&str] = &["c1", "c2", "c3", "c4"];
/// Users.
pub const USERS: &[&str] = &["u1", "u2", "u3"];
/// Groups.
pub const GROUPS: &[&str] = &["g1", "g2"];
/// API keys.
pub const KEYS: &[&str] = &["k1", "k2"];
/// Actions roles are made of.
pub const ACTIONS: &[&str] = &[
    "connections:read",
    "connections:write",
    "environments:read",
    "users:manage",
    "users:read",
    "agents:manage",
];
/// The one permission that needs the second factor.
pub const MFA_ACTION: &str = "users:manage";

/// A role: id, organization (none: predefined), permissions (`*`: all).
pub type Role = (String, Option<String>, Vec<String>);

/// A binding.
#[derive(Debug, Clone)]
pub struct Binding {
    /// Id.
    pub id: String,
    /// Organization.
    pub org: String,
    /// `user:<id>`, `group:<name>` or `api_key:<id>`.
    pub subject: String,
    /// Role id.
    pub role: String,
    /// `organization`, `environment` or `connection`.
    pub scope_kind: String,
    /// The environment's or connection's id (empty for the organization).
    pub scope_id: String,
}

/// A policy.
#[derive(Debug, Clone)]
pub struct Model {
    /// Roles.
    pub roles: Vec<Role>,
    /// (connection, organization, environment).
    pub conns: Vec<(String, String, String)>,
    /// Bindings.
    pub bindings: Vec<Binding>,
}

/// A random policy.
pub fn random_model(rng: &mut Rng) -> Model {
    let mut roles: Vec<Role> = vec![("admin".to_string(), None, vec!["*".to_string()])];
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
        bindings.push(Binding {
            id: format!("b{i}"),
            org: rng.pick(ORGS).to_string(),
            subject,
            role,
            scope_kind: kind.to_string(),
            scope_id: id,
        });
    }
    Model {
        roles,
        conns,
        bindings,
    }
}

/// The gateway's policy snapshot (format 1) of `model`.
pub fn to_snapshot(model: &Model) -> String {
    let scope = |b: &Binding| match b.scope_kind.as_str() {
        "organization" => json!({"kind": "organization"}),
        other => json!({"kind": other, "id": b.scope_id}),
    };
    json!({
        "format": 1, "version": 1, "mfa_required": [MFA_ACTION],
        "roles": model.roles.iter().map(|(id, org, p)| json!({"id": id, "org": org, "permissions": p})).collect::<Vec<_>>(),
        "connections": model.conns.iter().map(|(id, org, env)| json!({"id": id, "org": org, "environment": env})).collect::<Vec<_>>(),
        "bindings": model.bindings.iter().map(|b| json!({"id": b.id, "org": b.org, "subject": b.subject, "role": b.role, "scope": scope(b)})).collect::<Vec<_>>(),
    })
    .to_string()
}

/// One random request, owning its strings.
#[derive(Debug, Clone)]
pub struct Case {
    /// The principal's organization.
    pub org: Option<String>,
    /// The directory user.
    pub user: Option<String>,
    /// The API key presented.
    pub api_key: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Action.
    pub action: String,
    /// Resource.
    pub resource: String,
}

impl Case {
    /// A random request; `with_keys` lets some present an API key.
    pub fn random(rng: &mut Rng, with_keys: bool) -> Self {
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
            4 => format!("orgs/{org}/connections/{}/query", rng.pick(CONNS)),
            5 => format!("orgs/{org}/users/{}", rng.pick(USERS)),
            _ => "items/1".to_string(),
        };
        let groups = GROUPS
            .iter()
            .filter(|_| rng.chance(40))
            .map(|g| g.to_string())
            .collect();
        let amr = if rng.chance(50) {
            vec!["pwd".into(), "mfa".into()]
        } else {
            vec!["pwd".into()]
        };
        let action = if rng.chance(5) {
            "unknown:thing".to_string()
        } else {
            rng.pick(ACTIONS).to_string()
        };
        Self {
            org: (!rng.chance(5)).then(|| org.to_string()),
            user: (!rng.chance(10)).then(|| rng.pick(USERS).to_string()),
            api_key: (with_keys && rng.chance(30)).then(|| rng.pick(KEYS).to_string()),
            groups,
            amr,
            action,
            resource,
        }
    }

    /// The request in the wire encoding, as the gateway sends it; decode
    /// it with [`CheckRequest::decode`] to see it as a plugin does.
    pub fn encoded(&self) -> String {
        let mut wire = String::new();
        portcullis_wire::encode(&self.request(), &mut wire);
        wire
    }

    /// The request as an authorizer would be handed it by a caller.
    pub fn request(&self) -> CheckRequest<'_> {
        CheckRequest {
            wants_receipt: true,
            principal: PrincipalView {
                subject: self.user.as_deref().unwrap_or("external"),
                issuer: "local",
                organization: self.org.as_deref(),
                user_id: self.user.as_deref(),
                api_key_id: self.api_key.as_deref(),
                groups: Strings::of_owned(&self.groups),
                amr: Strings::of_owned(&self.amr),
                ..PrincipalView::default()
            },
            action: &self.action,
            resource: &self.resource,
            context: Pairs::default(),
        }
    }
}

/// The specification, spelled out naively: whether `case` is allowed.
pub fn reference(model: &Model, case: &Case) -> bool {
    let Some(org) = case.org.as_deref() else {
        return false;
    };
    let segments: Vec<&str> = case.resource.split('/').collect();
    let env_of = |c: &str| {
        model
            .conns
            .iter()
            .find(|(id, o, _)| id == c && o == org)
            .map(|(_, _, e)| e.clone())
    };
    // (in the organization?, environment, connection) the resource names.
    let (in_org, env, conn): (bool, Option<String>, Option<String>) = if segments[0] != "orgs" {
        (true, None, None)
    } else if segments.get(1) != Some(&org) {
        (false, None, None)
    } else {
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
            .any(|(_, _, p)| p.iter().any(|p| p == "*" || *p == case.action))
    };
    let allowed_for = |subjects: &[String]| {
        model.bindings.iter().any(|b| {
            b.org == org
                && subjects.contains(&b.subject)
                && role_grants(&b.role, &b.org)
                && match b.scope_kind.as_str() {
                    "organization" => true,
                    "environment" => env.as_deref() == Some(b.scope_id.as_str()),
                    _ => conn.as_deref() == Some(b.scope_id.as_str()),
                }
        })
    };
    let mut own: Vec<String> = case.user.iter().map(|u| format!("user:{u}")).collect();
    own.extend(case.groups.iter().map(|g| format!("group:{g}")));
    let owner_ok = allowed_for(&own);
    let key_ok = case
        .api_key
        .as_ref()
        .is_none_or(|k| allowed_for(&[format!("api_key:{k}")]));
    let mfa_ok = case.action != MFA_ACTION || case.amr.iter().any(|m| m == "mfa");
    owner_ok && key_ok && mfa_ok
}
