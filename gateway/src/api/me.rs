//! The caller's own account: `/api/v1/me/*`.

use super::extract::{Authenticated, ClientIp, FullAccess, JsonBody, present, present_integer};
use super::views::{
    ApiKeyList, ApiKeyView, MfaView, RecoveryCodes, SessionList, SessionView, TotpEnrollmentView,
};
use crate::http::ApiError;
use crate::http::router::GatewayState;
use crate::identity::{Caller, NewApiKey, now};
use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use schemars::JsonSchema;
use secrecy::SecretString;
use serde::Deserialize;
use std::sync::Arc;

/// Changes to the caller's own profile.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// The new display name; `null` or absent clears it.
    #[schemars(
        length(min = 1, max = 100),
        regex(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    display_name: Option<String>,
}

/// `PATCH /api/v1/me`: the caller's display name (`null` clears it).
pub async fn update_profile(
    State(state): State<Arc<GatewayState>>,
    FullAccess(caller): FullAccess,
    JsonBody(body): JsonBody<ProfilePatch>,
) -> Result<Json<super::views::UserView>, ApiError> {
    let user = caller.require_user()?;
    let changes = crate::store::UserChanges {
        display_name: Some(body.display_name),
        ..crate::store::UserChanges::default()
    };
    let user = state
        .identity
        .update_user(&user.org_id, &user.id, &changes)
        .await?;
    Ok(Json(super::views::UserView::from(&user)))
}

/// A password change.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schemars(with = "String")]
    current_password: SecretString,
    /// 12–256 characters, not a common password, not containing the
    /// email's local part.
    #[schemars(with = "String", length(min = 12, max = 256))]
    new_password: SecretString,
}

/// `POST /api/v1/me/password`.
pub async fn change_password(
    State(state): State<Arc<GatewayState>>,
    Authenticated(caller): Authenticated,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .change_own_password(&caller, &body.current_password, &body.new_password, &ip)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn user_id(caller: &Caller) -> Result<String, ApiError> {
    Ok(caller.require_user()?.id.clone())
}

/// `GET /api/v1/me/mfa`.
pub async fn mfa(
    State(state): State<Arc<GatewayState>>,
    Authenticated(caller): Authenticated,
) -> Result<Json<MfaView>, ApiError> {
    let status = state.identity.mfa_status(&user_id(&caller)?).await?;
    Ok(Json(status.into()))
}

/// `POST /api/v1/me/mfa/totp`: starts enrollment.
pub async fn begin_totp(
    State(state): State<Arc<GatewayState>>,
    Authenticated(caller): Authenticated,
) -> Result<Json<TotpEnrollmentView>, ApiError> {
    let enrollment = state.identity.begin_totp_enrollment(&caller).await?;
    Ok(Json(enrollment.into()))
}

/// A TOTP code.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    /// The authenticator's current 6-digit code.
    code: String,
}

/// `POST /api/v1/me/mfa/totp/confirm`: finishes enrollment.
pub async fn confirm_totp(
    State(state): State<Arc<GatewayState>>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<TotpCode>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let codes = state
        .identity
        .confirm_totp_enrollment(&caller, &body.code)
        .await?;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// `POST /api/v1/me/mfa/recovery-codes`: new recovery codes.
pub async fn regenerate_recovery_codes(
    State(state): State<Arc<GatewayState>>,
    FullAccess(caller): FullAccess,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let codes = state.identity.regenerate_recovery_codes(&caller).await?;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// `GET /api/v1/me/sessions`.
pub async fn sessions(
    State(state): State<Arc<GatewayState>>,
    Authenticated(caller): Authenticated,
) -> Result<Json<SessionList>, ApiError> {
    let sessions: Vec<_> = state
        .identity
        .sessions_of(&user_id(&caller)?)
        .await?
        .into_iter()
        .map(|s| SessionView::new(s, &caller))
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// `DELETE /api/v1/me/sessions/{session_id}`.
pub async fn revoke_session(
    State(state): State<Arc<GatewayState>>,
    Authenticated(caller): Authenticated,
    Path(session_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .revoke_session_of(&user_id(&caller)?, &session_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new API key; its expiry is exactly one of `expires_in_seconds` and
/// `expires_at`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewApiKey", extend("anyOf" = [{"required": ["expires_in_seconds"]}, {"required": ["expires_at"]}]))]
pub struct NewKeyBody {
    #[schemars(
        length(min = 1, max = 100),
        regex(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    name: String,
    /// Groups the key may act with: a subset of the owner's.
    #[serde(default, deserialize_with = "present")]
    #[schemars(inner(regex(pattern = r"^[A-Za-z0-9._:-]{1,64}$")))]
    #[schemars(with = "Vec<String>")]
    scope: Option<Vec<String>>,
    /// Lifetime from now; exactly one of this and `expires_at`.
    #[serde(default, deserialize_with = "present_integer")]
    #[schemars(range(min = 1))]
    #[schemars(with = "i64")]
    expires_in_seconds: Option<i64>,
    /// Expiry (Unix seconds); exactly one of this and `expires_in_seconds`.
    #[serde(default, deserialize_with = "present_integer")]
    #[schemars(with = "i64")]
    expires_at: Option<i64>,
    /// The owner (`/api/v1/api-keys` only; default: the caller).
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "String")]
    owner_id: Option<String>,
    /// The role the key itself is bound to (default `admin`, so the key
    /// may do what its owner may). The key may only ever do what both its
    /// owner's and its own bindings allow.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "String", length(min = 1, max = 128))]
    role: Option<String>,
    /// Where that binding applies (default: the organization).
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "crate::authz::Scope")]
    role_scope: Option<crate::authz::Scope>,
}

impl NewKeyBody {
    /// The role and scope the new key is bound to.
    pub fn binding(&self) -> (String, crate::authz::Scope) {
        (
            self.role.clone().unwrap_or_else(|| "admin".into()),
            self.role_scope
                .clone()
                .unwrap_or(crate::authz::Scope::Organization),
        )
    }

    /// The key to create for `owner_id`.
    pub fn into_new_key(self, owner_id: String) -> Result<NewApiKey, ApiError> {
        let expires_at = match (self.expires_in_seconds, self.expires_at) {
            (Some(seconds), None) => now().saturating_add(seconds),
            (None, Some(at)) => at,
            _ => {
                return Err(ApiError::InvalidInput(
                    "an expiry is required: give `expires_in_seconds` or `expires_at` (Unix seconds)".into(),
                ));
            }
        };
        Ok(NewApiKey {
            name: self.name,
            owner_id,
            scope: self.scope,
            expires_at,
        })
    }

    /// The owner named in the body, if any.
    pub fn owner_id(&self) -> Option<&str> {
        self.owner_id.as_deref()
    }
}

/// Refuses key creation by callers that are themselves API keys: a key
/// must not mint keys that outlive or outscope it.
pub fn refuse_key_minting_keys(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_api_key() {
        return Err(ApiError::NotPermitted(
            "API keys cannot create API keys; sign in".into(),
        ));
    }
    Ok(())
}

/// `GET /api/v1/me/api-keys`.
pub async fn api_keys(
    State(state): State<Arc<GatewayState>>,
    FullAccess(caller): FullAccess,
) -> Result<Json<ApiKeyList>, ApiError> {
    let user = caller.require_user()?;
    let keys: Vec<ApiKeyView> = state
        .identity
        .list_api_keys(&user.org_id, Some(&user.id))
        .await?
        .into_iter()
        .map(ApiKeyView::from)
        .collect();
    Ok(Json(ApiKeyList { api_keys: keys }))
}

/// `POST /api/v1/me/api-keys`: the key is in the response, once.
pub async fn create_api_key(
    State(state): State<Arc<GatewayState>>,
    FullAccess(caller): FullAccess,
    JsonBody(body): JsonBody<NewKeyBody>,
) -> Result<(StatusCode, Json<super::views::CreatedApiKey>), ApiError> {
    refuse_key_minting_keys(&caller)?;
    let user = caller.require_user()?;
    if body.owner_id().is_some_and(|o| o != user.id) {
        return Err(ApiError::NotPermitted(
            "keys created here are your own; use /api/v1/api-keys to create keys for others".into(),
        ));
    }
    super::api_keys::create_bound(&state, &user.org_id, &user.id, user.id.clone(), body).await
}

/// `DELETE /api/v1/me/api-keys/{key_id}`.
pub async fn revoke_api_key(
    State(state): State<Arc<GatewayState>>,
    FullAccess(caller): FullAccess,
    Path(key_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = caller.require_user()?;
    state
        .identity
        .revoke_api_key(&user.org_id, &key_id, Some(&user.id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
