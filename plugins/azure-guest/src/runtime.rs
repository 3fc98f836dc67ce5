//! The async runtime `azure_core` uses for its retry sleeps, for a guest:
//! a sleep blocks on a `wasi` monotonic-clock subscription (the gateway's
//! call deadline still bounds it), and a spawned task runs to its end at
//! once (a guest has one thread).

use azure_core::async_runtime::{AbortableTask, AsyncRuntime, SpawnedTask, TaskFuture};
use azure_core::time::Duration;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

struct WasiRuntime;

/// A task that has already run.
struct Finished;

impl Future for Finished {
    type Output = Result<(), Box<dyn std::error::Error + Send>>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(()))
    }
}

impl AbortableTask for Finished {
    fn abort(&self) {}
}

impl AsyncRuntime for WasiRuntime {
    fn spawn(&self, f: TaskFuture) -> SpawnedTask {
        futures::executor::block_on(f);
        Box::pin(Finished)
    }

    fn sleep(&self, duration: Duration) -> TaskFuture {
        Box::pin(async move {
            let nanos = u64::try_from(duration.whole_nanoseconds().max(0)).unwrap_or(u64::MAX);
            wasi::clocks::monotonic_clock::subscribe_duration(nanos).block();
        })
    }

    fn yield_now(&self) -> TaskFuture {
        Box::pin(std::future::ready(()))
    }
}

/// Installs the runtime (once per instance; later calls change nothing).
pub fn install() {
    let _ = azure_core::async_runtime::set_async_runtime(Arc::new(WasiRuntime));
}
