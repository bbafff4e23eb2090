//! The restart policy: given a service's [`Supervision`], when it was
//! restarted lately ([`History`]), the tick it last started and the tick
//! it faulted, what to do ([`decide`]). Ticks are the kernel's tick count
//! (low 32 bits, as fault messages carry it): every comparison wraps.

use sotto_abi::supervise::{Restart, Supervision};

/// How many restart ticks a [`History`] remembers: a `max_restarts` above
/// this within a window cannot be told apart from this many (a window of
/// 0, "ever", counts every restart).
pub const HISTORY: usize = 32;

/// A service's restarts: the ticks of the latest [`HISTORY`], and how
/// many there were in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct History {
    ticks: [u32; HISTORY],
    /// Where the next tick goes (the oldest once full).
    next: usize,
    /// Restarts recorded in all.
    total: u32,
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    /// No restarts.
    pub const fn new() -> History {
        History {
            ticks: [0; HISTORY],
            next: 0,
            total: 0,
        }
    }

    /// A restart at `tick`.
    pub fn record(&mut self, tick: u32) {
        self.ticks[self.next] = tick;
        self.next = (self.next + 1) % HISTORY;
        self.total = self.total.saturating_add(1);
    }

    /// Restarts recorded in all.
    pub fn total(&self) -> u32 {
        self.total
    }

    /// Restarts less than `window` ticks before `now` (at `now` included);
    /// a `window` of 0 counts every restart.
    pub fn within(&self, now: u32, window: u32) -> u32 {
        if window == 0 {
            return self.total;
        }
        let tracked = (self.total as usize).min(HISTORY);
        (1..=tracked)
            .map(|back| self.ticks[(self.next + HISTORY - back) % HISTORY])
            .filter(|&tick| now.wrapping_sub(tick) < window)
            .count() as u32
    }
}

/// Why a service is left stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Its policy says `restart = "never"`.
    Never,
    /// It was restarted `restarts` times within its window already, which
    /// is its `max_restarts`.
    Limit {
        /// Restarts within the window.
        restarts: u32,
    },
}

/// What the supervisor does about a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Restart it now: the `nth` restart within its window (this one
    /// counted; with a window of 0, the `nth` ever).
    Now {
        /// This restart's number within the window.
        nth: u32,
    },
    /// It ran only `ran` ticks, less than `min_run`: restart it at tick
    /// `at`, when `min_run` has passed since it started (backoff).
    Later {
        /// The tick to restart it at.
        at: u32,
        /// Ticks it ran before it faulted.
        ran: u32,
        /// This restart's number within the window.
        nth: u32,
    },
    /// Leave it stopped.
    Hold(Hold),
}

/// What to do about a service with `policy`, restarted as `history` says,
/// last (re)started at tick `started`, that faulted at tick `fault`.
///
/// `restart = "never"` holds it. So does a limit reached: `max_restarts`
/// (not 0) restarts within the `window_ticks` before the fault (0: ever).
/// Otherwise it is restarted: at once if it ran at least `min_run_ticks`,
/// else when `min_run_ticks` have passed since it started.
pub fn decide(policy: &Supervision, history: &History, started: u32, fault: u32) -> Decision {
    if policy.restart == Restart::Never {
        return Decision::Hold(Hold::Never);
    }
    let recent = history.within(fault, policy.window_ticks);
    if policy.max_restarts != 0 && recent >= policy.max_restarts {
        return Decision::Hold(Hold::Limit { restarts: recent });
    }
    let nth = recent + 1;
    let ran = fault.wrapping_sub(started);
    if ran < policy.min_run_ticks {
        Decision::Later {
            at: started.wrapping_add(policy.min_run_ticks),
            ran,
            nth,
        }
    } else {
        Decision::Now { nth }
    }
}

/// Whether tick `at` has come at tick `now` (wrapping: `at` at most 2^31
/// ticks ahead).
pub fn reached(now: u32, at: u32) -> bool {
    (now.wrapping_sub(at) as i32) >= 0
}

#[cfg(test)]
mod tests {
    use super::{Decision, HISTORY, History, Hold, decide, reached};
    use sotto_abi::supervise::{Restart, Supervision};

    fn policy(min_run: u32, max_restarts: u32, window: u32) -> Supervision {
        Supervision {
            supervisor: Some(0),
            restart: Restart::Always,
            min_run_ticks: min_run,
            max_restarts,
            window_ticks: window,
            faults: None,
        }
    }

    fn history(ticks: &[u32]) -> History {
        let mut history = History::new();
        for &tick in ticks {
            history.record(tick);
        }
        history
    }

    #[test]
    fn never_holds_whatever_the_history() {
        let never = Supervision {
            restart: Restart::Never,
            ..policy(0, 0, 0)
        };
        assert_eq!(
            decide(&never, &History::new(), 0, 5_000),
            Decision::Hold(Hold::Never)
        );
    }

    #[test]
    fn a_service_that_ran_long_enough_restarts_now() {
        let policy = policy(20, 5, 1000);
        assert_eq!(
            decide(&policy, &History::new(), 100, 120),
            Decision::Now { nth: 1 }
        );
        assert_eq!(
            decide(&policy, &history(&[50]), 100, 812),
            Decision::Now { nth: 2 }
        );
    }

    #[test]
    fn a_service_that_faulted_too_soon_restarts_when_min_run_has_passed() {
        let policy = policy(20, 5, 1000);
        assert_eq!(
            decide(&policy, &history(&[100]), 100, 105),
            Decision::Later {
                at: 120,
                ran: 5,
                nth: 2
            }
        );
        // One tick short still waits, for that tick.
        assert_eq!(
            decide(&policy, &History::new(), 100, 119),
            Decision::Later {
                at: 120,
                ran: 19,
                nth: 1
            }
        );
    }

    #[test]
    fn the_limit_holds_once_max_restarts_happened_within_the_window() {
        let policy = policy(0, 5, 1000);
        let five = history(&[100, 200, 300, 400, 500]);
        assert_eq!(
            decide(&policy, &five, 500, 600),
            Decision::Hold(Hold::Limit { restarts: 5 })
        );
        // The first of them 1000 ticks before the fault is out of the
        // window: restart number 5 within it.
        assert_eq!(decide(&policy, &five, 500, 1100), Decision::Now { nth: 5 });
        assert_eq!(
            decide(&policy, &five, 500, 1099),
            Decision::Hold(Hold::Limit { restarts: 5 })
        );
    }

    #[test]
    fn no_limit_restarts_forever() {
        let policy = policy(0, 0, 1000);
        let many = history(&[1; 100]);
        assert_eq!(decide(&policy, &many, 1, 2), Decision::Now { nth: 33 });
    }

    #[test]
    fn a_window_of_zero_counts_every_restart() {
        let policy = policy(0, 3, 0);
        assert_eq!(
            decide(&policy, &history(&[10, 1_000_000, 2_000_000]), 0, u32::MAX),
            Decision::Hold(Hold::Limit { restarts: 3 })
        );
        assert_eq!(
            decide(&policy, &history(&[10, 20]), 0, u32::MAX),
            Decision::Now { nth: 3 }
        );
    }

    #[test]
    fn ticks_wrap() {
        let policy = policy(20, 2, 100);
        // Started 5 ticks before the wrap, faulted 5 after: ran 10.
        assert_eq!(
            decide(&policy, &History::new(), u32::MAX - 4, 5),
            Decision::Later {
                at: 15,
                ran: 10,
                nth: 1
            }
        );
        // Restarts just before the wrap are within the window after it.
        let before = history(&[u32::MAX - 10, u32::MAX]);
        assert_eq!(
            decide(&policy, &before, u32::MAX, 50),
            Decision::Hold(Hold::Limit { restarts: 2 })
        );
        assert!(reached(3, u32::MAX - 1));
        assert!(!reached(u32::MAX - 1, 3));
        assert!(reached(7, 7));
    }

    #[test]
    fn history_keeps_the_latest_ticks_and_counts_all() {
        let mut history = History::new();
        for tick in 0..(HISTORY as u32 + 8) {
            history.record(tick * 10);
        }
        assert_eq!(history.total(), HISTORY as u32 + 8);
        // The latest 32 span ticks 80..=390: all within 400 of 390.
        assert_eq!(history.within(390, 400), HISTORY as u32);
        assert_eq!(history.within(390, 25), 3);
        assert_eq!(history.within(390, 1), 1);
        assert_eq!(History::new().within(5, 100), 0);
    }
}
