//! The `secret://` reference grammar.

use std::fmt;

/// The scheme of a secret reference.
pub const SCHEME: &str = "secret://";

/// A parsed `secret://{backend}/{name}[#json_key][?version=…]`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretReference {
    /// The secrets-backend plugin's instance name.
    pub backend: String,
    /// The secret's name in that backend (may contain `/`).
    pub name: String,
    /// A key of the secret's JSON object to take instead of the whole
    /// value.
    pub json_key: Option<String>,
    /// The version to read (the backend's version id or label); the
    /// current one without it.
    pub version: Option<String>,
}

/// Why a reference does not parse; says what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{reference}` is not a secret reference: {why} (expected `secret://{{backend}}/{{name}}[#json_key][?version=…]`)"
)]
pub struct ReferenceError {
    reference: String,
    why: &'static str,
}

impl SecretReference {
    /// Parses `text`, which starts with [`SCHEME`].
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        let refuse = |why| ReferenceError {
            reference: text.to_string(),
            why,
        };
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| refuse("no `secret://`"))?;
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(refuse("it contains spaces or control characters"));
        }
        let (rest, version) = match rest.split_once('?') {
            Some((rest, query)) => {
                let version = query
                    .strip_prefix("version=")
                    .filter(|v| !v.is_empty() && !v.contains(['&', '?', '#']))
                    .ok_or_else(|| refuse("the only query is `?version=…`"))?;
                (rest, Some(version.to_string()))
            }
            None => (rest, None),
        };
        let (path, json_key) = match rest.split_once('#') {
            Some((path, key)) if !key.is_empty() => (path, Some(key.to_string())),
            Some(_) => return Err(refuse("`#` must be followed by a JSON key")),
            None => (rest, None),
        };
        let (backend, name) = path
            .split_once('/')
            .ok_or_else(|| refuse("it names no secret after the backend"))?;
        if backend.is_empty() || name.is_empty() {
            return Err(refuse("the backend and the name must not be empty"));
        }
        Ok(Self {
            backend: backend.to_string(),
            name: name.to_string(),
            json_key,
            version,
        })
    }
}

/// The reference as written (it names a secret, it holds none).
impl fmt::Display for SecretReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.backend, self.name)?;
        if let Some(key) = &self.json_key {
            write!(f, "#{key}")?;
        }
        if let Some(version) = &self.version {
            write!(f, "?version={version}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SecretReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_parses_and_prints_back() {
        let r =
            SecretReference::parse("secret://aws/prod/db#password?version=AWSPREVIOUS").unwrap();
        assert_eq!(r.backend, "aws");
        assert_eq!(r.name, "prod/db");
        assert_eq!(r.json_key.as_deref(), Some("password"));
        assert_eq!(r.version.as_deref(), Some("AWSPREVIOUS"));
        assert_eq!(
            r.to_string(),
            "secret://aws/prod/db#password?version=AWSPREVIOUS"
        );
        let plain = SecretReference::parse("secret://file/oidc-client").unwrap();
        assert_eq!((plain.json_key, plain.version), (None, None));
    }

    #[test]
    fn malformed_references_say_what_is_expected() {
        for text in [
            "secret://",
            "secret://aws",
            "secret://aws/",
            "secret:///name",
            "secret://aws/db#",
            "secret://aws/db?v=1",
            "secret://aws/db?version=",
            "secret://aws/my db",
        ] {
            let error = SecretReference::parse(text).unwrap_err().to_string();
            assert!(
                error.contains("secret://{backend}/{name}"),
                "{text}: {error}"
            );
        }
    }
}
