//! The direct call path: calling a plugin on the caller's own stack.
//!
//! wasmtime runs a call into an instance that imports an `async` host
//! function on a fiber, so that the host function can wait; entering and
//! leaving the fiber is a measurable share of a microsecond-scale call
//! (the authorizer's hot-path `check`). A plugin whose every import
//! answers at once (see [`super::ComponentInfo::may_wait_on_host`]) needs
//! no fiber, so it is linked against [`direct_linker`]: the same interfaces
//! with synchronous host functions only, and its calls can run directly.
//!
//! WASI's stream and poll functions include blocking ones
//! (`blocking-write-and-flush`, `pollable.block`, ...). For the interfaces
//! such a plugin may import (closed stdin, discarding stdout and stderr)
//! they complete at once, so here they are run to completion without
//! waiting; one that would have to wait traps instead, which fails the call
//! closed and discards the instance, rather than blocking a runtime thread.

use super::bindings::authorizer::Authorizer;
use super::state::HostState;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use wasmtime::Engine;
use wasmtime::component::{HasData, HasSelf, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::WasiCli;
use wasmtime_wasi::clocks::WasiClocks;
use wasmtime_wasi::p2::bindings::io::error;
use wasmtime_wasi::p2::bindings::io::poll::{Host as AsyncPoll, HostPollable as AsyncPollable};
use wasmtime_wasi::p2::bindings::io::streams::{
    HostInputStream as AsyncInput, HostOutputStream as AsyncOutput,
};
use wasmtime_wasi::p2::bindings::sync::io::{poll, streams};
use wasmtime_wasi::p2::bindings::{cli, clocks, random};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, StreamError, StreamResult};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{WasiView, cli::WasiCliView, clocks::WasiClocksView};

/// A linker with synchronous host functions only, offering exactly the
/// interfaces a plugin that never waits on the host may import.
pub(super) fn direct_linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    let l = &mut linker;
    error::add_to_linker::<HostState, HasTable>(l, |state| &mut state.table)?;
    poll::add_to_linker::<HostState, WithoutWaiting>(l, |state| Streams(&mut state.table))?;
    streams::add_to_linker::<HostState, WithoutWaiting>(l, |state| Streams(&mut state.table))?;
    cli::exit::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::environment::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_input::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_output::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    clocks::wall_clock::add_to_linker::<HostState, WasiClocks>(l, HostState::clocks)?;
    random::random::add_to_linker::<HostState, WasiRandom>(l, random_of)?;
    random::insecure::add_to_linker::<HostState, WasiRandom>(l, random_of)?;
    random::insecure_seed::add_to_linker::<HostState, WasiRandom>(l, random_of)?;
    // The Portcullis interfaces; of them only `kv` is asynchronous, and a
    // plugin importing it is never linked here.
    Authorizer::add_to_linker::<HostState, HasSelf<HostState>>(l, |state| state)?;
    Ok(linker)
}

fn random_of(state: &mut HostState) -> &mut wasmtime_wasi::random::WasiRandomCtx {
    state.ctx().ctx.random()
}

struct HasTable;

impl HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}

/// WASI streams and pollables whose blocking functions complete without
/// waiting, or trap.
struct Streams<'a>(&'a mut ResourceTable);

struct WithoutWaiting;

impl HasData for WithoutWaiting {
    type Data<'a> = Streams<'a>;
}

/// Runs `future` to completion if it completes without waiting; a future
/// that would wait is an error naming `function`.
fn without_waiting<F: Future>(function: &str, future: F) -> wasmtime::Result<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => Err(wasmtime::format_err!(
            "`{function}` would wait on the host, which a plugin linked for direct calls cannot do"
        )),
    }
}

/// [`without_waiting`] for a stream operation: waiting traps.
fn stream_without_waiting<T>(
    function: &str,
    future: impl Future<Output = StreamResult<T>>,
) -> StreamResult<T> {
    without_waiting(function, future).unwrap_or_else(|trap| Err(StreamError::Trap(trap)))
}

impl poll::Host for Streams<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        without_waiting("poll", AsyncPoll::poll(self.0, pollables))?
    }
}

impl poll::HostPollable for Streams<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        without_waiting("pollable.ready", AsyncPollable::ready(self.0, pollable))?
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        without_waiting("pollable.block", AsyncPollable::block(self.0, pollable))?
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        AsyncPollable::drop(self.0, pollable)
    }
}

impl streams::Host for Streams<'_> {
    fn convert_stream_error(
        &mut self,
        error: StreamError,
    ) -> wasmtime::Result<streams::StreamError> {
        streams::Host::convert_stream_error(self.0, error)
    }
}

impl streams::HostOutputStream for Streams<'_> {
    fn drop(&mut self, stream: Resource<DynOutputStream>) -> wasmtime::Result<()> {
        without_waiting("[drop]output-stream", AsyncOutput::drop(self.0, stream))?
    }

    fn check_write(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<u64> {
        AsyncOutput::check_write(self.0, stream)
    }

    fn write(&mut self, stream: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        AsyncOutput::write(self.0, stream, bytes)
    }

    fn blocking_write_and_flush(
        &mut self,
        stream: Resource<DynOutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        stream_without_waiting(
            "output-stream.blocking-write-and-flush",
            AsyncOutput::blocking_write_and_flush(self.0, stream, bytes),
        )
    }

    fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<DynOutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        stream_without_waiting(
            "output-stream.blocking-write-zeroes-and-flush",
            AsyncOutput::blocking_write_zeroes_and_flush(self.0, stream, len),
        )
    }

    fn subscribe(
        &mut self,
        stream: Resource<DynOutputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncOutput::subscribe(self.0, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        AsyncOutput::write_zeroes(self.0, stream, len)
    }

    fn flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        AsyncOutput::flush(self.0, stream)
    }

    fn blocking_flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        stream_without_waiting(
            "output-stream.blocking-flush",
            AsyncOutput::blocking_flush(self.0, stream),
        )
    }

    fn splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        AsyncOutput::splice(self.0, dst, src, len)
    }

    fn blocking_splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        stream_without_waiting(
            "output-stream.blocking-splice",
            AsyncOutput::blocking_splice(self.0, dst, src, len),
        )
    }
}

impl streams::HostInputStream for Streams<'_> {
    fn drop(&mut self, stream: Resource<DynInputStream>) -> wasmtime::Result<()> {
        without_waiting("[drop]input-stream", AsyncInput::drop(self.0, stream))?
    }

    fn read(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        AsyncInput::read(self.0, stream, len)
    }

    fn blocking_read(
        &mut self,
        stream: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<Vec<u8>> {
        stream_without_waiting(
            "input-stream.blocking-read",
            AsyncInput::blocking_read(self.0, stream, len),
        )
    }

    fn skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        AsyncInput::skip(self.0, stream, len)
    }

    fn blocking_skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        stream_without_waiting(
            "input-stream.blocking-skip",
            AsyncInput::blocking_skip(self.0, stream, len),
        )
    }

    fn subscribe(
        &mut self,
        stream: Resource<DynInputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncInput::subscribe(self.0, stream)
    }
}

#[cfg(test)]
mod tests {
    use super::without_waiting;

    #[test]
    fn a_future_that_would_wait_is_an_error_naming_the_function() {
        let error = without_waiting("pollable.block", std::future::pending::<()>())
            .expect_err("a pending future cannot complete without waiting");
        assert!(
            error.to_string().contains("`pollable.block` would wait"),
            "{error}"
        );
        assert_eq!(
            without_waiting("ready", std::future::ready(7)).expect("ready"),
            7
        );
    }
}
