//! `authz-static`: an authorizer whose rules are all in its configuration.
//!
//! ```toml
//! [plugins.authz.config]
//! default = "deny"                       # or "allow"
//! [[plugins.authz.config.rules]]
//! groups = ["admins"]                    # any of these groups, or
//! subjects = ["alice"]                   # any of these subjects ("*" = anyone)
//! actions = ["connections.read"]         # "*" or a "prefix.*" glob
//! resources = ["connections/*"]          # "*" or a "prefix*" glob
//! amr = ["mfa"]                          # optional: methods the caller must have used
//! ```
//!
//! The first matching rule allows; nothing matching falls back to `default`.

use portcullis_sdk::{Attribute, Authorizer, Decision, PluginError, Principal};
use serde::Deserialize;

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

impl Rule {
    fn matches(&self, principal: &Principal, action: &str, resource: &str) -> bool {
        let who = self.subjects.iter().any(|s| glob(s, &principal.subject))
            || self.groups.iter().any(|g| principal.groups.contains(g));
        who && self.amr.iter().all(|m| principal.amr.contains(m))
            && self.actions.iter().any(|a| glob(a, action))
            && self.resources.iter().any(|r| glob(r, resource))
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

    fn check(
        &mut self,
        principal: &Principal,
        action: &str,
        resource: &str,
        _: &[Attribute],
    ) -> Decision {
        if let Some(index) = self
            .config
            .rules
            .iter()
            .position(|rule| rule.matches(principal, action, resource))
        {
            return Decision {
                allowed: true,
                reason: format!("allowed by rule {index}"),
            };
        }
        Decision {
            allowed: self.config.default == Default_::Allow,
            reason: format!("no rule matched; default {:?}", self.config.default).to_lowercase(),
        }
    }
}

portcullis_sdk::export_authorizer!(StaticRules);
