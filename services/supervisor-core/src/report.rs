//! The supervisor's console lines: one per decision about a fault, one
//! per delayed restart, one at start listing what it supervises. Each is
//! a value that formats itself (`println!("{}", ...)` in the service,
//! `to_string()` in the tests), with times in milliseconds at the
//! kernel's tick rate.
//!
//! ```text
//! pipeline faulted (LoadProhibited at pc 0x40001234, address 0x0, thread pipeline/eq) at tick 812: restarted (restart 2 of 5 in 1000 ms)
//! pipeline faulted (injected fault at pc 0x400002f0, thread pipeline) at tick 905: held: 5 restarts within 1000 ms (max_restarts 5)
//! dp-sched faulted (IllegalInstruction at pc 0x40000310, thread dp-sched) at tick 105: restart in 15 ms (ran 5 ms, min_run 20 ms)
//! dp-sched restarted at tick 120 (restart 1 of 5 in 1000 ms)
//! ```

use core::fmt;

use sotto_abi::Error;
use sotto_abi::cause::ExceptionCause;
use sotto_abi::supervise::{FaultKind, FaultMessage, Restart, Supervision};

use crate::names::Names;
use crate::policy::{Decision, Hold};
use crate::table::Table;

/// A number of ticks in milliseconds (`15 ms`, `0.25 ms`), at `hz`
/// ticks a second.
#[derive(Clone, Copy, Debug)]
pub struct Millis {
    /// Ticks.
    pub ticks: u32,
    /// The tick rate.
    pub hz: u32,
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = u64::from(self.ticks) * 1_000_000 / u64::from(self.hz.max(1));
        let (ms, rest) = (micros / 1000, micros % 1000);
        if rest == 0 {
            write!(f, "{ms} ms")
        } else {
            let text = [rest / 100, rest / 10 % 10, rest % 10];
            let digits = if text[2] != 0 {
                3
            } else if text[1] != 0 {
                2
            } else {
                1
            };
            write!(f, "{ms}.")?;
            text[..digits].iter().try_for_each(|d| write!(f, "{d}"))?;
            f.write_str(" ms")
        }
    }
}

/// What a fault was, where: `LoadProhibited at pc 0x40001234, address
/// 0x0, thread pipeline/eq` (the address only where the cause has one).
#[derive(Clone, Copy, Debug)]
pub struct Cause<'a> {
    /// Names of services and threads.
    pub names: Names<'a>,
    /// The fault.
    pub fault: &'a FaultMessage,
}

impl fmt::Display for Cause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fault = self.fault;
        let mut address = false;
        match fault.kind {
            FaultKind::Exception => {
                let cause = ExceptionCause::from_raw(fault.cause);
                address = cause.has_address();
                match cause {
                    ExceptionCause::Unknown(raw)
                    | ExceptionCause::BusError(raw)
                    | ExceptionCause::CoprocessorDisabled(raw) => {
                        write!(f, "{} {raw}", cause.name())?
                    }
                    _ => f.write_str(cause.name())?,
                }
            }
            FaultKind::Panic | FaultKind::Injected => f.write_str(fault.kind.name())?,
        }
        write!(f, " at pc {:#x}", fault.pc)?;
        if address {
            write!(f, ", address {:#x}", fault.address)?;
        }
        write!(
            f,
            ", thread {}",
            self.names.show_thread(fault.service, fault.thread)
        )
    }
}

/// The restart count of a line: `restart 2 of 5 in 1000 ms`, `restart 2
/// of 5` (a window of 0: ever), or with no limit `restart 7` (the count
/// since boot).
#[derive(Clone, Copy, Debug)]
pub struct Count {
    /// This restart's number within the window.
    pub nth: u32,
    /// Restarts since boot, this one included.
    pub total: u32,
    /// The service's policy.
    pub policy: Supervision,
    /// The tick rate.
    pub hz: u32,
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let policy = &self.policy;
        if policy.max_restarts == 0 {
            return write!(f, "restart {}", self.total);
        }
        write!(f, "restart {} of {}", self.nth, policy.max_restarts)?;
        if policy.window_ticks != 0 {
            let window = Millis {
                ticks: policy.window_ticks,
                hz: self.hz,
            };
            write!(f, " in {window}")?;
        }
        Ok(())
    }
}

/// What the supervisor did about a fault, for [`FaultLine`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Restarted at once ([`Decision::Now`]): `nth` within the window,
    /// `total` since boot.
    Restarted {
        /// Within the window.
        nth: u32,
        /// Since boot.
        total: u32,
    },
    /// The kernel refused the restart.
    Refused(Error),
    /// To be restarted at tick `at` ([`Decision::Later`]); it ran `ran`.
    Later {
        /// The tick.
        at: u32,
        /// Ticks it ran.
        ran: u32,
    },
    /// Held ([`Decision::Hold`]).
    Held(Hold),
}

impl Outcome {
    /// The outcome of a decision that restarts nothing now (`None` for
    /// [`Decision::Now`]: that one is [`Outcome::Restarted`] or
    /// [`Outcome::Refused`]).
    pub fn of(decision: Decision) -> Option<Outcome> {
        match decision {
            Decision::Now { .. } => None,
            Decision::Later { at, ran, .. } => Some(Outcome::Later { at, ran }),
            Decision::Hold(hold) => Some(Outcome::Held(hold)),
        }
    }
}

/// The one line of a decision: `pipeline faulted (<cause>) at tick 812:
/// restarted (restart 2 of 5 in 1000 ms)`.
#[derive(Clone, Copy, Debug)]
pub struct FaultLine<'a> {
    /// Names of services and threads.
    pub names: Names<'a>,
    /// The fault.
    pub fault: &'a FaultMessage,
    /// The service's policy.
    pub policy: Supervision,
    /// What was done.
    pub outcome: Outcome,
    /// The tick rate.
    pub hz: u32,
}

impl fmt::Display for FaultLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (fault, policy, hz) = (self.fault, &self.policy, self.hz);
        let ms = |ticks| Millis { ticks, hz };
        write!(
            f,
            "{} faulted ({}) at tick {}: ",
            self.names.show_service(fault.service),
            Cause {
                names: self.names,
                fault
            },
            fault.tick
        )?;
        match self.outcome {
            Outcome::Restarted { nth, total } => {
                let count = Count {
                    nth,
                    total,
                    policy: *policy,
                    hz,
                };
                write!(f, "restarted ({count})")
            }
            Outcome::Refused(error) => write!(f, "restart refused ({error:?}), left stopped"),
            Outcome::Later { at, ran } => write!(
                f,
                "restart in {} (ran {}, min_run {})",
                ms(at.wrapping_sub(fault.tick)),
                ms(ran),
                ms(policy.min_run_ticks)
            ),
            Outcome::Held(Hold::Never) => f.write_str("held (restart = never)"),
            Outcome::Held(Hold::Limit { restarts }) => {
                write!(f, "held: {restarts} restarts")?;
                if policy.window_ticks != 0 {
                    write!(f, " within {}", ms(policy.window_ticks))?;
                }
                write!(f, " (max_restarts {})", policy.max_restarts)
            }
        }
    }
}

/// The line of a delayed restart made: `dp-sched restarted at tick 120
/// (restart 1 of 5 in 1000 ms)`, or `... restart refused (BadState)`.
#[derive(Clone, Copy, Debug)]
pub struct RestartLine<'a> {
    /// Names of services.
    pub names: Names<'a>,
    /// The service.
    pub service: u8,
    /// The tick.
    pub tick: u32,
    /// The count, or the kernel's refusal.
    pub result: Result<Count, Error>,
}

impl fmt::Display for RestartLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let service = self.names.show_service(self.service);
        match self.result {
            Ok(count) => write!(f, "{service} restarted at tick {} ({count})", self.tick),
            Err(error) => write!(
                f,
                "{service}: restart at tick {} refused ({error:?}), left stopped",
                self.tick
            ),
        }
    }
}

/// A policy, briefly: `always, min_run 20 ms, 5 restarts in 1000 ms`,
/// `never`.
#[derive(Clone, Copy, Debug)]
pub struct PolicyText {
    /// The policy.
    pub policy: Supervision,
    /// The tick rate.
    pub hz: u32,
}

impl fmt::Display for PolicyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let policy = &self.policy;
        let ms = |ticks| Millis { ticks, hz: self.hz };
        if policy.restart == Restart::Never {
            return f.write_str("never");
        }
        f.write_str("always")?;
        if policy.min_run_ticks != 0 {
            write!(f, ", min_run {}", ms(policy.min_run_ticks))?;
        }
        if policy.max_restarts != 0 {
            write!(f, ", {} restarts", policy.max_restarts)?;
            if policy.window_ticks != 0 {
                write!(f, " in {}", ms(policy.window_ticks))?;
            }
        }
        Ok(())
    }
}

/// The start line: `supervising 2 services: pipeline (always, min_run 20
/// ms, 5 restarts in 1000 ms), echo (never)`.
#[derive(Clone, Copy, Debug)]
pub struct StartLine<'a> {
    /// Names of services.
    pub names: Names<'a>,
    /// What is supervised.
    pub table: &'a Table,
    /// The tick rate.
    pub hz: u32,
}

impl fmt::Display for StartLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.table.len() {
            0 => return f.write_str("supervising no services (no service capabilities)"),
            1 => f.write_str("supervising 1 service: ")?,
            n => write!(f, "supervising {n} services: ")?,
        }
        for (i, entry) in self.table.entries().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let policy = PolicyText {
                policy: entry.policy,
                hz: self.hz,
            };
            write!(f, "{} ({policy})", self.names.show_service(entry.service))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Count, FaultLine, Millis, Outcome, PolicyText, RestartLine, StartLine};
    use crate::names::Names;
    use crate::policy::{Decision, Hold};
    use crate::table::Table;
    use sotto_abi::Error;
    use sotto_abi::supervise::{
        FaultKind, FaultMessage, Restart, ServiceState, ServiceStatus, Supervision,
    };

    const NAMES: Names<'static> = Names::new("echo\npipeline eq\ndp-sched\n");

    fn policy() -> Supervision {
        Supervision {
            supervisor: Some(3),
            restart: Restart::Always,
            min_run_ticks: 20,
            max_restarts: 5,
            window_ticks: 1000,
            faults: None,
        }
    }

    fn load_fault() -> FaultMessage {
        FaultMessage {
            service: 1,
            thread: 1,
            kind: FaultKind::Exception,
            cause: 28,
            pc: 0x4000_1234,
            address: 0,
            tick: 812,
        }
    }

    fn line(fault: &FaultMessage, policy: Supervision, outcome: Outcome) -> String {
        FaultLine {
            names: NAMES,
            fault,
            policy,
            outcome,
            hz: 1000,
        }
        .to_string()
    }

    #[test]
    fn milliseconds_at_any_tick_rate() {
        let ms = |ticks, hz| Millis { ticks, hz }.to_string();
        assert_eq!(ms(15, 1000), "15 ms");
        assert_eq!(ms(1000, 1000), "1000 ms");
        assert_eq!(ms(1, 4000), "0.25 ms");
        assert_eq!(ms(3, 4000), "0.75 ms");
        assert_eq!(ms(1, 8000), "0.125 ms");
        assert_eq!(ms(1, 10_000), "0.1 ms");
        assert_eq!(ms(7, 100), "70 ms");
        assert_eq!(ms(0, 0), "0 ms");
    }

    #[test]
    fn an_immediate_restart_counts_within_its_window() {
        let fault = load_fault();
        let restarted = Outcome::Restarted { nth: 2, total: 9 };
        assert_eq!(
            line(&fault, policy(), restarted),
            "pipeline faulted (LoadProhibited at pc 0x40001234, address 0x0, thread pipeline/eq) at tick 812: restarted (restart 2 of 5 in 1000 ms)"
        );
        let ever = Supervision {
            window_ticks: 0,
            ..policy()
        };
        assert!(line(&fault, ever, restarted).ends_with("restarted (restart 2 of 5)"));
        let unlimited = Supervision {
            max_restarts: 0,
            ..policy()
        };
        assert!(line(&fault, unlimited, restarted).ends_with("restarted (restart 9)"));
    }

    #[test]
    fn causes_show_an_address_only_where_they_have_one() {
        let illegal = FaultMessage {
            service: 2,
            thread: 0,
            cause: 0,
            address: 0xDEAD,
            tick: 105,
            ..load_fault()
        };
        let later = Outcome::Later { at: 120, ran: 5 };
        assert_eq!(
            line(&illegal, policy(), later),
            "dp-sched faulted (IllegalInstruction at pc 0x40001234, thread dp-sched) at tick 105: restart in 15 ms (ran 5 ms, min_run 20 ms)"
        );
        let coprocessor = FaultMessage {
            cause: 35,
            ..illegal
        };
        assert!(line(&coprocessor, policy(), later).contains("(CoprocessorDisabled 3 at pc"));
        let unknown = FaultMessage {
            cause: 7,
            ..illegal
        };
        assert!(line(&unknown, policy(), later).contains("(Unknown 7 at pc"));
        for (kind, text) in [
            (
                FaultKind::Panic,
                "(panic at pc 0x40001234, thread pipeline/eq)",
            ),
            (
                FaultKind::Injected,
                "(injected fault at pc 0x40001234, thread pipeline/eq)",
            ),
        ] {
            let fault = FaultMessage {
                kind,
                cause: 0,
                ..load_fault()
            };
            assert!(line(&fault, policy(), later).contains(text), "{kind:?}");
        }
        // A service the names table lacks.
        let stranger = FaultMessage {
            service: 9,
            ..load_fault()
        };
        assert!(
            line(&stranger, policy(), later)
                .starts_with("service #9 faulted (LoadProhibited at pc 0x40001234, address 0x0, thread service #9/#1)")
        );
    }

    #[test]
    fn holds_and_refusals_say_why() {
        let fault = load_fault();
        assert!(
            line(&fault, policy(), Outcome::Held(Hold::Limit { restarts: 5 }))
                .ends_with("at tick 812: held: 5 restarts within 1000 ms (max_restarts 5)")
        );
        let ever = Supervision {
            window_ticks: 0,
            ..policy()
        };
        assert!(
            line(&fault, ever, Outcome::Held(Hold::Limit { restarts: 5 }))
                .ends_with("held: 5 restarts (max_restarts 5)")
        );
        assert!(
            line(&fault, policy(), Outcome::Held(Hold::Never))
                .ends_with("at tick 812: held (restart = never)")
        );
        assert!(
            line(&fault, policy(), Outcome::Refused(Error::BadState))
                .ends_with("at tick 812: restart refused (BadState), left stopped")
        );
    }

    #[test]
    fn outcomes_of_decisions() {
        assert_eq!(Outcome::of(Decision::Now { nth: 1 }), None);
        assert_eq!(
            Outcome::of(Decision::Later {
                at: 5,
                ran: 1,
                nth: 1
            }),
            Some(Outcome::Later { at: 5, ran: 1 })
        );
        assert_eq!(
            Outcome::of(Decision::Hold(Hold::Never)),
            Some(Outcome::Held(Hold::Never))
        );
    }

    #[test]
    fn delayed_restarts_have_a_line_of_their_own() {
        let count = Count {
            nth: 1,
            total: 1,
            policy: policy(),
            hz: 1000,
        };
        let restart = |result| {
            RestartLine {
                names: NAMES,
                service: 2,
                tick: 120,
                result,
            }
            .to_string()
        };
        assert_eq!(
            restart(Ok(count)),
            "dp-sched restarted at tick 120 (restart 1 of 5 in 1000 ms)"
        );
        assert_eq!(
            restart(Err(Error::BadState)),
            "dp-sched: restart at tick 120 refused (BadState), left stopped"
        );
    }

    #[test]
    fn the_start_line_lists_services_and_policies() {
        let mut table = Table::new();
        let hz = 1000;
        assert_eq!(
            StartLine {
                names: NAMES,
                table: &table,
                hz
            }
            .to_string(),
            "supervising no services (no service capabilities)"
        );
        let status = |service, supervision| ServiceStatus {
            service,
            state: ServiceState::Running,
            restarts: 0,
            supervision,
            run_ticks: 0,
        };
        table.add(4, &status(1, policy()), 0);
        assert_eq!(
            StartLine {
                names: NAMES,
                table: &table,
                hz
            }
            .to_string(),
            "supervising 1 service: pipeline (always, min_run 20 ms, 5 restarts in 1000 ms)"
        );
        let never = Supervision {
            restart: Restart::Never,
            ..policy()
        };
        table.add(5, &status(0, never), 0);
        let plain = Supervision {
            min_run_ticks: 0,
            max_restarts: 0,
            ..policy()
        };
        table.add(6, &status(2, plain), 0);
        assert_eq!(
            StartLine {
                names: NAMES,
                table: &table,
                hz
            }
            .to_string(),
            "supervising 3 services: pipeline (always, min_run 20 ms, 5 restarts in 1000 ms), echo (never), dp-sched (always)"
        );
        let ever = Supervision {
            window_ticks: 0,
            ..policy()
        };
        assert_eq!(
            PolicyText { policy: ever, hz }.to_string(),
            "always, min_run 20 ms, 5 restarts"
        );
    }
}
