//! Invitations across nodes: who is connected where (counts per node in Redis), the pending
//! invitation itself (a Redis key that expires with it, deleted by the one answer that counts),
//! and the app's control channel on pub/sub, which carries invitations to the invitee's nodes
//! and replies to the inviter's node.

use axum::extract::ws::Utf8Bytes;
use redis::Value;
use rollcall_core::{ChannelName, ClientId};
use serde::{Deserialize, Serialize};

use super::wire::{int, text};
use super::{Cluster, scripts};
use crate::hub::HubError;
use crate::state::AppRuntime;

/// A message on an app's control channel.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum Control {
    /// Deliver `frame` (an `invitation`) to every local connection of `invitee`.
    Invitation {
        /// Who is invited.
        invitee: ClientId,
        /// The encoded `invitation` message.
        frame: String,
    },
    /// Deliver `frame` (an `invitation_reply`) to the inviter, if it is connected here.
    Reply {
        /// The invitation answered.
        invitation_id: String,
        /// The encoded `invitation_reply` message.
        frame: String,
    },
}

impl Cluster {
    /// The control channel of an app.
    pub(super) fn control_channel(&self, app: &str) -> String {
        format!("{}:ctl:{app}", self.prefix)
    }

    fn invitation_key(&self, app: &AppRuntime, id: &str) -> String {
        format!("{}:inv:{}:{id}", self.prefix, app.config.id.as_str())
    }

    /// Counts a connection of `client` on this node (`delta` +1 or -1).
    pub(crate) async fn count_client(&self, app: &AppRuntime, client: &ClientId, delta: i64) {
        let Ok(mut redis) = self.commands() else {
            return;
        };
        let result: redis::RedisResult<Value> = scripts::CLIENT
            .prepare_invoke()
            .arg(&self.prefix)
            .arg(app.config.id.as_str())
            .arg(client.as_str())
            .arg(self.node)
            .arg(delta)
            .arg("add")
            .invoke_async(&mut redis)
            .await;
        // A count lost to an outage is put right by the re-registration that follows it.
        if let Err(error) = result {
            self.failed(&error);
        }
    }

    /// Sets this node's connection counts again after Redis lost them.
    pub(super) async fn restore_clients(&self, app: &AppRuntime) -> redis::RedisResult<()> {
        let Ok(mut redis) = self.commands() else {
            return Ok(());
        };
        for (client, count) in app.clients.counts() {
            let _: Value = scripts::CLIENT
                .prepare_invoke()
                .arg(&self.prefix)
                .arg(app.config.id.as_str())
                .arg(client.as_str())
                .arg(self.node)
                .arg(count)
                .arg("set")
                .invoke_async(&mut redis)
                .await?;
        }
        Ok(())
    }

    /// How many connections `client` has open over every node.
    ///
    /// # Errors
    /// [`HubError::Unavailable`].
    pub(crate) async fn client_connections(
        &self,
        app: &AppRuntime,
        client: &ClientId,
    ) -> Result<usize, HubError> {
        let mut redis = self.commands()?;
        let total: Value = scripts::CLIENT_CONNECTIONS
            .prepare_invoke()
            .arg(&self.prefix)
            .arg(app.config.id.as_str())
            .arg(client.as_str())
            .invoke_async(&mut redis)
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(usize::try_from(int(&total)).unwrap_or(0))
    }

    /// Records a pending invitation for `ttl_ms` and sends it to the invitee's nodes.
    ///
    /// # Errors
    /// [`HubError::Unavailable`].
    pub(crate) async fn send_invitation(
        &self,
        app: &AppRuntime,
        id: &str,
        invitee: &ClientId,
        channel: &ChannelName,
        frame: &str,
        ttl_ms: u64,
    ) -> Result<(), HubError> {
        let mut redis = self.commands()?;
        let control = Control::Invitation {
            invitee: invitee.clone(),
            frame: frame.to_owned(),
        };
        let message = serde_json::to_string(&control).map_err(|_| HubError::Unavailable)?;
        let _: Value = redis::pipe()
            .cmd("SET")
            .arg(self.invitation_key(app, id))
            .arg(format!("{invitee}\n{channel}"))
            .arg("PX")
            .arg(ttl_ms.max(1))
            .cmd("PUBLISH")
            .arg(self.control_channel(app.config.id.as_str()))
            .arg(message)
            .query_async(&mut redis)
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(())
    }

    /// The channel of the pending invitation `id`, if it is addressed to `invitee`.
    ///
    /// # Errors
    /// [`HubError::Unavailable`].
    pub(crate) async fn find_invitation(
        &self,
        app: &AppRuntime,
        id: &str,
        invitee: &ClientId,
    ) -> Result<Option<ChannelName>, HubError> {
        let mut redis = self.commands()?;
        let stored: Value = redis::cmd("GET")
            .arg(self.invitation_key(app, id))
            .query_async(&mut redis)
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(text(&stored).and_then(|stored| {
            let (to, channel) = stored.split_once('\n')?;
            (to == invitee.as_str())
                .then(|| ChannelName::parse(channel).ok())
                .flatten()
        }))
    }

    /// Marks the invitation answered and sends `frame` to the inviter; `false` when another
    /// device answered first (or it expired), and nothing is sent.
    ///
    /// # Errors
    /// [`HubError::Unavailable`].
    pub(crate) async fn answer_invitation(
        &self,
        app: &AppRuntime,
        id: &str,
        frame: &str,
    ) -> Result<bool, HubError> {
        let mut redis = self.commands()?;
        let deleted: u64 = redis::cmd("DEL")
            .arg(self.invitation_key(app, id))
            .query_async(&mut redis)
            .await
            .map_err(|e| self.failed(&e))?;
        if deleted == 0 {
            return Ok(false);
        }
        let control = Control::Reply {
            invitation_id: id.to_owned(),
            frame: frame.to_owned(),
        };
        let message = serde_json::to_string(&control).map_err(|_| HubError::Unavailable)?;
        let _: i64 = redis::cmd("PUBLISH")
            .arg(self.control_channel(app.config.id.as_str()))
            .arg(message)
            .query_async(&mut redis)
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(true)
    }
}

/// Carries out a control message for `app` on this node.
pub(super) fn dispatch(app: &AppRuntime, payload: &[u8]) {
    let Ok(control) = serde_json::from_slice::<Control>(payload) else {
        tracing::warn!("ignoring a control message from Redis that does not parse");
        return;
    };
    match control {
        Control::Invitation { invitee, frame } => {
            let frame = Utf8Bytes::from(frame);
            for outbound in app.clients.connections(&invitee) {
                outbound.push(&frame);
            }
        }
        Control::Reply {
            invitation_id,
            frame,
        } => {
            if let Some(inviter) = app.invitations.take_inviter(&invitation_id) {
                inviter.push(&Utf8Bytes::from(frame));
            }
        }
    }
}
