//! Environments and connections: `/api/v1/environments*`,
//! `/api/v1/connections/{conn_id}`.

use super::extract::{JsonBody, Scoped, nullable, present, present_integer};
use crate::authz::{CONNECTION_KINDS, EnvironmentInput, TLS_MODES};
use crate::http::ApiError;
use crate::http::router::GatewayState;
use crate::store::{ConnectionChanges, ConnectionRecord, EnvironmentRecord};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use http::StatusCode;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An environment.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EnvironmentView {
    /// Id.
    pub id: String,
    /// Organization.
    pub org_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl From<EnvironmentRecord> for EnvironmentView {
    fn from(e: EnvironmentRecord) -> Self {
        Self {
            id: e.id,
            org_id: e.org_id,
            name: e.name,
            description: e.description,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// A list of environments.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EnvironmentList {
    /// By name.
    pub environments: Vec<EnvironmentView>,
}

/// A connection's metadata.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConnectionView {
    /// Id.
    pub id: String,
    /// Organization.
    pub org_id: String,
    /// Environment.
    pub environment_id: String,
    /// Name.
    pub name: String,
    /// Kind (`postgres`, …).
    pub kind: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Database.
    pub database: Option<String>,
    /// TLS mode.
    pub tls_mode: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl From<ConnectionRecord> for ConnectionView {
    fn from(c: ConnectionRecord) -> Self {
        Self {
            id: c.id,
            org_id: c.org_id,
            environment_id: c.environment_id,
            name: c.name,
            kind: c.kind,
            host: c.host,
            port: c.port,
            database: c.database,
            tls_mode: c.tls_mode,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A list of connections.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConnectionList {
    /// By name.
    pub connections: Vec<ConnectionView>,
}

/// An environment's fields; on create `name` is required.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentBody {
    /// Unique in the organization.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "String", length(min = 1, max = 100))]
    name: Option<String>,
    /// Free text; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<String>", length(max = 500))]
    description: Option<Option<String>>,
}

impl From<EnvironmentBody> for EnvironmentInput {
    fn from(body: EnvironmentBody) -> Self {
        Self {
            name: body.name,
            description: body.description,
        }
    }
}

/// A connection's fields; on create all but `database` and `tls_mode`
/// are required.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionBody {
    /// Unique in the environment.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "String", length(min = 1, max = 100))]
    name: Option<String>,
    /// The database kind.
    #[serde(default, deserialize_with = "present")]
    #[schemars(schema_with = "kind_schema")]
    kind: Option<String>,
    /// Host name or IP address.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "String", length(min = 1, max = 253))]
    host: Option<String>,
    /// TCP port.
    #[serde(default, deserialize_with = "present_integer")]
    #[schemars(with = "u16", range(min = 1, max = 65535))]
    port: Option<i64>,
    /// Database name; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<String>", length(min = 1, max = 100))]
    database: Option<Option<String>>,
    /// How the agent verifies the database's TLS (default `verify-full`).
    #[serde(default, deserialize_with = "present")]
    #[schemars(schema_with = "tls_mode_schema")]
    tls_mode: Option<String>,
}

/// A string that is one of `values`: the schema says what the handler
/// accepts, from the same list.
fn one_of(values: &[&str]) -> Schema {
    let mut schema = Schema::default();
    schema.insert("type".into(), "string".into());
    schema.insert("enum".into(), values.to_vec().into());
    schema
}

fn kind_schema(_: &mut SchemaGenerator) -> Schema {
    one_of(CONNECTION_KINDS)
}

fn tls_mode_schema(_: &mut SchemaGenerator) -> Schema {
    one_of(TLS_MODES)
}

impl TryFrom<ConnectionBody> for ConnectionChanges {
    type Error = ApiError;
    fn try_from(body: ConnectionBody) -> Result<Self, ApiError> {
        let port = body
            .port
            .map(|p| {
                u16::try_from(p)
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| ApiError::InvalidInput("`port` must be 1–65535".into()))
            })
            .transpose()?;
        Ok(Self {
            name: body.name,
            kind: body.kind,
            host: body.host,
            port,
            database: body.database,
            tls_mode: body.tls_mode,
        })
    }
}

/// `GET /api/v1/environments`.
pub async fn list(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
) -> Result<Json<EnvironmentList>, ApiError> {
    let environments = state.store.environments(&org).await?;
    Ok(Json(EnvironmentList {
        environments: environments.into_iter().map(Into::into).collect(),
    }))
}

/// `POST /api/v1/environments`.
pub async fn create(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    JsonBody(body): JsonBody<EnvironmentBody>,
) -> Result<(StatusCode, Json<EnvironmentView>), ApiError> {
    let env = state.authz.create_environment(&org, &body.into()).await?;
    Ok((StatusCode::CREATED, Json(env.into())))
}

/// `GET /api/v1/environments/{env_id}`.
pub async fn get(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(env_id): Path<String>,
) -> Result<Json<EnvironmentView>, ApiError> {
    let env = state
        .store
        .environment(&org, &env_id)
        .await?
        .ok_or(ApiError::ResourceNotFound("environment"))?;
    Ok(Json(env.into()))
}

/// `PATCH /api/v1/environments/{env_id}`.
pub async fn update(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(env_id): Path<String>,
    JsonBody(body): JsonBody<EnvironmentBody>,
) -> Result<Json<EnvironmentView>, ApiError> {
    let env = state
        .authz
        .update_environment(&org, &env_id, &body.into())
        .await?;
    Ok(Json(env.into()))
}

/// Options of an environment's deletion.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteOptions {
    /// Delete its connections (and the bindings scoped to them) too.
    #[serde(default)]
    cascade: bool,
}

/// `DELETE /api/v1/environments/{env_id}[?cascade=true]`: refused while
/// the environment has connections, unless asked to cascade.
pub async fn delete(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(env_id): Path<String>,
    options: Result<Query<DeleteOptions>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let Query(options) =
        options.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    state
        .authz
        .delete_environment(&org, &env_id, options.cascade)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/environments/{env_id}/connections`.
pub async fn list_connections(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(env_id): Path<String>,
) -> Result<Json<ConnectionList>, ApiError> {
    if state.store.environment(&org, &env_id).await?.is_none() {
        return Err(ApiError::ResourceNotFound("environment"));
    }
    let connections = state.store.connections(&org, &env_id).await?;
    Ok(Json(ConnectionList {
        connections: connections.into_iter().map(Into::into).collect(),
    }))
}

/// `POST /api/v1/environments/{env_id}/connections`.
pub async fn create_connection(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(env_id): Path<String>,
    JsonBody(body): JsonBody<ConnectionBody>,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    let input = ConnectionChanges::try_from(body)?;
    let conn = state.authz.create_connection(&org, &env_id, &input).await?;
    Ok((StatusCode::CREATED, Json(conn.into())))
}

/// `GET /api/v1/connections/{conn_id}`.
pub async fn get_connection(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(conn_id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    let conn = state
        .store
        .connection(&org, &conn_id)
        .await?
        .ok_or(ApiError::ResourceNotFound("connection"))?;
    Ok(Json(conn.into()))
}

/// `PATCH /api/v1/connections/{conn_id}`.
pub async fn update_connection(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(conn_id): Path<String>,
    JsonBody(body): JsonBody<ConnectionBody>,
) -> Result<Json<ConnectionView>, ApiError> {
    let input = ConnectionChanges::try_from(body)?;
    let conn = state
        .authz
        .update_connection(&org, &conn_id, &input)
        .await?;
    Ok(Json(conn.into()))
}

/// `DELETE /api/v1/connections/{conn_id}`.
pub async fn delete_connection(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(conn_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.authz.delete_connection(&org, &conn_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
