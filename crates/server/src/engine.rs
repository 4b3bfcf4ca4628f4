//! Where an app's commands go: straight to the hub on the memory engine, where one lock
//! decides and fans out, or through Redis on the Redis engine (`cluster`), where a script
//! decides and the hub fans out what comes back. Sessions and HTTP handlers call these and need
//! not know which engine runs.
//!
//! The Redis paths are boxed: their futures are large, and a session's future — allocated once
//! per connection and sized for its largest await — must stay as small as on the memory engine.

use rollcall_core::{ChannelName, ClientId, ConnectionId, DataError, MemberData};
use serde_json::value::RawValue;

use crate::hub::{ChannelInfo, HubError, HubTotals, JoinData, MemberPage, Publication, Requester};
use crate::state::AppRuntime;

impl AppRuntime {
    /// Subscribes and enters presence; see [`crate::hub::Hub::join`].
    ///
    /// # Errors
    /// [`HubError`].
    pub(crate) async fn join(
        &self,
        who: Requester<'_>,
        client: &ClientId,
        channel: &ChannelName,
        data: JoinData,
        max_members: Option<usize>,
        now: u64,
    ) -> Result<(), HubError> {
        match &self.cluster {
            Some(cluster) => {
                Box::pin(cluster.join(self, who, client, channel, data, max_members, now)).await
            }
            None => self.hub.join(who, client, channel, data, max_members, now),
        }
    }

    /// Subscribes without entering presence; see [`crate::hub::Hub::watch`].
    ///
    /// # Errors
    /// [`HubError`].
    pub(crate) async fn watch(
        &self,
        who: Requester<'_>,
        channel: &ChannelName,
        now: u64,
    ) -> Result<(), HubError> {
        match &self.cluster {
            Some(cluster) => Box::pin(cluster.watch(self, who, channel, now)).await,
            None => self.hub.watch(who, channel, now),
        }
    }

    /// Leaves presence and unsubscribes; see [`crate::hub::Hub::leave`]. `handing_off`: the
    /// server is shutting down and the client will reconnect elsewhere, so a shared engine
    /// keeps its presence entry until the node's lease runs out.
    ///
    /// # Errors
    /// [`HubError::NotSubscribed`].
    pub(crate) async fn leave(
        &self,
        who: Requester<'_>,
        channel: &ChannelName,
        handing_off: bool,
        now: u64,
    ) -> Result<(), HubError> {
        match &self.cluster {
            Some(cluster) => Box::pin(cluster.leave(self, who, channel, handing_off, now)).await,
            None => self.hub.leave(who, channel, now),
        }
    }

    /// Changes the member's data; see [`crate::hub::Hub::update`]. `change` may run more than
    /// once on a shared engine, when another device changed the data at the same time.
    ///
    /// # Errors
    /// [`HubError`].
    pub(crate) async fn update(
        &self,
        who: Requester<'_>,
        channel: &ChannelName,
        change: impl Fn(&MemberData) -> Result<MemberData, DataError>,
        now: u64,
    ) -> Result<(), HubError> {
        match &self.cluster {
            Some(cluster) => Box::pin(cluster.update(self, who, channel, change, now)).await,
            None => self.hub.update(who, channel, change, now),
        }
    }

    /// Acks with the member list or one member; see [`crate::hub::Hub::members`].
    ///
    /// # Errors
    /// [`HubError::Unavailable`] on a shared engine that cannot be reached.
    pub(crate) async fn members(
        &self,
        who: Requester<'_>,
        channel: &ChannelName,
        client: Option<&ClientId>,
    ) -> Result<(), HubError> {
        match &self.cluster {
            Some(cluster) => Box::pin(cluster.members(self, who, channel, client)).await,
            None => {
                self.hub.members(who, channel, client);
                Ok(())
            }
        }
    }

    /// Acks with whether `client` is present; see [`crate::hub::Hub::is_present`].
    ///
    /// # Errors
    /// [`HubError::Unavailable`] on a shared engine that cannot be reached.
    pub(crate) async fn is_present(
        &self,
        who: Requester<'_>,
        channel: &ChannelName,
        client: &ClientId,
    ) -> Result<(), HubError> {
        match &self.cluster {
            Some(cluster) => Box::pin(cluster.is_present(self, who, channel, client)).await,
            None => {
                self.hub.is_present(who, channel, client);
                Ok(())
            }
        }
    }

    /// Sends a sequenced message; see [`crate::hub::Hub::publish`].
    ///
    /// # Errors
    /// [`HubError`].
    pub(crate) async fn publish(
        &self,
        who: Requester<'_>,
        channel: &ChannelName,
        message: Publication<'_>,
        now: u64,
    ) -> Result<(), HubError> {
        match &self.cluster {
            Some(cluster) => Box::pin(cluster.publish(self, who, channel, message, now)).await,
            None => self.hub.publish(who, channel, message, now),
        }
    }

    /// Sends an unsequenced message; see [`crate::hub::Hub::ephemeral`].
    ///
    /// # Errors
    /// [`HubError`].
    pub(crate) async fn ephemeral(
        &self,
        who: Requester<'_>,
        channel: &ChannelName,
        data: &RawValue,
        echo: bool,
        now: u64,
    ) -> Result<(), HubError> {
        match &self.cluster {
            Some(cluster) => Box::pin(cluster.ephemeral(self, who, channel, data, echo, now)).await,
            None => self.hub.ephemeral(who, channel, data, echo, now),
        }
    }

    /// Sends an HTTP API event; see [`crate::hub::Hub::trigger`].
    ///
    /// # Errors
    /// [`HubError::Unavailable`] on a shared engine that cannot be reached.
    pub(crate) async fn trigger(
        &self,
        channel: &ChannelName,
        payload: &RawValue,
        skip: Option<ConnectionId>,
        now: u64,
    ) -> Result<(), HubError> {
        match &self.cluster {
            Some(cluster) => cluster.trigger(self, channel, payload, skip, now).await,
            None => {
                self.hub.trigger(channel, payload, skip, now);
                Ok(())
            }
        }
    }

    /// Channels with a subscriber (on any node) whose names start with `prefix`.
    ///
    /// # Errors
    /// [`HubError::Unavailable`] on a shared engine that cannot be reached.
    pub(crate) async fn occupied_channels(
        &self,
        prefix: &str,
    ) -> Result<Vec<ChannelInfo>, HubError> {
        match &self.cluster {
            Some(cluster) => cluster.channels(self, prefix).await,
            None => Ok(self.hub.occupied_channels(prefix)),
        }
    }

    /// One channel's subscriber and member counts over every node.
    ///
    /// # Errors
    /// [`HubError::Unavailable`] on a shared engine that cannot be reached.
    pub(crate) async fn channel_info(
        &self,
        channel: &ChannelName,
    ) -> Result<ChannelInfo, HubError> {
        match &self.cluster {
            Some(cluster) => cluster.channel_info(self, channel).await,
            None => Ok(self.hub.channel_info(channel)),
        }
    }

    /// Channels, subscriptions and members of the app, over every node.
    ///
    /// # Errors
    /// [`HubError::Unavailable`] on a shared engine that cannot be reached.
    pub(crate) async fn totals(&self) -> Result<HubTotals, HubError> {
        match &self.cluster {
            Some(cluster) => {
                let channels = cluster.channels(self, "").await?;
                Ok(HubTotals {
                    channels: channels.len(),
                    subscriptions: channels.iter().map(|c| c.subscription_count).sum(),
                    members: channels.iter().map(|c| c.user_count).sum(),
                })
            }
            None => Ok(self.hub.totals()),
        }
    }

    /// A page of the channel's members over every node, for the admin API.
    ///
    /// # Errors
    /// [`HubError::Unavailable`] on a shared engine that cannot be reached.
    pub(crate) async fn member_page(
        &self,
        channel: &ChannelName,
        after: Option<&ClientId>,
        limit: usize,
    ) -> Result<MemberPage, HubError> {
        match &self.cluster {
            Some(cluster) => {
                let (seq, members) = cluster.snapshot(self, channel).await?;
                Ok(MemberPage::of(seq, members.iter(), after, limit))
            }
            None => Ok(self.hub.member_page(channel, after, limit)),
        }
    }

    /// The client ids of the channel's members over every node.
    ///
    /// # Errors
    /// [`HubError::Unavailable`] on a shared engine that cannot be reached.
    pub(crate) async fn member_ids(
        &self,
        channel: &ChannelName,
    ) -> Result<Vec<ClientId>, HubError> {
        match &self.cluster {
            Some(cluster) => Ok(cluster
                .snapshot(self, channel)
                .await?
                .1
                .into_iter()
                .map(|m| m.client_id)
                .collect()),
            None => Ok(self.hub.member_ids(channel)),
        }
    }
}
