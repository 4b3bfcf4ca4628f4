//! Which connections each client id has, per app: how an invitation finds its invitee.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rollcall_core::{ClientId, ConnectionId};

use crate::outbound::Outbound;

type Connections = Vec<(ConnectionId, Arc<Outbound>)>;

/// The connections of every connected client id of one app. Its size is bounded by the number
/// of connections, which is capped.
#[derive(Debug, Default)]
pub struct ClientIndex {
    // One lock is enough here: it is taken on connect, disconnect and invite, never per event.
    by_client: Mutex<HashMap<ClientId, Connections>>,
}

impl ClientIndex {
    /// Records a connection of `client`.
    pub fn add(&self, client: &ClientId, connection: ConnectionId, outbound: &Arc<Outbound>) {
        self.by_client
            .lock()
            .entry(client.clone())
            .or_default()
            .push((connection, outbound.clone()));
    }

    /// Forgets a connection of `client`.
    pub fn remove(&self, client: &ClientId, connection: ConnectionId) {
        let mut map = self.by_client.lock();
        if let Some(list) = map.get_mut(client) {
            list.retain(|(id, _)| *id != connection);
            if list.is_empty() {
                map.remove(client);
            }
        }
    }

    /// The queues of every connection of `client`.
    #[must_use]
    pub fn connections(&self, client: &ClientId) -> Vec<Arc<Outbound>> {
        self.by_client
            .lock()
            .get(client)
            .map(|list| list.iter().map(|(_, o)| o.clone()).collect())
            .unwrap_or_default()
    }

    /// Every client with its number of connections.
    #[must_use]
    pub(crate) fn counts(&self) -> Vec<(ClientId, usize)> {
        self.by_client
            .lock()
            .iter()
            .map(|(client, list)| (client.clone(), list.len()))
            .collect()
    }
}
