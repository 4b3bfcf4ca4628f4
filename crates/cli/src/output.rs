//! How the client commands print: readable lines (coloured on a terminal) or one JSON object
//! per line.

use std::io::{IsTerminal, Write};

use rollcall_client::{ChannelEvent, ChannelName, ConnectionState, Member, UpdateReason};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy)]
enum Colour {
    Green,
    Yellow,
    Red,
    Cyan,
    Dim,
}

impl Colour {
    fn code(self) -> &'static str {
        match self {
            Self::Green => "32",
            Self::Yellow => "33",
            Self::Red => "31",
            Self::Cyan => "36",
            Self::Dim => "2",
        }
    }
}

/// Where output goes, and in which form.
#[derive(Debug)]
pub(crate) struct Printer {
    json: bool,
    colour: bool,
}

fn compact(data: &Value) -> String {
    match data {
        Value::Object(map) if map.is_empty() => String::new(),
        other => other.to_string(),
    }
}

/// A message payload as a person would read it: the `text` field of `{"text": …}`, else JSON.
fn readable(data: &Value) -> String {
    match data.get("text").and_then(Value::as_str) {
        Some(text) if data.as_object().is_some_and(|m| m.len() == 1) => text.to_owned(),
        _ => data.to_string(),
    }
}

impl Printer {
    pub(crate) fn new(json: bool) -> Self {
        // Colour only for a person: not in JSON, not through a pipe, not when NO_COLOR is set.
        let colour =
            !json && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self { json, colour }
    }

    fn paint(&self, colour: Colour, text: &str) -> String {
        if self.colour {
            format!("\x1b[{}m{text}\x1b[0m", colour.code())
        } else {
            text.to_owned()
        }
    }

    fn write(&self, line: &str) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()
    }

    /// Prints `value` in JSON mode, or `text` otherwise.
    pub(crate) fn either(&self, value: &Value, text: &str) -> std::io::Result<()> {
        if self.json {
            self.write(&value.to_string())
        } else {
            self.write(text)
        }
    }

    /// A line for a person only; nothing in JSON mode.
    pub(crate) fn note(&self, text: &str) -> std::io::Result<()> {
        if self.json {
            return Ok(());
        }
        self.write(&self.paint(Colour::Dim, text))
    }

    /// A JSON line for scripts only; nothing in readable mode.
    pub(crate) fn json_only(&self, value: &Value) -> std::io::Result<()> {
        if self.json {
            return self.write(&value.to_string());
        }
        Ok(())
    }

    /// A member list: one JSON object, or a heading and a line per member.
    pub(crate) fn members(
        &self,
        mut header: Value,
        heading: &str,
        members: &[Member],
    ) -> std::io::Result<()> {
        if self.json {
            header["members"] = json!(members);
            return self.write(&header.to_string());
        }
        self.write(heading)?;
        let width = members
            .iter()
            .map(|m| m.client_id.as_str().len())
            .max()
            .unwrap_or(0);
        for member in members {
            let devices = match member.connections.len() {
                0 | 1 => String::new(),
                n => self.paint(Colour::Dim, &format!(" ({n} devices)")),
            };
            let id = member.client_id.as_str();
            let line = format!("  {id:<width$}  {}{devices}", compact(&member.data));
            self.write(line.trim_end())?;
        }
        Ok(())
    }

    /// A channel event.
    pub(crate) fn event(&self, channel: &ChannelName, event: &ChannelEvent) -> std::io::Result<()> {
        if self.json {
            let mut value = json!(event);
            value["channel"] = json!(channel);
            return self.write(&value.to_string());
        }
        let line = match event {
            ChannelEvent::MemberJoined(m) => self.paint(
                Colour::Green,
                &format!("+ {} joined {}", m.client_id, compact(&m.data)),
            ),
            ChannelEvent::MemberUpdated { member, reason, .. } => {
                let what = match reason {
                    UpdateReason::Data => format!("updated {}", compact(&member.data)),
                    UpdateReason::ConnectionAdded => {
                        format!("connected another device ({})", member.connections.len())
                    }
                    UpdateReason::ConnectionRemoved => {
                        format!("disconnected a device ({} left)", member.connections.len())
                    }
                    UpdateReason::Reconciled => {
                        format!("changed while we were away {}", compact(&member.data))
                    }
                };
                self.paint(Colour::Yellow, &format!("~ {} {what}", member.client_id))
            }
            ChannelEvent::MemberLeft(m) => {
                self.paint(Colour::Red, &format!("- {} left", m.client_id))
            }
            ChannelEvent::Message(m) => {
                let who = m
                    .client_id
                    .as_ref()
                    .map_or_else(|| m.connection_id.to_string(), ToString::to_string);
                format!("{}: {}", self.paint(Colour::Cyan, &who), readable(&m.data))
            }
            ChannelEvent::Ephemeral(e) => {
                let who = e
                    .client_id
                    .as_ref()
                    .map_or_else(|| e.connection_id.to_string(), ToString::to_string);
                self.paint(Colour::Dim, &format!("{who} … {}", readable(&e.data)))
            }
            ChannelEvent::Resynced { members, .. } => self.paint(
                Colour::Dim,
                &format!("(member list refreshed: {members} members)"),
            ),
            ChannelEvent::Lagged { missed } => {
                self.paint(Colour::Dim, &format!("(missed {missed} events)"))
            }
            ChannelEvent::Unsubscribed { error } => {
                self.paint(Colour::Red, &format!("no longer subscribed: {error}"))
            }
            // The enum may grow; an event this build cannot describe is still shown.
            other => format!("{other:?}"),
        };
        self.write(&line)
    }

    /// A change of connection state.
    pub(crate) fn state(&self, state: &ConnectionState, connection: &str) -> std::io::Result<()> {
        let (value, text) = match state {
            ConnectionState::Connecting { attempt } => (
                json!({"event": "state", "state": "connecting", "attempt": attempt}),
                format!("(connecting, attempt {attempt})"),
            ),
            ConnectionState::Connected => (
                json!({"event": "state", "state": "connected", "connection_id": connection}),
                format!("(connected as connection {connection})"),
            ),
            ConnectionState::Reconnecting { attempt, retry_in } => (
                json!({"event": "state", "state": "reconnecting", "attempt": attempt,
                       "retry_in_ms": retry_in.as_millis()}),
                format!("(connection lost; retrying in {retry_in:.1?}, attempt {attempt})"),
            ),
            ConnectionState::Closed(reason) => (
                json!({"event": "state", "state": "closed", "reason": format!("{reason:?}")}),
                format!("(closed: {reason:?})"),
            ),
        };
        self.either(&value, &self.paint(Colour::Dim, &text))
    }
}
