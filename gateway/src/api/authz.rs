//! The permission catalogue, decision explanations and effective
//! permissions: `/api/v1/authz/*`.

use super::extract::{FullAccess, JsonBody, Scoped, present};
use crate::authz::catalogue::{PERMISSIONS, PREDEFINED_ROLES, Permission, PredefinedRole};
use crate::authz::{EffectiveGrant, Receipt, Subject, effective};
use crate::http::ApiError;
use crate::http::permission::{self, Asking};
use crate::http::router::GatewayState;
use crate::identity::{api_key_principal, directory_principal};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The catalogue.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PermissionCatalogue {
    /// Every permission, `resource:action`.
    pub permissions: Vec<Permission>,
    /// The predefined roles and what they grant.
    pub predefined_roles: Vec<PredefinedRole>,
    /// The permissions this gateway's policy grants only after a sign-in
    /// with the second factor.
    pub mfa_required: Vec<String>,
}

/// `GET /api/v1/authz/permissions`.
pub async fn permissions(
    State(state): State<Arc<GatewayState>>,
    FullAccess(_): FullAccess,
) -> Json<PermissionCatalogue> {
    Json(PermissionCatalogue {
        permissions: PERMISSIONS.to_vec(),
        predefined_roles: PREDEFINED_ROLES.to_vec(),
        mfa_required: state.authz.mfa_required().to_vec(),
    })
}

/// A question for the authorizer.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    /// `user:<id>` or `api_key:<id>` of your organization.
    #[schemars(length(min = 3, max = 300))]
    subject: String,
    /// The permission, e.g. `connections:read`.
    #[schemars(length(min = 1, max = 200))]
    action: String,
    /// The resource, e.g. `orgs/<org>/connections/<id>`.
    #[schemars(length(min = 1, max = 1000))]
    resource: String,
    /// How the subject signed in (RFC 8176 `amr`); `["pwd"]` when absent,
    /// so add `mfa` to see a decision after the second factor. Ignored for
    /// API keys, which never carry `mfa`.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Vec<String>", length(max = 10))]
    amr: Option<Vec<String>>,
}

/// `POST /api/v1/authz/explain`: the receipt, computed now by the active
/// authorizer on the current snapshot (never from a cache).
pub async fn explain(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    JsonBody(body): JsonBody<ExplainRequest>,
) -> Result<Json<Receipt>, ApiError> {
    let subject = Subject::parse(&body.subject).ok_or_else(|| {
        ApiError::InvalidInput("`subject` must be `user:<id>` or `api_key:<id>`".into())
    })?;
    let amr = body.amr.unwrap_or_else(|| vec!["pwd".into()]);
    let (principal, user_id, api_key_id) = match &subject {
        Subject::User(id) => {
            let user = state
                .store
                .user(id)
                .await?
                .filter(|u| u.org_id == org)
                .ok_or(ApiError::ResourceNotFound("subject"))?;
            (
                directory_principal(&user, user.groups.clone(), amr),
                user.id.clone(),
                None,
            )
        }
        Subject::ApiKey(id) => {
            let key = state
                .store
                .api_key(id)
                .await?
                .filter(|k| k.org_id == org)
                .ok_or(ApiError::ResourceNotFound("subject"))?;
            let owner = state
                .store
                .user(&key.owner_id)
                .await?
                .ok_or(ApiError::ResourceNotFound("subject"))?;
            (
                api_key_principal(&owner, &key),
                owner.id.clone(),
                Some(key.id),
            )
        }
        Subject::Group(_) => {
            return Err(ApiError::InvalidInput(
                "explain a user or an API key; a group is not a caller".into(),
            ));
        }
    };
    let asking = Asking {
        principal: &principal,
        user_id: Some(&user_id),
        api_key_id: api_key_id.as_deref(),
    };
    let receipt = permission::decide(
        &state,
        asking,
        &body.action,
        &body.resource,
        permission::Detail::Receipt,
    )
    .await?;
    Ok(Json(receipt))
}

/// What a subject may do.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EffectivePermissions {
    /// The subject asked about.
    pub subject: String,
    /// Its grants, one per binding that applies to it.
    pub grants: Vec<EffectiveGrant>,
    /// For an API key: its owner, whose grants also limit it (the key may
    /// do only what both allow).
    pub limited_by: Option<String>,
}

/// The subject asked about.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EffectiveQuery {
    /// `user:<id>`, `group:<name>` or `api_key:<id>`.
    subject: String,
}

/// `GET /api/v1/authz/effective?subject=user:<id>`.
pub async fn effective_permissions(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    query: Result<Query<EffectiveQuery>, QueryRejection>,
) -> Result<Json<EffectivePermissions>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let subject = Subject::parse(&query.subject).ok_or_else(|| {
        ApiError::InvalidInput(
            "`subject` must be `user:<id>`, `group:<name>` or `api_key:<id>`".into(),
        )
    })?;
    let (grants, limited_by) = effective(&state.authz, &org, &subject).await?;
    Ok(Json(EffectivePermissions {
        subject: subject.to_string(),
        grants,
        limited_by,
    }))
}
