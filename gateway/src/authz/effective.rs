//! What a subject may do, per scope: its bindings (and, for users, their
//! groups' bindings) with each role's permissions spelled out.

use super::catalogue::{self, predefined};
use super::model::{Scope, Subject};
use super::{Authz, AuthzError};
use serde::Serialize;

/// One grant: a binding that applies to the subject.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EffectiveGrant {
    /// Where it applies (and below).
    pub scope: Scope,
    /// The role.
    pub role: String,
    /// The binding that grants it.
    pub binding_id: String,
    /// The subject the binding names (the user, one of their groups, or
    /// the API key).
    pub via: String,
    /// The permissions (`*`: everything).
    pub permissions: Vec<String>,
    /// Those of them that need a sign-in with the second factor.
    pub mfa_required: Vec<String>,
}

/// The grants of `subject` in `org`. For an API key these are the key's
/// own; what it may do is also limited by its owner's (`limited_by`).
pub async fn effective(
    authz: &Authz,
    org: &str,
    subject: &Subject,
) -> Result<(Vec<EffectiveGrant>, Option<String>), AuthzError> {
    let store = authz.store();
    let (mut subjects, limited_by) = match subject {
        Subject::User(id) => {
            let user = store
                .user(id)
                .await?
                .filter(|u| u.org_id == org)
                .ok_or(AuthzError::NotFound("subject"))?;
            let groups = user.groups.iter().map(|g| Subject::Group(g.clone()));
            (
                std::iter::once(subject.clone())
                    .chain(groups)
                    .collect::<Vec<_>>(),
                None,
            )
        }
        Subject::ApiKey(id) => {
            let key = store
                .api_key(id)
                .await?
                .filter(|k| k.org_id == org)
                .ok_or(AuthzError::NotFound("subject"))?;
            (
                vec![subject.clone()],
                Some(Subject::User(key.owner_id).to_string()),
            )
        }
        Subject::Group(_) => (vec![subject.clone()], None),
    };
    subjects.dedup();
    let mut grants = Vec::new();
    for who in &subjects {
        for binding in store.bindings(org, Some(&who.to_string())).await? {
            let Some(scope) = Scope::from_parts(&binding.scope_kind, binding.scope_id.as_deref())
            else {
                continue;
            };
            let permissions = match predefined(&binding.role_id) {
                Some(role) => role.permissions(),
                None => match store.role(org, &binding.role_id).await? {
                    Some(role) => catalogue::expand(&role.permissions, &[]),
                    None => continue,
                },
            };
            let mfa_required = authz
                .mfa_required()
                .iter()
                .filter(|m| permissions.iter().any(|p| catalogue::covers(p, m)))
                .cloned()
                .collect();
            grants.push(EffectiveGrant {
                scope,
                role: binding.role_id.clone(),
                binding_id: binding.id.clone(),
                via: who.to_string(),
                permissions,
                mfa_required,
            });
        }
    }
    Ok((grants, limited_by))
}
