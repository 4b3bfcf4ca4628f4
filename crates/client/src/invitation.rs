//! An invitation to join a channel, with the means to answer it.

use std::sync::Arc;

use rollcall_core::{ChannelName, ClientId, ConnectionId};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::channel::Channel;
use crate::driver::{Command, Mode};
use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::options::ConnectOptions;
use crate::wire::Op;

/// Someone invited this client to a channel. Arrives as
/// [`ClientEvent::Invitation`](crate::ClientEvent::Invitation); answer it once, from any of
/// this client's connections, before it expires.
#[derive(Clone)]
pub struct Invitation {
    /// The invitation's id.
    pub invitation_id: String,
    /// The channel.
    pub channel: ChannelName,
    /// Who invited.
    pub from: ClientId,
    /// The inviter's connection.
    pub from_connection_id: ConnectionId,
    /// The inviter's note, if any.
    pub data: Option<Value>,
    /// Server time of the invitation (Unix ms).
    pub ts: u64,
    /// When the invitation lapses (server time, Unix ms).
    pub expires_at: u64,
    commands: mpsc::WeakUnboundedSender<Command>,
    options: Arc<ConnectOptions>,
}

impl std::fmt::Debug for Invitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invitation")
            .field("invitation_id", &self.invitation_id)
            .field("channel", &self.channel)
            .field("from", &self.from)
            .field("data", &self.data)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Invitation {
    pub(crate) fn new(
        details: crate::wire::InvitationMessage,
        commands: mpsc::WeakUnboundedSender<Command>,
        options: Arc<ConnectOptions>,
    ) -> Self {
        Self {
            invitation_id: details.invitation_id,
            channel: details.channel,
            from: details.from,
            from_connection_id: details.from_connection_id,
            data: details.data,
            ts: details.ts,
            expires_at: details.expires_at,
            commands,
            options,
        }
    }

    fn handle(&self) -> Result<Handle> {
        let commands = self.commands.upgrade().ok_or(Error::Closed)?;
        Ok(Handle::new(commands, self.options.clone()))
    }

    /// Accepts: joins the channel with `data` (`Value::Null` for none) and returns it.
    ///
    /// # Errors
    /// [`Error::Server`] with `invitation_not_found` (answered, expired or unknown) or any join
    /// error; [`Error::AlreadySubscribed`] if this client is already in the channel.
    pub async fn accept(&self, data: Value) -> Result<Channel> {
        let data = (!data.is_null()).then_some(data);
        self.handle()?
            .subscribe(
                self.channel.clone(),
                Mode::Join { data },
                Some(self.invitation_id.clone()),
            )
            .await
    }

    /// Declines.
    ///
    /// # Errors
    /// [`Error::Server`] with `invitation_not_found`, or a connection error.
    pub async fn decline(&self) -> Result<()> {
        let op = Op::InviteReply {
            invitation_id: self.invitation_id.clone(),
            accept: false,
            data: None,
        };
        let handle = self.handle()?;
        handle
            .call(op, handle.options().request_timeout)
            .await
            .map(drop)
    }
}
