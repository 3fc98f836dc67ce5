//! Each organization's single sign-on identity providers:
//! `/api/v1/identity-providers*`. Secret settings are write-only: the API
//! names them and never returns their values.

use super::extract::{JsonBody, Scoped, present};
use crate::http::ApiError;
use crate::http::router::GatewayState;
use crate::identity::certificates::CertificateFacts;
use crate::identity::sso::ProviderDraft;
use crate::store::{IdentityProviderRecord, ProviderSettings};
use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// An identity provider, as administrators see it.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "IdentityProvider")]
pub struct ProviderView {
    /// Id, in its sign-in URLs (`/auth/sso/{id}`).
    id: String,
    /// Organization.
    org_id: String,
    /// Name, unique in the organization.
    name: String,
    /// The auth-provider plugin it is an instance of.
    plugin: String,
    /// Its settings (secret ones are not shown).
    config: Map<String, Value>,
    /// The names of its secret settings; their values are never shown.
    secrets: Vec<String>,
    /// Where its users start signing in.
    login_path: String,
    /// The redirect URI or assertion consumer service path to register at
    /// the identity provider (on this gateway's public host).
    callback_path: String,
    /// The certificates it trusts to sign logins now (a SAML IdP's), with
    /// their expiry; `null` when it cannot say now (the gateway's log
    /// says why). `/metrics` counts those expiring within 30 days.
    certificates: Option<Vec<CertificateView>>,
    /// Increases with every change.
    revision: i64,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds.
    updated_at: i64,
}

/// A certificate an identity provider trusts.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "IdentityProviderCertificate")]
pub struct CertificateView {
    #[serde(flatten)]
    facts: CertificateFacts,
    /// Whether it expires within 30 days (or has expired).
    expires_soon: bool,
}

impl ProviderView {
    /// The view of `record`, with what its plugin trusts now.
    async fn of(state: &GatewayState, record: IdentityProviderRecord) -> Self {
        let now = crate::identity::now();
        let certificates = state
            .identity
            .sso_certificates(&record.id)
            .await
            .map(|all| {
                all.into_iter()
                    .map(|facts| CertificateView {
                        expires_soon: facts.expires_soon(now),
                        facts,
                    })
                    .collect()
            });
        let r = record;
        Self {
            login_path: format!("/auth/sso/{}", r.id),
            callback_path: format!("/auth/sso/{}/callback", r.id),
            id: r.id,
            org_id: r.org_id,
            name: r.name,
            plugin: r.plugin,
            secrets: r.settings.secrets.keys().cloned().collect(),
            config: r.settings.config,
            certificates,
            revision: r.revision,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The identity providers of an organization.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "IdentityProviderList")]
pub struct ProviderList {
    /// Oldest first.
    identity_providers: Vec<ProviderView>,
}

/// A new identity provider.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProvider {
    /// Unique in the organization.
    #[schemars(length(min = 1, max = 100))]
    name: String,
    /// The configured auth-provider plugin to instantiate (e.g. `oidc`).
    #[schemars(length(min = 1, max = 100))]
    plugin: String,
    /// The plugin's settings, as its documentation describes them.
    #[serde(default)]
    config: Map<String, Value>,
    /// Settings that are secret (e.g. `client_secret`): stored sealed,
    /// merged into `config` for the plugin, never returned.
    #[serde(default)]
    secrets: Map<String, Value>,
}

/// Changes to an identity provider; absent fields stay as they are.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderPatch {
    /// New name.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "String", length(min = 1, max = 100))]
    name: Option<String>,
    /// New settings (replace the old ones whole).
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Map<String, Value>")]
    config: Option<Map<String, Value>>,
    /// New secret settings (replace the old ones whole).
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Map<String, Value>")]
    secrets: Option<Map<String, Value>>,
}

/// A key may be in `config` or `secrets`, not both: which value the plugin
/// gets would otherwise be a surprise.
fn check_disjoint(
    config: &Map<String, Value>,
    secrets: &Map<String, Value>,
) -> Result<(), ApiError> {
    match config.keys().find(|k| secrets.contains_key(*k)) {
        Some(key) => Err(ApiError::InvalidInput(format!(
            "`{key}` is in both `config` and `secrets`; put it in one"
        ))),
        None => Ok(()),
    }
}

/// `GET /api/v1/identity-providers`.
pub async fn list(
    State(state): State<Arc<GatewayState>>,
    scoped: Scoped,
) -> Result<Json<ProviderList>, ApiError> {
    let providers = state.identity.identity_providers(&scoped.org).await?;
    let mut views = Vec::with_capacity(providers.len());
    for provider in providers {
        views.push(ProviderView::of(&state, provider).await);
    }
    Ok(Json(ProviderList {
        identity_providers: views,
    }))
}

/// `POST /api/v1/identity-providers`.
pub async fn create(
    State(state): State<Arc<GatewayState>>,
    scoped: Scoped,
    JsonBody(body): JsonBody<NewProvider>,
) -> Result<(StatusCode, Json<ProviderView>), ApiError> {
    check_disjoint(&body.config, &body.secrets)?;
    let draft = ProviderDraft {
        name: body.name,
        plugin: body.plugin,
        settings: ProviderSettings {
            config: body.config,
            secrets: body.secrets,
        },
    };
    let record = state
        .identity
        .create_identity_provider(&scoped.org, draft)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ProviderView::of(&state, record).await),
    ))
}

/// `GET /api/v1/identity-providers/{idp_id}`.
pub async fn get(
    State(state): State<Arc<GatewayState>>,
    scoped: Scoped,
    Path(id): Path<String>,
) -> Result<Json<ProviderView>, ApiError> {
    let record = state.identity.identity_provider(&scoped.org, &id).await?;
    Ok(Json(ProviderView::of(&state, record).await))
}

/// `PATCH /api/v1/identity-providers/{idp_id}`.
pub async fn update(
    State(state): State<Arc<GatewayState>>,
    scoped: Scoped,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ProviderPatch>,
) -> Result<Json<ProviderView>, ApiError> {
    let current = state.identity.identity_provider(&scoped.org, &id).await?;
    check_disjoint(
        body.config.as_ref().unwrap_or(&current.settings.config),
        body.secrets.as_ref().unwrap_or(&current.settings.secrets),
    )?;
    let record = state
        .identity
        .update_identity_provider(&scoped.org, &id, body.name, body.config, body.secrets)
        .await?;
    Ok(Json(ProviderView::of(&state, record).await))
}

/// `DELETE /api/v1/identity-providers/{idp_id}`.
pub async fn delete(
    State(state): State<Arc<GatewayState>>,
    scoped: Scoped,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .delete_identity_provider(&scoped.org, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
