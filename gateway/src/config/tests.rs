use super::*;
use std::path::Path;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/portcullis.toml"), Path::new("/etc"))
}

const PLUGIN: &str = "[plugins.authz]\npath = \"authz.wasm\"\n";

#[test]
fn wrong_type_names_file_and_key() {
    let err = parse("[server]\nmax_body_bytes = \"big\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("/etc/portcullis.toml: key `server.max_body_bytes`"),
        "{err}"
    );
    assert!(err.contains("expected usize"), "{err}");
}

#[test]
fn serving_threads_are_bounded() {
    let err = parse("[server]\nthreads = 1000\n").unwrap_err().to_string();
    assert!(
        err.contains("key `server.threads`: expected from 0 (one per CPU core) to 256 threads"),
        "{err}"
    );
    assert_eq!(parse("[server]\nthreads = 4\n").unwrap().server.threads, 4);
}

#[test]
fn unknown_key_is_refused() {
    let err = parse("[server]\nlisten_on = \"1.2.3.4:1\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("listen_on"), "{err}");
}

#[test]
fn reference_to_missing_plugin_is_refused() {
    let err = parse("[auth]\nauthorizer = \"nope\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("key `auth.authorizer`: expected the name of a plugin"),
        "{err}"
    );
}

#[test]
fn route_resource_params_must_come_from_path() {
    let text = format!(
        "{PLUGIN}[auth]\nauthorizer = \"authz\"\n[[routes]]\nname = \"r\"\npath = \"/a/{{id}}\"\nupstream = \"http://127.0.0.1:1\"\npermission = {{ action = \"a.read\", resource = \"a/{{other}}\" }}\n"
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("routes[0].permission.resource"), "{err}");
}

#[test]
fn org_is_the_callers_organization_and_never_a_path_parameter() {
    let route = |path: &str, resource: &str| {
        format!(
            "{PLUGIN}[auth]\nauthorizer = \"authz\"\n[[routes]]\nname = \"r\"\npath = \"{path}\"\nupstream = \"http://127.0.0.1:1\"\npermission = {{ action = \"a.read\", resource = \"{resource}\" }}\n"
        )
    };
    assert!(parse(&route("/a/{id}", "orgs/{org}/a/{id}")).is_ok());
    let err = parse(&route("/orgs/{org}/a", "orgs/{org}/a"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("routes[0].path"), "{err}");
    assert!(err.contains("`org`"), "{err}");
}

#[test]
fn case_insensitive_paths_need_lower_case_templates() {
    let text = format!(
        "[server]\ncase_insensitive_paths = true\n{PLUGIN}[auth]\nauthorizer = \"authz\"\n[[routes]]\nname = \"r\"\npath = \"/V1/a\"\nupstream = \"http://127.0.0.1:1\"\npermission = {{ action = \"a\", resource = \"a\" }}\n"
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("routes[0].path") && err.contains("lower-case"),
        "{err}"
    );
}

#[test]
fn upstream_must_be_plain_base_url() {
    let text = format!(
        "{PLUGIN}[auth]\nauthorizer = \"authz\"\n[[routes]]\nname = \"r\"\npath = \"/a\"\nupstream = \"ftp://x\"\npermission = {{ action = \"a\", resource = \"a\" }}\n"
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("routes[0].upstream"), "{err}");
}

#[test]
fn relative_paths_resolve_against_config_dir_and_defaults_apply() {
    let config = parse(PLUGIN).unwrap();
    let plugin = &config.plugins["authz"];
    assert_eq!(plugin.path, Path::new("/etc/authz.wasm"));
    assert_eq!(plugin.memory_limit_mib, 64);
    assert_eq!(config.server.listen.port(), 8443);
}

#[test]
fn template_params_are_found() {
    assert_eq!(
        validate::template_params("/a/{id}/b/{*rest}"),
        vec!["id", "rest"]
    );
}

#[test]
fn the_annotated_example_in_the_readme_is_valid() {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("A complete, annotated example:\n\n```toml\n")
        .expect("README example");
    let body = &readme[start..];
    let body = &body[body.find("```toml\n").unwrap() + 8..];
    let example = &body[..body.find("```").unwrap()];
    let config = parse(example).unwrap_or_else(|e| panic!("README example: {e}"));
    assert_eq!(config.identity.local_provider.as_deref(), Some("local"));
    assert_eq!(config.identity.access_token_ttl_secs, 300);
}

#[test]
fn identity_settings_are_checked() {
    let err = parse("[identity]\nlocal_provider = \"nope\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("key `identity.local_provider`: expected the name of a plugin"),
        "{err}"
    );
    let err = parse("[identity]\naccess_token_ttl_secs = 5\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("identity.access_token_ttl_secs"), "{err}");
    let err = parse("[identity]\naccess_token_ttl_secs = 3600\nsigning_key_rotation_secs = 600\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("identity.signing_key_rotation_secs"), "{err}");
    let err = parse("[identity]\nsession_cookie = \"a b\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("identity.session_cookie"), "{err}");
}

#[test]
fn audit_settings_are_checked_and_sink_paths_resolved() {
    let err = parse("[audit]\ncheckpoint_every_events = 0\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("key `audit.checkpoint_every_events`: expected a number of events"),
        "{err}"
    );
    for (setting, key) in [
        ("refusal_burst = 0", "audit.refusal_burst"),
        ("refusals_per_second = 0.0", "audit.refusals_per_second"),
        ("refusals_per_second = -1.0", "audit.refusals_per_second"),
        ("refusals_per_second = nan", "audit.refusals_per_second"),
    ] {
        let err = parse(&format!("[audit]\n{setting}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("key `{key}`: expected")),
            "{setting}: {err}"
        );
    }
    let config = parse("[audit]\nrefusal_burst = 5\nrefusals_per_second = 0.5\n").unwrap();
    assert_eq!(config.audit.refusal_burst, 5);
    assert!((config.audit.refusals_per_second - 0.5).abs() < f64::EPSILON);
    let err = parse("[[audit.sinks]]\nkind = \"file\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("key `audit.sinks[0].path`"), "{err}");
    let err = parse("[[audit.sinks]]\nkind = \"syslog\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("audit.sinks") && err.contains("syslog"),
        "{err}"
    );
    let config =
        parse("[[audit.sinks]]\nkind = \"file\"\npath = \"audit.jsonl\"\nformat = \"ocsf\"\n")
            .unwrap();
    assert_eq!(
        config.audit.sinks[0].path.as_deref(),
        Some(Path::new("/etc/audit.jsonl"))
    );
}

#[test]
fn declared_identity_providers_are_checked_before_any_is_applied() {
    let provider = |id: &str, plugin: &str, extra: &str| {
        format!(
            "[plugins.saml]\npath = \"saml.wasm\"\n\n[[identity_providers]]\nid = \"{id}\"\norg = \"org_default\"\nname = \"Acme\"\nplugin = \"{plugin}\"\n{extra}"
        )
    };
    let fine = parse(&provider(
        "idp_acme",
        "saml",
        "[identity_providers.config]\nidp_metadata_url = \"https://idp.test/md\"\n",
    ))
    .unwrap();
    assert_eq!(fine.identity_providers[0].id, "idp_acme");
    assert_eq!(
        fine.identity_providers[0].config["idp_metadata_url"].as_str(),
        Some("https://idp.test/md")
    );
    for (text, key) in [
        (provider("acme", "saml", ""), "identity_providers[0].id"),
        (provider("idp_Acme", "saml", ""), "identity_providers[0].id"),
        (
            provider("idp_acme", "oidc", ""),
            "identity_providers[0].plugin",
        ),
        (
            provider(
                "idp_acme",
                "saml",
                "config = { a = 1 }\nsecrets = { a = 2 }\n",
            ),
            "identity_providers[0].secrets",
        ),
        (
            format!(
                "{}\n[[identity_providers]]\nid = \"idp_acme\"\norg = \"o\"\nname = \"Other\"\nplugin = \"saml\"\n",
                provider("idp_acme", "saml", "")
            ),
            "identity_providers[1].id",
        ),
    ] {
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains(&format!("key `{key}`")), "{key}: {err}");
    }
}
