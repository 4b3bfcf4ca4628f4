//! Signed-in Pusher users, per app: which connections signed in as each user id, and which of
//! them subscribe to the user's `#server-to-user-{id}` channel. This is how `sendToUser` and
//! `terminate_connections` find their targets.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rollcall_core::{ClientId, ConnectionId};

use crate::outbound::Outbound;

#[derive(Debug)]
struct Entry {
    connection: ConnectionId,
    outbound: Arc<Outbound>,
    subscribed: bool,
}

/// One app's signed-in connections. Bounded by the number of connections, which is capped.
#[derive(Debug, Default)]
pub(crate) struct UserIndex {
    // One lock is enough: it is taken on sign-in, disconnect and per HTTP API call, never per
    // channel event.
    by_user: Mutex<HashMap<ClientId, Vec<Entry>>>,
}

impl UserIndex {
    /// Records that `connection` signed in as `user`.
    pub(crate) fn add(&self, user: &ClientId, connection: ConnectionId, outbound: &Arc<Outbound>) {
        self.by_user
            .lock()
            .entry(user.clone())
            .or_default()
            .push(Entry {
                connection,
                outbound: outbound.clone(),
                subscribed: false,
            });
    }

    /// Marks whether `connection` subscribes to `user`'s server-to-user channel.
    pub(crate) fn set_subscribed(&self, user: &ClientId, connection: ConnectionId, on: bool) {
        if let Some(list) = self.by_user.lock().get_mut(user) {
            for entry in list.iter_mut().filter(|e| e.connection == connection) {
                entry.subscribed = on;
            }
        }
    }

    /// Forgets `connection`.
    pub(crate) fn remove(&self, user: &ClientId, connection: ConnectionId) {
        let mut map = self.by_user.lock();
        if let Some(list) = map.get_mut(user) {
            list.retain(|e| e.connection != connection);
            if list.is_empty() {
                map.remove(user);
            }
        }
    }

    /// The queues of `user`'s connections; only those subscribing to its server-to-user channel
    /// when `subscribed_only`, and never `skip`.
    pub(crate) fn connections(
        &self,
        user: &ClientId,
        subscribed_only: bool,
        skip: Option<ConnectionId>,
    ) -> Vec<Arc<Outbound>> {
        self.by_user
            .lock()
            .get(user)
            .map(|list| {
                list.iter()
                    .filter(|e| (e.subscribed || !subscribed_only) && Some(e.connection) != skip)
                    .map(|e| e.outbound.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}
