//! Resolving the references in a plugin's configuration.

use super::reference::{ReferenceError, SCHEME, SecretReference};
use crate::config::PluginConfig;
use zeroize::Zeroizing;

/// Why a plugin's configuration could not be resolved: the setting, the
/// reference and what went wrong — never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// A setting starts with `secret://` but is not a reference.
    #[error("plugins.{plugin}.config.{setting}: {error}")]
    Malformed {
        /// The plugin.
        plugin: String,
        /// The setting's path in its configuration.
        setting: String,
        /// What is wrong.
        error: ReferenceError,
    },
    /// The reference could not be resolved.
    #[error(
        "plugins.{plugin}.config.{setting}: secret reference `{reference}` could not be resolved: {why}"
    )]
    Unresolved {
        /// The plugin.
        plugin: String,
        /// The setting's path in its configuration.
        setting: String,
        /// The reference as written.
        reference: String,
        /// The backend's answer, or why no backend could be asked.
        why: String,
    },
}

/// Where references are resolved: the secrets-backend plugins.
pub trait SecretSource {
    /// The secret `reference` names (the whole value; JSON keys are taken
    /// by [`resolve_config`]), or why not.
    fn fetch(
        &self,
        reference: &SecretReference,
    ) -> impl Future<Output = Result<Zeroizing<Vec<u8>>, String>>;
}

/// Whether any setting of `config` (at any depth) is a reference.
pub fn has_references(config: &toml::Table) -> bool {
    fn any(value: &toml::Value) -> bool {
        match value {
            toml::Value::String(s) => s.starts_with(SCHEME),
            toml::Value::Array(items) => items.iter().any(any),
            toml::Value::Table(table) => table.values().any(any),
            _ => false,
        }
    }
    config.values().any(any)
}

/// `config` with every reference replaced by the value it names, fetched
/// from `source`.
pub async fn resolve_config(
    plugin: &str,
    config: &PluginConfig,
    source: &impl SecretSource,
) -> Result<PluginConfig, ResolveError> {
    let mut pending: Vec<(String, SecretReference)> = Vec::new();
    let mut resolved = config.clone();
    collect(plugin, "", &resolved.config, &mut pending)?;
    let mut values = Vec::with_capacity(pending.len());
    for (setting, reference) in &pending {
        let unresolved = |why: String| ResolveError::Unresolved {
            plugin: plugin.to_string(),
            setting: setting.clone(),
            reference: reference.to_string(),
            why,
        };
        let bytes = source.fetch(reference).await.map_err(unresolved)?;
        let value = select(&bytes, reference.json_key.as_deref()).map_err(unresolved)?;
        values.push(value);
    }
    let mut next = values.into_iter();
    replace(&mut resolved.config, &mut next);
    Ok(resolved)
}

/// The setting paths and references of `table`, depth first in key order.
fn collect(
    plugin: &str,
    prefix: &str,
    table: &toml::Table,
    out: &mut Vec<(String, SecretReference)>,
) -> Result<(), ResolveError> {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        collect_value(plugin, path, value, out)?;
    }
    Ok(())
}

fn collect_value(
    plugin: &str,
    path: String,
    value: &toml::Value,
    out: &mut Vec<(String, SecretReference)>,
) -> Result<(), ResolveError> {
    match value {
        toml::Value::String(text) if text.starts_with(SCHEME) => {
            let reference =
                SecretReference::parse(text).map_err(|error| ResolveError::Malformed {
                    plugin: plugin.to_string(),
                    setting: path.clone(),
                    error,
                })?;
            out.push((path, reference));
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_value(plugin, format!("{path}[{i}]"), item, out)?;
            }
        }
        toml::Value::Table(table) => collect(plugin, &path, table, out)?,
        _ => {}
    }
    Ok(())
}

/// Replaces the references of `table` with `values`, in [`collect`]'s order.
fn replace(table: &mut toml::Table, values: &mut impl Iterator<Item = String>) {
    for (_, value) in table.iter_mut() {
        replace_value(value, values);
    }
}

fn replace_value(value: &mut toml::Value, values: &mut impl Iterator<Item = String>) {
    match value {
        toml::Value::String(text) if text.starts_with(SCHEME) => {
            if let Some(next) = values.next() {
                *text = next;
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(|v| replace_value(v, values)),
        toml::Value::Table(table) => replace(table, values),
        _ => {}
    }
}

/// The secret's text, or the string (or number) at `json_key` of its JSON
/// object.
fn select(bytes: &[u8], json_key: Option<&str>) -> Result<String, String> {
    let Some(key) = json_key else {
        return std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| "the secret is not UTF-8 text".to_string());
    };
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
        .map_err(|_| format!("the secret is not a JSON object, so it has no key `{key}`"))?;
    match object.get(key) {
        Some(serde_json::Value::String(text)) => Ok(text.clone()),
        Some(serde_json::Value::Number(number)) => Ok(number.to_string()),
        Some(_) => Err(format!(
            "the secret's key `{key}` is not a string or number"
        )),
        None => Err(format!("the secret's JSON object has no key `{key}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Fixed(BTreeMap<&'static str, &'static str>);

    impl SecretSource for Fixed {
        async fn fetch(&self, reference: &SecretReference) -> Result<Zeroizing<Vec<u8>>, String> {
            if reference.backend != "vault" {
                return Err(format!("no secrets backend `{}`", reference.backend));
            }
            self.0
                .get(reference.name.as_str())
                .map(|v| Zeroizing::new(v.as_bytes().to_vec()))
                .ok_or_else(|| "not found".to_string())
        }
    }

    fn source() -> Fixed {
        Fixed(BTreeMap::from([
            ("oidc", "client-s3cret"),
            (
                "db",
                r#"{"username": "app", "password": "pw-9", "port": 5432}"#,
            ),
        ]))
    }

    fn plugin(config: &str) -> PluginConfig {
        PluginConfig::new("p.wasm".into(), toml::from_str(config).unwrap())
    }

    #[tokio::test]
    async fn references_at_any_depth_are_replaced_and_nothing_else() {
        let config = plugin(
            r#"
            client_id = "portcullis"
            client_secret = "secret://vault/oidc"
            [db]
            users = ["secret://vault/db#username", "static"]
            port = "secret://vault/db#port"
            "#,
        );
        assert!(has_references(&config.config));
        let resolved = resolve_config("p", &config, &source()).await.unwrap();
        let expected: toml::Table = toml::from_str(
            r#"
            client_id = "portcullis"
            client_secret = "client-s3cret"
            [db]
            users = ["app", "static"]
            port = "5432"
            "#,
        )
        .unwrap();
        assert_eq!(resolved.config, expected);
        assert!(!has_references(&resolved.config));
    }

    #[tokio::test]
    async fn failures_name_the_setting_and_reference_and_no_value() {
        for (config, expected) in [
            (
                r#"a = "secret://vault/missing""#,
                "plugins.p.config.a: secret reference `secret://vault/missing` could not be resolved: not found",
            ),
            (
                r#"[t]
                b = ["x", "secret://other/oidc"]"#,
                "plugins.p.config.t.b[1]: secret reference `secret://other/oidc` could not be resolved: no secrets backend `other`",
            ),
            (
                r#"c = "secret://vault/oidc#password""#,
                "plugins.p.config.c: secret reference `secret://vault/oidc#password` could not be resolved: the secret is not a JSON object, so it has no key `password`",
            ),
            (
                r#"d = "secret://vault/db#missing""#,
                "plugins.p.config.d: secret reference `secret://vault/db#missing` could not be resolved: the secret's JSON object has no key `missing`",
            ),
        ] {
            let error = resolve_config("p", &plugin(config), &source())
                .await
                .unwrap_err()
                .to_string();
            assert_eq!(error, expected);
            assert!(!error.contains("client-s3cret") && !error.contains("pw-9"));
        }
        let malformed = resolve_config("p", &plugin(r#"e = "secret://vault""#), &source())
            .await
            .unwrap_err();
        assert!(
            matches!(malformed, ResolveError::Malformed { .. }),
            "{malformed}"
        );
    }
}
