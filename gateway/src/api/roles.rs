//! Roles and bindings: `/api/v1/roles*`, `/api/v1/bindings*`.

use super::extract::{JsonBody, Scoped, nullable, present};
use crate::authz::catalogue::{self, PREDEFINED_ROLES};
use crate::authz::{BindingInput, RoleInput, Scope};
use crate::http::ApiError;
use crate::http::router::GatewayState;
use crate::store::{BindingRecord, RoleRecord};
use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A role: predefined (not editable) or custom.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RoleView {
    /// A predefined role's name, or a custom role's id (`rol_…`); bindings
    /// name roles by it.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Whether it is predefined.
    pub predefined: bool,
    /// The permission patterns as written.
    pub permissions: Vec<String>,
    /// What they cover in the catalogue (`*`: everything).
    pub effective_permissions: Vec<String>,
}

impl From<RoleRecord> for RoleView {
    fn from(role: RoleRecord) -> Self {
        Self {
            effective_permissions: catalogue::expand(&role.permissions, &[]),
            id: role.id,
            name: role.name,
            description: role.description,
            predefined: false,
            permissions: role.permissions,
        }
    }
}

fn predefined_views() -> impl Iterator<Item = RoleView> {
    PREDEFINED_ROLES.iter().map(|role| RoleView {
        id: role.name.to_string(),
        name: role.name.to_string(),
        description: Some(role.description.to_string()),
        predefined: true,
        permissions: role.grants.iter().map(|g| g.to_string()).collect(),
        effective_permissions: role.permissions(),
    })
}

/// Roles.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RoleList {
    /// Predefined first, then custom by name.
    pub roles: Vec<RoleView>,
}

/// A custom role's fields; on create `name` and `permissions` are required.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// Unique in the organization; not a predefined role's name.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "String", length(min = 1, max = 100))]
    name: Option<String>,
    /// Free text; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<String>", length(max = 500))]
    description: Option<Option<String>>,
    /// Permission patterns: `resource:action`, `resource:*`, `*:action`
    /// or `*` (see `GET /api/v1/authz/permissions`).
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Vec<String>", length(min = 1, max = 100))]
    permissions: Option<Vec<String>>,
}

impl From<RoleBody> for RoleInput {
    fn from(body: RoleBody) -> Self {
        Self {
            name: body.name,
            description: body.description,
            permissions: body.permissions,
        }
    }
}

/// A binding.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BindingView {
    /// Id.
    pub id: String,
    /// `user:<id>`, `group:<name>` or `api_key:<id>`.
    pub subject: String,
    /// Role id.
    pub role: String,
    /// Where it applies.
    pub scope: Scope,
    /// Unix seconds.
    pub created_at: i64,
    /// Who created it.
    pub created_by: String,
}

impl TryFrom<BindingRecord> for BindingView {
    type Error = ApiError;
    fn try_from(b: BindingRecord) -> Result<Self, ApiError> {
        let scope = Scope::from_parts(&b.scope_kind, b.scope_id.as_deref()).ok_or_else(|| {
            tracing::error!(binding = %b.id, "a stored binding has a malformed scope");
            ApiError::Internal
        })?;
        Ok(Self {
            id: b.id,
            subject: b.subject,
            role: b.role_id,
            scope,
            created_at: b.created_at,
            created_by: b.created_by,
        })
    }
}

/// Bindings.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BindingList {
    /// Oldest first.
    pub bindings: Vec<BindingView>,
}

/// A new binding.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingBody {
    /// `user:<id>`, `group:<name>` or `api_key:<id>`.
    #[schemars(length(min = 3, max = 300))]
    subject: String,
    /// A predefined role's name or a custom role's id.
    #[schemars(length(min = 1, max = 128))]
    role: String,
    /// Where it applies; the organization when absent.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Scope")]
    scope: Option<Scope>,
}

fn by(scoped: &Scoped) -> String {
    scoped
        .caller
        .user
        .as_deref()
        .map_or_else(|| scoped.caller.principal.subject.clone(), |u| u.id.clone())
}

/// `GET /api/v1/roles`.
pub async fn list(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
) -> Result<Json<RoleList>, ApiError> {
    let custom = state.store.roles(&org).await?;
    let roles = predefined_views()
        .chain(custom.into_iter().map(RoleView::from))
        .collect();
    Ok(Json(RoleList { roles }))
}

/// `POST /api/v1/roles`.
pub async fn create(
    State(state): State<Arc<GatewayState>>,
    scoped: Scoped,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<(StatusCode, Json<RoleView>), ApiError> {
    let role = state.authz.create_role(&scoped.org, &body.into()).await?;
    Ok((StatusCode::CREATED, Json(role.into())))
}

/// `GET /api/v1/roles/{role_id}`.
pub async fn get(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(role_id): Path<String>,
) -> Result<Json<RoleView>, ApiError> {
    if let Some(view) = predefined_views().find(|r| r.id == role_id) {
        return Ok(Json(view));
    }
    let role = state
        .store
        .role(&org, &role_id)
        .await?
        .ok_or(ApiError::ResourceNotFound("role"))?;
    Ok(Json(role.into()))
}

/// `PATCH /api/v1/roles/{role_id}`.
pub async fn update(
    State(state): State<Arc<GatewayState>>,
    scoped: Scoped,
    Path(role_id): Path<String>,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Json<RoleView>, ApiError> {
    let role = state
        .authz
        .update_role(&scoped.org, &role_id, &body.into())
        .await?;
    Ok(Json(role.into()))
}

/// `DELETE /api/v1/roles/{role_id}`.
pub async fn delete(
    State(state): State<Arc<GatewayState>>,
    scoped: Scoped,
    Path(role_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.authz.delete_role(&scoped.org, &role_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/bindings`.
pub async fn list_bindings(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
) -> Result<Json<BindingList>, ApiError> {
    let bindings = state.store.bindings(&org, None).await?;
    Ok(Json(BindingList {
        bindings: bindings
            .into_iter()
            .map(BindingView::try_from)
            .collect::<Result<_, _>>()?,
    }))
}

/// `POST /api/v1/bindings`.
pub async fn create_binding(
    State(state): State<Arc<GatewayState>>,
    scoped: Scoped,
    JsonBody(body): JsonBody<BindingBody>,
) -> Result<(StatusCode, Json<BindingView>), ApiError> {
    let input = BindingInput {
        subject: body.subject,
        role: body.role,
        scope: body.scope.unwrap_or(Scope::Organization),
    };
    let binding = state
        .authz
        .create_binding(&scoped.org, &input, &by(&scoped))
        .await?;
    Ok((StatusCode::CREATED, Json(binding.try_into()?)))
}

/// `DELETE /api/v1/bindings/{binding_id}`.
pub async fn delete_binding(
    State(state): State<Arc<GatewayState>>,
    scoped: Scoped,
    Path(binding_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.authz.delete_binding(&scoped.org, &binding_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
