//! rollcall's own server side of WebSocket (RFC 6455): the upgrade, framing, and a connection
//! that its session's task drives directly.
//!
//! Why not a library's: a presence server holds many mostly idle connections and sends each of
//! them the same small event at once. A general-purpose WebSocket keeps read and write buffers
//! for the life of a connection and needs a second task (or a lock) to write while reading;
//! here an idle connection holds no buffer, one task per connection does both, and a frame is
//! written straight from the event's shared bytes. The Autobahn suite (`scripts/autobahn`)
//! checks the framing against the RFC.

mod frame;
mod socket;
mod upgrade;

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;

pub(crate) use frame::{Incoming, opcode};
pub(crate) use socket::{ReadFailure, Socket};
pub(crate) use upgrade::Upgrade;

/// A connection upgraded by the HTTP server.
pub(crate) type WebSocket = Socket<TokioIo<Upgraded>>;
