//! Authorizer calls through the Wasm boundary: a warm pooled instance vs a
//! fresh instance per call (instantiate + init + call + drop); and the
//! RBAC authorizer with 10 and with 100,000 bindings loaded (the ratio is
//! what a large policy costs per check), the time to load a
//! 100,000-binding snapshot and the memory an instance then holds.
#![expect(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![expect(
    clippy::expect_used,
    reason = "a benchmark whose setup fails must stop loudly"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::authz::snapshot;
use portcullis::config::{AuthConfig, PluginConfig};
use portcullis::metrics::Metrics;
use portcullis::plugin::{
    CheckRequest, Isolation, Pairs, PluginEngine, PluginRegistry, PolicySnapshot, Principal,
    principal_view,
};
use portcullis::store::Store;
use portcullis::store::{BindingRecord, PolicyRecords};
use portcullis_tests::paths;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        plugins.insert(
            "allow".to_string(),
            PluginConfig::new(paths::component("fixture_allow_all"), toml::Table::new()),
        );
        plugins.insert("rbac".to_string(), {
            let mut config = PluginConfig::new(paths::component("authz_rbac"), toml::Table::new());
            config.memory_limit_mib = 1024;
            config.deadline_ms = 30_000;
            config.instances = 1;
            config
        });
        let auth = AuthConfig {
            authorizer: Some("authz".into()),
            providers: Vec::new(),
            shadow_authorizer: None,
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
    let request = CheckRequest {
        wants_receipt: false,
        principal: principal_view(&principal, None, None),
        action: "connections.read",
        resource: "connections/42",
        context: Pairs::default(),
    };
    let allowed = runtime.block_on(authorizer.check(&request)).expect("check");
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
                    .check_on(isolation, &request)
                    .await
                    .expect("check")
            })
        });
    }
    group.finish();
    rbac(c, &runtime, &registry);
}

/// A snapshot with `n` bindings over 1,000 users in one organization; user
/// `usr_7` holds the binding the benchmark's check is decided by.
fn rbac_snapshot(n: usize) -> Arc<PolicySnapshot> {
    let bindings = (0..n)
        .map(|i| BindingRecord {
            id: format!("bnd_{i:08}"),
            org_id: "org_a".into(),
            subject: format!("user:usr_{}", i % 1_000),
            role_id: ["viewer", "operator", "admin"][i % 3].into(),
            scope_kind: "environment".into(),
            scope_id: Some(format!("env_{}", i % 500)),
            created_at: 0,
            created_by: "bench".into(),
        })
        .collect();
    let records = PolicyRecords {
        version: i64::try_from(n).expect("n"),
        roles: Vec::new(),
        connections: (0..2_000)
            .map(|i| {
                (
                    format!("con_{i}"),
                    "org_a".into(),
                    format!("env_{}", i % 500),
                )
            })
            .collect(),
        bindings,
    };
    let document = snapshot::document(&records, &["users:manage".into()]);
    Arc::new(PolicySnapshot {
        version: document.version,
        json: serde_json::to_string(&document).expect("snapshot json"),
    })
}

fn rbac(c: &mut Criterion, runtime: &tokio::runtime::Runtime, registry: &PluginRegistry) {
    let rbac = registry.authorizer_named("rbac").expect("rbac loaded");
    let principal = Principal {
        subject: "usr_7".into(),
        issuer: "portcullis".into(),
        email: Some("kim@example.com".into()),
        display_name: Some("Kim".into()),
        groups: vec!["data".into(), "ops".into()],
        amr: vec!["pwd".into(), "mfa".into()],
        attributes: Vec::new(),
        organization: Some("org_a".into()),
    };
    // usr_7 holds bindings i ≡ 7 (mod 1000): operator on env_7 among them.
    // A proxied request's check: only the verdict is read.
    let request = CheckRequest {
        wants_receipt: false,
        principal: principal_view(&principal, Some("usr_7"), None),
        action: "connections:read",
        resource: "orgs/org_a/connections/con_7",
        context: Pairs::default(),
    };
    let mut group = c.benchmark_group("rbac_check");
    // The floor: the same request to an authorizer that only says yes.
    let allow = registry
        .authorizer_named("allow")
        .expect("allow-all loaded");
    group.bench_function("allow_all_floor", |b| {
        b.to_async(runtime)
            .iter(|| async { allow.check(&request).await.expect("check") })
    });
    let floor = Rounds::measure(runtime, || allow.check(&request));
    let mut medians = Vec::new();
    for n in [10usize, 100_000] {
        let snapshot = rbac_snapshot(n);
        let bytes = snapshot.json.len();
        let started = Instant::now();
        runtime
            .block_on(rbac.install_policy(snapshot))
            .expect("call")
            .expect("snapshot accepted");
        let loaded = started.elapsed();
        let decision = runtime.block_on(rbac.check(&request)).expect("check");
        assert!(decision.allowed, "{n} bindings: {}", decision.reason);
        println!(
            "rbac snapshot: {n} bindings, {bytes} bytes of JSON, loaded in {loaded:?}; instance memory {} MiB",
            rbac.peak_memory_bytes() >> 20
        );
        group.bench_function(format!("{n}_bindings"), |b| {
            b.to_async(runtime)
                .iter(|| async { rbac.check(&request).await.expect("check") })
        });
        medians.push((n, Rounds::measure(runtime, || rbac.check(&request))));
        // An admin API request's check: the whole receipt crosses back.
        let with_receipt = CheckRequest {
            wants_receipt: true,
            ..request.clone()
        };
        let decision = runtime.block_on(rbac.check(&with_receipt)).expect("check");
        assert!(decision.binding.is_some(), "a receipt names its binding");
        group.bench_function(format!("{n}_bindings_with_receipt"), |b| {
            b.to_async(runtime)
                .iter(|| async { rbac.check(&with_receipt).await.expect("check") })
        });
    }
    group.finish();
    println!("rbac check, {ROUNDS} rounds of {CHECKS_PER_ROUND} checks, per check:");
    println!("  do-nothing authorizer (the call path's floor): {floor}");
    for (n, rounds) in &medians {
        println!("  authz-rbac, {n} bindings: {rounds}");
    }
    if let [(_, small), (_, large)] = medians.as_slice() {
        println!(
            "  median at 100,000 bindings / median at 10: {:.2}",
            large.median / small.median
        );
    }
}

/// Rounds of the median figure, interleaved with nothing else.
const ROUNDS: usize = 31;
/// Checks timed together in one round.
const CHECKS_PER_ROUND: u32 = 20_000;

/// Per-check times of [`ROUNDS`] rounds: the median, and the spread, of
/// the wall-clock time and of the calling thread's CPU time (which leaves
/// out time this VM's CPU was given to another guest).
struct Rounds {
    median: f64,
    low: f64,
    high: f64,
    cpu_median: f64,
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the call's duration.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

impl Rounds {
    /// Times `ROUNDS` rounds of `CHECKS_PER_ROUND` calls of `check`.
    fn measure<F, E>(runtime: &tokio::runtime::Runtime, check: impl Fn() -> F) -> Self
    where
        F: std::future::Future<Output = Result<portcullis::plugin::Decision, E>>,
        E: std::fmt::Debug,
    {
        let per_check =
            |elapsed: Duration| elapsed.as_secs_f64() * 1e6 / f64::from(CHECKS_PER_ROUND);
        let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..ROUNDS)
            .map(|_| {
                runtime.block_on(async {
                    let started = Instant::now();
                    let cpu_started = thread_cpu_time();
                    for _ in 0..CHECKS_PER_ROUND {
                        std::hint::black_box(check().await.expect("check"));
                    }
                    (
                        per_check(started.elapsed()),
                        per_check(thread_cpu_time().saturating_sub(cpu_started)),
                    )
                })
            })
            .unzip();
        wall.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        Self {
            median: wall[ROUNDS / 2],
            low: wall[ROUNDS / 10],
            high: wall[ROUNDS - 1 - ROUNDS / 10],
            cpu_median: cpu[ROUNDS / 2],
        }
    }
}

impl std::fmt::Display for Rounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "median {:.2} µs (10th-90th percentile of rounds {:.2}-{:.2} µs); thread CPU time {:.2} µs",
            self.median, self.low, self.high, self.cpu_median
        )
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
