//! Zero-knowledge connection credentials: `/api/v1/orgs/{org_id}/sealing`
//! (the trust key), `/api/v1/environments/{env_id}/agent-keys` and
//! `/api/v1/connections/{conn_id}/credential`. See [`crate::credentials`].

use super::extract::{JsonBody, Scoped, nullable, present};
use crate::credentials::{self as service, CredentialInput};
use crate::http::ApiError;
use crate::http::router::GatewayState;
use crate::store::{CredentialForm, SealingSettings};
use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use portcullis_sealing::{Recipient, SealedCredential, TrustPublicKey};
use schemars::JsonSchema;
use secrecy::{ExposeSecret as _, SecretBox, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An organization's sealing settings.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SealingView {
    /// The trust key's id (`trk_…`), once set.
    pub trust_key_id: Option<String>,
    /// The trust key's public half (base64url Ed25519). Its private half
    /// is yours; the gateway never has it.
    pub trust_public_key: Option<String>,
    /// Whether a plaintext credential is accepted and sealed by the
    /// gateway (weaker: the gateway then sees it). Off by default.
    pub server_side_sealing: bool,
    /// Unix seconds; 0 while never set.
    pub updated_at: i64,
}

impl From<SealingSettings> for SealingView {
    fn from(settings: SealingSettings) -> Self {
        let trust_key_id = settings
            .trust_public_key
            .as_deref()
            .and_then(|k| TrustPublicKey::from_base64url(k).ok())
            .map(|k| k.id());
        Self {
            trust_key_id,
            trust_public_key: settings.trust_public_key,
            server_side_sealing: settings.server_side_sealing,
            updated_at: settings.updated_at,
        }
    }
}

/// Changes to the sealing settings; an absent field stays.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SealingPatch {
    /// The trust key's public half, from `portcullis trust init`; `null`
    /// removes it (agent keys then stop being trusted).
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(
        with = "Option<String>",
        regex(pattern = r"^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$")
    )]
    trust_public_key: Option<Option<String>>,
    /// Accept plaintext credentials and seal them here (weaker).
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "bool")]
    server_side_sealing: Option<bool>,
}

/// `GET /api/v1/orgs/{org_id}/sealing`.
pub async fn sealing(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
) -> Result<Json<SealingView>, ApiError> {
    Ok(Json(state.store.sealing_settings(&org).await?.into()))
}

/// `PATCH /api/v1/orgs/{org_id}/sealing`.
pub async fn update_sealing(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    JsonBody(body): JsonBody<SealingPatch>,
) -> Result<Json<SealingView>, ApiError> {
    let settings = service::update_settings(
        &state.store,
        &org,
        body.trust_public_key,
        body.server_side_sealing,
    )
    .await?;
    Ok(Json(settings.into()))
}

/// An agent key enrolled in an environment.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AgentKeyView {
    /// `agk_…`, derived from the key.
    pub id: String,
    /// The environment.
    pub environment_id: String,
    /// A label.
    pub name: Option<String>,
    /// base64url X25519 public key.
    pub public_key: String,
    /// The trust key's endorsement (base64url Ed25519 signature over the
    /// organization, the environment and the key): verify it with your
    /// pinned trust public key before sealing to this key.
    pub endorsement: String,
    /// Whether the organization's current trust key endorses it.
    pub trusted: bool,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<service::AgentKey> for AgentKeyView {
    fn from(key: service::AgentKey) -> Self {
        let r = key.record;
        Self {
            id: r.id,
            environment_id: r.environment_id,
            name: r.name,
            public_key: r.public_key,
            endorsement: r.endorsement,
            trusted: key.trusted,
            created_at: r.created_at,
        }
    }
}

/// The agent keys of an environment.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AgentKeyList {
    /// Oldest first.
    pub agent_keys: Vec<AgentKeyView>,
}

/// An agent key to enroll, with the trust key's endorsement of it for
/// this environment (`portcullis trust sign-agent` prints this body).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgentKey {
    /// base64url X25519 public key (32 bytes).
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"))]
    public_key: String,
    /// base64url Ed25519 signature by the organization's trust key (64
    /// bytes).
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{85}[AQgw]$"))]
    endorsement: String,
    /// A label.
    #[serde(default)]
    #[schemars(length(min = 1, max = 100))]
    name: Option<String>,
}

/// `GET /api/v1/environments/{env_id}/agent-keys`.
pub async fn agent_keys(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(env_id): Path<String>,
) -> Result<Json<AgentKeyList>, ApiError> {
    let keys = service::agent_keys(&state.store, &org, &env_id).await?;
    Ok(Json(AgentKeyList {
        agent_keys: keys.into_iter().map(Into::into).collect(),
    }))
}

/// `POST /api/v1/environments/{env_id}/agent-keys`.
pub async fn enroll_agent_key(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(env_id): Path<String>,
    JsonBody(body): JsonBody<NewAgentKey>,
) -> Result<(StatusCode, Json<AgentKeyView>), ApiError> {
    if body
        .name
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.len() > 100)
    {
        return Err(ApiError::InvalidInput(
            "`name` must be 1–100 characters".into(),
        ));
    }
    let record = service::enroll_agent_key(
        &state.store,
        &org,
        &env_id,
        &body.public_key,
        &body.endorsement,
        body.name,
    )
    .await?;
    let view = service::AgentKey {
        record,
        trusted: true,
    };
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// `DELETE /api/v1/environments/{env_id}/agent-keys/{key_id}`.
pub async fn remove_agent_key(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path((env_id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service::remove_agent_key(&state.store, &org, &env_id, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A credential sealed on the customer's side: one HPKE seal per agent
/// key of the connection's environment.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SealedBody {
    /// The stored version plus one; bound into every seal.
    #[schemars(range(min = 1))]
    version: u64,
    /// One seal per trusted agent key of the environment, no more, no less.
    recipients: Vec<RecipientBody>,
}

/// One agent key's seal.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientBody {
    /// The agent key (`agk_…`).
    #[schemars(regex(pattern = r"^agk_[0-9a-f]{32}$"))]
    agent_key_id: String,
    /// HPKE's encapsulated key, base64url (32 bytes).
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"))]
    enc: String,
    /// AES-256-GCM ciphertext and tag, base64url (at least 16 bytes).
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{22,}$"))]
    ciphertext: String,
}

impl From<SealedBody> for SealedCredential {
    fn from(body: SealedBody) -> Self {
        Self {
            version: body.version,
            recipients: body
                .recipients
                .into_iter()
                .map(|r| Recipient {
                    agent_key_id: r.agent_key_id,
                    enc: r.enc,
                    ciphertext: r.ciphertext,
                })
                .collect(),
        }
    }
}

impl From<SealedCredential> for SealedBody {
    fn from(sealed: SealedCredential) -> Self {
        Self {
            version: sealed.version,
            recipients: sealed
                .recipients
                .into_iter()
                .map(|r| RecipientBody {
                    agent_key_id: r.agent_key_id,
                    enc: r.enc,
                    ciphertext: r.ciphertext,
                })
                .collect(),
        }
    }
}

/// A connection's credential: exactly one of the three forms.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialBody {
    /// A reference into your secrets store that only the agent resolves
    /// (`aws-sm://…`, `azure-kv://…`).
    Reference(
        #[schemars(
            length(min = 1, max = 2048),
            regex(pattern = r"^(aws-sm|azure-kv)://\S+$")
        )]
        String,
    ),
    /// Sealed on your side with `portcullis seal` (ciphertext only).
    Sealed(SealedBody),
    /// The plaintext: refused unless the organization turned server-side
    /// sealing on (weaker: the gateway then sees it); sealed at once to
    /// the environment's trusted agent keys and never stored.
    Plaintext(#[schemars(with = "String")] SecretString),
}

/// A connection's credential, as stored: never a plaintext.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CredentialView {
    /// The connection.
    pub connection_id: String,
    /// Grows by one with every replacement.
    pub version: i64,
    /// `sealed`, `reference`, or `removed` (the version still counts: the
    /// next credential has this one plus one).
    pub form: &'static str,
    /// `customer` (sealed on your side) or `gateway` (server-side sealing).
    pub sealed_by: String,
    /// The seals, for the `sealed` form.
    pub sealed: Option<SealedBody>,
    /// The reference, for the `reference` form.
    pub reference: Option<String>,
    /// Trusted agent keys of the environment it is not sealed to: seal
    /// again so they can open it.
    pub missing_recipients: Vec<String>,
    /// Keys it is sealed to that the environment no longer trusts: seal
    /// again to drop them.
    pub unknown_recipients: Vec<String>,
    /// Unix seconds.
    pub updated_at: i64,
}

impl TryFrom<service::Credential> for CredentialView {
    type Error = ApiError;
    fn try_from(credential: service::Credential) -> Result<Self, ApiError> {
        let r = credential.record;
        let (form, sealed, reference) = match r.form {
            CredentialForm::Sealed => {
                let sealed: SealedCredential =
                    serde_json::from_str(&r.body).map_err(|_| ApiError::Internal)?;
                ("sealed", Some(sealed.into()), None)
            }
            CredentialForm::Reference => ("reference", None, Some(r.body)),
            CredentialForm::Removed => ("removed", None, None),
        };
        Ok(Self {
            connection_id: r.connection_id,
            version: r.version,
            form,
            sealed_by: r.sealed_by,
            sealed,
            reference,
            missing_recipients: credential.missing_recipients,
            unknown_recipients: credential.unknown_recipients,
            updated_at: r.updated_at,
        })
    }
}

/// `GET /api/v1/connections/{conn_id}/credential`.
pub async fn credential(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(conn_id): Path<String>,
) -> Result<Json<CredentialView>, ApiError> {
    let credential = service::credential(&state.store, &org, &conn_id).await?;
    Ok(Json(credential.try_into()?))
}

/// `PUT /api/v1/connections/{conn_id}/credential`.
pub async fn put_credential(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(conn_id): Path<String>,
    JsonBody(body): JsonBody<CredentialBody>,
) -> Result<Json<CredentialView>, ApiError> {
    let input = match body {
        CredentialBody::Sealed(sealed) => CredentialInput::Sealed(sealed.into()),
        CredentialBody::Reference(reference) => CredentialInput::Reference(reference),
        CredentialBody::Plaintext(plaintext) => CredentialInput::Plaintext(SecretBox::new(
            Box::new(plaintext.expose_secret().as_bytes().to_vec()),
        )),
    };
    let credential = service::put_credential(&state.store, &org, &conn_id, input).await?;
    Ok(Json(credential.try_into()?))
}

/// `DELETE /api/v1/connections/{conn_id}/credential`.
pub async fn remove_credential(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(conn_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service::remove_credential(&state.store, &org, &conn_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
