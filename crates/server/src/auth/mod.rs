//! Who a connection is and what it may do: tokens signed with the app secret, or (when the app
//! allows it) a self-asserted client id.

mod grants;
mod token;

pub use grants::{Action, ChannelPattern, Grants};
pub use token::{TokenClaims, TokenError, mint_token, verify_token};
