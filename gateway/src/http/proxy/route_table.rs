//! The compiled route table: path templates to routes, per method.

use crate::config::RouteConfig;
use http::Method;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Why the configured routes cannot form a table. `key` is the dotted
/// config key of the offending route.
#[derive(Debug, thiserror::Error)]
#[error("key `{key}`: expected {expected}")]
pub struct RouteTableError {
    /// The config key.
    pub key: String,
    /// What was expected.
    pub expected: String,
}

/// One piece of a resource template.
#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Param(String),
    /// `{org}`: the caller's organization, never a path parameter.
    Org,
}

/// The placeholder for the caller's organization in resource templates.
pub const ORG_PLACEHOLDER: &str = "org";

/// A resource name with the path parameters filled in; the caller's
/// organization, if the template names it, is filled in once the caller
/// is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceName {
    /// The name without the organization.
    text: String,
    /// Where in `text` the organization goes (usually nowhere or once).
    org_at: Vec<usize>,
}

impl ResourceName {
    /// The name for a caller of organization `org`; `None` when the
    /// template names the organization and the caller has none.
    pub fn for_org(self, org: Option<&str>) -> Option<String> {
        if self.org_at.is_empty() {
            return Some(self.text);
        }
        let org = org?;
        let mut out = String::with_capacity(self.text.len() + org.len() * self.org_at.len());
        let mut copied = 0;
        for &at in &self.org_at {
            out.push_str(&self.text[copied..at]);
            out.push_str(org);
            copied = at;
        }
        out.push_str(&self.text[copied..]);
        Some(out)
    }
}

/// A route, ready to serve.
#[derive(Debug)]
pub struct ProxyRoute {
    /// Name, for logs and metrics.
    pub name: String,
    methods: Vec<Method>,
    /// The upstream's `host:port` (always plain `http`), parsed once.
    pub upstream: http::uri::Authority,
    /// The `Host` header sent upstream: the upstream's `host:port`.
    pub upstream_host: http::HeaderValue,
    /// The action the authorizer is asked about.
    pub action: String,
    resource: Vec<Part>,
    /// Whether credential-less requests reach the authorizer as `anonymous`.
    pub allow_anonymous: bool,
    /// Whether the client's `Authorization` header goes upstream.
    pub forward_authorization: bool,
    /// How long the upstream may take to answer.
    pub timeout: Duration,
    /// Its requests' counters.
    pub counters: crate::metrics::RouteCounters,
}

impl ProxyRoute {
    fn accepts(&self, method: &Method) -> bool {
        self.methods.is_empty() || self.methods.contains(method)
    }

    fn resource(&self, params: &matchit::Params<'_, '_>) -> ResourceName {
        let mut name = ResourceName {
            text: String::with_capacity(64),
            org_at: Vec::new(),
        };
        for part in &self.resource {
            match part {
                Part::Literal(text) => name.text.push_str(text),
                Part::Param(param) => name.text.push_str(params.get(param).unwrap_or_default()),
                Part::Org => name.org_at.push(name.text.len()),
            }
        }
        name
    }
}

fn parse_template(template: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        if start > 0 {
            parts.push(Part::Literal(rest[..start].to_string()));
        }
        let name = rest[start + 1..start + len].trim_start_matches('*');
        parts.push(if name == ORG_PLACEHOLDER {
            Part::Org
        } else {
            Part::Param(name.to_string())
        });
        rest = &rest[start + len + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_string()));
    }
    parts
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// A route and the resource its permission names.
    Found(Arc<ProxyRoute>, ResourceName),
    /// The path matches, but no route takes this method; these do.
    MethodNotAllowed(Vec<Method>),
    /// Nothing matches the path.
    NoRoute,
}

/// Routes by path template, then method.
#[derive(Default)]
pub struct RouteTable {
    paths: matchit::Router<Vec<Arc<ProxyRoute>>>,
    count: usize,
}

impl std::fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteTable")
    }
}

impl RouteTable {
    /// Compiles the configured routes. Conflicting templates or methods are
    /// errors naming the route's key.
    pub fn build(
        routes: &[RouteConfig],
        default_timeout: Duration,
    ) -> Result<Self, RouteTableError> {
        let mut by_path: BTreeMap<&str, Vec<(usize, Arc<ProxyRoute>)>> = BTreeMap::new();
        for (i, config) in routes.iter().enumerate() {
            let methods = config
                .methods
                .iter()
                .filter_map(|m| m.parse().ok())
                .collect();
            let upstream = config
                .upstream
                .parse::<http::Uri>()
                .ok()
                .filter(|uri| uri.scheme_str() == Some("http"))
                .and_then(|uri| uri.into_parts().authority)
                .ok_or_else(|| RouteTableError {
                    key: format!("routes[{i}].upstream"),
                    expected: "an `http://host:port` URL without path".into(),
                })?;
            let upstream_host =
                http::HeaderValue::from_str(upstream.as_str()).map_err(|_| RouteTableError {
                    key: format!("routes[{i}].upstream"),
                    expected: "a host and port that can be a `Host` header".into(),
                })?;
            let route = Arc::new(ProxyRoute {
                name: config.name.clone(),
                methods,
                upstream,
                upstream_host,
                action: config.permission.action.clone(),
                resource: parse_template(&config.permission.resource),
                allow_anonymous: config.allow_anonymous,
                forward_authorization: config.forward_authorization,
                timeout: config
                    .timeout_ms
                    .map_or(default_timeout, Duration::from_millis),
                counters: crate::metrics::RouteCounters::default(),
            });
            let group = by_path.entry(config.path.as_str()).or_default();
            if let Some((other, _)) = group.iter().find(|(_, r)| {
                r.methods.is_empty()
                    || route.methods.is_empty()
                    || r.methods.iter().any(|m| route.methods.contains(m))
            }) {
                return Err(RouteTableError {
                    key: format!("routes[{i}].methods"),
                    expected: format!(
                        "methods not already routed for `{}` by routes[{other}]",
                        config.path
                    ),
                });
            }
            group.push((i, route));
        }
        let mut paths = matchit::Router::new();
        let count = routes.len();
        for (path, group) in by_path {
            let first = group.first().map_or(0, |(i, _)| *i);
            let routes = group.into_iter().map(|(_, r)| r).collect();
            paths.insert(path, routes).map_err(|e| RouteTableError {
                key: format!("routes[{first}].path"),
                expected: format!("a path template that does not conflict ({e})"),
            })?;
        }
        Ok(Self { paths, count })
    }

    /// Whether no routes are configured.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The route for `method` and `path`, with its filled resource.
    pub fn find(&self, method: &Method, path: &str) -> Lookup {
        let Ok(matched) = self.paths.at(path) else {
            return Lookup::NoRoute;
        };
        match matched.value.iter().find(|r| r.accepts(method)) {
            Some(route) => Lookup::Found(route.clone(), route.resource(&matched.params)),
            None => Lookup::MethodNotAllowed(
                matched
                    .value
                    .iter()
                    .flat_map(|r| r.methods.iter().cloned())
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Permission, RouteConfig};

    fn route(name: &str, path: &str, methods: &[&str], resource: &str) -> RouteConfig {
        RouteConfig {
            name: name.into(),
            methods: methods.iter().map(|m| (*m).to_string()).collect(),
            path: path.into(),
            upstream: "http://127.0.0.1:1".into(),
            permission: Permission {
                action: "x".into(),
                resource: resource.into(),
            },
            allow_anonymous: false,
            forward_authorization: false,
            timeout_ms: None,
        }
    }

    #[test]
    fn finds_by_method_and_fills_resource() {
        let table = RouteTable::build(
            &[
                route("read", "/v1/connections/{id}", &["GET"], "connections/{id}"),
                route(
                    "write",
                    "/v1/connections/{id}",
                    &["PUT"],
                    "connections/{id}/config",
                ),
                route("files", "/files/{*rest}", &[], "files/{rest}"),
            ],
            Duration::from_secs(1),
        )
        .unwrap();
        let found = |method: &Method, path: &str| match table.find(method, path) {
            Lookup::Found(route, resource) => Some((route.name.clone(), resource.for_org(None)?)),
            _ => None,
        };
        assert_eq!(
            found(&Method::GET, "/v1/connections/42"),
            Some(("read".into(), "connections/42".into()))
        );
        assert_eq!(
            found(&Method::PUT, "/v1/connections/42"),
            Some(("write".into(), "connections/42/config".into()))
        );
        assert!(matches!(
            table.find(&Method::DELETE, "/v1/connections/42"),
            Lookup::MethodNotAllowed(methods) if methods == vec![Method::GET, Method::PUT]
        ));
        assert_eq!(
            found(&Method::POST, "/files/a/b").map(|f| f.1),
            Some("files/a/b".into())
        );
        assert!(matches!(
            table.find(&Method::GET, "/v1/other"),
            Lookup::NoRoute
        ));
    }

    #[test]
    fn the_organization_is_the_callers_never_the_paths() {
        let table = RouteTable::build(
            &[route(
                "conn",
                "/v1/connections/{id}",
                &["GET"],
                "orgs/{org}/connections/{id}",
            )],
            Duration::from_secs(1),
        )
        .unwrap();
        let Lookup::Found(_, resource) = table.find(&Method::GET, "/v1/connections/42") else {
            panic!("no route");
        };
        assert_eq!(
            resource.clone().for_org(Some("org_b")).as_deref(),
            Some("orgs/org_b/connections/42")
        );
        assert_eq!(
            resource.for_org(None),
            None,
            "no organization, no resource name"
        );
        let table = RouteTable::build(
            &[route(
                "twice",
                "/m/{id}",
                &["GET"],
                "orgs/{org}/m/{org}-{id}",
            )],
            Duration::from_secs(1),
        )
        .unwrap();
        let Lookup::Found(_, resource) = table.find(&Method::GET, "/m/7") else {
            panic!("no route");
        };
        assert_eq!(
            resource.for_org(Some("org_c")).as_deref(),
            Some("orgs/org_c/m/org_c-7")
        );
    }

    #[test]
    fn conflicts_are_errors_not_panics() {
        let err = RouteTable::build(
            &[
                route("a", "/x/{id}", &["GET"], "x"),
                route("b", "/x/{id}", &[], "x"),
            ],
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert_eq!(err.key, "routes[1].methods");
        let err = RouteTable::build(
            &[
                route("a", "/x/{id}", &["GET"], "x"),
                route("b", "/x/{name}", &["GET"], "x"),
            ],
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(err.key.ends_with(".path"), "{err}");
        assert!(
            RouteTable::build(&[route("a", "/x/{", &[], "x")], Duration::from_secs(1)).is_err()
        );
    }
}
