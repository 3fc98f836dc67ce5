//! Authorizer calls through the Wasm boundary: a warm pooled instance vs a
//! fresh instance per call (instantiate + init + call + drop).
#![expect(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![expect(
    clippy::expect_used,
    reason = "a benchmark whose setup fails must stop loudly"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::config::{AuthConfig, PluginConfig};
use portcullis::metrics::Metrics;
use portcullis::plugin::{Isolation, PluginEngine, PluginRegistry, Principal};
use portcullis::store::Store;
use portcullis_tests::paths;
use std::collections::BTreeMap;

fn authz_config() -> toml::Table {
    toml::from_str(
        r#"
        default = "deny"
        [[rules]]
        groups = ["admins"]
        actions = ["connections.*"]
        resources = ["connections/*"]
        "#,
    )
    .expect("authz config")
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let registry = runtime.block_on(async {
        let store = Store::open_in_memory().await.expect("store");
        let mut plugins = BTreeMap::new();
        plugins.insert(
            "authz".to_string(),
            PluginConfig::new(paths::component("authz_static"), authz_config()),
        );
        let auth = AuthConfig {
            authorizer: Some("authz".into()),
            providers: Vec::new(),
        };
        PluginRegistry::load(
            PluginEngine::new().expect("engine"),
            &plugins,
            &auth,
            store,
            Metrics::new(),
        )
        .await
        .expect("load authz_static")
    });
    let authorizer = registry.authorizer().expect("authorizer");
    let principal = Principal {
        subject: "alice".into(),
        issuer: "bench".into(),
        email: Some("alice@example.com".into()),
        display_name: None,
        groups: vec!["admins".into()],
        amr: vec!["pwd".into()],
        attributes: Vec::new(),
        organization: None,
    };
    let allowed = runtime
        .block_on(authorizer.check(&principal, "connections.read", "connections/42", &[]))
        .expect("check");
    assert!(
        allowed.allowed,
        "the benchmark must measure a real allow decision"
    );

    let mut group = c.benchmark_group("authorizer_call");
    for (name, isolation) in [
        ("pooled_instance", Isolation::Warm),
        ("instantiate_per_call", Isolation::Fresh),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                authorizer
                    .check_on(
                        isolation,
                        &principal,
                        "connections.read",
                        "connections/42",
                        &[],
                    )
                    .await
                    .expect("check")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
