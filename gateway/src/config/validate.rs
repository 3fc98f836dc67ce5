//! Checks that go beyond types: references between sections, ranges, URLs.

use super::Config;

/// Most `server.threads` accepted.
const MAX_SERVING_THREADS: usize = 256;

/// `(key, expected)` of the first problem found.
pub(super) type Problem = (String, String);

fn problem(key: impl Into<String>, expected: impl Into<String>) -> Problem {
    (key.into(), expected.into())
}

/// Validates a parsed configuration.
pub(super) fn validate(config: &Config) -> Result<(), Problem> {
    validate_identity_providers(config)?;
    let server = &config.server;
    if server.max_body_bytes == 0 {
        return Err(problem(
            "server.max_body_bytes",
            "a positive number of bytes",
        ));
    }
    if server.max_header_bytes < 8192 {
        return Err(problem("server.max_header_bytes", "at least 8192 bytes"));
    }
    for (key, value) in [
        (
            "server.tls_handshake_timeout_ms",
            server.tls_handshake_timeout_ms,
        ),
        (
            "server.header_read_timeout_ms",
            server.header_read_timeout_ms,
        ),
        ("server.request_timeout_ms", server.request_timeout_ms),
        ("server.idle_timeout_ms", server.idle_timeout_ms),
        ("server.body_read_timeout_ms", server.body_read_timeout_ms),
    ] {
        if value == 0 {
            return Err(problem(key, "a positive number of milliseconds"));
        }
    }
    if server.threads > MAX_SERVING_THREADS {
        return Err(problem(
            "server.threads",
            format!("from 0 (one per CPU core) to {MAX_SERVING_THREADS} threads"),
        ));
    }
    if !(1..=10_000).contains(&server.http2_max_concurrent_streams) {
        return Err(problem(
            "server.http2_max_concurrent_streams",
            "from 1 to 10000 streams",
        ));
    }
    if let Some(host) = &server.public_host
        && !crate::http::is_host_and_port(host)
    {
        return Err(problem(
            "server.public_host",
            "a host name or address with an optional port (`gw.example.com:8443`), without scheme or path",
        ));
    }
    if config.tls.cert.is_some() != config.tls.key.is_some() {
        return Err(problem(
            "tls",
            "both `cert` and `key`, or neither (self-signed)",
        ));
    }

    for (name, plugin) in &config.plugins {
        let key = |field: &str| format!("plugins.{name}.{field}");
        if !(1..=4096).contains(&plugin.memory_limit_mib) {
            return Err(problem(
                key("memory_limit_mib"),
                "a size from 1 to 4096 MiB",
            ));
        }
        if !(1..=600_000).contains(&plugin.deadline_ms) {
            return Err(problem(key("deadline_ms"), "from 1 to 600000 milliseconds"));
        }
        if !(1..=1024).contains(&plugin.instances) {
            return Err(problem(key("instances"), "from 1 to 1024 instances"));
        }
        for (i, host) in plugin.allow_hosts.iter().enumerate() {
            if let Err(error) = crate::plugin::EgressRule::parse(host) {
                return Err(problem(
                    format!("plugins.{name}.allow_hosts[{i}]"),
                    error.to_string(),
                ));
            }
        }
    }

    let known = |name: &str| config.plugins.contains_key(name);
    if let Some(authorizer) = &config.auth.authorizer
        && !known(authorizer)
    {
        return Err(problem(
            "auth.authorizer",
            format!("the name of a plugin under [plugins], not `{authorizer}`"),
        ));
    }
    if let Some(shadow) = &config.auth.shadow_authorizer {
        if !known(shadow) {
            return Err(problem(
                "auth.shadow_authorizer",
                format!("the name of a plugin under [plugins], not `{shadow}`"),
            ));
        }
        if config.auth.authorizer.as_deref() == Some(shadow.as_str()) {
            return Err(problem(
                "auth.shadow_authorizer",
                "a plugin other than auth.authorizer (a shadow that is the active authorizer compares nothing)",
            ));
        }
    }
    for (i, permission) in config.authz.mfa_required.iter().enumerate() {
        if crate::authz::catalogue::validate_pattern(permission).is_err() {
            return Err(problem(
                format!("authz.mfa_required[{i}]"),
                format!("a permission of the catalogue (e.g. `users:manage`), not `{permission}`"),
            ));
        }
    }
    if config.authz.poll_interval_secs == 0 {
        return Err(problem(
            "authz.poll_interval_secs",
            "a number of seconds of at least 1",
        ));
    }
    if config.secrets.refresh_secs == 0 {
        return Err(problem(
            "secrets.refresh_secs",
            "a number of seconds of at least 1",
        ));
    }
    validate_audit(&config.audit)?;
    if !(60..=7 * 86_400).contains(&config.encryption.data_key_max_age_secs) {
        return Err(problem(
            "encryption.data_key_max_age_secs",
            "a number of seconds from 60 to 604800 (7 days)",
        ));
    }
    if let Some(provider) = &config.encryption.key_provider
        && !known(provider)
    {
        return Err(problem(
            "encryption.key_provider",
            format!("the name of a key-provider plugin under [plugins], not `{provider}`"),
        ));
    }
    for (i, provider) in config.auth.providers.iter().enumerate() {
        if !known(provider) {
            return Err(problem(
                format!("auth.providers[{i}]"),
                format!("the name of a plugin under [plugins], not `{provider}`"),
            ));
        }
    }

    if let Some(local) = &config.identity.local_provider
        && !known(local)
    {
        return Err(problem(
            "identity.local_provider",
            format!("the name of a plugin under [plugins], not `{local}`"),
        ));
    }
    let identity = &config.identity;
    for (key, value, range) in [
        (
            "identity.access_token_ttl_secs",
            identity.access_token_ttl_secs,
            10..=86_400,
        ),
        (
            "identity.signing_key_rotation_secs",
            identity.signing_key_rotation_secs,
            60..=31_536_000,
        ),
        (
            "identity.session_idle_timeout_secs",
            identity.session_idle_timeout_secs,
            60..=2_592_000,
        ),
        (
            "identity.session_absolute_timeout_secs",
            identity.session_absolute_timeout_secs,
            60..=31_536_000,
        ),
        (
            "identity.login_flow_timeout_secs",
            identity.login_flow_timeout_secs,
            30..=86_400,
        ),
        ("identity.cache_ttl_ms", identity.cache_ttl_ms, 0..=60_000),
    ] {
        if !range.contains(&value) {
            return Err(problem(
                key,
                format!("a number from {} to {}", range.start(), range.end()),
            ));
        }
    }
    if identity.signing_key_rotation_secs <= identity.access_token_ttl_secs {
        return Err(problem(
            "identity.signing_key_rotation_secs",
            "longer than identity.access_token_ttl_secs, so every token outlives no more than one rotation",
        ));
    }
    if identity.session_cookie.is_empty()
        || !identity
            .session_cookie
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(problem(
            "identity.session_cookie",
            "a cookie name of letters, digits, `_` and `-`",
        ));
    }
    if !config.routes.is_empty() && config.auth.authorizer.is_none() {
        return Err(problem(
            "auth.authorizer",
            "an authorizer plugin, because routes are configured",
        ));
    }
    let mut names = std::collections::HashSet::new();
    for (i, route) in config.routes.iter().enumerate() {
        let key = |field: &str| format!("routes[{i}].{field}");
        if !names.insert(route.name.as_str()) {
            return Err(problem(
                key("name"),
                format!("a unique route name; `{}` is used twice", route.name),
            ));
        }
        if !route.path.starts_with('/') {
            return Err(problem(key("path"), "a path template starting with `/`"));
        }
        if config.server.case_insensitive_paths
            && route.path.bytes().any(|b| b.is_ascii_uppercase())
        {
            return Err(problem(
                key("path"),
                "a lower-case path template, because `server.case_insensitive_paths` is on",
            ));
        }
        for reserved in crate::http::OWN_ENDPOINTS {
            if route.path == reserved {
                return Err(problem(
                    key("path"),
                    format!("a path other than the gateway's own `{reserved}`"),
                ));
            }
        }
        match route.upstream.parse::<http::Uri>() {
            Ok(uri)
                if uri.scheme_str() == Some("http")
                    && uri.authority().is_some()
                    && uri
                        .path_and_query()
                        .is_none_or(|p| p.as_str() == "/" || p.as_str().is_empty()) => {}
            _ => {
                return Err(problem(
                    key("upstream"),
                    "an `http://host:port` URL without path (TLS to upstreams is not supported yet)",
                ));
            }
        }
        for (m, method) in route.methods.iter().enumerate() {
            if method.parse::<http::Method>().is_err() || method.to_ascii_uppercase() != *method {
                return Err(problem(
                    format!("routes[{i}].methods[{m}]"),
                    "an upper-case HTTP method such as `GET`",
                ));
            }
        }
        if route.permission.action.is_empty() {
            return Err(problem(
                key("permission.action"),
                "a non-empty action such as `connections.read`",
            ));
        }
        if template_params(&route.path)
            .iter()
            .any(|p| p == crate::http::proxy::ORG_PLACEHOLDER)
        {
            return Err(problem(
                key("path"),
                "a parameter name other than `org`, which means the caller's own organization",
            ));
        }
        for param in template_params(&route.permission.resource) {
            if param != crate::http::proxy::ORG_PLACEHOLDER
                && !template_params(&route.path).contains(&param)
            {
                return Err(problem(
                    key("permission.resource"),
                    format!(
                        "only parameters of the route path; `{{{param}}}` is not in `{}`",
                        route.path
                    ),
                ));
            }
        }
        if route.timeout_ms == Some(0) {
            return Err(problem(
                key("timeout_ms"),
                "a positive number of milliseconds",
            ));
        }
    }
    Ok(())
}

/// Names of `{param}` / `{*param}` placeholders in a template.
pub(crate) fn template_params(template: &str) -> Vec<String> {
    let mut params = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let name = rest[start + 1..start + len].trim_start_matches('*');
        params.push(name.to_string());
        rest = &rest[start + len + 1..];
    }
    params
}

fn validate_audit(audit: &super::model::AuditConfig) -> Result<(), Problem> {
    use super::model::AuditSinkKind;
    if audit.checkpoint_every_events == 0 {
        return Err(problem(
            "audit.checkpoint_every_events",
            "a number of events of at least 1",
        ));
    }
    if !(1..=3600).contains(&audit.checkpoint_interval_secs) {
        return Err(problem(
            "audit.checkpoint_interval_secs",
            "a number of seconds from 1 to 3600",
        ));
    }
    if audit.queue_capacity == 0 {
        return Err(problem(
            "audit.queue_capacity",
            "a number of events of at least 1",
        ));
    }
    if audit.refusal_burst == 0 {
        return Err(problem(
            "audit.refusal_burst",
            "a number of refusals of at least 1",
        ));
    }
    if !(audit.refusals_per_second.is_finite() && audit.refusals_per_second > 0.0) {
        return Err(problem(
            "audit.refusals_per_second",
            "a rate above 0 (refusals recorded per second)",
        ));
    }
    for (i, sink) in audit.sinks.iter().enumerate() {
        match (sink.kind, &sink.path) {
            (AuditSinkKind::File, None) => {
                return Err(problem(
                    format!("audit.sinks[{i}].path"),
                    "the file a `file` sink writes to",
                ));
            }
            (AuditSinkKind::Stdout, Some(_)) => {
                return Err(problem(
                    format!("audit.sinks[{i}].path"),
                    "no path: a `stdout` sink writes to standard output",
                ));
            }
            _ => {}
        }
        if sink.max_bytes < 4096 {
            return Err(problem(
                format!("audit.sinks[{i}].max_bytes"),
                "a size in bytes of at least 4096",
            ));
        }
    }
    Ok(())
}

/// Declared identity providers: well-formed unique ids, known plugins, and
/// no key both secret and not.
fn validate_identity_providers(config: &Config) -> Result<(), Problem> {
    let mut ids = std::collections::BTreeSet::new();
    for (i, provider) in config.identity_providers.iter().enumerate() {
        let key = |field: &str| format!("identity_providers[{i}].{field}");
        let well_formed = provider.id.strip_prefix("idp_").is_some_and(|rest| {
            (1..=60).contains(&rest.len())
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
        if !well_formed {
            return Err(problem(key("id"), "`idp_` then 1 to 60 of a-z, 0-9 and _"));
        }
        if !ids.insert(provider.id.as_str()) {
            return Err(problem(key("id"), "an id no other identity provider has"));
        }
        if provider.org.trim().is_empty() {
            return Err(problem(key("org"), "an organization id"));
        }
        if !(1..=100).contains(&provider.name.chars().count()) {
            return Err(problem(key("name"), "1 to 100 characters"));
        }
        if !config.plugins.contains_key(&provider.plugin) {
            return Err(problem(
                key("plugin"),
                "the name of a plugin in [plugins] (an auth-provider plugin)",
            ));
        }
        if let Some(both) = provider
            .config
            .keys()
            .find(|k| provider.secrets.contains_key(*k))
        {
            return Err(problem(
                key("secrets"),
                format!("keys not also in `config` (`{both}` is in both)"),
            ));
        }
    }
    Ok(())
}
