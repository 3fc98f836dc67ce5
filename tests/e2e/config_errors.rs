//! A bad configuration names the file, the key and what was expected, and
//! the gateway exits non-zero.

use portcullis_tests::Gateway;

#[tokio::test]
async fn config_errors_name_file_key_and_expectation() {
    let failure = Gateway::with_config("[server]\nmax_body_bytes = \"lots\"\n")
        .await
        .err()
        .expect("must not start");
    assert_eq!(failure.code, Some(2));
    assert!(
        failure
            .stderr
            .contains("portcullis.toml: key `server.max_body_bytes`"),
        "{}",
        failure.stderr
    );
    assert!(
        failure.stderr.contains("expected usize"),
        "{}",
        failure.stderr
    );

    let failure = Gateway::with_config("[auth]\nauthorizer = \"missing\"\n")
        .await
        .err()
        .expect("must not start");
    assert!(
        failure.stderr.contains(
            "key `auth.authorizer`: expected the name of a plugin under [plugins], not `missing`"
        ),
        "{}",
        failure.stderr
    );

    let failure = Gateway::with_config("[plugins.x]\npath = \"/nonexistent.wasm\"\n")
        .await
        .err()
        .expect("must not start");
    assert!(
        failure
            .stderr
            .contains("plugin `x`: cannot read `/nonexistent.wasm`"),
        "{}",
        failure.stderr
    );
}

#[tokio::test]
async fn plugin_config_errors_name_the_key_but_never_the_value() {
    let config = format!(
        "[plugins.authz]\npath = \"{}\"\n[plugins.authz.config]\ndefault = \"s3cr3t-value-typed-here\"\n",
        portcullis_tests::paths::component("authz_static").display()
    );
    let failure = Gateway::with_config(&config)
        .await
        .err()
        .expect("must not start");
    assert_ne!(failure.code, Some(0));
    assert!(
        failure.stderr.contains("config key `default`: expected"),
        "{}",
        failure.stderr
    );
    assert!(!failure.stderr.contains("s3cr3t"), "{}", failure.stderr);
    assert!(!failure.stderr.contains("column"), "{}", failure.stderr);
}
