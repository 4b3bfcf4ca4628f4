//! A connection's outbound queue, bounded in bytes, and the writer task that drains it.
//!
//! Everything a connection is sent (acks, errors, events, pings, the final close) goes through
//! this one queue, so the order in which the hub pushes is the order the client reads. The hub
//! pushes with a short, non-blocking call while holding a channel lock; the writer does the slow
//! socket work outside any lock.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::{Sink, SinkExt};
use parking_lot::Mutex;
use rollcall_proto::{CloseCode, ErrorCode, ServerMessage};
use tokio::sync::Notify;

use crate::telemetry::WriterMetrics;

/// How long the writer may spend delivering the final close frame to a client that does not
/// read. Without a bound, a vanished peer would hold the task until TCP gives up (minutes).
const CLOSE_DEADLINE: Duration = Duration::from_secs(2);

/// One frame waiting to be written.
#[derive(Debug, Clone)]
enum Frame {
    Text(Utf8Bytes),
    Ping,
    /// A close frame: the numeric code (each protocol has its own) and the reason text.
    Close(u16, &'static str),
}

/// What a connection is sent when its queue overflows: an explanation in its protocol's words,
/// then a close code from its protocol's range.
#[derive(Debug, Clone)]
pub struct Overflow {
    /// The last text frame.
    pub explanation: Utf8Bytes,
    /// The close code.
    pub code: u16,
    /// The close reason.
    pub reason: &'static str,
}

impl Overflow {
    /// The native protocol's: `error` `slow_consumer`, close 4009.
    #[must_use]
    pub fn native() -> Self {
        let explanation = ServerMessage::Error {
            id: None,
            code: ErrorCode::SlowConsumer,
            message: "your outbound queue overflowed: messages arrived faster than you read them",
        }
        .encode();
        Self {
            explanation: Utf8Bytes::from(explanation),
            code: CloseCode::SlowConsumer.code(),
            reason: "slow_consumer",
        }
    }
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Frame>,
    bytes: usize,
    closing: bool,
    /// When the oldest frame in `frames` was pushed: the start of the batch's queue delay.
    /// Stamped only when a frame lands in an empty queue, so a busy queue reads no clock.
    oldest: Option<Instant>,
    /// The close frame queued, once one is: how the server ended the connection.
    close: Option<(u16, &'static str)>,
}

/// The sending half of a connection, shared by the session and every channel it subscribes to.
#[derive(Debug)]
pub struct Outbound {
    state: Mutex<State>,
    wake: Notify,
    closing: Notify,
    max_bytes: usize,
    overflow: Overflow,
    /// Set once the connection is admitted to an app (refused connections count nothing).
    metrics: OnceLock<WriterMetrics>,
}

impl Outbound {
    /// A queue that accepts frames while it holds less than `max_bytes`, so it never holds more
    /// than `max_bytes` plus one frame. The slack of one frame is what lets a large snapshot reach
    /// a client that is keeping up; frames themselves are bounded by the input limits.
    #[must_use]
    pub fn new(max_bytes: usize) -> Arc<Self> {
        Self::with_overflow(max_bytes, Overflow::native())
    }

    /// Like [`Self::new`], with what to send when the queue overflows.
    #[must_use]
    pub fn with_overflow(max_bytes: usize, overflow: Overflow) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            closing: Notify::new(),
            max_bytes,
            overflow,
            metrics: OnceLock::new(),
        })
    }

    /// Starts counting the writer's batches, queue delays and an overflow, for the app and
    /// protocol of `metrics`. Later calls do nothing.
    pub(crate) fn attach_metrics(&self, metrics: WriterMetrics) {
        let _ = self.metrics.set(metrics);
    }

    /// The close frame the server queued (code, reason), if it queued one.
    #[must_use]
    pub(crate) fn close_frame(&self) -> Option<(u16, &'static str)> {
        self.state.lock().close
    }

    /// Queues a text frame. A client whose queue is full is disconnected as a slow consumer
    /// (native close 4009, Pusher 4100): its queue is dropped so its memory is freed at once.
    pub fn push(&self, text: &Utf8Bytes) {
        let mut state = self.state.lock();
        if state.closing {
            return;
        }
        let overflow = state.bytes >= self.max_bytes;
        if overflow {
            state.frames.clear();
            state.bytes = 0;
            state.closing = true;
            let overflow = &self.overflow;
            state
                .frames
                .push_back(Frame::Text(overflow.explanation.clone()));
            state
                .frames
                .push_back(Frame::Close(overflow.code, overflow.reason));
            state.close = Some((overflow.code, overflow.reason));
        } else {
            if state.frames.is_empty() {
                state.oldest = Some(Instant::now());
            }
            state.bytes += text.len();
            state.frames.push_back(Frame::Text(text.clone()));
        }
        drop(state);
        self.wake.notify_one();
        if overflow {
            self.closing.notify_waiters();
            if let Some(metrics) = self.metrics.get() {
                metrics.overflowed();
            }
        }
    }

    /// Queues a text frame only if the queue is less than half full; otherwise drops it. For
    /// ephemeral traffic (cursors, typing), where a lagging client is better served by skipping
    /// stale updates than by being disconnected.
    pub fn push_lossy(&self, text: &Utf8Bytes) -> bool {
        if self.state.lock().bytes * 2 > self.max_bytes {
            return false;
        }
        self.push(text);
        true
    }

    /// Queues a WebSocket ping.
    pub fn ping(&self) {
        let mut state = self.state.lock();
        if !state.closing {
            if state.frames.is_empty() {
                state.oldest = Some(Instant::now());
            }
            state.frames.push_back(Frame::Ping);
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Queues `last` (typically an error explaining why), then a close frame, and refuses
    /// everything after. Frames already queued are still delivered first.
    pub fn close(&self, last: Option<&Utf8Bytes>, code: CloseCode, reason: &'static str) {
        self.close_with(last, code.code(), reason);
    }

    /// [`Self::close`] with a numeric close code, for protocols other than the native one.
    pub fn close_with(&self, last: Option<&Utf8Bytes>, code: u16, reason: &'static str) {
        let mut state = self.state.lock();
        if state.closing {
            return;
        }
        state.closing = true;
        if let Some(text) = last {
            state.frames.push_back(Frame::Text(text.clone()));
        }
        state.frames.push_back(Frame::Close(code, reason));
        state.close = Some((code, reason));
        drop(state);
        self.wake.notify_one();
        self.closing.notify_waiters();
    }

    /// Whether the connection is closing (a close was queued or the writer stopped).
    #[must_use]
    pub fn is_closing(&self) -> bool {
        self.state.lock().closing
    }

    /// Resolves once the connection is closing: a close was queued (by the session, or by an
    /// overflow) or the writer stopped because the socket failed.
    pub async fn closing(&self) {
        let notified = self.closing.notified();
        if self.is_closing() {
            return;
        }
        notified.await;
    }

    /// Takes every queued frame, with when the oldest of them was pushed.
    fn take_batch(&self) -> (VecDeque<Frame>, Option<Instant>) {
        let mut state = self.state.lock();
        state.bytes = 0;
        (std::mem::take(&mut state.frames), state.oldest.take())
    }

    #[cfg(test)]
    fn take(&self) -> VecDeque<Frame> {
        self.take_batch().0
    }

    /// The text frames queued so far, taken out of the queue: for unit tests of what other
    /// modules push.
    #[cfg(test)]
    pub(crate) fn take_texts(&self) -> Vec<String> {
        self.take()
            .into_iter()
            .filter_map(|frame| match frame {
                Frame::Text(text) => Some(text.as_str().to_owned()),
                Frame::Ping | Frame::Close(..) => None,
            })
            .collect()
    }

    fn mark_stopped(&self) {
        let mut state = self.state.lock();
        state.closing = true;
        state.frames.clear();
        state.bytes = 0;
        drop(state);
        self.closing.notify_waiters();
    }

    /// Drains the queue into `sink` until a close frame is written or the socket fails. Frames
    /// are fed one by one and flushed once per wake-up, so a burst costs one syscall, not many.
    /// The session aborts this task if it is still stuck on a dead socket after cleaning up.
    pub async fn run_writer<S>(self: Arc<Self>, mut sink: S)
    where
        S: Sink<Message> + Unpin,
    {
        let metrics = || self.metrics.get();
        'run: loop {
            self.wake.notified().await;
            let (frames, oldest) = self.take_batch();
            // Counted locally and added once per batch: two atomic adds, not two per frame.
            let (mut texts, mut bytes) = (0u64, 0u64);
            for frame in frames {
                let message = match frame {
                    Frame::Text(text) => {
                        texts += 1;
                        bytes += text.len() as u64;
                        Message::Text(text)
                    }
                    Frame::Ping => Message::Ping(bytes::Bytes::new()),
                    Frame::Close(code, reason) => {
                        let close = Message::Close(Some(CloseFrame {
                            code,
                            reason: Utf8Bytes::from_static(reason),
                        }));
                        if let Some(metrics) = metrics() {
                            metrics.wrote(texts, bytes, None);
                        }
                        let _ = tokio::time::timeout(CLOSE_DEADLINE, async {
                            let _ = sink.send(close).await;
                            let _ = sink.close().await;
                        })
                        .await;
                        break 'run;
                    }
                };
                if sink.feed(message).await.is_err() {
                    break 'run;
                }
            }
            if sink.flush().await.is_err() {
                break;
            }
            if let Some(metrics) = metrics() {
                metrics.wrote(texts, bytes, oldest.map(|at| at.elapsed()));
            }
        }
        self.mark_stopped();
    }
}

/// Waits for a connection's writer to deliver its last frames (the close above all). A writer
/// stuck on a dead peer is cut off after [`CLOSE_DEADLINE`], so no task outlives its session
/// by more than that.
pub(crate) async fn finish_writer(writer: tokio::task::JoinHandle<()>) {
    let abort = writer.abort_handle();
    if tokio::time::timeout(CLOSE_DEADLINE, writer).await.is_err() {
        abort.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_replaces_the_queue_with_a_slow_consumer_close() {
        let out = Outbound::new(10);
        out.push(&Utf8Bytes::from("12345678"));
        out.push(&Utf8Bytes::from("12345"));
        assert!(!out.is_closing());
        out.push(&Utf8Bytes::from("1"));
        assert!(out.is_closing());
        let frames = out.take();
        assert_eq!(frames.len(), 2);
        assert!(matches!(&frames[0], Frame::Text(t) if t.contains("slow_consumer")));
        assert!(matches!(frames[1], Frame::Close(4009, _)));
    }

    #[test]
    fn one_oversized_frame_fits_a_queue_below_its_limit() {
        let out = Outbound::new(4);
        out.push(&Utf8Bytes::from("ok"));
        out.push(&Utf8Bytes::from("a large snapshot"));
        assert!(!out.is_closing());
    }

    #[test]
    fn lossy_pushes_are_dropped_past_half_full() {
        let out = Outbound::new(10);
        assert!(out.push_lossy(&Utf8Bytes::from("123456")));
        assert!(!out.push_lossy(&Utf8Bytes::from("1")));
        assert!(!out.is_closing());
    }
}
