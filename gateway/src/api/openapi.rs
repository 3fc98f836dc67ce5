//! The OpenAPI 3.1 document, generated from [`super::ENDPOINTS`] and the
//! schemas below.

use super::{Access, ENDPOINTS, Guard};
use crate::http::error::ErrorBody;
use axum::Json;
use axum::response::{IntoResponse, Response};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
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

/// The generator of the document's component schemas, from the Rust types
/// the handlers read and write.
fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.definitions_path = "/components/schemas".into();
            settings.meta_schema = None;
        })
        .into_generator()
}

fn to_value(schema: Schema) -> Value {
    serde_json::to_value(schema).unwrap_or(Value::Bool(true))
}

/// The public keys of `/.well-known/jwks.json` (RFC 7517), for the schema.
#[derive(JsonSchema)]
#[expect(
    dead_code,
    reason = "describes the JWKS response in the OpenAPI document"
)]
pub struct Jwks {
    /// The keys.
    keys: Vec<Map<String, Value>>,
}

/// This document, for the schema.
#[derive(JsonSchema)]
#[expect(dead_code, reason = "describes the OpenAPI document in itself")]
pub struct OpenApiDocument {
    /// The OpenAPI version.
    openapi: String,
}

/// The `in: query` parameters of a query-string type's schema: one per
/// property, required as the type requires it, described by its doc.
fn query_parameters(schema: &Value) -> Vec<Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let mut property = property.clone();
            let description = property
                .as_object_mut()
                .and_then(|p| p.remove("description"));
            // An optional field is an absent parameter, never a `null` one.
            if let Some(types) = property["type"].as_array_mut() {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    property["type"] = only.clone();
                }
            }
            let mut parameter = json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "schema": property,
            });
            if let Some(description) = description {
                parameter["description"] = description;
            }
            parameter
        })
        .collect()
}

fn build() -> Value {
    let mut generator = generator();
    let error = to_value(generator.subschema_for::<ErrorBody<'static>>());
    let mut paths = Map::new();
    for endpoint in ENDPOINTS {
        let mut operation = Map::new();
        operation.insert("operationId".into(), endpoint.operation_id.into());
        operation.insert("summary".into(), endpoint.summary.into());
        operation.insert("tags".into(), json!([endpoint.tag]));
        let mut parameters: Vec<Value> = path_parameters(endpoint.path)
            .into_iter()
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "pattern": super::access::PLAIN_ID_PATTERN}}))
            .collect();
        if let Some(query) = endpoint.query {
            parameters.extend(query_parameters(&to_value(query(&mut generator))));
        }
        if !parameters.is_empty() {
            operation.insert("parameters".into(), parameters.into());
        }
        if let Some(request) = endpoint.request {
            let schema = to_value(request(&mut generator));
            operation.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": schema}}}),
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
            Some(response) => {
                let schema = to_value(response(&mut generator));
                // A body that is not JSON names its media type in its schema.
                let media = schema
                    .get("contentMediaType")
                    .and_then(Value::as_str)
                    .unwrap_or("application/json")
                    .to_string();
                json!({"description": "Success", "content": {media: {"schema": schema}}})
            }
            None => json!({"description": "Success, no content"}),
        };
        let error = json!({"description": "Error", "content": {"application/json": {"schema": error.clone()}}});
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
            "schemas": generator.take_definitions(true),
        },
        "security": [{"bearer": []}, {"session": []}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_referenced_schema_exists_and_every_schema_is_used() {
        let schemas = document()["components"]["schemas"].as_object().unwrap();
        let document = serde_json::to_string(document()).unwrap();
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
                .map(|p| {
                    p.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(declared, path_parameters(endpoint.path), "{endpoint:?}");
        }
    }

    #[test]
    fn query_parameters_come_from_the_handlers_query_types() {
        let query = |path: &str, method: &str| -> Vec<(String, bool)> {
            document()["paths"][path][method]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "query")
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_string(),
                        p["required"].as_bool().unwrap(),
                    )
                })
                .collect()
        };
        assert_eq!(
            query("/api/v1/environments/{env_id}", "delete"),
            [("cascade".to_string(), false)]
        );
        assert_eq!(
            query("/api/v1/authz/effective", "get"),
            [("subject".to_string(), true)]
        );
        assert_eq!(
            query("/api/v1/api-keys", "get"),
            [("owner_id".to_string(), false)]
        );
        let cascade =
            &document()["paths"]["/api/v1/environments/{env_id}"]["delete"]["parameters"][1];
        assert_eq!(cascade["schema"]["type"], "boolean", "{cascade}");
        let owner = &document()["paths"]["/api/v1/api-keys"]["get"]["parameters"][0];
        assert_eq!(owner["schema"]["type"], "string", "{owner}");
        assert!(
            cascade["description"]
                .as_str()
                .unwrap()
                .contains("connections")
        );
    }
}
