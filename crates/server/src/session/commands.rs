//! Carrying out one request: checks that belong to the connection (identity, grants, limits,
//! sizes) here; everything about channels in the hub.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use rollcall_core::{ChannelName, ClientId, DataError, MemberData, PresenceError};
use rollcall_proto::{AckResult, Command, DataChange, ErrorCode, RequestId, ServerMessage};
use serde_json::Value;
use serde_json::value::RawValue;

use super::Session;
use crate::auth::Action;
use crate::event::Protocol;
use crate::hub::{Answer, HubError, JoinData, Publication, Requester};
use crate::invitations::{Invitation, TooManyInvitations};

/// A request that failed, with its documented code.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl Failure {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<HubError> for Failure {
    fn from(error: HubError) -> Self {
        let code = match &error {
            HubError::Presence(PresenceError::AlreadyJoined) => ErrorCode::AlreadyJoined,
            HubError::Presence(PresenceError::NotJoined) => ErrorCode::NotJoined,
            HubError::Presence(PresenceError::ChannelFull { .. }) => ErrorCode::ChannelFull,
            HubError::Data(e) => return e.clone().into(),
            HubError::AlreadySubscribed => ErrorCode::AlreadySubscribed,
            HubError::NotSubscribed => ErrorCode::NotSubscribed,
            HubError::Unavailable => ErrorCode::EngineUnavailable,
        };
        Self::new(code, error.to_string())
    }
}

impl From<DataError> for Failure {
    fn from(error: DataError) -> Self {
        let code = match error {
            DataError::NotAnObject => ErrorCode::InvalidData,
            DataError::TooLarge { .. } => ErrorCode::DataTooLarge,
        };
        Self::new(code, error.to_string())
    }
}

impl From<TooManyInvitations> for Failure {
    fn from(error: TooManyInvitations) -> Self {
        Self::new(ErrorCode::TooManyInvitations, error.to_string())
    }
}

type Outcome = Result<(), Failure>;

impl Session {
    fn requester<'a>(&'a self, id: Option<&'a RequestId>) -> Requester<'a> {
        Requester {
            connection_id: self.id,
            client_id: self.identity.client_id.as_ref(),
            outbound: &self.outbound,
            protocol: Protocol::Native,
            answer: Answer::Ack(id),
        }
    }

    fn require(&self, action: Action, channel: &ChannelName) -> Outcome {
        if self.identity.allows(action, channel) {
            return Ok(());
        }
        let verb = match action {
            Action::Join => "join",
            Action::Watch => "watch",
            Action::Publish => "publish to",
        };
        Err(Failure::new(
            ErrorCode::Forbidden,
            format!("the token does not grant the right to {verb} {channel:?}"),
        ))
    }

    fn client_id(&self) -> Result<ClientId, Failure> {
        self.identity.client_id.clone().ok_or_else(|| {
            Failure::new(
                ErrorCode::IdentityRequired,
                "this connection has no client id: connect with ?client_id= or a token",
            )
        })
    }

    fn room_for(&self, channel: &ChannelName) -> Outcome {
        let max = self.state.config.limits.max_channels_per_connection;
        if self.channels.contains(channel) || self.channels.len() < max {
            return Ok(());
        }
        Err(Failure::new(
            ErrorCode::TooManyChannels,
            format!("a connection may subscribe to at most {max} channels"),
        ))
    }

    fn subscribed(&self, channel: &ChannelName) -> Outcome {
        if self.channels.contains(channel) {
            return Ok(());
        }
        Err(HubError::NotSubscribed.into())
    }

    fn max_data(&self) -> usize {
        self.state.config.limits.max_member_data_bytes
    }

    /// Applies the token's data over `data`: the token's keys win.
    fn with_token_data(&self, data: MemberData) -> Result<MemberData, DataError> {
        match &self.identity.token_data {
            Some(token) => data.merge_patch(token, self.max_data()),
            None => Ok(data),
        }
    }

    /// The data a `join` enters with: the client's, under the token's. Without client data, a
    /// new member starts from the token's data and an existing member keeps what it has.
    fn join_data(&self, data: Option<&Value>) -> Result<JoinData, DataError> {
        Ok(match data {
            Some(data) => {
                let data = MemberData::from_value(data, self.max_data())?;
                JoinData::Replace(self.with_token_data(data)?)
            }
            None if self.identity.token_data.is_some() => {
                JoinData::Initial(self.with_token_data(MemberData::empty())?)
            }
            None => JoinData::Keep,
        })
    }

    fn payload(&self, data: &Value) -> Result<Box<RawValue>, Failure> {
        // A `Value` always serializes.
        let raw = serde_json::value::to_raw_value(data)
            .map_err(|e| Failure::new(ErrorCode::InvalidMessage, e.to_string()))?;
        let max = self.state.config.limits.max_message_bytes;
        if raw.get().len() > max {
            return Err(Failure::new(
                ErrorCode::MessageTooLarge,
                format!(
                    "the payload is {} bytes; the limit is {max}",
                    raw.get().len()
                ),
            ));
        }
        Ok(raw)
    }

    /// Spends one message from the connection's rate limit.
    fn rate_limit(&mut self) -> Outcome {
        if self.messages.try_take(tokio::time::Instant::now()) {
            return Ok(());
        }
        let max = self.state.config.limits.max_messages_per_second;
        Err(Failure::new(
            ErrorCode::RateLimited,
            format!(
                "at most {max} publish/ephemeral/invite requests per second; retry in {} ms",
                self.messages.wait().as_millis().max(1)
            ),
        ))
    }

    /// Carries out `command`, acking on success.
    pub(crate) async fn execute(
        &mut self,
        id: Option<&RequestId>,
        command: &Command,
        now: u64,
    ) -> Outcome {
        if matches!(
            command,
            Command::Publish { .. } | Command::Ephemeral { .. } | Command::Invite { .. }
        ) {
            self.rate_limit()?;
        }
        let app = self.app.clone();
        match command {
            Command::Join { channel, data } => self.join(id, channel, data.as_ref(), now).await,
            Command::Watch { channel } => {
                self.require(Action::Watch, channel)?;
                self.room_for(channel)?;
                app.watch(self.requester(id), channel, now).await?;
                self.channels.insert(channel.clone());
                Ok(())
            }
            Command::Leave { channel } => {
                app.leave(self.requester(id), channel, false, now).await?;
                self.channels.remove(channel);
                Ok(())
            }
            Command::Update { channel, change } => {
                let max = self.max_data();
                app.update(
                    self.requester(id),
                    channel,
                    |current| {
                        let data = match change {
                            DataChange::Replace(data) => MemberData::from_value(data, max)?,
                            DataChange::MergePatch(patch) => current.merge_patch(patch, max)?,
                        };
                        self.with_token_data(data)
                    },
                    now,
                )
                .await?;
                Ok(())
            }
            Command::Members { channel, client_id } => {
                self.require(Action::Watch, channel)?;
                app.members(self.requester(id), channel, client_id.as_ref())
                    .await?;
                Ok(())
            }
            Command::IsPresent { channel, client_id } => {
                self.require(Action::Watch, channel)?;
                app.is_present(self.requester(id), channel, client_id)
                    .await?;
                Ok(())
            }
            Command::Publish {
                channel,
                data,
                echo,
                message_id,
            } => {
                self.require(Action::Publish, channel)?;
                let data = self.payload(data)?;
                let message = Publication {
                    data: &data,
                    echo: *echo,
                    message_id: message_id.as_deref(),
                };
                app.publish(self.requester(id), channel, message, now)
                    .await?;
                Ok(())
            }
            Command::Ephemeral {
                channel,
                data,
                echo,
            } => {
                self.require(Action::Publish, channel)?;
                let data = self.payload(data)?;
                app.ephemeral(self.requester(id), channel, &data, *echo, now)
                    .await?;
                Ok(())
            }
            Command::Invite {
                channel,
                client_id,
                data,
            } => {
                self.invite(id, channel, client_id, data.as_ref(), now)
                    .await
            }
            Command::InviteReply {
                invitation_id,
                accept,
                data,
            } => {
                self.reply_to_invitation(id, invitation_id, *accept, data.as_ref(), now)
                    .await
            }
            Command::Ping => {
                let text = ServerMessage::Pong { id }.encode();
                self.outbound.push_reply(&Utf8Bytes::from(text));
                Ok(())
            }
        }
    }

    async fn join(
        &mut self,
        id: Option<&RequestId>,
        channel: &ChannelName,
        data: Option<&Value>,
        now: u64,
    ) -> Outcome {
        let client = self.client_id()?;
        self.require(Action::Join, channel)?;
        self.room_for(channel)?;
        let data = self.join_data(data)?;
        self.app
            .join(self.requester(id), &client, channel, data, None, now)
            .await?;
        self.channels.insert(channel.clone());
        Ok(())
    }

    async fn invite(
        &self,
        id: Option<&RequestId>,
        channel: &ChannelName,
        invitee: &ClientId,
        data: Option<&Value>,
        now: u64,
    ) -> Outcome {
        let inviter = self.client_id()?;
        self.require(Action::Publish, channel)?;
        self.subscribed(channel)?;
        if let Some(data) = data {
            self.payload(data)?;
        }
        let app = self.app.clone();
        let delivered = match &app.cluster {
            Some(cluster) => Box::pin(cluster.client_connections(&app, invitee)).await?,
            None => app.clients.connections(invitee).len(),
        };
        if delivered == 0 {
            return Err(Failure::new(
                ErrorCode::ClientNotConnected,
                format!("{:?} has no connection to this app", invitee.as_str()),
            ));
        }
        let limits = &self.state.config.limits;
        let expires_at = now + limits.invitation_ttl_ms;
        let invitation_id = app.invitations.create(
            Invitation {
                channel: channel.clone(),
                invitee: invitee.clone(),
                inviter: self.id,
                inviter_outbound: Arc::downgrade(&self.outbound),
                expires_at,
            },
            limits.max_pending_invitations,
            now,
        )?;
        let text = ServerMessage::Invitation {
            invitation_id: &invitation_id,
            channel,
            from: &inviter,
            from_connection_id: self.id,
            data,
            ts: now,
            expires_at,
        }
        .encode();
        match &app.cluster {
            Some(cluster) => {
                let ttl = limits.invitation_ttl_ms;
                let send =
                    cluster.send_invitation(&app, &invitation_id, invitee, channel, &text, ttl);
                Box::pin(send).await?;
            }
            None => {
                let text = Utf8Bytes::from(text);
                for target in app.clients.connections(invitee) {
                    target.push(&text);
                }
            }
        }
        self.requester(id).ack(Some(AckResult::Invited {
            invitation_id: &invitation_id,
            delivered,
        }));
        Ok(())
    }

    async fn reply_to_invitation(
        &mut self,
        id: Option<&RequestId>,
        invitation_id: &str,
        accept: bool,
        data: Option<&Value>,
        now: u64,
    ) -> Outcome {
        let invitee = self.client_id()?;
        let app = self.app.clone();
        let (channel, inviter) = match &app.cluster {
            Some(cluster) => (
                Box::pin(cluster.find_invitation(&app, invitation_id, &invitee)).await?,
                None,
            ),
            None => match app.invitations.find(invitation_id, &invitee, now) {
                Some(invitation) => (Some(invitation.channel), Some(invitation.inviter_outbound)),
                None => (None, None),
            },
        };
        let Some(channel) = channel else {
            return Err(Failure::new(
                ErrorCode::InvitationNotFound,
                "no pending invitation with this id for this client (answered, expired or unknown)",
            ));
        };
        // A failed acceptance (say, channel full) leaves the invitation pending, so the invitee
        // can try again or decline.
        if accept {
            self.join(id, &channel, data, now).await?;
        } else {
            self.requester(id).ack(None);
        }
        let text = ServerMessage::InvitationReply {
            invitation_id,
            channel: &channel,
            client_id: &invitee,
            accepted: accept,
            ts: now,
        }
        .encode();
        match &app.cluster {
            Some(cluster) => {
                // The request is answered already; if Redis is out of reach now, the inviter
                // does not hear back and the invitation lapses.
                let _ = Box::pin(cluster.answer_invitation(&app, invitation_id, &text)).await;
            }
            None => {
                // Answered by another device first: reported once only.
                if app.invitations.answer(invitation_id) {
                    if let Some(inviter) = inviter.and_then(|weak| weak.upgrade()) {
                        inviter.push(&Utf8Bytes::from(text));
                    }
                }
            }
        }
        Ok(())
    }
}
