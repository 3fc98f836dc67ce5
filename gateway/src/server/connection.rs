//! Driving one client connection: it is closed gracefully when it has had
//! no request in flight for the idle timeout (HTTP/1 keep-alive and HTTP/2
//! alike, so an idle client cannot hold a connection permit for ever) or
//! when the gateway shuts down.

use hyper_util::server::graceful::GracefulConnection;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Requests in flight on one connection and when the last one ended.
#[derive(Debug)]
pub(super) struct Activity {
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `started` at which the connection last went idle
    /// (or saw a request begin).
    last_ms: AtomicU64,
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
        })
    }

    /// A request begins; it is in flight until the guard is dropped.
    pub(super) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        InFlight(self.clone())
    }

    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(now, Ordering::AcqRel);
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
/// requests finish, no new ones start) once it is idle for `idle_timeout`
/// or `shutdown` turns true.
pub(super) async fn drive<C>(
    connection: C,
    activity: Arc<Activity>,
    idle_timeout: Duration,
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
        let idle_check = activity.idle_remaining(idle_timeout);
        tokio::select! {
            result = connection.as_mut() => return result,
            () = tokio::time::sleep(idle_check.unwrap_or_default()), if !closing => {
                if idle_check.is_none() || activity.idle_remaining(idle_timeout).is_none() {
                    tracing::debug!(idle_ms = idle_timeout.as_millis(), "closing idle connection");
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
}
