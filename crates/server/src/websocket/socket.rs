//! One WebSocket connection's I/O, driven by the connection's own task: it reads the client's
//! frames and writes the connection's outbound queue.
//!
//! No buffer outlives the moment it is needed. Reads go through a buffer on the stack, and a
//! partly received frame is the only thing kept between reads. A lone frame is written
//! straight from the shared, encoded event (header and payload in one `writev`); only a batch,
//! or what the kernel did not take, is copied into a buffer, freed once written. An idle
//! connection therefore holds no buffer at all (docs/benchmarks.md).

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use rollcall_proto::CloseCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::frame::{self, Decoder, Incoming, Violation, opcode};
use crate::outbound::{Batch, Frame, Outbound};

/// Bytes read from the socket per system call, into a stack buffer.
const READ_CHUNK: usize = 4096;

/// Replies may pile up to this many unwritten bytes: frames the connection answers by itself
/// (pongs, the echo endpoint's echoes), and replies to requests waiting in the outbound queue.
/// Past it the client is not read until they are written, so a client that sends without
/// reading cannot grow the server's memory.
const MAX_UNWRITTEN_REPLIES: usize = 64 * 1024;

/// How long closing may take: writing what is queued and the close frame, then waiting for the
/// client to close its side. Without a bound, a vanished peer would hold the task until TCP
/// gives up (minutes).
const CLOSE_DEADLINE: Duration = Duration::from_secs(2);

/// What a failed read means for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadFailure {
    /// The peer went away (reset, EOF without close, a failed write): nothing can be sent.
    Gone,
    /// The peer broke the WebSocket protocol; close with this code.
    Violation(CloseCode),
}

impl From<Violation> for ReadFailure {
    fn from(violation: Violation) -> Self {
        Self::Violation(match violation {
            Violation::Protocol => CloseCode::ProtocolError,
            Violation::InvalidUtf8 => CloseCode::InvalidPayload,
            Violation::TooBig => CloseCode::MessageTooBig,
        })
    }
}

/// A server-side WebSocket connection over the byte stream `S`.
#[derive(Debug)]
pub(crate) struct Socket<S> {
    io: S,
    decoder: Decoder,
    /// Encoded frames not yet written, whole frames only: anything appended starts on a frame
    /// boundary.
    unwritten: Vec<u8>,
    /// How much of `unwritten` the kernel has taken.
    written: usize,
    /// A close frame is in `unwritten` (or written): nothing is sent after it.
    close_queued: bool,
    /// A write failed: the connection is gone.
    broken: bool,
    /// The client's close frame, EOF or a protocol violation ended reading.
    read_done: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Socket<S> {
    /// A connection refusing messages over `max_message_bytes` (close 1009).
    pub(crate) fn new(io: S, max_message_bytes: usize) -> Self {
        Self {
            io,
            decoder: Decoder::new(max_message_bytes),
            unwritten: Vec::new(),
            written: 0,
            close_queued: false,
            broken: false,
            read_done: false,
        }
    }

    /// Writes what `outbound` holds, in the background of waiting for the client's next
    /// message. Pings are answered here, and returned too. Cancel-safe: every partial state
    /// lives in `self`.
    pub(crate) async fn next(&mut self, outbound: &Outbound) -> Result<Incoming, ReadFailure> {
        poll_fn(|cx| {
            if self.poll_send(cx, outbound).is_ready() && self.broken {
                return Poll::Ready(Err(ReadFailure::Gone));
            }
            // Replies still queued mean the socket is not taking them (the send above would
            // have): the next request waits, woken when the socket can be written again.
            if outbound.replies_waiting() > MAX_UNWRITTEN_REPLIES {
                return Poll::Pending;
            }
            self.poll_receive(cx)
        })
        .await
    }

    /// Writes what `outbound` holds until `work` completes, so a slow request (one waiting on
    /// Redis, say) does not hold up what the connection is sent meanwhile.
    pub(crate) async fn send_while<T>(
        &mut self,
        outbound: &Outbound,
        work: impl Future<Output = T>,
    ) -> T {
        let mut work = std::pin::pin!(work);
        poll_fn(|cx| {
            if let Poll::Ready(value) = work.as_mut().poll(cx) {
                return Poll::Ready(value);
            }
            let _ = self.poll_send(cx, outbound);
            Poll::Pending
        })
        .await
    }

    /// Queues a frame ahead of anything not yet taken from the outbound queue: for pongs and the
    /// echo endpoint, which answer the client directly.
    pub(crate) fn queue_reply(&mut self, opcode: u8, payload: &[u8]) {
        if !self.close_queued {
            frame::encode(&mut self.unwritten, opcode, payload);
        }
    }

    /// Ends the connection: writes what is queued, up to and including the close frame the
    /// session queued on `outbound`, then shuts the socket and waits for the client to close
    /// its side. Bounded by [`CLOSE_DEADLINE`] in all.
    pub(crate) async fn finish(mut self, outbound: &Outbound) {
        let _ = tokio::time::timeout(CLOSE_DEADLINE, async {
            poll_fn(|cx| {
                ready!(self.poll_send(cx, outbound));
                if self.broken {
                    return Poll::Ready(Err(()));
                }
                Pin::new(&mut self.io).poll_shutdown(cx).map_err(|_| ())
            })
            .await?;
            // Reading until EOF lets the client's close reply arrive before the socket is
            // dropped; dropping it with unread bytes would reset the connection instead.
            poll_fn(|cx| {
                loop {
                    let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
                    let mut buf = ReadBuf::uninit(&mut chunk);
                    match ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
                        Ok(()) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                        Ok(()) => {}
                        Err(_) => return Poll::Ready(Err(())),
                    }
                }
            })
            .await
        })
        .await;
    }

    /// Reads until the decoder has a message. Pings are answered here (the pong queued) and
    /// still returned: any frame shows the client is alive.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Result<Incoming, ReadFailure>> {
        loop {
            match self.decoder.next() {
                Err(violation) => {
                    self.read_done = true;
                    return Poll::Ready(Err(violation.into()));
                }
                Ok(Some(Incoming::Ping(payload))) => {
                    self.queue_reply(opcode::PONG, &payload);
                    let _ = self.poll_write_unwritten(cx);
                    return Poll::Ready(Ok(Incoming::Ping(payload)));
                }
                Ok(Some(message)) => {
                    if matches!(message, Incoming::Close(_)) {
                        self.read_done = true;
                    }
                    return Poll::Ready(Ok(message));
                }
                Ok(None) => {}
            }
            if self.read_done {
                return Poll::Pending;
            }
            if self.unwritten.len() - self.written > MAX_UNWRITTEN_REPLIES {
                // Woken by the pending write, which registered with the socket.
                return Poll::Pending;
            }
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut buf = ReadBuf::uninit(&mut chunk);
            match ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
                Ok(()) if !buf.filled().is_empty() => self.decoder.push(buf.filled()),
                // EOF without a close frame, or a reset.
                Ok(()) | Err(_) => {
                    self.read_done = true;
                    return Poll::Ready(Err(ReadFailure::Gone));
                }
            }
        }
    }

    /// Writes until everything queued is written (`Pending`, waiting for more frames), the close
    /// frame is written (`Ready`), or the socket fails (`Ready`, with `broken` set).
    fn poll_send(&mut self, cx: &mut Context<'_>, outbound: &Outbound) -> Poll<()> {
        loop {
            if self.broken {
                return Poll::Ready(());
            }
            if let Err(error) = ready!(self.poll_write_unwritten(cx)) {
                tracing::trace!(%error, "write failed");
                self.broken = true;
                outbound.mark_stopped();
                return Poll::Ready(());
            }
            if self.close_queued {
                return Poll::Ready(());
            }
            let Some(batch) = outbound.poll_batch(cx) else {
                return Poll::Pending;
            };
            if let Err(error) = self.write_batch(cx, batch, outbound) {
                tracing::trace!(%error, "write failed");
                self.broken = true;
                outbound.mark_stopped();
                return Poll::Ready(());
            }
        }
    }

    /// Writes a batch: a lone text frame straight from its shared bytes, anything else encoded
    /// into `unwritten` (written by the caller's next step). What the kernel does not take at
    /// once is kept in `unwritten`.
    fn write_batch(
        &mut self,
        cx: &mut Context<'_>,
        batch: Batch,
        outbound: &Outbound,
    ) -> io::Result<()> {
        if let (1, Some(Frame::Text(text))) = (batch.frames.len(), batch.frames.front())
            && self.unwritten.is_empty()
            && self.io.is_write_vectored()
        {
            let payload = text.as_str().as_bytes();
            let (header, used) = frame::header(opcode::TEXT, payload.len());
            let slices = [IoSlice::new(&header[..used]), IoSlice::new(payload)];
            let written = match Pin::new(&mut self.io).poll_write_vectored(cx, &slices) {
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(written)) => written,
                Poll::Ready(Err(error)) => return Err(error),
                Poll::Pending => 0,
            };
            if written < used {
                self.unwritten.extend_from_slice(&header[written..used]);
                self.unwritten.extend_from_slice(payload);
            } else {
                self.unwritten.extend_from_slice(&payload[written - used..]);
            }
            outbound.wrote(1, payload.len() as u64, batch.oldest);
            return Ok(());
        }
        let (mut texts, mut bytes) = (0u64, 0u64);
        for frame in batch.frames {
            match frame {
                Frame::Text(text) => {
                    texts += 1;
                    bytes += text.len() as u64;
                    frame::encode(&mut self.unwritten, opcode::TEXT, text.as_str().as_bytes());
                }
                Frame::Ping => frame::encode(&mut self.unwritten, opcode::PING, &[]),
                Frame::Close(code, reason) => {
                    let payload = frame::close_payload(code, reason);
                    frame::encode(&mut self.unwritten, opcode::CLOSE, &payload);
                    self.close_queued = true;
                    break;
                }
            }
        }
        outbound.wrote(texts, bytes, batch.oldest);
        Ok(())
    }

    /// Writes `unwritten` until the kernel has all of it, then frees it.
    fn poll_write_unwritten(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.unwritten.len() {
            let rest = &self.unwritten[self.written..];
            match ready!(Pin::new(&mut self.io).poll_write(cx, rest)) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.written += n,
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        if self.unwritten.capacity() > 0 {
            self.unwritten = Vec::new();
            self.written = 0;
        }
        Poll::Ready(Ok(()))
    }
}
