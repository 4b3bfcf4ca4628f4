//! The native protocol as the client speaks it: requests out, server messages in.
//!
//! The server's own message types (in `rollcall-proto`) borrow their fields and only serialize,
//! because the server encodes each message once for many recipients. A client needs the
//! opposite, owned types it can decode, so they live here.

mod incoming;
mod outgoing;

pub(crate) use incoming::{AckSnapshot, Incoming, InvitationMessage, MemberEvent, decode};
pub(crate) use outgoing::{Op, encode};
