//! The Rust client of rollcall, a real-time presence server.
//!
//! ```no_run
//! use rollcall_client::{ChannelEvent, Client, ConnectOptions};
//! use serde_json::json;
//!
//! # async fn demo() -> Result<(), rollcall_client::Error> {
//! let options = ConnectOptions::anonymous("alice".parse().expect("a valid client id"));
//! let client = Client::connect("ws://127.0.0.1:7070/ws", options).await?;
//! let mut lobby = client.join("lobby", json!({"status": "online"})).await?;
//! for member in lobby.members() {
//!     println!("{} is here", member.client_id);
//! }
//! lobby.publish(json!({"text": "hello"})).await?;
//! while let Some(event) = lobby.next_event().await {
//!     if let ChannelEvent::MemberJoined(member) = event {
//!         println!("{} joined", member.client_id);
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! A [`Client`] owns one connection, run by a background task: requests are correlated with
//! their answers by id and time out; a lost connection is re-established with exponential
//! backoff and jitter ([`Backoff`]), every channel is joined again with its latest data, and its
//! member view is reconciled with a fresh member list, the differences arriving as ordinary
//! events followed by [`ChannelEvent::Resynced`]. The guide is `docs/sdk-rust.md`.

mod backoff;
mod channel;
mod client;
mod driver;
mod endpoint;
mod error;
mod event;
mod handle;
mod invitation;
mod member;
mod options;
mod receipt;
mod session;
mod transport;
mod wire;

pub use backoff::Backoff;
pub use channel::Channel;
pub use client::{Client, ClientEvents};
pub use error::{BoxError, Error, Result, ServerError};
pub use event::{ChannelEvent, ClientEvent, Ephemeral, InvitationReply, Message, ResyncCause};
pub use invitation::Invitation;
pub use member::{Member, MemberConnection, MemberList, UpdateReason};
pub use options::{Auth, ConnectOptions};
pub use receipt::{Invited, PublishOptions, Published, Updated};
pub use rollcall_core::{ChannelName, ClientId, ConnectionId};
pub use rollcall_proto::ErrorCode;
pub use session::{CloseReason, ConnectionState, Limits, Session};

/// The examples in the usage guide compile (as doctests), so the guide cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/sdk-rust.md")]
struct UsageGuide;
