//! The audit log over HTTP: the published checkpoint keys, queries with
//! cursor pagination and export bundles. An organization's administrators
//! read their organization's chain; platform operators read the
//! platform's.

use super::extract::{FullAccess, Scoped};
use crate::audit::checkpoint::KeySet;
use crate::audit::{self, Outcome};
use crate::http::ApiError;
use crate::http::router::GatewayState;
use crate::store::AuditFilter;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::header;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Most events one page holds.
const MAX_PAGE: i64 = 1000;
/// Events per page unless asked.
const DEFAULT_PAGE: i64 = 100;

/// `GET /.well-known/portcullis-audit-key`: every key that signed a
/// checkpoint, newest first; retired ones stay listed.
pub async fn keys(State(state): State<Arc<GatewayState>>) -> Result<Response, ApiError> {
    let keys = state.audit.key_set().await?;
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json::<KeySet>(keys),
    )
        .into_response())
}

/// Filters and the cursor of a query.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Events at or after this time (Unix milliseconds).
    #[serde(default)]
    since: Option<i64>,
    /// Events before this time (Unix milliseconds).
    #[serde(default)]
    until: Option<i64>,
    /// Only this actor (`user:<id>`, `api_key:<id>`, `system`, …).
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    actor: Option<String>,
    /// Only this event (`record.changed`, `auth.failed`, `access.denied`, …).
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    action: Option<String>,
    /// Only this resource and what is under it (`orgs/o/users`).
    #[serde(default)]
    #[schemars(length(min = 1, max = 512))]
    resource: Option<String>,
    /// Only this outcome: `success`, `failure` or `denied`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("enum" = ["success", "failure", "denied"]))]
    outcome: Option<Outcome>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,17}$"))]
    cursor: Option<String>,
    /// Events per page (1–1000, default 100).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<i64>,
}

/// One page of events, newest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditPage {
    /// The events (records as stored; see the README's audit schema),
    /// each with its `seq`.
    events: Vec<serde_json::Value>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    next_cursor: Option<String>,
}

/// `GET /api/v1/audit`: the caller's organization's events.
pub async fn query(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    page(&state, org, query).await
}

/// `GET /api/v1/platform/audit` (platform operators): the platform's own
/// events (plugins, configuration, keys, sign-ins outside organizations).
pub async fn platform_query(
    State(state): State<Arc<GatewayState>>,
    FullAccess(_): FullAccess,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    page(&state, audit::PLATFORM_CHAIN.into(), query).await
}

async fn page(
    state: &GatewayState,
    chain: String,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::InvalidInput(format!(
            "`limit` must be from 1 to {MAX_PAGE}"
        )));
    }
    for (name, value, max) in [
        ("actor", &query.actor, 256),
        ("action", &query.action, 64),
        ("resource", &query.resource, 512),
    ] {
        if let Some(value) = value
            && (value.is_empty() || value.chars().count() > max)
        {
            return Err(ApiError::InvalidInput(format!(
                "`{name}` must be 1 to {max} characters"
            )));
        }
    }
    let before = match &query.cursor {
        None => None,
        Some(cursor) => Some(parse_cursor(cursor).ok_or_else(|| {
            ApiError::InvalidInput(
                "`cursor` is not one this API returned; pass `next_cursor` as it came".into(),
            )
        })?),
    };
    let filter = AuditFilter {
        chain,
        since: query.since,
        until: query.until,
        actor: query.actor,
        action: query.action,
        resource: query.resource,
        outcome: query.outcome.map(|o| o.as_str().to_string()),
        before,
        limit: limit + 1,
    };
    let mut found = state.store.query_audit(&filter).await?;
    let more = found.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| found.last().map(|(seq, _)| seq.to_string()))
        .flatten();
    let events = found
        .into_iter()
        .filter_map(|(_, record)| serde_json::from_str(&record).ok())
        .collect();
    Ok(Json(AuditPage {
        events,
        next_cursor,
    }))
}

/// A cursor as this API writes them: a sequence number, digits only, no
/// leading zero (the schema's pattern, enforced).
fn parse_cursor(cursor: &str) -> Option<i64> {
    let digits = cursor.as_bytes();
    let well_formed = (1..=18).contains(&digits.len())
        && digits[0] != b'0'
        && digits.iter().all(u8::is_ascii_digit);
    well_formed.then(|| cursor.parse().ok()).flatten()
}

/// Where an export starts.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Export the events after this sequence number (the previous
    /// bundle's last, so bundles chain); from the start if absent.
    #[serde(default)]
    #[schemars(range(min = 0))]
    after: Option<i64>,
}

/// The bundle, as JSON Lines (`application/jsonl`).
#[derive(Debug)]
pub struct JsonLines;

impl JsonSchema for JsonLines {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "JsonLines".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "contentMediaType": JSON_LINES,
            "description": "An audit bundle: a header line, one line per event, one per checkpoint"
        })
    }
}

/// The media type of bundles.
pub const JSON_LINES: &str = "application/jsonl";

/// `GET /api/v1/audit/export`: the caller's organization's chain after
/// `after`, up to its newest checkpoint, verifiable offline with
/// `portcullis audit verify --bundle FILE --key KEY`.
pub async fn export(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    bundle(&state, &org, query).await
}

/// `GET /api/v1/platform/audit/export` (platform operators).
pub async fn platform_export(
    State(state): State<Arc<GatewayState>>,
    FullAccess(_): FullAccess,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    bundle(&state, audit::PLATFORM_CHAIN, query).await
}

async fn bundle(
    state: &GatewayState,
    chain: &str,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let after = query.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::InvalidInput("`after` must be 0 or more".into()));
    }
    // What is recorded until now is signed before it is exported.
    state.audit.checkpoint().await?;
    let bundle = state.audit.export(chain, after).await?;
    let name = format!(
        "attachment; filename=\"audit-{chain}-{}-{}.jsonl\"",
        bundle.header.after + 1,
        bundle.header.to
    );
    Ok((
        [
            (header::CONTENT_TYPE, JSON_LINES.to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        bundle.to_jsonl(),
    )
        .into_response())
}

/// `POST /api/v1/platform/audit/keys` (platform operators): a new
/// checkpoint signing key; the old one stays published.
pub async fn rotate_key(
    State(state): State<Arc<GatewayState>>,
    FullAccess(_): FullAccess,
) -> Result<Json<RotatedKey>, ApiError> {
    let key_id = state.audit.rotate_key().await?;
    Ok(Json(RotatedKey { key_id }))
}

/// The new key.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RotatedKey {
    /// Its id (in `/.well-known/portcullis-audit-key`).
    key_id: String,
}
