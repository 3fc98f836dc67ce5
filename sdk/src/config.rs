//! The plugin's configuration block, as the operator wrote it.

use crate::PluginError;
use serde::de::DeserializeOwned;

/// Deserializes the plugin's `config` table into `T`. A mismatch becomes
/// [`PluginError::InvalidConfig`] naming the offending key and what was
/// expected there, never the value: a setting of the wrong type may be a
/// secret put in the wrong place.
pub fn get<T: DeserializeOwned>() -> Result<T, PluginError> {
    parse(&crate::__raw::config::get_json())
}

/// [`get`] on a JSON text.
fn parse<T: DeserializeOwned>(json: &str) -> Result<T, PluginError> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let key = error.path().to_string();
        let what = describe(error.inner());
        PluginError::InvalidConfig(if key == "." {
            format!("config: {what}")
        } else {
            format!("config key `{key}`: {what}")
        })
    })
}

/// What serde says, without the offending value or a position in JSON
/// the operator never wrote: "invalid type: string \"hunter2\", expected
/// u32 at line 1 column 30" becomes "expected u32".
fn describe(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let text = text.split(" at line ").next().unwrap_or_default();
    let names_a_value = [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
    ]
    .iter()
    .any(|prefix| text.starts_with(prefix));
    if names_a_value {
        match text.find("expected ") {
            Some(at) => text[at..].to_string(),
            None => "a value of another type".to_string(),
        }
    } else {
        text.to_string()
    }
}

/// The name the operator gave this plugin instance.
pub fn instance_name() -> String {
    crate::__raw::config::instance_name()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Settings {
        port: u16,
        mode: Mode,
        nested: Nested,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Strict,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        limit: u32,
    }

    fn error_of(json: &str) -> String {
        match parse::<Settings>(json) {
            Err(PluginError::InvalidConfig(message)) => message,
            other => panic!("expected invalid-config, got {other:?}"),
        }
    }

    #[test]
    fn config_errors_name_the_key_and_never_the_value() {
        let wrong_type =
            error_of(r#"{"port": "s3cr3t-value", "mode": "strict", "nested": {"limit": 1}}"#);
        assert_eq!(wrong_type, "config key `port`: expected u16");
        let nested =
            error_of(r#"{"port": 1, "mode": "strict", "nested": {"limit": "s3cr3t-value"}}"#);
        assert_eq!(nested, "config key `nested.limit`: expected u32");
        let variant = error_of(r#"{"port": 1, "mode": "s3cr3t-value", "nested": {"limit": 1}}"#);
        assert!(
            variant.starts_with("config key `mode`: expected"),
            "{variant}"
        );
        assert!(!variant.contains("s3cr3t"), "{variant}");
        let unknown =
            error_of(r#"{"port": 1, "mode": "strict", "nested": {"limit": 1}, "prot": 2}"#);
        assert!(unknown.contains("unknown field `prot`"), "{unknown}");
        let missing = error_of(r#"{"mode": "strict", "nested": {"limit": 1}}"#);
        assert!(missing.contains("missing field `port`"), "{missing}");
        for message in [wrong_type, nested, unknown, missing] {
            assert!(!message.contains("line"), "{message}");
            assert!(!message.contains("column"), "{message}");
        }
    }
}
