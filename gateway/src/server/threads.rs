//! Serving threads: each runs its own single-threaded event loop and
//! accepts HTTPS connections from the one listening socket they share.
//!
//! A connection, its TLS session, its requests and the upstream
//! connections they use stay on the thread that accepted it, so a request
//! is not handed between threads (each hand-off is a wake-up and often a
//! context switch, which a work-stealing runtime pays on most requests
//! when every core is busy). The kernel gives each new connection to
//! whichever thread accepts first, so a busy thread takes fewer.

use super::ServerError;
use super::listener::serve_https;
use crate::config::ServerConfig;
use crate::http::Gateway;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{Semaphore, oneshot, watch};

/// What every serving thread shares.
pub(super) struct Serving {
    pub(super) tls: Arc<rustls::ServerConfig>,
    pub(super) gateway: Gateway,
    pub(super) server: ServerConfig,
    pub(super) shutdown: watch::Receiver<bool>,
}

/// How many serving threads `server.threads` asks for: 0 is one per core.
pub(super) fn count(server: &ServerConfig) -> usize {
    match server.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
}

/// Starts `threads` serving threads on `listener`. Each drains its
/// connections once `shutdown` turns true and then ends; the receivers
/// returned resolve as they do.
pub(super) fn start(
    threads: usize,
    listener: std::net::TcpListener,
    addr: SocketAddr,
    serving: Serving,
) -> Result<Vec<oneshot::Receiver<()>>, ServerError> {
    let failed = |source: std::io::Error| ServerError::Bind { addr, source };
    listener.set_nonblocking(true).map_err(failed)?;
    // One cap for the whole gateway, whichever thread holds a connection.
    let connections = Arc::new(Semaphore::new(serving.server.max_connections));
    let mut ended = Vec::with_capacity(threads);
    for index in 0..threads {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServerError::Threads)?;
        // Registered with this thread's own event loop.
        let accepting = {
            let _in_runtime = runtime.enter();
            tokio::net::TcpListener::from_std(listener.try_clone().map_err(failed)?)
                .map_err(failed)?
        };
        let (done, end) = oneshot::channel();
        let tls = serving.tls.clone();
        let gateway = serving.gateway.clone();
        let server = serving.server.clone();
        let shutdown = serving.shutdown.clone();
        let connections = connections.clone();
        std::thread::Builder::new()
            .name(format!("portcullis-https-{index}"))
            .spawn(move || {
                runtime.block_on(serve_https(
                    accepting,
                    tls,
                    gateway,
                    server,
                    connections,
                    shutdown,
                ));
                // Tasks still on this loop (none once drained) end here.
                drop(runtime);
                let _ = done.send(());
            })
            .map_err(ServerError::Threads)?;
        ended.push(end);
    }
    Ok(ended)
}
