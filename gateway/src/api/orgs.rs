//! Organizations: `/api/v1/orgs*`. Listing and creating them spans
//! tenants, so only platform operators may; an organization's own
//! administrators see and change only their own.

use super::extract::{FullAccess, JsonBody, Scoped, present, present_integer};
use super::views::{CreatedOrg, CreatedUser, OrgList, OrgView, UserView};
use crate::http::ApiError;
use crate::http::router::GatewayState;
use crate::identity::NewUser;
use crate::store::OrgChanges;
use axum::Json;
use axum::extract::State;
use http::StatusCode;
use schemars::JsonSchema;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `GET /api/v1/orgs` (platform operators).
pub async fn list(
    State(state): State<Arc<GatewayState>>,
    FullAccess(_): FullAccess,
) -> Result<Json<OrgList>, ApiError> {
    let orgs: Vec<OrgView> = state
        .identity
        .list_orgs()
        .await?
        .into_iter()
        .map(OrgView::from)
        .collect();
    Ok(Json(OrgList { orgs }))
}

/// A new organization.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    /// Unique across the gateway.
    #[schemars(
        length(min = 1, max = 100),
        regex(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    name: String,
    /// Email of the organization's first administrator (group `admins`),
    /// invited with a one-time password returned once.
    #[serde(default, deserialize_with = "present")]
    #[schemars(
        length(max = 254),
        regex(pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+$")
    )]
    #[schemars(with = "String")]
    first_admin_email: Option<String>,
}

/// `POST /api/v1/orgs` (platform operators): the organization and, when
/// asked, its first administrator.
pub async fn create(
    State(state): State<Arc<GatewayState>>,
    FullAccess(caller): FullAccess,
    JsonBody(body): JsonBody<NewOrg>,
) -> Result<(StatusCode, Json<CreatedOrg>), ApiError> {
    let org = state.identity.create_org(&body.name).await?;
    let first_admin = match body.first_admin_email {
        None => None,
        Some(email) => {
            let new = NewUser {
                email,
                display_name: None,
                groups: vec![crate::identity::ADMIN_GROUP.into()],
                password: None,
                password_temporary: true,
            };
            let created = state.identity.create_user(&org.id, new).await;
            let (user, password) = match created {
                Ok(created) => created,
                Err(error) => {
                    // Leave no organization without its administrator behind.
                    state.identity.delete_org(&org.id).await?;
                    return Err(error.into());
                }
            };
            let subject = crate::authz::Subject::User(user.id.clone());
            let by = caller.user.as_deref().map_or("platform", |u| u.id.as_str());
            state
                .authz
                .grant(
                    &org.id,
                    &subject,
                    "admin",
                    &crate::authz::Scope::Organization,
                    by,
                )
                .await?;
            Some(CreatedUser {
                user: UserView::from(&user),
                one_time_password: password.as_ref().map(|p| p.expose_secret().to_string()),
            })
        }
    };
    let body = CreatedOrg {
        org: OrgView::from(org),
        first_admin,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /api/v1/orgs/{org_id}`: the caller's own organization (any, for
/// platform operators).
pub async fn get(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
) -> Result<Json<OrgView>, ApiError> {
    Ok(Json(state.identity.org(&org).await?.into()))
}

/// Settings to change; absent fields stay as they are.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgPatch {
    #[serde(default, deserialize_with = "present")]
    #[schemars(
        length(min = 1, max = 100),
        regex(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    #[schemars(with = "String")]
    name: Option<String>,
    /// Local users must enroll a second factor.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "bool")]
    mfa_required: Option<bool>,
    /// Longest lifetime of a new API key, in days.
    #[serde(default, deserialize_with = "present_integer")]
    #[schemars(range(min = 1, max = 3650))]
    #[schemars(with = "i64")]
    api_key_max_lifetime_days: Option<i64>,
}

/// `PATCH /api/v1/orgs/{org_id}`.
pub async fn update(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    JsonBody(body): JsonBody<OrgPatch>,
) -> Result<Json<OrgView>, ApiError> {
    let changes = OrgChanges {
        name: body.name,
        mfa_required: body.mfa_required,
        api_key_max_lifetime_days: body.api_key_max_lifetime_days,
    };
    Ok(Json(
        state.identity.update_org(&org, &changes).await?.into(),
    ))
}

/// The email domains an organization has verified: its users' addresses
/// there may sign in through its identity providers (home-realm
/// discovery), and an existing account there may be linked to a single
/// sign-on identity.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "VerifiedDomains")]
pub struct VerifiedDomains {
    /// Domain names, e.g. `example.com`; a domain is verified by one
    /// organization at most.
    #[schemars(length(max = 100))]
    #[schemars(inner(
        length(max = 253),
        regex(
            pattern = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$"
        )
    ))]
    verified_domains: Vec<String>,
}

/// `GET /api/v1/orgs/{org_id}/domains`.
pub async fn domains(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
) -> Result<Json<VerifiedDomains>, ApiError> {
    Ok(Json(VerifiedDomains {
        verified_domains: state.identity.verified_domains(&org).await?,
    }))
}

/// `PUT /api/v1/orgs/{org_id}/domains`: replaces the list.
pub async fn set_domains(
    State(state): State<Arc<GatewayState>>,
    Scoped { org, .. }: Scoped,
    JsonBody(body): JsonBody<VerifiedDomains>,
) -> Result<Json<VerifiedDomains>, ApiError> {
    if body.verified_domains.len() > 100 {
        return Err(ApiError::InvalidInput(
            "`verified_domains`: at most 100 domains".into(),
        ));
    }
    Ok(Json(VerifiedDomains {
        verified_domains: state
            .identity
            .set_verified_domains(&org, &body.verified_domains)
            .await?,
    }))
}
