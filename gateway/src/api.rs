//! The control-plane API (`/api/v1`), sign-in (`/auth`) and the JWKS.
//!
//! Every endpoint is one row of [`ENDPOINTS`]: the router is built from the
//! table and so is the OpenAPI document served at `/api/v1/openapi.json`,
//! so the two cannot drift apart.

mod access;
mod api_keys;
mod audit;
mod auth;
mod authz;
mod credentials;
mod environments;
mod extract;
mod identity_providers;
mod me;
pub mod openapi;
mod orgs;
mod roles;
mod sso;
mod users;
mod views;

use crate::http::router::GatewayState;
use axum::Router;
use axum::routing::{MethodFilter, MethodRouter, on};
use http::Method;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use std::sync::Arc;

/// Writes the schema of a body type into the document's components and
/// returns a reference to it.
pub type SchemaOf = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// The body of type `T`, in the endpoint table.
const fn body<T: JsonSchema>() -> Option<SchemaOf> {
    Some(schema_of::<T>)
}

fn inline_schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.root_schema_for::<T>()
}

/// The query string of type `T` (its fields are the parameters), in the
/// endpoint table.
const fn query<T: JsonSchema>() -> Option<SchemaOf> {
    Some(inline_schema_of::<T>)
}

/// Who may call an endpoint. The router enforces it before the handler
/// runs (see `access`); handlers only read what it admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// Any authenticated caller, even one with actions pending.
    Authenticated,
    /// An authenticated caller with no actions pending.
    FullAccess,
    /// A directory user with no actions pending whom the authorizer allows
    /// `action` on `resource` in their own organization. `resource` is a
    /// template: `{org}` is the caller's organization, any other `{name}`
    /// the path parameter of that name. A path naming another
    /// organization (`{org_id}`) is not found, unless the caller is a
    /// platform operator.
    Permission {
        /// The permission, from the catalogue (`authz::catalogue`), e.g.
        /// `users:read`.
        action: &'static str,
        /// The resource template, e.g. `orgs/{org}/users/{user_id}`.
        resource: &'static str,
    },
    /// A platform operator: operations across organizations.
    Platform,
}

/// How the caller must have signed in, beyond what [`Access`] admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Nothing more.
    Any,
    /// A person signed in (a session, by cookie or access token), never an
    /// API key: managing passwords, second factors and sessions.
    SignedIn,
    /// [`Guard::SignedIn`] recently (`identity.step_up_max_age_secs`), and
    /// with the second factor when one is enrolled: re-enrolling TOTP,
    /// regenerating recovery codes, minting API keys.
    StepUp,
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
    /// How they must have signed in.
    pub guard: Guard,
    /// The request body's type, if it takes one (its schema, generated
    /// from the Rust type the handler deserializes).
    pub request: Option<SchemaOf>,
    /// The query string's type, if it takes parameters (its schema, from
    /// the Rust type the handler deserializes; each field is one).
    pub query: Option<SchemaOf>,
    /// Success status and the response body's type (`None`: no body).
    pub response: (u16, Option<SchemaOf>),
    /// The handler, routed for `method`.
    pub route: fn(MethodFilter) -> MethodRouter<Arc<GatewayState>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

macro_rules! endpoint {
    ($method:ident $path:literal, $id:literal, $tag:literal, $access:expr, $guard:ident, $request:expr, query = $query:expr, $response:expr, $handler:path, $summary:literal) => {
        Endpoint {
            query: $query,
            ..endpoint!($method $path, $id, $tag, $access, $guard, $request, $response, $handler, $summary)
        }
    };
    ($method:ident $path:literal, $id:literal, $tag:literal, $access:expr, $guard:ident, $request:expr, $response:expr, $handler:path, $summary:literal) => {
        Endpoint {
            query: None,
            method: Method::$method,
            path: $path,
            operation_id: $id,
            summary: $summary,
            tag: $tag,
            access: $access,
            guard: Guard::$guard,
            request: $request,
            response: $response,
            route: |filter| on(filter, $handler),
        }
    };
}

use Access::{Authenticated as Auth, FullAccess as Full, Platform, Public};

/// [`Access::Permission`] in the endpoint table.
const fn perm(action: &'static str, resource: &'static str) -> Access {
    Access::Permission { action, resource }
}

/// Every API operation.
pub static ENDPOINTS: &[Endpoint] = &[
    endpoint!(GET "/.well-known/jwks.json", "getJwks", "auth", Public, Any, None, (200, body::<openapi::Jwks>()), auth::jwks, "Public keys that verify access tokens"),
    endpoint!(GET "/.well-known/portcullis-audit-key", "getAuditKeys", "audit", Public, Any, None, (200, body::<crate::audit::checkpoint::KeySet>()), audit::keys, "Public keys that verify audit checkpoints (retired ones included)"),
    endpoint!(GET "/api/v1/openapi.json", "getOpenApi", "meta", Public, Any, None, (200, body::<openapi::OpenApiDocument>()), openapi::serve, "This document"),
    endpoint!(POST "/auth/login", "login", "auth", Public, Any, body::<auth::LoginRequest>(), (200, body::<auth::LoginStepView>()), auth::login, "Start signing in (e.g. email and password)"),
    endpoint!(POST "/auth/login/continue", "continueLogin", "auth", Public, Any, body::<auth::LoginContinuation>(), (200, body::<auth::LoginStepView>()), auth::continue_login, "Answer the next login step (e.g. a TOTP or recovery code)"),
    endpoint!(GET "/auth/sso/{provider_id}", "startSso", "sso", Public, Any, None, query = query::<sso::StartQuery>(), (302, None), sso::start, "Start signing in with an organization's identity provider (redirects to it)"),
    endpoint!(GET "/auth/sso/{provider_id}/callback", "ssoCallback", "sso", Public, Any, None, (302, None), sso::callback, "Where the identity provider sends the browser back (OIDC redirect URI)"),
    endpoint!(POST "/auth/sso/{provider_id}/callback", "ssoCallbackForm", "sso", Public, Any, None, (302, None), sso::callback_form, "Where the identity provider posts its answer (SAML assertion consumer service, OIDC form_post)"),
    endpoint!(GET "/auth/sso/{provider_id}/metadata", "getSsoMetadata", "sso", Public, Any, None, (200, body::<sso::MetadataView>()), sso::metadata, "What the identity provider's administrator registers for this gateway: a SAML provider answers with its SP metadata (`application/samlmetadata+xml`), others with this JSON"),
    endpoint!(POST "/auth/sso/logout", "ssoLogout", "sso", Auth, SignedIn, None, (200, body::<sso::LogoutView>()), sso::logout, "End the current session, and get the identity provider's logout URL to end it there too"),
    endpoint!(POST "/auth/sso/discover", "discoverSso", "sso", Public, Any, body::<sso::DiscoverRequest>(), (200, body::<sso::DiscoverView>()), sso::discover, "Which identity provider an email signs in with (home-realm discovery)"),
    endpoint!(POST "/auth/logout", "logout", "auth", Auth, SignedIn, None, (204, None), auth::logout, "End the current session"),
    endpoint!(POST "/auth/token", "refreshToken", "auth", Auth, SignedIn, None, (200, body::<auth::AccessTokenView>()), auth::token, "A fresh access token for the current session"),
    endpoint!(GET "/api/v1/me", "getMe", "me", Auth, Any, None, (200, body::<auth::MeView>()), auth::me, "Who the caller is, how they signed in, what is pending"),
    endpoint!(PATCH "/api/v1/me", "updateMe", "me", Full, Any, body::<me::ProfilePatch>(), (200, body::<views::UserView>()), me::update_profile, "Change your display name"),
    endpoint!(POST "/api/v1/me/password", "changePassword", "me", Auth, SignedIn, body::<me::PasswordChange>(), (204, None), me::change_password, "Change your password (ends your other sessions)"),
    endpoint!(GET "/api/v1/me/mfa", "getMfa", "me", Auth, SignedIn, None, (200, body::<views::MfaView>()), me::mfa, "Your second factors"),
    endpoint!(POST "/api/v1/me/mfa/totp", "beginTotpEnrollment", "me", Auth, StepUp, None, (200, body::<views::TotpEnrollmentView>()), me::begin_totp, "Start TOTP enrollment: secret, otpauth URI and QR code"),
    endpoint!(POST "/api/v1/me/mfa/totp/confirm", "confirmTotpEnrollment", "me", Auth, SignedIn, body::<me::TotpCode>(), (200, body::<views::RecoveryCodes>()), me::confirm_totp, "Confirm TOTP enrollment with a first code; returns recovery codes once"),
    endpoint!(POST "/api/v1/me/mfa/recovery-codes", "regenerateRecoveryCodes", "me", Full, StepUp, None, (200, body::<views::RecoveryCodes>()), me::regenerate_recovery_codes, "Replace your recovery codes"),
    endpoint!(GET "/api/v1/me/sessions", "listMySessions", "me", Auth, SignedIn, None, (200, body::<views::SessionList>()), me::sessions, "Your live sessions"),
    endpoint!(DELETE "/api/v1/me/sessions/{session_id}", "revokeMySession", "me", Auth, SignedIn, None, (204, None), me::revoke_session, "End one of your sessions"),
    endpoint!(GET "/api/v1/me/api-keys", "listMyApiKeys", "me", Full, Any, None, (200, body::<views::ApiKeyList>()), me::api_keys, "Your API keys"),
    endpoint!(POST "/api/v1/me/api-keys", "createMyApiKey", "me", Full, StepUp, body::<me::NewKeyBody>(), (201, body::<views::CreatedApiKey>()), me::create_api_key, "Create an API key acting as you; the key is shown once"),
    endpoint!(DELETE "/api/v1/me/api-keys/{key_id}", "revokeMyApiKey", "me", Full, Any, None, (204, None), me::revoke_api_key, "Revoke one of your API keys"),
    endpoint!(GET "/api/v1/orgs", "listOrgs", "orgs", Platform, Any, None, (200, body::<views::OrgList>()), orgs::list, "Every organization (platform operators)"),
    endpoint!(POST "/api/v1/orgs", "createOrg", "orgs", Platform, Any, body::<orgs::NewOrg>(), (201, body::<views::CreatedOrg>()), orgs::create, "Create an organization, optionally with its first administrator (platform operators)"),
    endpoint!(GET "/api/v1/orgs/{org_id}", "getOrg", "orgs", perm("settings:read", "orgs/{org_id}"), Any, None, (200, body::<views::OrgView>()), orgs::get, "One organization"),
    endpoint!(PATCH "/api/v1/orgs/{org_id}", "updateOrg", "orgs", perm("settings:manage", "orgs/{org_id}"), Any, body::<orgs::OrgPatch>(), (200, body::<views::OrgView>()), orgs::update, "Change an organization's settings (MFA requirement, API key lifetime)"),
    endpoint!(GET "/api/v1/identity-providers", "listIdentityProviders", "sso", perm("settings:read", "orgs/{org}/identity_providers"), Any, None, (200, body::<identity_providers::ProviderList>()), identity_providers::list, "Your organization's single sign-on identity providers"),
    endpoint!(POST "/api/v1/identity-providers", "createIdentityProvider", "sso", perm("settings:manage", "orgs/{org}/identity_providers"), Any, body::<identity_providers::NewProvider>(), (201, body::<identity_providers::ProviderView>()), identity_providers::create, "Add an identity provider (an instance of an auth-provider plugin, checked by it)"),
    endpoint!(GET "/api/v1/identity-providers/{idp_id}", "getIdentityProvider", "sso", perm("settings:read", "orgs/{org}/identity_providers/{idp_id}"), Any, None, (200, body::<identity_providers::ProviderView>()), identity_providers::get, "One identity provider (secret settings are never shown)"),
    endpoint!(PATCH "/api/v1/identity-providers/{idp_id}", "updateIdentityProvider", "sso", perm("settings:manage", "orgs/{org}/identity_providers/{idp_id}"), Any, body::<identity_providers::ProviderPatch>(), (200, body::<identity_providers::ProviderView>()), identity_providers::update, "Change an identity provider; effective from the next sign-in"),
    endpoint!(DELETE "/api/v1/identity-providers/{idp_id}", "deleteIdentityProvider", "sso", perm("settings:manage", "orgs/{org}/identity_providers/{idp_id}"), Any, None, (204, None), identity_providers::delete, "Delete an identity provider and the identities linked through it (users stay)"),
    endpoint!(GET "/api/v1/orgs/{org_id}/domains", "getVerifiedDomains", "orgs", perm("settings:read", "orgs/{org_id}"), Any, None, (200, body::<orgs::VerifiedDomains>()), orgs::domains, "The email domains an organization has verified"),
    endpoint!(PUT "/api/v1/orgs/{org_id}/domains", "setVerifiedDomains", "orgs", perm("settings:manage", "orgs/{org_id}"), Any, body::<orgs::VerifiedDomains>(), (200, body::<orgs::VerifiedDomains>()), orgs::set_domains, "Replace the email domains an organization has verified (single sign-on discovery and account linking)"),
    endpoint!(GET "/api/v1/users", "listUsers", "users", perm("users:read", "orgs/{org}/users"), Any, None, (200, body::<views::UserList>()), users::list, "Users of your organization"),
    endpoint!(POST "/api/v1/users", "createUser", "users", perm("users:manage", "orgs/{org}/users"), Any, body::<users::NewUserBody>(), (201, body::<views::CreatedUser>()), users::create, "Create a user; without a password, invite with a one-time password"),
    endpoint!(GET "/api/v1/users/{user_id}", "getUser", "users", perm("users:read", "orgs/{org}/users/{user_id}"), Any, None, (200, body::<views::UserView>()), users::get, "One user"),
    endpoint!(PATCH "/api/v1/users/{user_id}", "updateUser", "users", perm("users:manage", "orgs/{org}/users/{user_id}"), Any, body::<users::UserPatch>(), (200, body::<views::UserView>()), users::update, "Change a user; disabling ends their sessions"),
    endpoint!(DELETE "/api/v1/users/{user_id}", "deleteUser", "users", perm("users:manage", "orgs/{org}/users/{user_id}"), Any, None, (204, None), users::delete, "Delete a user with their sessions and API keys"),
    endpoint!(POST "/api/v1/users/{user_id}/password-reset", "resetPassword", "users", perm("users:manage", "orgs/{org}/users/{user_id}"), SignedIn, None, (200, body::<views::OneTimePassword>()), users::reset_password, "Set a one-time password the user must change"),
    endpoint!(DELETE "/api/v1/users/{user_id}/mfa", "resetMfa", "users", perm("users:manage", "orgs/{org}/users/{user_id}"), SignedIn, None, (204, None), users::reset_mfa, "Remove a user's second factors"),
    endpoint!(GET "/api/v1/users/{user_id}/sessions", "listUserSessions", "sessions", perm("users:read", "orgs/{org}/users/{user_id}/sessions"), SignedIn, None, (200, body::<views::SessionList>()), users::sessions, "A user's live sessions"),
    endpoint!(DELETE "/api/v1/users/{user_id}/sessions", "revokeUserSessions", "sessions", perm("users:manage", "orgs/{org}/users/{user_id}/sessions"), SignedIn, None, (200, body::<views::RevokedCount>()), users::revoke_sessions, "End all of a user's sessions"),
    endpoint!(DELETE "/api/v1/users/{user_id}/sessions/{session_id}", "revokeUserSession", "sessions", perm("users:manage", "orgs/{org}/users/{user_id}/sessions/{session_id}"), SignedIn, None, (204, None), users::revoke_session, "End one of a user's sessions"),
    endpoint!(GET "/api/v1/api-keys", "listApiKeys", "api-keys", perm("api_keys:read", "orgs/{org}/api_keys"), Any, None, query = query::<api_keys::ListQuery>(), (200, body::<views::ApiKeyList>()), api_keys::list, "API keys of your organization (filter with ?owner_id=)"),
    endpoint!(POST "/api/v1/api-keys", "createApiKey", "api-keys", perm("api_keys:manage", "orgs/{org}/api_keys"), StepUp, body::<me::NewKeyBody>(), (201, body::<views::CreatedApiKey>()), api_keys::create, "Create an API key for a user of your organization; shown once"),
    endpoint!(DELETE "/api/v1/api-keys/{key_id}", "revokeApiKey", "api-keys", perm("api_keys:manage", "orgs/{org}/api_keys/{key_id}"), Any, None, (204, None), api_keys::revoke, "Revoke an API key; effective on the next request"),
    endpoint!(GET "/api/v1/environments", "listEnvironments", "environments", perm("environments:read", "orgs/{org}/environments"), Any, None, (200, body::<environments::EnvironmentList>()), environments::list, "Environments of your organization"),
    endpoint!(POST "/api/v1/environments", "createEnvironment", "environments", perm("environments:write", "orgs/{org}/environments"), Any, body::<environments::EnvironmentBody>(), (201, body::<environments::EnvironmentView>()), environments::create, "Create an environment"),
    endpoint!(GET "/api/v1/environments/{env_id}", "getEnvironment", "environments", perm("environments:read", "orgs/{org}/environments/{env_id}"), Any, None, (200, body::<environments::EnvironmentView>()), environments::get, "One environment"),
    endpoint!(PATCH "/api/v1/environments/{env_id}", "updateEnvironment", "environments", perm("environments:write", "orgs/{org}/environments/{env_id}"), Any, body::<environments::EnvironmentBody>(), (200, body::<environments::EnvironmentView>()), environments::update, "Rename or describe an environment"),
    endpoint!(DELETE "/api/v1/environments/{env_id}", "deleteEnvironment", "environments", perm("environments:delete", "orgs/{org}/environments/{env_id}"), Any, None, query = query::<environments::DeleteOptions>(), (204, None), environments::delete, "Delete an environment; one with connections only with ?cascade=true"),
    endpoint!(GET "/api/v1/environments/{env_id}/connections", "listConnections", "connections", perm("connections:read", "orgs/{org}/environments/{env_id}"), Any, None, (200, body::<environments::ConnectionList>()), environments::list_connections, "Connections of an environment"),
    endpoint!(POST "/api/v1/environments/{env_id}/connections", "createConnection", "connections", perm("connections:write", "orgs/{org}/environments/{env_id}"), Any, body::<environments::ConnectionBody>(), (201, body::<environments::ConnectionView>()), environments::create_connection, "Create a connection (its metadata; credentials come separately)"),
    endpoint!(GET "/api/v1/connections/{conn_id}", "getConnection", "connections", perm("connections:read", "orgs/{org}/connections/{conn_id}"), Any, None, (200, body::<environments::ConnectionView>()), environments::get_connection, "One connection"),
    endpoint!(PATCH "/api/v1/connections/{conn_id}", "updateConnection", "connections", perm("connections:write", "orgs/{org}/connections/{conn_id}"), Any, body::<environments::ConnectionBody>(), (200, body::<environments::ConnectionView>()), environments::update_connection, "Change a connection's metadata"),
    endpoint!(DELETE "/api/v1/connections/{conn_id}", "deleteConnection", "connections", perm("connections:delete", "orgs/{org}/connections/{conn_id}"), Any, None, (204, None), environments::delete_connection, "Delete a connection and the bindings scoped to it"),
    endpoint!(GET "/api/v1/orgs/{org_id}/sealing", "getSealing", "credentials", perm("settings:read", "orgs/{org_id}"), Any, None, (200, body::<credentials::SealingView>()), credentials::sealing, "The organization's trust key (its public half) and whether server-side sealing is on"),
    endpoint!(PATCH "/api/v1/orgs/{org_id}/sealing", "updateSealing", "credentials", perm("settings:manage", "orgs/{org_id}"), Any, body::<credentials::SealingPatch>(), (200, body::<credentials::SealingView>()), credentials::update_sealing, "Set the trust key (from `portcullis trust init`) or turn server-side sealing on or off"),
    endpoint!(GET "/api/v1/environments/{env_id}/agent-keys", "listAgentKeys", "credentials", perm("agents:read", "orgs/{org}/environments/{env_id}"), Any, None, (200, body::<credentials::AgentKeyList>()), credentials::agent_keys, "The agent keys of an environment, with their endorsements"),
    endpoint!(POST "/api/v1/environments/{env_id}/agent-keys", "enrollAgentKey", "credentials", perm("agents:manage", "orgs/{org}/environments/{env_id}"), Any, body::<credentials::NewAgentKey>(), (201, body::<credentials::AgentKeyView>()), credentials::enroll_agent_key, "Enroll an agent key the trust key endorsed for this environment"),
    endpoint!(DELETE "/api/v1/environments/{env_id}/agent-keys/{key_id}", "removeAgentKey", "credentials", perm("agents:manage", "orgs/{org}/environments/{env_id}"), Any, None, (204, None), credentials::remove_agent_key, "Remove an agent key (seal the environment's credentials again to drop it from them)"),
    endpoint!(GET "/api/v1/connections/{conn_id}/credential", "getCredential", "credentials", perm("connections:read", "orgs/{org}/connections/{conn_id}"), Any, None, (200, body::<credentials::CredentialView>()), credentials::credential, "A connection's credential: its seals (ciphertext only) or its reference"),
    endpoint!(PUT "/api/v1/connections/{conn_id}/credential", "putCredential", "credentials", perm("connections:write", "orgs/{org}/connections/{conn_id}"), Any, body::<credentials::CredentialBody>(), (200, body::<credentials::CredentialView>()), credentials::put_credential, "Replace a connection's credential: sealed on your side (`portcullis seal`), a reference, or — only with server-side sealing on — a plaintext"),
    endpoint!(DELETE "/api/v1/connections/{conn_id}/credential", "removeCredential", "credentials", perm("connections:write", "orgs/{org}/connections/{conn_id}"), Any, None, (204, None), credentials::remove_credential, "Remove a connection's credential"),
    endpoint!(GET "/api/v1/roles", "listRoles", "roles", perm("roles:read", "orgs/{org}/roles"), Any, None, (200, body::<roles::RoleList>()), roles::list, "Predefined and custom roles"),
    endpoint!(POST "/api/v1/roles", "createRole", "roles", perm("roles:manage", "orgs/{org}/roles"), Any, body::<roles::RoleBody>(), (201, body::<roles::RoleView>()), roles::create, "Create a custom role"),
    endpoint!(GET "/api/v1/roles/{role_id}", "getRole", "roles", perm("roles:read", "orgs/{org}/roles/{role_id}"), Any, None, (200, body::<roles::RoleView>()), roles::get, "One role"),
    endpoint!(PATCH "/api/v1/roles/{role_id}", "updateRole", "roles", perm("roles:manage", "orgs/{org}/roles/{role_id}"), Any, body::<roles::RoleBody>(), (200, body::<roles::RoleView>()), roles::update, "Change a custom role (predefined roles are not editable)"),
    endpoint!(DELETE "/api/v1/roles/{role_id}", "deleteRole", "roles", perm("roles:manage", "orgs/{org}/roles/{role_id}"), Any, None, (204, None), roles::delete, "Delete a custom role no binding uses"),
    endpoint!(GET "/api/v1/bindings", "listBindings", "roles", perm("roles:read", "orgs/{org}/bindings"), Any, None, (200, body::<roles::BindingList>()), roles::list_bindings, "Role bindings of your organization"),
    endpoint!(POST "/api/v1/bindings", "createBinding", "roles", perm("roles:manage", "orgs/{org}/bindings"), Any, body::<roles::BindingBody>(), (201, body::<roles::BindingView>()), roles::create_binding, "Bind a user, group or API key to a role on a scope"),
    endpoint!(DELETE "/api/v1/bindings/{binding_id}", "deleteBinding", "roles", perm("roles:manage", "orgs/{org}/bindings/{binding_id}"), Any, None, (204, None), roles::delete_binding, "Delete a binding; effective on the next request"),
    endpoint!(GET "/api/v1/audit", "queryAudit", "audit", perm("audit:read", "orgs/{org}/audit"), Any, None, query = query::<audit::AuditQuery>(), (200, body::<audit::AuditPage>()), audit::query, "Your organization's audit events, newest first, filtered, by pages"),
    endpoint!(GET "/api/v1/audit/export", "exportAudit", "audit", perm("audit:read", "orgs/{org}/audit"), Any, None, query = query::<audit::ExportQuery>(), (200, body::<audit::JsonLines>()), audit::export, "Your organization's audit chain as a bundle to verify offline"),
    endpoint!(GET "/api/v1/platform/audit", "queryPlatformAudit", "audit", Platform, Any, None, query = query::<audit::AuditQuery>(), (200, body::<audit::AuditPage>()), audit::platform_query, "The platform's own audit events (platform operators)"),
    endpoint!(GET "/api/v1/platform/audit/export", "exportPlatformAudit", "audit", Platform, Any, None, query = query::<audit::ExportQuery>(), (200, body::<audit::JsonLines>()), audit::platform_export, "The platform's audit chain as a bundle (platform operators)"),
    endpoint!(POST "/api/v1/platform/audit/keys", "rotateAuditKey", "audit", Platform, Any, None, (200, body::<audit::RotatedKey>()), audit::rotate_key, "Start signing checkpoints with a new key; the old one stays published (platform operators)"),
    endpoint!(GET "/api/v1/authz/permissions", "listPermissions", "authz", Full, Any, None, (200, body::<authz::PermissionCatalogue>()), authz::permissions, "The permission catalogue and the predefined roles"),
    endpoint!(POST "/api/v1/authz/explain", "explainDecision", "authz", perm("roles:read", "orgs/{org}/authz"), Any, body::<authz::ExplainRequest>(), (200, body::<crate::authz::Receipt>()), authz::explain, "Why a subject may or may not do an action on a resource: the decision receipt"),
    endpoint!(GET "/api/v1/authz/effective", "effectivePermissions", "authz", perm("roles:read", "orgs/{org}/authz"), Any, None, query = query::<authz::EffectiveQuery>(), (200, body::<authz::EffectivePermissions>()), authz::effective_permissions, "What a subject may do, per scope (?subject=user:<id>)"),
];

/// The API routes, built from [`ENDPOINTS`], each behind the enforcement
/// of its [`Access`]. A known path with another method gets a JSON 405
/// naming the allowed methods.
pub fn routes(state: &Arc<GatewayState>) -> Router<Arc<GatewayState>> {
    let mut router = Router::new();
    for endpoint in ENDPOINTS {
        let Ok(filter) = MethodFilter::try_from(endpoint.method.clone()) else {
            continue;
        };
        let enforce =
            axum::middleware::from_fn_with_state((state.clone(), endpoint), access::enforce);
        router = router.route(endpoint.path, (endpoint.route)(filter).route_layer(enforce));
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

/// How many literal (not `{parameter}`) segments `template` has: where
/// several templates match a path, the router takes the most literal one
/// (`/auth/sso/discover` before `/auth/sso/{provider_id}`).
fn literal_segments(template: &str) -> usize {
    template.split('/').filter(|s| !s.starts_with('{')).count()
}

/// The methods [`ENDPOINTS`] serve on `path`: those of the most literal
/// templates that match it, as the router picks them.
pub fn allowed_methods(path: &str) -> Vec<Method> {
    let matching: Vec<&Endpoint> = ENDPOINTS
        .iter()
        .filter(|e| template_matches(e.path, path))
        .collect();
    let most_literal = matching
        .iter()
        .map(|e| literal_segments(e.path))
        .max()
        .unwrap_or(0);
    matching
        .into_iter()
        .filter(|e| literal_segments(e.path) == most_literal)
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
        assert_eq!(allowed_methods("/auth/sso/discover"), [Method::POST]);
        assert_eq!(allowed_methods("/auth/sso/idp_1"), [Method::GET]);
        assert!(allowed_methods("/api/v1/nothing").is_empty());
    }
}
