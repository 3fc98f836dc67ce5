//! The OpenAPI 3.1 document, generated from [`super::ENDPOINTS`] and the
//! schemas below.

use super::{Access, ENDPOINTS, Guard};
use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> Response {
    Json(document().clone()).into_response()
}

/// The document (built once).
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

/// The `{name}` parameters of a path template.
pub fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn build() -> Value {
    let mut paths = Map::new();
    for endpoint in ENDPOINTS {
        let mut operation = Map::new();
        operation.insert("operationId".into(), endpoint.operation_id.into());
        operation.insert("summary".into(), endpoint.summary.into());
        operation.insert("tags".into(), json!([endpoint.tag]));
        let parameters: Vec<Value> = path_parameters(endpoint.path)
            .into_iter()
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !parameters.is_empty() {
            operation.insert("parameters".into(), parameters.into());
        }
        if let Some(request) = endpoint.request {
            operation.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": reference(request)}}}),
            );
        }
        match endpoint.access {
            Access::Public => {
                operation.insert("security".into(), json!([]));
            }
            Access::Permission { action, resource } => {
                operation.insert("x-portcullis-action".into(), action.into());
                operation.insert("x-portcullis-resource".into(), resource.into());
            }
            Access::Platform => {
                operation.insert("x-portcullis-platform-operator".into(), true.into());
            }
            Access::Authenticated | Access::FullAccess => {}
        }
        match endpoint.guard {
            Guard::Any => {}
            Guard::SignedIn => {
                operation.insert("x-portcullis-requires".into(), "signed-in".into());
            }
            Guard::StepUp => {
                operation.insert("x-portcullis-requires".into(), "step-up".into());
            }
        }
        let (status, schema) = endpoint.response;
        let success = match schema {
            Some(name) => {
                json!({"description": "Success", "content": {"application/json": {"schema": reference(name)}}})
            }
            None => json!({"description": "Success, no content"}),
        };
        let error = json!({"description": "Error", "content": {"application/json": {"schema": reference("Error")}}});
        operation.insert(
            "responses".into(),
            json!({ status.to_string(): success, "default": error }),
        );
        let item = paths
            .entry(endpoint.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(
                endpoint.method.as_str().to_lowercase(),
                Value::Object(operation),
            );
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Portcullis control-plane API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Sessions, users, organizations and API keys. Errors are JSON with a stable `code`, a `message` and the `request_id`. Times are Unix seconds.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An access token (EdDSA JWT) or an API key `pcs_…`"},
                "session": {"type": "apiKey", "in": "cookie", "name": "portcullis_session"},
            },
            "schemas": schemas(),
        },
        "security": [{"bearer": []}, {"session": []}],
    })
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

/// `schema`, which must have exactly one of `properties`.
fn exactly_one_of(mut schema: Value, properties: &[&str]) -> Value {
    schema["oneOf"] = properties
        .iter()
        .map(|p| json!({"required": [p]}))
        .collect::<Vec<_>>()
        .into();
    schema
}

fn list_of(field: &str, item: &str) -> Value {
    object(
        json!({ field: {"type": "array", "items": reference(item)} }),
        &[field],
    )
}

/// Every schema the endpoints name.
pub fn schemas() -> Value {
    let string = json!({"type": "string"});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let time = json!({"type": "integer", "description": "Unix seconds"});
    let optional_time = json!({"type": ["integer", "null"], "description": "Unix seconds"});
    let optional_string = json!({"type": ["string", "null"]});
    json!({
        "Error": object(json!({"code": string, "message": string, "request_id": string}), &["code", "message", "request_id"]),
        "Jwks": object(json!({"keys": {"type": "array", "items": {"type": "object"}}}), &["keys"]),
        "OpenApiDocument": {"type": "object"},
        "LoginRequest": {"type": "object", "description": "`provider` (optional, default: local accounts) and the step's fields as strings: `email` and `password`.", "additionalProperties": {"type": "string"}},
        "LoginContinuation": {"type": "object", "description": "`flow_id` from the previous step and this step's fields as strings: `code` or `recovery_code`.", "properties": {"flow_id": string}, "required": ["flow_id"], "additionalProperties": {"type": "string"}},
        "LoginStep": object(json!({
            "status": {"enum": ["prompt", "redirect", "authenticated"]},
            "flow_id": {"type": ["string", "null"], "description": "Send it with the next step to /auth/login/continue; null: answer the form with a new /auth/login"}, "form": reference("Form"), "location": string,
            "session_id": string, "session_expires_at": time, "access_token": string,
            "token_type": string, "expires_in": {"type": "integer"}, "amr": strings,
            "pending": strings, "subject": string,
        }), &["status"]),
        "Form": object(json!({"title": string, "error": optional_string, "fields": {"type": "array", "items": object(json!({"name": string, "label": string, "kind": string}), &["name", "label", "kind"])}}), &["title", "fields"]),
        "AccessToken": object(json!({"access_token": string, "token_type": string, "expires_in": {"type": "integer"}}), &["access_token", "token_type", "expires_in"]),
        "Me": object(json!({"subject": string, "issuer": string, "email": optional_string, "groups": strings, "amr": strings, "pending": strings, "session_id": optional_string, "api_key_id": optional_string, "user": {"oneOf": [reference("User"), {"type": "null"}]}, "mfa": {"oneOf": [reference("MfaStatus"), {"type": "null"}]}}), &["subject", "groups", "amr", "pending"]),
        "ProfilePatch": object(json!({"display_name": optional_string}), &["display_name"]),
        "PasswordChange": object(json!({"current_password": string, "new_password": string}), &["current_password", "new_password"]),
        "MfaStatus": object(json!({"totp": {"type": "boolean"}, "recovery_codes_left": {"type": "integer"}}), &["totp", "recovery_codes_left"]),
        "TotpEnrollment": object(json!({"secret": string, "otpauth_uri": string, "qr_svg": string}), &["secret", "otpauth_uri", "qr_svg"]),
        "TotpCode": object(json!({"code": string}), &["code"]),
        "RecoveryCodes": object(json!({"recovery_codes": strings}), &["recovery_codes"]),
        "Session": object(json!({"id": string, "created_at": time, "last_seen_at": time, "expires_at": time, "client_ip": string, "user_agent": string, "amr": strings, "current": {"type": "boolean"}}), &["id", "created_at", "expires_at", "current"]),
        "SessionList": list_of("sessions", "Session"),
        "RevokedCount": object(json!({"revoked": {"type": "integer"}}), &["revoked"]),
        "ApiKey": object(json!({"id": string, "name": string, "owner_id": string, "scope": {"type": ["array", "null"], "items": string}, "created_at": time, "created_by": string, "expires_at": time, "last_used_at": optional_time, "revoked_at": optional_time, "status": {"enum": ["active", "expired", "revoked"]}, "expiring_soon": {"type": "boolean"}}), &["id", "name", "owner_id", "created_at", "expires_at", "status", "expiring_soon"]),
        "ApiKeyList": list_of("api_keys", "ApiKey"),
        "NewApiKey": exactly_one_of(object(json!({"name": string, "owner_id": string, "scope": strings, "expires_in_seconds": {"type": "integer"}, "expires_at": time}), &["name"]), &["expires_in_seconds", "expires_at"]),
        "CreatedApiKey": object(json!({"api_key": reference("ApiKey"), "key": {"type": "string", "description": "The key; shown only in this response"}}), &["api_key", "key"]),
        "Org": object(json!({"id": string, "name": string, "mfa_required": {"type": "boolean"}, "api_key_max_lifetime_days": {"type": "integer"}, "created_at": time}), &["id", "name", "mfa_required", "api_key_max_lifetime_days"]),
        "OrgList": list_of("orgs", "Org"),
        "NewOrg": object(json!({"name": string, "first_admin_email": string}), &["name"]),
        "CreatedOrg": object(json!({"org": reference("Org"), "first_admin": {"oneOf": [reference("CreatedUser"), {"type": "null"}]}}), &["org", "first_admin"]),
        "OrgPatch": object(json!({"name": string, "mfa_required": {"type": "boolean"}, "api_key_max_lifetime_days": {"type": "integer", "minimum": 1, "maximum": 3650}}), &[]),
        "User": object(json!({"id": string, "org_id": string, "email": string, "display_name": optional_string, "groups": strings, "disabled": {"type": "boolean"}, "password_must_change": {"type": "boolean"}, "platform_operator": {"type": "boolean"}, "created_at": time}), &["id", "org_id", "email", "groups", "disabled"]),
        "UserList": list_of("users", "User"),
        "NewUser": object(json!({"email": string, "display_name": string, "groups": strings, "password": string, "password_temporary": {"type": "boolean", "description": "The given password must be changed at first sign-in"}}), &["email"]),
        "CreatedUser": object(json!({"user": reference("User"), "one_time_password": optional_string}), &["user"]),
        "UserPatch": object(json!({"display_name": optional_string, "groups": strings, "disabled": {"type": "boolean"}, "platform_operator": {"type": "boolean"}}), &[]),
        "OneTimePassword": object(json!({"one_time_password": string}), &["one_time_password"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_referenced_schema_exists_and_every_schema_is_used() {
        let document = serde_json::to_string(document()).unwrap();
        let schemas = schemas();
        let schemas = schemas.as_object().unwrap();
        let mut referenced = std::collections::BTreeSet::new();
        for piece in document.split("#/components/schemas/").skip(1) {
            let name: String = piece.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "missing schema {name}");
            referenced.insert(name);
        }
        for name in schemas.keys() {
            assert!(referenced.contains(name), "unused schema {name}");
        }
    }

    #[test]
    fn operations_are_unique_and_path_parameters_are_declared() {
        let mut ids = std::collections::BTreeSet::new();
        let mut routes = std::collections::BTreeSet::new();
        for endpoint in ENDPOINTS {
            assert!(
                ids.insert(endpoint.operation_id),
                "{}",
                endpoint.operation_id
            );
            assert!(
                routes.insert((endpoint.method.as_str(), endpoint.path)),
                "{endpoint:?}"
            );
            let operation =
                &document()["paths"][endpoint.path][endpoint.method.as_str().to_lowercase()];
            let declared: Vec<&str> = operation["parameters"]
                .as_array()
                .map(|p| p.iter().filter_map(|p| p["name"].as_str()).collect())
                .unwrap_or_default();
            assert_eq!(declared, path_parameters(endpoint.path), "{endpoint:?}");
        }
    }
}
