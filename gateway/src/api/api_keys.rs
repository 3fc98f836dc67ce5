//! API keys of the caller's organization: `/api/v1/api-keys*`.

use super::extract::{JsonBody, Scoped};
use super::me::{NewKeyBody, refuse_key_minting_keys};
use super::views::{ApiKeyList, ApiKeyView, CreatedApiKey};
use crate::authz::Subject;
use crate::http::ApiError;
use crate::http::router::GatewayState;
use crate::store::ApiKeyRecord;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use http::StatusCode;
use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::Arc;

/// The response to a key creation: the only time the key is shown.
pub fn created(record: ApiKeyRecord, key: &SecretString) -> (StatusCode, Json<CreatedApiKey>) {
    (
        StatusCode::CREATED,
        Json(CreatedApiKey {
            api_key: ApiKeyView::from(record),
            key: key.expose_secret().to_string(),
        }),
    )
}

/// Filters of the list.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only the keys of this user.
    #[serde(default)]
    owner_id: Option<String>,
}

/// `GET /api/v1/api-keys[?owner_id=]`.
pub async fn list(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ApiKeyList>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    if let Some(owner) = &query.owner_id {
        // A filter naming someone outside the organization names nobody.
        state.identity.user_in(&org, owner).await?;
    }
    let keys: Vec<ApiKeyView> = state
        .identity
        .list_api_keys(&org, query.owner_id.as_deref())
        .await?
        .into_iter()
        .map(ApiKeyView::from)
        .collect();
    Ok(Json(ApiKeyList { api_keys: keys }))
}

/// `POST /api/v1/api-keys`: a key for any user of the organization.
pub async fn create(
    State(state): State<Arc<GatewayState>>,
    Scoped { caller, org }: Scoped,
    JsonBody(body): JsonBody<NewKeyBody>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    refuse_key_minting_keys(&caller)?;
    let creator = caller.require_user()?.id.clone();
    let owner = body
        .owner_id()
        .map_or_else(|| creator.clone(), str::to_string);
    create_bound(&state, &org, &creator, owner, body).await
}

/// Creates a key for `owner` and binds it to the body's role: checked
/// before the key exists, so a bad role or scope creates nothing.
pub async fn create_bound(
    state: &GatewayState,
    org: &str,
    creator: &str,
    owner: String,
    body: NewKeyBody,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let (role, scope) = body.binding();
    state.authz.check_grant(org, &role, &scope).await?;
    let new = body.into_new_key(owner)?;
    let (record, key) = state.identity.create_api_key(org, creator, new).await?;
    let subject = Subject::ApiKey(record.id.clone());
    if let Err(error) = state
        .authz
        .grant(org, &subject, &role, &scope, creator)
        .await
    {
        // A key without its binding could do nothing; leave none behind.
        state.identity.revoke_api_key(org, &record.id, None).await?;
        return Err(error.into());
    }
    Ok(created(record, &key))
}

/// `DELETE /api/v1/api-keys/{key_id}`: refused from the next request on.
pub async fn revoke(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(key_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.identity.revoke_api_key(&org, &key_id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
