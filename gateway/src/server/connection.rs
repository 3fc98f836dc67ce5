//! Driving one client connection: it is closed gracefully when it has had
//! no request in flight for the idle timeout (HTTP/1 keep-alive and HTTP/2
//! alike, so an idle client cannot hold a connection permit for ever) or
//! when the gateway shuts down, and at once when an HTTP/1 request head
//! takes longer than the header timeout to arrive (slow-loris defence).
//!
//! Both limits are checked by one timer per connection, re-armed at most
//! every half header timeout — not by a timer per request: a request only
//! notes when the first bytes of its head arrived.

use hyper_util::server::graceful::GracefulConnection;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
// Tokio's clock, which tests can pause and advance.
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a connection may be idle, and how long a request head may
/// take to arrive.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// No request in flight for this long closes the connection.
    pub(super) idle: Duration,
    /// An HTTP/1 request head not complete this long after its first
    /// bytes closes the connection.
    pub(super) header_read: Duration,
}

/// Requests in flight on one connection and when the last one ended.
#[derive(Debug)]
pub(super) struct Activity {
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `started` at which the connection last went idle
    /// (or saw a request begin).
    last_ms: AtomicU64,
    /// Milliseconds after `started`, plus one, at which bytes arrived with
    /// no request in flight: a request head began (0: none is arriving).
    head_since: AtomicU64,
    /// HTTP/2 frames (settings, pings) arrive between requests and are no
    /// request head; its header size is capped by the protocol settings.
    http2: AtomicBool,
}

/// Marks a request in flight until dropped.
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Activity {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            http2: AtomicBool::new(false),
        })
    }

    /// The connection speaks HTTP/2 (negotiated, or seen in a request).
    pub(super) fn set_http2(&self) {
        self.http2.store(true, Ordering::Relaxed);
    }

    /// A request begins (its head has arrived); it is in flight until the
    /// guard is dropped.
    pub(super) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
        self.touch();
        InFlight(self.clone())
    }

    /// Bytes arrived: with no request in flight on HTTP/1, they are the
    /// start of the next request's head.
    fn note_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Acquire) == 0
            && !self.http2.load(Ordering::Relaxed)
        {
            self.head_since
                .store(self.elapsed_ms().saturating_add(1), Ordering::Release);
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_ms.fetch_max(self.elapsed_ms(), Ordering::AcqRel);
    }

    /// How long the request head now arriving has left, or `None` if none
    /// is arriving (zero: its time is up).
    fn head_remaining(&self, limit: Duration) -> Option<Duration> {
        let since = self.head_since.load(Ordering::Acquire);
        if since == 0 || self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let started = Duration::from_millis(since - 1);
        let taken = self.started.elapsed().saturating_sub(started);
        Some(limit.saturating_sub(taken))
    }

    /// When the connection's timer should next look at it.
    fn next_check(&self, limits: Limits) -> Duration {
        let idle = self.idle_remaining(limits.idle).unwrap_or_default();
        let head = match self.head_remaining(limits.header_read) {
            Some(left) => left,
            // A head may start at any moment: look again before half its
            // time could have passed unseen.
            None if !self.http2.load(Ordering::Relaxed) => limits.header_read / 2,
            None => idle,
        };
        idle.min(head)
    }

    /// How long until the connection has been idle for `timeout`, or
    /// `None` if it already has.
    fn idle_remaining(&self, timeout: Duration) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Some(timeout);
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Acquire));
        let idle = self.started.elapsed().saturating_sub(last);
        timeout.checked_sub(idle).filter(|left| !left.is_zero())
    }
}

/// Runs `connection` to its end, shutting it down gracefully (in-flight
/// requests finish, no new ones start) once it is idle for `limits.idle`
/// or `shutdown` turns true, and closing it at once when a request head
/// takes longer than `limits.header_read`.
pub(super) async fn drive<C>(
    connection: C,
    activity: Arc<Activity>,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), C::Error>
where
    C: GracefulConnection,
{
    let mut connection = pin!(connection);
    // Shutdown may have begun while this connection was being accepted.
    let mut closing = *shutdown.borrow_and_update();
    if closing {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        let check = activity.next_check(limits);
        tokio::select! {
            result = connection.as_mut() => return result,
            () = tokio::time::sleep(check), if !closing => {
                if activity.head_remaining(limits.header_read).is_some_and(|left| left.is_zero()) {
                    // Half a head: nothing to finish gracefully.
                    tracing::debug!(
                        header_read_ms = limits.header_read.as_millis(),
                        "closing a connection whose request head did not arrive in time"
                    );
                    return Ok(());
                }
                if activity.idle_remaining(limits.idle).is_none() {
                    tracing::debug!(idle_ms = limits.idle.as_millis(), "closing idle connection");
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
            changed = shutdown.changed(), if !closing => {
                if changed.is_err() || *shutdown.borrow() {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// A connection's transport, telling its [`Activity`] when bytes arrive.
pub(super) struct Watched<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    /// `io`, reporting to `activity`.
    pub(super) fn new(io: T, activity: Arc<Activity>) -> Self {
        Self { io, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.note_read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_time_counts_only_without_requests_in_flight() {
        let activity = Activity::new();
        let timeout = Duration::from_secs(10);
        assert!(activity.idle_remaining(timeout).is_some());
        let request = activity.begin();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(activity.idle_remaining(timeout), Some(timeout));
        drop(request);
        assert!(activity.idle_remaining(timeout).is_some());
    }

    const LIMITS: Limits = Limits {
        idle: Duration::from_secs(60),
        header_read: Duration::from_secs(10),
    };

    #[tokio::test(start_paused = true)]
    async fn a_request_head_is_timed_from_its_first_bytes_until_it_begins() {
        let limits = LIMITS;
        let activity = Activity::new();
        assert_eq!(activity.head_remaining(limits.header_read), None);
        assert_eq!(activity.next_check(limits), Duration::from_secs(5));
        tokio::time::sleep(Duration::from_secs(3)).await;
        activity.note_read();
        tokio::time::sleep(Duration::from_secs(4)).await;
        activity.note_read();
        assert_eq!(
            activity.head_remaining(limits.header_read),
            Some(Duration::from_secs(6)),
            "timed from the first bytes, not the latest"
        );
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(
            activity.head_remaining(limits.header_read),
            Some(Duration::ZERO)
        );
        // The head completed: the request's body and the next request's
        // bytes while it is in flight are no head.
        let request = activity.begin();
        activity.note_read();
        assert_eq!(activity.head_remaining(limits.header_read), None);
        drop(request);
        assert_eq!(activity.head_remaining(limits.header_read), None);
    }

    #[tokio::test(start_paused = true)]
    async fn http2_frames_between_requests_are_no_request_head() {
        let limits = LIMITS;
        let activity = Activity::new();
        activity.set_http2();
        activity.note_read();
        assert_eq!(activity.head_remaining(limits.header_read), None);
        assert_eq!(activity.next_check(limits), Duration::from_secs(60));
    }
}
