//! The services a supervisor controls: for each, its capability slot,
//! policy, restart history, when it last started, what it is waiting for
//! and its last fault. The supervisor feeds it fault messages and the
//! restarts it made; it answers what to do and when.

use sotto_abi::manifest::MAX_SERVICES;
use sotto_abi::supervise::{FaultMessage, ServiceStatus, Supervision};

use crate::policy::{Decision, History, Hold, decide, reached};

/// Where a supervised service is, as its supervisor sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Started (or restarted) and not faulted since.
    Running,
    /// Faulted; to be restarted at this tick (backoff).
    Waiting {
        /// The tick.
        at: u32,
    },
    /// Faulted and left stopped, as its policy says.
    Held(Hold),
    /// Faulted, and the kernel refused to restart it (its error code).
    Failed(u32),
}

/// One supervised service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Supervised {
    /// The slot of its service capability (CONTROL).
    pub slot: u32,
    /// Its index.
    pub service: u8,
    /// Its policy.
    pub policy: Supervision,
    /// The tick it last (re)started.
    pub started: u32,
    /// Its restarts.
    pub history: History,
    /// Where it is.
    pub phase: Phase,
    /// Its last fault.
    pub last_fault: Option<FaultMessage>,
}

/// Every service a supervisor controls, at most [`MAX_SERVICES`].
#[derive(Clone, Debug)]
pub struct Table {
    entries: [Option<Supervised>; MAX_SERVICES],
    len: usize,
}

impl Default for Table {
    fn default() -> Self {
        Self::new()
    }
}

impl Table {
    /// Empty.
    pub const fn new() -> Table {
        Table {
            entries: [None; MAX_SERVICES],
            len: 0,
        }
    }

    /// Supervise the service `status` describes (as `ServiceQuery` gave
    /// it at tick `now`) through `slot`. `false` if the table already has
    /// it (a second capability to it is not used) or is full.
    pub fn add(&mut self, slot: u32, status: &ServiceStatus, now: u32) -> bool {
        if self.len == MAX_SERVICES || self.position(status.service).is_some() {
            return false;
        }
        self.entries[self.len] = Some(Supervised {
            slot,
            service: status.service,
            policy: status.supervision,
            started: now.wrapping_sub(status.run_ticks),
            history: History::new(),
            phase: Phase::Running,
            last_fault: None,
        });
        self.len += 1;
        true
    }

    /// The supervised services, in the order they were added.
    pub fn entries(&self) -> impl Iterator<Item = &Supervised> {
        self.entries[..self.len].iter().flatten()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entry `i`.
    pub fn get(&self, i: usize) -> Option<&Supervised> {
        self.entries.get(i)?.as_ref()
    }

    /// The entry of service `service`.
    pub fn position(&self, service: u8) -> Option<usize> {
        self.entries().position(|entry| entry.service == service)
    }

    fn entry_mut(&mut self, i: usize) -> &mut Supervised {
        self.entries[i].as_mut().expect("an entry of the table")
    }

    /// A fault: its entry and what to do, `None` for a service not in
    /// the table. A [`Decision::Later`] waits ([`Table::due`]), a
    /// [`Decision::Hold`] holds; for [`Decision::Now`] the caller
    /// restarts it and reports [`Table::restarted`].
    pub fn fault(&mut self, fault: &FaultMessage) -> Option<(usize, Decision)> {
        let i = self.position(fault.service)?;
        let entry = self.entry_mut(i);
        entry.last_fault = Some(*fault);
        let decision = decide(&entry.policy, &entry.history, entry.started, fault.tick);
        entry.phase = match decision {
            Decision::Now { .. } => entry.phase,
            Decision::Later { at, .. } => Phase::Waiting { at },
            Decision::Hold(hold) => Phase::Held(hold),
        };
        Some((i, decision))
    }

    /// Entry `i` was restarted at tick `now`.
    pub fn restarted(&mut self, i: usize, now: u32) {
        let entry = self.entry_mut(i);
        entry.history.record(now);
        entry.started = now;
        entry.phase = Phase::Running;
    }

    /// The kernel refused to restart entry `i` (error code `code`).
    pub fn failed(&mut self, i: usize, code: u32) {
        self.entry_mut(i).phase = Phase::Failed(code);
    }

    /// An entry whose restart is due at tick `now`.
    pub fn due(&self, now: u32) -> Option<usize> {
        self.entries()
            .position(|entry| matches!(entry.phase, Phase::Waiting { at } if reached(now, at)))
    }

    /// The earliest tick a waiting restart is due, seen from `now`.
    pub fn next_due(&self, now: u32) -> Option<u32> {
        self.entries()
            .filter_map(|entry| match entry.phase {
                Phase::Waiting { at } => Some(at),
                _ => None,
            })
            .min_by_key(|&at| at.wrapping_sub(now) as i32)
    }

    /// Indices of the services in the table, one bit each.
    pub fn supervised_mask(&self) -> u32 {
        self.mask(|_| true)
    }

    /// Indices of the held (or unrestartable) services, one bit each.
    pub fn held_mask(&self) -> u32 {
        self.mask(|entry| matches!(entry.phase, Phase::Held(_) | Phase::Failed(_)))
    }

    fn mask(&self, which: impl Fn(&Supervised) -> bool) -> u32 {
        self.entries()
            .filter(|entry| which(entry))
            .fold(0, |mask, entry| mask | 1u32 << (entry.service % 32))
    }
}

#[cfg(test)]
mod tests {
    use super::{Phase, Table};
    use crate::policy::{Decision, Hold};
    use sotto_abi::supervise::{
        FaultKind, FaultMessage, Restart, ServiceState, ServiceStatus, Supervision,
    };

    fn status(service: u8, restart: Restart, run_ticks: u32) -> ServiceStatus {
        ServiceStatus {
            service,
            state: ServiceState::Running,
            restarts: 0,
            supervision: Supervision {
                supervisor: Some(9),
                restart,
                min_run_ticks: 20,
                max_restarts: 2,
                window_ticks: 1000,
                faults: None,
            },
            run_ticks,
        }
    }

    fn fault(service: u8, tick: u32) -> FaultMessage {
        FaultMessage {
            service,
            thread: 0,
            kind: FaultKind::Injected,
            cause: 0,
            pc: 0,
            address: 0,
            tick,
        }
    }

    #[test]
    fn services_are_added_once() {
        let mut table = Table::new();
        assert!(table.is_empty());
        assert!(table.add(4, &status(7, Restart::Always, 30), 100));
        assert!(!table.add(5, &status(7, Restart::Always, 30), 100));
        assert!(table.add(5, &status(2, Restart::Never, 0), 100));
        assert_eq!(table.len(), 2);
        assert_eq!(table.position(2), Some(1));
        let entry = table.get(0).unwrap();
        assert_eq!((entry.slot, entry.service, entry.started), (4, 7, 70));
        assert_eq!(table.supervised_mask(), 1 << 7 | 1 << 2);
        for service in 0..16 {
            table.add(
                20 + u32::from(service),
                &status(service, Restart::Always, 0),
                0,
            );
        }
        assert_eq!(table.len(), 16);
        assert!(!table.add(40, &status(200, Restart::Always, 0), 0));
    }

    #[test]
    fn faults_restart_wait_and_hold() {
        let mut table = Table::new();
        table.add(4, &status(7, Restart::Always, 0), 0);
        table.add(5, &status(2, Restart::Never, 0), 0);
        assert_eq!(table.fault(&fault(3, 50)), None);

        // Ran 50 ticks: restart now.
        assert_eq!(
            table.fault(&fault(7, 50)),
            Some((0, Decision::Now { nth: 1 }))
        );
        assert_eq!(table.get(0).unwrap().last_fault, Some(fault(7, 50)));
        table.restarted(0, 50);
        assert_eq!(table.get(0).unwrap().phase, Phase::Running);

        // Faulted 5 ticks after: wait until tick 70.
        assert_eq!(
            table.fault(&fault(7, 55)),
            Some((
                0,
                Decision::Later {
                    at: 70,
                    ran: 5,
                    nth: 2
                }
            ))
        );
        assert_eq!(table.next_due(55), Some(70));
        assert_eq!(table.due(69), None);
        assert_eq!(table.due(70), Some(0));
        table.restarted(0, 70);
        assert_eq!(table.next_due(70), None);

        // Two restarts within the window: held.
        assert_eq!(
            table.fault(&fault(7, 200)),
            Some((0, Decision::Hold(Hold::Limit { restarts: 2 })))
        );
        assert_eq!(
            table.get(0).unwrap().phase,
            Phase::Held(Hold::Limit { restarts: 2 })
        );
        assert_eq!(table.due(10_000), None);

        assert_eq!(
            table.fault(&fault(2, 300)),
            Some((1, Decision::Hold(Hold::Never)))
        );
        assert_eq!(table.held_mask(), 1 << 7 | 1 << 2);
        assert_eq!(table.get(0).unwrap().history.total(), 2);
    }

    #[test]
    fn the_earliest_wait_comes_first_across_the_wrap() {
        let mut table = Table::new();
        table.add(4, &status(1, Restart::Always, 0), u32::MAX - 10);
        table.add(5, &status(2, Restart::Always, 0), 5);
        // 1 waits until u32::MAX + 10 = 9, 2 until 25.
        table.fault(&fault(2, 6));
        table.fault(&fault(1, u32::MAX - 5));
        assert_eq!(table.next_due(u32::MAX - 4), Some(9));
        assert_eq!(table.due(u32::MAX), None);
        assert_eq!(table.due(9), Some(0));
        table.failed(0, 24);
        assert_eq!(table.get(0).unwrap().phase, Phase::Failed(24));
        assert_eq!(table.held_mask(), 1 << 1);
        assert_eq!(table.next_due(10), Some(25));
    }
}
