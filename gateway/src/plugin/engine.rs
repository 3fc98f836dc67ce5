//! The shared wasmtime engine, linker and epoch clock.

use super::PluginLoadError;
use super::bindings::authorizer::Authorizer;
use super::component::ComponentInfo;
use super::direct::direct_linker;
use super::state::HostState;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Set (to anything) to write a `perf` map of compiled guest code, so a
/// profile of the gateway names the plugin functions it spends time in.
pub const PERF_MAP_VARIABLE: &str = "PORTCULLIS_WASM_PERF_MAP";

/// Largest linear memory any instance may reserve; per-plugin caps are lower.
const MAX_INSTANCE_MEMORY: usize = 4 << 30;

/// Compiles components and links them against the host capabilities.
#[derive(Clone)]
pub struct PluginEngine {
    engine: Engine,
    /// Every host interface; calls run on a fiber so imports can wait.
    linker: Arc<Linker<HostState>>,
    /// The interfaces that answer at once, synchronous only (see
    /// [`super::direct`]).
    direct_linker: Arc<Linker<HostState>>,
}

/// A component linked against the host, ready to instantiate.
#[doc(hidden)]
pub struct Linked {
    /// The pre-instantiated component.
    pub(crate) pre: InstancePre<HostState>,
    /// Whether it was linked for direct calls: every import is synchronous,
    /// so its exports can be called without a fiber.
    pub(crate) direct: bool,
}

impl std::fmt::Debug for PluginEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PluginEngine")
    }
}

fn engine_config(pooling: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    if std::env::var_os(PERF_MAP_VARIABLE).is_some() {
        // Names guest functions in `perf` profiles (/tmp/perf-PID.map).
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(1000);
        pool.total_core_instances(4000);
        pool.total_memories(1000);
        pool.total_tables(4000);
        pool.max_memory_size(MAX_INSTANCE_MEMORY);
        // Reset a freed instance's memory with memset instead of madvise:
        // fewer page faults when the slot is reused (fresh instances ~74 µs
        // -> ~50 µs in the plugin_call benchmark).
        pool.linear_memory_keep_resident(2 << 20);
        pool.table_keep_resident(64 << 10);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

impl PluginEngine {
    /// Creates the engine (pooling allocator where the OS allows it, else
    /// on-demand), the linker with WASI (nothing granted), `wasi:http`
    /// (behind the egress policy) and the Portcullis host interfaces, and
    /// starts the epoch clock.
    pub fn new() -> Result<Self, PluginLoadError> {
        let engine = match Engine::new(&engine_config(true)) {
            Ok(engine) => engine,
            Err(error) => {
                tracing::warn!(%error, "pooling allocator unavailable; using on-demand instance allocation");
                Engine::new(&engine_config(false))
                    .map_err(|e| PluginLoadError::Engine(e.to_string()))?
            }
        };
        let mut linker = Linker::new(&engine);
        let link = |result: wasmtime::Result<()>| {
            result.map_err(|e| PluginLoadError::Engine(e.to_string()))
        };
        link(wasmtime_wasi::p2::add_to_linker_async(&mut linker))?;
        link(wasmtime_wasi_http::p2::add_only_http_to_linker_async(
            &mut linker,
        ))?;
        link(Authorizer::add_to_linker::<HostState, HasSelf<HostState>>(
            &mut linker,
            |state| state,
        ))?;
        let direct_linker =
            direct_linker(&engine).map_err(|e| PluginLoadError::Engine(e.to_string()))?;
        start_epoch_clock(engine.weak());
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            direct_linker: Arc::new(direct_linker),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Links `component`: for direct calls when nothing it imports can
    /// wait on the host (the direct linker offers every interface that
    /// answers at once), otherwise for calls on a fiber.
    pub(super) fn link(
        &self,
        component: &Component,
        info: &ComponentInfo,
    ) -> wasmtime::Result<Linked> {
        if !info.may_wait_on_host() {
            let pre = self.direct_linker.instantiate_pre(component)?;
            return Ok(Linked { pre, direct: true });
        }
        let pre = self.linker.instantiate_pre(component)?;
        Ok(Linked { pre, direct: false })
    }

    /// Compiles the component in `bytes`.
    pub fn compile(
        &self,
        plugin: &str,
        path: &Path,
        bytes: &[u8],
    ) -> Result<Component, PluginLoadError> {
        Component::from_binary(&self.engine, bytes).map_err(|e| PluginLoadError::Compile {
            plugin: plugin.to_string(),
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        })
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is gone.
fn start_epoch_clock(engine: wasmtime::EngineWeak) {
    let spawned = std::thread::Builder::new()
        .name("plugin-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
    if let Err(error) = spawned {
        // Without the clock no deadline would ever fire: refuse to go on
        // silently. Calls still have the wall-clock timeout as a backstop.
        tracing::error!(%error, "cannot start the plugin epoch clock; only wall-clock deadlines apply");
    }
}
