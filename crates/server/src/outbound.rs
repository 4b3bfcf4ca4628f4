//! A connection's outbound queue, bounded in bytes.
//!
//! Everything a connection is sent (acks, errors, events, pings, the final close) goes through
//! this one queue, so the order in which the hub pushes is the order the client reads. The hub
//! pushes with a short, non-blocking call while holding a channel lock; the connection's own
//! task takes the queue in batches and does the slow socket work outside any lock
//! (`websocket::Socket`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Context;
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use rollcall_proto::{CloseCode, ErrorCode, ServerMessage};
use tokio::sync::Notify;

use crate::telemetry::WriterMetrics;

/// One frame waiting to be written.
#[derive(Debug, Clone)]
pub(crate) enum Frame {
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
    /// Bytes of the queued frames that count toward the slow-consumer limit: all but replies.
    bytes: usize,
    closing: bool,
    /// When the oldest frame in `frames` was pushed: the start of the batch's queue delay.
    /// Stamped only when a frame lands in an empty queue, so a busy queue reads no clock.
    oldest: Option<Instant>,
    /// The close frame queued, once one is: how the server ended the connection.
    close: Option<(u16, &'static str)>,
}

/// Frames taken from the queue together, to be written with as few system calls as possible.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) frames: VecDeque<Frame>,
    /// When the oldest of them was pushed.
    pub(crate) oldest: Option<Instant>,
}

/// The sending half of a connection, shared by the session and every channel it subscribes to.
#[derive(Debug)]
pub struct Outbound {
    state: Mutex<State>,
    /// The connection's task, woken by every push (one atomic operation when nothing is registered).
    writer: AtomicWaker,
    closing: Notify,
    max_bytes: usize,
    /// Bytes of the queued replies (see [`Self::push_reply`]). Changed under the state's lock,
    /// read without it by the connection's task before each message it reads.
    reply_bytes: AtomicUsize,
    overflow: Overflow,
    /// Set once the connection is admitted to an app (refused connections count nothing).
    metrics: OnceLock<WriterMetrics>,
}

impl Outbound {
    /// A queue that accepts events while it holds less than `max_bytes` of them, so it never
    /// holds more than `max_bytes` plus one frame of events; frames themselves are bounded by
    /// the input limits. Replies to the client's own requests are bounded separately (see
    /// [`Self::push_reply`]).
    #[must_use]
    pub fn new(max_bytes: usize) -> Arc<Self> {
        Self::with_overflow(max_bytes, Overflow::native())
    }

    /// Like [`Self::new`], with what to send when the queue overflows.
    #[must_use]
    pub fn with_overflow(max_bytes: usize, overflow: Overflow) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            writer: AtomicWaker::new(),
            closing: Notify::new(),
            max_bytes,
            reply_bytes: AtomicUsize::new(0),
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

    /// Queues an event: any text frame but a reply to the client's own request. A client whose
    /// queue is full of events is disconnected as a slow consumer (native close 4009, Pusher
    /// 4100): its queue is dropped so its memory is freed at once.
    pub fn push(&self, text: &Utf8Bytes) {
        self.queue(text, false);
    }

    /// Queues a reply to the client's own request (an ack, a member list). Replies do not count
    /// toward the slow-consumer limit: a member list is as large as its channel, a few MB for
    /// thousands of members, and counting it would close a client that is keeping up whenever
    /// an event arrived before its task took the list. They are bounded instead by the
    /// connection reading no further request while earlier replies wait (see
    /// [`Self::replies_waiting`]).
    pub fn push_reply(&self, text: &Utf8Bytes) {
        self.queue(text, true);
    }

    fn queue(&self, text: &Utf8Bytes, reply: bool) {
        let mut state = self.state.lock();
        if state.closing {
            return;
        }
        let overflow = !reply && state.bytes >= self.max_bytes;
        if overflow {
            state.frames.clear();
            state.bytes = 0;
            self.reply_bytes.store(0, Ordering::Relaxed);
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
            if reply {
                self.reply_bytes.fetch_add(text.len(), Ordering::Relaxed);
            } else {
                state.bytes += text.len();
            }
            state.frames.push_back(Frame::Text(text.clone()));
        }
        drop(state);
        self.writer.wake();
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
        self.writer.wake();
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
        self.writer.wake();
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

    /// Bytes of replies queued and not yet taken by the connection's task. The connection reads
    /// no further request while this is over its limit for unwritten replies, so a client that
    /// sends requests without reading the answers is slowed down, not given memory.
    pub(crate) fn replies_waiting(&self) -> usize {
        self.reply_bytes.load(Ordering::Relaxed)
    }

    /// Takes every queued frame, with when the oldest of them was pushed; or, if there is none,
    /// arranges for `cx` to be woken when there is.
    pub(crate) fn poll_batch(&self, cx: &Context<'_>) -> Option<Batch> {
        // Registered before looking, so a push between the look and the return still wakes.
        self.writer.register(cx.waker());
        let mut state = self.state.lock();
        if state.frames.is_empty() {
            return None;
        }
        state.bytes = 0;
        self.reply_bytes.store(0, Ordering::Relaxed);
        Some(Batch {
            frames: std::mem::take(&mut state.frames),
            oldest: state.oldest.take(),
        })
    }

    /// Counts a written batch of `texts` text frames and `bytes` bytes.
    pub(crate) fn wrote(&self, texts: u64, bytes: u64, oldest: Option<Instant>) {
        if let Some(metrics) = self.metrics.get() {
            metrics.wrote(texts, bytes, oldest.map(|at| at.elapsed()));
        }
    }

    #[cfg(test)]
    fn take(&self) -> VecDeque<Frame> {
        let mut state = self.state.lock();
        state.bytes = 0;
        self.reply_bytes.store(0, Ordering::Relaxed);
        std::mem::take(&mut state.frames)
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

    /// Records that the socket failed: nothing more is queued, and what was is dropped.
    pub(crate) fn mark_stopped(&self) {
        let mut state = self.state.lock();
        state.closing = true;
        state.frames.clear();
        state.bytes = 0;
        self.reply_bytes.store(0, Ordering::Relaxed);
        drop(state);
        self.closing.notify_waiters();
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
    fn replies_do_not_count_toward_the_slow_consumer_limit() {
        let out = Outbound::new(10);
        out.push_reply(&Utf8Bytes::from("a member list far over the limit"));
        out.push(&Utf8Bytes::from("12345678"));
        out.push(&Utf8Bytes::from("12345"));
        assert!(!out.is_closing(), "the reply is not counted");
        assert_eq!(out.replies_waiting(), 32);
        out.push(&Utf8Bytes::from("1"));
        assert!(out.is_closing(), "events still are");
        assert_eq!(
            out.replies_waiting(),
            0,
            "an overflow drops the queue, replies too"
        );
    }

    #[test]
    fn taking_the_queue_clears_the_reply_count() {
        let out = Outbound::new(10);
        out.push_reply(&Utf8Bytes::from("ack"));
        assert_eq!(out.replies_waiting(), 3);
        assert_eq!(out.take_texts(), ["ack"]);
        assert_eq!(out.replies_waiting(), 0);
    }

    #[test]
    fn lossy_pushes_are_dropped_past_half_full() {
        let out = Outbound::new(10);
        assert!(out.push_lossy(&Utf8Bytes::from("123456")));
        assert!(!out.push_lossy(&Utf8Bytes::from("1")));
        assert!(!out.is_closing());
    }
}
