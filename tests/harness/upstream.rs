//! A real HTTP/1.1 upstream on loopback that records what reaches it.

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// The request target exactly as sent (origin form `/path?query`, or
    /// absolute form `http://host/path`).
    pub target: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// A recording upstream; stopped on drop.
pub struct Upstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Upstream {
    /// Starts on a free loopback port; answers `200 upstream-ok` (after
    /// `x-test-delay-ms` milliseconds if the request asks) and records every
    /// request.
    pub async fn start() -> Self {
        Self::spawn(true).await
    }

    /// Like [`Upstream::start`] but records nothing, for benchmarks.
    pub async fn start_unrecorded() -> Self {
        Self::spawn(false).await
    }

    async fn spawn(recording: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let record = record.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: http::Request<Incoming>| {
                        let record = record.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            // Tests ask for a slow answer with this header,
                            // or for none in any useful time with `/stall`.
                            let delay = parts
                                .headers
                                .get("x-test-delay-ms")
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.parse::<u64>().ok())
                                .or((parts.uri.path() == "/stall").then_some(60_000));
                            if let Some(ms) = delay {
                                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                            }
                            if !recording {
                                drop(body);
                                return Ok::<_, Infallible>(Response::new(Full::new(
                                    Bytes::from_static(b"upstream-ok"),
                                )));
                            }
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let path = parts
                                .uri
                                .path_and_query()
                                .map_or("/".into(), |p| p.to_string());
                            record.lock().expect("lock").push(Seen {
                                method: parts.method,
                                path,
                                target: parts.uri.to_string(),
                                headers: parts.headers,
                                body,
                            });
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                                b"upstream-ok",
                            ))))
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Self { addr, seen, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Everything received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
