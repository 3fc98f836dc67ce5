//! `authz-static`: an authorizer whose rules are all in its configuration.
//!
//! ```toml
//! [plugins.authz.config]
//! default = "deny"                       # or "allow"
//! [[plugins.authz.config.rules]]
//! groups = ["admins"]                    # any of these groups, or
//! subjects = ["alice"]                   # any of these subjects ("*" = anyone)
//! actions = ["connections.read"]         # "*" or a "prefix.*" glob
//! resources = ["orgs/{org}/connections/*"] # "*" or a "prefix*" glob; `{org}` is
//!                                        # the caller's own organization
//! amr = ["mfa"]                          # optional: methods the caller must have used
//! orgs = ["org_default"]                 # optional: only principals of these organizations
//! ```
//!
//! The first matching rule allows; nothing matching falls back to `default`.
//! A pattern with `{org}` never matches for a principal without an
//! organization, so `orgs/{org}/*` confines a rule to the caller's tenant.

use portcullis_sdk::{
    Authorizer, CheckRequest, Decision, DecisionBasis, PluginError, PrincipalView,
};
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
enum Default_ {
    Allow,
    #[default]
    Deny,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(default)]
    subjects: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    actions: Vec<String>,
    resources: Vec<String>,
    /// Authentication methods the principal must have used, e.g. `["mfa"]`.
    #[serde(default)]
    amr: Vec<String>,
    /// Organizations the principal must belong to (any, when empty).
    #[serde(default)]
    orgs: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    default: Default_,
    #[serde(default)]
    rules: Vec<Rule>,
}

/// Matches `value` against `pattern`: `*` alone matches anything, a trailing
/// `*` matches a prefix, anything else must be equal.
fn glob(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// `pattern` with `{org}` replaced by the principal's organization; `None`
/// when it names `{org}` and the principal has none.
fn for_principal<'a>(pattern: &'a str, principal: &PrincipalView<'_>) -> Option<Cow<'a, str>> {
    if !pattern.contains(ORG_PLACEHOLDER) {
        return Some(Cow::Borrowed(pattern));
    }
    let org = principal.organization?;
    Some(Cow::Owned(pattern.replace(ORG_PLACEHOLDER, org)))
}

const ORG_PLACEHOLDER: &str = "{org}";

impl Rule {
    fn matches(&self, principal: &PrincipalView<'_>, action: &str, resource: &str) -> bool {
        let who = self.subjects.iter().any(|s| glob(s, principal.subject))
            || self.groups.iter().any(|g| principal.groups.contains(g));
        let org = self.orgs.is_empty()
            || principal
                .organization
                .is_some_and(|o| self.orgs.iter().any(|allowed| allowed == o));
        who && org
            && self.amr.iter().all(|m| principal.amr.contains(m))
            && self.actions.iter().any(|a| glob(a, action))
            && self
                .resources
                .iter()
                .any(|r| for_principal(r, principal).is_some_and(|r| glob(&r, resource)))
    }
}

struct StaticRules {
    config: Config,
}

impl Authorizer for StaticRules {
    fn init() -> Result<Self, PluginError> {
        Ok(Self {
            config: portcullis_sdk::config::get()?,
        })
    }

    fn check(&mut self, request: &CheckRequest<'_>) -> Decision {
        let (principal, action, resource) = (&request.principal, request.action, request.resource);
        if let Some(index) = self
            .config
            .rules
            .iter()
            .position(|rule| rule.matches(principal, action, resource))
        {
            return Decision::allow(format!("allowed by rule {index}"))
                .by(format!("rules[{index}]"), None);
        }
        match self.config.default {
            Default_::Allow => Decision::allow("no rule matched; default allow"),
            Default_::Deny => {
                Decision::deny(DecisionBasis::NoBinding, "no rule matched; default deny")
            }
        }
    }
}

portcullis_sdk::export_authorizer!(StaticRules);

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_sdk::Strings;

    fn principal(org: Option<&str>) -> PrincipalView<'_> {
        PrincipalView {
            subject: "usr_1",
            issuer: "local",
            groups: Strings::of(&["admins"]),
            amr: Strings::of(&["pwd"]),
            organization: org,
            ..PrincipalView::default()
        }
    }

    fn rule(resources: &[&str], orgs: &[&str]) -> Rule {
        Rule {
            subjects: Vec::new(),
            groups: vec!["admins".into()],
            actions: vec!["*".into()],
            resources: resources.iter().map(|r| r.to_string()).collect(),
            amr: Vec::new(),
            orgs: orgs.iter().map(|o| o.to_string()).collect(),
        }
    }

    #[test]
    fn org_placeholders_confine_a_rule_to_the_callers_tenant() {
        let own = rule(&["orgs/{org}", "orgs/{org}/*"], &[]);
        let b = principal(Some("org_b"));
        assert!(own.matches(&b, "users.read", "orgs/org_b/users/usr_1"));
        assert!(own.matches(&b, "orgs.read", "orgs/org_b"));
        assert!(!own.matches(&b, "users.read", "orgs/org_a/users/usr_1"));
        assert!(!own.matches(&b, "orgs.read", "orgs/org_bb"));
        assert!(!own.matches(&b, "orgs.read", "orgs/org_a"));
        assert!(!own.matches(&principal(None), "users.read", "orgs//users/x"));
        assert!(!own.matches(&principal(None), "orgs.read", "orgs/{org}"));
    }

    #[test]
    fn org_lists_name_the_principals_organization() {
        let only_a = rule(&["*"], &["org_a"]);
        assert!(only_a.matches(&principal(Some("org_a")), "x", "y"));
        assert!(!only_a.matches(&principal(Some("org_b")), "x", "y"));
        assert!(!only_a.matches(&principal(None), "x", "y"));
    }
}
