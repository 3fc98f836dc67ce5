//! A deadline on receiving a request body: a client that drips its body
//! slower than `server.body_read_timeout_ms` gets an error instead of
//! holding a connection (and its permit) for as long as it likes.
//!
//! The same wrapper tells whether the body was read to its end
//! ([`BodyProgress`]): a request refused before its body was read leaves
//! the rest of that body on the connection, so the connection cannot
//! carry another request and the refusal must say so.

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The body did not arrive before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyDeadlineElapsed;

/// Whether a request body was read to its end (or failed), for the
/// response to that request.
#[derive(Debug, Clone, Default)]
pub enum BodyProgress {
    /// The request had no body.
    #[default]
    NoBody,
    /// The request was refused before its body was wrapped: none of it
    /// will be read.
    NeverRead,
    /// Set once nothing more of the body will be read.
    Reading(Arc<AtomicBool>),
}

impl BodyProgress {
    /// True while part of the body has not been read: the client may
    /// still be sending it.
    pub fn unread(&self) -> bool {
        match self {
            Self::NoBody => false,
            Self::NeverRead => true,
            Self::Reading(finished) => !finished.load(Ordering::Acquire),
        }
    }
}

/// `inner`, failing with [`BodyDeadlineElapsed`] if it is not complete
/// within `limit` from now, and a handle that tells whether it was read
/// to its end. A request without a body is passed as it is, and the timer
/// is only armed once the body makes the reader wait (most small bodies
/// arrive with the headers), so the common case costs no timer
/// registration.
pub fn with_deadline(inner: Body, limit: Duration) -> (Body, BodyProgress) {
    if inner.is_end_stream() {
        return (inner, BodyProgress::NoBody);
    }
    let finished = Arc::new(AtomicBool::new(false));
    let body = Body::new(DeadlineBody {
        inner,
        deadline: Instant::now() + limit,
        timer: None,
        done: false,
        finished: finished.clone(),
    });
    (body, BodyProgress::Reading(finished))
}

struct DeadlineBody {
    inner: Body,
    deadline: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    done: bool,
    /// Shared with [`BodyProgress`]: set once nothing more will be read.
    finished: Arc<AtomicBool>,
}

impl DeadlineBody {
    fn finish(&mut self) {
        self.done = true;
        self.finished.store(true, Ordering::Release);
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                self.finish();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(error))) => {
                self.finish();
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(frame) => {
                // A reader may stop at the last frame without asking for
                // the end (`is_end_stream`).
                if self.inner.is_end_stream() {
                    self.finish();
                }
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let deadline = self.deadline;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.finish();
                        Poll::Ready(Some(Err(axum::Error::new(BodyDeadlineElapsed))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `error` (or anything in its source chain) is a missed body
/// deadline.
pub fn is_deadline(error: &(dyn std::error::Error + 'static)) -> bool {
    super::error::caused_by::<BodyDeadlineElapsed>(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test(start_paused = true)]
    async fn a_body_that_does_not_finish_in_time_fails() {
        let (sender, body) = {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, axum::Error>>(1);
            let stream = tokio_stream_body(rx);
            (tx, stream)
        };
        sender
            .send(Ok(Frame::data(Bytes::from_static(b"{\"a\":"))))
            .await
            .unwrap();
        let (body, progress) = with_deadline(body, Duration::from_secs(5));
        assert!(progress.unread());
        let error = body.collect().await.unwrap_err();
        assert!(is_deadline(&error), "{error}");
        assert!(!progress.unread(), "a failed body is not waited for");
        drop(sender);
    }

    #[tokio::test(start_paused = true)]
    async fn a_complete_body_passes() {
        let (body, progress) = with_deadline(Body::from("{}"), Duration::from_secs(5));
        assert!(progress.unread(), "nothing read yet");
        assert_eq!(body.collect().await.unwrap().to_bytes(), "{}");
        assert!(!progress.unread());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_dropped_unread_stays_unread_and_no_body_counts_as_read() {
        let (body, progress) = with_deadline(Body::from("{}"), Duration::from_secs(5));
        drop(body);
        assert!(progress.unread());
        let (_, progress) = with_deadline(Body::empty(), Duration::from_secs(5));
        assert!(!progress.unread());
    }

    fn tokio_stream_body(
        mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, axum::Error>>,
    ) -> Body {
        let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        Body::new(http_body_util::StreamBody::new(stream))
    }
}
