//! Organizations: `/api/v1/orgs*`.

use super::admin::permit;
use super::extract::{FullAccess, JsonBody};
use super::views::OrgView;
use crate::http::ApiError;
use crate::http::permission;
use crate::http::router::GatewayState;
use crate::store::OrgChanges;
use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// `GET /api/v1/orgs`.
pub async fn list(
    State(state): State<Arc<GatewayState>>,
    FullAccess(caller): FullAccess,
) -> Result<Json<Value>, ApiError> {
    permission::check(&state, &caller.principal, "orgs.list", "orgs").await?;
    let orgs: Vec<OrgView> = state
        .identity
        .list_orgs()
        .await?
        .into_iter()
        .map(OrgView::from)
        .collect();
    Ok(Json(json!({ "orgs": orgs })))
}

/// A new organization.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    name: String,
}

/// `POST /api/v1/orgs`.
pub async fn create(
    State(state): State<Arc<GatewayState>>,
    FullAccess(caller): FullAccess,
    JsonBody(body): JsonBody<NewOrg>,
) -> Result<(StatusCode, Json<OrgView>), ApiError> {
    permission::check(&state, &caller.principal, "orgs.create", "orgs").await?;
    let org = state.identity.create_org(&body.name).await?;
    Ok((StatusCode::CREATED, Json(org.into())))
}

/// `GET /api/v1/orgs/{org_id}`.
pub async fn get(
    State(state): State<Arc<GatewayState>>,
    FullAccess(caller): FullAccess,
    Path(org_id): Path<String>,
) -> Result<Json<OrgView>, ApiError> {
    permit(&state, &caller, "orgs.read", &format!("orgs/{org_id}")).await?;
    Ok(Json(state.identity.org(&org_id).await?.into()))
}

/// Settings to change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgPatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    mfa_required: Option<bool>,
    #[serde(default)]
    api_key_max_lifetime_days: Option<i64>,
}

/// `PATCH /api/v1/orgs/{org_id}`.
pub async fn update(
    State(state): State<Arc<GatewayState>>,
    FullAccess(caller): FullAccess,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<OrgPatch>,
) -> Result<Json<OrgView>, ApiError> {
    permit(&state, &caller, "orgs.update", &format!("orgs/{org_id}")).await?;
    let changes = OrgChanges {
        name: body.name,
        mfa_required: body.mfa_required,
        api_key_max_lifetime_days: body.api_key_max_lifetime_days,
    };
    Ok(Json(
        state.identity.update_org(&org_id, &changes).await?.into(),
    ))
}
