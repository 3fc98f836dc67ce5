//! The JSON shapes the API returns. Times are Unix seconds.

use crate::identity::{Caller, now};
use crate::plugin::{Form, MfaStatus, TotpEnrollment};
use crate::store::{ApiKeyRecord, OrgRecord, SessionRecord, UserRecord};
use schemars::JsonSchema;
use serde::Serialize;

/// Keys expiring within this many seconds are flagged.
const EXPIRING_SOON_SECS: i64 = 7 * 86_400;

/// An organization.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Org")]
pub struct OrgView {
    id: String,
    name: String,
    mfa_required: bool,
    api_key_max_lifetime_days: i64,
    /// Unix seconds.
    created_at: i64,
}

impl From<OrgRecord> for OrgView {
    fn from(org: OrgRecord) -> Self {
        Self {
            id: org.id,
            name: org.name,
            mfa_required: org.mfa_required,
            api_key_max_lifetime_days: org.api_key_max_lifetime_days,
            created_at: org.created_at,
        }
    }
}

/// A user.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "User")]
pub struct UserView {
    id: String,
    org_id: String,
    email: String,
    display_name: Option<String>,
    groups: Vec<String>,
    disabled: bool,
    password_must_change: bool,
    platform_operator: bool,
    created_at: i64,
}

impl From<&UserRecord> for UserView {
    fn from(user: &UserRecord) -> Self {
        Self {
            id: user.id.clone(),
            org_id: user.org_id.clone(),
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            groups: user.groups.clone(),
            disabled: user.disabled,
            password_must_change: user.password_must_change,
            platform_operator: user.platform_operator,
            created_at: user.created_at,
        }
    }
}

/// A session, as its owner or an administrator sees it.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Session")]
pub struct SessionView {
    id: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    client_ip: String,
    user_agent: String,
    amr: Vec<String>,
    current: bool,
}

impl SessionView {
    /// `session`, marked current when it is the caller's.
    pub fn new(session: SessionRecord, caller: &Caller) -> Self {
        Self {
            current: caller.session_id.as_deref() == Some(session.id.as_str()),
            id: session.id,
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            expires_at: session.expires_at,
            client_ip: session.client_ip,
            user_agent: session.user_agent,
            amr: session.principal.amr,
        }
    }
}

/// An API key, never with its secret.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "ApiKey")]
pub struct ApiKeyView {
    id: String,
    name: String,
    owner_id: String,
    scope: Option<Vec<String>>,
    created_at: i64,
    created_by: String,
    expires_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    /// `active`, `expired` or `revoked`.
    #[schemars(with = "ApiKeyStatus")]
    status: &'static str,
    /// Active and expiring within 7 days.
    expiring_soon: bool,
}

impl From<ApiKeyRecord> for ApiKeyView {
    fn from(key: ApiKeyRecord) -> Self {
        let now = now();
        let status = if key.revoked_at.is_some() {
            "revoked"
        } else if now >= key.expires_at {
            "expired"
        } else {
            "active"
        };
        Self {
            expiring_soon: status == "active" && key.expires_at - now <= EXPIRING_SOON_SECS,
            status,
            id: key.id,
            name: key.name,
            owner_id: key.owner_id,
            scope: key.scope,
            created_at: key.created_at,
            created_by: key.created_by,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A second-factor summary.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "MfaStatus")]
pub struct MfaView {
    totp: bool,
    recovery_codes_left: u32,
}

impl From<MfaStatus> for MfaView {
    fn from(status: MfaStatus) -> Self {
        Self {
            totp: status.totp,
            recovery_codes_left: status.recovery_codes_left,
        }
    }
}

/// A TOTP enrollment to show once.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "TotpEnrollment")]
pub struct TotpEnrollmentView {
    secret: String,
    otpauth_uri: String,
    qr_svg: String,
}

impl From<TotpEnrollment> for TotpEnrollmentView {
    fn from(enrollment: TotpEnrollment) -> Self {
        Self {
            secret: enrollment.secret,
            otpauth_uri: enrollment.uri,
            qr_svg: enrollment.qr_svg,
        }
    }
}

/// A form field of a login step.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "FormField")]
pub struct FormFieldView {
    name: String,
    label: String,
    kind: String,
}

/// A login form.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "Form")]
pub struct FormView {
    title: String,
    fields: Vec<FormFieldView>,
    error: Option<String>,
}

impl From<Form> for FormView {
    fn from(form: Form) -> Self {
        Self {
            title: form.title,
            fields: form
                .fields
                .into_iter()
                .map(|f| FormFieldView {
                    name: f.name,
                    label: f.label,
                    kind: f.kind,
                })
                .collect(),
            error: form.error,
        }
    }
}

/// The states of an API key, for the schema.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[expect(
    dead_code,
    reason = "describes `ApiKeyView::status` in the OpenAPI document"
)]
enum ApiKeyStatus {
    Active,
    Expired,
    Revoked,
}

/// `{"users": [...]}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UserList {
    /// The users, oldest first.
    pub users: Vec<UserView>,
}

/// A created user and, for an invitation, its one-time password.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedUser {
    /// The user.
    pub user: UserView,
    /// Shown only in this response; must be changed at first sign-in.
    pub one_time_password: Option<String>,
}

/// `{"orgs": [...]}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OrgList {
    /// The organizations, oldest first.
    pub orgs: Vec<OrgView>,
}

/// A created organization and, when asked for, its first administrator.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedOrg {
    /// The organization.
    pub org: OrgView,
    /// Its first administrator, with a one-time password shown once.
    pub first_admin: Option<CreatedUser>,
}

/// `{"api_keys": [...]}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApiKeyList {
    /// The keys, never with their secrets.
    pub api_keys: Vec<ApiKeyView>,
}

/// A created API key: the only time the key itself is shown.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedApiKey {
    /// The key's record.
    pub api_key: ApiKeyView,
    /// The key; shown only in this response.
    pub key: String,
}

/// `{"sessions": [...]}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionList {
    /// The live sessions.
    pub sessions: Vec<SessionView>,
}

/// How many sessions were ended.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RevokedCount {
    /// The number.
    pub revoked: usize,
}

/// A one-time password, shown once.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OneTimePassword {
    /// It must be changed at the next sign-in.
    pub one_time_password: String,
}

/// Recovery codes, shown once.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RecoveryCodes {
    /// Each works once instead of a TOTP code.
    pub recovery_codes: Vec<String>,
}
