//! The commands, as the Redis engine carries them out: one script each, then the local hub
//! answers the requester. The events themselves come back through pub/sub (`pubsub.rs`).

use redis::Value;
use rollcall_core::{ChannelName, ClientId, ConnectionId, DataError, MemberData, PresenceError};
use rollcall_proto::AckResult;
use serde_json::value::RawValue;

use super::wire::{self, Kind, WireMessage, int, text};
use super::{Cluster, PendingLeave, scripts};
use crate::event::API_CONNECTION_ID;
use crate::hub::{ChannelInfo, HubError, JoinData, Publication, Requester};
use crate::state::AppRuntime;
use crate::webhooks::Notice;

/// Longest wait for a request's own event before its ack goes out regardless.
const ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How often an `update` is retried when another device changed the data in between.
const UPDATE_ATTEMPTS: usize = 8;

impl Cluster {
    /// `join`: see [`crate::hub::Hub::join`].
    // Hub::join's arguments plus the app: a struct for them would only be built to be taken apart.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn join(
        &self,
        app: &AppRuntime,
        who: Requester<'_>,
        client: &ClientId,
        channel: &ChannelName,
        data: JoinData,
        max_members: Option<usize>,
        now: u64,
    ) -> Result<(), HubError> {
        let hub = &app.hub;
        let limit = max_members.map_or(hub.max_members(), |m| m.min(hub.max_members()));
        let subscribed = hub.is_subscribed(channel, who.connection_id);
        let mut redis = self.commands()?;
        let events = self.event_channel(&app.config.id, channel);
        if !subscribed && !self.pubsub.acquire(&events).await {
            return Err(HubError::Unavailable);
        }
        let (mode, data) = match &data {
            JoinData::Replace(data) => ("replace", data.as_json()),
            JoinData::Initial(data) => ("initial", data.as_json()),
            JoinData::Keep => ("keep", "{}"),
        };
        let reply: Result<Vec<Value>, _> = self
            .call(&scripts::JOIN, &app.config.id, channel)
            .arg(who.connection_id.to_string())
            .arg(client.as_str())
            .arg(mode)
            .arg(data)
            .arg(limit)
            .arg(self.node)
            .arg(u8::from(!subscribed))
            .arg(now)
            .invoke_async(&mut redis)
            .await;
        let release = || {
            if !subscribed {
                self.pubsub.release(&events);
            }
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(error) => {
                release();
                return Err(self.failed(&error));
            }
        };
        let (kind, occupied) = match reply.as_slice() {
            [status, kind, occupied, seq, data, times, conns]
                if text(status).as_deref() == Some("ok") =>
            {
                let members = wire::members(data, times, conns);
                hub.attach(who, channel, int(seq), &members, Some(client), now)?;
                (text(kind).unwrap_or_default(), int(occupied) == 1)
            }
            [status] if text(status).as_deref() == Some("full") => {
                release();
                return Err(PresenceError::ChannelFull { max: limit }.into());
            }
            [status] if text(status).as_deref() == Some("already") => {
                release();
                return Err(PresenceError::AlreadyJoined.into());
            }
            _ => {
                release();
                return Err(HubError::Unavailable);
            }
        };
        app.metrics.presence.record_kind(&kind);
        self.notify(app, occupied, || Notice::ChannelOccupied {
            channel: channel.clone(),
        });
        self.notify(app, kind == "joined", || Notice::MemberAdded {
            channel: channel.clone(),
            user_id: client.clone(),
        });
        Ok(())
    }

    /// Acks once the request's own event (`seq`) has come back, as on the memory engine; if it
    /// does not within [`ACK_WAIT`] (its event lost beyond what the catch-up can replay), acks
    /// anyway.
    async fn ack_after_event(
        &self,
        app: &AppRuntime,
        who: &Requester<'_>,
        channel: &ChannelName,
        seq: u64,
        result: AckResult<'_>,
    ) {
        let Some(sent) = app.hub.ack_in_order(channel, seq, who, result) else {
            return;
        };
        if tokio::time::timeout(ACK_WAIT, sent).await.is_err() {
            app.hub.release_acks(channel, who.connection_id);
        }
    }

    /// `watch`: see [`crate::hub::Hub::watch`].
    pub(crate) async fn watch(
        &self,
        app: &AppRuntime,
        who: Requester<'_>,
        channel: &ChannelName,
        now: u64,
    ) -> Result<(), HubError> {
        if app.hub.is_subscribed(channel, who.connection_id) {
            return Err(HubError::AlreadySubscribed);
        }
        let mut redis = self.commands()?;
        let events = self.event_channel(&app.config.id, channel);
        if !self.pubsub.acquire(&events).await {
            return Err(HubError::Unavailable);
        }
        let reply: Result<Vec<Value>, HubError> = self
            .call(&scripts::WATCH, &app.config.id, channel)
            .arg(self.node)
            .invoke_async(&mut redis)
            .await
            .map_err(|e| self.failed(&e));
        let attached = reply.and_then(|reply| {
            let [occupied, seq, data, times, conns] = reply.as_slice() else {
                return Err(HubError::Unavailable);
            };
            let members = wire::members(data, times, conns);
            app.hub
                .attach(who, channel, int(seq), &members, None, now)?;
            Ok(int(occupied) == 1)
        });
        match attached {
            Ok(occupied) => {
                self.notify(app, occupied, || Notice::ChannelOccupied {
                    channel: channel.clone(),
                });
                Ok(())
            }
            Err(error) => {
                self.pubsub.release(&events);
                Err(error)
            }
        }
    }

    /// `leave` (and unsubscribing, and a closed connection's cleanup): see
    /// [`crate::hub::Hub::leave`]. While the server shuts down, presence entries are left for
    /// the lease to clear, so that clients reconnecting to other nodes do not leave and join
    /// again. When Redis cannot be reached, the leave is carried out once it can.
    pub(crate) async fn leave(
        &self,
        app: &AppRuntime,
        who: Requester<'_>,
        channel: &ChannelName,
        handing_off: bool,
        now: u64,
    ) -> Result<(), HubError> {
        let Some(member) = app.hub.detach(channel, who.connection_id, now) else {
            return Err(HubError::NotSubscribed);
        };
        self.pubsub
            .release(&self.event_channel(&app.config.id, channel));
        if !handing_off {
            if let Err(error) = self
                .leave_in_redis(app, channel, who.connection_id, now)
                .await
            {
                self.failed(&error);
                self.pending_leaves.lock().push(PendingLeave {
                    app: app.config.id.clone(),
                    channel: channel.clone(),
                    connection: who.connection_id,
                    member,
                });
            }
        }
        who.ack(None);
        Ok(())
    }

    pub(super) async fn leave_in_redis(
        &self,
        app: &AppRuntime,
        channel: &ChannelName,
        connection: ConnectionId,
        now: u64,
    ) -> redis::RedisResult<()> {
        let Ok(mut redis) = self.commands() else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "not connected",
            )));
        };
        let reply: Vec<Value> = self
            .call(&scripts::LEAVE, &app.config.id, channel)
            .arg(connection.to_string())
            .arg(self.node)
            .arg(1)
            .arg(now)
            .invoke_async(&mut redis)
            .await?;
        let kind = reply.first().and_then(text).unwrap_or_default();
        app.metrics.presence.record_kind(&kind);
        if kind == "left" {
            if let Some(client) = reply
                .get(2)
                .and_then(text)
                .and_then(|c| ClientId::parse(&c).ok())
            {
                self.notify(app, true, || Notice::MemberRemoved {
                    channel: channel.clone(),
                    user_id: client,
                });
            }
        }
        self.notify(app, reply.get(3).is_some_and(|v| int(v) == 1), || {
            Notice::ChannelVacated {
                channel: channel.clone(),
            }
        });
        Ok(())
    }

    /// `update`: see [`crate::hub::Hub::update`]. The change is computed here from the data as
    /// last seen and applied only if nobody changed it meanwhile; otherwise it is computed
    /// again from the newer data.
    pub(crate) async fn update(
        &self,
        app: &AppRuntime,
        who: Requester<'_>,
        channel: &ChannelName,
        change: impl Fn(&MemberData) -> Result<MemberData, DataError>,
        now: u64,
    ) -> Result<(), HubError> {
        let (_, mut current) = app
            .hub
            .local_member(channel, who.connection_id)
            .ok_or(PresenceError::NotJoined)?;
        let mut redis = self.commands()?;
        for _ in 0..UPDATE_ATTEMPTS {
            let new = change(&current)?;
            let reply: Vec<Value> = self
                .call(&scripts::UPDATE, &app.config.id, channel)
                .arg(who.connection_id.to_string())
                .arg(current.as_json())
                .arg(new.as_json())
                .arg(now)
                .invoke_async(&mut redis)
                .await
                .map_err(|e| self.failed(&e))?;
            let seq = reply.get(1).map_or(0, int);
            match reply.first().and_then(text).as_deref() {
                Some("ok") => {
                    app.metrics.presence.record_kind("updated");
                    let result = AckResult::Updated {
                        channel,
                        seq,
                        changed: true,
                    };
                    self.ack_after_event(app, &who, channel, seq, result).await;
                    return Ok(());
                }
                Some("unchanged") => {
                    who.ack(Some(AckResult::Updated {
                        channel,
                        seq,
                        changed: false,
                    }));
                    return Ok(());
                }
                Some("conflict") => {
                    let latest = reply.get(1).and_then(text).unwrap_or_default();
                    current = MemberData::from_json(&latest)?;
                }
                _ => return Err(PresenceError::NotJoined.into()),
            }
        }
        Err(HubError::Unavailable)
    }

    /// The channel's member list (or one member) as Redis has it.
    pub(crate) async fn members(
        &self,
        app: &AppRuntime,
        who: Requester<'_>,
        channel: &ChannelName,
        client: Option<&ClientId>,
    ) -> Result<(), HubError> {
        let (seq, members) = self.snapshot(app, channel).await?;
        let result = match client {
            Some(client) => AckResult::Member {
                channel,
                seq,
                member: members.iter().find(|m| m.client_id == *client),
            },
            None => AckResult::Snapshot {
                channel,
                seq,
                members: members.iter().collect(),
            },
        };
        who.ack(Some(result));
        Ok(())
    }

    /// Whether `client` is a member, as Redis has it.
    pub(crate) async fn is_present(
        &self,
        app: &AppRuntime,
        who: Requester<'_>,
        channel: &ChannelName,
        client: &ClientId,
    ) -> Result<(), HubError> {
        let (_, present) = self.channel_counts(app, channel, Some(client)).await?;
        who.ack(Some(AckResult::Presence {
            channel,
            client_id: client,
            present,
        }));
        Ok(())
    }

    /// The channel's sequence number and members.
    pub(crate) async fn snapshot(
        &self,
        app: &AppRuntime,
        channel: &ChannelName,
    ) -> Result<(u64, Vec<rollcall_core::Member>), HubError> {
        let mut redis = self.commands()?;
        let reply: Vec<Value> = self
            .call(&scripts::SNAPSHOT, &app.config.id, channel)
            .invoke_async(&mut redis)
            .await
            .map_err(|e| self.failed(&e))?;
        if reply.len() != 4 {
            return Err(HubError::Unavailable);
        }
        Ok((
            int(&reply[0]),
            wire::members(&reply[1], &reply[2], &reply[3]),
        ))
    }

    /// `publish`: see [`crate::hub::Hub::publish`].
    pub(crate) async fn publish(
        &self,
        app: &AppRuntime,
        who: Requester<'_>,
        channel: &ChannelName,
        message: Publication<'_>,
        now: u64,
    ) -> Result<(), HubError> {
        if !app.hub.is_subscribed(channel, who.connection_id) {
            return Err(HubError::NotSubscribed);
        }
        let dedupe = message.message_id.map_or_else(String::new, |id| {
            let sender = who
                .client_id
                .map_or_else(|| who.connection_id.to_string(), |c| c.as_str().to_owned());
            format!("{sender}\n{id}")
        });
        let mut wire_message = wire_message(app, &who, channel, message.data, message.message_id);
        if !message.echo {
            wire_message.skip = Some(who.connection_id);
        }
        let body = wire::message_body(now, Kind::Message, who.connection_id, &wire_message);
        let (status, seq) = self
            .run_publish(app, channel, &dedupe, &body, false)
            .await?;
        if status == "duplicate" {
            who.ack(Some(AckResult::Duplicate {
                channel,
                seq,
                duplicate: true,
            }));
        } else {
            let result = AckResult::Published { channel, seq };
            self.ack_after_event(app, &who, channel, seq, result).await;
        }
        Ok(())
    }

    /// `ephemeral`: see [`crate::hub::Hub::ephemeral`]. No sequence number, so no script: a
    /// plain `PUBLISH`.
    pub(crate) async fn ephemeral(
        &self,
        app: &AppRuntime,
        who: Requester<'_>,
        channel: &ChannelName,
        data: &RawValue,
        echo: bool,
        now: u64,
    ) -> Result<(), HubError> {
        if !app.hub.is_subscribed(channel, who.connection_id) {
            return Err(HubError::NotSubscribed);
        }
        let mut message = wire_message(app, &who, channel, data, None);
        if !echo {
            message.skip = Some(who.connection_id);
        }
        let event = wire::ephemeral_event(now, who.connection_id, &message);
        let mut redis = self.commands()?;
        let _: i64 = redis::cmd("PUBLISH")
            .arg(self.event_channel(&app.config.id, channel))
            .arg(event)
            .query_async(&mut redis)
            .await
            .map_err(|e| self.failed(&e))?;
        who.ack(None);
        Ok(())
    }

    /// An HTTP API event: see [`crate::hub::Hub::trigger`]. Published only when the channel
    /// has a subscriber on some node.
    pub(crate) async fn trigger(
        &self,
        app: &AppRuntime,
        channel: &ChannelName,
        payload: &RawValue,
        skip: Option<ConnectionId>,
        now: u64,
    ) -> Result<(), HubError> {
        let message = WireMessage {
            client_id: None,
            sender_member: None,
            message_id: None,
            skip,
            skip_pusher_only: skip.is_some(),
            data: payload.to_owned(),
        };
        let body = wire::message_body(now, Kind::Message, API_CONNECTION_ID, &message);
        self.run_publish(app, channel, "", &body, true).await?;
        Ok(())
    }

    async fn run_publish(
        &self,
        app: &AppRuntime,
        channel: &ChannelName,
        dedupe: &str,
        body: &str,
        only_if_occupied: bool,
    ) -> Result<(String, u64), HubError> {
        let mut redis = self.commands()?;
        let reply: Vec<Value> = self
            .call(&scripts::PUBLISH, &app.config.id, channel)
            .arg(dedupe)
            .arg(body)
            .arg(u8::from(only_if_occupied))
            .invoke_async(&mut redis)
            .await
            .map_err(|e| self.failed(&e))?;
        Ok((
            reply.first().and_then(text).unwrap_or_default(),
            reply.get(1).map_or(0, int),
        ))
    }

    /// The app's channels with a subscriber on some node whose names start with `prefix`.
    pub(crate) async fn channels(
        &self,
        app: &AppRuntime,
        prefix: &str,
    ) -> Result<Vec<ChannelInfo>, HubError> {
        let mut redis = self.commands()?;
        let reply: Vec<Value> = scripts::CHANNELS
            .prepare_invoke()
            .arg(&self.prefix)
            .arg(app.config.id.as_str())
            .arg(prefix)
            .invoke_async(&mut redis)
            .await
            .map_err(|e| self.failed(&e))?;
        Ok(reply
            .chunks_exact(3)
            .filter_map(|row| {
                Some(ChannelInfo {
                    name: ChannelName::parse(&text(&row[0])?).ok()?,
                    subscription_count: usize::try_from(int(&row[1])).ok()?,
                    user_count: usize::try_from(int(&row[2])).ok()?,
                })
            })
            .collect())
    }

    /// One channel's subscriber and member counts over every node.
    pub(crate) async fn channel_info(
        &self,
        app: &AppRuntime,
        channel: &ChannelName,
    ) -> Result<ChannelInfo, HubError> {
        let (info, _) = self.channel_counts(app, channel, None).await?;
        Ok(info)
    }

    /// One channel's counts, and whether `client` is one of its members.
    async fn channel_counts(
        &self,
        app: &AppRuntime,
        channel: &ChannelName,
        client: Option<&ClientId>,
    ) -> Result<(ChannelInfo, bool), HubError> {
        let mut redis = self.commands()?;
        let reply: Vec<Value> = self
            .call(&scripts::CHANNEL, &app.config.id, channel)
            .arg(client.map_or("", ClientId::as_str))
            .invoke_async(&mut redis)
            .await
            .map_err(|e| self.failed(&e))?;
        let [subscriptions, members, present] = reply.as_slice() else {
            return Err(HubError::Unavailable);
        };
        let info = ChannelInfo {
            name: channel.clone(),
            subscription_count: usize::try_from(int(subscriptions)).unwrap_or(usize::MAX),
            user_count: usize::try_from(int(members)).unwrap_or(usize::MAX),
        };
        Ok((info, int(present) == 1))
    }

    fn notify(&self, app: &AppRuntime, happened: bool, notice: impl FnOnce() -> Notice) {
        if happened {
            if let Some(notices) = &app.notices {
                notices.send(notice());
            }
        }
    }
}

/// A message from `who`, as it travels to every node.
fn wire_message(
    app: &AppRuntime,
    who: &Requester<'_>,
    channel: &ChannelName,
    data: &RawValue,
    message_id: Option<&str>,
) -> WireMessage {
    WireMessage {
        client_id: who.client_id.cloned(),
        sender_member: app
            .hub
            .local_member(channel, who.connection_id)
            .map(|(client, _)| client),
        message_id: message_id.map(str::to_owned),
        skip: None,
        skip_pusher_only: false,
        data: data.to_owned(),
    }
}
