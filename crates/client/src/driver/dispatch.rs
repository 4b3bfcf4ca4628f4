//! What the driver does with each message from the server.

use std::time::Duration;

use rollcall_core::ChannelName;
use serde_json::Value;

use super::channel::{ChannelState, MemberChange};
use super::pending::Waiting;
use super::{Broken, Driver, send};
use crate::error::{Error, ServerError};
use crate::event::{ChannelEvent, ClientEvent};
use crate::invitation::Invitation;
use crate::transport::Connector;
use crate::wire::{AckSnapshot, Incoming, MemberEvent, Op, decode};
use rollcall_proto::ErrorCode;

type Answer = Result<Option<Value>, ServerError>;

fn snapshot(answer: Answer) -> Result<AckSnapshot, ServerError> {
    let result = answer?.unwrap_or(Value::Null);
    serde_json::from_value(result).map_err(|e| ServerError {
        code: ErrorCode::InternalError,
        message: format!("unreadable member list: {e}"),
    })
}

impl<C: Connector> Driver<C> {
    fn channel_mut(&mut self, name: &ChannelName, generation: u64) -> Option<&mut ChannelState> {
        self.channels
            .get_mut(name)
            .filter(|c| c.generation == generation)
    }

    /// Handles one text frame. A frame that does not decode is skipped: if it was a sequenced
    /// event, the next one shows the gap and the channel resyncs.
    pub(super) async fn on_text(
        &mut self,
        text: &str,
        link: &mut C::Transport,
    ) -> Result<(), Broken> {
        let message = match decode(text) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "skipped a server message this SDK cannot read");
                return Ok(());
            }
        };
        let answers = message.answers();
        match message {
            Incoming::Ack { result, .. } => {
                if let Some(id) = answers {
                    self.on_answer(id, Ok(result), link).await?;
                }
            }
            Incoming::Error {
                code,
                message,
                reconnect_after_ms,
                ..
            } => {
                if code == "server_shutdown" {
                    self.reconnect_hint = reconnect_after_ms.map(Duration::from_millis);
                }
                let error = ServerError::from_wire(&code, message);
                match answers {
                    Some(id) => self.on_answer(id, Err(error), link).await?,
                    None => {
                        let _ = self.client_events.send(ClientEvent::ServerError(error));
                    }
                }
            }
            Incoming::Join(event) => self.on_member(MemberChange::Joined, event, link).await?,
            Incoming::Update(event) => self.on_member(MemberChange::Updated, event, link).await?,
            Incoming::Leave(event) => self.on_member(MemberChange::Left, event, link).await?,
            Incoming::Message(message) => {
                let name = message.channel.clone();
                let gap = self
                    .channels
                    .get_mut(&name)
                    .is_some_and(|c| c.on_message(message));
                if gap {
                    self.resync(link, &name).await?;
                }
            }
            Incoming::Ephemeral(message) => {
                if let Some(channel) = self.channels.get(&message.channel) {
                    channel.on_unsequenced(ChannelEvent::Ephemeral(message));
                }
            }
            Incoming::Invitation(details) => {
                let invitation =
                    Invitation::new(details, self.commands_weak.clone(), self.options.clone());
                let _ = self.client_events.send(ClientEvent::Invitation(invitation));
            }
            Incoming::InvitationReply(reply) => {
                let _ = self.client_events.send(ClientEvent::InvitationReply(reply));
            }
            Incoming::Session(_) | Incoming::Pong {} | Incoming::Unknown => {}
        }
        Ok(())
    }

    async fn on_member(
        &mut self,
        change: MemberChange,
        event: MemberEvent,
        link: &mut C::Transport,
    ) -> Result<(), Broken> {
        let name = event.channel.clone();
        let gap = self
            .channels
            .get_mut(&name)
            .is_some_and(|c| c.on_member_event(change, event));
        if gap {
            self.resync(link, &name).await?;
        }
        Ok(())
    }

    /// Asks for a fresh member list. Because the server answers in order, every event that
    /// arrives before the answer is already reflected in it.
    async fn resync(&mut self, link: &mut C::Transport, name: &ChannelName) -> Result<(), Broken> {
        let Some(channel) = self.channels.get_mut(name) else {
            return Ok(());
        };
        channel.resyncing();
        let id = self.pending.register(Waiting::Resync {
            channel: name.clone(),
            generation: channel.generation,
        });
        let op = Op::Members {
            channel: name.clone(),
            client_id: None,
        };
        send(link, Some(id), &op).await
    }

    async fn on_answer(
        &mut self,
        id: u64,
        answer: Answer,
        link: &mut C::Transport,
    ) -> Result<(), Broken> {
        let Some(waiting) = self.pending.take(id) else {
            // The answer to a request whose caller gave up and was answered already.
            return Ok(());
        };
        match waiting {
            Waiting::Subscribe {
                channel,
                generation,
            } => {
                self.on_subscribed(channel, generation, answer, link)
                    .await?;
            }
            Waiting::Resync {
                channel,
                generation,
            } => {
                if let Some(state) = self.channel_mut(&channel, generation) {
                    state.on_resync(snapshot(answer).map_err(|e| e.to_string()));
                }
            }
            Waiting::Leave { reply } => {
                if let Some(reply) = reply {
                    let _ = reply.send(answer.map(drop).map_err(Error::Server));
                }
            }
            Waiting::Call { op, reply } => {
                if let Ok(result) = &answer {
                    self.after_call(&op, result.as_ref());
                }
                let _ = reply.send(answer.map_err(Error::Server));
            }
        }
        Ok(())
    }

    async fn on_subscribed(
        &mut self,
        name: ChannelName,
        generation: u64,
        answer: Answer,
        link: &mut C::Transport,
    ) -> Result<(), Broken> {
        // Missing: the channel was left meanwhile, and the leave went out after this request.
        let Some(channel) = self.channel_mut(&name, generation) else {
            return Ok(());
        };
        match snapshot(answer) {
            Ok(snapshot) => {
                if !channel.on_subscribed(snapshot) {
                    // Nobody took the handle: undo the subscription.
                    self.channels.remove(&name);
                    let id = self.pending.register(Waiting::Leave { reply: None });
                    send(link, Some(id), &Op::Leave { channel: name }).await?;
                }
            }
            Err(error) => {
                if let Some(channel) = self.channels.remove(&name) {
                    channel.refused(error);
                }
            }
        }
        Ok(())
    }

    /// Keeps local state in step with a call the server accepted.
    fn after_call(&mut self, op: &Op, result: Option<&Value>) {
        match op {
            Op::Update {
                channel,
                data,
                patch,
            } => {
                if let Some(state) = self.channels.get_mut(channel) {
                    state.on_own_update(data.as_ref(), patch.as_ref());
                }
            }
            Op::Publish {
                channel,
                echo: false,
                ..
            } => {
                let seq = result.and_then(|r| r.get("seq")).and_then(Value::as_u64);
                if let (Some(state), Some(seq)) = (self.channels.get_mut(channel), seq) {
                    state.on_own_publish(seq);
                }
            }
            _ => {}
        }
    }
}
