//! Supervision as the kernel, supervisors and tools see it: a supervised
//! service's policy (from `system.toml`), the fault message the kernel
//! queues for its supervisor, and a service's status as
//! [`crate::Syscall::ServiceQuery`] returns it. Each is a few words in
//! registers (a3..a7), packed and unpacked here only.

use serde::{Deserialize, Serialize};

/// The bit the kernel signals on a supervisor's faults notification
/// when it queues a fault message ([`crate::Syscall::FaultTake`] takes
/// them).
pub const FAULT_BIT: u32 = 1 << 31;

/// No service, in a byte that names one.
pub const NO_SERVICE: u8 = 0xFF;

/// Whether a supervisor restarts a service that faulted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Restart {
    /// Restart it (after `min_run`, within `max_restarts`).
    #[default]
    Always,
    /// Leave it stopped.
    Never,
}

/// A service's supervision, as `system.toml` declares it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Supervision {
    /// The index of its supervisor (`None`: unsupervised, a fault stops
    /// it for good).
    pub supervisor: Option<u8>,
    /// Restart it after a fault, or not.
    pub restart: Restart,
    /// A service that faults sooner than this after its (re)start is
    /// restarted only once this much time has passed since it started
    /// (backoff), in ticks.
    pub min_run_ticks: u32,
    /// More than this many restarts within `window_ticks` and the
    /// supervisor holds it (0: no limit).
    pub max_restarts: u32,
    /// The window of `max_restarts`, in ticks.
    pub window_ticks: u32,
    /// A supervisor's own field: the notification object (its index) the
    /// kernel signals with [`FAULT_BIT`] when a service it supervises
    /// faults.
    pub faults: Option<u16>,
}

/// What stopped a service.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A processor exception (`cause` is EXCCAUSE).
    Exception,
    /// It panicked (`cause` is 0).
    Panic,
    /// The host injected it (`cargo xtask run --fault`; `cause` is 0).
    Injected,
}

impl FaultKind {
    const ALL: [FaultKind; 3] = [FaultKind::Exception, FaultKind::Panic, FaultKind::Injected];

    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Exception => "exception",
            FaultKind::Panic => "panic",
            FaultKind::Injected => "injected fault",
        }
    }
}

/// A fault of a supervised service, as its supervisor receives it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultMessage {
    /// The service's index.
    pub service: u8,
    /// The thread within it (0: its main thread).
    pub thread: u8,
    /// What it was.
    pub kind: FaultKind,
    /// EXCCAUSE for an exception (`crate::ExceptionCause::from_raw`).
    pub cause: u32,
    /// Where.
    pub pc: u32,
    /// The address it touched (EXCVADDR), where the cause has one.
    pub address: u32,
    /// The tick it happened at (low 32 bits).
    pub tick: u32,
}

impl FaultMessage {
    /// As a3..a7.
    #[inline]
    pub const fn to_words(self) -> [u32; 5] {
        [
            self.service as u32 | (self.thread as u32) << 8 | (self.kind as u32) << 16,
            self.cause,
            self.pc,
            self.address,
            self.tick,
        ]
    }

    /// From a3..a7 (`None`: not a fault message).
    pub fn from_words(words: [u32; 5]) -> Option<FaultMessage> {
        Some(FaultMessage {
            service: words[0] as u8,
            thread: (words[0] >> 8) as u8,
            kind: *FaultKind::ALL.get((words[0] >> 16) as usize)?,
            cause: words[1],
            pc: words[2],
            address: words[3],
            tick: words[4],
        })
    }
}

/// Where a service is in its life.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceState {
    /// Its threads run (or wait).
    Running,
    /// It faulted and is stopped, its supervisor told: waiting for a
    /// restart (or a stop).
    Faulted,
    /// Stopped for good (a fault with no supervisor, or
    /// [`crate::Syscall::ServiceStop`]); a restart may still bring it back.
    Stopped,
    /// It exited.
    Exited,
}

impl ServiceState {
    const ALL: [ServiceState; 4] = [
        ServiceState::Running,
        ServiceState::Faulted,
        ServiceState::Stopped,
        ServiceState::Exited,
    ];

    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            ServiceState::Running => "running",
            ServiceState::Faulted => "faulted",
            ServiceState::Stopped => "stopped",
            ServiceState::Exited => "exited",
        }
    }
}

/// A service's state and policy ([`crate::Syscall::ServiceQuery`]).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceStatus {
    /// The service's index.
    pub service: u8,
    /// Its state.
    pub state: ServiceState,
    /// Times it was restarted.
    pub restarts: u16,
    /// Its policy (`faults` is not reported: `None`).
    pub supervision: Supervision,
    /// Ticks since it (re)started (0 unless running).
    pub run_ticks: u32,
}

impl ServiceStatus {
    /// As a3..a7 (`max_restarts` saturates at 65535).
    #[inline]
    pub fn to_words(self) -> [u32; 5] {
        let policy = &self.supervision;
        [
            u32::from(self.service) | (self.state as u32) << 8 | u32::from(self.restarts) << 16,
            u32::from(policy.supervisor.unwrap_or(NO_SERVICE))
                | (policy.restart as u32) << 8
                | policy.max_restarts.min(0xFFFF) << 16,
            policy.min_run_ticks,
            policy.window_ticks,
            self.run_ticks,
        ]
    }

    /// From a3..a7 (`None`: not a status).
    pub fn from_words(words: [u32; 5]) -> Option<ServiceStatus> {
        let supervisor = words[1] as u8;
        Some(ServiceStatus {
            service: words[0] as u8,
            state: *ServiceState::ALL.get(((words[0] >> 8) & 0xFF) as usize)?,
            restarts: (words[0] >> 16) as u16,
            supervision: Supervision {
                supervisor: (supervisor != NO_SERVICE).then_some(supervisor),
                restart: match (words[1] >> 8) & 0xFF {
                    0 => Restart::Always,
                    1 => Restart::Never,
                    _ => return None,
                },
                min_run_ticks: words[2],
                max_restarts: words[1] >> 16,
                window_ticks: words[3],
                faults: None,
            },
            run_ticks: words[4],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{FaultKind, FaultMessage, Restart, ServiceState, ServiceStatus, Supervision};

    #[test]
    fn fault_messages_round_trip() {
        for kind in FaultKind::ALL {
            let message = FaultMessage {
                service: 7,
                thread: 2,
                kind,
                cause: 28,
                pc: 0x0040_1234,
                address: 0xDEAD_BEEC,
                tick: 123_456,
            };
            assert_eq!(FaultMessage::from_words(message.to_words()), Some(message));
        }
        assert_eq!(FaultMessage::from_words([3 << 16, 0, 0, 0, 0]), None);
    }

    #[test]
    fn statuses_round_trip() {
        for state in ServiceState::ALL {
            let status = ServiceStatus {
                service: 4,
                state,
                restarts: 65_000,
                supervision: Supervision {
                    supervisor: Some(1),
                    restart: Restart::Never,
                    min_run_ticks: 20,
                    max_restarts: 5,
                    window_ticks: 1000,
                    faults: None,
                },
                run_ticks: 77,
            };
            assert_eq!(ServiceStatus::from_words(status.to_words()), Some(status));
        }
        let unsupervised = ServiceStatus {
            service: 0,
            state: ServiceState::Running,
            restarts: 0,
            supervision: Supervision::default(),
            run_ticks: 0,
        };
        assert_eq!(
            ServiceStatus::from_words(unsupervised.to_words()),
            Some(unsupervised)
        );
    }
}
