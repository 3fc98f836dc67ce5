//! What a plugin's `Store` holds: WASI with nothing granted, `wasi:http`
//! behind the egress allow-list, the memory limiter and the plugin's context.

use super::egress::EgressPolicy;
use super::limits::MemoryLimiter;
use crate::store::KvNamespace;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Facts about one plugin instance shared by all its instances.
#[derive(Debug)]
pub struct PluginContext {
    /// The operator's name for the plugin.
    pub name: String,
    /// The plugin's `config` table as JSON.
    pub config_json: String,
    /// The plugin's private key-value namespace.
    pub kv: KvNamespace,
}

/// The data of one plugin instance's `Store`.
pub struct HostState {
    pub(super) wasi: WasiCtx,
    pub(super) http: WasiHttpCtx,
    pub(super) table: ResourceTable,
    pub(super) egress: EgressPolicy,
    pub(crate) limiter: MemoryLimiter,
    pub(super) context: Arc<PluginContext>,
    /// When the call running now must end (see `pool::yield_until_deadline`).
    pub(super) call_deadline: Instant,
}

impl HostState {
    /// State for a new instance: no files, no environment, no sockets, no
    /// inherited stdio; HTTP only through the egress policy.
    pub(super) fn new(
        context: Arc<PluginContext>,
        egress: EgressPolicy,
        memory_bytes: usize,
    ) -> Self {
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            egress,
            limiter: MemoryLimiter::new(memory_bytes),
            context,
            call_deadline: Instant::now(),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}
