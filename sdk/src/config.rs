//! The plugin's configuration block, as the operator wrote it.

use crate::PluginError;
use serde::de::DeserializeOwned;

/// Deserializes the plugin's `config` table into `T`. A mismatch becomes
/// [`PluginError::InvalidConfig`] naming the offending key, so the operator
/// sees which setting is wrong when the gateway refuses the plugin.
pub fn get<T: DeserializeOwned>() -> Result<T, PluginError> {
    let json = crate::__raw::config::get_json();
    serde_json::from_str(&json).map_err(|e| PluginError::InvalidConfig(e.to_string()))
}

/// The name the operator gave this plugin instance.
pub fn instance_name() -> String {
    crate::__raw::config::instance_name()
}
