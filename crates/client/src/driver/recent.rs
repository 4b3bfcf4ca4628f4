//! The message ids a channel has delivered recently.
//!
//! The server de-duplicates a retried publish by message id, but only while it remembers the
//! id: its memory is per channel and ends when the channel empties or the server restarts. A
//! publish retried across such a gap would arrive twice, so receivers check too.

use std::collections::{HashSet, VecDeque};

use crate::event::Message;

/// How many message ids are remembered per channel; enough to cover any retry window.
const REMEMBERED: usize = 1024;

#[derive(Debug, Default)]
pub(crate) struct RecentMessages {
    order: VecDeque<(String, String)>,
    seen: HashSet<(String, String)>,
}

impl RecentMessages {
    /// Records the message; false when its (sender, message id) was already delivered.
    /// Messages without an id are always delivered.
    pub(crate) fn first_time(&mut self, message: &Message) -> bool {
        let Some(id) = &message.message_id else {
            return true;
        };
        // The same sender key as the server's: the client id, else the connection.
        let sender = message.client_id.as_ref().map_or_else(
            || message.connection_id.to_string(),
            |c| c.as_str().to_owned(),
        );
        let key = (sender, id.clone());
        if self.seen.contains(&key) {
            return false;
        }
        if self.order.len() == REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.order.push_back(key.clone());
        self.seen.insert(key);
        true
    }
}
