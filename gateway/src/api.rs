//! The control-plane API (`/api/v1`), sign-in (`/auth`) and the JWKS.
//!
//! Every endpoint is one row of [`ENDPOINTS`]: the router is built from the
//! table and so is the OpenAPI document served at `/api/v1/openapi.json`,
//! so the two cannot drift apart.

mod admin;
mod api_keys;
mod auth;
mod extract;
mod me;
pub mod openapi;
mod orgs;
mod users;
mod views;

use crate::http::router::GatewayState;
use axum::Router;
use axum::routing::{MethodFilter, MethodRouter, on};
use http::Method;
use std::sync::Arc;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// Any authenticated caller, even one with actions pending.
    Authenticated,
    /// An authenticated caller with no actions pending, whom the
    /// authorizer allows this action.
    Permission(&'static str),
    /// An authenticated caller with no actions pending.
    FullAccess,
}

/// One API operation.
pub struct Endpoint {
    /// HTTP method.
    pub method: Method,
    /// Path template (`{name}` parameters).
    pub path: &'static str,
    /// OpenAPI `operationId`.
    pub operation_id: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Grouping in the document.
    pub tag: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Request body schema name, if it takes one.
    pub request: Option<&'static str>,
    /// Success status and response schema name (`None`: no body).
    pub response: (u16, Option<&'static str>),
    /// The handler, routed for `method`.
    pub route: fn(MethodFilter) -> MethodRouter<Arc<GatewayState>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

macro_rules! endpoint {
    ($method:ident $path:literal, $id:literal, $tag:literal, $access:expr, $request:expr, $response:expr, $handler:path, $summary:literal) => {
        Endpoint {
            method: Method::$method,
            path: $path,
            operation_id: $id,
            summary: $summary,
            tag: $tag,
            access: $access,
            request: $request,
            response: $response,
            route: |filter| on(filter, $handler),
        }
    };
}

use Access::{Authenticated as Auth, FullAccess as Full, Permission as Perm, Public};

/// Every API operation.
pub static ENDPOINTS: &[Endpoint] = &[
    endpoint!(GET "/.well-known/jwks.json", "getJwks", "auth", Public, None, (200, Some("Jwks")), auth::jwks, "Public keys that verify access tokens"),
    endpoint!(GET "/api/v1/openapi.json", "getOpenApi", "meta", Public, None, (200, Some("OpenApiDocument")), openapi::serve, "This document"),
    endpoint!(POST "/auth/login", "login", "auth", Public, Some("LoginRequest"), (200, Some("LoginStep")), auth::login, "Start signing in (e.g. email and password)"),
    endpoint!(POST "/auth/login/{flow_id}", "continueLogin", "auth", Public, Some("LoginRequest"), (200, Some("LoginStep")), auth::continue_login, "Answer the next login step (e.g. a TOTP or recovery code)"),
    endpoint!(POST "/auth/logout", "logout", "auth", Auth, None, (204, None), auth::logout, "End the current session"),
    endpoint!(POST "/auth/token", "refreshToken", "auth", Auth, None, (200, Some("AccessToken")), auth::token, "A fresh access token for the current session"),
    endpoint!(GET "/api/v1/me", "getMe", "me", Auth, None, (200, Some("Me")), auth::me, "Who the caller is, how they signed in, what is pending"),
    endpoint!(PATCH "/api/v1/me", "updateMe", "me", Full, Some("ProfilePatch"), (200, Some("User")), me::update_profile, "Change your display name"),
    endpoint!(POST "/api/v1/me/password", "changePassword", "me", Auth, Some("PasswordChange"), (204, None), me::change_password, "Change your password (ends your other sessions)"),
    endpoint!(GET "/api/v1/me/mfa", "getMfa", "me", Auth, None, (200, Some("MfaStatus")), me::mfa, "Your second factors"),
    endpoint!(POST "/api/v1/me/mfa/totp", "beginTotpEnrollment", "me", Auth, None, (200, Some("TotpEnrollment")), me::begin_totp, "Start TOTP enrollment: secret, otpauth URI and QR code"),
    endpoint!(POST "/api/v1/me/mfa/totp/confirm", "confirmTotpEnrollment", "me", Auth, Some("TotpCode"), (200, Some("RecoveryCodes")), me::confirm_totp, "Confirm TOTP enrollment with a first code; returns recovery codes once"),
    endpoint!(POST "/api/v1/me/mfa/recovery-codes", "regenerateRecoveryCodes", "me", Full, None, (200, Some("RecoveryCodes")), me::regenerate_recovery_codes, "Replace your recovery codes"),
    endpoint!(GET "/api/v1/me/sessions", "listMySessions", "me", Auth, None, (200, Some("SessionList")), me::sessions, "Your live sessions"),
    endpoint!(DELETE "/api/v1/me/sessions/{session_id}", "revokeMySession", "me", Auth, None, (204, None), me::revoke_session, "End one of your sessions"),
    endpoint!(GET "/api/v1/me/api-keys", "listMyApiKeys", "me", Full, None, (200, Some("ApiKeyList")), me::api_keys, "Your API keys"),
    endpoint!(POST "/api/v1/me/api-keys", "createMyApiKey", "me", Full, Some("NewApiKey"), (201, Some("CreatedApiKey")), me::create_api_key, "Create an API key acting as you; the key is shown once"),
    endpoint!(DELETE "/api/v1/me/api-keys/{key_id}", "revokeMyApiKey", "me", Full, None, (204, None), me::revoke_api_key, "Revoke one of your API keys"),
    endpoint!(GET "/api/v1/orgs", "listOrgs", "orgs", Perm("orgs.list"), None, (200, Some("OrgList")), orgs::list, "Organizations"),
    endpoint!(POST "/api/v1/orgs", "createOrg", "orgs", Perm("orgs.create"), Some("NewOrg"), (201, Some("Org")), orgs::create, "Create an organization"),
    endpoint!(GET "/api/v1/orgs/{org_id}", "getOrg", "orgs", Perm("orgs.read"), None, (200, Some("Org")), orgs::get, "One organization"),
    endpoint!(PATCH "/api/v1/orgs/{org_id}", "updateOrg", "orgs", Perm("orgs.update"), Some("OrgPatch"), (200, Some("Org")), orgs::update, "Change an organization's settings (MFA requirement, API key lifetime)"),
    endpoint!(GET "/api/v1/users", "listUsers", "users", Perm("users.list"), None, (200, Some("UserList")), users::list, "Users of your organization"),
    endpoint!(POST "/api/v1/users", "createUser", "users", Perm("users.create"), Some("NewUser"), (201, Some("CreatedUser")), users::create, "Create a user; without a password, invite with a one-time password"),
    endpoint!(GET "/api/v1/users/{user_id}", "getUser", "users", Perm("users.read"), None, (200, Some("User")), users::get, "One user"),
    endpoint!(PATCH "/api/v1/users/{user_id}", "updateUser", "users", Perm("users.update"), Some("UserPatch"), (200, Some("User")), users::update, "Change a user; disabling ends their sessions"),
    endpoint!(DELETE "/api/v1/users/{user_id}", "deleteUser", "users", Perm("users.delete"), None, (204, None), users::delete, "Delete a user with their sessions and API keys"),
    endpoint!(POST "/api/v1/users/{user_id}/password-reset", "resetPassword", "users", Perm("users.reset_password"), None, (200, Some("OneTimePassword")), users::reset_password, "Set a one-time password the user must change"),
    endpoint!(DELETE "/api/v1/users/{user_id}/mfa", "resetMfa", "users", Perm("users.reset_mfa"), None, (204, None), users::reset_mfa, "Remove a user's second factors"),
    endpoint!(GET "/api/v1/users/{user_id}/sessions", "listUserSessions", "sessions", Perm("sessions.list"), None, (200, Some("SessionList")), users::sessions, "A user's live sessions"),
    endpoint!(DELETE "/api/v1/users/{user_id}/sessions", "revokeUserSessions", "sessions", Perm("sessions.revoke"), None, (200, Some("RevokedCount")), users::revoke_sessions, "End all of a user's sessions"),
    endpoint!(DELETE "/api/v1/users/{user_id}/sessions/{session_id}", "revokeUserSession", "sessions", Perm("sessions.revoke"), None, (204, None), users::revoke_session, "End one of a user's sessions"),
    endpoint!(GET "/api/v1/api-keys", "listApiKeys", "api-keys", Perm("api_keys.list"), None, (200, Some("ApiKeyList")), api_keys::list, "API keys of your organization (filter with ?owner_id=)"),
    endpoint!(POST "/api/v1/api-keys", "createApiKey", "api-keys", Perm("api_keys.create"), Some("NewApiKey"), (201, Some("CreatedApiKey")), api_keys::create, "Create an API key for a user of your organization; shown once"),
    endpoint!(DELETE "/api/v1/api-keys/{key_id}", "revokeApiKey", "api-keys", Perm("api_keys.revoke"), None, (204, None), api_keys::revoke, "Revoke an API key; effective on the next request"),
];

/// The API routes, built from [`ENDPOINTS`]. A known path with another
/// method gets a JSON 405 naming the allowed methods.
pub fn routes() -> Router<Arc<GatewayState>> {
    let mut router = Router::new();
    for endpoint in ENDPOINTS {
        let Ok(filter) = MethodFilter::try_from(endpoint.method.clone()) else {
            continue;
        };
        router = router.route(endpoint.path, (endpoint.route)(filter));
    }
    router.method_not_allowed_fallback(method_not_allowed)
}

fn template_matches(template: &str, path: &str) -> bool {
    let mut template = template.split('/');
    let mut path = path.split('/');
    loop {
        match (template.next(), path.next()) {
            (None, None) => return true,
            (Some(t), Some(p)) if (t.starts_with('{') && !p.is_empty()) || t == p => {}
            _ => return false,
        }
    }
}

/// The methods [`ENDPOINTS`] serve on `path`.
pub fn allowed_methods(path: &str) -> Vec<Method> {
    ENDPOINTS
        .iter()
        .filter(|e| template_matches(e.path, path))
        .map(|e| e.method.clone())
        .collect()
}

async fn method_not_allowed(uri: http::Uri) -> crate::http::ApiError {
    crate::http::ApiError::MethodNotAllowed(allowed_methods(uri.path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_methods_follow_the_templates() {
        assert_eq!(
            allowed_methods("/api/v1/users"),
            [Method::GET, Method::POST]
        );
        assert_eq!(
            allowed_methods("/api/v1/users/usr_1"),
            [Method::GET, Method::PATCH, Method::DELETE]
        );
        assert!(allowed_methods("/api/v1/users/").is_empty());
        assert!(allowed_methods("/api/v1/nothing").is_empty());
    }
}
