//! The sending side of the driver's command queue, shared by every handle of one client.

use std::sync::Arc;
use std::time::Duration;

use rollcall_core::ChannelName;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::channel::Channel;
use crate::driver::{Command, Mode};
use crate::error::{Error, Result};
use crate::options::ConnectOptions;
use crate::wire::Op;

#[derive(Clone)]
pub(crate) struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    options: Arc<ConnectOptions>,
}

/// Waits for a reply from the driver; a dropped reply means the driver stopped.
async fn wait<T>(reply: oneshot::Receiver<Result<T>>, timeout: Duration) -> Result<T> {
    match tokio::time::timeout(timeout, reply).await {
        Err(_) => Err(Error::Timeout(timeout)),
        Ok(Err(_)) => Err(Error::Closed),
        Ok(Ok(result)) => result,
    }
}

impl Handle {
    pub(crate) fn new(
        commands: mpsc::UnboundedSender<Command>,
        options: Arc<ConnectOptions>,
    ) -> Self {
        Self { commands, options }
    }

    pub(crate) fn options(&self) -> &ConnectOptions {
        &self.options
    }

    pub(crate) fn send(&self, command: Command) -> Result<()> {
        self.commands.send(command).map_err(|_| Error::Closed)
    }

    /// Sends a request and waits up to `timeout` for its answer's `result`.
    pub(crate) async fn call(&self, op: Op, timeout: Duration) -> Result<Option<Value>> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Call { op, reply })?;
        wait(answer, timeout).await
    }

    /// Sends a request with the default timeout and decodes its `result` as `T`.
    pub(crate) async fn query<T: DeserializeOwned>(&self, op: Op) -> Result<T> {
        let result = self.call(op, self.options.request_timeout).await?;
        decode_result(result)
    }

    /// Joins or watches `channel` and builds its handle.
    pub(crate) async fn subscribe(
        &self,
        channel: ChannelName,
        mode: Mode,
        invitation: Option<String>,
    ) -> Result<Channel> {
        let (reply, answer) = oneshot::channel();
        let presence = matches!(mode, Mode::Join { .. });
        self.send(Command::Subscribe {
            channel: channel.clone(),
            mode,
            invitation,
            reply,
        })?;
        let parts = wait(answer, self.options.request_timeout).await?;
        Ok(Channel::new(channel, presence, parts, self.clone()))
    }

    /// Leaves `channel` (if `generation` is still its subscription) and waits for the server.
    pub(crate) async fn leave(&self, channel: ChannelName, generation: u64) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Leave {
            channel,
            generation,
            reply: Some(reply),
        })?;
        wait(answer, self.options.request_timeout).await
    }

    /// Leaves without waiting, for `Drop`.
    pub(crate) fn leave_later(&self, channel: ChannelName, generation: u64) {
        let _ = self.send(Command::Leave {
            channel,
            generation,
            reply: None,
        });
    }

    pub(crate) async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.send(Command::Close { reply }).is_ok() {
            let _ = done.await;
        }
    }
}

pub(crate) fn decode_result<T: DeserializeOwned>(result: Option<Value>) -> Result<T> {
    serde_json::from_value(result.unwrap_or(Value::Null))
        .map_err(|e| Error::Protocol(format!("unexpected ack result: {e}")))
}
