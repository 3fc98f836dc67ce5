//! The permission catalogue and the predefined roles: the one table every
//! permission check, role, document and README list is generated from.

use serde::Serialize;

/// One permission, `resource:action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Permission {
    /// `resource:action`, e.g. `connections:read`.
    pub name: &'static str,
    /// What it allows.
    pub description: &'static str,
    /// Whether the default policy requires the second factor for it.
    pub mfa_by_default: bool,
}

const fn permission(name: &'static str, description: &'static str) -> Permission {
    Permission {
        name,
        description,
        mfa_by_default: false,
    }
}

const fn sensitive(name: &'static str, description: &'static str) -> Permission {
    Permission {
        name,
        description,
        mfa_by_default: true,
    }
}

/// Every permission.
pub static PERMISSIONS: &[Permission] = &[
    permission("environments:read", "See environments"),
    permission("environments:write", "Create and change environments"),
    permission("environments:delete", "Delete environments"),
    permission("connections:read", "See connections and their metadata"),
    permission("connections:write", "Create and change connections"),
    permission("connections:delete", "Delete connections"),
    permission("agents:read", "See data-plane agents"),
    permission("agents:manage", "Enroll, rotate and remove agents"),
    permission("users:read", "See users and their sessions"),
    sensitive(
        "users:manage",
        "Create, change and delete users; reset passwords and second factors; end sessions",
    ),
    permission("roles:read", "See roles and bindings, explain decisions"),
    sensitive(
        "roles:manage",
        "Create, change and delete roles and bindings",
    ),
    permission("api_keys:read", "See the organization's API keys"),
    permission(
        "api_keys:manage",
        "Create and revoke API keys for users of the organization",
    ),
    permission("audit:read", "Read the audit log"),
    permission("settings:read", "See the organization's settings"),
    sensitive("settings:manage", "Change the organization's settings"),
];

/// A role every organization has, not editable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PredefinedRole {
    /// Its name, which is also its id in bindings.
    pub name: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// The permission patterns it grants.
    pub grants: &'static [&'static str],
    /// Permissions it never grants, even when a pattern would.
    pub except: &'static [&'static str],
}

/// The predefined roles.
pub static PREDEFINED_ROLES: &[PredefinedRole] = &[
    PredefinedRole {
        name: "admin",
        description: "Everything in the organization",
        grants: &["*"],
        except: &[],
    },
    PredefinedRole {
        name: "operator",
        description: "Runs the data platform: environments, connections and agents; no users, roles or settings",
        grants: &["environments:*", "connections:*", "agents:*"],
        except: &[],
    },
    PredefinedRole {
        name: "viewer",
        description: "Reads everything but the audit log; changes nothing",
        grants: &["*:read"],
        except: &["audit:read"],
    },
];

impl PredefinedRole {
    /// What it grants, spelled out against the catalogue.
    pub fn permissions(&self) -> Vec<String> {
        expand(self.grants, self.except)
    }
}

/// The predefined role named `name`.
pub fn predefined(name: &str) -> Option<&'static PredefinedRole> {
    PREDEFINED_ROLES.iter().find(|r| r.name == name)
}

/// Whether `pattern` (`*`, `resource:*`, `*:action` or a permission)
/// covers `permission`.
pub fn covers(pattern: &str, permission: &str) -> bool {
    if pattern == "*" || pattern == permission {
        return true;
    }
    let (Some((p_res, p_act)), Some((res, act))) =
        (pattern.split_once(':'), permission.split_once(':'))
    else {
        return false;
    };
    (p_res == "*" || p_res == res) && (p_act == "*" || p_act == act)
}

/// Why a permission pattern is not one the catalogue knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` matches no permission of the catalogue (GET /api/v1/authz/permissions lists them)")]
pub struct UnknownPermission(pub String);

/// Checks that `pattern` covers at least one catalogue permission.
pub fn validate_pattern(pattern: &str) -> Result<(), UnknownPermission> {
    if PERMISSIONS.iter().any(|p| covers(pattern, p.name)) {
        Ok(())
    } else {
        Err(UnknownPermission(pattern.to_string()))
    }
}

/// The catalogue permissions `grants` covers, minus `except`, in
/// catalogue order. A literal `*` is kept as is, so that a role granting
/// everything also covers actions outside the catalogue (proxied routes).
pub fn expand(grants: &[impl AsRef<str>], except: &[&str]) -> Vec<String> {
    if except.is_empty() && grants.iter().any(|g| g.as_ref() == "*") {
        return vec!["*".to_string()];
    }
    PERMISSIONS
        .iter()
        .filter(|p| grants.iter().any(|g| covers(g.as_ref(), p.name)))
        .filter(|p| !except.contains(&p.name))
        .map(|p| p.name.to_string())
        .collect()
}

/// The permissions the default policy requires the second factor for.
pub fn mfa_defaults() -> Vec<String> {
    PERMISSIONS
        .iter()
        .filter(|p| p.mfa_by_default)
        .map(|p| p.name.to_string())
        .collect()
}

/// Whether `name` is a catalogue permission.
pub fn is_permission(name: &str) -> bool {
    PERMISSIONS.iter().any(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_cover_what_they_say() {
        assert!(covers("*", "users:manage"));
        assert!(covers("connections:*", "connections:delete"));
        assert!(covers("*:read", "audit:read"));
        assert!(!covers("*:read", "users:manage"));
        assert!(!covers("connections:*", "environments:read"));
        assert!(!covers("connections", "connections:read"));
        assert!(validate_pattern("agents:*").is_ok());
        assert!(validate_pattern("nope:*").is_err());
        assert!(validate_pattern("users:write").is_err());
    }

    #[test]
    fn predefined_roles_grant_the_documented_lists() {
        let of = |name: &str| {
            predefined(name)
                .map(PredefinedRole::permissions)
                .unwrap_or_default()
        };
        assert_eq!(of("admin"), vec!["*"]);
        assert_eq!(
            of("operator"),
            [
                "environments:read",
                "environments:write",
                "environments:delete",
                "connections:read",
                "connections:write",
                "connections:delete",
                "agents:read",
                "agents:manage"
            ]
        );
        let viewer = of("viewer");
        assert!(viewer.iter().all(|p| p.ends_with(":read")));
        assert!(!viewer.iter().any(|p| p == "audit:read"));
        assert_eq!(viewer.len(), 7);
        assert_eq!(
            mfa_defaults(),
            ["users:manage", "roles:manage", "settings:manage"]
        );
    }

    #[test]
    fn permission_names_are_resource_colon_action() {
        for p in PERMISSIONS {
            let (resource, action) = p.name.split_once(':').unwrap_or_default();
            assert!(!resource.is_empty() && !action.is_empty(), "{}", p.name);
        }
    }
}
