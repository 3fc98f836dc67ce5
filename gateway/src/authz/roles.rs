//! Custom roles and bindings.

use super::catalogue::{self, predefined};
use super::model::{Scope, Subject};
use super::{Authz, AuthzError, check_description, check_name, new_id};
use crate::store::{BindingRecord, Removal, RoleRecord};

/// The fields of a custom role; on create `name` and `permissions` are
/// required.
#[derive(Debug, Clone, Default)]
pub struct RoleInput {
    /// Name, unique in the organization, never a predefined role's.
    pub name: Option<String>,
    /// Description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// Catalogue patterns.
    pub permissions: Option<Vec<String>>,
}

/// A new binding.
#[derive(Debug, Clone)]
pub struct BindingInput {
    /// `user:<id>`, `group:<name>` or `api_key:<id>`.
    pub subject: String,
    /// A predefined role's name or a custom role's id.
    pub role: String,
    /// Where it applies.
    pub scope: Scope,
}

fn check_permissions(permissions: &[String]) -> Result<(), AuthzError> {
    if permissions.is_empty() || permissions.len() > 100 {
        return Err(AuthzError::Invalid(
            "`permissions` must list 1–100 permission patterns".into(),
        ));
    }
    for pattern in permissions {
        catalogue::validate_pattern(pattern).map_err(|e| AuthzError::Invalid(e.to_string()))?;
    }
    Ok(())
}

fn check_role_name(name: &str) -> Result<(), AuthzError> {
    check_name("name", name)?;
    if predefined(name).is_some() {
        return Err(AuthzError::Conflict(format!(
            "the predefined role `{name}`"
        )));
    }
    Ok(())
}

impl Authz {
    /// Creates a custom role.
    pub async fn create_role(
        &self,
        org: &str,
        input: &RoleInput,
    ) -> Result<RoleRecord, AuthzError> {
        let name = input
            .name
            .clone()
            .ok_or_else(|| AuthzError::Invalid("`name` is required".into()))?;
        check_role_name(&name)?;
        let permissions = input
            .permissions
            .clone()
            .ok_or_else(|| AuthzError::Invalid("`permissions` is required".into()))?;
        check_permissions(&permissions)?;
        let description = input.description.clone().flatten();
        check_description(description.as_deref())?;
        let now = crate::identity::now();
        let role = RoleRecord {
            id: new_id("rol_")?,
            org_id: org.to_string(),
            name,
            description,
            permissions,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_role(&role).await?;
        self.refresh().await?;
        Ok(role)
    }

    /// Changes a custom role; predefined roles cannot be changed.
    pub async fn update_role(
        &self,
        org: &str,
        id: &str,
        input: &RoleInput,
    ) -> Result<RoleRecord, AuthzError> {
        if predefined(id).is_some() {
            return Err(AuthzError::InUse(format!(
                "`{id}` is a predefined role and cannot be changed; create a custom role instead"
            )));
        }
        if let Some(name) = &input.name {
            check_role_name(name)?;
        }
        if let Some(permissions) = &input.permissions {
            check_permissions(permissions)?;
        }
        if let Some(description) = &input.description {
            check_description(description.as_deref())?;
        }
        let updated = self
            .store
            .update_role(
                org,
                id,
                input.name.as_deref(),
                input.description.as_ref().map(Option::as_deref),
                input.permissions.as_deref(),
                crate::identity::now(),
            )
            .await?
            .ok_or(AuthzError::NotFound("role"))?;
        self.refresh().await?;
        Ok(updated)
    }

    /// Deletes a custom role no binding uses.
    pub async fn delete_role(&self, org: &str, id: &str) -> Result<(), AuthzError> {
        if predefined(id).is_some() {
            return Err(AuthzError::InUse(format!(
                "`{id}` is a predefined role and cannot be deleted"
            )));
        }
        match self.store.delete_role(org, id).await? {
            Removal::Deleted(_) => {
                self.refresh().await?;
                Ok(())
            }
            Removal::Missing => Err(AuthzError::NotFound("role")),
            Removal::InUse(n) => Err(AuthzError::InUse(format!(
                "the role is used by {n} binding(s); delete them first"
            ))),
        }
    }

    /// Creates a binding after checking that its subject, role and scope
    /// exist in the organization.
    pub async fn create_binding(
        &self,
        org: &str,
        input: &BindingInput,
        by: &str,
    ) -> Result<BindingRecord, AuthzError> {
        let subject = Subject::parse(&input.subject).ok_or_else(|| {
            AuthzError::Invalid(
                "`subject` must be `user:<id>`, `group:<name>` or `api_key:<id>`".into(),
            )
        })?;
        self.check_subject(org, &subject).await?;
        self.check_grant(org, &input.role, &input.scope).await?;
        self.grant(org, &subject, &input.role, &input.scope, by)
            .await
    }

    /// Deletes a binding.
    pub async fn delete_binding(&self, org: &str, id: &str) -> Result<(), AuthzError> {
        match self.store.delete_binding(org, id).await? {
            Removal::Deleted(_) => {
                self.refresh().await?;
                Ok(())
            }
            Removal::Missing | Removal::InUse(_) => Err(AuthzError::NotFound("binding")),
        }
    }

    /// Binds `subject` to `role` on `scope` without the existence checks of
    /// [`Self::create_binding`]: for subjects the gateway itself just
    /// created (the bootstrap administrator, an organization's first
    /// administrator, a new API key).
    pub async fn grant(
        &self,
        org: &str,
        subject: &Subject,
        role: &str,
        scope: &Scope,
        by: &str,
    ) -> Result<BindingRecord, AuthzError> {
        let binding = BindingRecord {
            id: new_id("bnd_")?,
            org_id: org.to_string(),
            subject: subject.to_string(),
            role_id: role.to_string(),
            scope_kind: scope.kind().to_string(),
            scope_id: scope.id().map(str::to_string),
            created_at: crate::identity::now(),
            created_by: by.to_string(),
        };
        self.store.insert_binding(&binding).await?;
        self.refresh().await?;
        Ok(binding)
    }

    /// Checks that a binding could be made (role and scope exist in the
    /// organization), before the subject it is for is created.
    pub async fn check_grant(
        &self,
        org: &str,
        role: &str,
        scope: &Scope,
    ) -> Result<(), AuthzError> {
        if predefined(role).is_none() && self.store.role(org, role).await?.is_none() {
            return Err(AuthzError::NotFound("role"));
        }
        self.check_scope(org, scope).await
    }

    /// Removes every binding of a deleted user or API key.
    pub async fn forget_subject(&self, subject: &Subject) -> Result<(), AuthzError> {
        if self.store.delete_bindings_of(&subject.to_string()).await? > 0 {
            self.refresh().await?;
        }
        Ok(())
    }

    async fn check_subject(&self, org: &str, subject: &Subject) -> Result<(), AuthzError> {
        let found = match subject {
            Subject::User(id) => self
                .store
                .user(id)
                .await?
                .is_some_and(|user| user.org_id == org),
            Subject::ApiKey(id) => self
                .store
                .api_key(id)
                .await?
                .is_some_and(|key| key.org_id == org),
            Subject::Group(name) => {
                check_name("subject", name)?;
                true
            }
        };
        if found {
            Ok(())
        } else {
            Err(AuthzError::NotFound("subject"))
        }
    }

    async fn check_scope(&self, org: &str, scope: &Scope) -> Result<(), AuthzError> {
        let found = match scope {
            Scope::Organization => true,
            Scope::Environment { id } => self.store.environment(org, id).await?.is_some(),
            Scope::Connection { id } => self.store.connection(org, id).await?.is_some(),
        };
        if found {
            Ok(())
        } else {
            Err(AuthzError::NotFound(scope.kind()))
        }
    }
}
