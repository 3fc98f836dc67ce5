use super::decide;
use crate::policy::Policy;
use portcullis_sdk::{CheckRequest, DecisionBasis, Pairs, PrincipalView, Strings};
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
        wants_receipt: true,
        principal: PrincipalView {
            subject: user,
            issuer: "local",
            organization: Some(org),
            user_id: Some(user),
            amr: Strings::of(&["pwd"]),
            ..PrincipalView::default()
        },
        action,
        resource,
        context: Pairs::default(),
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
    asked.principal.amr = Strings::of(&["pwd", "otp", "mfa"]);
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
// Differential test against the reference evaluator of `authz-reference`,
// written for the tests alone: it scans every binding and compares
// strings, sharing no code with the index.

#[test]
fn the_index_agrees_with_the_reference_on_random_policies() {
    use authz_reference::{Case, Rng, random_model, reference, seed, to_snapshot};
    let seed = seed();
    let mut rng = Rng(seed);
    let (mut allowed, mut compared) = (0usize, 0usize);
    for policy_no in 0..3_000 {
        let model = random_model(&mut rng);
        let policy = match Policy::parse(&to_snapshot(&model)) {
            Ok(policy) => policy,
            Err(error) => unreachable!("seed {seed}: snapshot {policy_no} refused: {error}"),
        };
        for _ in 0..20 {
            let case = Case::random(&mut rng, true);
            let expected = reference(&model, &case);
            let wire = case.encoded();
            let asked = CheckRequest {
                wants_receipt: true,
                ..CheckRequest::decode(&wire).expect("the gateway's encoding decodes")
            };
            let got = decide(&policy, &asked);
            // The hot path's verdict (no receipt asked for) is the same.
            let verdict = decide(
                &policy,
                &CheckRequest {
                    wants_receipt: false,
                    ..asked.clone()
                },
            );
            assert_eq!(
                (verdict.allowed, verdict.basis, verdict.policy_version),
                (got.allowed, got.basis, got.policy_version),
                "seed {seed}: {case:?}"
            );
            assert_eq!(
                got.allowed,
                expected,
                "seed {seed} (AUTHZ_DIFF_SEED), policy {policy_no}: {case:?} → {got:?} (reference {expected})\nsnapshot {}",
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

#[test]
fn resource_segments_split_like_str_split() {
    for name in [
        "",
        "a",
        "a/b",
        "a//b",
        "a/b/",
        "/a",
        "ø/é/x",
        "orgs/o1/environments/e1/connections/c1",
    ] {
        let ours: Vec<&str> = super::Segments(Some(name)).collect();
        let std: Vec<&str> = name.split('/').collect();
        assert_eq!(ours, std, "{name:?}");
    }
}
