//! Typed gateway configuration: load → parse → validate.
//!
//! Every error names the file, the key and what was expected, so an operator
//! can fix a bad file without reading source. Secret values never appear in
//! errors: only key paths do.

mod model;
mod validate;

pub use model::{
    AuditConfig, AuditSinkConfig, AuditSinkFormat, AuditSinkKind, AuthConfig, Config,
    IdentityConfig, IdentityProviderConfig, Permission, PluginConfig, RouteConfig, SecretsConfig,
    ServerConfig, TlsConfig,
};

use std::path::{Path, PathBuf};

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file `{file}`: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a value of the wrong type.
    #[error("{file}: key `{key}`: {message}")]
    Parse {
        /// The file.
        file: PathBuf,
        /// Dotted path of the offending key (`.` for the whole file).
        key: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("{file}: key `{key}`: expected {expected}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Dotted path of the offending key.
        key: String,
        /// What was expected instead.
        expected: String,
    },
}

impl Config {
    /// Reads, parses and validates the configuration file at `path`.
    /// Relative paths inside it are resolved against its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, base)
    }

    /// Parses and validates configuration text. `file` is used in errors;
    /// relative paths are resolved against `base`.
    pub fn parse(text: &str, file: &Path, base: &Path) -> Result<Self, ConfigError> {
        let parse_error = |key: String, message: String| ConfigError::Parse {
            file: file.to_path_buf(),
            key,
            message,
        };
        let deserializer = toml::de::Deserializer::parse(text)
            .map_err(|e| parse_error(".".into(), e.message().to_string()))?;
        let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            parse_error(key, e.into_inner().message().to_string())
        })?;
        config.source = Some(file.to_path_buf());
        config.resolve_paths(base);
        validate::validate(&config).map_err(|(key, expected)| ConfigError::Invalid {
            file: file.to_path_buf(),
            key,
            expected,
        })?;
        Ok(config)
    }

    /// The embedded default: a complete single-node gateway in `data_dir`,
    /// with the bundled plugins from `plugin_dir`.
    pub fn embedded(data_dir: &Path, plugin_dir: &Path) -> Self {
        let mut config = model::embedded_default(data_dir, plugin_dir);
        config.source = None;
        config
    }

    /// Where this configuration came from, for messages.
    pub fn origin(&self) -> String {
        match &self.source {
            Some(path) => path.display().to_string(),
            None => "<embedded default>".to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
