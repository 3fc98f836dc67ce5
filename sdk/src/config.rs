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

/// Settings a plugin's own keys are taken out of.
pub type OwnKeys = serde_json::Map<String, serde_json::Value>;

/// [`get`] for a plugin whose configuration is a shared settings type `T`
/// (one every plugin of a family reads, e.g. how to reach a cloud) plus
/// keys of its own: the keys named in `own` are taken out and returned as
/// they are; everything else must deserialize into `T`, whose
/// `deny_unknown_fields` then names a misspelt key. Errors, as with
/// [`get`], name the key and never the value.
pub fn get_with_own<T: DeserializeOwned>(own: &[&str]) -> Result<(T, OwnKeys), PluginError> {
    split_own(&crate::__raw::config::get_json(), own)
}

/// [`get_with_own`] on a JSON text.
fn split_own<T: DeserializeOwned>(json: &str, own: &[&str]) -> Result<(T, OwnKeys), PluginError> {
    let mut rest: OwnKeys = parse(json)?;
    let mut mine = OwnKeys::new();
    for key in own {
        if let Some(value) = rest.remove(*key) {
            mine.insert((*key).to_string(), value);
        }
    }
    let shared = parse(&serde_json::Value::Object(rest).to_string())?;
    Ok((shared, mine))
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

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Shared {
        region: String,
    }

    #[test]
    fn own_keys_are_taken_out_and_the_rest_is_checked_as_the_shared_type() {
        let (shared, own) = split_own::<Shared>(
            r#"{"region": "eu-west-1", "key_id": "alias/x"}"#,
            &["key_id", "absent"],
        )
        .unwrap();
        assert_eq!(shared.region, "eu-west-1");
        assert_eq!(own.len(), 1);
        assert_eq!(own["key_id"], "alias/x");
        // A misspelt key is named; a wrongly typed one never shows its value.
        match split_own::<Shared>(r#"{"regoin": "eu-west-1"}"#, &[]) {
            Err(PluginError::InvalidConfig(why)) => {
                assert!(why.contains("unknown field `regoin`"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        match split_own::<Shared>(r#"{"region": ["s3cr3t-value"]}"#, &[]) {
            Err(PluginError::InvalidConfig(why)) => {
                assert_eq!(why, "config key `region`: expected a string");
            }
            other => panic!("{other:?}"),
        }
    }
}
