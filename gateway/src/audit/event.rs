//! The audit vocabulary: every event the gateway records, one typed enum.
//!
//! An event serializes as `{"action": "<name>", "details": {…}}`; the
//! record around it (chain, sequence, time, actor, organization, outcome,
//! resource) is added by [`super::record`]. Details name what changed —
//! ids, field names, counts — and never a secret value: no password, hash,
//! TOTP secret, key, token or cookie is a field of any variant.

use serde::Serialize;

/// The version of the record format; bumped when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// Whether what the event describes succeeded (also what queries filter
/// on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It was done.
    Success,
    /// It was attempted and failed.
    Failure,
    /// It was refused by the authorizer.
    Denied,
}

impl Outcome {
    /// The name stored and filtered on.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

/// Something an auditor wants to see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", content = "details")]
pub enum Event {
    /// A caller proved who they are.
    #[serde(rename = "auth.succeeded")]
    AuthSucceeded {
        /// `password`, `password+totp`, `api_key`, `token`, …
        method: String,
        /// The auth provider plugin.
        provider: String,
        /// Who, as the provider names them.
        subject: String,
        /// The organization.
        org: Option<String>,
    },
    /// A sign-in or credential was refused.
    #[serde(rename = "auth.failed")]
    AuthFailed {
        /// The method tried.
        method: String,
        /// The provider that refused, if one answered.
        provider: Option<String>,
        /// Why, as a stable code (`invalid_credentials`, `throttled`, …).
        reason: String,
        /// The organization, when known.
        org: Option<String>,
    },
    /// An expired API key was presented.
    #[serde(rename = "api_key.used_after_expiry")]
    ApiKeyUsedAfterExpiry {
        /// The key's public id.
        key_id: String,
        /// The organization.
        org: Option<String>,
    },
    /// A second factor was enrolled.
    #[serde(rename = "mfa.enrolled")]
    MfaEnrolled {
        /// The user.
        user_id: String,
        /// `totp`.
        method: String,
        /// The organization.
        org: Option<String>,
    },
    /// A user's second factor was removed.
    #[serde(rename = "mfa.reset")]
    MfaReset {
        /// The user.
        user_id: String,
        /// The organization.
        org: Option<String>,
    },
    /// A user's password or recovery codes were replaced (never the
    /// values).
    #[serde(rename = "credential.changed")]
    CredentialChanged {
        /// The user.
        user_id: String,
        /// `password`, `one_time_password` (set by an administrator) or
        /// `recovery_codes`.
        credential: String,
        /// The organization.
        org: Option<String>,
    },
    /// An authorizer refused a request.
    #[serde(rename = "access.denied")]
    AccessDenied {
        /// Who (`user:<id>`, or the principal's subject).
        subject: String,
        /// The organization, if any.
        org: Option<String>,
        /// The permission asked for.
        permission: String,
        /// The resource.
        resource: String,
        /// What decided (`no_binding`, `scope_mismatch`, `mfa_required`, …).
        basis: String,
        /// The authorizer's reason.
        reason: String,
        /// The snapshot version decided on.
        policy_version: u64,
    },
    /// An administrative action was allowed, with the decision's receipt.
    #[serde(rename = "access.allowed")]
    AccessAllowed {
        /// Who.
        subject: String,
        /// The organization.
        org: Option<String>,
        /// The permission.
        permission: String,
        /// The resource.
        resource: String,
        /// What decided.
        basis: String,
        /// The deciding binding, when the authorizer names one.
        binding: Option<String>,
        /// The deciding role, when the authorizer names one.
        role: Option<String>,
        /// The snapshot version decided on.
        policy_version: u64,
    },
    /// A stored record was created, changed or deleted.
    #[serde(rename = "record.changed")]
    Changed(Change),
    /// A plugin was loaded (at start or on reload).
    #[serde(rename = "plugin.loaded")]
    PluginLoaded {
        /// Instance name.
        plugin: String,
        /// Its world.
        world: String,
    },
    /// A plugin could not be loaded or reloaded; the previous one stays.
    #[serde(rename = "plugin.failed")]
    PluginFailed {
        /// Instance name.
        plugin: String,
        /// Why.
        error: String,
    },
    /// The configuration was reloaded.
    #[serde(rename = "config.reloaded")]
    ConfigReloaded {
        /// Proxy routes now served.
        routes: usize,
    },
    /// A configuration reload was refused; the running one stays.
    #[serde(rename = "config.reload_failed")]
    ConfigReloadFailed {
        /// Why (names the file and key).
        error: String,
    },
    /// The audit signing key was rotated.
    #[serde(rename = "audit.key_rotated")]
    AuditKeyRotated {
        /// The new key.
        key_id: String,
        /// The key it replaces.
        previous: Option<String>,
    },
}

/// What kind of record a [`Change`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// An organization.
    Org,
    /// A directory user.
    User,
    /// An API key.
    ApiKey,
    /// A session.
    Session,
    /// A role.
    Role,
    /// A role binding.
    Binding,
    /// An environment.
    Environment,
    /// A connection.
    Connection,
    /// A token signing key.
    SigningKey,
    /// A single sign-on identity provider of an organization.
    IdentityProvider,
    /// An organization's sealing settings (its trust key).
    SealingSettings,
    /// A data-plane agent's public key, enrolled in an environment.
    AgentKey,
    /// A connection's credential (sealed, or a reference).
    ConnectionCredential,
}

impl RecordKind {
    /// The path segment naming records of this kind in resources.
    fn plural(self) -> &'static str {
        match self {
            Self::Org => "orgs",
            Self::User => "users",
            Self::ApiKey => "api-keys",
            Self::Session => "sessions",
            Self::Role => "roles",
            Self::Binding => "bindings",
            Self::Environment => "environments",
            Self::Connection => "connections",
            Self::SigningKey => "signing-keys",
            Self::IdentityProvider => "identity-providers",
            Self::SealingSettings => "sealing",
            Self::AgentKey => "agent-keys",
            Self::ConnectionCredential => "credentials",
        }
    }
}

/// How a record changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// It was created.
    Created,
    /// Some of its fields changed.
    Updated,
    /// It was deleted (or revoked, for credentials).
    Deleted,
}

/// One change to a stored record: which record, how, and the names of the
/// fields that changed (never their values when they may be secret; the
/// non-secret values an auditor needs are in `values`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The kind of record.
    pub record: RecordKind,
    /// Its id.
    pub id: String,
    /// Its organization, if it belongs to one.
    pub org: Option<String>,
    /// Created, updated or deleted.
    pub change: ChangeKind,
    /// The fields set or changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<&'static str>,
    /// Non-secret values an auditor needs (a binding's subject and role,
    /// a user's groups), as `[name, value]` pairs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<(&'static str, String)>,
}

impl Change {
    /// A change of `change` kind to the `record` with `id`.
    pub fn new(record: RecordKind, id: &str, org: Option<&str>, change: ChangeKind) -> Self {
        Self {
            record,
            id: id.to_string(),
            org: org.map(str::to_string),
            change,
            fields: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Names `field` as set or changed.
    #[must_use]
    pub fn field(mut self, field: &'static str, changed: bool) -> Self {
        if changed {
            self.fields.push(field);
        }
        self
    }

    /// Records the non-secret `value` of `name`.
    #[must_use]
    pub fn value(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.values.push((name, value.into()));
        self
    }
}

/// The part of a record every event has, whatever its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The organization the event belongs to (its chain); `None` for the
    /// platform's own events.
    pub org: Option<String>,
    /// What it is about, as a resource name (`orgs/o/users/u`).
    pub resource: Option<String>,
    /// Whether it succeeded.
    pub outcome: Outcome,
}

impl Event {
    /// The organization, resource and outcome of this event.
    pub fn envelope(&self) -> Envelope {
        let at = |org: &Option<String>, resource: Option<String>, outcome| Envelope {
            org: org.clone(),
            resource,
            outcome,
        };
        let platform = |resource: String, outcome| Envelope {
            org: None,
            resource: Some(resource),
            outcome,
        };
        match self {
            Self::AuthSucceeded { org, .. } => at(org, None, Outcome::Success),
            Self::AuthFailed { org, .. } => at(org, None, Outcome::Failure),
            Self::ApiKeyUsedAfterExpiry { key_id, org } => at(
                org,
                Some(org_resource(org, "api-keys", key_id)),
                Outcome::Failure,
            ),
            Self::MfaEnrolled { user_id, org, .. }
            | Self::MfaReset { user_id, org }
            | Self::CredentialChanged { user_id, org, .. } => at(
                org,
                Some(org_resource(org, "users", user_id)),
                Outcome::Success,
            ),
            Self::AccessDenied { org, resource, .. } => {
                at(org, Some(resource.clone()), Outcome::Denied)
            }
            Self::AccessAllowed { org, resource, .. } => {
                at(org, Some(resource.clone()), Outcome::Success)
            }
            Self::Changed(change) => {
                let resource = match (change.record, &change.org) {
                    (RecordKind::Org, _) => format!("orgs/{}", change.id),
                    (RecordKind::SealingSettings, _) => format!("orgs/{}/sealing", change.id),
                    (kind, org) => org_resource(org, kind.plural(), &change.id),
                };
                at(&change.org, Some(resource), Outcome::Success)
            }
            Self::PluginLoaded { plugin, .. } => {
                platform(format!("plugins/{plugin}"), Outcome::Success)
            }
            Self::PluginFailed { plugin, .. } => {
                platform(format!("plugins/{plugin}"), Outcome::Failure)
            }
            Self::ConfigReloaded { .. } => platform("config".into(), Outcome::Success),
            Self::ConfigReloadFailed { .. } => platform("config".into(), Outcome::Failure),
            Self::AuditKeyRotated { key_id, .. } => {
                platform(format!("audit-keys/{key_id}"), Outcome::Success)
            }
        }
    }
}

/// `orgs/{org}/{kind}/{id}`, or `{kind}/{id}` outside any organization.
fn org_resource(org: &Option<String>, kind: &str, id: &str) -> String {
    match org {
        Some(org) => format!("orgs/{org}/{kind}/{id}"),
        None => format!("{kind}/{id}"),
    }
}

impl From<Change> for Event {
    fn from(change: Change) -> Self {
        Self::Changed(change)
    }
}
