//! The pure heart of rollcall.
//!
//! This crate owns every rule about presence and nothing else: it holds no sockets, spawns no
//! tasks and never reads the clock. Callers apply commands to a [`Registry`] and get back
//! [`Transition`]s, which the server turns into events. Keeping the rules here, synchronous and
//! deterministic, is what lets them be checked against a reference model (see `tests/model.rs`).

mod data;
mod ids;
mod registry;

pub use data::{DataError, MemberData};
pub use ids::{AppId, ChannelName, ClientId, ConnectionId, IdError};
pub use registry::{ConnectionEntry, Member, PresenceError, Registry, Transition, UpdateReason};
