//! A joined or watched channel, as the application holds it.

use rollcall_core::{ChannelName, ClientId};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

use crate::driver::ChannelParts;
use crate::error::{Error, Result};
use crate::event::ChannelEvent;
use crate::handle::{Handle, decode_result};
use crate::member::{Member, MemberMap};
use crate::receipt::{Invited, PublishAck, PublishOptions, Published, Updated};
use crate::wire::Op;

/// A channel this client joined ([`Client::join`](crate::Client::join)) or watches
/// ([`Client::watch`](crate::Client::watch)).
///
/// The member view is kept exact locally: it starts from the server's snapshot and applies
/// every event in sequence-number order; a gap triggers a fresh member list, and so does every
/// reconnect. Dropping the handle leaves the channel (without waiting); [`Channel::leave`] does
/// the same and waits for the server.
pub struct Channel {
    name: ChannelName,
    presence: bool,
    generation: u64,
    members: watch::Receiver<MemberMap>,
    events: broadcast::Receiver<ChannelEvent>,
    handle: Handle,
    subscribed: bool,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("name", &self.name)
            .field("presence", &self.presence)
            .field("members", &self.members.borrow().len())
            .finish_non_exhaustive()
    }
}

fn new_message_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

impl Channel {
    pub(crate) fn new(
        name: ChannelName,
        presence: bool,
        mut parts: ChannelParts,
        handle: Handle,
    ) -> Self {
        // The caller sees the member list as it is now; "changed" means changed after this.
        parts.members.mark_unchanged();
        Self {
            name,
            presence,
            generation: parts.generation,
            members: parts.members,
            events: parts.events,
            handle,
            subscribed: true,
        }
    }

    /// The channel's name.
    #[must_use]
    pub fn name(&self) -> &ChannelName {
        &self.name
    }

    /// True when joined (a member), false when only watching.
    #[must_use]
    pub fn is_member(&self) -> bool {
        self.presence
    }

    /// The current members, sorted by client id.
    #[must_use]
    pub fn members(&self) -> Vec<Member> {
        self.members.borrow().values().cloned().collect()
    }

    /// How many members the channel has.
    #[must_use]
    pub fn member_count(&self) -> usize {
        self.members.borrow().len()
    }

    /// One member, if present.
    #[must_use]
    pub fn member(&self, client_id: &str) -> Option<Member> {
        let id = ClientId::parse(client_id).ok()?;
        self.members.borrow().get(&id).cloned()
    }

    /// Whether `client_id` is a member, by the local view (no round trip).
    #[must_use]
    pub fn is_present(&self, client_id: &str) -> bool {
        ClientId::parse(client_id).is_ok_and(|id| self.members.borrow().contains_key(&id))
    }

    /// Waits until the member view changes.
    ///
    /// # Errors
    /// [`Error::Closed`] when the channel is no longer subscribed.
    pub async fn members_changed(&mut self) -> Result<()> {
        self.members.changed().await.map_err(|_| Error::Closed)
    }

    /// The next event; `None` once the channel is no longer subscribed (left, refused after a
    /// reconnect, or the client closed). A reader that falls more than the configured capacity
    /// behind gets [`ChannelEvent::Lagged`] instead of the events it missed.
    pub async fn next_event(&mut self) -> Option<ChannelEvent> {
        match self.events.recv().await {
            Ok(event) => Some(event),
            Err(RecvError::Lagged(missed)) => Some(ChannelEvent::Lagged { missed }),
            Err(RecvError::Closed) => None,
        }
    }

    /// Replaces this member's data.
    ///
    /// # Errors
    /// [`Error::Server`] with `not_joined`, `invalid_data` or `data_too_large`, or a connection
    /// error. Sent again after a reconnect if the connection drops first (replacing is
    /// idempotent).
    pub async fn update(&self, data: Value) -> Result<Updated> {
        self.change(Some(data), None).await
    }

    /// Changes this member's data with a JSON merge patch (RFC 7396): keys in `patch` are set,
    /// `null` removes a key.
    ///
    /// # Errors
    /// As [`Channel::update`].
    pub async fn patch(&self, patch: Value) -> Result<Updated> {
        self.change(None, Some(patch)).await
    }

    async fn change(&self, data: Option<Value>, patch: Option<Value>) -> Result<Updated> {
        let op = Op::Update {
            channel: self.name.clone(),
            data,
            patch,
        };
        self.handle.query(op).await
    }

    /// Publishes a message to every subscriber (this connection included) and waits for the
    /// server's ack, sending it again with the same message id when an ack is late. The server
    /// and the receivers drop repeats of a message id, so the channel sees it once.
    ///
    /// # Errors
    /// [`Error::Timeout`] when no attempt was acknowledged, [`Error::Server`] with
    /// `not_subscribed`, `forbidden` or `message_too_large`, or a connection error.
    pub async fn publish(&self, data: Value) -> Result<Published> {
        self.publish_with(data, PublishOptions::default()).await
    }

    /// [`Channel::publish`] with options.
    ///
    /// # Errors
    /// As [`Channel::publish`].
    pub async fn publish_with(&self, data: Value, options: PublishOptions) -> Result<Published> {
        let message_id = options.message_id.unwrap_or_else(new_message_id);
        let settings = self.handle.options();
        let timeout = settings.publish_ack_timeout;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let op = Op::Publish {
                channel: self.name.clone(),
                data: data.clone(),
                echo: options.echo,
                message_id: message_id.clone(),
            };
            match self.handle.call(op, timeout).await {
                Ok(result) => {
                    let ack: PublishAck = decode_result(result)?;
                    return Ok(Published {
                        message_id,
                        seq: ack.seq,
                        duplicate: ack.duplicate,
                        attempts,
                    });
                }
                Err(Error::Timeout(_)) if attempts < settings.publish_attempts => {
                    tracing::debug!(channel = %self.name, %message_id, attempts, "publish ack late; sending again");
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Sends an ephemeral message (typing indicators, cursors) to the other subscribers: not
    /// sequenced, never stored, skipped for readers that are behind.
    ///
    /// # Errors
    /// [`Error::Server`] (`not_subscribed`, `forbidden`, `message_too_large`) or a connection
    /// error; not retried, since a late ephemeral message is worthless.
    pub async fn send_ephemeral(&self, data: Value) -> Result<()> {
        let op = Op::Ephemeral {
            channel: self.name.clone(),
            data,
            echo: false,
        };
        self.handle
            .call(op, self.handle.options().request_timeout)
            .await
            .map(drop)
    }

    /// Invites `client_id` to this channel. Its answer arrives as
    /// [`ClientEvent::InvitationReply`](crate::ClientEvent::InvitationReply).
    ///
    /// # Errors
    /// [`Error::InvalidClientId`], or [`Error::Server`] with `client_not_connected`,
    /// `too_many_invitations`, `forbidden` or `identity_required`.
    pub async fn invite(&self, client_id: &str, data: Option<Value>) -> Result<Invited> {
        let client_id = ClientId::parse(client_id).map_err(Error::InvalidClientId)?;
        let op = Op::Invite {
            channel: self.name.clone(),
            client_id,
            data,
        };
        self.handle.query(op).await
    }

    /// Leaves the channel and waits for the server to confirm. Other members see a leave event
    /// if this was the client's last connection in the channel.
    ///
    /// # Errors
    /// [`Error::Timeout`] or [`Error::Server`]; a closed client counts as left.
    pub async fn leave(mut self) -> Result<()> {
        self.subscribed = false;
        match self.handle.leave(self.name.clone(), self.generation).await {
            Err(Error::Closed) => Ok(()),
            other => other,
        }
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        if self.subscribed {
            self.handle.leave_later(self.name.clone(), self.generation);
        }
    }
}
