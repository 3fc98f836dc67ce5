//! The policy snapshot authorizer plugins decide on: the catalogue's
//! predefined roles, every custom role, the resource tree and every
//! binding, as JSON (format [`SNAPSHOT_FORMAT`]).

use super::catalogue::{self, PREDEFINED_ROLES};
use super::model::Scope;
use crate::store::PolicyRecords;
use serde::Serialize;

/// The snapshot layout's version; plugins refuse one they do not know.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// The whole document.
#[derive(Debug, Serialize)]
pub struct PolicyDocument {
    /// [`SNAPSHOT_FORMAT`].
    pub format: u32,
    /// The store's policy version.
    pub version: u64,
    /// Permissions that need the second factor (`amr` `mfa`).
    pub mfa_required: Vec<String>,
    /// Predefined roles (organization `null`) and custom roles, with their
    /// permissions expanded against the catalogue (`*` kept as is).
    pub roles: Vec<SnapshotRole>,
    /// Which environment each connection is in.
    pub connections: Vec<SnapshotConnection>,
    /// Every binding.
    pub bindings: Vec<SnapshotBinding>,
}

/// A role.
#[derive(Debug, Serialize)]
pub struct SnapshotRole {
    /// A predefined role's name or a custom role's id.
    pub id: String,
    /// `None` for predefined roles (every organization has them).
    pub org: Option<String>,
    /// Expanded permissions.
    pub permissions: Vec<String>,
}

/// A connection's place in the tree.
#[derive(Debug, Serialize)]
pub struct SnapshotConnection {
    /// Connection id.
    pub id: String,
    /// Organization.
    pub org: String,
    /// Environment id.
    pub environment: String,
}

/// A binding.
#[derive(Debug, Serialize)]
pub struct SnapshotBinding {
    /// Binding id.
    pub id: String,
    /// Organization.
    pub org: String,
    /// `user:<id>`, `group:<name>` or `api_key:<id>`.
    pub subject: String,
    /// Role id.
    pub role: String,
    /// Scope.
    pub scope: Scope,
}

/// Builds the document from what the store holds. Bindings whose scope
/// was stored malformed are left out (they grant nothing).
pub fn document(records: &PolicyRecords, mfa_required: &[String]) -> PolicyDocument {
    let predefined = PREDEFINED_ROLES.iter().map(|role| SnapshotRole {
        id: role.name.to_string(),
        org: None,
        permissions: role.permissions(),
    });
    let custom = records.roles.iter().map(|role| SnapshotRole {
        id: role.id.clone(),
        org: Some(role.org_id.clone()),
        permissions: catalogue::expand(&role.permissions, &[]),
    });
    PolicyDocument {
        format: SNAPSHOT_FORMAT,
        version: u64::try_from(records.version).unwrap_or(0),
        mfa_required: mfa_required.to_vec(),
        roles: predefined.chain(custom).collect(),
        connections: records
            .connections
            .iter()
            .map(|(id, org, environment)| SnapshotConnection {
                id: id.clone(),
                org: org.clone(),
                environment: environment.clone(),
            })
            .collect(),
        bindings: records
            .bindings
            .iter()
            .filter_map(|b| {
                Some(SnapshotBinding {
                    id: b.id.clone(),
                    org: b.org_id.clone(),
                    subject: b.subject.clone(),
                    role: b.role_id.clone(),
                    scope: Scope::from_parts(&b.scope_kind, b.scope_id.as_deref())?,
                })
            })
            .collect(),
    }
}
