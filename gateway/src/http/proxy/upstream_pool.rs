//! Keep-alive connections to upstreams, pooled per serving thread.
//!
//! A connection is driven by the event loop of the thread that opened it,
//! so each serving thread keeps its own idle connections: a pool shared by
//! the threads would hand most requests, and their responses, from one
//! thread to another.
//!
//! A connection is checked out for one request and comes back when the
//! response's body has been read to its end; a response abandoned half
//! read closes its connection (what is left of it is still on the wire).
//! A request that a reused connection could not send (the upstream closed
//! it while it was idle) is sent again on another connection: it was never
//! written, so nothing is sent twice.

use bytes::Bytes;
use http::uri::Authority;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::cell::RefCell;
use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// The request body sent upstream.
pub(super) type UpstreamBody =
    http_body_util::combinators::UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// An idle connection unused for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often each thread closes the connections idle for too long.
const REAP_INTERVAL: Duration = Duration::from_secs(30);
/// At most this many idle connections are kept per upstream and thread.
const MAX_IDLE_PER_UPSTREAM: usize = 1024;
/// How long opening a TCP connection to an upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a request could not be sent upstream, or its response not read.
#[derive(Debug, thiserror::Error)]
pub(super) enum UpstreamError {
    /// The upstream's address could not be resolved or connected to.
    #[error("cannot connect to upstream {upstream}: {source}")]
    Connect {
        /// The upstream.
        upstream: Authority,
        /// What failed.
        source: std::io::Error,
    },
    /// Connecting took longer than [`CONNECT_TIMEOUT`].
    #[error("connecting to upstream {0} timed out")]
    ConnectTimeout(Authority),
    /// HTTP on the connection failed (including the request body's own
    /// errors, found in its source chain).
    #[error("upstream HTTP exchange failed: {0}")]
    Http(#[from] hyper::Error),
}

struct IdleConnection {
    sender: SendRequest<UpstreamBody>,
    since: Instant,
}

/// This thread's idle connections, by upstream.
#[derive(Default)]
struct IdleConnections {
    by_upstream: HashMap<Authority, Vec<IdleConnection>>,
    reaper_started: bool,
}

thread_local! {
    static IDLE: RefCell<IdleConnections> = RefCell::default();
}

impl IdleConnections {
    /// The most recently used connection to `upstream` that can take a
    /// request now; closed and stale ones met on the way are dropped.
    fn take(&mut self, upstream: &Authority) -> Option<SendRequest<UpstreamBody>> {
        let idle = self.by_upstream.get_mut(upstream)?;
        while let Some(connection) = idle.pop() {
            if connection.sender.is_ready() && connection.since.elapsed() < IDLE_TIMEOUT {
                return Some(connection.sender);
            }
        }
        None
    }

    fn put(&mut self, upstream: Authority, sender: SendRequest<UpstreamBody>) {
        let idle = self.by_upstream.entry(upstream).or_default();
        if idle.len() < MAX_IDLE_PER_UPSTREAM {
            idle.push(IdleConnection {
                sender,
                since: Instant::now(),
            });
        }
        if !self.reaper_started
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            self.reaper_started = true;
            runtime.spawn(reap_forever());
        }
    }

    /// Drops the connections that are closed or idle for too long.
    fn reap(&mut self) {
        for idle in self.by_upstream.values_mut() {
            idle.retain(|c| !c.sender.is_closed() && c.since.elapsed() < IDLE_TIMEOUT);
        }
        self.by_upstream.retain(|_, idle| !idle.is_empty());
    }
}

/// Closes this thread's stale idle connections every [`REAP_INTERVAL`],
/// for as long as the thread's event loop runs.
async fn reap_forever() {
    loop {
        tokio::time::sleep(REAP_INTERVAL).await;
        IDLE.with_borrow_mut(IdleConnections::reap);
    }
}

/// Puts `sender` in this thread's pool. While the thread is being torn
/// down there is no pool: the connection is closed instead.
fn keep_idle(upstream: Authority, sender: SendRequest<UpstreamBody>) {
    let _ = IDLE.try_with(|idle| idle.borrow_mut().put(upstream, sender));
}

/// Returns a connection whose response has been read to its end to this
/// thread's pool, once it can take the next request.
fn release(upstream: Authority, mut sender: SendRequest<UpstreamBody>) {
    if sender.is_ready() {
        keep_idle(upstream, sender);
    } else if !sender.is_closed()
        && let Ok(runtime) = tokio::runtime::Handle::try_current()
    {
        // The connection has not yet taken in the end of the response.
        runtime.spawn(async move {
            if sender.ready().await.is_ok() {
                keep_idle(upstream, sender);
            }
        });
    }
}

/// Opens an HTTP/1.1 connection to `upstream`, driven by this thread.
async fn connect(upstream: &Authority) -> Result<SendRequest<UpstreamBody>, UpstreamError> {
    let host = upstream.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = upstream.port_u16().unwrap_or(80);
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port))).await {
        Err(_) => return Err(UpstreamError::ConnectTimeout(upstream.clone())),
        Ok(Err(source)) => {
            return Err(UpstreamError::Connect {
                upstream: upstream.clone(),
                source,
            });
        }
        Ok(Ok(tcp)) => tcp,
    };
    let _ = tcp.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// Sends `request` to `upstream` on an idle connection of this thread, or
/// a new one.
pub(super) async fn send(
    upstream: &Authority,
    mut request: Request<UpstreamBody>,
) -> Result<Response<PooledBody>, UpstreamError> {
    while let Some(mut sender) = IDLE.with_borrow_mut(|idle| idle.take(upstream)) {
        match sender.try_send_request(request).await {
            Ok(response) => return Ok(pooled(response, upstream, sender)),
            Err(mut failed) => match failed.take_message() {
                // Never written: the connection closed while idle.
                Some(unsent) => request = unsent,
                None => return Err(failed.into_error().into()),
            },
        }
    }
    let mut sender = connect(upstream).await?;
    let response = sender.send_request(request).await?;
    Ok(pooled(response, upstream, sender))
}

fn pooled(
    response: Response<Incoming>,
    upstream: &Authority,
    sender: SendRequest<UpstreamBody>,
) -> Response<PooledBody> {
    response.map(|body| PooledBody {
        body,
        connection: Some((upstream.clone(), sender)),
    })
}

/// A response body from upstream that returns its connection to the pool
/// once read to its end.
#[derive(Debug)]
pub(super) struct PooledBody {
    body: Incoming,
    connection: Option<(Authority, SendRequest<UpstreamBody>)>,
}

impl PooledBody {
    fn release_if_ended(&mut self) {
        if self.body.is_end_stream()
            && let Some((upstream, sender)) = self.connection.take()
        {
            release(upstream, sender);
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => {
                if let Some((upstream, sender)) = self.connection.take() {
                    release(upstream, sender);
                }
            }
            Poll::Ready(Some(Ok(_))) => self.release_if_ended(),
            // A failed body leaves the connection in no known state.
            Poll::Ready(Some(Err(_))) => self.connection = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // Read to its end without its final poll (a body of known length
        // whose last bytes arrived): the connection is still reusable.
        self.release_if_ended();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn get(upstream: &Authority) -> Request<UpstreamBody> {
        Request::get(format!("http://{upstream}/"))
            .body(Empty::new().map_err(|never| match never {}).boxed_unsync())
            .unwrap()
    }

    /// An upstream answering every request with `ok`, closing each
    /// connection after `per_connection` responses; it reports each
    /// connection it accepts.
    async fn upstream(
        per_connection: usize,
    ) -> (Authority, tokio::sync::mpsc::UnboundedReceiver<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        let (accepted, accepts) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (mut tcp, _) = listener.accept().await.unwrap();
                let _ = accepted.send(());
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 4096];
                    for _ in 0..per_connection {
                        let mut read = 0;
                        while !buffer[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                            match tcp.read(&mut buffer[read..]).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => read += n,
                            }
                        }
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if tcp.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (authority, accepts)
    }

    /// Sends a GET and reads its answer to the end.
    async fn get_ok(upstream: &Authority) {
        let response = send(upstream, get(upstream)).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"ok");
    }

    /// How many connections the upstream has accepted so far.
    async fn accepted(accepts: &mut tokio::sync::mpsc::UnboundedReceiver<()>) -> usize {
        tokio::task::yield_now().await;
        let mut connections = 0;
        while accepts.try_recv().is_ok() {
            connections += 1;
        }
        connections
    }

    #[tokio::test]
    async fn a_connection_read_to_its_end_is_reused() {
        let (upstream, mut accepts) = upstream(usize::MAX).await;
        for _ in 0..5 {
            get_ok(&upstream).await;
        }
        assert_eq!(
            accepted(&mut accepts).await,
            1,
            "five requests in turn share one connection"
        );
    }

    #[tokio::test]
    async fn a_response_dropped_half_read_does_not_return_its_connection() {
        let (upstream, mut accepts) = upstream(usize::MAX).await;
        let response = send(&upstream, get(&upstream)).await.unwrap();
        assert_eq!(response.status(), 200);
        // The body is not known to have ended until it is polled.
        drop(response);
        get_ok(&upstream).await;
        assert_eq!(
            accepted(&mut accepts).await,
            2,
            "the abandoned connection was not reused"
        );
    }

    #[tokio::test]
    async fn a_request_on_a_connection_the_upstream_closed_is_sent_on_a_new_one() {
        let (upstream, mut accepts) = upstream(1).await;
        for _ in 0..3 {
            get_ok(&upstream).await;
            // Let the upstream's close reach the idle connection.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(accepted(&mut accepts).await, 3);
    }

    #[tokio::test]
    async fn an_unreachable_upstream_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        drop(listener);
        let error = send(&authority, get(&authority)).await.unwrap_err();
        assert!(matches!(error, UpstreamError::Connect { .. }), "{error}");
    }
}
