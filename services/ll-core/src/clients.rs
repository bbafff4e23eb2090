//! ll-sched's clients: each one's badge, the capability slot its task
//! endpoint was received into, and whether it runs batches of tasks.
//!
//! A capability is received into a slot named before the call arrives, so
//! the table always has a free slot to offer ([`Clients::inbox`]): one
//! more slot than clients, and a slot is free again when its client goes
//! or registers anew (the old capability is handed back to be deleted).
//!
//! A client that registers again is a new instance of it (it restarted,
//! or ll-sched dropped it as unreachable): [`Clients::admit`] drops the
//! tasks of its earlier registration, which it knows nothing of.

use alloc::vec::Vec;

use crate::LlScheduler;
use crate::proto::LlError;

/// What [`Clients::admit`] replaced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Admitted {
    /// The slot of the endpoint the client had registered before (to
    /// delete).
    pub old_slot: Option<u32>,
    /// The ids of the tasks of its earlier registration, dropped.
    pub dropped: Vec<u32>,
}

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

    /// `badge` registers (as [`register`](Self::register)); if it is
    /// accepted, the tasks it held in `tasks` from an earlier
    /// registration are dropped ([`LlScheduler::drop_owner`]). Refused,
    /// nothing changes.
    pub fn admit(
        &mut self,
        tasks: &mut LlScheduler,
        badge: u32,
        slot: u32,
        batches: bool,
    ) -> Result<Admitted, LlError> {
        let old_slot = self.register(badge, slot, batches)?;
        Ok(Admitted {
            old_slot,
            dropped: tasks.drop_owner(badge),
        })
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
    use super::{Admitted, Clients};
    use crate::LlScheduler;
    use crate::proto::{LlError, Policy, TaskState};

    /// The ids run on LL tick `tick` (each a batch of one; every run
    /// reschedules, 100 cycles).
    fn tick(tasks: &mut LlScheduler, clients: &Clients, tick: u32) -> Vec<(u32, u32)> {
        tasks.start_tick(tick);
        let mut ran = Vec::new();
        while let Some(batch) = tasks.next_batch(|_| 1) {
            assert!(
                clients.slot(batch.owner).is_some(),
                "a task of a client not registered"
            );
            ran.push((batch.owner, tasks.batch_id(&batch, 0)));
            tasks.finish_batch(&batch, [100], 0);
        }
        tasks.end_tick(100 * ran.len() as u32, 10_000, None);
        ran
    }

    /// Review of issue 12: a client that restarts registers again with
    /// the same badge while ll-sched still holds its old tasks (queued,
    /// even stalled by the run cut off when it faulted). They go, with
    /// their share of the table and their local indices; the other
    /// client's tasks run on every tick throughout.
    #[test]
    fn a_client_registering_again_drops_its_old_tasks_and_the_others_keep_their_pace() {
        const PIPELINE: u32 = 3;
        const DEMO: u32 = 1;
        let (mut tasks, mut clients) = (LlScheduler::new(32), Clients::new(8, 16));
        assert_eq!(
            clients.admit(&mut tasks, DEMO, 8, true),
            Ok(Admitted::default())
        );
        assert_eq!(
            clients.admit(&mut tasks, PIPELINE, 9, true),
            Ok(Admitted::default())
        );
        let demo = tasks.init(DEMO, 1, 0, 1, 0).unwrap();
        tasks.schedule(DEMO, demo).unwrap();
        let old: Vec<u32> = (0..8)
            .map(|_| tasks.init(PIPELINE, 0, Policy::Skip as u32, 1, 0).unwrap())
            .collect();
        for id in &old[..3] {
            tasks.schedule(PIPELINE, *id).unwrap();
        }
        assert_eq!(tasks.init(PIPELINE, 0, 0, 1, 0), Err(LlError::TooManyTasks));
        assert_eq!(tick(&mut tasks, &clients, 0).len(), 4);
        // Tick 1: the pipeline faults in its run, which is cut off (it is
        // stalled); the demo's run still happens.
        tasks.start_tick(1);
        let batch = tasks.next_batch(|_| 1).unwrap();
        assert_eq!(batch.owner, PIPELINE);
        assert!(tasks.timed_out_batch(&batch, 9_000, None).is_some());
        while let Some(batch) = tasks.next_batch(|_| 1) {
            assert_eq!(batch.owner, DEMO);
            tasks.finish_batch(&batch, [100], 0);
        }
        assert!(tasks.stalled(PIPELINE));
        assert_eq!(tick(&mut tasks, &clients, 2), vec![(DEMO, demo)]);
        // Its new instance registers again (an endpoint received into a
        // new slot): the old slot comes back to delete, the old tasks go.
        let inbox = clients.inbox();
        let admitted = clients.admit(&mut tasks, PIPELINE, inbox, true).unwrap();
        assert_eq!(admitted.old_slot, Some(9));
        assert_eq!(admitted.dropped, old);
        assert!(!tasks.stalled(PIPELINE));
        for id in &old {
            assert_eq!(tasks.state(PIPELINE, *id), Err(LlError::UnknownTask));
        }
        assert_eq!(tick(&mut tasks, &clients, 3), vec![(DEMO, demo)]);
        // Its new tasks get local indices from 0 and its whole share.
        let new = tasks.init(PIPELINE, 0, 0, 1, 0).unwrap();
        assert!(!old.contains(&new));
        assert_eq!(tasks.local(PIPELINE, new), Ok(0));
        tasks.schedule(PIPELINE, new).unwrap();
        for _ in 1..8 {
            tasks.init(PIPELINE, 0, 0, 1, 0).unwrap();
        }
        assert_eq!(
            tick(&mut tasks, &clients, 4),
            vec![(PIPELINE, new), (DEMO, demo)]
        );
        // The demo ran on every tick, none missed or charged.
        let stats = tasks.stats(DEMO, demo).unwrap();
        assert_eq!((stats.runs, stats.missed, stats.overruns), (5, 0, 0));
        assert_eq!(tasks.each().count(), 9, "no stale task is reported");
    }

    /// A client found gone (its call failed: it faulted, or restarted
    /// while being called, `PeerRestarted`) is removed and its tasks are
    /// cancelled; when it registers again they are dropped, not revived.
    #[test]
    fn a_client_found_gone_registers_again_without_its_cancelled_tasks() {
        const CLIENT: u32 = 5;
        let (mut tasks, mut clients) = (LlScheduler::new(8), Clients::new(8, 4));
        clients.admit(&mut tasks, CLIENT, 8, false).unwrap();
        let (a, b) = (
            tasks.init(CLIENT, 0, 0, 1, 0).unwrap(),
            tasks.init(CLIENT, 0, 0, 1, 0).unwrap(),
        );
        tasks.schedule(CLIENT, a).unwrap();
        // (In table order: `a`, queued, moved behind `b`.)
        assert_eq!(tasks.owner_gone(CLIENT), vec![b, a]);
        assert_eq!(clients.remove(CLIENT), Some(8));
        assert_eq!(tasks.state(CLIENT, a), Ok(TaskState::Cancelled));
        // Cancelled tasks still hold its share (2 of 2 here).
        assert_eq!(tasks.init(CLIENT, 0, 0, 1, 0), Err(LlError::TooManyTasks));
        let admitted = clients.admit(&mut tasks, CLIENT, 8, false).unwrap();
        assert_eq!(
            admitted,
            Admitted {
                old_slot: None,
                dropped: vec![b, a]
            }
        );
        let again = tasks.init(CLIENT, 0, 0, 1, 0).unwrap();
        tasks.schedule(CLIENT, again).unwrap();
        assert_eq!(tick(&mut tasks, &clients, 0), vec![(CLIENT, again)]);
        assert_eq!(tasks.each().count(), 1, "no stale task is reported");
    }

    /// A registration refused (the table is full) drops nothing.
    #[test]
    fn a_refused_registration_drops_no_task() {
        let (mut tasks, mut clients) = (LlScheduler::new(8), Clients::new(8, 1));
        clients.admit(&mut tasks, 1, 8, false).unwrap();
        // Client 2 was dropped before and still has a cancelled task.
        let stale = tasks.init(2, 0, 0, 1, 0).unwrap();
        tasks.owner_gone(2);
        assert_eq!(
            clients.admit(&mut tasks, 2, 9, false),
            Err(LlError::BadRegistration)
        );
        assert_eq!(tasks.state(2, stale), Ok(TaskState::Cancelled));
    }

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
