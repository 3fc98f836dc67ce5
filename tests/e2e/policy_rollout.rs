//! Policy snapshots rolling out to the RBAC authorizer, through the
//! gateway's plugin host: checks keep being answered from the previous
//! snapshot while a new one loads, and a snapshot the plugin refuses
//! leaves the previous one in force.

use crate::paths;
use portcullis::authz::snapshot;
use portcullis::config::{AuthConfig, PluginConfig};
use portcullis::metrics::Metrics;
use portcullis::plugin::{
    AuthorizerPlugin, CheckRequest, Pairs, PluginEngine, PluginRegistry, PolicySnapshot, Principal,
    principal_view,
};
use portcullis::store::{BindingRecord, PolicyRecords, Store};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A snapshot at `version` binding usr_1 to `role` on the organization,
/// padded with `padding` bindings of other users.
fn policy(version: i64, role: &str, padding: usize) -> Arc<PolicySnapshot> {
    let binding = |id: String, subject: String, role: &str| BindingRecord {
        id,
        org_id: "org_a".into(),
        subject,
        role_id: role.into(),
        scope_kind: "organization".into(),
        scope_id: None,
        created_at: 0,
        created_by: "test".into(),
    };
    let mut bindings = vec![binding("bnd_1".into(), "user:usr_1".into(), role)];
    bindings.extend(
        (0..padding).map(|i| binding(format!("bnd_p{i}"), format!("user:usr_p{i}"), "viewer")),
    );
    let records = PolicyRecords {
        version,
        roles: Vec::new(),
        connections: Vec::new(),
        bindings,
    };
    let document = snapshot::document(&records, &[]);
    Arc::new(PolicySnapshot {
        version: document.version,
        json: serde_json::to_string(&document).unwrap(),
    })
}

async fn rbac() -> (PluginRegistry, Arc<AuthorizerPlugin>) {
    let mut plugins = BTreeMap::new();
    let mut config = PluginConfig::new(paths::component("authz_rbac"), toml::Table::new());
    config.instances = 2;
    config.memory_limit_mib = 512;
    config.deadline_ms = 30_000;
    plugins.insert("rbac".to_string(), config);
    let auth = AuthConfig {
        authorizer: Some("rbac".into()),
        providers: Vec::new(),
        shadow_authorizer: None,
    };
    let registry = PluginRegistry::load(
        PluginEngine::new().unwrap(),
        &plugins,
        &auth,
        Store::open_in_memory().await.unwrap(),
        Metrics::new(),
    )
    .await
    .unwrap();
    let plugin = registry.authorizer().unwrap();
    (registry, plugin)
}

fn principal() -> Principal {
    Principal {
        subject: "usr_1".into(),
        issuer: "portcullis".into(),
        organization: Some("org_a".into()),
        email: None,
        display_name: None,
        groups: Vec::new(),
        amr: vec!["pwd".into()],
        attributes: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_are_answered_from_the_previous_snapshot_while_a_new_one_loads() {
    let (_registry, plugin) = rbac().await;
    let who = principal();
    let request = CheckRequest {
        wants_receipt: true,
        principal: principal_view(&who, Some("usr_1"), None),
        action: "users:read",
        resource: "orgs/org_a/users/usr_2",
        context: Pairs::default(),
    };
    plugin
        .install_policy(policy(1, "viewer", 0))
        .await
        .unwrap()
        .unwrap();
    let first = plugin.check(&request).await.unwrap();
    assert!(first.allowed && first.policy_version == 1, "{first:?}");

    // Version 2 takes usr_1's right away, in a snapshot large enough to
    // take a while to load.
    let rollout = {
        let plugin = plugin.clone();
        tokio::spawn(async move { plugin.install_policy(policy(2, "operator", 100_000)).await })
    };
    let mut during = 0;
    while !rollout.is_finished() {
        let decision = plugin.check(&request).await.unwrap();
        match decision.policy_version {
            1 => {
                assert!(decision.allowed, "version 1 allows: {decision:?}");
                during += 1;
            }
            2 => assert!(!decision.allowed, "version 2 denies: {decision:?}"),
            other => panic!("unknown version {other}"),
        }
    }
    rollout.await.unwrap().unwrap().unwrap();
    assert!(
        during > 0,
        "no check was answered while the snapshot loaded"
    );
    for _ in 0..10 {
        let after = plugin.check(&request).await.unwrap();
        assert_eq!(
            (after.allowed, after.policy_version),
            (false, 2),
            "{after:?}"
        );
    }

    // A snapshot the plugin refuses changes nothing and is not offered again.
    let broken = Arc::new(PolicySnapshot {
        version: 3,
        json: "{\"format\": 1, \"version\": 3}".into(),
    });
    let refused = plugin.install_policy(broken).await.unwrap();
    assert!(refused.is_err(), "a snapshot without bindings was accepted");
    assert!(!plugin.needs_policy(3));
    let still = plugin.check(&request).await.unwrap();
    assert_eq!(still.policy_version, 2, "{still:?}");
}
