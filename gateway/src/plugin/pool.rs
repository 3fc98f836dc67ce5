//! Warm instances of one plugin, reused across calls.
//!
//! A call leases an instance, runs under the plugin's deadline (epoch
//! interruption inside guest code; a wall-clock timeout as well when the
//! plugin imports something that can make a call wait on the host) and
//! settles: a healthy instance goes back to the pool, a failed one is
//! dropped and the next lease builds a fresh one. A lease dropped mid-call
//! (the client went away) also discards its instance.

use super::PluginCallError;
use super::egress::EgressPolicy;
use super::engine::{EPOCH_TICK, Linked};
use super::state::{HostState, PluginContext};
use crate::metrics::{Metrics, PluginCallHandles};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};
use tracing::Instrument;
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

/// What the pool needs to know about a world's generated bindings.
/// Implemented for the four worlds only; not meant for use outside the crate.
pub trait WorldBindings: Sized + Send + Sync + 'static {
    /// The world these bindings implement.
    const WORLD: super::World;
    /// The pre-instantiated form (`AuthorizerPre` ...).
    type Pre: Send + Sync;
    /// Wraps a linked component.
    fn pre(linked: Linked) -> wasmtime::Result<Self::Pre>;
    /// Instantiates.
    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<HostState>,
    ) -> impl Future<Output = wasmtime::Result<Self>> + Send;
    /// Calls the world's `init`; the text of a guest error on failure.
    fn init(
        &self,
        store: &mut Store<HostState>,
    ) -> impl Future<Output = wasmtime::Result<Result<(), String>>> + Send;
}

/// One instance with its store.
pub(crate) struct Warm<W> {
    pub(crate) store: Store<HostState>,
    pub(crate) bindings: W,
    /// The version of the policy snapshot this instance holds (authorizers).
    pub(crate) policy_version: Option<u64>,
    /// The pool generation it was made for; an instance of an older one
    /// is dropped when it comes back (see [`InstancePool::replace_idle`]).
    generation: u64,
}

/// Which instance a call runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A warm instance from the pool, which keeps its state between calls.
    Warm,
    /// A fresh instance, discarded after the call.
    Fresh,
}

/// Limits applied to every call of one plugin.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallLimits {
    pub(crate) memory_limit_mib: u64,
    pub(crate) deadline: Duration,
    /// Whether calls also run under a wall-clock timeout: only for a
    /// plugin whose imports can wait on the host, where the epoch deadline
    /// (which interrupts running guest code) cannot reach (see
    /// [`super::ComponentInfo::may_wait_on_host`]). Saves a timer per call
    /// on the hot path of the others. Such a plugin is called on a fiber,
    /// and its running code yields to its thread's other tasks at every
    /// epoch tick; the others are called directly and run to the end or to
    /// their deadline.
    pub(crate) wall_clock: bool,
}

/// The warm instances of one plugin.
pub(crate) struct InstancePool<W: WorldBindings> {
    engine: Engine,
    pre: W::Pre,
    context: Arc<PluginContext>,
    egress: EgressPolicy,
    limits: CallLimits,
    /// Boxed, so leasing and returning one moves a pointer, not the store
    /// and every export handle.
    idle: Mutex<Vec<Box<Warm<W>>>>,
    generation: AtomicU64,
    concurrency: Semaphore,
    instances: usize,
    metrics: Arc<Metrics>,
    ok_metrics: PluginCallHandles,
}

impl<W: WorldBindings> InstancePool<W> {
    pub(crate) fn new(
        engine: Engine,
        pre: W::Pre,
        context: Arc<PluginContext>,
        egress: EgressPolicy,
        limits: CallLimits,
        instances: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            engine,
            pre,
            context: context.clone(),
            egress,
            limits,
            idle: Mutex::new(Vec::with_capacity(instances)),
            generation: AtomicU64::new(0),
            concurrency: Semaphore::new(instances),
            instances,
            ok_metrics: metrics.plugin_handles(&context.name),
            metrics,
        }
    }

    /// Starts the deadline of the next call on `store`: a plugin called
    /// directly traps at it; one called on a fiber yields to the other tasks
    /// of its thread at every tick until then (see [`yield_until_deadline`]).
    fn arm_deadline(&self, store: &mut Store<HostState>) {
        if self.limits.wall_clock {
            store.data_mut().call_deadline = Instant::now() + self.limits.deadline;
            store.set_epoch_deadline(1);
        } else {
            store.set_epoch_deadline(self.deadline_ticks());
        }
    }

    fn deadline_ticks(&self) -> u64 {
        let tick = EPOCH_TICK.as_micros().max(1);
        u64::try_from(self.limits.deadline.as_micros().div_ceil(tick))
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Builds, instantiates and initialises a fresh instance.
    pub(crate) async fn fresh(&self) -> Result<Box<Warm<W>>, PluginCallError> {
        let memory_bytes =
            usize::try_from(self.limits.memory_limit_mib << 20).unwrap_or(usize::MAX);
        let state = HostState::new(self.context.clone(), self.egress.clone(), memory_bytes);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        if self.limits.wall_clock {
            store.epoch_deadline_callback(yield_until_deadline);
        } else {
            store.epoch_deadline_trap();
        }
        self.arm_deadline(&mut store);
        let plugin = self.context.name.clone();
        let failed = |message: String| PluginCallError::Instantiate {
            plugin: plugin.clone(),
            message,
        };
        let started = async {
            let bindings = W::instantiate(&self.pre, &mut store).await?;
            let init = bindings.init(&mut store).await?;
            Ok::<_, wasmtime::Error>((bindings, init))
        };
        match tokio::time::timeout(self.limits.deadline, started).await {
            Ok(Ok((bindings, Ok(())))) => Ok(Box::new(Warm {
                store,
                bindings,
                policy_version: None,
                generation: self.generation.load(Ordering::Acquire),
            })),
            Ok(Ok((_, Err(guest)))) => Err(failed(format!("init refused: {guest}"))),
            Ok(Err(error)) => Err(failed(format!("{error:#}"))),
            Err(_) => Err(failed(format!(
                "init ran past the {} ms deadline",
                self.limits.deadline.as_millis()
            ))),
        }
    }

    /// Waits for a free call slot.
    /// Waits for a free call slot, at most the plugin's deadline: a plugin
    /// whose every instance is busy fails the request closed rather than
    /// queueing it without bound.
    async fn permit(&self) -> Result<SemaphorePermit<'_>, PluginCallError> {
        // The common case, a free slot, arms no timer.
        if let Ok(permit) = self.concurrency.try_acquire() {
            return Ok(permit);
        }
        match tokio::time::timeout(self.limits.deadline, self.concurrency.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(PluginCallError::Instantiate {
                plugin: self.context.name.clone(),
                message: "plugin is shutting down".into(),
            }),
            Err(_) => Err(PluginCallError::Overloaded {
                plugin: self.context.name.clone(),
                instances: self.instances,
            }),
        }
    }

    /// Leases an instance: a warm one from the pool, or with
    /// [`Isolation::Fresh`] a brand-new one that is discarded after the call
    /// (full isolation between calls, at the cost of an instantiation).
    pub(crate) async fn lease(
        &self,
        isolation: Isolation,
    ) -> Result<Lease<'_, W>, PluginCallError> {
        let started = Instant::now();
        let permit = self
            .permit()
            .await
            .inspect_err(|error| self.record(error, started))?;
        let idle = match isolation {
            Isolation::Warm => self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None),
            Isolation::Fresh => None,
        };
        let mut warm = match idle {
            Some(warm) => warm,
            None => match self.fresh().await {
                Ok(warm) => warm,
                Err(error) => {
                    self.record(&error, started);
                    return Err(error);
                }
            },
        };
        self.arm_deadline(&mut warm.store);
        Ok(Lease {
            pool: self,
            warm,
            started,
            keep: isolation == Isolation::Warm,
            _permit: permit,
        })
    }

    /// How many instances are idle now.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle.lock().map_or(0, |idle| idle.len())
    }

    /// Replaces every idle instance with `prepared` (e.g. instances that
    /// loaded a new policy snapshot) in one step; instances busy now are
    /// dropped when they come back instead of rejoining the pool.
    pub(crate) fn replace_idle(&self, prepared: Vec<Box<Warm<W>>>) {
        if let Ok(mut idle) = self.idle.lock() {
            let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
            *idle = prepared
                .into_iter()
                .map(|mut warm| {
                    warm.generation = generation;
                    warm
                })
                .collect();
        }
    }

    /// The largest linear memory of the idle instances, in bytes.
    pub(crate) fn peak_memory(&self) -> usize {
        self.idle.lock().map_or(0, |idle| {
            idle.iter()
                .map(|warm| warm.store.data().limiter.peak())
                .max()
                .unwrap_or(0)
        })
    }

    /// Keeps at least one instance warm, so the first request pays no
    /// instantiation and a broken plugin is found at load time.
    pub(crate) async fn prewarm(&self) -> Result<(), PluginCallError> {
        let warm = self.fresh().await?;
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(warm);
        }
        Ok(())
    }

    /// Runs `call` (the export `function`) in a tracing span naming the
    /// plugin and function, against the wall-clock deadline when the
    /// plugin can wait on the host (the epoch deadline bounds the rest).
    pub(crate) async fn guard<R>(
        &self,
        function: &'static str,
        call: impl Future<Output = wasmtime::Result<R>>,
    ) -> Result<wasmtime::Result<R>, tokio::time::error::Elapsed> {
        let span = self.span(function);
        if !self.limits.wall_clock {
            if span.is_disabled() {
                return Ok(call.await);
            }
            return Ok(call.instrument(span).await);
        }
        // A little slack so the epoch deadline, which names the cause
        // precisely, normally fires first.
        tokio::time::timeout(self.limits.deadline + Duration::from_millis(50), call)
            .instrument(span)
            .await
    }

    /// Runs `call` (the export `function`, called directly on an instance
    /// linked for it) in the same span as [`Self::guard`]. It needs no
    /// wall-clock timeout: such a plugin cannot wait on the host, so the
    /// epoch deadline bounds it.
    pub(crate) fn guard_direct<R>(
        &self,
        function: &'static str,
        call: impl FnOnce() -> wasmtime::Result<R>,
    ) -> Result<wasmtime::Result<R>, tokio::time::error::Elapsed> {
        let span = self.span(function);
        let _entered = span.enter();
        Ok(call())
    }

    /// The span of one call. One nobody listens to is not built, and
    /// entering it costs nothing.
    fn span(&self, function: &'static str) -> tracing::Span {
        if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug_span!("plugin_call", plugin = %self.context.name, function)
        } else {
            tracing::Span::none()
        }
    }

    fn record(&self, error: &PluginCallError, started: Instant) {
        tracing::error!(plugin = %self.context.name, kind = error.kind(), error = %error, "plugin call failed; failing closed");
        self.metrics
            .plugin_call(&self.context.name, error.kind(), started.elapsed());
    }
}

/// An instance checked out of its pool for one call.
pub(crate) struct Lease<'p, W: WorldBindings> {
    pool: &'p InstancePool<W>,
    warm: Box<Warm<W>>,
    started: Instant,
    keep: bool,
    _permit: SemaphorePermit<'p>,
}

impl<W: WorldBindings> Lease<'_, W> {
    /// The leased instance.
    pub(crate) fn warm(&mut self) -> &mut Warm<W> {
        &mut self.warm
    }

    /// Hands a healthy instance to the caller instead of the pool (to be
    /// put in with [`InstancePool::replace_idle`]), or discards a failed one
    /// and says why the call failed.
    pub(crate) fn detach<R>(
        mut self,
        outcome: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
    ) -> Result<(Box<Warm<W>>, R), PluginCallError> {
        match outcome {
            Ok(Ok(value)) => {
                self.pool.ok_metrics.ok(self.started.elapsed());
                Ok((self.warm, value))
            }
            failed => {
                self.keep = false;
                let plugin = self.pool.context.name.clone();
                match self.settle(failed) {
                    Err(error) => Err(error),
                    Ok(_) => Err(PluginCallError::Trap {
                        plugin,
                        message: "a failed call settled as a success".into(),
                    }),
                }
            }
        }
    }

    /// Returns a healthy instance to the pool, or discards a failed one and
    /// says why the call failed.
    pub(crate) fn settle<R>(
        self,
        outcome: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
    ) -> Result<R, PluginCallError> {
        let Lease {
            pool,
            warm,
            started,
            keep,
            _permit,
        } = self;
        let error = match outcome {
            Ok(Ok(value)) => {
                // Checked under the lock `replace_idle` swaps under, so an
                // instance of a replaced generation never rejoins.
                if keep
                    && let Ok(mut idle) = pool.idle.lock()
                    && warm.generation == pool.generation.load(Ordering::Acquire)
                {
                    idle.push(warm);
                }
                pool.ok_metrics.ok(started.elapsed());
                return Ok(value);
            }
            Ok(Err(error)) => {
                let plugin = pool.context.name.clone();
                let memory = warm.store.data().limiter.denied();
                if memory {
                    PluginCallError::MemoryExceeded {
                        plugin,
                        limit_mib: pool.limits.memory_limit_mib,
                    }
                } else if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                    PluginCallError::Deadline {
                        plugin,
                        deadline_ms: millis(pool.limits.deadline),
                    }
                } else {
                    PluginCallError::Trap {
                        plugin,
                        message: format!("{error:#}"),
                    }
                }
            }
            Err(_) => PluginCallError::Deadline {
                plugin: pool.context.name.clone(),
                deadline_ms: millis(pool.limits.deadline),
            },
        };
        drop(warm);
        pool.record(&error, started);
        Err(error)
    }
}

/// The epoch callback of an instance called on a fiber: at every tick it
/// lets the other tasks of the serving thread run, so a long call holds up
/// only its own request; past the call's deadline it interrupts the guest.
fn yield_until_deadline(
    store: wasmtime::StoreContextMut<'_, HostState>,
) -> wasmtime::Result<UpdateDeadline> {
    if Instant::now() >= store.data().call_deadline {
        return Ok(UpdateDeadline::Interrupt);
    }
    Ok(UpdateDeadline::YieldCustom(
        1,
        Box::pin(tokio::task::yield_now()),
    ))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
