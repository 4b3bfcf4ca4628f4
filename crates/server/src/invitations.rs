//! Invitations waiting for an answer.
//!
//! An invitation is addressed to a client id (all of its connections see it) and answered once,
//! by any of them. Pending invitations expire after a fixed time, and each inviting connection
//! may have only a bounded number pending, so the table is bounded by the connection count.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use rollcall_core::{ChannelName, ClientId, ConnectionId};

use crate::outbound::Outbound;

/// An invitation waiting for an answer.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The channel the invitee is asked to join.
    pub channel: ChannelName,
    /// The invitee.
    pub invitee: ClientId,
    /// The inviting connection.
    pub inviter: ConnectionId,
    /// Where to send the answer; gone if the inviter disconnected.
    pub inviter_outbound: Weak<Outbound>,
    /// When the invitation lapses (Unix ms).
    pub expires_at: u64,
}

/// Why an invitation could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many pending invitations for this connection")]
pub struct TooManyInvitations;

#[derive(Debug, Default)]
struct Table {
    pending: HashMap<String, Invitation>,
    /// Ids in creation order; since every invitation lives equally long, this is also expiry
    /// order, so expired ones are always at the front.
    by_age: VecDeque<(u64, String)>,
    per_inviter: HashMap<ConnectionId, usize>,
}

impl Table {
    fn forget(&mut self, id: &str) -> Option<Invitation> {
        let invitation = self.pending.remove(id)?;
        if let Some(count) = self.per_inviter.get_mut(&invitation.inviter) {
            *count -= 1;
            if *count == 0 {
                self.per_inviter.remove(&invitation.inviter);
            }
        }
        Some(invitation)
    }

    fn expire(&mut self, now: u64) {
        while let Some((expires_at, _)) = self.by_age.front() {
            if *expires_at > now {
                break;
            }
            if let Some((_, id)) = self.by_age.pop_front() {
                self.forget(&id);
            }
        }
    }
}

/// One app's pending invitations.
#[derive(Debug, Default)]
pub struct Invitations {
    table: Mutex<Table>,
}

impl Invitations {
    /// Stores `invitation` under a new random id and returns the id.
    ///
    /// # Errors
    /// [`TooManyInvitations`] when the inviter already has `max_per_inviter` pending.
    pub fn create(
        &self,
        invitation: Invitation,
        max_per_inviter: usize,
        now: u64,
    ) -> Result<Arc<str>, TooManyInvitations> {
        let mut table = self.table.lock();
        table.expire(now);
        let count = table.per_inviter.entry(invitation.inviter).or_default();
        if *count >= max_per_inviter {
            return Err(TooManyInvitations);
        }
        *count += 1;
        let id = format!("inv_{:032x}", rand::random::<u128>());
        table.by_age.push_back((invitation.expires_at, id.clone()));
        table.pending.insert(id.clone(), invitation);
        Ok(Arc::from(id))
    }

    /// The invitation `id`, if it is addressed to `invitee` and still valid.
    pub fn find(&self, id: &str, invitee: &ClientId, now: u64) -> Option<Invitation> {
        let mut table = self.table.lock();
        table.expire(now);
        table
            .pending
            .get(id)
            .filter(|invitation| invitation.invitee == *invitee)
            .cloned()
    }

    /// Marks the invitation `id` answered. Returns false if it was already answered (by another
    /// device of the invitee) or expired, in which case the answer must not be reported twice.
    pub fn answer(&self, id: &str) -> bool {
        self.table.lock().forget(id).is_some()
    }

    /// Forgets the invitation `id`, answered on another node, and returns its inviter's queue
    /// if the inviter is still connected here.
    pub(crate) fn take_inviter(&self, id: &str) -> Option<Arc<Outbound>> {
        self.table.lock().forget(id)?.inviter_outbound.upgrade()
    }
}
