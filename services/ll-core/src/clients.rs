//! ll-sched's clients: each one's badge, the capability slot its task
//! endpoint was received into, and whether it runs batches of tasks.
//!
//! A capability is received into a slot named before the call arrives, so
//! the table always has a free slot to offer ([`Clients::inbox`]): one
//! more slot than clients, and a slot is free again when its client goes
//! or registers anew (the old capability is handed back to be deleted).

use alloc::vec::Vec;

use crate::proto::LlError;

/// The registered clients.
pub struct Clients {
    /// (badge, slot), in the order they registered.
    clients: Vec<(u32, u32)>,
    /// Whether each runs batches of tasks (same order).
    batches: Vec<bool>,
    first_slot: u32,
    max: usize,
}

impl Clients {
    /// Room for `max` clients, whose endpoints go into slots
    /// `first_slot..=first_slot + max` (one spare), allocated now.
    pub fn new(first_slot: u32, max: usize) -> Clients {
        Clients {
            clients: Vec::with_capacity(max),
            batches: Vec::with_capacity(max),
            first_slot,
            max,
        }
    }

    /// Bytes of heap the table takes.
    pub fn memory_use(&self) -> usize {
        self.clients.capacity() * core::mem::size_of::<(u32, u32)>() + self.batches.capacity()
    }

    /// The slot the next capability is received into: one no client holds.
    pub fn inbox(&self) -> u32 {
        (self.first_slot..=self.first_slot + self.max as u32)
            .find(|slot| !self.holds(*slot))
            .unwrap_or(self.first_slot + self.max as u32)
    }

    /// Whether a client's endpoint is in `slot`.
    pub fn holds(&self, slot: u32) -> bool {
        self.clients.iter().any(|(_, held)| *held == slot)
    }

    /// `badge` registers the endpoint received into `slot` (running
    /// batches of tasks if `batches`). Returns the slot of the endpoint it
    /// had registered before, to delete; a new client is refused when the
    /// table is full.
    pub fn register(
        &mut self,
        badge: u32,
        slot: u32,
        batches: bool,
    ) -> Result<Option<u32>, LlError> {
        if let Some(index) = self.clients.iter().position(|(held, _)| *held == badge) {
            self.batches[index] = batches;
            return Ok(Some(core::mem::replace(&mut self.clients[index].1, slot)));
        }
        if self.clients.len() >= self.max {
            return Err(LlError::BadRegistration);
        }
        self.clients.push((badge, slot));
        self.batches.push(batches);
        Ok(None)
    }

    /// `badge`'s endpoint slot and whether it runs batches, if it is
    /// registered (one lookup, on the tick's path).
    #[inline]
    pub fn entry(&self, badge: u32) -> Option<(u32, bool)> {
        let index = self.clients.iter().position(|(held, _)| *held == badge)?;
        Some((self.clients[index].1, self.batches[index]))
    }

    /// Whether `badge` runs batches of tasks (false if not registered).
    #[inline]
    pub fn batches(&self, badge: u32) -> bool {
        self.clients
            .iter()
            .position(|(held, _)| *held == badge)
            .is_some_and(|index| self.batches[index])
    }

    /// The slot of `badge`'s endpoint, if it is registered.
    #[inline]
    pub fn slot(&self, badge: u32) -> Option<u32> {
        self.clients
            .iter()
            .find(|(held, _)| *held == badge)
            .map(|(_, slot)| *slot)
    }

    /// `badge` is gone: the slot of its endpoint, to delete.
    pub fn remove(&mut self, badge: u32) -> Option<u32> {
        let index = self.clients.iter().position(|(held, _)| *held == badge)?;
        self.batches.remove(index);
        Some(self.clients.remove(index).1)
    }

    /// How many are registered.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::Clients;
    use crate::proto::LlError;

    /// What ll-sched did before (review S): receive into `8 + clients`.
    fn old_inbox(clients: &Clients) -> u32 {
        8 + clients.len() as u32
    }

    #[test]
    fn the_old_inbox_lands_on_a_held_slot_after_a_reconnect_or_a_removal() {
        let mut clients = Clients::new(8, 16);
        clients.register(1, old_inbox(&clients), false).unwrap();
        // Client 1 registers again: ll-sched received into slot 9 and kept
        // slot 8 (never deleted); the next inbox, 9, is client 1's.
        let slot = old_inbox(&clients);
        clients.register(1, slot, false).unwrap();
        assert!(clients.holds(old_inbox(&clients)), "slot 9 is held");
        let mut clients = Clients::new(8, 16);
        for badge in 1..=3 {
            clients.register(badge, old_inbox(&clients), false).unwrap();
        }
        clients.remove(2);
        assert!(clients.holds(old_inbox(&clients)), "slot 10 is held");
    }

    #[test]
    fn the_inbox_is_always_a_free_slot() {
        let mut clients = Clients::new(8, 3);
        assert_eq!(clients.inbox(), 8);
        for badge in 1..=3 {
            let inbox = clients.inbox();
            assert!(!clients.holds(inbox));
            assert_eq!(clients.register(badge, inbox, badge == 2), Ok(None));
        }
        // Full: a fourth client is refused, but the spare slot is free for
        // a client registering again, whose old slot comes back to delete.
        assert_eq!(clients.inbox(), 11);
        assert_eq!(clients.register(4, 11, true), Err(LlError::BadRegistration));
        assert!(clients.batches(2) && !clients.batches(1));
        assert_eq!(clients.entry(2), Some((9, true)));
        assert_eq!(clients.entry(1), Some((8, false)));
        assert_eq!(clients.entry(7), None);
        assert_eq!(clients.register(2, 11, false), Ok(Some(9)));
        assert!(!clients.batches(2), "as it says the last time");
        assert_eq!(clients.slot(2), Some(11));
        assert_eq!(clients.inbox(), 9);
        // A client in the middle goes: its slot is the next inbox.
        assert_eq!(clients.remove(1), Some(8));
        assert_eq!(clients.inbox(), 8);
        assert_eq!(clients.register(4, 8, true), Ok(None));
        assert!(clients.batches(4) && !clients.batches(1));
        assert_eq!((clients.slot(4), clients.slot(3)), (Some(8), Some(10)));
        assert_eq!(clients.remove(1), None);
        assert_eq!(clients.len(), 3);
    }
}
