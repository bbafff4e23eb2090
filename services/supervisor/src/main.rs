//! The supervisor: restarts the services it holds service capabilities
//! (CONTROL) to when they fault, as each one's policy in `system.toml`
//! says (`restart`, `min_run`, `max_restarts`, `window`), prints one line
//! per decision, and answers status queries on its endpoint
//! (`supervisor_core::proto`).
//!
//! It finds its capabilities by kind, in any slot: service capabilities
//! (the services it supervises; each one's index and policy come from
//! `ServiceQuery`), one endpoint it receives on (status queries), one
//! notification it waits on (its `faults` object: the kernel signals
//! `FAULT_BIT` there when it queues a fault message), optionally one
//! timer (CONTROL) that signals any other bit on that same notification
//! (restarts delayed by `min_run`; without one they happen at once), and
//! optionally a readable memory region holding the names table
//! (`supervisor_core::names`; without one, services go by index).
//!
//! A service its policy holds is stopped (`ServiceStop`): callers waiting
//! for its replies get `PeerGone`. It runs at priority 0: a service that
//! faulted is restarted before anything else runs, within the tick of its
//! fault.

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use sotto_abi::cap::CAP_SLOTS;
use sotto_rt::cap::{self, Slot};
use sotto_rt::ipc::{self, Event, Message};
use sotto_rt::supervise::{self, FAULT_BIT, FaultMessage};
use sotto_rt::{ObjectKind, Rights, println, sync, sys};
use supervisor_core::names::Names;
use supervisor_core::policy::Decision;
use supervisor_core::proto::{self, Request};
use supervisor_core::report::{Count, FaultLine, Outcome, RestartLine, StartLine};
use supervisor_core::table::Table;

sotto_rt::entry!(main);

/// Capability slots a service has.
const SLOTS: Slot = CAP_SLOTS as Slot;

/// What the supervisor holds.
struct Caps {
    /// Status queries arrive here.
    endpoint: Option<Slot>,
    /// Its faults notification.
    faults: Option<Slot>,
    /// The restart timer.
    timer: Option<Slot>,
    /// The names table.
    names: Names<'static>,
}

/// The supervisor's state.
struct Supervisor {
    caps: Caps,
    table: Table,
    hz: u32,
}

fn main(_arg: u32) {
    let now = sys::ticks();
    let mut caps = Caps {
        endpoint: None,
        faults: None,
        timer: None,
        names: Names::NONE,
    };
    let mut table = Table::new();
    for slot in 0..SLOTS {
        let Ok(info) = cap::info(slot) else { continue };
        match info.kind {
            ObjectKind::Service if info.rights.contains(Rights::CONTROL) => {
                match supervise::query(slot) {
                    Ok(status) => {
                        table.add(slot, &status, now);
                    }
                    Err(error) => println!("slot {slot}: service query failed: {error:?}"),
                }
            }
            ObjectKind::Endpoint if info.rights.contains(Rights::RECEIVE) => {
                caps.endpoint.get_or_insert(slot);
            }
            ObjectKind::Notification if info.rights.contains(Rights::RECEIVE) => {
                caps.faults.get_or_insert(slot);
            }
            ObjectKind::Timer if info.rights.contains(Rights::CONTROL) => {
                caps.timer.get_or_insert(slot);
            }
            ObjectKind::Memory if info.rights.contains(Rights::READ) => {
                if let Ok(bytes) = sotto_rt::mem::mapped(slot) {
                    caps.names = Names::from_bytes(bytes);
                }
            }
            _ => {}
        }
    }
    let mut supervisor = Supervisor {
        caps,
        table,
        hz: sys::tick_hz(),
    };
    println!(
        "{}",
        StartLine {
            names: supervisor.caps.names,
            table: &supervisor.table,
            hz: supervisor.hz,
        }
    );
    supervisor.serve();
}

impl Supervisor {
    fn serve(&mut self) {
        let Some(faults) = self.caps.faults else {
            println!("no faults notification: nothing to wait for");
            return;
        };
        loop {
            let event = match self.caps.endpoint {
                Some(endpoint) => ipc::receive_or_wait(endpoint, faults, None),
                None => sync::wait(faults).map(Event::Signal),
            };
            match event {
                Ok(Event::Signal(bits)) => {
                    if bits & FAULT_BIT != 0 {
                        self.take_faults();
                    }
                    if bits & !FAULT_BIT != 0 {
                        // The restart timer.
                        self.restart_due();
                    }
                }
                Ok(Event::Call(call)) => self.answer(&call),
                Err(error) => println!("waiting failed: {error:?}"),
            }
        }
    }

    /// Take every pending fault message and act on each.
    fn take_faults(&mut self) {
        loop {
            match supervise::take_fault() {
                Ok(Some(fault)) => self.fault(&fault),
                Ok(None) => return,
                Err(error) => {
                    println!("taking a fault failed: {error:?}");
                    return;
                }
            }
        }
    }

    fn fault(&mut self, fault: &FaultMessage) {
        let names = self.caps.names;
        let Some((i, decision)) = self.table.fault(fault) else {
            println!(
                "{} faulted at tick {}, but this supervisor holds no service capability to it: left stopped",
                names.show_service(fault.service),
                fault.tick
            );
            return;
        };
        let entry = *self.table.get(i).expect("the faulted service's entry");
        let outcome = match Outcome::of(decision) {
            // Without a timer, a delayed restart happens at once.
            Some(Outcome::Later { .. }) if self.caps.timer.is_none() => self.restart(i, decision),
            Some(outcome) => outcome,
            None => self.restart(i, decision),
        };
        // A held service is stopped for good: what waits for its replies
        // gets PeerGone instead of waiting for a restart that never comes.
        let stopped = match outcome {
            Outcome::Held(_) => supervise::stop(entry.slot),
            _ => Ok(()),
        };
        println!(
            "{}",
            FaultLine {
                names,
                fault,
                policy: entry.policy,
                outcome,
                hz: self.hz,
            }
        );
        if let Err(error) = stopped {
            println!(
                "stopping {} failed: {error:?}",
                names.show_service(fault.service)
            );
        }
        self.arm();
    }

    /// Restart entry `i` now.
    fn restart(&mut self, i: usize, decision: Decision) -> Outcome {
        let entry = *self.table.get(i).expect("an entry");
        match supervise::restart(entry.slot) {
            Ok(()) => {
                self.table.restarted(i, sys::ticks());
                let nth = match decision {
                    Decision::Now { nth } | Decision::Later { nth, .. } => nth,
                    Decision::Hold(_) => 0,
                };
                let total = self.table.get(i).map_or(0, |e| e.history.total());
                Outcome::Restarted { nth, total }
            }
            Err(error) => {
                self.table.failed(i, error as u32);
                Outcome::Refused(error)
            }
        }
    }

    /// Make the restarts whose backoff is over.
    fn restart_due(&mut self) {
        let mut now = sys::ticks();
        while let Some(i) = self.table.due(now) {
            let entry = *self.table.get(i).expect("an entry");
            let result = match supervise::restart(entry.slot) {
                Ok(()) => {
                    now = sys::ticks();
                    self.table.restarted(i, now);
                    let history = &self.table.get(i).expect("an entry").history;
                    Ok(Count {
                        nth: history.within(now, entry.policy.window_ticks),
                        total: history.total(),
                        policy: entry.policy,
                        hz: self.hz,
                    })
                }
                Err(error) => {
                    self.table.failed(i, error as u32);
                    Err(error)
                }
            };
            println!(
                "{}",
                RestartLine {
                    names: self.caps.names,
                    service: entry.service,
                    tick: now,
                    result,
                }
            );
        }
        self.arm();
    }

    /// Arm the restart timer for the earliest delayed restart, if any.
    fn arm(&self) {
        let Some(timer) = self.caps.timer else { return };
        let now = sys::ticks();
        match self.table.next_due(now) {
            Some(at) => {
                let delay = (at.wrapping_sub(now) as i32).max(1) as u32;
                if let Err(error) = sync::arm_ticks(timer, delay, 0) {
                    println!("arming the restart timer failed: {error:?}");
                }
            }
            None => {
                let _ = sync::cancel(timer);
            }
        }
    }

    /// Answer a status query.
    fn answer(&self, call: &ipc::Received) {
        let table = &self.table;
        let names = self.caps.names;
        let words = ipc::with_buffer(|buffer| {
            let payload = &buffer[..usize::from(call.message.len).min(buffer.len())];
            proto::answer(
                Request::parse(call.message.words, payload),
                table,
                |name| names.find(name),
                |i| {
                    let entry = table.get(i)?;
                    supervise::query(entry.slot).ok().map(|status| status.state)
                },
            )
        });
        let reply = Message {
            words,
            ..Message::default()
        };
        if let Err(error) = ipc::reply(&reply) {
            println!("replying failed: {error:?}");
        }
    }
}
