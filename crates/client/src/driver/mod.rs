//! The background task behind a [`Client`](crate::Client): it owns the connection and every
//! piece of client state (channels, pending requests), so none of it needs a lock.
//!
//! Handles talk to it through a command queue. It serves one connection at a time; when the
//! connection is lost it fails or re-queues what was in flight, waits out the backoff while still
//! taking commands, connects again, re-subscribes every channel and reconciles their members.

mod channel;
mod commands;
mod dispatch;
mod handshake;
mod pending;
mod recent;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rollcall_core::ChannelName;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{Instant, sleep, sleep_until};

use channel::ChannelState;
pub(crate) use channel::{ChannelParts, Mode};
pub(crate) use commands::Command;
use commands::Flow;
pub(crate) use handshake::{HandshakeError, handshake};
use pending::{Pending, Waiting};

use crate::event::ClientEvent;
use crate::options::ConnectOptions;
use crate::session::{CloseReason, ConnectionState, Session};
use crate::transport::{Connector, Inbound, Transport};
use crate::wire::{Op, encode};

/// The ends of the driver's channels that the client handle keeps.
pub(crate) struct Wiring {
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) state: watch::Receiver<ConnectionState>,
    pub(crate) session: watch::Receiver<Session>,
    pub(crate) client_events: broadcast::Receiver<ClientEvent>,
}

pub(crate) struct Driver<C: Connector> {
    connector: Arc<C>,
    options: Arc<ConnectOptions>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// For invitations, which need to send commands later; weak, so that an invitation
    /// buffered in the event queue does not keep the client alive on its own.
    commands_weak: mpsc::WeakUnboundedSender<Command>,
    state: watch::Sender<ConnectionState>,
    session: watch::Sender<Session>,
    client_events: broadcast::Sender<ClientEvent>,
    channels: HashMap<ChannelName, ChannelState>,
    pending: Pending,
    generations: u64,
    /// How long a stopping server asked this client to wait before reconnecting: the first
    /// attempt after it waits that long instead of its backoff.
    reconnect_hint: Option<Duration>,
}

/// Why serving a connection stopped.
enum Ended {
    Lost,
    Closed(Option<oneshot::Sender<()>>),
}

/// The connection failed while sending.
pub(crate) struct Broken;

/// Why the driver stops for good, and who asked.
struct Stop {
    reason: CloseReason,
    reply: Option<oneshot::Sender<()>>,
}

async fn send<T: Transport>(link: &mut T, id: Option<u64>, op: &Op) -> Result<(), Broken> {
    link.send(encode(id, op)).await.map_err(|error| {
        tracing::debug!(%error, "send failed");
        Broken
    })
}

impl<C: Connector> Driver<C> {
    pub(crate) fn new(
        connector: Arc<C>,
        options: Arc<ConnectOptions>,
        session: Session,
    ) -> (Self, Wiring) {
        // Unbounded: every command but a dropped handle's leave has a caller awaiting it, so
        // the queue is bounded by the application's own concurrency; and a leave from `Drop`
        // must never be lost to a full queue.
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (state, state_rx) = watch::channel(ConnectionState::Connected);
        let (session, session_rx) = watch::channel(session);
        let (client_events, client_events_rx) = broadcast::channel(options.event_capacity.max(1));
        let driver = Self {
            connector,
            options,
            commands,
            commands_weak: commands_tx.downgrade(),
            state,
            session,
            client_events,
            channels: HashMap::new(),
            pending: Pending::default(),
            generations: 0,
            reconnect_hint: None,
        };
        let wiring = Wiring {
            commands: commands_tx,
            state: state_rx,
            session: session_rx,
            client_events: client_events_rx,
        };
        (driver, wiring)
    }

    /// Serves `link` and its successors until the client closes.
    pub(crate) async fn run(mut self, mut link: C::Transport) {
        let stop = loop {
            match self.serve(&mut link).await {
                Ended::Closed(reply) => {
                    link.close().await;
                    break Stop {
                        reason: CloseReason::ClientClosed,
                        reply,
                    };
                }
                Ended::Lost => {
                    drop(link);
                    self.connection_lost();
                    match self.reconnect().await {
                        Ok((next, session)) => {
                            self.session.send_replace(session);
                            link = next;
                        }
                        Err(stop) => break stop,
                    }
                }
            }
        };
        self.finish(stop);
    }

    async fn serve(&mut self, link: &mut C::Transport) -> Ended {
        self.state.send_replace(ConnectionState::Connected);
        if self.resubscribe(link).await.is_err() {
            return Ended::Lost;
        }
        let (keepalive, silence) = {
            let session = self.session.borrow();
            (session.keepalive_interval(), session.silence_timeout())
        };
        let mut last_heard = Instant::now();
        let mut next_ping = last_heard + keepalive;
        loop {
            // One timer: the earlier of the next keep-alive and the silence deadline.
            let deadline = next_ping.min(last_heard + silence);
            tokio::select! {
                command = self.commands.recv() => {
                    let Some(command) = command else { return Ended::Closed(None) };
                    match self.on_command(command, Some(link)).await {
                        Flow::Continue => {}
                        Flow::Lost => return Ended::Lost,
                        Flow::Close(reply) => return Ended::Closed(Some(reply)),
                    }
                }
                inbound = link.recv() => {
                    last_heard = Instant::now();
                    match inbound {
                        None => return Ended::Lost,
                        Some(Inbound::Alive) => {}
                        Some(Inbound::Text(text)) => {
                            if self.on_text(&text, link).await.is_err() {
                                return Ended::Lost;
                            }
                        }
                    }
                }
                () = sleep_until(deadline) => {
                    let now = Instant::now();
                    if now >= last_heard + silence {
                        tracing::debug!("no sign of life from the server; reconnecting");
                        return Ended::Lost;
                    }
                    if now >= next_ping {
                        if send(link, None, &Op::Ping).await.is_err() {
                            return Ended::Lost;
                        }
                        next_ping = now + keepalive;
                    }
                }
            }
        }
    }

    /// On a new connection: subscribes every channel again (with its latest data), then sends
    /// the calls made while there was no connection. The server handles requests in order, so
    /// those calls find their channels subscribed.
    async fn resubscribe(&mut self, link: &mut C::Transport) -> Result<(), Broken> {
        self.channels.retain(|_, channel| !channel.abandoned());
        let names: Vec<ChannelName> = self.channels.keys().cloned().collect();
        for name in names {
            self.subscribe(link, &name, None).await?;
        }
        while let Some((op, reply)) = self.pending.outbox.pop_front() {
            if reply.is_closed() {
                continue;
            }
            let id = self.pending.register(Waiting::Call {
                op: op.clone(),
                reply,
            });
            send(link, Some(id), &op).await?;
        }
        Ok(())
    }

    /// Sends the request that subscribes `name`: its join or watch, or the acceptance of the
    /// invitation it came from.
    async fn subscribe(
        &mut self,
        link: &mut C::Transport,
        name: &ChannelName,
        invitation: Option<String>,
    ) -> Result<(), Broken> {
        let Some(channel) = self.channels.get_mut(name) else {
            return Ok(());
        };
        let op = match (invitation, &channel.mode) {
            (Some(invitation_id), Mode::Join { data }) => Op::InviteReply {
                invitation_id,
                accept: true,
                data: data.clone(),
            },
            _ => channel.subscribe_op(),
        };
        channel.subscribing();
        let id = self.pending.register(Waiting::Subscribe {
            channel: name.clone(),
            generation: channel.generation,
        });
        send(link, Some(id), &op).await
    }

    fn connection_lost(&mut self) {
        for channel in self.channels.values_mut() {
            channel.disconnected();
        }
        self.pending.connection_lost();
    }

    /// Connects again, with backoff, taking commands all the while.
    async fn reconnect(&mut self) -> Result<(C::Transport, Session), Stop> {
        let backoff = self.options.reconnect.clone();
        let mut attempt = 0;
        loop {
            attempt += 1;
            if !backoff.allows(attempt) {
                return Err(Stop {
                    reason: CloseReason::GaveUp {
                        attempts: attempt - 1,
                    },
                    reply: None,
                });
            }
            // A stopping server spreads its clients' returns over a window; keep to it.
            let hinted = if attempt == 1 {
                self.reconnect_hint.take()
            } else {
                None
            };
            let retry_in = hinted.unwrap_or_else(|| backoff.delay(attempt, rand::random::<f64>()));
            self.state
                .send_replace(ConnectionState::Reconnecting { attempt, retry_in });
            self.take_commands_during(sleep(retry_in)).await?;
            self.state
                .send_replace(ConnectionState::Connecting { attempt });
            let connector = self.connector.clone();
            let timeout = self.options.connect_timeout;
            let outcome = self
                .take_commands_during(async move { handshake(&*connector, timeout).await })
                .await?;
            match outcome {
                Ok(connected) => return Ok(connected),
                Err(HandshakeError::Rejected(error)) if !handshake::retryable(error.code) => {
                    tracing::warn!(%error, "the server refused to reconnect this client");
                    return Err(Stop {
                        reason: CloseReason::Rejected(error),
                        reply: None,
                    });
                }
                Err(error) => tracing::debug!(?error, attempt, "reconnect attempt failed"),
            }
        }
    }

    /// Runs `work` to completion while handling commands as they come (without a connection).
    async fn take_commands_during<F: Future>(&mut self, work: F) -> Result<F::Output, Stop> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                output = &mut work => return Ok(output),
                command = self.commands.recv() => {
                    let Some(command) = command else {
                        return Err(Stop { reason: CloseReason::ClientClosed, reply: None });
                    };
                    if let Flow::Close(reply) = self.on_command(command, None).await {
                        return Err(Stop { reason: CloseReason::ClientClosed, reply: Some(reply) });
                    }
                }
            }
        }
    }

    fn finish(mut self, stop: Stop) {
        self.state
            .send_replace(ConnectionState::Closed(stop.reason));
        self.pending.close();
        for (_, channel) in self.channels.drain() {
            channel.closed();
        }
        // Commands still queued are dropped with their reply senders, which their callers read
        // as the client being closed.
        self.commands.close();
        if let Some(reply) = stop.reply {
            let _ = reply.send(());
        }
    }
}
