//! A plugin that passed every load check and has warm instances.

use super::PluginLoadError;
use super::component::{ComponentInfo, World};
use super::egress::EgressPolicy;
use super::engine::PluginEngine;
use super::pool::{CallLimits, InstancePool, WorldBindings};
use super::state::PluginContext;
use crate::config::PluginConfig;
use crate::metrics::Metrics;
use crate::store::Store;
use arc_swap::ArcSwapOption;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::component::Component;

/// A compiled component that has been checked for world and version.
pub(crate) struct Prepared {
    pub(crate) component: Component,
    pub(crate) info: ComponentInfo,
    pub(crate) world: World,
    pub(crate) fingerprint: String,
}

/// A plugin's component file as read, with its fingerprint.
pub(crate) struct Source {
    bytes: Vec<u8>,
    pub(crate) fingerprint: String,
}

/// Reads the component of plugin `name` and fingerprints it with its
/// configuration — cheap, so a reload can skip unchanged plugins.
pub(crate) async fn read(name: &str, config: &PluginConfig) -> Result<Source, PluginLoadError> {
    let bytes = tokio::fs::read(&config.path)
        .await
        .map_err(|source| PluginLoadError::Read {
            plugin: name.to_string(),
            path: config.path.clone(),
            source,
        })?;
    // A changed CA bundle changes the plugin's egress; one that cannot be
    // read fails its start, which says why.
    let mut bundles = Vec::new();
    for path in &config.ca_bundles {
        bundles.push(tokio::fs::read(path).await.unwrap_or_default());
    }
    let fingerprint = fingerprint(&bytes, config, &bundles);
    Ok(Source { bytes, fingerprint })
}

/// Compiles and checks a component read by [`read`].
pub(crate) async fn prepare(
    engine: &PluginEngine,
    name: &str,
    config: &PluginConfig,
    source: Source,
) -> Result<Prepared, PluginLoadError> {
    let Source { bytes, fingerprint } = source;
    let compiling = engine.clone();
    let plugin = name.to_string();
    let path = config.path.clone();
    let component = tokio::task::spawn_blocking(move || compiling.compile(&plugin, &path, &bytes))
        .await
        .map_err(|e| PluginLoadError::Engine(format!("compile task failed: {e}")))??;
    let info = ComponentInfo::of(engine.engine(), &component);
    let world = info
        .loadable()
        .map_err(|reason| PluginLoadError::Incompatible {
            plugin: name.to_string(),
            reason,
        })?;
    Ok(Prepared {
        component,
        info,
        world,
        fingerprint,
    })
}

/// Identifies a plugin's code and configuration, to tell whether a reload
/// changed anything.
fn fingerprint(bytes: &[u8], config: &PluginConfig, bundles: &[Vec<u8>]) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(bytes);
    for bundle in bundles {
        context.update(ring::digest::digest(&ring::digest::SHA256, bundle).as_ref());
    }
    context.update(
        format!(
            "{:?}{}{}{}{:?}{:?}",
            config.config,
            config.memory_limit_mib,
            config.deadline_ms,
            config.instances,
            config.allow_hosts,
            config.ca_bundles
        )
        .as_bytes(),
    );
    hex::encode(context.finish())
}

/// A loaded plugin of world `W`.
pub struct LoadedPlugin<W: WorldBindings> {
    name: String,
    info: ComponentInfo,
    fingerprint: String,
    /// The compiled component, to start further instances of it with
    /// other settings (identity providers configured at run time).
    component: Component,
    /// The operator's limits and allow-list, which those instances keep.
    limits_of: PluginConfig,
    pool: InstancePool<W>,
    /// The policy snapshot the instances should hold (authorizers only).
    policy: ArcSwapOption<PolicySnapshot>,
    /// The version of the last snapshot the plugin refused (0: none), so
    /// it is not offered again on every request.
    refused_policy: AtomicU64,
    /// Held while a snapshot rolls out.
    rollout: tokio::sync::Mutex<()>,
}

/// A policy snapshot as authorizer plugins receive it (`load-policy`).
#[derive(Debug)]
pub struct PolicySnapshot {
    /// Increases with every change.
    pub version: u64,
    /// The policy JSON.
    pub json: String,
}

impl<W: WorldBindings> std::fmt::Debug for LoadedPlugin<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("world", &W::WORLD)
            .finish()
    }
}

impl<W: WorldBindings> LoadedPlugin<W> {
    /// Links a prepared component, builds its pool and warms one instance
    /// (which runs the plugin's `init`, so a bad configuration is refused now).
    pub(crate) async fn start(
        engine: &PluginEngine,
        prepared: Prepared,
        name: &str,
        config: &PluginConfig,
        store: &Store,
        metrics: Arc<Metrics>,
    ) -> Result<Self, PluginLoadError> {
        let config_json =
            serde_json::to_string(&config.config).map_err(|e| PluginLoadError::Start {
                plugin: name.to_string(),
                message: e.to_string(),
            })?;
        Self::start_with(engine, prepared, name, config, config_json, store, metrics).await
    }

    /// Starts another instance of this plugin's component, named `name`
    /// (its store namespace), with `config_json` as its configuration and
    /// the operator's limits and allow-list of this one.
    pub(crate) async fn derive(
        &self,
        engine: &PluginEngine,
        name: &str,
        config_json: String,
        store: &Store,
        metrics: Arc<Metrics>,
    ) -> Result<Self, PluginLoadError> {
        let prepared = Prepared {
            component: self.component.clone(),
            info: self.info.clone(),
            world: W::WORLD,
            fingerprint: self.fingerprint.clone(),
        };
        Self::start_with(
            engine,
            prepared,
            name,
            &self.limits_of,
            config_json,
            store,
            metrics,
        )
        .await
    }

    async fn start_with(
        engine: &PluginEngine,
        prepared: Prepared,
        name: &str,
        config: &PluginConfig,
        config_json: String,
        store: &Store,
        metrics: Arc<Metrics>,
    ) -> Result<Self, PluginLoadError> {
        let start_error = |message: String| PluginLoadError::Start {
            plugin: name.to_string(),
            message,
        };
        let linked = engine
            .link(&prepared.component, &prepared.info)
            .map_err(|e| start_error(format!("cannot link: {e:#}")))?;
        let calls = if linked.direct { "direct" } else { "on-fiber" };
        let pre = W::pre(linked).map_err(|e| start_error(format!("{e:#}")))?;
        let context = Arc::new(PluginContext {
            name: name.to_string(),
            config_json,
            kv: store.kv(name),
        });
        let limits = CallLimits {
            memory_limit_mib: config.memory_limit_mib,
            deadline: Duration::from_millis(config.deadline_ms),
            wall_clock: prepared.info.may_wait_on_host(),
        };
        let tls = super::egress::client_tls(&config.ca_bundles)
            .map_err(|e| start_error(format!("plugins.{name}.ca_bundles: {e}")))?;
        let pool = InstancePool::new(
            engine.engine().clone(),
            pre,
            context,
            EgressPolicy::new(name, &config.allow_hosts, tls),
            limits,
            config.instances,
            metrics,
        );
        pool.prewarm()
            .await
            .map_err(|e| start_error(e.to_string()))?;
        tracing::info!(plugin = name, world = %W::WORLD, version = ?prepared.info.version, calls, "plugin loaded");
        Ok(Self {
            name: name.to_string(),
            info: prepared.info,
            fingerprint: prepared.fingerprint,
            component: prepared.component,
            limits_of: config.clone(),
            pool,
            policy: ArcSwapOption::empty(),
            refused_policy: AtomicU64::new(0),
            rollout: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn pool(&self) -> &InstancePool<W> {
        &self.pool
    }

    pub(crate) fn current_policy(&self) -> Option<Arc<PolicySnapshot>> {
        self.policy.load_full()
    }

    /// The current snapshot's version, read without taking the snapshot.
    pub(crate) fn current_policy_version(&self) -> Option<u64> {
        self.policy.load().as_ref().map(|policy| policy.version)
    }

    pub(crate) fn set_policy(&self, snapshot: Arc<PolicySnapshot>) {
        self.policy.store(Some(snapshot));
    }

    pub(crate) fn refuse_policy(&self, version: u64) {
        self.refused_policy.store(version, Ordering::Relaxed);
    }

    pub(crate) fn rollout_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.rollout
    }

    pub(crate) fn refused_policy(&self) -> u64 {
        self.refused_policy.load(Ordering::Relaxed)
    }

    /// The largest linear memory one of its idle instances has grown to,
    /// in bytes (what an instance costs, e.g. with a large policy loaded).
    pub fn peak_memory_bytes(&self) -> usize {
        self.pool.peak_memory()
    }

    /// The operator's name for the plugin.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the component declares.
    pub fn info(&self) -> &ComponentInfo {
        &self.info
    }

    /// SHA-256 over the component and its configuration.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}
