//! Kernel state as console lines show it, without `core::fmt`: the same
//! text as the types' `Debug` forms (the shutdown report prints what each
//! running service waits for), checked against them by the tests. Only
//! that report uses it: exit code (`.text.sotto_exit.*`, unmapped while
//! services run).

use sotto_abi::text::{Message, Part};

use crate::kernel::Wait;
use crate::sched::ThreadState;

/// `state` as `{:?}` shows it.
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_exit.describe_thread_state")
)]
pub fn thread_state(state: ThreadState) -> Message {
    // A template per state and its number (tables, not a message built
    // in each arm: less code in the shutdown report).
    static PARTS: [&[Part]; 6] = [
        &[Part::Str("Ready")],
        &[Part::Str("Running")],
        &[Part::Str("Sleeping { until: "), Part::Dec, Part::Str(" }")],
        &[Part::Str("Blocked { until: None }")],
        &[
            Part::Str("Blocked { until: Some("),
            Part::Dec,
            Part::Str(") }"),
        ],
        &[Part::Str("Ended")],
    ];
    let (index, value) = match state {
        ThreadState::Ready => (0, 0),
        ThreadState::Running => (1, 0),
        ThreadState::Sleeping { until } => (2, until),
        ThreadState::Blocked { until: None } => (3, 0),
        ThreadState::Blocked { until: Some(until) } => (4, until),
        ThreadState::Ended => (5, 0),
    };
    Message::one(PARTS[index], value)
}

/// `wait` as `{:?}` shows it.
#[cfg_attr(
    target_arch = "xtensa",
    unsafe(link_section = ".text.sotto_exit.describe_wait")
)]
pub fn wait(wait: Wait) -> Message {
    // As in `thread_state`: a template per kind of wait, and its numbers.
    static PARTS: [&[Part]; 7] = [
        &[Part::Str("None")],
        &[Part::Str("Notification("), Part::Dec, Part::Str(")")],
        &[Part::Str("Semaphore("), Part::Dec, Part::Str(")")],
        &[Part::Str("Caller("), Part::Dec, Part::Str(")")],
        &[Part::Str("Receiver("), Part::Dec, Part::Str(")")],
        &[
            Part::Str("ReceiverOrSignal { endpoint: "),
            Part::Dec,
            Part::Str(", notification: "),
            Part::Dec,
            Part::Str(" }"),
        ],
        &[Part::Str("Reply("), Part::Dec, Part::Str(")")],
    ];
    let (index, first, second) = match wait {
        Wait::None => (0, 0, 0),
        Wait::Notification(id) => (1, id, 0),
        Wait::Semaphore(id) => (2, id, 0),
        Wait::Caller(id) => (3, id, 0),
        Wait::Receiver(id) => (4, id, 0),
        Wait::ReceiverOrSignal {
            endpoint,
            notification,
        } => (5, endpoint, notification),
        Wait::Reply(thread) => (6, thread, 0),
    };
    Message {
        parts: PARTS[index],
        args: [u64::from(first), u64::from(second), 0],
    }
}

#[cfg(test)]
mod tests {
    use crate::kernel::Wait;
    use crate::sched::ThreadState;

    #[test]
    fn reads_as_debug() {
        for state in [
            ThreadState::Ready,
            ThreadState::Running,
            ThreadState::Sleeping { until: 12 },
            ThreadState::Blocked { until: None },
            ThreadState::Blocked {
                until: Some(5_000_000_000),
            },
            ThreadState::Ended,
        ] {
            let shown = super::thread_state(state).to_string();
            assert_eq!(shown, format!("{state:?}"));
        }
        for wait in [
            Wait::None,
            Wait::Notification(15),
            Wait::Semaphore(16),
            Wait::Caller(3),
            Wait::Receiver(14),
            Wait::ReceiverOrSignal {
                endpoint: 1,
                notification: 2,
            },
            Wait::Reply(7),
        ] {
            let shown = super::wait(wait).to_string();
            assert_eq!(shown, format!("{wait:?}"));
        }
    }
}
