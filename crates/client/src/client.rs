//! The client handle: connecting, subscribing, querying, observing the connection.

use std::sync::Arc;

use rollcall_core::{ChannelName, ClientId};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

use crate::channel::Channel;
use crate::driver::{Driver, Mode, handshake};
use crate::error::{Error, Result};
use crate::event::ClientEvent;
use crate::handle::Handle;
use crate::member::{Member, MemberList};
use crate::options::ConnectOptions;
use crate::receipt::{MemberAck, PresenceAck};
use crate::session::{ConnectionState, Session};
use crate::transport::{Connector, WsConnector};
use crate::wire::Op;

/// A connection to a rollcall server, kept alive across network failures.
///
/// Cheap to clone: clones share one connection. The connection closes when
/// [`Client::close`] is called, or when every clone and every [`Channel`] is dropped.
pub struct Client {
    handle: Handle,
    state: watch::Receiver<ConnectionState>,
    session: watch::Receiver<Session>,
    events: broadcast::Receiver<ClientEvent>,
}

impl Clone for Client {
    fn clone(&self) -> Self {
        Self {
            handle: self.handle.clone(),
            state: self.state.clone(),
            session: self.session.clone(),
            events: self.events.resubscribe(),
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("state", &*self.state.borrow())
            .field("connection_id", &self.session.borrow().connection_id)
            .finish_non_exhaustive()
    }
}

fn channel_name(name: &str) -> Result<ChannelName> {
    ChannelName::parse(name).map_err(Error::InvalidChannel)
}

impl Client {
    /// Connects to `url` (for example `ws://127.0.0.1:7070/ws`) and waits for the session.
    /// The first connection is tried once, so a wrong URL or token fails here; once connected,
    /// the client reconnects by itself as `options.reconnect` says.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`], [`Error::Unreachable`] or [`Error::Rejected`] (with the server's
    /// code: `invalid_token`, `token_expired`, `anonymous_not_allowed`, `unknown_app`, …).
    pub async fn connect(url: &str, options: ConnectOptions) -> Result<Self> {
        let (full, shown) = crate::endpoint::build(url, &options)?;
        Self::start(WsConnector::new(full, shown), options).await
    }

    pub(crate) async fn start<C: Connector>(connector: C, options: ConnectOptions) -> Result<Self> {
        let options = Arc::new(options);
        let (link, session) = handshake(&connector, options.connect_timeout)
            .await
            .map_err(|e| e.into_error(connector.endpoint()))?;
        let (driver, wiring) = Driver::new(Arc::new(connector), options.clone(), session);
        tokio::spawn(driver.run(link));
        Ok(Self {
            handle: Handle::new(wiring.commands, options),
            state: wiring.state,
            session: wiring.session,
            events: wiring.client_events,
        })
    }

    /// The connection's current state.
    #[must_use]
    pub fn state(&self) -> ConnectionState {
        self.state.borrow().clone()
    }

    /// A receiver of state changes: `changed().await`, then `borrow()`.
    #[must_use]
    pub fn state_changes(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    /// The latest session (it is renewed, with a new connection id, on every reconnect).
    #[must_use]
    pub fn session(&self) -> Session {
        self.session.borrow().clone()
    }

    /// A new receiver of client-level events: invitations, replies to this client's
    /// invitations, and server errors that answer no request. It sees events from now on.
    #[must_use]
    pub fn events(&self) -> ClientEvents {
        ClientEvents {
            events: self.events.resubscribe(),
        }
    }

    /// Joins `channel` (subscribes and enters its presence) with member `data`, a JSON object,
    /// or `Value::Null` to keep the data another device of this client joined with. After a
    /// reconnect the channel is joined again with the latest data.
    ///
    /// # Errors
    /// [`Error::InvalidChannel`], [`Error::AlreadySubscribed`], or [`Error::Server`] with
    /// `identity_required`, `forbidden`, `invalid_data`, `data_too_large`, `channel_full`,
    /// `too_many_channels`.
    pub async fn join(&self, channel: &str, data: Value) -> Result<Channel> {
        let data = (!data.is_null()).then_some(data);
        self.handle
            .subscribe(channel_name(channel)?, Mode::Join { data }, None)
            .await
    }

    /// Watches `channel`: its member view and events, without entering its presence.
    ///
    /// # Errors
    /// As [`Client::join`].
    pub async fn watch(&self, channel: &str) -> Result<Channel> {
        self.handle
            .subscribe(channel_name(channel)?, Mode::Watch, None)
            .await
    }

    /// Asks the server for a channel's members; no subscription needed.
    ///
    /// # Errors
    /// [`Error::InvalidChannel`], [`Error::Server`] (`forbidden`), or a connection error.
    pub async fn members(&self, channel: &str) -> Result<MemberList> {
        let op = Op::Members {
            channel: channel_name(channel)?,
            client_id: None,
        };
        let mut list: MemberList = self.handle.query(op).await?;
        list.members.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(list)
    }

    /// Asks the server for one member of a channel.
    ///
    /// # Errors
    /// As [`Client::members`], and [`Error::InvalidClientId`].
    pub async fn member(&self, channel: &str, client_id: &str) -> Result<Option<Member>> {
        let op = Op::Members {
            channel: channel_name(channel)?,
            client_id: Some(ClientId::parse(client_id).map_err(Error::InvalidClientId)?),
        };
        let ack: MemberAck = self.handle.query(op).await?;
        Ok(ack.member)
    }

    /// Asks the server whether `client_id` is a member of `channel`.
    ///
    /// # Errors
    /// As [`Client::member`].
    pub async fn is_present(&self, channel: &str, client_id: &str) -> Result<bool> {
        let op = Op::IsPresent {
            channel: channel_name(channel)?,
            client_id: ClientId::parse(client_id).map_err(Error::InvalidClientId)?,
        };
        let ack: PresenceAck = self.handle.query(op).await?;
        Ok(ack.present)
    }

    /// Closes the connection (the server sees every channel left at once) and stops
    /// reconnecting. Every handle of this client fails with [`Error::Closed`] afterwards.
    pub async fn close(&self) {
        self.handle.close().await;
    }
}

/// Client-level events, from [`Client::events`].
#[derive(Debug)]
pub struct ClientEvents {
    events: broadcast::Receiver<ClientEvent>,
}

impl ClientEvents {
    /// The next event; `None` once the client is closed.
    pub async fn next(&mut self) -> Option<ClientEvent> {
        match self.events.recv().await {
            Ok(event) => Some(event),
            Err(RecvError::Lagged(missed)) => Some(ClientEvent::Lagged { missed }),
            Err(RecvError::Closed) => None,
        }
    }
}
