//! Users of the caller's organization: `/api/v1/users*`.

use super::extract::{JsonBody, Scoped, nullable, present};
use super::views::{
    CreatedUser, OneTimePassword, RevokedCount, SessionList, SessionView, UserList, UserView,
};
use crate::http::ApiError;
use crate::http::router::GatewayState;
use crate::identity::NewUser;
use crate::store::UserChanges;
use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::Arc;

/// `GET /api/v1/users`.
pub async fn list(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
) -> Result<Json<UserList>, ApiError> {
    let users: Vec<UserView> = state
        .identity
        .list_users(&org)
        .await?
        .iter()
        .map(UserView::from)
        .collect();
    Ok(Json(UserList { users }))
}

/// A user to create or invite.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NewUser")]
pub struct NewUserBody {
    /// The login name, unique across the gateway.
    #[schemars(
        length(max = 254),
        regex(pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+$")
    )]
    email: String,
    #[serde(default, deserialize_with = "present")]
    #[schemars(
        length(min = 1, max = 100),
        regex(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    #[schemars(with = "String")]
    display_name: Option<String>,
    #[serde(default)]
    #[schemars(inner(regex(pattern = r"^[A-Za-z0-9._:-]{1,64}$")))]
    groups: Vec<String>,
    /// Without it, a one-time password is generated and returned once.
    /// 12–256 characters, not a common password, not containing the
    /// email's local part.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "String", length(min = 12, max = 256))]
    password: Option<SecretString>,
    /// The given password must be changed at first sign-in.
    #[serde(default)]
    password_temporary: bool,
}

/// `POST /api/v1/users`: creates (or, without a password, invites) a user.
pub async fn create(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    JsonBody(body): JsonBody<NewUserBody>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    let (user, one_time) = state
        .identity
        .create_user(
            &org,
            NewUser {
                email: body.email,
                display_name: body.display_name,
                groups: body.groups,
                password: body.password,
                password_temporary: body.password_temporary,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user: UserView::from(&user),
            one_time_password: one_time.as_ref().map(|p| p.expose_secret().to_string()),
        }),
    ))
}

/// `GET /api/v1/users/{user_id}`.
pub async fn get(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(user_id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(
        &state.identity.user_in(&org, &user_id).await?,
    )))
}

/// Changes to a user; absent fields stay as they are.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// A new display name; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<String>")]
    #[schemars(
        length(min = 1, max = 100),
        regex(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    display_name: Option<Option<String>>,
    /// The new groups (replacing the old ones).
    #[serde(default, deserialize_with = "present")]
    #[schemars(inner(regex(pattern = r"^[A-Za-z0-9._:-]{1,64}$")))]
    #[schemars(with = "Vec<String>")]
    groups: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "bool")]
    disabled: Option<bool>,
    /// Grant or withdraw the platform-operator capability (only a
    /// platform operator may).
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "bool")]
    platform_operator: Option<bool>,
}

/// `PATCH /api/v1/users/{user_id}`: disabling ends the user's sessions.
pub async fn update(
    State(state): State<Arc<GatewayState>>,
    Scoped { caller, org }: Scoped,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<UserPatch>,
) -> Result<Json<UserView>, ApiError> {
    if body.disabled == Some(true) && caller.user.as_ref().is_some_and(|u| u.id == user_id) {
        return Err(ApiError::NotPermitted("you cannot disable yourself".into()));
    }
    if body.platform_operator.is_some() && !caller.is_platform_operator() {
        return Err(ApiError::NotPermitted(
            "only a platform operator can grant or withdraw the platform-operator capability"
                .into(),
        ));
    }
    if body.platform_operator == Some(false)
        && caller.user.as_ref().is_some_and(|u| u.id == user_id)
    {
        return Err(ApiError::NotPermitted(
            "you cannot withdraw your own platform-operator capability".into(),
        ));
    }
    let changes = UserChanges {
        display_name: body.display_name,
        groups: body.groups,
        disabled: body.disabled,
        password_must_change: None,
        platform_operator: body.platform_operator,
    };
    let user = state.identity.update_user(&org, &user_id, &changes).await?;
    Ok(Json(UserView::from(&user)))
}

/// `DELETE /api/v1/users/{user_id}`.
pub async fn delete(
    State(state): State<Arc<GatewayState>>,
    Scoped { caller, org }: Scoped,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if caller.user.as_ref().is_some_and(|u| u.id == user_id) {
        return Err(ApiError::NotPermitted("you cannot delete yourself".into()));
    }
    state.identity.delete_user(&org, &user_id).await?;
    state
        .authz
        .forget_subject(&crate::authz::Subject::User(user_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resetting one's own password or second factor here would skip the
/// proof of the current ones that `/api/v1/me/*` asks for.
fn refuse_self_reset(caller: &crate::identity::Caller, user_id: &str) -> Result<(), ApiError> {
    if caller.user.as_ref().is_some_and(|u| u.id == user_id) {
        return Err(ApiError::NotPermitted(
            "you cannot reset your own password or second factor; use /api/v1/me/password and /api/v1/me/mfa".into(),
        ));
    }
    Ok(())
}

/// `POST /api/v1/users/{user_id}/password-reset`: a new one-time password.
pub async fn reset_password(
    State(state): State<Arc<GatewayState>>,
    Scoped { caller, org }: Scoped,
    Path(user_id): Path<String>,
) -> Result<Json<OneTimePassword>, ApiError> {
    refuse_self_reset(&caller, &user_id)?;
    let password = state.identity.reset_password(&org, &user_id).await?;
    Ok(Json(OneTimePassword {
        one_time_password: password.expose_secret().to_string(),
    }))
}

/// `DELETE /api/v1/users/{user_id}/mfa`: removes the user's second factors.
pub async fn reset_mfa(
    State(state): State<Arc<GatewayState>>,
    Scoped { caller, org }: Scoped,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    refuse_self_reset(&caller, &user_id)?;
    state.identity.reset_mfa(&org, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/users/{user_id}/sessions`.
pub async fn sessions(
    State(state): State<Arc<GatewayState>>,
    Scoped { caller, org }: Scoped,
    Path(user_id): Path<String>,
) -> Result<Json<SessionList>, ApiError> {
    state.identity.user_in(&org, &user_id).await?;
    let sessions: Vec<_> = state
        .identity
        .sessions_of(&user_id)
        .await?
        .into_iter()
        .map(|s| SessionView::new(s, &caller))
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// `DELETE /api/v1/users/{user_id}/sessions`: ends all of them.
pub async fn revoke_sessions(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path(user_id): Path<String>,
) -> Result<Json<RevokedCount>, ApiError> {
    state.identity.user_in(&org, &user_id).await?;
    let revoked = state.identity.revoke_sessions_of(&user_id, None).await?;
    Ok(Json(RevokedCount { revoked }))
}

/// `DELETE /api/v1/users/{user_id}/sessions/{session_id}`.
pub async fn revoke_session(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    Path((user_id, session_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.identity.user_in(&org, &user_id).await?;
    state
        .identity
        .revoke_session_of(&user_id, &session_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
