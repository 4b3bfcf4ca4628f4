//! What handles ask the driver to do.

use rollcall_core::ChannelName;
use tokio::sync::oneshot;

use super::channel::{ChannelState, Mode, SubscribeReply};
use super::pending::{CallReply, LeaveReply, Waiting};
use super::{Broken, Driver, send};
use crate::error::Error;
use crate::transport::Connector;
use crate::wire::Op;

/// How many calls made without a connection are kept before abandoned ones are swept.
const OUTBOX_SWEEP: usize = 1024;

pub(crate) enum Command {
    /// Join or watch a channel (or accept an invitation to it).
    Subscribe {
        channel: ChannelName,
        mode: Mode,
        /// The invitation being accepted, if that is how the channel is joined.
        invitation: Option<String>,
        reply: SubscribeReply,
    },
    /// Leave a channel, if `generation` is still the current subscription.
    Leave {
        channel: ChannelName,
        generation: u64,
        reply: LeaveReply,
    },
    /// Any other request.
    Call { op: Op, reply: CallReply },
    /// Close the client.
    Close { reply: oneshot::Sender<()> },
}

/// What the driver does after a command.
pub(super) enum Flow {
    Continue,
    Lost,
    Close(oneshot::Sender<()>),
}

impl From<Result<(), Broken>> for Flow {
    fn from(result: Result<(), Broken>) -> Self {
        match result {
            Ok(()) => Self::Continue,
            Err(Broken) => Self::Lost,
        }
    }
}

impl<C: Connector> Driver<C> {
    /// Carries out `command`, on `link` when connected.
    pub(super) async fn on_command(
        &mut self,
        command: Command,
        link: Option<&mut C::Transport>,
    ) -> Flow {
        match command {
            Command::Subscribe {
                channel,
                mode,
                invitation,
                reply,
            } => {
                if self.channels.contains_key(&channel) {
                    let _ = reply.send(Err(Error::AlreadySubscribed(channel)));
                    return Flow::Continue;
                }
                self.generations += 1;
                let state = ChannelState::new(
                    channel.clone(),
                    self.generations,
                    mode,
                    self.options.event_capacity,
                    reply,
                );
                self.channels.insert(channel.clone(), state);
                match link {
                    // Without a connection the channel is subscribed by the next re-join, with a
                    // plain join: an invitation accepted meanwhile is not answered as such.
                    None => Flow::Continue,
                    Some(link) => self.subscribe(link, &channel, invitation).await.into(),
                }
            }
            Command::Leave {
                channel,
                generation,
                reply,
            } => {
                let current = self
                    .channels
                    .get(&channel)
                    .is_some_and(|c| c.generation == generation);
                let subscribed = current
                    && self
                        .channels
                        .remove(&channel)
                        .is_some_and(|c| c.is_subscribed());
                match link {
                    Some(link) if subscribed => {
                        let id = self.pending.register(Waiting::Leave { reply });
                        send(link, Some(id), &Op::Leave { channel }).await.into()
                    }
                    _ => {
                        if let Some(reply) = reply {
                            let _ = reply.send(Ok(()));
                        }
                        Flow::Continue
                    }
                }
            }
            Command::Call { op, reply } => match link {
                Some(link) => {
                    let id = self.pending.register(Waiting::Call {
                        op: op.clone(),
                        reply,
                    });
                    send(link, Some(id), &op).await.into()
                }
                None => {
                    let outbox = &mut self.pending.outbox;
                    if outbox.len() >= OUTBOX_SWEEP {
                        outbox.retain(|(_, reply)| !reply.is_closed());
                    }
                    outbox.push_back((op, reply));
                    Flow::Continue
                }
            },
            Command::Close { reply } => Flow::Close(reply),
        }
    }
}
