//! Requests waiting for their answer, correlated by id, and calls waiting for a connection.

use std::collections::{HashMap, VecDeque};

use rollcall_core::ChannelName;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::error::Error;
use crate::wire::Op;

pub(crate) type CallReply = oneshot::Sender<Result<Option<Value>, Error>>;
pub(crate) type LeaveReply = Option<oneshot::Sender<Result<(), Error>>>;

/// What an answer is for.
pub(crate) enum Waiting {
    /// A join, watch or accepted invitation: the answer subscribes the channel.
    Subscribe {
        channel: ChannelName,
        generation: u64,
    },
    /// A `members` request after a sequence gap.
    Resync {
        channel: ChannelName,
        generation: u64,
    },
    /// A leave.
    Leave { reply: LeaveReply },
    /// Any other request from the application.
    Call { op: Op, reply: CallReply },
}

/// Calls made while there was no connection, in the order they were made.
pub(crate) type Outbox = VecDeque<(Op, CallReply)>;

#[derive(Default)]
pub(crate) struct Pending {
    next_id: u64,
    waiting: HashMap<u64, Waiting>,
    pub(crate) outbox: Outbox,
}

impl Pending {
    /// Registers a request about to be sent and returns its id.
    pub(crate) fn register(&mut self, waiting: Waiting) -> u64 {
        self.next_id += 1;
        // Callers that gave up leave entries whose answers may never come (a server that stays
        // silent); sweeping them when the table grows keeps it bounded by live callers.
        if self.waiting.len() >= 1024 {
            self.waiting.retain(|_, w| !abandoned(w));
        }
        self.waiting.insert(self.next_id, waiting);
        self.next_id
    }

    /// Removes and returns what `id` was for.
    pub(crate) fn take(&mut self, id: u64) -> Option<Waiting> {
        self.waiting.remove(&id)
    }

    /// The connection is gone: leaves are moot (a new connection starts unsubscribed),
    /// subscriptions and resyncs are redone by the re-join, idempotent calls go back to the
    /// front of the outbox in their original order, and the rest fail.
    pub(crate) fn connection_lost(&mut self) {
        let mut ids: Vec<u64> = self.waiting.keys().copied().collect();
        ids.sort_unstable();
        let mut retry = Vec::new();
        for id in ids {
            match self.waiting.remove(&id) {
                Some(Waiting::Leave { reply: Some(reply) }) => {
                    let _ = reply.send(Ok(()));
                }
                Some(Waiting::Call { op, reply }) if op.is_idempotent() => retry.push((op, reply)),
                Some(Waiting::Call { reply, .. }) => {
                    let _ = reply.send(Err(Error::Disconnected));
                }
                _ => {}
            }
        }
        for call in retry.into_iter().rev() {
            self.outbox.push_front(call);
        }
    }

    /// The client is closing: everyone waiting learns it.
    pub(crate) fn close(&mut self) {
        for (_, waiting) in self.waiting.drain() {
            match waiting {
                Waiting::Leave { reply: Some(reply) } => {
                    let _ = reply.send(Ok(()));
                }
                Waiting::Call { reply, .. } => {
                    let _ = reply.send(Err(Error::Closed));
                }
                _ => {}
            }
        }
        for (_, reply) in self.outbox.drain(..) {
            let _ = reply.send(Err(Error::Closed));
        }
    }
}

fn abandoned(waiting: &Waiting) -> bool {
    match waiting {
        Waiting::Call { reply, .. } => reply.is_closed(),
        Waiting::Leave { reply } => reply.as_ref().is_none_or(oneshot::Sender::is_closed),
        Waiting::Subscribe { .. } | Waiting::Resync { .. } => false,
    }
}
