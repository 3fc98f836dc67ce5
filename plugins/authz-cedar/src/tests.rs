use super::*;
use authz_reference::{Binding, Case, MFA_ACTION, Model, Rng, random_model, reference, seed};
use portcullis_sdk::{Pairs, PrincipalView, Strings};

const POLICIES: &str = r#"
@id("admins-run-their-organization")
permit(principal in Group::"admins", action, resource) when { resource.org == principal.org };
@id("settings-need-the-second-factor")
forbid(principal, action == Action::"settings:manage", resource) unless { context.mfa };
"#;

fn authz(policies: &str) -> CedarAuthz {
    match parse_policies(policies) {
        Ok(set) => CedarAuthz::new(set),
        Err(error) => unreachable!("test policies refused: {error}"),
    }
}

fn ask<'a>(
    groups: &'a [&'a str],
    org: Option<&'a str>,
    action: &'a str,
    resource: &'a str,
) -> CheckRequest<'a> {
    CheckRequest {
        wants_receipt: true,
        principal: PrincipalView {
            subject: "usr_1",
            issuer: "local",
            organization: org,
            user_id: Some("usr_1"),
            groups: Strings::of(groups),
            amr: Strings::of(&["pwd"]),
            ..PrincipalView::default()
        },
        action,
        resource,
        context: Pairs::default(),
    }
}

#[test]
fn policies_decide_and_name_themselves_in_the_receipt() {
    let cedar = authz(POLICIES);
    let yes = cedar.decide(&ask(
        &["admins"],
        Some("o1"),
        "users:read",
        "orgs/o1/users/u2",
    ));
    assert!(yes.allowed, "{}", yes.reason);
    assert_eq!(
        yes.binding.as_deref(),
        Some("admins-run-their-organization")
    );
    let other_org = cedar.decide(&ask(
        &["admins"],
        Some("o1"),
        "users:read",
        "orgs/o2/users/u2",
    ));
    assert!(!other_org.allowed);
    assert_eq!(other_org.basis, DecisionBasis::NoBinding);
    let no_group = cedar.decide(&ask(&[], Some("o1"), "users:read", "orgs/o1"));
    assert!(!no_group.allowed);
    let forbidden = cedar.decide(&ask(&["admins"], Some("o1"), "settings:manage", "orgs/o1"));
    assert!(!forbidden.allowed);
    assert_eq!(forbidden.basis, DecisionBasis::Denied);
    assert_eq!(
        forbidden.binding.as_deref(),
        Some("settings-need-the-second-factor")
    );
    // Outside any organization `org` is absent: the policy reading it
    // does not apply, so nothing is allowed.
    let outside = cedar.decide(&ask(&["admins"], None, "users:read", "items/1"));
    assert!(!outside.allowed);
    let empty_org = cedar.decide(&ask(&["admins"], Some("o1"), "users:read", "orgs//users"));
    assert_eq!(empty_org.basis, DecisionBasis::Unavailable);
}

#[test]
fn connections_sit_in_their_environment_from_the_snapshot() {
    let mut cedar = authz(
        r#"permit(principal, action, resource in Environment::"e1") when { resource.org == principal.org };"#,
    );
    let snapshot = r#"{"format": 1, "version": 9, "mfa_required": [], "roles": [], "bindings": [],
        "connections": [{"id": "c1", "org": "o1", "environment": "e1"}]}"#;
    assert!(cedar.load(snapshot).is_ok());
    let in_env = cedar.decide(&ask(
        &[],
        Some("o1"),
        "connections:read",
        "orgs/o1/connections/c1/query",
    ));
    assert!(in_env.allowed, "{}", in_env.reason);
    assert_eq!(in_env.policy_version, 9);
    assert!(
        !cedar
            .decide(&ask(
                &[],
                Some("o1"),
                "connections:read",
                "orgs/o1/connections/c2"
            ))
            .allowed
    );
    assert!(
        cedar
            .load(r#"{"format": 2, "version": 1, "connections": []}"#)
            .is_err()
    );
}

#[test]
fn a_malformed_policy_set_is_refused_with_the_reason() {
    let error = parse_policies("permit(principal, action, resource")
        .err()
        .unwrap_or_default();
    assert!(error.contains("not a valid Cedar policy set"), "{error}");
    let twice = parse_policies(
        r#"@id("same") permit(principal, action, resource); @id("same") forbid(principal, action, resource);"#,
    )
    .err()
    .unwrap_or_default();
    assert!(twice.contains("two policies have the id `same`"), "{twice}");
}

// ---------------------------------------------------------------------------
// Differential test: random role-based policies written as Cedar, decided
// by this plugin, compared with the reference evaluator of
// `authz-reference` (which shares no code with either).

fn cedar_text(model: &Model) -> String {
    let mut text = format!(
        "forbid(principal, action == Action::\"{MFA_ACTION}\", resource) unless {{ context.mfa }};\n"
    );
    for Binding {
        org,
        subject,
        role,
        scope_kind,
        scope_id,
        ..
    } in &model.bindings
    {
        let Some((_, _, permissions)) = model
            .roles
            .iter()
            .find(|(id, o, _)| id == role && (o.is_none() || o.as_deref() == Some(org.as_str())))
        else {
            continue;
        };
        let action = if permissions.iter().any(|p| p == "*") {
            "action".to_string()
        } else if permissions.is_empty() {
            continue;
        } else {
            let list: Vec<String> = permissions
                .iter()
                .map(|p| format!("Action::\"{p}\""))
                .collect();
            format!("action in [{}]", list.join(", "))
        };
        let principal = match subject.split_once(':') {
            Some(("user", id)) => format!("principal == User::\"{id}\""),
            Some(("group", name)) => format!("principal in Group::\"{name}\""),
            // API keys limit their owners; not expressed here (requests
            // in this comparison present none).
            _ => continue,
        };
        let (resource, condition) = match scope_kind.as_str() {
            "organization" => (
                "resource".to_string(),
                format!("!(resource has org) || resource.org == \"{org}\""),
            ),
            "environment" => (
                format!("resource in Environment::\"{scope_id}\""),
                format!("resource.org == \"{org}\""),
            ),
            _ => (
                format!("resource in Connection::\"{scope_id}\""),
                format!("resource.org == \"{org}\""),
            ),
        };
        text.push_str(&format!(
            "permit({principal}, {action}, {resource}) when {{ principal.org == \"{org}\" && ({condition}) }};\n"
        ));
    }
    text
}

#[test]
fn cedar_agrees_with_the_reference_on_policies_both_express() {
    let seed = seed();
    let mut rng = Rng(seed);
    let (mut allowed, mut compared) = (0usize, 0usize);
    for policy_no in 0..1_000 {
        let model = random_model(&mut rng);
        let text = cedar_text(&model);
        let mut cedar = authz(&text);
        if let Err(error) = cedar.load(&authz_reference::to_snapshot(&model)) {
            unreachable!("seed {seed}: snapshot {policy_no} refused: {error}");
        }
        for _ in 0..20 {
            let case = Case::random(&mut rng, false);
            let expected = reference(&model, &case);
            let wire = case.encoded();
            let asked = CheckRequest::decode(&wire).expect("the gateway's encoding decodes");
            let got = cedar.decide(&asked);
            assert_eq!(
                got.allowed, expected,
                "seed {seed} (AUTHZ_DIFF_SEED), policy {policy_no}: {case:?} → {got:?} (reference {expected})\npolicies:\n{text}"
            );
            compared += 1;
            allowed += usize::from(expected);
        }
    }
    assert!(
        allowed > compared / 20 && allowed < compared,
        "{allowed} of {compared} allowed"
    );
    println!("compared {compared} Cedar decisions (seed {seed}), {allowed} allowed");
}
