//! Accept loops: TLS handshakes with a deadline, HTTP/1.1 and HTTP/2 with
//! header size and read-time limits, a connection cap, and graceful drain.

use super::connection::{Activity, Limits, Watched, drive};
use crate::config::ServerConfig;
use crate::http::{Gateway, redirect_to_https};
use axum::body::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

fn http_builder(server: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The header read timeout is the connection's (see `connection`), not
    // hyper's, which arms a timer for every request.
    builder
        .http1()
        .max_buf_size(server.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(server.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(server.http2_max_concurrent_streams)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// Waits until every connection holding a permit of `connections` has
/// ended, for at most `grace`.
async fn drain_connections(connections: Arc<Semaphore>, total: usize, grace: Duration) {
    let all = u32::try_from(total).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, connections.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = grace.as_millis(),
            "grace period over; closing remaining connections"
        );
    }
}

async fn drain(graceful: GracefulShutdown, grace: Duration) {
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = grace.as_millis(),
            "grace period over; closing remaining connections"
        );
    }
}

/// Serves HTTPS until `shutdown` turns true; each connection holds one of
/// `connections`' permits (the gateway-wide cap) while open.
pub(super) async fn serve_https(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    gateway: Gateway,
    server: ServerConfig,
    connections: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let builder = Arc::new(http_builder(&server));
    let handshake_timeout = Duration::from_millis(server.tls_handshake_timeout_ms);
    let limits = Limits {
        idle: Duration::from_millis(server.idle_timeout_ms),
        header_read: Duration::from_millis(server.header_read_timeout_ms),
    };
    // Connections watch a signal of this thread's own, raised once the
    // gateway-wide one is: a connection checks it each time it is polled,
    // and a signal shared by all threads would be a lock that every
    // thread's connections take several times per request.
    let (closing, closing_rx) = watch::channel(false);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let gateway = gateway.clone();
        let builder = builder.clone();
        let thread_closing = closing_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let stream = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let activity = Activity::new();
            if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                activity.set_http2();
            }
            let requests = activity.clone();
            let service = service_fn(move |request: hyper::Request<Incoming>| {
                let in_flight = requests.begin();
                if request.version() == http::Version::HTTP_2 {
                    requests.set_http2();
                }
                let gateway = gateway.clone();
                async move {
                    let response = gateway.serve(request.map(Body::new), peer).await;
                    drop(in_flight);
                    Ok::<_, Infallible>(response)
                }
            });
            let io = TokioIo::new(Watched::new(stream, activity.clone()));
            let connection = builder.serve_connection(io, service);
            if let Err(error) = drive(connection, activity, limits, thread_closing).await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    let _ = closing.send(true);
    drain_connections(
        connections,
        server.max_connections,
        Duration::from_millis(server.shutdown_grace_ms),
    )
    .await;
}

/// Serves the plain-HTTP redirect until `shutdown` turns true.
pub(super) async fn serve_redirect(
    listener: TcpListener,
    https_port: u16,
    server: ServerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = http_builder(&server);
    // Not driven by `connection::drive`: hyper keeps the header timeout
    // here (a timer per request is no matter on the redirect).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(server.header_read_timeout_ms));
    let builder = Arc::new(builder);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
            _ = shutdown.changed() => break,
        };
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<Incoming>| async move {
                Ok::<_, Infallible>(redirect_to_https(&request, https_port))
            });
            let _ = watcher
                .watch(
                    builder
                        .serve_connection(TokioIo::new(tcp), service)
                        .into_owned(),
                )
                .await;
        });
    }
    drain(graceful, Duration::from_millis(server.shutdown_grace_ms)).await;
}
