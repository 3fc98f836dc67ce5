//! Scopes and subjects of bindings, as the API and the snapshot name them.

use serde::{Deserialize, Serialize};

/// Where a binding applies; a scope covers its children (an environment
/// covers its connections, the organization covers everything in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Scope {
    /// The whole organization.
    Organization,
    /// One environment and its connections.
    Environment {
        /// The environment's id.
        id: String,
    },
    /// One connection.
    Connection {
        /// The connection's id.
        id: String,
    },
}

impl Scope {
    /// `organization`, `environment` or `connection`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Environment { .. } => "environment",
            Self::Connection { .. } => "connection",
        }
    }

    /// The environment's or connection's id.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::Organization => None,
            Self::Environment { id } | Self::Connection { id } => Some(id),
        }
    }

    /// From the stored kind and id; `None` for a combination never written.
    pub fn from_parts(kind: &str, id: Option<&str>) -> Option<Self> {
        match (kind, id) {
            ("organization", None) => Some(Self::Organization),
            ("environment", Some(id)) => Some(Self::Environment { id: id.into() }),
            ("connection", Some(id)) => Some(Self::Connection { id: id.into() }),
            _ => None,
        }
    }
}

/// Who a binding is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A directory user (`user:<id>`).
    User(String),
    /// Everyone in a group, as the identity provider names it (`group:<name>`).
    Group(String),
    /// One API key (`api_key:<id>`): limits what its owner may do through it.
    ApiKey(String),
}

impl Subject {
    /// Parses `user:<id>`, `group:<name>` or `api_key:<id>`.
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, id) = text.split_once(':')?;
        if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
            return None;
        }
        match kind {
            "user" => Some(Self::User(id.into())),
            "group" => Some(Self::Group(id.into())),
            "api_key" => Some(Self::ApiKey(id.into())),
            _ => None,
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User(id) => write!(f, "user:{id}"),
            Self::Group(name) => write!(f, "group:{name}"),
            Self::ApiKey(id) => write!(f, "api_key:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip_and_refuse_the_rest() {
        for text in ["user:usr_1", "group:data team", "api_key:k1"] {
            assert_eq!(
                Subject::parse(text).map(|s| s.to_string()).as_deref(),
                Some(text)
            );
        }
        for bad in ["user:", "usr_1", "role:admin", "group:a\nb", ""] {
            assert_eq!(Subject::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn scopes_serialize_with_their_kind() {
        let scope = Scope::Environment { id: "env_1".into() };
        assert_eq!(
            serde_json::to_string(&scope).unwrap_or_default(),
            r#"{"kind":"environment","id":"env_1"}"#
        );
        assert_eq!(
            Scope::from_parts("organization", None),
            Some(Scope::Organization)
        );
        assert_eq!(Scope::from_parts("environment", None), None);
    }
}
